// SPDX-License-Identifier: MIT
/**
 * The in-memory data path the benchmarks share: two devices joined by a bind that hands each
 * sent batch straight to the other (no copies, no sockets), a TUN that only counts, and a session
 * set up with a batch of 128 × 1420-byte IPv4 packets ready for device A.
 * @module
 */

import {
  type Bind,
  type Crypto,
  Device,
  type Endpoint,
  PacketBatch,
  parsePrefix,
  TUN_HEADROOM,
  type TunDevice,
} from '@start-tunnel/wg-core';

/** Called whenever a device hands a batch on (the pool benchmarks wait for that). */
let handoff: (() => void) | null = null;
export function onHandoff(fn: (() => void) | null): void {
  handoff = fn;
}

/** A bind that hands each sent batch straight to the other device (no copies, no sockets). */
export class DirectBind implements Bind {
  readonly self: Endpoint = { family: 4, address: '192.0.2.1', port: 1, key: '192.0.2.1:1' };
  /** Where sent batches go; null counts them only. */
  other: () => Device | null;
  /** Sees each sent batch first (to keep copies). */
  tap: ((batch: PacketBatch) => void) | null = null;
  packets = 0;
  constructor(other: () => Device | null) {
    this.other = other;
  }
  async open(): Promise<number> {
    return 1;
  }
  async close(): Promise<void> {}
  setReceiver(): void {}
  send(batch: PacketBatch): void {
    handoff?.();
    for (let i = 0; i < batch.count; i++) {
      batch.endpoints[i] = this.self;
      if (batch.lengths[i]! > 0) this.packets++;
    }
    this.tap?.(batch);
    this.other()?.receivePackets(batch);
  }
  setMark(): void {}
  parseEndpoint(): Endpoint {
    return this.self;
  }
}

export class NullTun implements TunDevice {
  readonly name = 'null0';
  packets = 0;
  mtu(): number {
    return 1420;
  }
  setReceiver(): void {}
  setEventHandler(): void {}
  write(batch: PacketBatch): void {
    handoff?.();
    for (let i = 0; i < batch.count; i++) if (batch.lengths[i]! > 0) this.packets++;
  }
  async close(): Promise<void> {}
}

/** Devices A and B joined by DirectBinds, with a session, and a batch of 128 × 1420 B for A. */
export async function dataPath(c: Crypto, workersA = 0, workersB = 0) {
  const tunA = new NullTun();
  const tunB = new NullTun();
  let b!: Device;
  const bindA = new DirectBind(() => b);
  const bindB = new DirectBind(() => a);
  const a = new Device({ crypto: c, tun: tunA, bind: bindA, workers: workersA });
  b = new Device({ crypto: c, tun: tunB, bind: bindB, workers: workersB });
  a.setPrivateKey(c.generatePrivateKey().privateKey);
  b.setPrivateKey(c.generatePrivateKey().privateKey);
  const pb = a.addPeer(b.publicKey!)!;
  const pa = b.addPeer(a.publicKey!)!;
  a.addAllowedIP(pb, parsePrefix('10.59.0.2/32'));
  b.addAllowedIP(pa, parsePrefix('10.59.0.1/32'));
  a.setEndpoint(pb, bindA.self);
  b.setEndpoint(pa, bindB.self);
  await a.up();
  await b.up();
  const packet = new Uint8Array(1420);
  packet[0] = 0x45;
  packet[2] = 1420 >> 8;
  packet[3] = 1420 & 0xff;
  packet.set([10, 59, 0, 1, 10, 59, 0, 2], 12);
  const batch = new PacketBatch(128, 2048);
  const fill = () => {
    batch.reset();
    for (let k = 0; k < 128; k++) batch.push(packet, null, TUN_HEADROOM);
  };
  fill();
  a.sendPackets(batch); // first batch: handshake, packets staged and flushed
  await new Promise((r) => setTimeout(r, 50));
  await a.flush();
  await b.flush();
  tunB.packets = 0;
  return { a, b, bindA, tunB, pa, fill, batch };
}
