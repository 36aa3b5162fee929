// SPDX-License-Identifier: MIT
/**
 * The receive-side replay filter: an RFC 6479 sliding window of 8128 counters on a ring of 128
 * blocks of 64 bits, one per keypair (whitepaper §5.4.6, "the receiver keeps track of nonces").
 * Mirrors wireguard-go `replay/replay.go` (same window, same answers) and kernel `receive.c`
 * counter_validate(), whose window is 8192 − BITS_PER_LONG.
 *
 * The 64-bit counter arrives as two u32 halves because JS numbers are exact only to 2^53; the
 * filter keeps the greatest counter the same way and never allocates or uses BigInt per call.
 * Call it only after the packet authenticated, in per-peer order (wireguard-go receive.go).
 * @module
 */

import { REJECT_AFTER_MESSAGES_HI, REJECT_AFTER_MESSAGES_LO } from './constants.ts';

const BLOCK_BITS_LOG = 6;
const BLOCK_BITS = 1 << BLOCK_BITS_LOG; // 64
const RING_BLOCKS = 128;
const BLOCK_MASK = RING_BLOCKS - 1;
const BIT_MASK = BLOCK_BITS - 1;
const TWO_32 = 2 ** 32;

/**
 * Counters further than this below the greatest one seen are refused. One block of the ring is
 * always being cleared ahead of the window (RFC 6479 §2), hence 127 × 64 rather than 128 × 64.
 */
export const REPLAY_WINDOW_SIZE = (RING_BLOCKS - 1) * BLOCK_BITS; // 8128

/**
 * Anti-replay window over received counters.
 *
 * @example
 * const filter = new ReplayFilter();
 * filter.validateCounter(0, 7); // true: first sight of counter 7
 * filter.validateCounter(0, 7); // false: replayed
 */
export class ReplayFilter {
  /** The ring: block b is words 2b (bits 0..31) and 2b + 1 (bits 32..63). */
  readonly #ring = new Uint32Array(RING_BLOCKS * 2);
  #lastHi = 0;
  #lastLo = 0;

  /** Forgets every counter: a fresh window for a new keypair. */
  reset(): void {
    this.#ring.fill(0);
    this.#lastHi = 0;
    this.#lastLo = 0;
  }

  /**
   * Checks counter (hi · 2^32 + lo) and records it. Returns false when the counter is at or past
   * the limit (default REJECT_AFTER_MESSAGES = 2^64 − 2^13 − 1), older than the window, or
   * already seen; true when it is new (and now marked).
   *
   * @param hi high 32 bits of the u64 counter
   * @param lo low 32 bits of the u64 counter
   * @param limitHi high 32 bits of the exclusive limit
   * @param limitLo low 32 bits of the exclusive limit
   */
  validateCounter(
    hi: number,
    lo: number,
    limitHi: number = REJECT_AFTER_MESSAGES_HI,
    limitLo: number = REJECT_AFTER_MESSAGES_LO
  ): boolean {
    hi >>>= 0;
    lo >>>= 0;
    if (hi > limitHi >>> 0 || (hi === limitHi >>> 0 && lo >= limitLo >>> 0)) return false;

    // counter − last as a double: exact while |delta| < 2^53, and beyond that still of the right
    // sign and far past every threshold compared against here.
    const delta = (hi - this.#lastHi) * TWO_32 + (lo - this.#lastLo);
    if (delta > 0) {
      // Move the window forward: clear the blocks between the old and the new head (RFC 6479
      // §2.2), all of them when the jump is at least a whole ring.
      const current = this.#lastLo >>> BLOCK_BITS_LOG;
      const offset = this.#lastLo & BIT_MASK;
      let blocks = delta > RING_BLOCKS * BLOCK_BITS ? RING_BLOCKS : (offset + delta) >>> 6;
      if (blocks > RING_BLOCKS) blocks = RING_BLOCKS;
      for (let i = 1; i <= blocks; i++) {
        const block = (current + i) & BLOCK_MASK;
        this.#ring[block * 2] = 0;
        this.#ring[block * 2 + 1] = 0;
      }
      this.#lastHi = hi;
      this.#lastLo = lo;
    } else if (-delta > REPLAY_WINDOW_SIZE) {
      return false; // behind the window
    }

    // Check and set the counter's bit.
    const bit = lo & BIT_MASK;
    const word = ((lo >>> BLOCK_BITS_LOG) & BLOCK_MASK) * 2 + (bit >>> 5);
    const mask = 1 << (bit & 31);
    const old = this.#ring[word]!;
    if ((old & mask) !== 0) return false;
    this.#ring[word] = old | mask;
    return true;
  }
}
