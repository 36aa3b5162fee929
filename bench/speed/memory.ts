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
import { nativeCrypto, nativeCryptoAvailable, nodeCrypto } from '@start-tunnel/wg-core';
import { dataPath } from '../src/data-path.ts';

const rounds = Number(process.argv[2] ?? 5);
const ms = Number(process.argv[3] ?? 1500);
const backends = nativeCryptoAvailable() ? [nodeCrypto, nativeCrypto] : [nodeCrypto];
const results = new Map<string, { pps: number[]; cpu: number[] }>();
for (let r = 0; r < rounds; r++) {
  for (const c of r % 2 === 0 ? backends : [...backends].reverse()) {
    const { a, b, tunB, fill, batch } = await dataPath(c);
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
