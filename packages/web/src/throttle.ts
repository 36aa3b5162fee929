// SPDX-License-Identifier: MIT
/**
 * Login throttling: `LoginGate` admits each password check through a per-address token bucket, then queues it for the
 * one Argon2 worker, ordered so that a flood cannot keep the owner out:
 * - first, callers known to be the owner (a live panel session re-authenticating, an address that
 *   logged in recently, or a caller the HTTP layer vouches for);
 * - then by the caller's own recent failures plus its own checks already waiting, so an address
 *   that has not been failing goes ahead of every one that has;
 * - then by the failures of its /24 (IPv4) or /48 (IPv6), so cheap address space buys less;
 * - and among equals the newest first: a burst queued before the owner's attempt cannot delay it.
 * Failing addresses also draw on a server-wide budget and may have only a few checks waiting;
 * beyond that they are refused at once (RateLimited). When the queue is full, a check that ranks
 * better than the worst one waiting takes its place, and the displaced one is told the server is
 * busy. No limit ever refuses an address that has not been failing because others are (a
 * server-wide bucket that refuses everyone lets a dozen addresses lock the owner out). Buckets
 * refill from an injected clock, in the manner of wireguard-go's `ratelimiter`. A refusal is
 * HTTP 429 with error code 37 (RateLimited).
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
/** What failing addresses together may spend: 20 attempts at once, then one every 3 s. */
export const GLOBAL: BucketParams = Object.freeze({ burst: 20, refillMs: 3_000 });
/** Addresses tracked at most; full, refilled buckets are dropped first. */
export const MAX_TRACKED = 4096;

interface Bucket {
  tokens: number;
  /** Time of the last refill computation. */
  at: number;
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

function refill(b: Bucket, p: BucketParams, now: number): void {
  if (now <= b.at) return;
  b.tokens = Math.min(p.burst, b.tokens + (now - b.at) / p.refillMs);
  b.at = now;
}

// ---- LoginGate ------------------------------------------------------------------------------

/** What a password check came to. */
export type LoginOutcome =
  | { ok: true }
  | {
      ok: false;
      reason: 'incorrect' | 'throttled' | 'busy' | 'no-password';
      retryAfterSeconds?: number;
    };

export interface GateLimits {
  /** Attempts per address (IPv6 per /64) or per re-authenticating session. */
  perCaller: BucketParams;
  /** Attempts from failing callers, all of them together. */
  failing: BucketParams;
  /** A recorded failure counts for this long (it decays linearly). */
  failureDecayMs: number;
  /** Checks one caller may have waiting or running. */
  perCallerQueued: number;
  /** Checks one /24 or /48 may have waiting once it is failing. */
  perAggregateQueued: number;
  /** Checks waiting at most, all callers. */
  queue: number;
  /** An address that logged in is trusted for this long. */
  trustMs: number;
}

export const GATE_LIMITS: GateLimits = Object.freeze({
  perCaller: PER_ADDRESS,
  failing: GLOBAL,
  failureDecayMs: 30_000,
  perCallerQueued: 2,
  perAggregateQueued: 8,
  queue: 32,
  trustMs: 30 * 24 * 3600_000,
});

/** Who is asking: an address (logins) or a session (re-authentication), and how trusted. */
export interface Caller {
  /** Throttle key: `throttleKey(address)` or `session:<id>`. */
  key: string;
  /** The /24 or /48 the address is in (the key itself when there is none). */
  aggregate: string;
  /** Known to be the owner: goes first (it is still counted per caller). */
  trusted: boolean;
}

/** The caller of a login from `address`. */
export function addressCaller(address: string, trusted = false): Caller {
  return { key: throttleKey(address), aggregate: aggregateKey(address), trusted };
}

/** The /24 (IPv4) or /48 (IPv6) of an address, for the aggregate counts. */
export function aggregateKey(address: string): string {
  const key = throttleKey(address);
  if (isIPv4(key)) return `${key.split('.').slice(0, 3).join('.')}.0/24`;
  if (key.endsWith('::/64')) return `${key.split(':').slice(0, 3).join(':')}::/48`;
  return key;
}

interface Score {
  value: number;
  at: number;
}

interface Job {
  seq: number;
  caller: Caller;
  password: string;
  phc: string;
  done: (outcome: LoginOutcome) => void;
}

export interface LoginGateOptions {
  now: () => number;
  /** The Argon2 check (the worker); a rejection counts as busy. */
  verify: (password: string, phc: string) => Promise<boolean>;
  limits?: Partial<GateLimits>;
}

/** Admits, orders and runs password checks one at a time (see the module comment). */
export class LoginGate {
  readonly #now: () => number;
  readonly #verify: (password: string, phc: string) => Promise<boolean>;
  readonly #limits: GateLimits;
  readonly #buckets = new Map<string, Bucket>();
  readonly #failures = new Map<string, Score>();
  readonly #trusted = new Map<string, number>();
  readonly #failing: Bucket;
  readonly #queue: Job[] = [];
  #running: Job | null = null;
  #seq = 0;
  /** Average duration of a check, for `Retry-After` when busy. */
  #averageMs = 300;

