// SPDX-License-Identifier: MIT
/**
 * Login throttling: token buckets per source address and one for the whole server, in the
 * manner of wireguard-go's `ratelimiter` (buckets refilled from an injected clock, idle entries
 * collected). Every login attempt takes a token from its address's bucket and from the global
 * one before the password is checked; a correct password refills the address's bucket. The
 * original refuses when three attempts were counted and the last was under 20 s ago, for all
 * addresses at once (`starttunnel.md` §7); per-address buckets keep one guesser from locking out
 * everybody else, and the global bucket bounds the Argon2 work (64 MiB, ~0.2 s per attempt) that
 * many addresses together can demand. A refusal is HTTP 429 with error code 37 (RateLimited).
 * @module
 */

import { isIPv4, isIPv6 } from 'node:net';
import { ipBytes } from './encoding.ts';

export interface BucketParams {
  /** Attempts allowed in a burst. */
  burst: number;
  /** One attempt is regained every `refillMs`. */
  refillMs: number;
}

/** Per address: 5 attempts at once, then one every 30 s. */
export const PER_ADDRESS: BucketParams = Object.freeze({ burst: 5, refillMs: 30_000 });
/** Whole server: 20 attempts at once, then one every 3 s (20 a minute). */
export const GLOBAL: BucketParams = Object.freeze({ burst: 20, refillMs: 3_000 });
/** Addresses tracked at most; full, refilled buckets are dropped first. */
export const MAX_TRACKED = 4096;

interface Bucket {
  tokens: number;
  /** Time of the last refill computation. */
  at: number;
}

export interface ThrottleDecision {
  allowed: boolean;
  /** Seconds until an attempt would be allowed (0 when allowed). */
  retryAfterSeconds: number;
  /** Which limit refused: the caller's address or the server-wide one. */
  scope: 'address' | 'global' | null;
}

/**
 * The key an address is counted under: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 by its /64,
 * since one host usually holds a whole /64.
 */
export function throttleKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIPv4(address)) return address;
  if (isIPv6(address)) return ipv6Prefix64(address);
  return address || 'unknown';
}

/** `a:b:c:d::/64` of an IPv6 address, groups without leading zeros. */
function ipv6Prefix64(address: string): string {
  const b = ipBytes(address);
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push((((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)).toString(16));
  return `${groups.join(':')}::/64`;
}

export class LoginThrottle {
  readonly #now: () => number;
  readonly #perAddress: BucketParams;
  readonly #global: BucketParams;
  readonly #buckets = new Map<string, Bucket>();
  readonly #all: Bucket;

  constructor(
    now: () => number,
    perAddress: BucketParams = PER_ADDRESS,
    global: BucketParams = GLOBAL
  ) {
    this.#now = now;
    this.#perAddress = perAddress;
    this.#global = global;
    this.#all = { tokens: global.burst, at: now() };
  }

  /** Takes a token for an attempt from `address`, or says how long to wait. */
  attempt(address: string): ThrottleDecision {
    const now = this.#now();
    const key = throttleKey(address);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      this.#collect(now);
      bucket = { tokens: this.#perAddress.burst, at: now };
      this.#buckets.set(key, bucket);
    }
    refill(bucket, this.#perAddress, now);
    refill(this.#all, this.#global, now);
    if (bucket.tokens < 1) return refuse(bucket, this.#perAddress, 'address');
    if (this.#all.tokens < 1) return refuse(this.#all, this.#global, 'global');
    bucket.tokens -= 1;
    this.#all.tokens -= 1;
    return { allowed: true, retryAfterSeconds: 0, scope: null };
  }

  /** A correct password: the address starts afresh. */
  succeeded(address: string): void {
    this.#buckets.delete(throttleKey(address));
  }

  /** Number of addresses tracked (for tests). */
  get tracked(): number {
    return this.#buckets.size;
  }

  /** Drops full buckets, and when still at the bound, the oldest ones. */
  #collect(now: number): void {
    if (this.#buckets.size < MAX_TRACKED) return;
    for (const [key, b] of this.#buckets) {
      refill(b, this.#perAddress, now);
      if (b.tokens >= this.#perAddress.burst) this.#buckets.delete(key);
    }
    // Map iteration is insertion order: the first keys are the oldest.
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size < MAX_TRACKED) break;
      this.#buckets.delete(key);
    }
  }
}

function refill(b: Bucket, p: BucketParams, now: number): void {
  if (now <= b.at) return;
  b.tokens = Math.min(p.burst, b.tokens + (now - b.at) / p.refillMs);
  b.at = now;
}

function refuse(b: Bucket, p: BucketParams, scope: 'address' | 'global'): ThrottleDecision {
  const waitMs = (1 - b.tokens) * p.refillMs;
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)), scope };
}
