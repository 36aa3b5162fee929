// SPDX-License-Identifier: MIT
/**
 * An in-memory UDP network for tests (wireguard-go `conn/bindtest`): binds attach to a
 * `MemoryNetwork` at an address; datagrams queue in the network until `deliver()` runs, so
 * nothing recurses and a test decides when packets arrive. A tap sees (and may drop or
 * rewrite) every datagram, to record, replay, forge or roam.
 * @module
 */

import { IDEAL_BATCH_SIZE, PacketBatch } from './batch.ts';
import type { Bind, Endpoint, ReceiveFn } from './bind.ts';
import { formatEndpoint } from './bind.ts';

export interface Datagram {
  from: Endpoint;
  to: Endpoint;
  data: Uint8Array;
}

/** Returns false to drop the datagram. */
export type Tap = (datagram: Datagram) => boolean;

export class MemoryNetwork {
  readonly #endpoints = new Map<string, Endpoint>();
  readonly #binds = new Map<string, MemoryBind>();
  readonly #queue: Datagram[] = [];
  #nextPort = 40_000;
  tap: Tap | null = null;
  /** Datagrams that found no bind at their destination. */
  undeliverable = 0;

  /** The one Endpoint object for an address and port. */
  endpoint(address: string, port: number): Endpoint {
    const family = address.includes(':') ? 6 : 4;
    const key = formatEndpoint(address, port, family);
    let ep = this.#endpoints.get(key);
    if (!ep) {
      ep = { family, address, port, key };
      this.#endpoints.set(key, ep);
    }
    return ep;
  }

  /** @internal */
  attach(bind: MemoryBind, address: string, port: number): number {
    let p = port;
    if (p === 0) {
      do p = this.#nextPort++;
      while (this.#binds.has(this.endpoint(address, p).key));
    }
    const key = this.endpoint(address, p).key;
    if (this.#binds.has(key)) {
      const err = new Error(`Cannot bind ${key}: address in use`) as Error & { code: string };
      err.code = 'EADDRINUSE';
      throw err;
    }
    this.#binds.set(key, bind);
    return p;
  }

  /** @internal */
  detach(endpoint: Endpoint): void {
    this.#binds.delete(endpoint.key);
  }

  /** Queues a datagram as if `from` sent it (the tap sees it too). */
  inject(from: Endpoint, to: Endpoint, data: Uint8Array): void {
    this.#queue.push({ from, to, data: data.slice() });
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Delivers queued datagrams (and those sent meanwhile), at most `limit`; returns the count. */
  deliver(limit = 100_000): number {
    let n = 0;
    while (this.#queue.length > 0 && n < limit) {
      const datagram = this.#queue.shift()!;
      n++;
      if (this.tap && !this.tap(datagram)) continue;
      const bind = this.#binds.get(datagram.to.key);
      if (!bind) {
        this.undeliverable++;
        continue;
      }
      bind.receive(datagram.from, datagram.data);
    }
    return n;
  }
}

export class MemoryBind implements Bind {
  readonly network: MemoryNetwork;
  readonly address: string;
  #local: Endpoint | null = null;
  #receive: ReceiveFn | null = null;
  readonly #batch = new PacketBatch(IDEAL_BATCH_SIZE, 2048);
  mark = 0;
  sent = 0;

  constructor(network: MemoryNetwork, address: string) {
    this.network = network;
    this.address = address;
  }

  get local(): Endpoint | null {
    return this.#local;
  }

  async open(port: number): Promise<number> {
    if (this.#local) this.network.detach(this.#local);
    const p = this.network.attach(this, this.address, port);
    this.#local = this.network.endpoint(this.address, p);
    return p;
  }

  async close(): Promise<void> {
    if (this.#local) this.network.detach(this.#local);
    this.#local = null;
  }

  setReceiver(receive: ReceiveFn): void {
    this.#receive = receive;
  }

  send(batch: PacketBatch): void {
    const from = this.#local;
    if (!from) return;
    for (let i = 0; i < batch.count; i++) {
      const to = batch.endpoints[i];
      if (batch.lengths[i] === 0 || !to) continue;
      this.network.inject(from, to, batch.packet(i));
      this.sent++;
    }
  }

  setMark(mark: number): void {
    this.mark = mark;
  }

  parseEndpoint(text: string): Endpoint {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(text);
    const port = m ? Number(m[3]) : -1;
    if (!m || port < 1 || port > 65535) {
      throw new TypeError(`Cannot parse endpoint "${text}": expected IP:port or [IPv6]:port`);
    }
    return this.network.endpoint((m[1] ?? m[2])!, port);
  }

  /** @internal one datagram arriving from the network */
  receive(from: Endpoint, data: Uint8Array): void {
    if (!this.#receive) return;
    const batch = this.#batch;
    batch.reset();
    if (!batch.push(data, from)) return;
    this.#receive(batch);
  }
}