  constructor(options: LoginGateOptions) {
    this.#now = options.now;
    this.#verify = options.verify;
    this.#limits = { ...GATE_LIMITS, ...options.limits };
    this.#failing = { tokens: this.#limits.failing.burst, at: this.#now() };
  }

  /** Checks waiting (the one running not counted). */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Checks `password` against `phc` for `caller`, when its turn comes or refuses it. */
  check(caller: Caller, password: string, phc: string): Promise<LoginOutcome> {
    const now = this.#now();
    const trusted = caller.trusted || (this.#trusted.get(caller.key) ?? 0) > now;
    const who: Caller = { ...caller, trusted };
    const bucket = this.#bucket(caller.key, now);
    if (bucket.tokens < 1) return refused(bucket, this.#limits.perCaller);
    if (this.#pendingOf((j) => j.caller.key === caller.key) >= this.#limits.perCallerQueued) {
      return throttled(1 + Math.ceil((this.#queue.length * this.#averageMs) / 1000));
    }
    if (!trusted && this.#score(caller.key, now) >= 1) {
      refill(this.#failing, this.#limits.failing, now);
      if (this.#failing.tokens < 1) return refused(this.#failing, this.#limits.failing);
      const sameAggregate = (j: Job) => j.caller.aggregate === caller.aggregate;
      if (this.#pendingOf(sameAggregate) >= this.#limits.perAggregateQueued) {
        return throttled(1 + Math.ceil((this.#queue.length * this.#averageMs) / 1000));
      }
      this.#failing.tokens -= 1;
    }
    return new Promise((done) => {
      const job: Job = { seq: ++this.#seq, caller: who, password, phc, done };
      if (this.#queue.length >= this.#limits.queue) {
        const worst = this.#worst(now);
        if (worst === undefined || this.#compare(job, worst, now) >= 0) {
          done(this.#busy());
          return;
        }
        this.#queue.splice(this.#queue.indexOf(worst), 1);
        worst.done(this.#busy());
      }
      bucket.tokens -= 1;
      this.#queue.push(job);
      this.#pump();
    });
  }

  #busy(): LoginOutcome {
    const seconds = Math.ceil(((this.#queue.length + 1) * this.#averageMs) / 1000);
    return { ok: false, reason: 'busy', retryAfterSeconds: Math.max(1, seconds) };
  }

  #pendingOf(match: (j: Job) => boolean): number {
    return this.#queue.filter(match).length + (this.#running && match(this.#running) ? 1 : 0);
  }

  #bucket(key: string, now: number): Bucket {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= MAX_TRACKED) this.#collect(now);
      bucket = { tokens: this.#limits.perCaller.burst, at: now };
      this.#buckets.set(key, bucket);
    }
    refill(bucket, this.#limits.perCaller, now);
    return bucket;
  }

  /** Recent failures of a caller or aggregate, decayed. */
  #score(key: string, now: number): number {
    const s = this.#failures.get(key);
    if (s === undefined) return 0;
    const value = s.value - Math.max(0, now - s.at) / this.#limits.failureDecayMs;
    if (value <= 0) {
      this.#failures.delete(key);
      return 0;
    }
    return value;
  }

  #addFailure(key: string, now: number): void {
    if (!this.#failures.has(key) && this.#failures.size >= MAX_TRACKED) this.#collect(now);
    this.#failures.set(key, { value: this.#score(key, now) + 1, at: now });
  }

  /** The rank of a waiting job: lower goes first (see the module comment). */
  #rank(job: Job, now: number): [number, number, number, number] {
    const key = job.caller.key;
    const ahead = this.#pendingOf((j) => j.caller.key === key && j.seq < job.seq);
    return [
      job.caller.trusted ? 0 : 1,
      Math.floor(this.#score(key, now)) + ahead,
      Math.floor(this.#score(job.caller.aggregate, now)),
      -job.seq,
    ];
  }

  #compare(a: Job, b: Job, now: number): number {
    const ra = this.#rank(a, now);
    const rb = this.#rank(b, now);
    for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i]! - rb[i]!;
    return 0;
  }

  #worst(now: number): Job | undefined {
    let worst: Job | undefined;
    for (const j of this.#queue) if (!worst || this.#compare(j, worst, now) > 0) worst = j;
    return worst;
  }

  #pump(): void {
    if (this.#running !== null || this.#queue.length === 0) return;
    const now = this.#now();
    let best = this.#queue[0]!;
    for (const j of this.#queue) if (this.#compare(j, best, now) < 0) best = j;
    this.#queue.splice(this.#queue.indexOf(best), 1);
    this.#running = best;
    const started = Date.now();
    this.#verify(best.password, best.phc).then(
      (ok) => this.#finish(best, ok ? { ok: true } : { ok: false, reason: 'incorrect' }, started),
      () => this.#finish(best, this.#busy(), started)
    );
  }

  #finish(job: Job, outcome: LoginOutcome, started: number): void {
    const now = this.#now();
    this.#averageMs = 0.8 * this.#averageMs + 0.2 * Math.max(1, Date.now() - started);
    const { key, aggregate } = job.caller;
    if (outcome.ok) {
      this.#buckets.delete(key);
      this.#failures.delete(key);
      if (!key.startsWith('session:')) {
        if (this.#trusted.size >= MAX_TRACKED)
          this.#trusted.delete(this.#trusted.keys().next().value!);
        this.#trusted.set(key, now + this.#limits.trustMs);
      }
    } else if (outcome.reason === 'incorrect') {
      this.#addFailure(key, now);
      if (aggregate !== key) this.#addFailure(aggregate, now);
    }
    this.#running = null;
    job.done(outcome);
    this.#pump();
  }

  /** Bounds the maps: drops full buckets, spent scores and lapsed trust, then the oldest. */
  #collect(now: number): void {
    for (const [key, b] of this.#buckets) {
      refill(b, this.#limits.perCaller, now);
      if (b.tokens >= this.#limits.perCaller.burst) this.#buckets.delete(key);
    }
    for (const key of [...this.#failures.keys()]) this.#score(key, now);
    for (const [key, until] of this.#trusted) if (until <= now) this.#trusted.delete(key);
    for (const map of [this.#buckets, this.#failures] as Map<string, unknown>[]) {
      for (const key of map.keys()) {
        if (map.size < MAX_TRACKED) break;
        map.delete(key);
      }
    }
  }
}

function throttled(seconds: number): Promise<LoginOutcome> {
  return Promise.resolve({
    ok: false,
    reason: 'throttled',
    retryAfterSeconds: Math.max(1, seconds),
  });
}

function refused(b: Bucket, p: BucketParams): Promise<LoginOutcome> {
  const waitMs = (1 - b.tokens) * p.refillMs;
  return throttled(Math.ceil(waitMs / 1000));
}
