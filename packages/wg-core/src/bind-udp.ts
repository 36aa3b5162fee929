// SPDX-License-Identifier: MIT
/**
 * The UDP bind on Linux (wireguard-go `conn/bind_std.go`, kernel `socket.c`): an IPv4 and an
 * IPv6-only socket on one port made by the native addon (`native/udp.c`), drained with
 * recvmmsg a batch per event-loop turn and written with sendmmsg to per-packet destinations
 * (`native/io.c`), with large buffers and SO_MARK. Sockets are unconnected, so ICMP errors
 * never surface as events; whatever a send or receive reports is counted and skipped.
 *
 * Addresses cross from C as 44-byte records (`native/wgcore.h`): the remote address and port, then
 * the local address the datagram came to and its interface (IP_PKTINFO / IPV6_PKTINFO). A bounded
 * open-addressing table maps a record to its {@link UdpEndpoint}, so steady traffic from known
 * peers creates no objects on the receive path; the send path copies each endpoint's record into
 * one preallocated array.
 *
 * Sticky source addresses, as the kernel (drivers/net/wireguard/socket.c keeps `src4`/`src6` in
 * the endpoint) and wireguard-go (`conn/sticky_linux.go`): an endpoint is the pair (remote, local),
 * so the peer's endpoint, which only moves on authenticated packets (receive.ts), also says which
 * of our addresses the peer wrote to, and replies leave from it. A source is forgotten when the
 * kernel refuses it on send (the address is gone: the datagram goes again without it), and every
 * source is set aside after any address or route change in this namespace until the peer's next
 * datagram to it shows it still works (the kernel instead re-checks each route's interface; this
 * is coarser and never sends from a stale address).
 * @module
 */

import { isIPv4, isIPv6 } from 'node:net';
import { IDEAL_BATCH_SIZE, PacketBatch } from './batch.ts';
import type { Bind, Endpoint, ReceiveFn } from './bind.ts';
import { formatEndpoint } from './bind.ts';
import { formatIPv4, formatIPv6, parseIPv4Into, parseIPv6Into } from './ip.ts';
import type { IoHandle, NativeAddon } from './native.ts';
import {
  ADDR_RECORD_SIZE,
  loadNative,
  REC_FLAG,
  REC_SRC_ADDR,
  REC_SRC_FAMILY,
  REC_SRC_IFINDEX,
} from './native.ts';

export interface UdpBindOptions {
  /** Datagrams drained per receive batch (1..1024); default `IDEAL_BATCH_SIZE`. */
  batchSize?: number;
  /**
   * Bytes per receive slot, the largest datagram accepted; default 4096. It grows to 65536 after
   * a datagram did not fit, and with {@link UdpBind.setMaxDatagramSize}.
   */
  slotSize?: number;
  /** SO_RCVBUF/SO_SNDBUF in bytes (forced past the sysctl limit as root); default 7 MiB. */
  socketBuffer?: number;
  /** Source addresses remembered as Endpoint objects (a power of two); default 1024. */
  endpointCacheSize?: number;
  /**
   * UDP segmentation offloads where the kernel has them (`native/udpio.c`): UDP_SEGMENT on send
   * (one message per run of equal-sized datagrams to one endpoint), UDP_GRO on receive (cut
   * back into datagrams, a batch handed over whenever it fills). Default true; false keeps one
   * datagram per message both ways.
   */
  offload?: boolean;
}

/** Whether the UDP offloads are in use, and how often they were (both sockets together). */
export interface UdpOffloadState {
  gso: boolean;
  gro: boolean;
  /** Messages sent carrying more than one datagram. */
  gsoMessages: number;
  /** Datagrams received holding more than one datagram. */
  groMessages: number;
}

