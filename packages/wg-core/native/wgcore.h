// SPDX-License-Identifier: MIT
/*
 * Shared declarations of the wg-core native addon: the I/O handle (one file descriptor watched
 * by a uv_poll_t) and the small helpers every source file uses to read arguments and throw
 * errors that carry an errno `code`. Linux only.
 */
#ifndef WGCORE_H
#define WGCORE_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* What a handle wraps; decides how its poll callback drains the descriptor. */
enum io_kind { IO_TUN = 1, IO_UDP4 = 4, IO_UDP6 = 6, IO_LINK = 16, IO_ROUTE = 17 };

/* One address record per slot in the caller's address array (UDP only):
 *   0      remote family (4/6, 0 = none)
 *   1      flag set by udpSend: 1 = the local source was refused, the datagram left without it
 *   2..3   remote port, network order
 *   4..19  remote address (IPv4 in the first 4 bytes, rest zero)
 *   20     local (source) family: 4/6, 0 = let the kernel choose
 *   21..23 zero
 *   24..27 local interface index, host order (from IP_PKTINFO / IPV6_PKTINFO)
 *   28..43 local address the datagram was sent to, or is to be sent from
 * The local half is what "sticky sockets" remember: a reply leaves from the address the peer
 * wrote to (kernel drivers/net/wireguard/socket.c, endpoint src4/src6). */
#define ADDR_RECORD_SIZE 44
#define REC_FLAG 1
#define REC_SRC_FAMILY 20
#define REC_SRC_IFINDEX 24
#define REC_SRC_ADDR 28

/* Ancillary data room per datagram: one IPV6_PKTINFO (the larger of the two) with slack. */
#define IO_CTRL_SIZE 64

/* Largest number of packets one drain or one send call handles. */
#define IO_MAX_BATCH 1024

/* UDP segmentation offload (udp(7) UDP_SEGMENT, UDP_GRO): at most this many segments per
 * super-datagram (the kernel's UDP_MAX_SEGMENTS and UDP_GRO_CNT_MAX), and receive scratch. */
#define UDP_SEGS_MAX 64
#define GRO_MSGS 8
#define GRO_BUF 65536

/* TUN offloads (offload.c): a read super-packet up to 64 KiB behind its virtio header. */
#define VNET_READ_BUF (65536 + 16)

struct mmsghdr;
typedef struct gro_run gro_run;
struct iovec;
struct sockaddr_in6;

typedef struct io_handle {
  napi_env env;
  int kind;
  int fd;
  int ifindex; /* IO_LINK: the link whose events are reported */
  uv_poll_t poll;
  int poll_init;   /* uv_poll_init done and uv_close not yet requested */
  int uv_pending;  /* uv_close requested, its callback has not run */
  int js_alive;    /* the JS external still exists */
  int closed;      /* fd closed, refs released */
  int hook;        /* async env cleanup hook registered, not yet removed */
  napi_async_cleanup_hook_handle hook_handle;
  napi_ref cb;
  napi_ref slab;
  napi_ref offsets;
  napi_ref lengths;
  napi_ref addrs;
  napi_async_context actx;
  uint32_t slot_size;
  uint32_t headroom;
  uint32_t tailroom;
  uint32_t max;
  /* UDP scratch for recvmmsg/sendmmsg, allocated once per handle (IO_MAX_BATCH entries). */
  struct mmsghdr *msgs;
  struct iovec *iovs;
  struct sockaddr_in6 *names;
  uint8_t *ctrl;     /* IO_MAX_BATCH * IO_CTRL_SIZE, aligned for cmsghdr */
  uint32_t *recidx;  /* udpSend: iovec k carries caller record recidx[k] */
  uint32_t *seg;     /* udpSend: per message, segment size, count and bytes (3 words) */
  uint8_t *big;      /* UDP GRO receive scratch, GRO_MSGS * GRO_BUF, when GRO is on */
  int gso_ok, gro_ok; /* the kernel has UDP_SEGMENT / UDP_GRO for this socket */
  int gso_on, gro_want, gro_on;
  uint32_t gso_sent, gro_received; /* super-datagrams sent / received, for tests */
  /* TUN with IFF_VNET_HDR: read scratch, GRO bookkeeping (IO_MAX_BATCH each), counters */
  int vnet, gro_off;
  uint8_t *rbuf;
  gro_run *runs;
  uint32_t *next;
  uint32_t tso_split, gro_merged; /* super-packets read and split / segments written merged */
} io_handle;

/* The caller's arrays as they are now: re-read each batch so a detached buffer is never used. */
typedef struct {
  uint8_t *slab;
  size_t slab_len;
  uint32_t *offs;
  uint32_t *lens;
  uint8_t *addrs;
  uint32_t max;
} batch_view;

