// SPDX-License-Identifier: MIT
/*
 * I/O handles: one non-blocking file descriptor (a TUN queue, a UDP socket or an rtnetlink
 * socket) watched by a uv_poll_t on the Node event loop. When it turns readable, the callback
 * drains up to `max` packets straight into the caller's slab (packet i at slot i + headroom,
 * lengths and offsets into the caller's Uint32Arrays, UDP source addresses into a 20-byte
 * record per slot, with the local address from IP_PKTINFO / IPV6_PKTINFO) and calls JS once for
 * the whole batch. Writes go out a batch per call:
 * write() per packet on a TUN, sendmmsg() on UDP. Per-packet failures are counted, never thrown.
 * Nothing here allocates per packet.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wgcore.h"

static void io_free(io_handle *h) {
  free(h->msgs);
  free(h->iovs);
  free(h->names);
  free(h->ctrl);
  free(h->recidx);
  free(h);
}

/* The environment may be torn down (a worker thread ending) once its async cleanup hook is
 * removed, and the addon unloaded with it: so the hook stays until nothing of ours is pending on
 * the loop, the uv_close() callback included. */
static void remove_hook(io_handle *h) {
  if (!h->hook) return;
  h->hook = 0;
  napi_remove_async_cleanup_hook(h->hook_handle);
}

static void on_uv_closed(uv_handle_t *p) {
  io_handle *h = p->data;
  h->uv_pending = 0;
  remove_hook(h);
  if (!h->js_alive) io_free(h);
}

static void release_refs(io_handle *h) {
  napi_ref *refs[] = {&h->cb, &h->slab, &h->offsets, &h->lengths, &h->addrs};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
    if (*refs[i] != NULL) {
      napi_delete_reference(h->env, *refs[i]);
      *refs[i] = NULL;
    }
  }
}

/* Stops polling and closes the descriptor. uv_close() comes first: it removes the fd from the
 * loop's epoll set, which must happen before the number can be reused by another open(). */
static void close_fd(io_handle *h) {
  if (h->poll_init) {
    h->poll_init = 0;
    h->uv_pending = 1;
    uv_close((uv_handle_t *)&h->poll, on_uv_closed);
  }
  if (h->fd >= 0) {
    close(h->fd);
    h->fd = -1;
  }
  if (!h->uv_pending) remove_hook(h);
}

/* The environment is going away (process exit, or worker.terminate()): close the descriptor on
 * this environment's own loop and report done from the uv_close() callback, which Node waits for
 * before it frees the loop and unloads the addon. References belong to the env by now. */
static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  io_handle *h = arg;
  h->hook_handle = handle;
  if (!h->closed) {
    h->closed = 1;
    close_fd(h);
  } else if (!h->uv_pending) {
    remove_hook(h);
  }
}

void io_close(io_handle *h) {
  if (h->closed) return;
  h->closed = 1;
  close_fd(h);
  release_refs(h);
  if (h->actx != NULL) {
    napi_async_destroy(h->env, h->actx);
    h->actx = NULL;
  }
}

static void on_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  io_handle *h = data;
  h->js_alive = 0;
  io_close(h);
  if (!h->uv_pending) io_free(h);
}

io_handle *io_new(napi_env env, int kind, int fd, napi_value *external) {
  io_handle *h = calloc(1, sizeof *h);
  if (h == NULL) {
    close(fd);
    throw_errno(env, ENOMEM, "calloc", "Cannot allocate an I/O handle");
    return NULL;
  }
  h->env = env;
  h->kind = kind;
  h->fd = fd;
  h->js_alive = 1;
  if (kind == IO_UDP4 || kind == IO_UDP6) {
    h->msgs = calloc(IO_MAX_BATCH, sizeof *h->msgs);
    h->iovs = calloc(IO_MAX_BATCH, sizeof *h->iovs);
    h->names = calloc(IO_MAX_BATCH, sizeof *h->names);
    h->ctrl = aligned_alloc(_Alignof(struct cmsghdr), (size_t)IO_MAX_BATCH * IO_CTRL_SIZE);
    h->recidx = calloc(IO_MAX_BATCH, sizeof *h->recidx);
    if (h->msgs == NULL || h->iovs == NULL || h->names == NULL || h->ctrl == NULL ||
        h->recidx == NULL) {
      close(fd);
      io_free(h);
      throw_errno(env, ENOMEM, "calloc", "Cannot allocate UDP batch buffers");
      return NULL;
    }
  }
  if (napi_create_external(env, h, on_finalize, NULL, external) != napi_ok) {
    close(fd);
    io_free(h);
    return NULL;
  }
  if (napi_add_async_cleanup_hook(env, on_env_cleanup, h, &h->hook_handle) == napi_ok) h->hook = 1;
  return h;
}

