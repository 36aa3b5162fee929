// SPDX-License-Identifier: MIT
/**
 * Per-source token buckets for handshake messages that arrive while the device is under load
 * and carry a valid mac2 (whitepaper §5.3; wireguard-go's limits:
 * https://github.com/WireGuard/wireguard-go/blob/f333402bd9cbe0f3eeb02507bd14e23d7d639280/ratelimiter/ratelimiter.go#L15-L19): 20 messages per second per source,
 * bursts of 5. Mirrors kernel `ratelimiter.c` (IPv6 sources share a bucket per /64, a full table
 * refuses new sources, `>=` on the token check so a fresh source gets a burst of exactly 5) and
 * wireguard-go `ratelimiter/ratelimiter.go` (injected clock in its tests).
 *
 * No timers: idle entries are collected lazily, at most once a second, by the `allow` call that
 * notices a second has passed since the last sweep.
 * @module
 */

import { parsePrefix } from './allowedips.ts';

export const RATELIMITER_PACKETS_PER_SECOND = 20;
export const RATELIMITER_PACKETS_BURSTABLE = 5;
/** Entries idle for longer than this are forgotten (they would be full again anyway). */
export const RATELIMITER_GC_INTERVAL_MS = 1_000;
/** Table cap; once reached, sources without an entry are refused until a sweep frees room. */
export const RATELIMITER_MAX_ENTRIES = 8192;

/** Tokens are milliseconds of credit: one packet costs 50 ms, the bucket holds 250 ms. */
const PACKET_COST_MS = 1_000 / RATELIMITER_PACKETS_PER_SECOND;
const MAX_TOKENS_MS = PACKET_COST_MS * RATELIMITER_PACKETS_BURSTABLE;

interface Entry {
  lastTime: number;
  tokens: number;
}

/**
 * Token-bucket limiter keyed by source address.
 *
 * @example
 * const limiter = new Ratelimiter(() => performance.now());
 * if (!limiter.allow(4, '192.0.2.7')) return; // drop the handshake message
 */
export class Ratelimiter {
  readonly #now: () => number;
  readonly #table = new Map<string, Entry>();
  #lastSweep: number;

  /** @param now a clock in milliseconds; only differences matter (a monotonic clock is best) */
  constructor(now: () => number) {
    this.#now = now;
    this.#lastSweep = now();
  }

  /** Number of sources currently tracked (idle ones linger until the next sweep). */
  get size(): number {
    return this.#table.size;
  }

  /**
   * Takes one token from the bucket of `address` (textual, as node:dgram reports it) and says
   * whether the message may be processed. Never throws: an unparsable address is refused.
   */
  allow(family: 4 | 6, address: string): boolean {
    const now = this.#now();
    if (now - this.#lastSweep >= RATELIMITER_GC_INTERVAL_MS) this.#sweep(now);
    const key = bucketKey(family, address);
    if (key === null) return false;

    const entry = this.#table.get(key);
    if (!entry) {
      if (this.#table.size >= RATELIMITER_MAX_ENTRIES) return false;
      // A new source starts with a full bucket and spends one token right away.
      this.#table.set(key, { lastTime: now, tokens: MAX_TOKENS_MS - PACKET_COST_MS });
      return true;
    }
    // Refill by the time elapsed (a clock stepping back refills nothing), capped at the burst.
    const elapsed = Math.max(0, now - entry.lastTime);
    entry.tokens = Math.min(MAX_TOKENS_MS, entry.tokens + elapsed);
    entry.lastTime = now;
    if (entry.tokens >= PACKET_COST_MS) {
      entry.tokens -= PACKET_COST_MS;
      return true;
    }
    return false;
  }

  /** Forgets every source. There are no timers to stop, so the limiter stays usable. */
  close(): void {
    this.#table.clear();
    this.#lastSweep = this.#now();
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [key, entry] of this.#table) {
      if (now - entry.lastTime > RATELIMITER_GC_INTERVAL_MS) this.#table.delete(key);
    }
  }
}

/**
 * The bucket of a source: the whole IPv4 address, or the /64 of an IPv6 one (kernel
 * ratelimiter.c; one host commonly owns a whole /64). IPv4-mapped IPv6 (`::ffff:a.b.c.d`, as a
 * dual-stack socket reports IPv4 peers) counts as the IPv4 address. Null when unparsable.
 */
function bucketKey(family: 4 | 6, address: string): string | null {
  let ip: Uint8Array;
  try {
    const prefix = parsePrefix(address);
    if (prefix.family !== family || address.includes('/')) return null;
    ip = prefix.ip;
  } catch {
    return null;
  }
  if (ip.length === 4) return `${ip[0]}.${ip[1]}.${ip[2]}.${ip[3]}`;
  let mapped = ip[10] === 0xff && ip[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = ip[i] === 0;
  if (mapped) return `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`;
  let key = '';
  for (let i = 0; i < 8; i++) key += ip[i]!.toString(16).padStart(2, '0');
  return `${key}::/64`;
}
