// SPDX-License-Identifier: MIT
/*
 * TUN offloads: a TUN opened with IFF_VNET_HDR and TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 |
 * TUN_F_TSO6) exchanges packets of up to 64 KiB, each behind a 10-byte struct virtio_net_hdr
 * (include/uapi/linux/virtio_net.h; the kernel's Documentation/networking/
 * segmentation-offloads.rst; the virtio spec, "Packet Transmission" and "Packet Reception").
 * wireguard-go's tun/offload_linux.go does the same; this is our own C for our slot layout.
 *
 * Read (the stack sends): a TCP super-packet (gso_type TCPV4/TCPV6) is cut into gso_size
 * segments, each with its own IP header (IPv4: total length, id + i, header checksum; IPv6:
 * payload length), TCP sequence number, FIN/PSH on the last segment only, and a full TCP
 * checksum; a single packet whose checksum the stack left partial (NEEDS_CSUM) gets it
 * completed. UDP super-packets (USO) are cut the same way, should a kernel send them.
 *
 * Write (we deliver): consecutive TCP segments of one flow in a batch (same addresses, ports,
 * ack, IP fields, TCP options; contiguous sequence numbers; ACK with at most PSH, which ends a
 * run; equal payload sizes but a shorter last one; checksums verified first) are written as one
 * super-packet with gso_type TCPV4/TCPV6 and a partial checksum (NEEDS_CSUM), so the stack sees
 * one large packet instead of dozens (GRO). Everything else is written alone with an empty
 * header, as the kernel then checks its checksum itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/virtio_net.h>

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wgcore.h"

#define VNET_HDR 10
#define PROTO_TCP 6
#define PROTO_UDP 17
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define GRO_SEGS_MAX 64
#define GRO_LOOKBACK 8

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put32(uint8_t *p, uint32_t v) {
  put16(p, (uint16_t)(v >> 16));
  put16(p + 2, (uint16_t)v);
}

/* RFC 1071 one's-complement sum of 16-bit big-endian words, not folded. */
static uint64_t sum16(const uint8_t *p, size_t n, uint64_t acc) {
  while (n >= 8) {
    acc += (uint64_t)get16(p) + get16(p + 2) + get16(p + 4) + get16(p + 6);
    p += 8;
    n -= 8;
  }
  while (n >= 2) {
    acc += get16(p);
    p += 2;
    n -= 2;
  }
  if (n) acc += (uint64_t)p[0] << 8;
  return acc;
}

static uint16_t fold(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return (uint16_t)acc;
}

/* The pseudo-header sum (RFC 793 / RFC 8200 §8.1) of a packet whose addresses are at `addr`. */
static uint64_t pseudo(const uint8_t *addr, size_t alen, uint8_t proto, size_t len) {
  return sum16(addr, 2 * alen, 0) + proto + len;
}

/* Fills the checksum at `at` (inside [start, end)) over [start, end) plus `initial`. */
static void finish_csum(uint8_t *pkt, size_t start, size_t at, size_t end, uint64_t initial) {
  put16(pkt + at, 0);
  uint16_t c = (uint16_t)~fold(sum16(pkt + start, end - start, initial));
  if (c == 0 && pkt[9] == PROTO_UDP && (pkt[0] >> 4) == 4) c = 0xffff; /* UDP: 0 means none */
  put16(pkt + at, c);
}

/* Where the addresses are and how long each is; 0 for anything but IPv4/IPv6. */
static size_t addr_of(const uint8_t *pkt, size_t *at) {
  if ((pkt[0] >> 4) == 4) {
    *at = 12;
    return 4;
  }
  if ((pkt[0] >> 4) == 6) {
    *at = 8;
    return 16;
  }
  return 0;
}

/* Splits the packet behind a virtio header (n bytes at buf) into packets, each written where
 * `slot` says (NULL: that one is dropped, or with *stop set, the rest too). Returns the packets
 * written, or -1 when the packet is malformed (dropped). */