/* Calls the handle's callback with the loop's async context; an exception thrown by it becomes
 * an uncaught exception of the process, as for any event emitter. */
void io_call(io_handle *h, size_t argc, napi_value *argv) {
  napi_env env = h->env;
  napi_value fn = NULL, global, result;
  if (h->cb == NULL || napi_get_reference_value(env, h->cb, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &global);
  napi_status st = napi_make_callback(env, h->actx, global, fn, argc, argv, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
}

static void on_poll(uv_poll_t *p, int status, int events) {
  (void)events;
  io_handle *h = p->data;
  if (h->closed) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(h->env, &scope) != napi_ok) return;
  if (status < 0) {
    /* The loop could not poll the descriptor; report it like a fatal read error. */
    uv_poll_stop(&h->poll);
    if (h->kind != IO_LINK && h->kind != IO_ROUTE) {
      napi_value argv[3] = {make_u32(h->env, 0), make_u32(h->env, 0), make_i32(h->env, -status)};
      io_call(h, 3, argv);
    }
  } else if (h->kind == IO_TUN) {
    io_drain_tun(h);
  } else if (h->kind == IO_LINK || h->kind == IO_ROUTE) {
    io_drain_link(h);
  } else {
    io_drain_udp(h);
  }
  napi_close_handle_scope(h->env, scope);
}

int io_watch(io_handle *h, napi_value cb) {
  napi_env env = h->env;
  if (h->closed) {
    throw_errno(env, EBADF, "uv_poll_start", "Cannot watch a closed handle");
    return -1;
  }
  if (h->cb != NULL) {
    napi_delete_reference(env, h->cb);
    h->cb = NULL;
  }
  if (napi_create_reference(env, cb, 1, &h->cb) != napi_ok) return -1;
  if (h->actx == NULL) {
    napi_value name;
    const char *label = h->kind == IO_TUN     ? "WGCORE_TUN"
                        : h->kind == IO_LINK  ? "WGCORE_LINK"
                        : h->kind == IO_ROUTE ? "WGCORE_ROUTE"
                                              : "WGCORE_UDP";
    napi_create_string_utf8(env, label, NAPI_AUTO_LENGTH, &name);
    if (napi_async_init(env, NULL, name, &h->actx) != napi_ok) return -1;
  }
  if (!h->poll_init) {
    uv_loop_t *loop;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) return -1;
    int rc = uv_poll_init(loop, &h->poll, h->fd);
    if (rc < 0) {
      throw_errno(env, -rc, "uv_poll_init", "Cannot watch the descriptor");
      return -1;
    }
    h->poll.data = h;
    h->poll_init = 1;
  }
  int rc = uv_poll_start(&h->poll, UV_READABLE, on_poll);
  if (rc < 0) {
    throw_errno(env, -rc, "uv_poll_start", "Cannot watch the descriptor");
    return -1;
  }
  if (h->kind == IO_LINK || h->kind == IO_ROUTE) uv_unref((uv_handle_t *)&h->poll);
  return 0;
}

static int set_ref(napi_env env, napi_ref *slot, napi_value v) {
  if (*slot != NULL) {
    napi_delete_reference(env, *slot);
    *slot = NULL;
  }
  if (v == NULL) return 0;
  return napi_create_reference(env, v, 1, slot) == napi_ok ? 0 : -1;
}

/* ioStart(handle, cb, slab, slotSize, headroom, tailroom, max, offsets, lengths, addrs|null)
 * cb(count, dropped, fatalErrno) runs once per drained batch. Calling it again replaces the
 * buffers (for example after an MTU change). */
