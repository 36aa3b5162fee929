// SPDX-License-Identifier: MIT
/**
 * Time for the protocol core, injected so tests control it: a monotonic clock for timers and key
 * ages, the wall clock for TAI64N and `last_handshake_time`, and a scheduler for one-shot timers.
 * `clock-fake.ts` is the manual fake beside it.
 * @module
 */

export interface Clock {
  /** Monotonic milliseconds (never steps back). */
  now(): number;
  /** Unix epoch milliseconds (the wall clock; may step). */
  wallNow(): number;
  /** Runs `fn` once after `ms` milliseconds; the handle cancels it. */
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/** The real clock: `performance.now()`, `Date.now()` and unref'd Node timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimer(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};
