// SPDX-License-Identifier: MIT
/*
 * UDP batch I/O: recvmmsg() drains a socket into the caller's slots, sendmmsg() sends a batch,
 * each datagram with its remote address and, for sticky sources, its local one (IP_PKTINFO /
 * IPV6_PKTINFO). Where the kernel has them (udp(7); wireguard-go conn/bind_std.go and
 * conn/gso_linux.go do the same), the segmentation offloads cut the per-datagram cost:
 *
 *  - UDP_SEGMENT (Linux 4.18) on send: consecutive datagrams to the same destination from the
 *    same source, all of one size but a shorter last one, leave as one message carrying a
 *    UDP_SEGMENT control message (at most 64 segments and 65507 bytes); the kernel, or the
 *    device, cuts it. A message the kernel refuses that way (EIO: no checksum offload on the
 *    route's device; EMSGSIZE: a segment over the path MTU) is sent again a datagram at a time,
 *    and EIO turns GSO off for the socket, as wireguard-go does.
 *  - UDP_GRO (probed with getsockopt, which answers from Linux 5.12, as wireguard-go requires)
 *    on receive: the kernel may hand over several datagrams of one flow as one, with their size
 *    in a UDP_GRO control message. Those are read into a scratch buffer and cut into slots; a
 *    batch that fills up is handed to JS and the cutting goes on into it.
 *
 * Per-datagram failures are counted, never thrown; nothing here allocates per packet.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "wgcore.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#define UDP_PAYLOAD_MAX 65507 /* 65535 - 20 (IPv4) - 8 (UDP), the smaller of the families */

static int udp_fatal(int err) {
  return err == EBADF || err == ENOTSOCK || err == EFAULT || err == EINVAL;
}

/* Whether the kernel offers the offloads on this socket. */
void udp_probe_offload(io_handle *h) {
  int v = 0;
  socklen_t len = sizeof v;
  h->gso_ok = getsockopt(h->fd, IPPROTO_UDP, UDP_SEGMENT, &v, &len) == 0;
  len = sizeof v;
  h->gro_ok = getsockopt(h->fd, IPPROTO_UDP, UDP_GRO, &v, &len) == 0;
  h->gso_on = h->gso_ok;
  h->gro_want = h->gro_ok;
}

/* Turns UDP_GRO on when wanted and supported; off otherwise. */
void udp_apply_gro(io_handle *h) {
  int on = h->gro_want && h->gro_ok;
  if (on && h->big == NULL) {
    h->big = malloc((size_t)GRO_MSGS * GRO_BUF);
    if (h->big == NULL) on = 0;
  }
  if (on != h->gro_on && h->fd >= 0) {
    int v = on;
    if (setsockopt(h->fd, IPPROTO_UDP, UDP_GRO, &v, sizeof v) < 0) on = 0;
  }
  h->gro_on = on;
}

/* udpOffload(handle, gso, gro) -> [gsoOn, groOn, superSent, superReceived]: asks for the
 * offloads (each only where the kernel has it) and reports their state and use. */
napi_value js_udp_offload(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result, b;
  io_handle *h;
  int gso, gro;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3 || arg_handle(env, argv[0], &h) || arg_bool(env, argv[1], "gso", &gso) ||
      arg_bool(env, argv[2], "gro", &gro)) {
    return NULL;
  }
  if (h->kind != IO_UDP4 && h->kind != IO_UDP6) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "Invalid handle: not a UDP socket");
    return NULL;
  }
  h->gso_on = gso && h->gso_ok;
  h->gro_want = gro;
  if (h->max > 0) udp_apply_gro(h);
  napi_create_array_with_length(env, 4, &result);
  napi_get_boolean(env, h->gso_on != 0, &b);
  napi_set_element(env, result, 0, b);
  napi_get_boolean(env, h->gro_on != 0 || (h->max == 0 && h->gro_want && h->gro_ok), &b);
  napi_set_element(env, result, 1, b);
  napi_set_element(env, result, 2, make_u32(env, h->gso_sent));
  napi_set_element(env, result, 3, make_u32(env, h->gro_received));
  return result;
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
 * ipv6(7)): the address the datagram was sent to and the interface it came in on. Also returns
 * the UDP_GRO segment size, 0 when the datagram is a single one. */