napi_value js_io_start(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  io_handle *h;
  uint8_t *slab, *addrs = NULL;
  size_t slab_len, noffs, nlens, naddrs = 0;
  uint32_t *offs, *lens, slot, head, tail, max;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 10) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "ioStart needs 10 arguments");
    return NULL;
  }
  if (arg_handle(env, argv[0], &h) || arg_func(env, argv[1], "callback") ||
      arg_bytes(env, argv[2], "slab", &slab, &slab_len) ||
      arg_u32(env, argv[3], "slot size", &slot) || arg_u32(env, argv[4], "headroom", &head) ||
      arg_u32(env, argv[5], "tailroom", &tail) || arg_u32(env, argv[6], "batch size", &max) ||
      arg_u32s(env, argv[7], "offsets", &offs, &noffs) ||
      arg_u32s(env, argv[8], "lengths", &lens, &nlens)) {
    return NULL;
  }
  if (h->kind == IO_LINK || h->kind == IO_ROUTE) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "Invalid handle: a netlink watcher");
    return NULL;
  }
  if (slot == 0 || (uint64_t)head + tail >= slot || max == 0 || max > IO_MAX_BATCH ||
      noffs < max || nlens < max || (uint64_t)slot * max > slab_len) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "Invalid batch layout: slab, slot size, room or arrays do not fit");
    return NULL;
  }
  if (h->kind != IO_TUN) {
    if (arg_bytes(env, argv[9], "addresses", &addrs, &naddrs)) return NULL;
    if (naddrs < (size_t)max * ADDR_RECORD_SIZE) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "Invalid batch layout: address array");
      return NULL;
    }
  }
  if (set_ref(env, &h->slab, argv[2]) || set_ref(env, &h->offsets, argv[7]) ||
      set_ref(env, &h->lengths, argv[8]) ||
      set_ref(env, &h->addrs, h->kind == IO_TUN ? NULL : argv[9])) {
    return NULL;
  }
  h->slot_size = slot;
  h->headroom = head;
  h->tailroom = tail;
  h->max = max;
  if (io_watch(h, argv[1])) return NULL;
  return undefined(env);
}

napi_value js_io_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  io_handle *h;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || arg_handle(env, argv[0], &h)) return NULL;
  if (h->poll_init) uv_poll_stop(&h->poll);
  return undefined(env);
}

napi_value js_io_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  io_handle *h;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || arg_handle(env, argv[0], &h)) return NULL;
  io_close(h);
  return undefined(env);
}

napi_value js_io_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  io_handle *h;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || arg_handle(env, argv[0], &h)) return NULL;
  return make_i32(env, h->fd);
}

/* The caller's arrays as they are now: re-read each batch so a detached buffer is never used. */
typedef struct {
  uint8_t *slab;
  size_t slab_len;
  uint32_t *offs;
  uint32_t *lens;
  uint8_t *addrs;
  uint32_t max;
} batch_view;

static int view_typed(napi_env env, napi_ref ref, void **data, size_t *len) {
  napi_value v;
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  *data = NULL;
  *len = 0;
  if (ref == NULL || napi_get_reference_value(env, ref, &v) != napi_ok || v == NULL) return -1;
  if (napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) != napi_ok) return -1;
  return *data == NULL ? -1 : 0;
}

static int get_view(io_handle *h, batch_view *b) {
  size_t noffs, nlens, naddrs = 0;
  b->addrs = NULL;
  if (view_typed(h->env, h->slab, (void **)&b->slab, &b->slab_len) ||
      view_typed(h->env, h->offsets, (void **)&b->offs, &noffs) ||
      view_typed(h->env, h->lengths, (void **)&b->lens, &nlens)) {
    return -1;
  }
  if (h->kind != IO_TUN && view_typed(h->env, h->addrs, (void **)&b->addrs, &naddrs)) return -1;
  b->max = h->max;
  if (noffs < b->max || nlens < b->max || (uint64_t)h->slot_size * b->max > b->slab_len) return -1;
  if (h->kind != IO_TUN && naddrs < (size_t)b->max * ADDR_RECORD_SIZE) return -1;
  return 0;
}

static void report(io_handle *h, uint32_t n, uint32_t dropped, int fatal) {
  if (fatal) uv_poll_stop(&h->poll);
  if (n == 0 && dropped == 0 && fatal == 0) return;
  napi_value argv[3] = {make_u32(h->env, n), make_u32(h->env, dropped), make_i32(h->env, fatal)};
  io_call(h, 3, argv);
}

static int tun_gone(int err) {
  return err == EBADFD || err == EBADF || err == EIO || err == ENXIO || err == ENODEV;
}

