// SPDX-License-Identifier: MIT
/**
 * A manual clock for tests: time moves only when `advance()` is called, and timers fire in
 * deadline order (ties in the order they were set), each seeing `now()` equal to its deadline.
 * @module
 */

import type { Clock } from './clock.ts';

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export class FakeClock implements Clock {
  #now: number;
  #wallOffset: number;
  #seq = 0;
  #timers: FakeTimer[] = [];

  constructor(start = 1_000_000, wallStart = Date.UTC(2026, 0, 1)) {
    this.#now = start;
    this.#wallOffset = wallStart - start;
  }

  now(): number {
    return this.#now;
  }

  wallNow(): number {
    return this.#now + this.#wallOffset;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const timer: FakeTimer = {
      at: this.#now + Math.max(0, ms),
      seq: this.#seq++,
      fn,
      cancelled: false,
    };
    this.#timers.push(timer);
    return timer;
  }

  clearTimer(handle: unknown): void {
    (handle as FakeTimer).cancelled = true;
  }

  /** Timers not yet fired or cancelled. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.#timers) {
        if (t.cancelled || t.at > end) continue;
        if (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq)) next = t;
      }
      if (!next) break;
      next.cancelled = true;
      this.#now = Math.max(this.#now, next.at);
      next.fn();
      this.#timers = this.#timers.filter((t) => !t.cancelled);
    }
    this.#now = end;
  }

  /** Steps the wall clock alone (an NTP jump), leaving monotonic time and timers alone. */
  stepWall(ms: number): void {
    this.#wallOffset += ms;
  }
}