/** Counters of the bind; they only grow. */
export interface BindStats {
  rxPackets: number;
  rxBatches: number;
  /** Datagrams lost on receive: larger than a slot, socket errors, no receiver set. */
  rxDropped: number;
  /** Batches whose receiver threw (the batch is lost, the bind reads on). */
  rxReceiverErrors: number;
  /** Sticky sources the kernel refused on send (address gone): sent again without. */
  sourcesRefused: number;
  /** Address or route changes that set every sticky source aside. */
  sourceResets: number;
  txPackets: number;
  /** Datagrams not sent: no or foreign endpoint, family not open, unreachable, buffer full. */
  txErrors: number;
}

/** An endpoint of this bind: carries the address record the addon sends to. */
export class UdpEndpoint implements Endpoint {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
  /** The remote address as `wg` prints it; the same for every local source. */
  readonly key: string;
  /**
   * Remote family, flag, port (big-endian), 16 address bytes, then the local source (family,
   * ifindex, 16 address bytes): the layout of `native/wgcore.h`.
   */
  readonly record: Uint8Array;
  /** @internal the bind's source epoch in which the local source last worked (0 = never) */
  sourceEpoch = 0;

  /** From a full record, or from the 20-byte remote half alone (no local source). */
  constructor(record: Uint8Array) {
    if (
      (record.length !== ADDR_RECORD_SIZE && record.length !== 20) ||
      (record[0] !== 4 && record[0] !== 6)
    ) {
      throw new TypeError('Invalid address record: expected 44 or 20 bytes starting with 4 or 6');
    }
    if (record.length !== ADDR_RECORD_SIZE) {
      const full = new Uint8Array(ADDR_RECORD_SIZE);
      full.set(record);
      record = full;
    }
    this.record = record;
    this.family = record[0] as 4 | 6;
    this.port = (record[2]! << 8) | record[3]!;
    this.address = this.family === 4 ? formatIPv4(record, 4) : formatIPv6(record, 4);
    this.key = formatEndpoint(this.address, this.port, this.family);
  }

  /** The local address the peer wrote to (replies leave from it), or null. */
  get sourceAddress(): string | null {
    const f = this.record[REC_SRC_FAMILY];
    if (f === 4) return formatIPv4(this.record, REC_SRC_ADDR);
    if (f === 6) return formatIPv6(this.record, REC_SRC_ADDR);
    return null;
  }

  /** The interface the peer's datagram came in on (0 = none). */
  get sourceIfindex(): number {
    const r = this.record;
    return new DataView(r.buffer, r.byteOffset + REC_SRC_IFINDEX, 4).getUint32(0, true);
  }
}

function endpointError(text: string, reason: string): TypeError {
  return new TypeError(`Invalid endpoint '${text}': ${reason}`);
}

/**
 * Parses `IP:port` or `[IPv6]:port` (numeric only, no names, no zone ids) into an endpoint.
 * An IPv4-mapped IPv6 address becomes the IPv4 endpoint it maps, since the IPv6 socket is
 * IPv6-only. Throws a TypeError naming the text and the reason.
 */
