// SPDX-License-Identifier: MIT
/**
 * IPv6 addressing of subnets, StartTunnel's scheme: a subnet holds a routed prefix and every host
 * in it (the server's `.1` and each device) gets one address, the prefix's network bits OR'd with
 * its IPv4 address — 10.59.7.2 in 2001:db8:7::/64 is 2001:db8:7::a3b:702. Stable, derivable by
 * anyone, no allocation state (StartTunnel 1.5's per-subnet IPv6,
 * https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel). A
 * prefix longer than /96 keeps only the IPv4's low bits, so two hosts can collide; the model
 * refuses that. Pure functions of the state; no I/O.
 * @module
 */

import { ipv6PrefixContains, ipv6WithIPv4, parseIPv6Prefix } from '@start-tunnel/protocol';
import { parseCidr } from './ipv4.ts';
import type { State } from './schema.ts';

export interface Prefix6 {
  /** 16 bytes, host bits zero. */
  readonly bytes: Uint8Array;
  readonly length: number;
  /** Canonical text, `2001:db8:7::/64`. */
  readonly text: string;
}

/** `ADDR/LEN` (host bits dropped) to its network form; null when it is not one. */
export function parsePrefix6(text: string): Prefix6 | null {
  const p = parseIPv6Prefix(text.trim());
  return p ? { bytes: p.bytes, length: p.length, text: `${p.network}/${p.length}` } : null;
}

/** True when one prefix contains the other. */
export function prefixes6Overlap(a: Prefix6, b: Prefix6): boolean {
  const [wide, narrow] = a.length <= b.length ? [a, b] : [b, a];
  return ipv6PrefixContains(wide, narrow.text.split('/')[0] ?? '');
}

/** The address of the host with IPv4 `ipv4` in `p`: prefix bits, then the IPv4's low bits. */
export function hostAddress6(p: Prefix6, ipv4: number): string {
  return ipv6WithIPv4(p, ipv4);
}

/** One host of a subnet with IPv6: the server's gateway (ip null) or a device. */
export interface Host6 {
  subnet: string;
  /** The device's IPv4, or null for the server's own address in the subnet. */
  ip: string | null;
  address: string;
}

/** Every IPv6 host of `state`, subnet by subnet (gateway first). */
export function hosts6(state: State): Host6[] {
  const out: Host6[] = [];
  for (const [subnet, rec] of Object.entries(state.subnets)) {
    if (rec.ipv6 === null) continue;
    const p = parsePrefix6(rec.ipv6);
    const c = parseCidr(subnet);
    if (!p || !c) continue;
    out.push({ subnet, ip: null, address: hostAddress6(p, c.address) });
    for (const ip of Object.keys(rec.devices)) {
      const v4 = parseCidr(`${ip}/32`);
      if (v4) out.push({ subnet, ip, address: hostAddress6(p, v4.address) });
    }
  }
  return out;
}

/** A device's IPv6 address, or null when its subnet has no prefix. */
export function deviceIpv6(state: State, subnet: string, ip: string): string | null {
  return hosts6(state).find((h) => h.subnet === subnet && h.ip === ip)?.address ?? null;
}

/** The server's IPv6 address in a subnet, or null. */
export function gatewayIpv6(state: State, subnet: string): string | null {
  return hosts6(state).find((h) => h.subnet === subnet && h.ip === null)?.address ?? null;
}

/** The pinhole key `[GUA]:PORT`. */
export function pinholeKey(gua: string, port: number): string {
  return `[${gua}]:${port}`;
}

/** `[GUA]:PORT` back to its parts (keys are written by `pinholeKey`). */
export function parsePinholeKey(key: string): { gua: string; port: number } | null {
  const m = /^\[([0-9a-f:.]+)\]:(\d{1,5})$/.exec(key);
  return m ? { gua: m[1]!, port: Number(m[2]) } : null;
}

/** Drops pinholes whose address is no longer a device's (device, subnet or prefix gone). */
export function collectPinholes(state: State): State {
  const devices = new Set(
    hosts6(state)
      .filter((h) => h.ip !== null)
      .map((h) => h.address)
  );
  let changed = false;
  const pinholes: State['pinholes'] = {};
  for (const [key, p] of Object.entries(state.pinholes)) {
    const k = parsePinholeKey(key);
    if (k && devices.has(k.gua)) pinholes[key] = p;
    else changed = true;
  }
  return changed ? { ...state, pinholes } : state;
}