int vnet_split(uint8_t *buf, size_t n, vnet_slot slot, void *ctx, int *stop) {
  struct virtio_net_hdr h;
  if (n < VNET_HDR) return -1;
  memcpy(&h, buf, sizeof h);
  uint8_t *pkt = buf + VNET_HDR;
  size_t len = n - VNET_HDR, aat = 0;
  uint8_t type = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
  size_t alen = len >= 20 ? addr_of(pkt, &aat) : 0;
  if (type == VIRTIO_NET_HDR_GSO_NONE) {
    if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      size_t start = h.csum_start, at = start + h.csum_offset;
      if (at + 2 > len || start > len) return -1;
      uint64_t initial = get16(pkt + at);
      put16(pkt + at, 0);
      put16(pkt + at, (uint16_t)~fold(sum16(pkt + start, len - start, initial)));
    }
    uint8_t *out = slot(ctx, len, stop);
    if (out == NULL) return 0;
    memcpy(out, pkt, len);
    return 1;
  }
  int tcp = type == VIRTIO_NET_HDR_GSO_TCPV4 || type == VIRTIO_NET_HDR_GSO_TCPV6;
  int udp = type == VIRTIO_NET_HDR_GSO_UDP_L4;
  size_t iph = h.csum_start;
  if ((!tcp && !udp) || alen == 0 || h.gso_size == 0 || iph < 20 || iph + 20 > len) return -1;
  size_t thl = tcp ? (size_t)(pkt[iph + 12] >> 4) * 4 : 8;
  size_t hdrs = iph + thl;
  if (thl < 8 || hdrs > len) return -1;
  int v4 = alen == 4;
  uint8_t proto = tcp ? PROTO_TCP : PROTO_UDP;
  uint32_t seq = tcp ? get32(pkt + iph + 4) : 0;
  uint16_t id = v4 ? get16(pkt + 4) : 0;
  uint64_t addrs = sum16(pkt + aat, 2 * alen, 0);
  int count = 0, i = 0;
  for (size_t p = hdrs; p < len; p += h.gso_size, i++) {
    size_t data = len - p < h.gso_size ? len - p : h.gso_size;
    size_t total = hdrs + data;
    uint8_t *seg = slot(ctx, total, stop);
    if (seg == NULL) {
      if (*stop) break;
      continue;
    }
    count++;
    memcpy(seg, pkt, hdrs);
    memcpy(seg + hdrs, pkt + p, data);
    if (v4) {
      put16(seg + 2, (uint16_t)total);
      put16(seg + 4, (uint16_t)(id + i));
      put16(seg + 10, 0);
      put16(seg + 10, (uint16_t)~fold(sum16(seg, iph, 0)));
    } else {
      put16(seg + 4, (uint16_t)(total - 40));
    }
    if (tcp) {
      put32(seg + iph + 4, seq + (uint32_t)(p - hdrs));
      if (p + data < len) seg[iph + 13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
      finish_csum(seg, iph, iph + 16, total, addrs + proto + (total - iph));
    } else {
      put16(seg + iph + 4, (uint16_t)(total - iph));
      finish_csum(seg, iph, iph + 6, total, addrs + proto + (total - iph));
    }
  }
  return count;
}

/* A run of TCP segments being coalesced (GRO). */
struct gro_run {
  uint32_t head;  /* slot of the first segment */
  uint32_t tail;  /* slot of the last one appended */
  uint32_t seq;   /* the sequence number after the last byte */
  uint16_t gso;   /* payload size of the first segment */
  uint16_t segs;  /* segments in the run */
  uint32_t bytes; /* whole length so far (headers once) */
  uint8_t iph, thl;
  uint8_t closed; /* PSH seen or a shorter segment appended */
  uint8_t checked; /* the head's checksum was verified */
};

/* The TCP packet at p (len bytes) if it may join a run: ACK, maybe PSH, payload > 0, no IP
 * options or extension headers, not a fragment. Returns the IP header length or 0. */