export function parseUdpEndpoint(text: string): UdpEndpoint {
  if (typeof text !== 'string') {
    throw new TypeError(`Invalid endpoint '${String(text)}': expected a string`);
  }
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw endpointError(text, "missing ']' after the IPv6 address");
    if (text[close + 1] !== ':') throw endpointError(text, "expected ':' and a port after ']'");
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (host.includes('%')) throw endpointError(text, 'zone ids are not supported');
    if (!isIPv6(host)) throw endpointError(text, `'${host}' is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw endpointError(text, 'expected IP:port or [IPv6]:port');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) {
      throw endpointError(text, 'an IPv6 address needs brackets, as in [2001:db8::1]:51820');
    }
    if (!isIPv4(host)) throw endpointError(text, `'${host}' is not an IPv4 address`);
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw endpointError(text, `port '${portText}' is not an integer in 0..65535`);
  }
  const port = Number(portText);
  const record = new Uint8Array(ADDR_RECORD_SIZE);
  record[2] = port >> 8;
  record[3] = port & 0xff;
  if (isIPv4(host)) {
    record[0] = 4;
    parseIPv4Into(host, record, 4);
  } else {
    record[0] = 6;
    parseIPv6Into(host, record, 4);
    const mapped =
      record.subarray(4, 14).every((x) => x === 0) && record[14] === 0xff && record[15] === 0xff;
    if (mapped) {
      record.copyWithin(4, 16, 20);
      record.fill(0, 8);
      record[0] = 4;
    }
  }
  return new UdpEndpoint(record);
}

/**
 * Address record -> UdpEndpoint, open addressing with a few probes over a fixed table: a hit
 * allocates nothing; a miss with every probed slot taken replaces the first one.
 */
class EndpointTable {
  readonly #mask: number;
  readonly #keys: Uint32Array;
  readonly #entries: (UdpEndpoint | null)[];
  readonly #seed = (Math.random() * 0x100000000) >>> 0;

  constructor(size: number) {
    this.#mask = size - 1;
    this.#keys = new Uint32Array(size * WORDS);
    this.#entries = new Array<UdpEndpoint | null>(size).fill(null);
  }

  /** The endpoint for record `i` of `bytes` (viewed as `words`); null for family 0. */
  lookup(bytes: Uint8Array, words: Uint32Array, i: number): UdpEndpoint | null {
    if (bytes[i * ADDR_RECORD_SIZE] === 0) return null;
    const w = i * WORDS;
    let h = this.#seed;
    for (let k = 0; k < WORDS; k++) {
      h = Math.imul(h ^ (h >>> 15) ^ words[w + k]!, 0x9e3779b1);
    }
    h ^= h >>> 16;
    const keys = this.#keys;
    let free = -1;
    for (let probe = 0; probe < 4; probe++) {
      const slot = (h + probe) & this.#mask;
      const ep = this.#entries[slot];
      if (ep == null) {
        if (free < 0) free = slot;
        continue;
      }
      const base = slot * WORDS;
      let same = true;
      for (let k = 0; k < WORDS; k++) {
        if (keys[base + k] !== words[w + k]) {
          same = false;
          break;
        }
      }
      if (same) return ep;
    }
    const slot = free >= 0 ? free : h & this.#mask;
    const off = i * ADDR_RECORD_SIZE;
    const ep = new UdpEndpoint(bytes.slice(off, off + ADDR_RECORD_SIZE));
    this.#keys.set(words.subarray(w, w + WORDS), slot * WORDS);
    this.#entries[slot] = ep;
    return ep;
  }
}

/** 32-bit words per address record. */
const WORDS = ADDR_RECORD_SIZE / 4;
const MAX_SLOT_SIZE = 65536;
const DEFAULT_SLOT_SIZE = 4096;
const DEFAULT_SOCKET_BUFFER = 7 << 20;
const EFAULT = 14;

function checkPort(port: unknown): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Invalid port '${String(port)}': expected an integer in 0..65535`);
  }
  return port;
}

export class UdpBind implements Bind {
  readonly stats: BindStats = {
    rxPackets: 0,
    rxBatches: 0,
    rxDropped: 0,
    rxReceiverErrors: 0,
    sourcesRefused: 0,
    sourceResets: 0,
    txPackets: 0,
    txErrors: 0,
  };
  readonly #batchSize: number;
  #slotSize: number;
  readonly #socketBuffer: number;
  readonly #offload: boolean;
  readonly #table: EndpointTable;
  /** Endpoints made elsewhere (not UdpEndpoint), by key, for their address records. */
  readonly #foreign = new Map<string, UdpEndpoint | null>();
  #addon: NativeAddon | null = null;
  #v4: IoHandle | null = null;
  #v6: IoHandle | null = null;
  #port = 0;
  #mark = 0;
  #rx: PacketBatch;
  #rxAddrs: Uint8Array;
  #rxWords: Uint32Array;
  #txAddrs: Uint8Array;
  #receiver: ReceiveFn | null = null;
  #routes: IoHandle | null = null;
  /** Bumped by every address or route change; a source works only in the epoch it was seen. */
  #epoch = 1;

