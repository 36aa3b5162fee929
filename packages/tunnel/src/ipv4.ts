// SPDX-License-Identifier: MIT
/**
 * IPv4 addresses and prefixes as unsigned 32-bit numbers: parsing that rejects anything but
 * canonical dotted quads (no leading zeros, which some parsers read as octal), formatting,
 * containment and the special ranges the WAN detection skips (RFC 1918, RFC 6598 CGNAT,
 * RFC 3927 link-local, loopback).
 * @module
 */

/** Parses a dotted quad; null when it is not one. */
export function parseIPv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n >>> 0;
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

const SPECIAL: Cidr[] = [
  { network: parseIPv4('0.0.0.0')!, bits: 8 },
  { network: parseIPv4('10.0.0.0')!, bits: 8 }, // RFC 1918
  { network: parseIPv4('100.64.0.0')!, bits: 10 }, // RFC 6598 shared address space (CGNAT)
  { network: parseIPv4('127.0.0.0')!, bits: 8 }, // loopback
  { network: parseIPv4('169.254.0.0')!, bits: 16 }, // RFC 3927 link-local
  { network: parseIPv4('172.16.0.0')!, bits: 12 }, // RFC 1918
  { network: parseIPv4('192.168.0.0')!, bits: 16 }, // RFC 1918
  { network: parseIPv4('224.0.0.0')!, bits: 3 }, // multicast and reserved (224/4, 240/4)
];

/**
 * True for an address a VPS's public side can have: not private (RFC 1918), loopback,
 * link-local, CGNAT (100.64.0.0/10), unspecified, multicast or reserved. Documentation ranges
 * (RFC 5737) count as public so that namespace labs look like the internet.
 */
export function isPublicIPv4(address: number): boolean {
  return !SPECIAL.some((c) => cidrContains(c, address));
}

/** Ranges a subnet may not overlap: unspecified, loopback, link-local, multicast/reserved. */
export const FORBIDDEN_SUBNET_RANGES: readonly Cidr[] = [
  SPECIAL[0]!,
  SPECIAL[3]!,
  SPECIAL[4]!,
  SPECIAL[7]!,
];
