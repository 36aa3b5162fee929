// SPDX-License-Identifier: MIT
/**
 * IP addresses for the control plane, on ipaddr.js (https://github.com/whitequark/ipaddr.js):
 * strict parsing (IPv4 only as four decimal parts without leading zeros, which some parsers
 * read as octal; IPv6 without zone), canonical text (RFC 5952: lowercase, compressed), bytes,
 * and which IPv4 addresses a VPS's public side can have. wg-core keeps its own byte-level parser
 * for the packet path.
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
