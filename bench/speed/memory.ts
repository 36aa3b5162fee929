// SPDX-License-Identifier: MIT
/**
 * Ad-hoc in-memory data-path bench for the speed work (bench/README.md, "Speed work, step by
 * step"): device A encrypts a batch of 128 × 1420-byte IPv4 packets handed (no copy, no socket)
 * to device B, which decrypts it into a null TUN; per crypto backend, inline, rounds alternated,
 * median pkt/s and CPU µs per packet (both directions on one core).
 *   node --conditions=source --import tsx bench/speed/memory.ts [rounds] [ms]
 * @module
 */

import { loadavg } from 'node:os';
import {
  type Bind,
  type Crypto,
  Device,
  type Endpoint,
  nativeCrypto,
  nativeCryptoAvailable,
  nodeCrypto,
  PacketBatch,
  parsePrefix,
  TUN_HEADROOM,
  type TunDevice,
} from '@start-tunnel/wg-core';

class DirectBind implements Bind {
  readonly self: Endpoint = { family: 4, address: '192.0.2.1', port: 1, key: '192.0.2.1:1' };
  other: () => Device | null;
  constructor(other: () => Device | null) {
    this.other = other;
  }
  async open(): Promise<number> {
    return 1;
  }
  async close(): Promise<void> {}
  setReceiver(): void {}
  send(batch: PacketBatch): void {
    for (let i = 0; i < batch.count; i++) batch.endpoints[i] = this.self;
    this.other()?.receivePackets(batch);
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

async function pair(c: Crypto) {
  const tunB = new NullTun();
  let b!: Device;
  const bindA = new DirectBind(() => b);
  const bindB = new DirectBind(() => a);
  const a = new Device({ crypto: c, tun: new NullTun(), bind: bindA });
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
  a.sendPackets(batch);
  await new Promise((r) => setTimeout(r, 50));
  tunB.packets = 0;
  return { a, b, tunB, fill, batch };
}

const rounds = Number(process.argv[2] ?? 5);
const ms = Number(process.argv[3] ?? 1500);
const backends = nativeCryptoAvailable() ? [nodeCrypto, nativeCrypto] : [nodeCrypto];
const results = new Map<string, { pps: number[]; cpu: number[] }>();
for (let r = 0; r < rounds; r++) {
  for (const c of r % 2 === 0 ? backends : [...backends].reverse()) {
    const { a, b, tunB, fill, batch } = await pair(c);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      fill();
      a.sendPackets(batch);
    }
    const secs = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const pps = tunB.packets / secs;
    const res = results.get(c.name) ?? { pps: [], cpu: [] };
    results.set(c.name, res);
    res.pps.push(pps);
    res.cpu.push((cpu.user + cpu.system) / tunB.packets);
    await a.close();
    await b.close();
  }
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
console.log(
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`
);
for (const [name, res] of results) {
  const pps = median(res.pps);
  console.log(
    `${name.padEnd(8)} encrypt + decrypt 1420 B: ${(pps / 1e3).toFixed(1)}k pkt/s ` +
      `(${((pps * 1420 * 8) / 1e6).toFixed(0)} Mbit/s), ${median(res.cpu).toFixed(2)} µs CPU/pkt; ` +
      `runs ${res.pps.map((p) => (p / 1e3).toFixed(0)).join('/')}k`
  );
}