static int put_source(uint8_t *rec, const struct msghdr *m) {
  int gso = 0;
  if (m->msg_flags & MSG_CTRUNC) return 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
    if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO &&
        c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      memcpy(&gso, CMSG_DATA(c), sizeof gso);
    } else if (rec[0] != 0 && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
               c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      uint32_t ifindex = (uint32_t)pi.ipi_ifindex;
      rec[REC_SRC_FAMILY] = 4;
      memcpy(rec + REC_SRC_IFINDEX, &ifindex, 4);
      /* ipi_spec_dst: the local address, what a reply should come from */
      memcpy(rec + REC_SRC_ADDR, &pi.ipi_spec_dst, 4);
    } else if (rec[0] != 0 && c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
               c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      uint32_t ifindex = (uint32_t)pi.ipi6_ifindex;
      rec[REC_SRC_FAMILY] = 6;
      memcpy(rec + REC_SRC_IFINDEX, &ifindex, 4);
      memcpy(rec + REC_SRC_ADDR, &pi.ipi6_addr, 16);
    }
  }
  return gso;
}

static void prepare_recv(io_handle *h, uint32_t j, void *buf, size_t cap) {
  h->iovs[j].iov_base = buf;
  h->iovs[j].iov_len = cap;
  memset(&h->msgs[j], 0, sizeof h->msgs[j]);
  h->msgs[j].msg_hdr.msg_name = &h->names[j];
  h->msgs[j].msg_hdr.msg_namelen = sizeof h->names[j];
  h->msgs[j].msg_hdr.msg_iov = &h->iovs[j];
  h->msgs[j].msg_hdr.msg_iovlen = 1;
  h->msgs[j].msg_hdr.msg_control = h->ctrl + (size_t)j * IO_CTRL_SIZE;
  h->msgs[j].msg_hdr.msg_controllen = IO_CTRL_SIZE;
}

/* recvmmsg() with EINTR retried; 0 = nothing more now, -1 = stop with *fatal or a count. */
static int recv_some(io_handle *h, uint32_t want, uint32_t *dropped, uint32_t *errors, int *fatal) {
  for (;;) {
    int r = recvmmsg(h->fd, h->msgs, want, MSG_DONTWAIT, NULL);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    if (udp_fatal(errno)) {
      *fatal = errno;
      return -1;
    }
    /* A socket error queued by ICMP (ECONNREFUSED, EHOSTUNREACH ...): count and read on. */
    (*dropped)++;
    if (++*errors >= 8) return -1;
  }
}

/* GRO on: up to GRO_MSGS datagrams at a time land in the scratch buffer and are cut into
 * slots; a batch that fills up goes to JS at once (which may close the handle or give new
 * buffers) and the cutting goes on. Returns 1 when JS closed the handle meanwhile. */
