// SPDX-License-Identifier: MIT
/**
 * Benchmarks of the protocol core (no TUN, no sockets): AEAD per crypto backend, handshakes per
 * second, allowed-IPs lookups, and the in-memory data path (encrypt a batch on one device,
 * decrypt it on another). Every backend is cross-checked for identical output before timing.
 * Run: `npm run bench`. Results go to bench/README.md by hand, with the machine and date.
 * @module
 */

import assert from 'node:assert/strict';
import {
  AllowedIPs,
  type Bind,
  type Crypto,
  Device,
  type Endpoint,
  nobleCrypto,
  nodeCrypto,
  PacketBatch,
  parsePrefix,
  TUN_HEADROOM,
  type TunDevice,
} from '@start-tunnel/wg-core';
import { bench, section } from './_harness.ts';

/** A bind that hands each sent batch straight to the other device (no copies, no sockets). */
class DirectBind implements Bind {
  readonly self: Endpoint = { family: 4, address: '192.0.2.1', port: 1, key: '192.0.2.1:1' };
  readonly #other: () => Device;
  constructor(other: () => Device) {
    this.#other = other;
  }
  async open(): Promise<number> {
    return 1;
  }
  async close(): Promise<void> {}
  setReceiver(): void {}
  send(batch: PacketBatch): void {
    for (let i = 0; i < batch.count; i++) batch.endpoints[i] = this.self;
    this.#other().receivePackets(batch);
  }
  setMark(): void {}
  parseEndpoint(): Endpoint {
    return this.self;
  }
}

class NullTun implements TunDevice {
  readonly name = 'null0';
  packets = 0;
  mtu(): number {
    return 1420;
  }
  setReceiver(): void {}
  setEventHandler(): void {}
  write(batch: PacketBatch): void {
    for (let i = 0; i < batch.count; i++) if (batch.lengths[i]! > 0) this.packets++;
  }
  async close(): Promise<void> {}
}

const backends: Crypto[] = [nodeCrypto, nobleCrypto];

section('AEAD seal (ChaCha20-Poly1305), one packet per call');
{
  const key = new Uint8Array(32).fill(7);
  const nonce = new Uint8Array(12);
  for (const size of [64, 1420]) {
    const pt = new Uint8Array(size).fill(1);
    const outs = backends.map((c) => {
      const out = new Uint8Array(size + 16);
      c.aeadSeal(out, key, nonce, pt, null);
      return Buffer.from(out).toString('hex');
    });
    assert.equal(new Set(outs).size, 1, 'backends disagree');
    for (const c of backends) {
      const out = new Uint8Array(size + 16);
      bench(`seal ${size} B (${c.name})`, () => c.aeadSeal(out, key, nonce, pt, null), 1, size);
    }
  }
}

section('Handshake: initiation + response + both sessions');
for (const c of backends) {
  const a = new Device({ crypto: c });
  const b = new Device({ crypto: c });
  a.setPrivateKey(c.generatePrivateKey().privateKey);
  b.setPrivateKey(c.generatePrivateKey().privateKey);
  const pb = a.addPeer(b.publicKey!)!;
  b.addPeer(a.publicKey!);
  const noise = await import('../../packages/wg-core/src/noise.ts');
  const init = new Uint8Array(148);
  const resp = new Uint8Array(92);
  let t = 0;
  bench(
    `handshake (${c.name})`,
    () => {
      // a fresh timestamp each round: the responder refuses replays
      (a.clock as { wallNow: () => number }).wallNow = () => 1_800_000_000_000 + ++t * 1000;
      noise.createMessageInitiation(a, pb, init);
      const p = noise.consumeMessageInitiation(b, init);
      if (!p) throw new Error('initiation refused');
      p.handshake.lastInitiationConsumed = Number.NEGATIVE_INFINITY;
      noise.createMessageResponse(b, p, resp);
      const q = noise.consumeMessageResponse(a, resp);
      if (!q) throw new Error('response refused');
      a.retire([noise.beginSymmetricSession(a, q)?.keypair ?? null]);
      b.retire([noise.beginSymmetricSession(b, p)?.keypair ?? null]);
    },
    1,
    0,
    c === nobleCrypto ? 1000 : 1500
  );
}

section('Allowed IPs: longest-prefix lookups, 1,000 peers × 4 prefixes');
{
  const table = new AllowedIPs<number>();
  for (let p = 0; p < 1000; p++) {
    for (const cidr of [32, 24, 16]) {
      table.insert(4, Uint8Array.of(10, (p >> 8) & 0xff, p & 0xff, 1), cidr, p);
    }
    table.insert(6, parsePrefix(`fd59::${p.toString(16)}:0/112`).ip, 112, p);
  }
  // addresses inside the table's space (10.x.y.z), so lookups walk deep into the trie
  const addrs = Uint8Array.from({ length: 4096 }, (_, i) =>
    i % 4 === 0 ? 10 : (i * 2654435761) & 0xff
  );
  let i = 0;
  bench('lookup IPv4', () => {
    table.lookup(4, addrs, i);
    i = (i + 4) & 4091;
  });
}

section('Data path in memory: batches of 128 × 1420 B, A encrypts, B decrypts');
for (const c of backends) {
  const tunA = new NullTun();
  const tunB = new NullTun();
  let b!: Device;
  const bindA = new DirectBind(() => b);
  const bindB = new DirectBind(() => a);
  const a = new Device({ crypto: c, tun: tunA, bind: bindA });
  b = new Device({ crypto: c, tun: tunB, bind: bindB });
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
  tunB.packets = 0;
  bench(
    `encrypt + decrypt 1420 B (${c.name})`,
    () => {
      fill();
      a.sendPackets(batch);
    },
    128,
    1420,
    c === nobleCrypto ? 1000 : 2000
  );
  assert.ok(tunB.packets > 0, 'nothing arrived');
  await a.close();
  await b.close();
}
