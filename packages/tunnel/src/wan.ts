// SPDX-License-Identifier: MIT
/**
 * The WAN side of the VPS: which interfaces face the internet and which public IPv4 address
 * configs and forwards use. The address is the first IPv4 on a non-tunnel interface outside
 * private, loopback, link-local and CGNAT ranges; on a 1:1-NAT cloud (AWS, GCP, Oracle) no
 * interface holds the public address, so the user sets it (`wan set`), which the original could
 * not: it takes the first public address on an interface
 * (https://github.com/Start9Labs/start-os/blob/727e4d48ad682cb4bcfc5fd81a5b9e9a76ff980a/shared-libs/crates/start-core/src/tunnel/forward/igd.rs#L350-L373),
 * https://github.com/Start9Labs/start-os/issues/3565.
 * @module
 */

import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { ipv6PrefixContains, parseIPv6Prefix, type WanInfo } from '@start-tunnel/protocol';
import { isPublicIPv4, parseIPv4 } from './ipv4.ts';

export interface InterfaceAddress {
  name: string;
  family: 'IPv4' | 'IPv6';
  address: string;
  internal: boolean;
  /** `address/prefix` when known (what Node's `os.networkInterfaces()` gives). */
  cidr?: string | null | undefined;
}

/** A snapshot of the host's addresses (injected for tests). */
export type AddressSource = () => InterfaceAddress[];

export const systemAddresses: AddressSource = () => {
  const out: InterfaceAddress[] = [];
  for (const [name, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) {
      out.push({ name, family: a.family, address: a.address, internal: a.internal, cidr: a.cidr });
    }
  }
  return out;
};

/** Interfaces that are not loopback nor the tunnel, in the order the system lists them. */
export function wanInterfaces(addrs: InterfaceAddress[], tunnelInterface: string): string[] {
  const names: string[] = [];
  for (const a of addrs) {
    if (a.internal || a.name === tunnelInterface || a.name === 'lo') continue;
    if (!names.includes(a.name)) names.push(a.name);
  }
  return names;
}

/** The first public IPv4 on a WAN interface, or null. */
export function detectWanAddress(
  addrs: InterfaceAddress[],
  tunnelInterface: string
): string | null {
  for (const a of addrs) {
    if (a.family !== 'IPv4' || a.internal || a.name === tunnelInterface) continue;
    const n = parseIPv4(a.address);
    if (n !== null && isPublicIPv4(n)) return a.address;
  }
  return null;
}

/** The WAN picture: override first, then detection. */
export function wanInfo(
  addrs: InterfaceAddress[],
  tunnelInterface: string,
  override: string | null
): WanInfo {
  const detected = detectWanAddress(addrs, tunnelInterface);
  const address = override ?? detected;
  return {
    address,
    source: override !== null ? 'override' : detected !== null ? 'detected' : 'none',
    override,
    detected,
    interfaces: wanInterfaces(addrs, tunnelInterface),
  };
}

/** Global IPv6 prefixes on-link on WAN interfaces (the NDP proxy serves addresses inside them). */
export function onLinkPrefixes(
  addrs: InterfaceAddress[],
  tunnelInterface: string
): { dev: string; prefix: string; contains(address: string): boolean }[] {
  const out: { dev: string; prefix: string; contains(address: string): boolean }[] = [];
  for (const a of addrs) {
    if (a.family !== 'IPv6' || a.internal || a.name === tunnelInterface || !a.cidr) continue;
    const p = parseIPv6Prefix(a.cidr);
    if (!p || p.length === 128 || (p.bytes[0]! & 0xe0) !== 0x20) continue; // global unicast only
    out.push({
      dev: a.name,
      prefix: `${p.network}/${p.length}`,
      contains: (address) => ipv6PrefixContains(p, address),
    });
  }
  return out;
}

/**
 * True when the host has an IPv6 default route that is not a reject route, from
 * `/proc/net/ipv6_route` (destination, length, …, flags, device: see
 * https://www.kernel.org/doc/html/latest/networking/proc_net_tcp.html's sibling format in
 * net/ipv6/route.c `rt6_info_seq_show`); RTF_REJECT is 0x0200.
 */
export function systemIpv6DefaultRoute(path = '/proc/net/ipv6_route'): boolean {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return false;
  }
  return text.split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[0] !== '0'.repeat(32) || f[1] !== '00') return false;
    return (Number.parseInt(f[8] ?? '0', 16) & 0x0200) === 0 && f[9] !== 'lo';
  });
}