static int drain_gro(io_handle *h, batch_view *b, uint32_t *np, uint32_t *dropped, int *fatal) {
  uint32_t n = 0, errors = 0, msgs = 0;
  uint8_t rec[ADDR_RECORD_SIZE];
  while (msgs < b->max) {
    for (uint32_t j = 0; j < GRO_MSGS; j++) prepare_recv(h, j, h->big + (size_t)j * GRO_BUF, GRO_BUF);
    int r = recv_some(h, GRO_MSGS, dropped, &errors, fatal);
    if (r <= 0) break;
    msgs += (uint32_t)r;
    for (int j = 0; j < r; j++) {
      const struct msghdr *m = &h->msgs[j].msg_hdr;
      put_addr(rec, &h->names[j], m->msg_namelen);
      size_t seg = (size_t)put_source(rec, m);
      size_t len = (m->msg_flags & MSG_TRUNC) ? 0 : h->msgs[j].msg_len;
      if (m->msg_flags & MSG_TRUNC) (*dropped)++;
      if (seg == 0 || seg > len) seg = len;
      if (seg < len) h->gro_received++;
      const uint8_t *src = h->big + (size_t)j * GRO_BUF;
      size_t p = 0;
      do {
        if (n == b->max) {
          io_report(h, n, *dropped, 0);
          n = 0;
          *dropped = 0;
          if (h->closed) return 1;
          if (io_get_view(h, b)) {
            *fatal = EFAULT;
            *np = 0;
            return 0;
          }
        }
        size_t piece = len - p < seg ? len - p : seg;
        size_t off = n * h->slot_size + h->headroom;
        memcpy(b->addrs + (size_t)n * ADDR_RECORD_SIZE, rec, ADDR_RECORD_SIZE);
        b->offs[n] = (uint32_t)off;
        if (piece > h->slot_size - h->headroom || (m->msg_flags & MSG_TRUNC)) {
          b->lens[n] = 0; /* larger than a slot: an empty slot tells the caller to grow */
          if (!(m->msg_flags & MSG_TRUNC)) (*dropped)++;
        } else {
          memcpy(b->slab + off, src + p, piece);
          b->lens[n] = (uint32_t)piece;
        }
        n++;
        p += seg;
      } while (p < len);
    }
    if (r < GRO_MSGS || *fatal) break;
  }
  *np = n;
  return 0;
}

