// SPDX-License-Identifier: MIT
/**
 * Small helpers shared by the wireguard-ts labs that run one scenario against ours and against
 * Debian's wireguard-go side by side (`wg-netns.test.ts`, `wg-sticky.test.ts`), on top of the lab
 * kit in `_lab.ts`: the two kinds, a bounded "until a ping gets through", a ping of a given size,
 * and the endpoint a peer shows for a public key.
 * @module
 */

import type { Lab } from './_lab.ts';
import { waitFor } from './_lab.ts';

export type Kind = 'ours' | 'wireguard-go';
export const KINDS: readonly Kind[] = ['ours', 'wireguard-go'];

/** Pings `addr` from `ns` once a try until one reply comes, for at most `ms`; whether it did. */
export async function pingsWithin(lab: Lab, ns: string, addr: string, ms = 15_000) {
  return waitFor(async () => (await lab.ping(ns, addr, { count: 1, wait: 1 })).received === 1, ms);
}

/** `count` pings of `size` payload bytes (with -M dont: the tunnel MTU decides, not the path). */
export async function pingSized(
  lab: Lab,
  ns: string,
  addr: string,
  size: number,
  count = 3,
  extra: string[] = []
): Promise<number> {
  const r = await lab.exec(
    ns,
    'ping',
    ['-n', '-q', '-c', String(count), '-i', '0.3', '-W', '2', '-s', String(size), ...extra, addr],
    { timeoutMs: (count * 0.3 + 8) * 1000 }
  );
  const m = /(\d+) received/.exec(r.stdout);
  return m ? Number(m[1]) : 0;
}

/** The endpoint `wg show` in `ns` gives for the peer `publicKey` of `ifname` ('(none)' if unset). */
export async function endpointOf(lab: Lab, ns: string, ifname: string, publicKey: string) {
  const dump = await lab.dump(ns, ifname);
  return dump.peers.find((p) => p.publicKey === publicKey)?.endpoint ?? 'missing';
}