static size_t gro_candidate(const uint8_t *p, size_t len, size_t *thl) {
  size_t iph;
  if (len >= 40 && (p[0] >> 4) == 4) {
    if ((p[0] & 0x0f) != 5 || p[9] != PROTO_TCP || get16(p + 2) != len) return 0;
    if ((get16(p + 6) & 0x3fff) != 0) return 0; /* MF or a fragment offset */
    iph = 20;
  } else if (len >= 60 && (p[0] >> 4) == 6) {
    if (p[6] != PROTO_TCP || (size_t)get16(p + 4) + 40 != len) return 0;
    iph = 40;
  } else {
    return 0;
  }
  *thl = (size_t)(p[iph + 12] >> 4) * 4;
  uint8_t flags = p[iph + 13];
  if (*thl < 20 || iph + *thl >= len) return 0;
  if ((flags & ~TCP_PSH) != TCP_ACK) return 0;
  return iph;
}

static int csum_ok(const uint8_t *p, size_t len, size_t iph) {
  size_t aat = 0, alen = addr_of(p, &aat);
  uint64_t acc = pseudo(p + aat, alen, PROTO_TCP, len - iph);
  return fold(sum16(p + iph, len - iph, acc)) == 0xffff;
}

/* Whether packet q can follow run r (whose head is at h). */
static int gro_fits(const gro_run *r, const uint8_t *h, const uint8_t *q, size_t qlen, size_t iph,
                    size_t thl) {
  if (r->closed || r->iph != iph || r->thl != thl || r->segs >= GRO_SEGS_MAX) return 0;
  size_t payload = qlen - iph - thl;
  if (payload > r->gso || r->bytes + payload > 65535) return 0;
  if (get32(q + iph + 4) != r->seq) return 0;
  if (iph == 20) {
    /* addresses, protocol, TOS, TTL, DF */
    if (memcmp(h + 12, q + 12, 8) != 0 || h[1] != q[1] || h[8] != q[8] ||
        (get16(h + 6) & 0xe000) != (get16(q + 6) & 0xe000)) {
      return 0;
    }
  } else if (memcmp(h + 8, q + 8, 32) != 0 || h[7] != q[7] || (get32(h) >> 20) != (get32(q) >> 20)) {
    return 0; /* addresses, hop limit, traffic class */
  }
  /* ports, ack number, window-independent: options must match byte for byte */
  return memcmp(h + iph, q + iph, 4) == 0 && memcmp(h + iph + 8, q + iph + 8, 4) == 0 &&
         memcmp(h + iph + 20, q + iph + 20, thl - 20) == 0;
}

/* Writes one run: a lone packet behind an empty header, or a super-packet. */
static int write_run(io_handle *h, uint8_t *slab, const uint32_t *offs, const uint32_t *lens,
                     const uint32_t *next, const gro_run *r) {
  struct virtio_net_hdr v;
  memset(&v, 0, sizeof v);
  uint8_t *p = slab + offs[r->head];
  struct iovec *iov = h->iovs;
  iov[0].iov_base = &v;
  iov[0].iov_len = VNET_HDR;
  iov[1].iov_base = p;
  iov[1].iov_len = lens[r->head];
  int n = 2;
  if (r->segs > 1) {
    size_t iph = r->iph, hdrs = iph + r->thl, aat = 0, alen = addr_of(p, &aat);
    for (uint32_t j = next[r->head]; n < GRO_SEGS_MAX + 1; j = next[j]) {
      iov[n].iov_base = slab + offs[j] + hdrs;
      iov[n].iov_len = lens[j] - hdrs;
      n++;
      if (j == r->tail) break;
    }
    if (iph == 20) {
      put16(p + 2, (uint16_t)r->bytes);
      put16(p + 10, 0);
      put16(p + 10, (uint16_t)~fold(sum16(p, 20, 0)));
      v.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    } else {
      put16(p + 4, (uint16_t)(r->bytes - 40));
      v.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
    }
    v.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    v.hdr_len = (uint16_t)hdrs;
    v.gso_size = r->gso;
    v.csum_start = (uint16_t)iph;
    v.csum_offset = 16;
    /* a partial checksum: the pseudo-header sum, which the stack completes */
    put16(p + iph + 16, fold(pseudo(p + aat, alen, PROTO_TCP, r->bytes - iph)));
  }
  ssize_t w;
  do {
    w = writev(h->fd, iov, n);
  } while (w < 0 && errno == EINTR);
  if (w >= 0 && r->segs > 1) h->gro_merged += r->segs;
  return w >= 0 ? (int)r->segs : 0;
}

