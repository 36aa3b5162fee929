// SPDX-License-Identifier: MIT
/**
 * States shared by the unit tests: a small VPS with two subnets, and helpers to vary it.
 * Addresses are documentation ranges and the tunnel's 10.59.0.0/16.
 * @module
 */

import type { ForwardState, NatState } from '../src/index.ts';

/** A VPS with one WAN, two subnets and no forwards. */
export const BASE: NatState = {
  wan: { interfaces: ['eth0'], address: '203.0.113.1' },
  wireguard: { interface: 'wg-start-tunnel', listenPort: 51820 },
  subnets: [{ cidr: '10.59.1.1/24' }, { cidr: '10.59.2.1/24' }],
  forwards: [],
};

/** `BASE` with these forwards. */
export function withForwards(...forwards: ForwardState[]): NatState {
  return { ...BASE, forwards };
}

/** A deep copy of `state` with `value` set at `path` (dots and `[n]`), for bad-input tests. */
export function setAt(state: NatState, path: string, value: unknown): NatState {
  const copy = JSON.parse(JSON.stringify(state)) as Record<string, unknown>;
  const keys = path.replace(/\[(\d+)\]/g, '.$1').split('.');
  let node: Record<string, unknown> = copy;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  const last = keys[keys.length - 1] as string;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy as unknown as NatState;
}
