// SPDX-License-Identifier: MIT
/**
 * IPv4 addresses, prefixes and port ranges as plain numbers: the strict parsers behind the state
 * validation (`state.ts`) and the formatters the rule generator (`rules.ts`) prints with. An
 * address is an unsigned 32-bit integer; nothing here does I/O.
 * @module
 */

/** An IPv4 prefix: `network` has no host bits set. */
export interface Prefix {
  readonly network: number;
  readonly length: number;
}

/** An inclusive port range; a single port has `first === last`. */
export interface PortRange {
  readonly first: number;
  readonly last: number;
}

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/**
 * Parses a dotted quad (`192.0.2.1`). Leading zeros are refused, as `inet_aton` would read
 * `010` as octal and `ip`/`nft` would not agree on what was meant.
 */
export function parseIPv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!OCTET.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** The netmask of a prefix length as an unsigned number (`/0` is 0). */
export function prefixMask(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/** Parses `a.b.c.d/len`; `host` keeps the address as written (it may have host bits). */
export function parseCidr(text: string): { host: number; prefix: Prefix } | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const host = parseIPv4(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (host === null || !/^(0|[1-9][0-9]?)$/.test(lengthText)) return null;
  const length = Number(lengthText);
  if (length > 32) return null;
  return { host, prefix: { network: (host & prefixMask(length)) >>> 0, length } };
}

export function formatPrefix(prefix: Prefix): string {
  return `${formatIPv4(prefix.network)}/${prefix.length}`;
}

export function prefixContains(prefix: Prefix, address: number): boolean {
  return (address & prefixMask(prefix.length)) >>> 0 === prefix.network;
}

/** The last address of a prefix (its broadcast address when the prefix is a LAN). */
export function prefixLast(prefix: Prefix): number {
  return (prefix.network | ~prefixMask(prefix.length)) >>> 0;
}

export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  return prefixContains(a, b.network) || prefixContains(b, a.network);
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

/** Addresses no forward or WAN setting may use: unspecified, loopback, link-local, multicast. */
export function isSpecialIPv4(address: number): boolean {
  const top = address >>> 24;
  return (
    address === 0 ||
    top === 0 ||
    top === 127 ||
    top >= 224 ||
    (address & prefixMask(16)) >>> 0 === 0xa9fe0000 // 169.254.0.0/16
  );
}
