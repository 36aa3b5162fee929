// SPDX-License-Identifier: MIT
/**
 * IPv4 addresses, prefixes and port ranges as plain numbers: the strict parsers behind the state
 * validation (`state.ts`) and the formatters the rule generator (`rules.ts`) prints with. An
 * address is an unsigned 32-bit integer; nothing here does I/O. Addresses and prefixes are
 * `@start-tunnel/protocol`'s `ip.ts` (ipaddr.js) under nat's names; port ranges are nat's own.
 * @module
 */

import {
  type IPv4Prefix,
  ipv4PrefixContains,
  ipv4PrefixesOverlap,
  ipv4PrefixLast,
  ipv4PrefixMask,
  ipv4ToNumber,
  isUsableIPv4,
  numberToIPv4,
  parseIPv4Cidr,
} from '@start-tunnel/protocol';

/** An IPv4 prefix: `network` has no host bits set. */
export type Prefix = IPv4Prefix;

/** An inclusive port range; a single port has `first === last`. */
export interface PortRange {
  readonly first: number;
  readonly last: number;
}

/**
 * Parses a dotted quad (`192.0.2.1`). Leading zeros are refused, as `inet_aton` would read
 * `010` as octal and `ip`/`nft` would not agree on what was meant.
 */
export function parseIPv4(text: string): number | null {
  return ipv4ToNumber(text);
}

export function formatIPv4(value: number): string {
  return numberToIPv4(value);
}

/** The netmask of a prefix length as an unsigned number (`/0` is 0). */
export function prefixMask(length: number): number {
  return ipv4PrefixMask(length);
}

/** Parses `a.b.c.d/len`; `host` keeps the address as written (it may have host bits). */
export function parseCidr(text: string): { host: number; prefix: Prefix } | null {
  const cidr = parseIPv4Cidr(text);
  return cidr === null ? null : { host: cidr.address, prefix: cidr.prefix };
}

export function formatPrefix(prefix: Prefix): string {
  return `${formatIPv4(prefix.network)}/${prefix.length}`;
}

export function prefixContains(prefix: Prefix, address: number): boolean {
  return ipv4PrefixContains(prefix, address);
}

/** The last address of a prefix (its broadcast address when the prefix is a LAN). */
export function prefixLast(prefix: Prefix): number {
  return ipv4PrefixLast(prefix);
}

export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  return ipv4PrefixesOverlap(a, b);
}

/** Parses `443` or `8000-8100` (1..65535, first <= last). */
export function parsePortRange(text: string): PortRange | null {
  const match = /^([1-9][0-9]{0,4})(?:-([1-9][0-9]{0,4}))?$/.exec(text);
  if (match === null) return null;
  const first = Number(match[1]);
  const last = match[2] === undefined ? first : Number(match[2]);
  if (first > 65535 || last > 65535 || last < first) return null;
  return { first, last };
}

export function formatPortRange(range: PortRange): string {
  return range.first === range.last ? `${range.first}` : `${range.first}-${range.last}`;
}

export function rangesOverlap(a: PortRange, b: PortRange): boolean {
  return a.first <= b.last && b.first <= a.last;
}

/**
 * Addresses no forward or WAN setting may use: unspecified (0.0.0.0/8), loopback, link-local,
 * multicast and 240.0.0.0/4 with broadcast, the ones protocol's `isUsableIPv4` refuses.
 */
export function isSpecialIPv4(address: number): boolean {
  return !isUsableIPv4(formatIPv4(address));
}
