// SPDX-License-Identifier: MIT
/*
 * The UDP side: an IPv4 and an IPv6 (IPV6_V6ONLY) non-blocking datagram socket bound to the
 * same port on the wildcard address, with large socket buffers, as a WireGuard bind needs them.
 * Port 0 asks the kernel for a port on the IPv4 socket and binds the IPv6 one to the same
 * number, starting over (bounded) when that number is taken on IPv6. A family the kernel does
 * not support is left out. Both report the local address of each datagram (IP_PKTINFO,
 * IPV6_RECVPKTINFO) for sticky source addresses. Also the socket options set from JS: SO_MARK.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wgcore.h"

#define PORT_ATTEMPTS 100

static void set_buf(int fd, int force_opt, int opt, int bytes) {
  /* The *FORCE variants ignore net.core.[rw]mem_max but need CAP_NET_ADMIN. */
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) == 0) return;
  setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

/* Returns a bound socket or -errno. */
static int udp_bound(int family, uint16_t port, int buf_bytes) {
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return -errno;
  int err = 0;
  int one = 1;
  if (family == AF_INET6) {
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) err = errno;
    /* The local address of every datagram (ipv6(7)), for replies from that same address. */
    if (err == 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) < 0) {
      err = errno;
    }
  } else if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) {
    err = errno; /* ip(7) IP_PKTINFO: the same for IPv4 */
  }
  if (err == 0 && buf_bytes > 0) {
    set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, buf_bytes);
    set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, buf_bytes);
  }
  if (err == 0) {
    struct sockaddr_in6 sa6;
    struct sockaddr_in sa4;
    int rc;
    if (family == AF_INET6) {
      memset(&sa6, 0, sizeof sa6);
      sa6.sin6_family = AF_INET6;
      sa6.sin6_port = htons(port);
      sa6.sin6_addr = in6addr_any;
      rc = bind(fd, (struct sockaddr *)&sa6, sizeof sa6);
    } else {
      memset(&sa4, 0, sizeof sa4);
      sa4.sin_family = AF_INET;
      sa4.sin_port = htons(port);
      sa4.sin_addr.s_addr = htonl(INADDR_ANY);
      rc = bind(fd, (struct sockaddr *)&sa4, sizeof sa4);
    }
    if (rc < 0) err = errno;
  }
  if (err) {
    close(fd);
    return -err;
  }
  return fd;
}

static int local_port(int fd) {
  struct sockaddr_in6 sa;
  socklen_t len = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0) return -errno;
  /* sin_port and sin6_port sit at the same offset. */
  return ntohs(sa.sin6_port);
}

static void throw_bind(napi_env env, int err, uint32_t port, const char *family) {
  char ctx[96];
  snprintf(ctx, sizeof ctx, "Cannot bind UDP port %u (%s)", port, family);
  throw_errno(env, err, "bind", ctx);
}