/* addon.c: argument helpers. Each returns 0 on success or throws a TypeError and returns -1. */
int arg_u32(napi_env env, napi_value v, const char *what, uint32_t *out);
int arg_i32(napi_env env, napi_value v, const char *what, int32_t *out);
int arg_bool(napi_env env, napi_value v, const char *what, int *out);
int arg_string(napi_env env, napi_value v, const char *what, char *buf, size_t size);
int arg_bytes(napi_env env, napi_value v, const char *what, uint8_t **data, size_t *len);
int arg_u32s(napi_env env, napi_value v, const char *what, uint32_t **data, size_t *len);
int arg_handle(napi_env env, napi_value v, io_handle **out);
int arg_func(napi_env env, napi_value v, const char *what);

/* Throws an Error whose message is `context: strerror(err)`, with code/errno/syscall set. */
void throw_errno(napi_env env, int err, const char *syscall, const char *context);
napi_value make_u32(napi_env env, uint32_t v);
napi_value make_i32(napi_env env, int32_t v);
napi_value undefined(napi_env env);

/* io.c: handle life cycle and the batch I/O entry points. */
io_handle *io_new(napi_env env, int kind, int fd, napi_value *external);
void io_close(io_handle *h);
int io_watch(io_handle *h, napi_value cb);
void io_call(io_handle *h, size_t argc, napi_value *argv);
napi_value js_io_start(napi_env env, napi_callback_info info);
napi_value js_io_stop(napi_env env, napi_callback_info info);
napi_value js_io_close(napi_env env, napi_callback_info info);
napi_value js_io_fd(napi_env env, napi_callback_info info);
napi_value js_tun_write(napi_env env, napi_callback_info info);
napi_value js_udp_send(napi_env env, napi_callback_info info);
void io_drain_tun(io_handle *h);
int io_get_view(io_handle *h, batch_view *b);
void io_report(io_handle *h, uint32_t n, uint32_t dropped, int fatal);

/* offload.c: virtio-net header packets of a TUN with IFF_VNET_HDR. */
typedef uint8_t *(*vnet_slot)(void *ctx, size_t len, int *stop);
int vnet_split(uint8_t *buf, size_t n, vnet_slot slot, void *ctx, int *stop);
uint32_t vnet_write(io_handle *h, uint8_t *slab, size_t slab_len, const uint32_t *offs,
                    const uint32_t *lens, uint32_t count);
int tun_vnet_enable(io_handle *h);

/* udpio.c: recvmmsg/sendmmsg batches with UDP GSO/GRO when the kernel has them. */
void io_drain_udp(io_handle *h);
void udp_probe_offload(io_handle *h);
void udp_apply_gro(io_handle *h);
napi_value js_udp_offload(napi_env env, napi_callback_info info);

/* tun.c: /dev/net/tun and interface ioctls. */
napi_value js_tun_open(napi_env env, napi_callback_info info);
napi_value js_tun_adopt(napi_env env, napi_callback_info info);
napi_value js_tun_link(napi_env env, napi_callback_info info);
napi_value js_tun_set_mtu(napi_env env, napi_callback_info info);
napi_value js_tun_set_up(napi_env env, napi_callback_info info);
napi_value js_tun_offload(napi_env env, napi_callback_info info);
napi_value js_if_get_mtu(napi_env env, napi_callback_info info);
napi_value js_if_set_mtu(napi_env env, napi_callback_info info);
napi_value js_if_get_flags(napi_env env, napi_callback_info info);
napi_value js_if_set_up(napi_env env, napi_callback_info info);

/* udp.c: the IPv4/IPv6 socket pair and socket options. */
napi_value js_udp_open(napi_env env, napi_callback_info info);
napi_value js_sock_set_mark(napi_env env, napi_callback_info info);
napi_value js_sock_get_mark(napi_env env, napi_callback_info info);
napi_value js_sock_get_bufs(napi_env env, napi_callback_info info);

/* aead.c: ChaCha20-Poly1305 on Node's own OpenSSL, resolved at run time. */
int aead_available(void);
napi_value js_aead_batch(napi_env env, napi_callback_info info);
napi_value js_aead_seal(napi_env env, napi_callback_info info);
napi_value js_aead_open(napi_env env, napi_callback_info info);

/* lock.c: flock(2) on an open file. */
napi_value js_file_lock(napi_env env, napi_callback_info info);

/* transparent.c: a TCP connect from a foreign source address (IP_TRANSPARENT), in the pool. */
napi_value js_transparent_connect(napi_env env, napi_callback_info info);

/* link.c: rtnetlink link events for one interface. */
napi_value js_link_watch(napi_env env, napi_callback_info info);
napi_value js_route_watch(napi_env env, napi_callback_info info);
void io_drain_link(io_handle *h);

#endif
