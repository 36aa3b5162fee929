// SPDX-License-Identifier: MIT
/**
 * IP addresses and prefixes for the control plane, on ipaddr.js
 * (https://github.com/whitequark/ipaddr.js): strict parsing (IPv4 only as four decimal parts
 * without leading zeros, which some parsers read as octal; IPv6 without zone; prefix lengths in
 * decimal without leading zeros), canonical text (RFC 5952: lowercase, compressed), bytes, IPv4
 * prefixes as unsigned 32-bit numbers (containment, overlap), IPv6 prefixes, and which IPv4
 * addresses a VPS's public side can have. The one IP module of the control plane (nat and tunnel
 * are thin over it); wg-core keeps its own byte-level parser for the packet path.
 * @module
 */

import ipaddr from 'ipaddr.js';

export interface ParsedIp {
  family: 4 | 6;
  /** 4 or 16 bytes. */
  bytes: Uint8Array;
  /** RFC 5952 text for IPv6, dotted quad for IPv4. */
  canonical: string;
}

/** Parses an IP literal (IPv6 may come in brackets); null when it is not one. */
export function parseIp(text: string): ParsedIp | null {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bare)) {
    if (!ipaddr.IPv4.isValidFourPartDecimal(bare) || /(^|\.)0\d/.test(bare)) return null;
    const v4 = ipaddr.IPv4.parse(bare);
    return { family: 4, bytes: Uint8Array.from(v4.toByteArray()), canonical: v4.toString() };
  }
  if (!bare.includes(':') || bare.includes('%') || !ipaddr.IPv6.isValid(bare)) return null;
  const v6 = ipaddr.IPv6.parse(bare);
  return { family: 6, bytes: Uint8Array.from(v6.toByteArray()), canonical: v6.toRFC5952String() };
}

/** Canonical text of an IP literal, or null. */
export function canonicalIp(text: string): string | null {
  return parseIp(text)?.canonical ?? null;
}

/** An IPv4 dotted quad as an unsigned 32-bit number, or null. */
export function ipv4ToNumber(text: string): number | null {
  const ip = parseIp(text);
  if (ip?.family !== 4 || text.startsWith('[')) return null;
  const [a = 0, b = 0, c = 0, d = 0] = ip.bytes;
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/** ipaddr.js ranges a VPS's public side never has. */
const NOT_PUBLIC = new Set([
  'unspecified',
  'broadcast',
  'multicast',
  'linkLocal',
  'loopback',
  'carrierGradeNat',
  'private',
]);

/**
 * True for an IPv4 address a VPS's public side can have: not private (RFC 1918), loopback,
 * link-local, CGNAT (RFC 6598), unspecified, multicast or 240.0.0.0/4. The documentation ranges
 * (RFC 5737), "reserved" to ipaddr.js, count as public so that namespace labs look like the
 * internet.
 */
export function isPublicIPv4(text: string): boolean {
  if (ipv4ToNumber(text) === null) return false;
  const address = ipaddr.IPv4.parse(text);
  const range = address.range();
  if (NOT_PUBLIC.has(range) || address.octets[0] === 0) return false;
  return range !== 'reserved' || (address.octets[0] ?? 0) < 240;
}

/**
 * True for an IPv4 address a host may forward to or from (the WAN address, a forward's
 * address): not unspecified (0.0.0.0/8), loopback, link-local, multicast, 240.0.0.0/4 or
 * broadcast. Private addresses are usable: clouds that NAT the public IP at their edge give the
 * host only a private one.
 */
export function isUsableIPv4(text: string): boolean {
  const n = ipv4ToNumber(text);
  if (n === null) return false;
  const top = n >>> 24;
  return top !== 0 && top !== 127 && top < 224 && n >>> 16 !== 0xa9fe;
}

/** An IPv4 prefix as numbers: `network` has no host bits set. */
export interface IPv4Prefix {
  readonly network: number;
  readonly length: number;
}

/** `a.b.c.d/len` as written: `address` may have host bits, `prefix` has none. */
export interface IPv4Cidr {
  readonly address: number;
  readonly prefix: IPv4Prefix;
}

/**
 * The gate in front of ipaddr.js's `parseCIDR`, which reads the address with its lenient parser
 * (octal, hex, fewer parts: `010.0.0.1/8` is 8.0.0.1/8) and the length with `parseInt` (`/024`
 * is /24):
 * https://github.com/whitequark/ipaddr.js/blob/dc55282780d8702bac31ef012ca52e4a77fbca1f/lib/ipaddr.js#L415
 * The address must pass `parseIp` (no brackets), the length be decimal without leading zeros.
 */
function isStrictCidr(text: string, family: 4 | 6): boolean {
  const slash = text.indexOf('/');
  if (slash < 0 || text.startsWith('[')) return false;
  const lengthText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lengthText)) return false;
  return (
    Number(lengthText) <= (family === 4 ? 32 : 128) &&
    parseIp(text.slice(0, slash))?.family === family
  );
}

function v4(value: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255]);
}

function v4Number(address: ipaddr.IPv4): number {
  return address.octets.reduce((value, octet) => value * 256 + octet, 0);
}