/* udpOpen(port, bufBytes) -> [handle4 | null, handle6 | null, boundPort] */
napi_value js_udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t port, buf;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || arg_u32(env, argv[0], "port", &port) || arg_u32(env, argv[1], "buffer size", &buf)) {
    return NULL;
  }
  if (port > 65535 || buf > 1u << 30) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "Invalid port or buffer size");
    return NULL;
  }
  int fd4 = -1, fd6 = -1, bound = (int)port;
  for (int attempt = 0;; attempt++) {
    fd4 = udp_bound(AF_INET, (uint16_t)port, (int)buf);
    if (fd4 == -EAFNOSUPPORT) {
      fd4 = -1;
    } else if (fd4 < 0) {
      throw_bind(env, -fd4, port, "IPv4");
      return NULL;
    } else {
      bound = local_port(fd4);
      if (bound < 0) {
        close(fd4);
        throw_errno(env, -bound, "getsockname", "Cannot read the bound UDP port");
        return NULL;
      }
    }
    fd6 = udp_bound(AF_INET6, (uint16_t)bound, (int)buf);
    if (fd6 == -EAFNOSUPPORT) {
      fd6 = -1;
      break;
    }
    if (fd6 >= 0) {
      if (fd4 < 0) bound = local_port(fd6);
      break;
    }
    if (fd4 >= 0) close(fd4);
    fd4 = -1;
    if (fd6 == -EADDRINUSE && port == 0 && attempt + 1 < PORT_ATTEMPTS) continue;
    throw_bind(env, -fd6, (uint32_t)bound, "IPv6");
    return NULL;
  }
  if (fd4 < 0 && fd6 < 0) {
    throw_errno(env, EAFNOSUPPORT, "socket", "Cannot open UDP sockets");
    return NULL;
  }
  napi_value result, h4, h6;
  napi_create_array_with_length(env, 3, &result);
  io_handle *u4 = NULL, *u6 = NULL;
  if (fd4 >= 0) {
    if ((u4 = io_new(env, IO_UDP4, fd4, &h4)) == NULL) {
      if (fd6 >= 0) close(fd6);
      return NULL;
    }
    udp_probe_offload(u4);
  } else {
    napi_get_null(env, &h4);
  }
  if (fd6 >= 0) {
    if ((u6 = io_new(env, IO_UDP6, fd6, &h6)) == NULL) return NULL; /* h4 closes when collected */
    udp_probe_offload(u6);
  } else {
    napi_get_null(env, &h6);
  }
  napi_set_element(env, result, 0, h4);
  napi_set_element(env, result, 1, h6);
  napi_set_element(env, result, 2, make_u32(env, (uint32_t)bound));
  return result;
}

static io_handle *socket_arg(napi_env env, napi_value v) {
  io_handle *h;
  if (arg_handle(env, v, &h)) return NULL;
  if ((h->kind != IO_UDP4 && h->kind != IO_UDP6) || h->fd < 0) {
    throw_errno(env, EBADF, "setsockopt", "Cannot use the socket: it is closed");
    return NULL;
  }
  return h;
}

/* sockSetMark(handle, mark) */
napi_value js_sock_set_mark(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t mark;
  io_handle *h;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || (h = socket_arg(env, argv[0])) == NULL || arg_u32(env, argv[1], "fwmark", &mark)) {
    return NULL;
  }
  if (setsockopt(h->fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0) {
    char ctx[64];
    snprintf(ctx, sizeof ctx, "Cannot set fwmark 0x%x", mark);
    throw_errno(env, errno, "setsockopt(SO_MARK)", ctx);
    return NULL;
  }
  return undefined(env);
}

/* sockGetMark(handle) -> mark */
napi_value js_sock_get_mark(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t mark = 0;
  socklen_t len = sizeof mark;
  io_handle *h;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || (h = socket_arg(env, argv[0])) == NULL) return NULL;
  if (getsockopt(h->fd, SOL_SOCKET, SO_MARK, &mark, &len) < 0) {
    throw_errno(env, errno, "getsockopt(SO_MARK)", "Cannot read fwmark");
    return NULL;
  }
  return make_u32(env, mark);
}

/* sockGetBufs(handle) -> [rcvbuf, sndbuf] as the kernel reports them (twice what was set). */
napi_value js_sock_get_bufs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int rcv = 0, snd = 0;
  socklen_t len = sizeof rcv;
  io_handle *h;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || (h = socket_arg(env, argv[0])) == NULL) return NULL;
  if (getsockopt(h->fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len) < 0 ||
      (len = sizeof snd, getsockopt(h->fd, SOL_SOCKET, SO_SNDBUF, &snd, &len) < 0)) {
    throw_errno(env, errno, "getsockopt", "Cannot read socket buffer sizes");
    return NULL;
  }
  napi_create_array_with_length(env, 2, &result);
  napi_set_element(env, result, 0, make_i32(env, rcv));
  napi_set_element(env, result, 1, make_i32(env, snd));
  return result;
}
