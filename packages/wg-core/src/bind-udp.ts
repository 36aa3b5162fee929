// SPDX-License-Identifier: MIT
/**
 * The UDP bind on Linux (wireguard-go `conn/bind_std.go`, kernel `socket.c`): an IPv4 and an
 * IPv6-only socket on one port made by the native addon (`native/udp.c`), drained with
 * recvmmsg a batch per event-loop turn and written with sendmmsg to per-packet destinations
 * (`native/io.c`), with large buffers and SO_MARK. Sockets are unconnected, so ICMP errors
 * never surface as events; whatever a send or receive reports is counted and skipped.
 *
 * Source addresses cross from C as 20-byte records (family, 0, port big-endian, 16 address
 * bytes). A bounded open-addressing table maps a record to its {@link UdpEndpoint}, so steady
 * traffic from known peers creates no objects on the receive path; the send path copies each
 * endpoint's record into one preallocated array.
 * @module
 */

import { isIPv4, isIPv6 } from 'node:net';
import { IDEAL_BATCH_SIZE, PacketBatch } from './batch.ts';
import type { Bind, Endpoint, ReceiveFn } from './bind.ts';
import { formatEndpoint } from './bind.ts';
import { formatIPv4, formatIPv6, parseIPv4Into, parseIPv6Into } from './ip.ts';
import type { IoHandle, NativeAddon } from './native.ts';
import { ADDR_RECORD_SIZE, loadNative } from './native.ts';

export interface UdpBindOptions {
  /** Datagrams drained per receive batch (1..1024); default `IDEAL_BATCH_SIZE`. */
  batchSize?: number;
  /** Bytes per receive slot, the largest datagram accepted; default 4096. */
  slotSize?: number;
  /** SO_RCVBUF/SO_SNDBUF in bytes (forced past the sysctl limit as root); default 7 MiB. */
  socketBuffer?: number;
  /** Source addresses remembered as Endpoint objects (a power of two); default 1024. */
  endpointCacheSize?: number;
}

/** Counters of the bind; they only grow. */
export interface BindStats {
  rxPackets: number;
  rxBatches: number;
  /** Datagrams lost on receive: larger than a slot, socket errors, no receiver set. */
  rxDropped: number;
  txPackets: number;
  /** Datagrams not sent: no or foreign endpoint, family not open, unreachable, buffer full. */
  txErrors: number;
}

/** An endpoint of this bind: carries the address record the addon sends to. */
export class UdpEndpoint implements Endpoint {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
  readonly key: string;
  /** Family, 0, port (big-endian), 16 address bytes: the layout of `native/wgcore.h`. */
  readonly record: Uint8Array;

  constructor(record: Uint8Array) {
    if (record.length !== ADDR_RECORD_SIZE || (record[0] !== 4 && record[0] !== 6)) {
      throw new TypeError('Invalid address record: expected 20 bytes starting with 4 or 6');
    }
    this.record = record;
    this.family = record[0];
    this.port = (record[2]! << 8) | record[3]!;
    this.address = this.family === 4 ? formatIPv4(record, 4) : formatIPv6(record, 4);
    this.key = formatEndpoint(this.address, this.port, this.family);
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
    this.#keys = new Uint32Array(size * 5);
    this.#entries = new Array<UdpEndpoint | null>(size).fill(null);
  }

  /** The endpoint for record `i` of `bytes` (viewed as `words`); null for family 0. */
  lookup(bytes: Uint8Array, words: Uint32Array, i: number): UdpEndpoint | null {
    if (bytes[i * ADDR_RECORD_SIZE] === 0) return null;
    const w = i * 5;
    const w0 = words[w]!;
    const w1 = words[w + 1]!;
    const w2 = words[w + 2]!;
    const w3 = words[w + 3]!;
    const w4 = words[w + 4]!;
    let h = this.#seed;
    h = Math.imul(h ^ w0, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ w1, 0x85ebca77);
    h = Math.imul(h ^ (h >>> 13) ^ w2, 0xc2b2ae3d);
    h = Math.imul(h ^ (h >>> 16) ^ w3, 0x27d4eb2f);
    h = Math.imul(h ^ (h >>> 15) ^ w4, 0x165667b1);
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
      const k = slot * 5;
      if (
        keys[k] === w0 &&
        keys[k + 1] === w1 &&
        keys[k + 2] === w2 &&
        keys[k + 3] === w3 &&
        keys[k + 4] === w4
      ) {
        return ep;
      }
    }
    const slot = free >= 0 ? free : h & this.#mask;
    const off = i * ADDR_RECORD_SIZE;
    const ep = new UdpEndpoint(bytes.slice(off, off + ADDR_RECORD_SIZE));
    this.#keys.set(words.subarray(w, w + 5), slot * 5);
    this.#entries[slot] = ep;
    return ep;
  }
}

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
    txPackets: 0,
    txErrors: 0,
  };
  readonly #batchSize: number;
  readonly #slotSize: number;
  readonly #socketBuffer: number;
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

  constructor(opts: UdpBindOptions = {}) {
    const batchSize = opts.batchSize ?? IDEAL_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1024) {
      throw new RangeError(`Invalid batch size '${batchSize}': expected an integer in 1..1024`);
    }
    const slotSize = opts.slotSize ?? DEFAULT_SLOT_SIZE;
    if (!Number.isInteger(slotSize) || slotSize < 64 || slotSize > 65536) {
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
      if (this.#mark !== 0) this.#applyMark(this.#mark);
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
    for (let i = 0; i < count; i++) {
      const at = i * ADDR_RECORD_SIZE;
      if (lengths[i] === 0) {
        addrs[at] = 0;
        continue;
      }
      const record = this.#recordOf(endpoints[i] ?? null);
      if (record === null) {
        addrs[at] = 0;
        unsendable++;
        continue;
      }
      addrs.set(record, at);
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
    return this.#table.lookup(record, new Uint32Array(record.buffer, record.byteOffset, 5), 0)!;
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
      let received = 0;
      for (let i = 0; i < count; i++) {
        if (batch.lengths[i] === 0) {
          batch.endpoints[i] = null;
        } else {
          batch.endpoints[i] = table.lookup(bytes, words, i);
          received++;
        }
      }
      batch.count = count;
      stats.rxPackets += received;
      stats.rxBatches++;
      const receive = this.#receiver;
      if (receive !== null) receive(batch);
      else stats.rxDropped += received;
    }
    if (fatal === EFAULT && (this.#v4 !== null || this.#v6 !== null)) {
      // A buffer was detached (transferred away): receive into fresh ones.
      this.#rx = new PacketBatch(this.#batchSize, this.#slotSize);
      this.#rxAddrs = new Uint8Array(this.#batchSize * ADDR_RECORD_SIZE);
      this.#rxWords = new Uint32Array(this.#rxAddrs.buffer);
      this.#startReading();
    }
  };

  #shutdown(): void {
    const addon = this.#addon;
    if (addon !== null) {
      if (this.#v4 !== null) addon.ioClose(this.#v4);
      if (this.#v6 !== null) addon.ioClose(this.#v6);
    }
    this.#v4 = null;
    this.#v6 = null;
    this.#port = 0;
  }
}