void io_drain_tun(io_handle *h) {
  batch_view b;
  if (get_view(h, &b)) {
    report(h, 0, 0, EFAULT);
    return;
  }
  const size_t slot = h->slot_size, cap = slot - h->headroom, fit = cap - h->tailroom;
  uint32_t n = 0, dropped = 0, budget = b.max * 2;
  int fatal = 0;
  while (n < b.max && budget-- > 0) {
    size_t off = n * slot + h->headroom;
    ssize_t r = read(h->fd, b.slab + off, cap);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (tun_gone(errno)) {
        fatal = errno;
      } else {
        dropped++;
      }
      break;
    }
    if (r == 0) break;
    if ((size_t)r > fit) {
      /* Larger than the slot leaves room for (MTU raised behind our back): drop it. */
      dropped++;
      continue;
    }
    b.offs[n] = (uint32_t)off;
    b.lens[n] = (uint32_t)r;
    n++;
  }
  report(h, n, dropped, fatal);
}

static void put_addr(uint8_t *rec, const struct sockaddr_in6 *name, socklen_t namelen) {
  memset(rec, 0, ADDR_RECORD_SIZE);
  const struct sockaddr *sa = (const struct sockaddr *)name;
  if (sa->sa_family == AF_INET && namelen >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)name;
    rec[0] = 4;
    memcpy(rec + 2, &in->sin_port, 2);
    memcpy(rec + 4, &in->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6 && namelen >= sizeof(struct sockaddr_in6)) {
    rec[0] = 6;
    memcpy(rec + 2, &name->sin6_port, 2);
    memcpy(rec + 4, &name->sin6_addr, 16);
  }
}

/* The local half of a record from the IP_PKTINFO / IPV6_PKTINFO the kernel attached (ip(7),
 * ipv6(7)): the address the datagram was sent to and the interface it came in on. */
static void put_source(uint8_t *rec, const struct msghdr *m) {
  if (rec[0] == 0 || (m->msg_flags & MSG_CTRUNC)) return;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
        c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      uint32_t ifindex = (uint32_t)pi.ipi_ifindex;
      rec[REC_SRC_FAMILY] = 4;
      memcpy(rec + REC_SRC_IFINDEX, &ifindex, 4);
      /* ipi_spec_dst: the local address, what a reply should come from */
      memcpy(rec + REC_SRC_ADDR, &pi.ipi_spec_dst, 4);
      return;
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
        c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      uint32_t ifindex = (uint32_t)pi.ipi6_ifindex;
      rec[REC_SRC_FAMILY] = 6;
      memcpy(rec + REC_SRC_IFINDEX, &ifindex, 4);
      memcpy(rec + REC_SRC_ADDR, &pi.ipi6_addr, 16);
      return;
    }
  }
}

static int udp_fatal(int err) {
  return err == EBADF || err == ENOTSOCK || err == EFAULT || err == EINVAL;
}

void io_drain_udp(io_handle *h) {
  batch_view b;
  if (get_view(h, &b)) {
    report(h, 0, 0, EFAULT);
    return;
  }
  const size_t slot = h->slot_size, cap = slot - h->headroom;
  uint32_t n = 0, dropped = 0, errors = 0;
  int fatal = 0;
  while (n < b.max) {
    uint32_t want = b.max - n;
    for (uint32_t j = 0; j < want; j++) {
      size_t i = n + j;
      h->iovs[j].iov_base = b.slab + i * slot + h->headroom;
      h->iovs[j].iov_len = cap;
      memset(&h->msgs[j], 0, sizeof h->msgs[j]);
      h->msgs[j].msg_hdr.msg_name = &h->names[j];
      h->msgs[j].msg_hdr.msg_namelen = sizeof h->names[j];
      h->msgs[j].msg_hdr.msg_iov = &h->iovs[j];
      h->msgs[j].msg_hdr.msg_iovlen = 1;
      h->msgs[j].msg_hdr.msg_control = h->ctrl + (size_t)j * IO_CTRL_SIZE;
      h->msgs[j].msg_hdr.msg_controllen = IO_CTRL_SIZE;
    }
    int r = recvmmsg(h->fd, h->msgs, want, MSG_DONTWAIT, NULL);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (udp_fatal(errno)) {
        fatal = errno;
        break;
      }
      /* A socket error queued by ICMP (ECONNREFUSED, EHOSTUNREACH ...): count and read on. */
      dropped++;
      if (++errors >= 8) break;
      continue;
    }
    if (r == 0) break;
    for (int j = 0; j < r; j++) {
      size_t i = n + (size_t)j;
      const struct msghdr *m = &h->msgs[j].msg_hdr;
      b.offs[i] = (uint32_t)(i * slot + h->headroom);
      if (m->msg_flags & MSG_TRUNC) {
        b.lens[i] = 0; /* too large for the slot: leave an empty slot */
        dropped++;
      } else {
        b.lens[i] = h->msgs[j].msg_len;
      }
      put_addr(b.addrs + i * ADDR_RECORD_SIZE, &h->names[j], m->msg_namelen);
      put_source(b.addrs + i * ADDR_RECORD_SIZE, m);
    }
    n += (uint32_t)r;
    if ((uint32_t)r < want) break;
  }
  report(h, n, dropped, fatal);
}

