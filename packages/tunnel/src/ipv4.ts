// SPDX-License-Identifier: MIT
/**
 * IPv4 addresses and prefixes as unsigned 32-bit numbers, under the model's names: parsing that
 * rejects anything but canonical dotted quads (no leading zeros, which some parsers read as
 * octal), formatting, containment, overlap and the ranges a subnet may not touch. The parsing
 * and the prefix arithmetic are `@start-tunnel/protocol`'s `ip.ts` (ipaddr.js); this file keeps
 * the model's shapes (`Cidr` with `bits`).
 * @module
 */

import {
  ipv4PrefixContains,
  ipv4PrefixesOverlap,
  ipv4PrefixLast,
  ipv4PrefixMask,
  ipv4ToNumber,
  numberToIPv4,
  parseIPv4Cidr,
  isPublicIPv4 as publicText,
} from '@start-tunnel/protocol';

/** Parses a dotted quad (the contract's strict rule); null when it is not one. */
export function parseIPv4(text: string): number | null {
  return ipv4ToNumber(text);
}

export function formatIPv4(n: number): string {
  return numberToIPv4(n);
}

/** Network mask of a prefix length (0..32). */
export function maskOf(bits: number): number {
  return ipv4PrefixMask(bits);
}

export interface Cidr {
  /** Network address. */
  network: number;
  bits: number;
}

/** Parses `A.B.C.D/N`; null when malformed (host bits are allowed, the caller decides). */
export function parseCidr(text: string): { address: number; bits: number } | null {
  const cidr = parseIPv4Cidr(text);
  return cidr === null ? null : { address: cidr.address, bits: cidr.prefix.length };
}

export function cidrContains(c: Cidr, address: number): boolean {
  return ipv4PrefixContains({ network: c.network, length: c.bits }, address);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return ipv4PrefixesOverlap(
    { network: a.network, length: a.bits },
    { network: b.network, length: b.bits }
  );
}

export function broadcastOf(c: Cidr): number {
  return ipv4PrefixLast({ network: c.network, length: c.bits });
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
