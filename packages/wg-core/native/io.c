// SPDX-License-Identifier: MIT
/*
 * I/O handles: one non-blocking file descriptor (a TUN queue, a UDP socket or an rtnetlink
 * socket) watched by a uv_poll_t on the Node event loop. When it turns readable, the callback
 * drains up to `max` packets straight into the caller's slab (packet i at slot i + headroom,
 * lengths and offsets into the caller's Uint32Arrays) and calls JS once for the whole batch.
 * This file has the life cycle (safe when a worker thread's environment ends), the TUN drain
 * and write (with virtio headers through offload.c); udpio.c has the UDP side.
 * Per-packet failures are counted, never thrown. Nothing here allocates per packet.
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
  free(h->seg);
  free(h->big);
  free(h->rbuf);
  free(h->runs);
  free(h->next);
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
    h->seg = calloc((size_t)IO_MAX_BATCH * 3, sizeof *h->seg);
    if (h->msgs == NULL || h->iovs == NULL || h->names == NULL || h->ctrl == NULL ||
        h->recidx == NULL || h->seg == NULL) {
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
  if (h->kind != IO_TUN) udp_apply_gro(h); /* GRO needs room for a whole super-datagram */
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

int io_get_view(io_handle *h, batch_view *b) {
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

void io_report(io_handle *h, uint32_t n, uint32_t dropped, int fatal) {
  if (fatal) uv_poll_stop(&h->poll);
  if (n == 0 && dropped == 0 && fatal == 0) return;
  napi_value argv[3] = {make_u32(h->env, n), make_u32(h->env, dropped), make_i32(h->env, fatal)};
  io_call(h, 3, argv);
}

static int tun_gone(int err) {
  return err == EBADFD || err == EBADF || err == EIO || err == ENXIO || err == ENODEV;
}

/* Where the next packet split from a TUN read goes: the next slot, after handing a full batch
 * to JS (which may close the handle or give new buffers). */
typedef struct {
  io_handle *h;
  batch_view *b;
  uint32_t n, dropped;
  int fatal;
} tun_fill;

static uint8_t *tun_slot(void *arg, size_t len, int *stop) {
  tun_fill *c = arg;
  io_handle *h = c->h;
  if (len > h->slot_size - h->headroom - h->tailroom) {
    c->dropped++; /* larger than the slot leaves room for (MTU raised behind our back) */
    return NULL;
  }
  if (c->n == c->b->max) {
    io_report(h, c->n, c->dropped, 0);
    c->n = 0;
    c->dropped = 0;
    if (h->closed) {
      *stop = 1;
      return NULL;
    }
    if (io_get_view(h, c->b)) {
      c->fatal = EFAULT;
      *stop = 1;
      return NULL;
    }
  }
  size_t off = c->n * h->slot_size + h->headroom;
  c->b->offs[c->n] = (uint32_t)off;
  c->b->lens[c->n] = (uint32_t)len;
  c->n++;
  return c->b->slab + off;
}

/* With IFF_VNET_HDR: each read is a virtio header and a packet of up to 64 KiB, cut into slots
 * (offload.c); a batch that fills up goes to JS at once and the cutting goes on. */
static void drain_vnet(io_handle *h, batch_view *b) {
  tun_fill c = {h, b, 0, 0, 0};
  int stop = 0;
  for (uint32_t reads = 0; reads < b->max && !stop; reads++) {
    ssize_t r = read(h->fd, h->rbuf, VNET_READ_BUF);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (tun_gone(errno)) {
        c.fatal = errno;
      } else {
        c.dropped++;
      }
      break;
    }
    if (r == 0) break;
    int segs = vnet_split(h->rbuf, (size_t)r, tun_slot, &c, &stop);
    if (segs < 0) c.dropped++;
    if (segs > 1) h->tso_split++;
  }
  if (h->closed) return;
  io_report(h, c.n, c.dropped, c.fatal);
}

void io_drain_tun(io_handle *h) {
  batch_view b;
  if (io_get_view(h, &b)) {
    io_report(h, 0, 0, EFAULT);
    return;
  }
  if (h->vnet) {
    drain_vnet(h, &b);
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
  io_report(h, n, dropped, fatal);
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
  if (h->vnet) return make_u32(env, vnet_write(h, slab, slab_len, offs, lens, count));
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