/* tunWrite(handle, slab, offsets, lengths, count) -> packets written. */
napi_value js_tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  io_handle *h;
  uint8_t *slab;
  uint32_t *offs, *lens, count;
  size_t slab_len, noffs, nlens;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5 || arg_handle(env, argv[0], &h) || arg_bytes(env, argv[1], "slab", &slab, &slab_len) ||
      arg_u32s(env, argv[2], "offsets", &offs, &noffs) ||
      arg_u32s(env, argv[3], "lengths", &lens, &nlens) ||
      arg_u32(env, argv[4], "count", &count)) {
    return NULL;
  }
  if (h->kind != IO_TUN || h->fd < 0) return make_u32(env, 0);
  if (count > noffs) count = (uint32_t)noffs;
  if (count > nlens) count = (uint32_t)nlens;
  uint32_t ok = 0;
  for (uint32_t i = 0; i < count; i++) {
    size_t off = offs[i], len = lens[i];
    if (len == 0 || off > slab_len || len > slab_len - off) continue;
    ssize_t r;
    do {
      r = write(h->fd, slab + off, len);
    } while (r < 0 && errno == EINTR);
    if (r == (ssize_t)len) ok++;
  }
  return make_u32(env, ok);
}

/* Whether a send failure may be the chosen source address: gone from the host (EINVAL from the
 * route lookup with a foreign saddr, EADDRNOTAVAIL for IPv6) or unroutable from there. */
static int source_refused(int err) {
  return err == EINVAL || err == EADDRNOTAVAIL || err == ENETUNREACH || err == EHOSTUNREACH;
}

/* Sends msgs[0..k); returns how many left. A message carrying a source the kernel refuses is sent
 * again without it, and its record is flagged so the caller forgets that source, as the kernel
 * clears endpoint->src4/src6 when the address is no longer local (socket.c send4/send6). */
static uint32_t send_chunk(io_handle *h, uint8_t *addrs, uint32_t k) {
  uint32_t i = 0, sent = 0;
  int retried = 0;
  while (i < k) {
    int r = sendmmsg(h->fd, h->msgs + i, k - i, MSG_DONTWAIT);
    if (r > 0) {
      sent += (uint32_t)r;
      i += (uint32_t)r;
      retried = 0;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 || errno == EAGAIN || errno == EWOULDBLOCK) break; /* buffer full: drop the rest */
    struct msghdr *m = &h->msgs[i].msg_hdr;
    if (m->msg_controllen != 0 && source_refused(errno)) {
      m->msg_control = NULL;
      m->msg_controllen = 0;
      addrs[(size_t)h->recidx[i] * ADDR_RECORD_SIZE + REC_FLAG] = 1;
      continue;
    }
    /* msgs[i] failed. A queued ICMP error can be reported in its place, so try it once more,
     * then skip it. */
    if (!retried) {
      retried = 1;
      continue;
    }
    retried = 0;
    i++;
  }
  return sent;
}

/* Fills the control buffer of message k with the record's local source; 0 bytes when there is
 * none. IPv4 leaves the interface to the route lookup (ipi_ifindex 0); IPv6 names it only for
 * a link-local source, which needs it. */
