// SPDX-License-Identifier: MIT
/*
 * A TCP connection opened from an address this host does not hold: the backend leg of the
 * server's SNI proxy, which reaches a device from the visitor's own address and port so that the
 * device sees who is really connecting (Start9's StartTunnel does the same,
 * https://github.com/Start9Labs/start-technologies). ip(7) IP_TRANSPARENT (ipv6(7)
 * IPV6_TRANSPARENT) lets the socket bind the foreign address; the replies come back to it through
 * the kernel's transparent-proxy routing (https://docs.kernel.org/networking/tproxy.html: a
 * `socket transparent` match marks them and a policy route makes every address local for that
 * mark), which the caller sets up. Needs CAP_NET_ADMIN (CAP_NET_RAW suffices for the option on
 * newer kernels).
 *
 * The connect blocks for up to its timeout, so it runs in libuv's thread pool (napi async work)
 * and settles a promise with the connected descriptor, which JS wraps in a net.Socket.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wgcore.h"

/* Longest wait a caller may ask for, so a thread-pool thread is never held for long. */
#define CONNECT_TIMEOUT_MAX_MS 120000

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  struct sockaddr_storage src, dst;
  socklen_t len;
  uint32_t mark;
  uint32_t timeout_ms;
  int fd;            /* the connected socket, or -1 */
  int err;           /* errno of the step that failed, 0 on success */
  const char *step;  /* that step, for the error's syscall and message */
} tconnect;

static int parse_endpoint(const char *address, uint32_t port, struct sockaddr_storage *out,
                          socklen_t *len) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *in4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, address, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    *len = sizeof *in4;
    return 0;
  }
  if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof *in6;
    return 0;
  }
  return -1;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define FAIL(name)     \
  do {                 \
    t->err = errno;    \
    t->step = (name);  \
    goto fail;         \
  } while (0)

/* Thread pool: socket, options, bind to the foreign source, non-blocking connect, poll. */
static void tconnect_execute(napi_env env, void *data) {
  tconnect *t = data;
  int family = t->src.ss_family;
  int one = 1;
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) FAIL("socket");
  /* ip(7) IP_TRANSPARENT: bind a non-local address and take the replies to it */
  if (family == AF_INET) {
    if (setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof one) < 0) {
      FAIL("setsockopt(IP_TRANSPARENT)");
    }
  } else if (setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof one) < 0) {
    FAIL("setsockopt(IPV6_TRANSPARENT)");
  }
  /* socket(7) SO_REUSEADDR: the visitor may use one source port towards two of our ports; the
   * 4-tuples differ, and connect() still refuses a tuple in use */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
    FAIL("setsockopt(SO_REUSEADDR)");
  }
  if (t->mark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &t->mark, sizeof t->mark) < 0) {
    FAIL("setsockopt(SO_MARK)");
  }
  if (bind(fd, (struct sockaddr *)&t->src, t->len) < 0) FAIL("bind");
  if (connect(fd, (struct sockaddr *)&t->dst, t->len) < 0) {
    if (errno != EINPROGRESS) FAIL("connect");
    int64_t deadline = now_ms() + t->timeout_ms;
    for (;;) {
      int64_t left = deadline - now_ms();
      if (left <= 0) {
        errno = ETIMEDOUT;
        FAIL("connect");
      }
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      int r = poll(&p, 1, (int)left);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) FAIL("poll");
      if (r == 0) continue; /* timed out: the deadline check above ends it */
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) FAIL("getsockopt(SO_ERROR)");
      if (soerr != 0) {
        errno = soerr;
        FAIL("connect");
      }
      break;
    }
  }
  t->fd = fd;
  return;
fail:
  if (fd >= 0) close(fd);
  t->fd = -1;
}

/* A rejected promise's reason, as throw_errno builds it: message, code, errno, syscall. */
static napi_value errno_error(napi_env env, int err, const char *syscall) {
  char msg[256], code[32];
  const char *name = uv_err_name(-err);
  if (name == NULL || name[0] != 'E') {
    snprintf(code, sizeof code, "E%d", err);
  } else {
    snprintf(code, sizeof code, "%s", name);
  }
  snprintf(msg, sizeof msg, "Cannot connect transparently (%s): %s", syscall, strerror(err));
  napi_value m, c, e, n, s;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_create_int32(env, -err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, e, "syscall", s);
  return e;
}

/* Main thread: settle the promise. Cancelled (environment going away): close the descriptor. */
static void tconnect_complete(napi_env env, napi_status status, void *data) {
  tconnect *t = data;
  if (status != napi_ok) {
    if (t->fd >= 0) close(t->fd);
    napi_value e = errno_error(env, ECANCELED, "connect");
    napi_reject_deferred(env, t->deferred, e);
  } else if (t->fd >= 0) {
    napi_value fd;
    napi_create_int32(env, t->fd, &fd);
    if (napi_resolve_deferred(env, t->deferred, fd) != napi_ok) close(t->fd);
  } else {
    napi_reject_deferred(env, t->deferred, errno_error(env, t->err, t->step));
  }
  napi_delete_async_work(env, t->work);
  free(t);
}

/*
 * transparentConnect(srcAddress, srcPort, dstAddress, dstPort, mark, timeoutMs) -> Promise<fd>
 * Both addresses of one family. Argument errors throw; connect errors reject with code/errno.
 */
napi_value js_transparent_connect(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  char src[INET6_ADDRSTRLEN + 1], dst[INET6_ADDRSTRLEN + 1];
  uint32_t src_port, dst_port, mark, timeout_ms;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "transparentConnect takes 6 arguments");
    return NULL;
  }
  if (arg_string(env, argv[0], "source address", src, sizeof src) ||
      arg_u32(env, argv[1], "source port", &src_port) ||
      arg_string(env, argv[2], "target address", dst, sizeof dst) ||
      arg_u32(env, argv[3], "target port", &dst_port) || arg_u32(env, argv[4], "mark", &mark) ||
      arg_u32(env, argv[5], "timeout", &timeout_ms)) {
    return NULL;
  }
  if (src_port > 65535 || dst_port == 0 || dst_port > 65535 || timeout_ms == 0 ||
      timeout_ms > CONNECT_TIMEOUT_MAX_MS) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "Invalid port or timeout");
    return NULL;
  }
  tconnect *t = calloc(1, sizeof *t);
  if (t == NULL) {
    napi_throw_error(env, "ENOMEM", "Out of memory");
    return NULL;
  }
  socklen_t dst_len = 0;
  if (parse_endpoint(src, src_port, &t->src, &t->len) ||
      parse_endpoint(dst, dst_port, &t->dst, &dst_len) || t->len != dst_len) {
    free(t);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                          "Invalid addresses: expected two IP addresses of one family");
    return NULL;
  }
  t->mark = mark;
  t->timeout_ms = timeout_ms;
  t->fd = -1;
  napi_value promise, name;
  napi_create_string_utf8(env, "transparentConnect", NAPI_AUTO_LENGTH, &name);
  if (napi_create_promise(env, &t->deferred, &promise) != napi_ok) {
    free(t);
    return NULL;
  }
  if (napi_create_async_work(env, NULL, name, tconnect_execute, tconnect_complete, t,
                             &t->work) != napi_ok ||
      napi_queue_async_work(env, t->work) != napi_ok) {
    /* the promise is dropped unsettled; nothing was started */
    if (t->work) napi_delete_async_work(env, t->work);
    free(t);
    napi_throw_error(env, "ERR_NAPI", "Cannot queue the transparent connect");
    return NULL;
  }
  return promise;
}
