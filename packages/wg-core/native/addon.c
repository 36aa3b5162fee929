// SPDX-License-Identifier: MIT
/*
 * Entry point of the wg-core native addon: registers the exported functions and holds the
 * argument and error helpers shared by the other files. Plain C on node_api.h, no npm
 * dependencies; the TypeScript side is src/native.ts.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "wgcore.h"

static void throw_type(napi_env env, const char *what, const char *reason) {
  char msg[256];
  snprintf(msg, sizeof msg, "Invalid %s: %s", what, reason);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

int arg_u32(napi_env env, napi_value v, const char *what, uint32_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d != d || d < 0 || d > 4294967295.0 ||
      (double)(uint32_t)d != d) {
    throw_type(env, what, "expected an integer in 0..2^32-1");
    return -1;
  }
  *out = (uint32_t)d;
  return 0;
}

int arg_i32(napi_env env, napi_value v, const char *what, int32_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d != d || d < -2147483648.0 ||
      d > 2147483647.0 || (double)(int32_t)d != d) {
    throw_type(env, what, "expected a 32-bit integer");
    return -1;
  }
  *out = (int32_t)d;
  return 0;
}

int arg_bool(napi_env env, napi_value v, const char *what, int *out) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) {
    throw_type(env, what, "expected a boolean");
    return -1;
  }
  *out = b ? 1 : 0;
  return 0;
}

int arg_string(napi_env env, napi_value v, const char *what, char *buf, size_t size) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    throw_type(env, what, "expected a string");
    return -1;
  }
  if (len + 1 > size) {
    throw_type(env, what, "string is too long");
    return -1;
  }
  napi_get_value_string_utf8(env, v, buf, size, &len);
  return 0;
}

static int arg_typed(napi_env env, napi_value v, const char *what, napi_typedarray_type want,
                     void **data, size_t *len) {
  bool is = false;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) != napi_ok || type != want) {
    throw_type(env, what,
               want == napi_uint8_array ? "expected a Uint8Array" : "expected a Uint32Array");
    return -1;
  }
  if (*data == NULL) *len = 0; /* detached or empty */
  return 0;
}

int arg_bytes(napi_env env, napi_value v, const char *what, uint8_t **data, size_t *len) {
  return arg_typed(env, v, what, napi_uint8_array, (void **)data, len);
}

int arg_u32s(napi_env env, napi_value v, const char *what, uint32_t **data, size_t *len) {
  return arg_typed(env, v, what, napi_uint32_array, (void **)data, len);
}

int arg_handle(napi_env env, napi_value v, io_handle **out) {
  napi_valuetype t;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    throw_type(env, "handle", "expected a handle from this addon");
    return -1;
  }
  *out = p;
  return 0;
}

int arg_func(napi_env env, napi_value v, const char *what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_function) {
    throw_type(env, what, "expected a function");
    return -1;
  }
  return 0;
}

void throw_errno(napi_env env, int err, const char *syscall, const char *context) {
  char msg[384];
  const char *name = uv_err_name(-err);
  char code[32];
  if (name == NULL || name[0] != 'E') {
    snprintf(code, sizeof code, "E%d", err);
  } else {
    snprintf(code, sizeof code, "%s", name);
  }
  snprintf(msg, sizeof msg, "%s: %s", context, strerror(err));
  napi_value m, c, e, n, s;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_create_int32(env, -err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, e, "syscall", s);
  napi_throw(env, e);
}

napi_value make_u32(napi_env env, uint32_t v) {
  napi_value r;
  napi_create_uint32(env, v, &r);
  return r;
}

napi_value make_i32(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

napi_value undefined(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

typedef struct {
  const char *name;
  napi_callback fn;
} export_fn;

static const export_fn exported[] = {
    {"tunOpen", js_tun_open},       {"ifGetMtu", js_if_get_mtu},
    {"ifSetMtu", js_if_set_mtu},    {"ifGetFlags", js_if_get_flags},
    {"ifSetUp", js_if_set_up},      {"udpOpen", js_udp_open},
    {"sockSetMark", js_sock_set_mark}, {"sockGetMark", js_sock_get_mark},
    {"sockGetBufs", js_sock_get_bufs}, {"linkWatch", js_link_watch},
    {"ioStart", js_io_start},       {"ioStop", js_io_stop},
    {"ioClose", js_io_close},       {"ioFd", js_io_fd},
    {"tunWrite", js_tun_write},     {"udpSend", js_udp_send},
    {"fileLock", js_file_lock},     {"tunAdopt", js_tun_adopt},
    {"tunLink", js_tun_link},       {"tunSetMtu", js_tun_set_mtu},
    {"tunSetUp", js_tun_set_up},    {"routeWatch", js_route_watch},
    {"aeadBatch", js_aead_batch},   {"aeadSeal", js_aead_seal},
    {"aeadOpen", js_aead_open},     {"udpOffload", js_udp_offload},
    {"tunOffload", js_tun_offload}, {"transparentConnect", js_transparent_connect},
};

NAPI_MODULE_INIT() {
  for (size_t i = 0; i < sizeof exported / sizeof exported[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, exported[i].name, NAPI_AUTO_LENGTH, exported[i].fn, NULL,
                             &fn) != napi_ok ||
        napi_set_named_property(env, exports, exported[i].name, fn) != napi_ok) {
      return NULL;
    }
  }
  napi_set_named_property(env, exports, "ADDR_RECORD_SIZE", make_u32(env, ADDR_RECORD_SIZE));
  napi_set_named_property(env, exports, "IO_MAX_BATCH", make_u32(env, IO_MAX_BATCH));
  napi_set_named_property(env, exports, "IFF_UP", make_u32(env, IFF_UP));
  napi_set_named_property(env, exports, "IFF_RUNNING", make_u32(env, IFF_RUNNING));
  napi_set_named_property(env, exports, "ABI", make_u32(env, 3));
  napi_value aead;
  napi_get_boolean(env, aead_available() != 0, &aead);
  napi_set_named_property(env, exports, "AEAD", aead);
  return exports;
}
