// SPDX-License-Identifier: MIT
/*
 * An exclusive advisory lock on an open file (flock(2) LOCK_EX | LOCK_NB): what Node cannot
 * take from JS. The control plane holds one on its data directory for as long as the daemon
 * lives; the kernel drops it when the process dies, however it dies (kill -9 included).
 */
#include <errno.h>
#include <sys/file.h>

#include "wgcore.h"

/* fileLock(fd): true when taken, false when another open file description holds it. */
napi_value js_file_lock(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || arg_i32(env, argv[0], "fd", &fd)) return NULL;
  int r;
  do {
    r = flock(fd, LOCK_EX | LOCK_NB);
  } while (r < 0 && errno == EINTR);
  napi_value out;
  if (r == 0) {
    napi_get_boolean(env, true, &out);
    return out;
  }
  if (errno == EWOULDBLOCK) {
    napi_get_boolean(env, false, &out);
    return out;
  }
  throw_errno(env, errno, "flock", "Cannot lock the file");
  return NULL;
}
