// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TAI64N_SIZE, tai64n, tai64nAfter } from '../src/tai64n.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function stamp(unixMs: number): Uint8Array {
  const out = new Uint8Array(TAI64N_SIZE);
  tai64n(out, unixMs);
  return out;
}

describe('tai64n', () => {
  // Expected bytes computed independently with Python:
  //   struct.pack('>QI', 2**62 + 10 + s, (ms % 1000 * 10**6) & ~0xffffff & 0xffffffff)
  const known: [number, string][] = [
    [0, '400000000000000a00000000'],
    [1_700_000_000_123, '400000006553f10a07000000'],
    [1_700_000_000_999, '400000006553f10a3b000000'],
    // Past 2^32 seconds since the label base: the carry reaches the high word.
    [5_000_000_000_000, '400000012a05f20a00000000'],
    // One millisecond before the epoch: seconds −1, 999 ms.
    [-1, '40000000000000093b000000'],
  ];
  for (const [ms, expected] of known) {
    it(`encodes ${ms} ms as ${expected}`, () => {
      assert.equal(hex(stamp(ms)), expected);
    });
  }

  it('writes at an offset and leaves the rest alone', () => {
    const out = new Uint8Array(TAI64N_SIZE + 6).fill(0xee);
    tai64n(out, 1_700_000_000_123, 3);
    assert.equal(hex(out), `eeeeee${'400000006553f10a07000000'}eeeeee`);
  });

  it('whitens the nanoseconds to multiples of 2^24 ns', () => {
    // 16 ms = 0xf42400 ns stays under 2^24 and vanishes; 17 ms crosses it.
    assert.equal(hex(stamp(1_700_000_000_016)), hex(stamp(1_700_000_000_000)));
    assert.equal(hex(stamp(1_700_000_000_017)).slice(16), '01000000');
    for (let ms = 0; ms < 1000; ms += 7) {
      const nanos = new DataView(stamp(1_700_000_000_000 + ms).buffer).getUint32(8);
      assert.equal(nanos & 0xff_ffff, 0);
      assert.ok(nanos <= ms * 1e6 && ms * 1e6 - nanos < 2 ** 24);
    }
  });

  it('orders stamps by time, strictly', () => {
    const a = stamp(1_700_000_000_000);
    const b = stamp(1_700_000_000_100);
    const c = stamp(1_700_000_001_000);
    assert.equal(tai64nAfter(b, a), true);
    assert.equal(tai64nAfter(a, b), false);
    assert.equal(tai64nAfter(c, b), true);
    assert.equal(tai64nAfter(a, a), false);
    assert.equal(tai64nAfter(a, Uint8Array.from(a)), false);
    // Within one whitening step two stamps are equal, so the later one is refused.
    assert.equal(tai64nAfter(stamp(1_700_000_000_005), stamp(1_700_000_000_001)), false);
    // Compared unsigned: 0xff in the nanoseconds beats 0x00.
    const x = Uint8Array.from(a);
    const y = Uint8Array.from(a);
    x[8] = 0xff;
    y[8] = 0x00;
    assert.equal(tai64nAfter(x, y), true);
    assert.equal(tai64nAfter(y, x), false);
  });

  it('is monotone over a sweep of times', () => {
    let previous = stamp(1_600_000_000_000);
    for (let ms = 1_600_000_000_000 + 17; ms < 1_600_000_003_000; ms += 17) {
      const next = stamp(ms);
      assert.equal(tai64nAfter(previous, next), false, `${ms}`);
      previous = next;
    }
  });

  it('rejects a non-finite time and a short buffer', () => {
    assert.throws(() => stamp(Number.NaN), {
      name: 'TypeError',
      message: 'Cannot encode TAI64N timestamp "NaN": time must be finite',
    });
    assert.throws(() => tai64n(new Uint8Array(12), 0, 1), RangeError);
  });
});
