// SPDX-License-Identifier: MIT
/**
 * Helper process of `tun-offload.test.ts`: inside the test's first namespace it creates two TUN
 * devices with the offloads on or off (argv), prints `ready` with their offload state, and from
 * then on relays every batch read from one into the other (what the stack hands one interface
 * comes out of the other, after the test has moved that one to the second namespace). On each
 * stdin line it prints the offload counters of both; it exits when stdin closes or after 120 s.
 *   node --conditions=source --import tsx tun-offload.helper.ts <ifA> <ifB> <offload 0|1>
 * @module
 */

import { createInterface } from 'node:readline';
import { LinuxTun } from '../src/tun-linux.ts';

setTimeout(() => process.exit(3), 120_000).unref();
const [ifA = 'stoffa0', ifB = 'stoffb0', on = '1'] = process.argv.slice(2);
const offload = on === '1';
const a = await LinuxTun.create(ifA, { offload, mtu: 1420 });
const b = await LinuxTun.create(ifB, { offload, mtu: 1420 });
a.setReceiver((batch) => b.write(batch));
b.setReceiver((batch) => a.write(batch));
const state = () => ({
  a: a.offloads,
  b: b.offloads,
  txErrors: a.stats.txErrors + b.stats.txErrors,
});
process.stdout.write(`${JSON.stringify({ ev: 'ready', ...state() })}\n`);
const lines = createInterface({ input: process.stdin });
lines.on('line', () => process.stdout.write(`${JSON.stringify({ ev: 'stats', ...state() })}\n`));
lines.on('close', async () => {
  await a.close();
  await b.close();
  process.exit(0);
});