static socklen_t put_control(io_handle *h, uint32_t k, const uint8_t *rec, uint8_t fam) {
  if (rec[REC_SRC_FAMILY] != fam) return 0;
  uint8_t *buf = h->ctrl + (size_t)k * IO_CTRL_SIZE;
  memset(buf, 0, IO_CTRL_SIZE);
  struct msghdr tmp;
  memset(&tmp, 0, sizeof tmp);
  tmp.msg_control = buf;
  tmp.msg_controllen = IO_CTRL_SIZE;
  struct cmsghdr *c = CMSG_FIRSTHDR(&tmp);
  if (fam == 4) {
    struct in_pktinfo pi;
    memset(&pi, 0, sizeof pi);
    memcpy(&pi.ipi_spec_dst, rec + REC_SRC_ADDR, 4);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    return CMSG_SPACE(sizeof pi);
  }
  struct in6_pktinfo pi;
  memset(&pi, 0, sizeof pi);
  memcpy(&pi.ipi6_addr, rec + REC_SRC_ADDR, 16);
  if (IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr)) {
    uint32_t ifindex;
    memcpy(&ifindex, rec + REC_SRC_IFINDEX, 4);
    pi.ipi6_ifindex = ifindex;
  }
  c->cmsg_level = IPPROTO_IPV6;
  c->cmsg_type = IPV6_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof pi);
  memcpy(CMSG_DATA(c), &pi, sizeof pi);
  return CMSG_SPACE(sizeof pi);
}

/* udpSend(handle, slab, offsets, lengths, addrs, count) -> datagrams sent. Only packets whose
 * address record has this socket's family are sent; the others belong to the other socket. A
 * record with a local source sends from it (IP_PKTINFO / IPV6_PKTINFO ancillary data, the
 * "sticky socket" of https://git.zx2c4.com/wireguard-tools/tree/contrib/sticky-sockets); byte 1
 * of a record whose source was refused is set to 1. */
napi_value js_udp_send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  io_handle *h;
  uint8_t *slab, *addrs;
  uint32_t *offs, *lens, count;
  size_t slab_len, noffs, nlens, naddrs;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6 || arg_handle(env, argv[0], &h) || arg_bytes(env, argv[1], "slab", &slab, &slab_len) ||
      arg_u32s(env, argv[2], "offsets", &offs, &noffs) ||
      arg_u32s(env, argv[3], "lengths", &lens, &nlens) ||
      arg_bytes(env, argv[4], "addresses", &addrs, &naddrs) ||
      arg_u32(env, argv[5], "count", &count)) {
    return NULL;
  }
  if ((h->kind != IO_UDP4 && h->kind != IO_UDP6) || h->fd < 0) return make_u32(env, 0);
  if (count > noffs) count = (uint32_t)noffs;
  if (count > nlens) count = (uint32_t)nlens;
  if (count > naddrs / ADDR_RECORD_SIZE) count = (uint32_t)(naddrs / ADDR_RECORD_SIZE);
  const uint8_t fam = h->kind == IO_UDP4 ? 4 : 6;
  uint32_t k = 0, sent = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *rec = addrs + (size_t)i * ADDR_RECORD_SIZE;
    size_t off = offs[i], len = lens[i];
    if (len == 0 || rec[0] != fam || off > slab_len || len > slab_len - off) continue;
    struct sockaddr_in6 *name = &h->names[k];
    memset(name, 0, sizeof *name);
    socklen_t namelen;
    if (fam == 4) {
      struct sockaddr_in *in = (struct sockaddr_in *)name;
      in->sin_family = AF_INET;
      memcpy(&in->sin_port, rec + 2, 2);
      memcpy(&in->sin_addr, rec + 4, 4);
      namelen = sizeof *in;
    } else {
      name->sin6_family = AF_INET6;
      memcpy(&name->sin6_port, rec + 2, 2);
      memcpy(&name->sin6_addr, rec + 4, 16);
      namelen = sizeof *name;
    }
    h->iovs[k].iov_base = slab + off;
    h->iovs[k].iov_len = len;
    memset(&h->msgs[k], 0, sizeof h->msgs[k]);
    h->msgs[k].msg_hdr.msg_name = name;
    h->msgs[k].msg_hdr.msg_namelen = namelen;
    h->msgs[k].msg_hdr.msg_iov = &h->iovs[k];
    h->msgs[k].msg_hdr.msg_iovlen = 1;
    socklen_t clen = put_control(h, k, rec, fam);
    if (clen > 0) {
      h->msgs[k].msg_hdr.msg_control = h->ctrl + (size_t)k * IO_CTRL_SIZE;
      h->msgs[k].msg_hdr.msg_controllen = clen;
    }
    h->recidx[k] = i;
    if (++k == IO_MAX_BATCH) {
      sent += send_chunk(h, addrs, k);
      k = 0;
    }
  }
  if (k > 0) sent += send_chunk(h, addrs, k);
  return make_u32(env, sent);
}