/**
 * Parses `a.b.c.d/len` strictly (see `parseIp`; the length is decimal, 0..32, without leading
 * zeros); null when it is not one. Host bits are allowed: the caller decides.
 * @example parseIPv4Cidr('10.59.7.1/24')?.prefix // { network: 0x0a3b0700, length: 24 }
 */
export function parseIPv4Cidr(text: string): IPv4Cidr | null {
  if (!isStrictCidr(text, 4)) return null;
  const [address, length] = ipaddr.IPv4.parseCIDR(text);
  const network = ipaddr.IPv4.networkAddressFromCIDR(text);
  return { address: v4Number(address), prefix: { network: v4Number(network), length } };
}

/** An unsigned 32-bit number as a dotted quad (the inverse of `ipv4ToNumber`). */
export function numberToIPv4(value: number): string {
  return v4(value).toString();
}

/** The netmask of a prefix length (0..32) as an unsigned number (`/0` is 0). */
export function ipv4PrefixMask(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/** The last address of a prefix (its broadcast address when the prefix is a LAN). */
export function ipv4PrefixLast(prefix: IPv4Prefix): number {
  return (prefix.network | ~ipv4PrefixMask(prefix.length)) >>> 0;
}

/** True when the first `prefix.length` bits of `address` are the prefix's (ipaddr.js `match`). */
export function ipv4PrefixContains(prefix: IPv4Prefix, address: number): boolean {
  return v4(address).match(v4(prefix.network), prefix.length);
}

/** True when two prefixes share an address: they agree on the bits of the shorter one. */
export function ipv4PrefixesOverlap(a: IPv4Prefix, b: IPv4Prefix): boolean {
  return v4(a.network).match(v4(b.network), Math.min(a.length, b.length));
}

/** An IPv6 prefix: its network (host bits cleared) as RFC 5952 text and as 16 bytes. */
export interface IPv6Prefix {
  readonly network: string;
  readonly length: number;
  readonly bytes: Uint8Array;
}

/**
 * Parses `address/len` (IPv6 as `parseIp` takes it, without brackets or zone; the length
 * decimal, 0..128, without leading zeros); null when it is not one. Host bits are cleared.
 * @example parseIPv6Prefix('2001:DB8:1::5/64')?.network // '2001:db8:1::'
 */
export function parseIPv6Prefix(text: string): IPv6Prefix | null {
  if (!isStrictCidr(text, 6)) return null;
  const [, length] = ipaddr.IPv6.parseCIDR(text);
  const network = ipaddr.IPv6.networkAddressFromCIDR(text);
  return {
    network: network.toRFC5952String(),
    length,
    bytes: Uint8Array.from(network.toByteArray()),
  };
}

/**
 * The IPv6 address of an IPv4 one inside an IPv6 prefix: the prefix's network with the IPv4
 * address in its low 32 bits, or only in the bits the prefix leaves when it is longer than /96.
 * For a /96 this is the layout of RFC 6052 §2.2. A subnet's IPv6 side numbers its devices this
 * way, so a device's two addresses share their low bits.
 * @throws RangeError when `prefix` is not 16 bytes with a length 0..128 or `ipv4` not a uint32
 * @example ipv6WithIPv4(parseIPv6Prefix('2001:db8:1::/64')!, 0x0a3b0702) // '2001:db8:1::a3b:702'
 */
export function ipv6WithIPv4(prefix: Pick<IPv6Prefix, 'bytes' | 'length'>, ipv4: number): string {
  const { bytes, length } = prefix;
  if (bytes.length !== 16 || !Number.isInteger(length) || length < 0 || length > 128) {
    throw new RangeError(
      `Invalid IPv6 prefix "/${length}" of ${bytes.length} bytes: expected 16 bytes, length 0..128`
    );
  }
  if (!Number.isInteger(ipv4) || ipv4 < 0 || ipv4 > 0xffffffff) {
    throw new RangeError(`Invalid IPv4 number "${ipv4}": expected an integer 0..4294967295`);
  }
  const mask = ipaddr.IPv6.subnetMaskFromPrefixLength(length).toByteArray();
  const low = v4(ipv4).octets;
  // the network's bits from the prefix, the rest from the IPv4 address's low bits
  const out = mask.map((m, i) => {
    const host = i < 12 ? 0 : (low[i - 12] ?? 0);
    return ((bytes[i] ?? 0) & m) | (host & ~m & 0xff);
  });
  return new ipaddr.IPv6(out).toRFC5952String();
}

/**
 * True when `address` is an IPv6 literal (as `parseIp` takes it) inside `prefix`
 * (ipaddr.js `match`); false for anything else, IPv4 included.
 * @example ipv6PrefixContains(parseIPv6Prefix('2001:db8:1::/64')!, '2001:db8:1::a3b:702') // true
 */
export function ipv6PrefixContains(
  prefix: Pick<IPv6Prefix, 'bytes' | 'length'>,
  address: string
): boolean {
  const ip = parseIp(address);
  if (ip?.family !== 6) return false;
  return new ipaddr.IPv6(Array.from(ip.bytes)).match(
    new ipaddr.IPv6(Array.from(prefix.bytes)),
    prefix.length
  );
}