void io_drain_udp(io_handle *h) {
  batch_view b;
  if (io_get_view(h, &b)) {
    io_report(h, 0, 0, EFAULT);
    return;
  }
  const size_t slot = h->slot_size, cap = slot - h->headroom;
  uint32_t n = 0, dropped = 0, errors = 0;
  int fatal = 0;
  if (h->gro_on) {
    if (drain_gro(h, &b, &n, &dropped, &fatal) == 0) io_report(h, n, dropped, fatal);
    return;
  }
  while (n < b.max) {
    uint32_t want = b.max - n;
    for (uint32_t j = 0; j < want; j++) prepare_recv(h, j, b.slab + (n + j) * slot + h->headroom, cap);
    int r = recv_some(h, want, &dropped, &errors, &fatal);
    if (r <= 0) break;
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
  io_report(h, n, dropped, fatal);
}

/* Whether a send failure may be the chosen source address: gone from the host (EINVAL from the
 * route lookup with a foreign saddr, EADDRNOTAVAIL for IPv6) or unroutable from there. */
static int source_refused(int err) {
  return err == EINVAL || err == EADDRNOTAVAIL || err == ENETUNREACH || err == EHOSTUNREACH;
}

/* Whether a failure may be the segmentation itself. */
static int gso_refused(int err) { return err == EIO || err == EMSGSIZE || err == EINVAL; }

/* Sends msgs[0..k); returns datagrams sent. A message carrying a source the kernel refuses is
 * sent again without it, and its records are flagged so the caller forgets that source, as the
 * kernel clears endpoint->src4/src6 when the address is no longer local (socket.c send4/send6).
 * A segmented message refused for its segmentation stops the chunk: *redo_from is set to the
 * caller record its first datagram came from, to be sent again without GSO. */
static uint32_t send_chunk(io_handle *h, uint8_t *addrs, uint32_t k, uint32_t *redo_from) {
  uint32_t i = 0, sent = 0;
  int retried = 0;
  while (i < k) {
    int r = sendmmsg(h->fd, h->msgs + i, k - i, MSG_DONTWAIT);
    if (r > 0) {
      for (int j = 0; j < r; j++) {
        size_t segs = h->msgs[i + j].msg_hdr.msg_iovlen;
        sent += (uint32_t)segs;
        if (segs > 1) h->gso_sent++;
      }
      i += (uint32_t)r;
      retried = 0;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 || errno == EAGAIN || errno == EWOULDBLOCK) break; /* buffer full: drop the rest */
    int err = errno;
    struct msghdr *m = &h->msgs[i].msg_hdr;
    size_t first = (size_t)(m->msg_iov - h->iovs);
    if (m->msg_iovlen > 1 && gso_refused(err)) {
      if (err == EIO) h->gso_on = 0; /* no checksum offload on the way: never again */
      *redo_from = h->recidx[first];
      return sent;
    }
    if (m->msg_controllen != 0 && source_refused(err) && !retried) {
      /* drop the source (the segment size, if any, goes with it: send them one by one) */
      if (m->msg_iovlen > 1) {
        *redo_from = h->recidx[first];
        addrs[(size_t)h->recidx[first] * ADDR_RECORD_SIZE + REC_FLAG] = 2;
        return sent;
      }
      m->msg_control = NULL;
      m->msg_controllen = 0;
      addrs[(size_t)h->recidx[first] * ADDR_RECORD_SIZE + REC_FLAG] = 1;
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

/* Writes the control messages of message k: the record's local source (IPv4 leaves the
 * interface to the route lookup; IPv6 names it only for a link-local source, which needs it),
 * then UDP_SEGMENT when the message carries several datagrams. Returns the bytes used. */
static socklen_t put_control(io_handle *h, uint32_t k, const uint8_t *rec, uint8_t fam,
                             uint16_t segment) {
  uint8_t *buf = h->ctrl + (size_t)k * IO_CTRL_SIZE;
  int src = rec[REC_SRC_FAMILY] == fam && rec[REC_FLAG] != 2;
  if (!src && segment == 0) return 0;
  memset(buf, 0, IO_CTRL_SIZE);
  struct msghdr tmp;
  memset(&tmp, 0, sizeof tmp);
  tmp.msg_control = buf;
  tmp.msg_controllen = IO_CTRL_SIZE;
  struct cmsghdr *c = CMSG_FIRSTHDR(&tmp);
  socklen_t used = 0;
  if (src && fam == 4) {
    struct in_pktinfo pi;
    memset(&pi, 0, sizeof pi);
    memcpy(&pi.ipi_spec_dst, rec + REC_SRC_ADDR, 4);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    used = CMSG_SPACE(sizeof pi);
  } else if (src) {
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
    used = CMSG_SPACE(sizeof pi);
  }
  if (segment != 0) {
    c = (struct cmsghdr *)(buf + used);
    c->cmsg_level = IPPROTO_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof segment);
    memcpy(CMSG_DATA(c), &segment, sizeof segment);
    used += CMSG_SPACE(sizeof segment);
  }
  return used;
}

/* Same destination and source: the remote half and the local half of two records. */
static int same_route(const uint8_t *a, const uint8_t *b) {
  return a[0] == b[0] && memcmp(a + 2, b + 2, ADDR_RECORD_SIZE - 2) == 0;
}

/* Writes each message's control data (source, segment size: the first datagram's length) and
 * sends messages 0..k. */
static uint32_t finish_chunk(io_handle *h, uint8_t *addrs, uint32_t k, uint8_t fam,
                             uint32_t *redo_from) {
  for (uint32_t q = 0; q < k; q++) {
    struct msghdr *m = &h->msgs[q].msg_hdr;
    size_t first = (size_t)(m->msg_iov - h->iovs);
    const uint8_t *rec = addrs + (size_t)h->recidx[first] * ADDR_RECORD_SIZE;
    uint16_t segment = m->msg_iovlen > 1 ? (uint16_t)h->iovs[first].iov_len : 0;
    socklen_t clen = put_control(h, q, rec, fam, segment);
    m->msg_control = clen ? h->ctrl + (size_t)q * IO_CTRL_SIZE : NULL;
    m->msg_controllen = clen;
  }
  return send_chunk(h, addrs, k, redo_from);
}

/* Builds and sends messages for the caller's packets from record `start` on; returns datagrams
 * sent, *redo_from as send_chunk sets it. */
static uint32_t send_from(io_handle *h, uint8_t *slab, size_t slab_len, const uint32_t *offs,
                          const uint32_t *lens, uint8_t *addrs, uint32_t count, uint32_t start,
                          int gso, uint32_t *redo_from) {
  const uint8_t fam = h->kind == IO_UDP4 ? 4 : 6;
  uint32_t k = 0, v = 0, sent = 0;
  *redo_from = UINT32_MAX;
  for (uint32_t i = start; i < count; i++) {
    const uint8_t *rec = addrs + (size_t)i * ADDR_RECORD_SIZE;
    size_t off = offs[i], len = lens[i];
    if (len == 0 || rec[0] != fam || off > slab_len || len > slab_len - off) continue;
    if (gso && k > 0) {
      /* the open message: [0] segment size, [1] segments, [2] bytes, [3] closed by a short one */
      uint32_t *sg = h->seg + (size_t)(k - 1) * 3;
      const uint8_t *head = addrs + (size_t)h->recidx[v - sg[1]] * ADDR_RECORD_SIZE;
      if (sg[0] != 0 && len <= sg[0] && sg[1] < UDP_SEGS_MAX && sg[2] + len <= UDP_PAYLOAD_MAX &&
          same_route(head, rec)) {
        h->iovs[v].iov_base = slab + off;
        h->iovs[v].iov_len = len;
        h->recidx[v++] = i;
        h->msgs[k - 1].msg_hdr.msg_iovlen++;
        sg[1]++;
        sg[2] += (uint32_t)len;
        if (len < sg[0]) sg[0] = 0; /* a shorter datagram ends the message */
        continue;
      }
    }
    if (k == IO_MAX_BATCH || v == IO_MAX_BATCH) {
      sent += finish_chunk(h, addrs, k, fam, redo_from);
      if (*redo_from != UINT32_MAX) return sent;
      k = 0;
      v = 0;
    }
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
    h->iovs[v].iov_base = slab + off;
    h->iovs[v].iov_len = len;
    h->recidx[v] = i;
    memset(&h->msgs[k], 0, sizeof h->msgs[k]);
    h->msgs[k].msg_hdr.msg_name = name;
    h->msgs[k].msg_hdr.msg_namelen = namelen;
    h->msgs[k].msg_hdr.msg_iov = &h->iovs[v];
    h->msgs[k].msg_hdr.msg_iovlen = 1;
    uint32_t *sg = h->seg + (size_t)k * 3;
    sg[0] = len <= 0xffff ? (uint32_t)len : 0;
    sg[1] = 1;
    sg[2] = (uint32_t)len;
    v++;
    k++;
  }
  if (k > 0) sent += finish_chunk(h, addrs, k, fam, redo_from);
  return sent;
}

/* udpSend(handle, slab, offsets, lengths, addrs, count) -> datagrams sent. Only packets whose
 * address record has this socket's family are sent; the others belong to the other socket. A
 * record with a local source sends from it (IP_PKTINFO / IPV6_PKTINFO ancillary data, the
 * "sticky socket" of https://git.zx2c4.com/wireguard-tools/tree/contrib/sticky-sockets); byte 1
 * of a record whose source was refused is set to 1 (or 2). */
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
  uint32_t redo = UINT32_MAX;
  uint32_t sent = send_from(h, slab, slab_len, offs, lens, addrs, count, 0, h->gso_on, &redo);
  if (redo != UINT32_MAX) {
    /* the rest one datagram per message: what the kernel refused as a whole, and after it */
    uint32_t again;
    sent += send_from(h, slab, slab_len, offs, lens, addrs, count, redo, 0, &again);
  }
  return make_u32(env, sent);
}