  constructor(opts: UdpBindOptions = {}) {
    const batchSize = opts.batchSize ?? IDEAL_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1024) {
      throw new RangeError(`Invalid batch size '${batchSize}': expected an integer in 1..1024`);
    }
    const slotSize = opts.slotSize ?? DEFAULT_SLOT_SIZE;
    if (!Number.isInteger(slotSize) || slotSize < 64 || slotSize > MAX_SLOT_SIZE) {
      throw new RangeError(`Invalid slot size '${slotSize}': expected an integer in 64..65536`);
    }
    const socketBuffer = opts.socketBuffer ?? DEFAULT_SOCKET_BUFFER;
    if (!Number.isInteger(socketBuffer) || socketBuffer < 0 || socketBuffer > 1 << 30) {
      throw new RangeError(`Invalid socket buffer '${socketBuffer}': expected 0..2^30 bytes`);
    }
    const cache = opts.endpointCacheSize ?? 1024;
    if (!Number.isInteger(cache) || cache < 4 || cache > 1 << 20 || (cache & (cache - 1)) !== 0) {
      throw new RangeError(`Invalid endpoint cache size '${cache}': expected a power of two`);
    }
    this.#batchSize = batchSize;
    this.#slotSize = slotSize;
    this.#socketBuffer = socketBuffer;
    this.#offload = opts.offload ?? true;
    this.#table = new EndpointTable(cache);
    this.#rx = new PacketBatch(batchSize, slotSize);
    this.#rxAddrs = new Uint8Array(batchSize * ADDR_RECORD_SIZE);
    this.#rxWords = new Uint32Array(this.#rxAddrs.buffer);
    this.#txAddrs = new Uint8Array(batchSize * ADDR_RECORD_SIZE);
  }

  /** The bound port; 0 while closed. */
  get port(): number {
    return this.#port;
  }

  async open(port: number): Promise<number> {
    checkPort(port);
    if (this.#v4 !== null || this.#v6 !== null) {
      throw Object.assign(new Error(`Cannot open port ${port}: the bind is already open`), {
        code: 'ERR_BIND_OPEN',
      });
    }
    const addon = loadNative();
    this.#addon = addon;
    const [v4, v6, bound] = addon.udpOpen(port, this.#socketBuffer);
    this.#v4 = v4;
    this.#v6 = v6;
    this.#port = bound;
    try {
      for (const h of [v4, v6]) if (h !== null) addon.udpOffload(h, this.#offload, this.#offload);
      if (this.#mark !== 0) this.#applyMark(this.#mark);
      this.#routes = addon.routeWatch(this.#onRouteChange);
      this.#startReading();
    } catch (err) {
      this.#shutdown();
      throw err;
    }
    return bound;
  }

  async close(): Promise<void> {
    this.#shutdown();
  }

  setReceiver(receive: ReceiveFn): void {
    this.#receiver = receive;
  }

  /** The UDP offloads in use on the open sockets (all false while closed). */
  get offloads(): UdpOffloadState {
    const state = { gso: false, gro: false, gsoMessages: 0, groMessages: 0 };
    const addon = this.#addon;
    if (addon === null) return state;
    for (const h of [this.#v4, this.#v6]) {
      if (h === null) continue;
      const [gso, gro, sent, received] = addon.udpOffload(h, this.#offload, this.#offload);
      state.gso ||= gso;
      state.gro ||= gro;
      state.gsoMessages += sent;
      state.groMessages += received;
    }
    return state;
  }

  send(batch: PacketBatch): void {
    const count = Math.min(batch.count, batch.capacity);
    if (count === 0) return;
    if (this.#txAddrs.length < count * ADDR_RECORD_SIZE) {
      this.#txAddrs = new Uint8Array(count * ADDR_RECORD_SIZE);
    }
    const addrs = this.#txAddrs;
    const lengths = batch.lengths;
    const endpoints = batch.endpoints;
    let n4 = 0;
    let n6 = 0;
    let unsendable = 0;
    let sticky = 0;
    const epoch = this.#epoch;
    for (let i = 0; i < count; i++) {
      const at = i * ADDR_RECORD_SIZE;
      if (lengths[i] === 0) {
        addrs[at] = 0;
        continue;
      }
      const ep = endpoints[i] ?? null;
      const record = this.#recordOf(ep);
      if (record === null) {
        addrs[at] = 0;
        unsendable++;
        continue;
      }
      addrs.set(record, at);
      if (record[REC_SRC_FAMILY] !== 0) {
        // a source not seen working since the last address or route change is left out
        if ((ep as UdpEndpoint).sourceEpoch === epoch) sticky++;
        else addrs[at + REC_SRC_FAMILY] = 0;
      }
      if (record[0] === 4) n4++;
      else n6++;
    }
    const addon = this.#addon;
    let sent = 0;
    if (addon !== null) {
      if (n4 > 0 && this.#v4 !== null) {
        sent += addon.udpSend(this.#v4, batch.data, batch.offsets, lengths, addrs, count);
      }
      if (n6 > 0 && this.#v6 !== null) {
        sent += addon.udpSend(this.#v6, batch.data, batch.offsets, lengths, addrs, count);
      }
    }
    this.stats.txPackets += sent;
    this.stats.txErrors += n4 + n6 + unsendable - sent;
    if (sticky > 0) {
      // the addon flags each datagram whose source the kernel refused: forget that source
      for (let i = 0; i < count; i++) {
        if (addrs[i * ADDR_RECORD_SIZE + REC_FLAG] === 0) continue;
        const ep = endpoints[i];
        if (ep instanceof UdpEndpoint) ep.sourceEpoch = 0;
        this.stats.sourcesRefused++;
      }
    }
  }

  /**
   * Grows the receive slots to hold datagrams of `bytes` (at most 65536), as a larger TUN MTU
   * needs (`mtu + 32`: header and tag). Never shrinks them.
   */
  setMaxDatagramSize(bytes: number): void {
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > MAX_SLOT_SIZE) {
      throw new RangeError(`Invalid datagram size '${String(bytes)}': expected 1..65536`);
    }
    if (bytes <= this.#rx.slotSize) return;
    this.#slotSize = Math.min(MAX_SLOT_SIZE, (bytes + 15) & ~15);
    this.#renewReceive();
  }

  /** Sets SO_MARK on both sockets now and on every later open (0 = none). Needs CAP_NET_ADMIN. */
  setMark(mark: number): void {
    if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff) {
      throw new RangeError(`Invalid fwmark '${String(mark)}': expected an integer in 0..2^32-1`);
    }
    if (this.#v4 !== null || this.#v6 !== null) this.#applyMark(mark);
    this.#mark = mark;
  }

  /** SO_MARK as the kernel has it on the sockets (the configured value while closed). */
  getMark(): number {
    const socket = this.#v4 ?? this.#v6;
    if (socket === null || this.#addon === null) return this.#mark;
    return this.#addon.sockGetMark(socket);
  }

  /** SO_RCVBUF and SO_SNDBUF as the kernel reports them (twice the value set); null if closed. */
  socketBuffers(): { receive: number; send: number } | null {
    const socket = this.#v4 ?? this.#v6;
    if (socket === null || this.#addon === null) return null;
    const [receive, send] = this.#addon.sockGetBufs(socket);
    return { receive, send };
  }

  /** As {@link parseUdpEndpoint}, but returns the endpoint already known for that address. */
  parseEndpoint(text: string): Endpoint {
    const { record } = parseUdpEndpoint(text);
    return this.#table.lookup(record, new Uint32Array(record.buffer, record.byteOffset, WORDS), 0)!;
  }

  #applyMark(mark: number): void {
    const addon = this.#addon!;
    if (this.#v4 !== null) addon.sockSetMark(this.#v4, mark);
    if (this.#v6 !== null) addon.sockSetMark(this.#v6, mark);
  }

  #recordOf(ep: Endpoint | null): Uint8Array | null {
    if (ep === null) return null;
    if (ep instanceof UdpEndpoint) return ep.record;
    let own = this.#foreign.get(ep.key);
    if (own === undefined) {
      try {
        own = parseUdpEndpoint(ep.key);
      } catch {
        own = null;
      }
      if (this.#foreign.size >= 1024) this.#foreign.clear();
      this.#foreign.set(ep.key, own);
    }
    return own === null ? null : own.record;
  }

  #startReading(): void {
    const addon = this.#addon!;
    const b = this.#rx;
    for (const socket of [this.#v4, this.#v6]) {
      if (socket === null) continue;
      addon.ioStart(
        socket,
        this.#onBatch,
        b.data,
        b.slotSize,
        0,
        0,
        b.capacity,
        b.offsets,
        b.lengths,
        this.#rxAddrs
      );
    }
  }

  readonly #onBatch = (count: number, dropped: number, fatal: number): void => {
    const stats = this.stats;
    stats.rxDropped += dropped;
    if (count > 0) {
      const batch = this.#rx;
      const bytes = this.#rxAddrs;
      const words = this.#rxWords;
      const table = this.#table;
      const epoch = this.#epoch;
      let received = 0;
      let truncated = 0;
      for (let i = 0; i < count; i++) {
        if (batch.lengths[i] === 0) {
          batch.endpoints[i] = null;
          truncated++;
        } else {
          const ep = table.lookup(bytes, words, i);
          // the local address took this datagram: it exists, replies may leave from it
          if (ep !== null) ep.sourceEpoch = epoch;
          batch.endpoints[i] = ep;
          received++;
        }
      }
      batch.count = count;
      stats.rxPackets += received;
      stats.rxBatches++;
      const receive = this.#receiver;
      if (receive === null) {
        stats.rxDropped += received;
      } else {
        // The addon calls this from a uv_poll callback: an exception escaping here would be
        // raised by napi_fatal_exception and end the process. A receiver must not throw (the
        // packet path drops and counts), so this is a backstop, counted.
        try {
          receive(batch);
        } catch {
          stats.rxReceiverErrors++;
        }
      }
      if (truncated > 0 && this.#slotSize < MAX_SLOT_SIZE) {
        // a datagram larger than a slot (an MTU raised on the other side): make room for any
        this.#slotSize = MAX_SLOT_SIZE;
        this.#renewReceive();
        return;
      }
    }
    if (fatal === EFAULT) this.#renewReceive(); // a buffer was detached (transferred away)
  };

  readonly #onRouteChange = (): void => {
    this.#epoch++;
    this.stats.sourceResets++;
  };

  /** Receives into fresh buffers of the current slot size from now on. */
  #renewReceive(): void {
    this.#rx = new PacketBatch(this.#batchSize, this.#slotSize);
    this.#rxAddrs = new Uint8Array(this.#batchSize * ADDR_RECORD_SIZE);
    this.#rxWords = new Uint32Array(this.#rxAddrs.buffer);
    if (this.#v4 !== null || this.#v6 !== null) this.#startReading();
  }

  #shutdown(): void {
    const addon = this.#addon;
    if (addon !== null) {
      if (this.#v4 !== null) addon.ioClose(this.#v4);
      if (this.#v6 !== null) addon.ioClose(this.#v6);
      if (this.#routes !== null) addon.ioClose(this.#routes);
    }
    this.#routes = null;
    this.#v4 = null;
    this.#v6 = null;
    this.#port = 0;
  }
}