/* tunWrite with a virtio header: coalesces TCP runs (GRO) and writes; returns packets written. */
uint32_t vnet_write(io_handle *h, uint8_t *slab, size_t slab_len, const uint32_t *offs,
                    const uint32_t *lens, uint32_t count) {
  gro_run *runs = h->runs;
  if (runs == NULL || h->next == NULL) return 0;
  uint32_t *next = h->next, nruns = 0, ok = 0;
  for (uint32_t i = 0; i < count; i++) {
    size_t off = offs[i], len = lens[i], thl = 0;
    if (len == 0 || off > slab_len || len > slab_len - off) continue;
    const uint8_t *q = slab + off;
    size_t iph = h->gro_off ? 0 : gro_candidate(q, len, &thl);
    if (iph != 0) {
      uint32_t stop = nruns > GRO_LOOKBACK ? nruns - GRO_LOOKBACK : 0;
      int joined = 0;
      for (uint32_t k = nruns; k-- > stop;) {
        gro_run *r = &runs[k];
        const uint8_t *hp = slab + offs[r->head];
        if (r->iph == 0 || !gro_fits(r, hp, q, len, iph, thl)) continue;
        if (!r->checked && !csum_ok(hp, lens[r->head], r->iph)) {
          r->closed = 1;
          continue;
        }
        r->checked = 1;
        if (!csum_ok(q, len, iph)) break;
        size_t payload = len - iph - thl;
        next[r->tail] = i;
        r->tail = i;
        r->segs++;
        r->bytes += (uint32_t)payload;
        r->seq += (uint32_t)payload;
        if (payload < r->gso || (q[iph + 13] & TCP_PSH)) r->closed = 1;
        if (q[iph + 13] & TCP_PSH) slab[offs[r->head] + iph + 13] |= TCP_PSH;
        joined = 1;
        break;
      }
      if (joined) continue;
    }
    gro_run *r = &runs[nruns++];
    memset(r, 0, sizeof *r);
    r->head = r->tail = i;
    r->segs = 1;
    r->bytes = (uint32_t)len;
    if (iph != 0) {
      r->iph = (uint8_t)iph;
      r->thl = (uint8_t)thl;
      r->gso = (uint16_t)(len - iph - thl);
      r->seq = get32(q + iph + 4) + r->gso;
      r->closed = (q[iph + 13] & TCP_PSH) != 0;
    }
  }
  for (uint32_t k = 0; k < nruns; k++) ok += (uint32_t)write_run(h, slab, offs, lens, next, &runs[k]);
  return ok;
}

/* Switches a TUN handle to virtio-header I/O: read scratch and GRO bookkeeping. */
int tun_vnet_enable(io_handle *h) {
  if (h->vnet) return 0;
  h->rbuf = malloc(VNET_READ_BUF);
  h->runs = calloc(IO_MAX_BATCH, sizeof *h->runs);
  h->next = calloc(IO_MAX_BATCH, sizeof *h->next);
  if (h->iovs == NULL) h->iovs = calloc(GRO_SEGS_MAX + 2, sizeof *h->iovs);
  if (h->rbuf == NULL || h->runs == NULL || h->next == NULL || h->iovs == NULL) return -1;
  h->vnet = 1;
  return 0;
}
