// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REPLAY_WINDOW_SIZE, ReplayFilter } from '../src/replay.ts';

const MASK_32 = 0xffff_ffffn;
/** REJECT_AFTER_MESSAGES = 2^64 − 2^13 − 1 (whitepaper §6.1, kernel messages.h). */
const R = 2n ** 64n - 2n ** 13n - 1n;

/** Splits a u64 counter into the (hi, lo) halves the filter takes. BigInt only in the test. */
function check(filter: ReplayFilter, counter: bigint, limit?: bigint): boolean {
  const hi = Number((counter >> 32n) & MASK_32);
  const lo = Number(counter & MASK_32);
  if (limit === undefined) return filter.validateCounter(hi, lo);
  return filter.validateCounter(hi, lo, Number(limit >> 32n), Number(limit & MASK_32));
}

describe('ReplayFilter', () => {
  it('has the wireguard-go window of 8128 counters', () => {
    assert.equal(REPLAY_WINDOW_SIZE, 8128);
  });

  // The numbered cases of the kernel's selftest (src/selftest/counter.c), as ported to
  // wireguard-go replay/replay_test.go, with T = T_LIM = window + 1 and R the reject limit.
  it('passes the kernel counter selftest sequence', () => {
    const T = BigInt(REPLAY_WINDOW_SIZE + 1);
    const cases: [number, bigint, boolean][] = [
      [1, 0n, true],
      [2, 1n, true],
      [3, 1n, false],
      [4, 9n, true],
      [5, 8n, true],
      [6, 7n, true],
      [7, 7n, false],
      [8, T, true],
      [9, T - 1n, true],
      [10, T - 1n, false],
      [11, T - 2n, true],
      [12, 2n, true],
      [13, 2n, false],
      [14, T + 16n, true],
      [15, 3n, false],
      [16, T + 16n, false],
      [17, T * 4n, true],
      [18, T * 4n - (T - 1n), true],
      [19, 10n, false],
      [20, T * 4n - T, false],
      [21, T * 4n - (T + 1n), false],
      [22, T * 4n - (T - 2n), true],
      [23, T * 4n + 1n - T, false],
      [24, 0n, false],
      [25, R, false],
      [26, R - 1n, true],
      [27, R, false],
      [28, R - 1n, false],
      [29, R - 2n, true],
      [30, R + 1n, false],
      [31, R + 2n, false],
      [32, R - 2n, false],
      [33, R - 3n, true],
      [34, 0n, false],
    ];
    const filter = new ReplayFilter();
    for (const [n, counter, expected] of cases) {
      assert.equal(check(filter, counter), expected, `case ${n}: counter ${counter}`);
    }
  });

  // The six bulk tests that follow the numbered cases in the same sources.
  const W = REPLAY_WINDOW_SIZE;
  const bulk: [string, (f: ReplayFilter) => void][] = [
    [
      'ascending 1..W, then 0 is still inside the window',
      (f) => {
        for (let i = 1; i <= W; i++) assert.equal(check(f, BigInt(i)), true, `${i}`);
        assert.equal(check(f, 0n), true);
        assert.equal(check(f, 0n), false);
      },
    ],
    [
      'ascending 2..W+1, then 1 is at the edge and 0 past it',
      (f) => {
        for (let i = 2; i <= W + 1; i++) assert.equal(check(f, BigInt(i)), true, `${i}`);
        assert.equal(check(f, 1n), true);
        assert.equal(check(f, 0n), false);
      },
    ],
    [
      'descending W+1..1',
      (f) => {
        for (let i = W + 1; i > 0; i--) assert.equal(check(f, BigInt(i)), true, `${i}`);
      },
    ],
    [
      'descending W+2..2, then 0 is past the edge',
      (f) => {
        for (let i = W + 2; i > 1; i--) assert.equal(check(f, BigInt(i)), true, `${i}`);
        assert.equal(check(f, 0n), false);
      },
    ],
    [
      'descending W..1, then W+1 moves the window and 0 falls out',
      (f) => {
        for (let i = W; i > 0; i--) assert.equal(check(f, BigInt(i)), true, `${i}`);
        assert.equal(check(f, BigInt(W + 1)), true);
        assert.equal(check(f, 0n), false);
      },
    ],
    [
      'descending W..1, then 0 before W+1',
      (f) => {
        for (let i = W; i > 0; i--) assert.equal(check(f, BigInt(i)), true, `${i}`);
        assert.equal(check(f, 0n), true);
        assert.equal(check(f, BigInt(W + 1)), true);
      },
    ],
  ];
  for (const [name, run] of bulk) {
    it(`bulk: ${name}`, () => {
      const filter = new ReplayFilter();
      // Dirty the filter first so reset() is exercised too.
      check(filter, 123_456n);
      filter.reset();
      run(filter);
    });
  }

  it('honours an explicit limit', () => {
    const filter = new ReplayFilter();
    assert.equal(check(filter, 99n, 100n), true);
    assert.equal(check(filter, 100n, 100n), false);
    assert.equal(check(filter, 101n, 100n), false);
    assert.equal(check(filter, 5n, 100n), true);
  });

  it('crosses the 2^32 boundary between the halves', () => {
    const filter = new ReplayFilter();
    const base = 2n ** 32n - 5n;
    for (let i = 0n; i < 10n; i++) assert.equal(check(filter, base + i), true, `${base + i}`);
    for (let i = 0n; i < 10n; i++) assert.equal(check(filter, base + i), false, `${base + i}`);
    assert.equal(check(filter, base - BigInt(W) + 9n), true); // exactly at the edge
    assert.equal(check(filter, base - BigInt(W) + 8n), false); // one past it
  });

  // A direct BigInt transcription of the RFC 6479 algorithm (wireguard-go replay.go semantics),
  // compared against the (hi, lo) implementation on random walks with small steps, jumps of
  // whole rings, steps across 2^32 and 2^53, and old counters.
  it('agrees with a BigInt model on random walks', () => {
    class Model {
      last = 0n;
      ring = new Array<bigint>(128).fill(0n);
      validate(counter: bigint): boolean {
        if (counter >= R) return false;
        const index = counter >> 6n;
        if (counter > this.last) {
          const current = this.last >> 6n;
          let diff = index - current;
          if (diff > 128n) diff = 128n;
          for (let i = current + 1n; i <= current + diff; i++) this.ring[Number(i & 127n)] = 0n;
          this.last = counter;
        } else if (this.last - counter > BigInt(W)) {
          return false;
        }
        const slot = Number(index & 127n);
        const old = this.ring[slot]!;
        const next = old | (1n << (counter & 63n));
        this.ring[slot] = next;
        return old !== next;
      }
    }
    let seed = 0x2545f491;
    const random = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const starts = [0n, 2n ** 32n - 3000n, 2n ** 53n - 3000n, R - 20_000n];
    let accepted = 0;
    let refused = 0;
    for (const start of starts) {
      const filter = new ReplayFilter();
      const model = new Model();
      let head = start;
      for (let step = 0; step < 4000; step++) {
        const r = random();
        let counter: bigint;
        if (r < 0.5)
          counter = head + BigInt(Math.floor(random() * 200)); // forward, small
        else if (r < 0.85)
          counter = head - BigInt(Math.floor(random() * (W + 200))); // old
        else if (r < 0.95)
          counter = head + BigInt(Math.floor(random() * 3 * W)); // big jump
        else counter = head + BigInt(Math.floor(random() * 2 ** 40)); // far jump
        if (counter < 0n) counter = 0n;
        if (counter >= 2n ** 64n) counter = 2n ** 64n - 1n;
        if (counter > head) head = counter;
        const expected = model.validate(counter);
        assert.equal(check(filter, counter), expected, `start ${start}, step ${step}: ${counter}`);
        if (expected) accepted++;
        else refused++;
      }
    }
    // Both outcomes must actually occur, or the comparison proves little.
    assert.ok(accepted > 1000 && refused > 1000, `${accepted} accepted, ${refused} refused`);
  });
});
