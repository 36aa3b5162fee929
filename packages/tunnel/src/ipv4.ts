// SPDX-License-Identifier: MIT
/**
 * IPv4 addresses and prefixes as unsigned 32-bit numbers: parsing that rejects anything but
 * canonical dotted quads (no leading zeros, which some parsers read as octal), formatting,
 * containment and the special ranges the WAN detection skips (RFC 1918, RFC 6598 CGNAT,
 * RFC 3927 link-local, loopback). Parsing and classifying addresses is `@start-tunnel/protocol`'s
 * (ipaddr.js); this file does the prefix arithmetic the model needs.
 * @module
 */

import { ipv4ToNumber, isPublicIPv4 as publicText } from '@start-tunnel/protocol';

/** Parses a dotted quad (the contract's strict rule); null when it is not one. */
export function parseIPv4(text: string): number | null {
  return ipv4ToNumber(text);
}

export function formatIPv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Network mask of a prefix length (0..32). */
export function maskOf(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

export interface Cidr {
  /** Network address. */
  network: number;
  bits: number;
}

/** Parses `A.B.C.D/N`; null when malformed (host bits are allowed, the caller decides). */
export function parseCidr(text: string): { address: number; bits: number } | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const address = parseIPv4(text.slice(0, slash));
  const bitsText = text.slice(slash + 1);
  if (address === null || !/^(0|[1-9][0-9]?)$/.test(bitsText)) return null;
  const bits = Number(bitsText);
  if (bits > 32) return null;
  return { address, bits };
}

export function cidrContains(c: Cidr, address: number): boolean {
  return (address & maskOf(c.bits)) >>> 0 === c.network;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const bits = Math.min(a.bits, b.bits);
  const m = maskOf(bits);
  return (a.network & m) >>> 0 === (b.network & m) >>> 0;
}

export function broadcastOf(c: Cidr): number {
  return (c.network | ~maskOf(c.bits)) >>> 0;
}

export function formatCidr(network: number, bits: number): string {
  return `${formatIPv4(network)}/${bits}`;
}

/** True for an address a VPS's public side can have (see `isPublicIPv4` of the contract). */
export function isPublicIPv4(address: number): boolean {
  return publicText(formatIPv4(address));
}

/**
 * Ranges a subnet may not overlap: unspecified (0/8), loopback (127/8), link-local
 * (169.254/16), multicast and reserved (224/3), the ranges `isUsableIPv4` refuses.
 */
export const FORBIDDEN_SUBNET_RANGES: readonly Cidr[] = [
  { network: 0, bits: 8 },
  { network: 127 << 24, bits: 8 },
  { network: ((169 << 24) | (254 << 16)) >>> 0, bits: 16 },
  { network: (224 << 24) >>> 0, bits: 3 },
];
