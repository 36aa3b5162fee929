// SPDX-License-Identifier: MIT
/**
 * Helper process of `crypto-pool.test.ts`: two in-memory devices with 2 crypto workers each
 * exchange 300 packets and are closed, while a third device with a worker stays open and idle.
 * It prints `delivered N of 300` and then returns: the process must exit by itself (closed
 * pools leave no thread, idle ones do not hold the event loop).
 *   node --conditions=source --import tsx crypto-pool.helper.ts
 * @module
 */

import { Lab } from './_harness.ts';
import { ip } from './_packets.ts';

const lab = new Lab();
const a = await lab.node('192.0.2.1', 51820, { workers: 2 });
const b = await lab.node('198.51.100.2', 51821, { workers: 2 });
await lab.node('203.0.113.3', 51822, { workers: 1 }); // never closed
lab.connect(a, b, ['10.59.0.2/32']);
lab.connect(b, a, ['10.59.0.1/32']);
a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
for (let round = 0; round < 100 && b.tun.written.length === 0; round++) {
  lab.settle();
  await a.device.flush();
  await b.device.flush();
}
b.tun.drain();
a.tun.inject(...Array.from({ length: 300 }, (_, k) => ip('10.59.0.1', '10.59.0.2', k + 4)));
for (let round = 0; round < 100 && b.tun.written.length < 300; round++) {
  lab.settle();
  await a.device.flush();
  await b.device.flush();
}
process.stdout.write(`delivered ${b.tun.written.length} of 300\n`);
await a.device.close();
await b.device.close();
