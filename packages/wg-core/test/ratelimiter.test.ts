// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  RATELIMITER_MAX_ENTRIES,
  RATELIMITER_PACKETS_BURSTABLE,
  RATELIMITER_PACKETS_PER_SECOND,
  Ratelimiter,
} from '../src/ratelimiter.ts';

/** A clock the test moves by hand. */
function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

const familyOf = (address: string): 4 | 6 => (address.includes(':') ? 6 : 4);

function burst(limiter: Ratelimiter, address: string, n: number): boolean[] {
  return Array.from({ length: n }, () => limiter.allow(familyOf(address), address));
}

describe('Ratelimiter', () => {
  it('is 20 packets per second with bursts of 5', () => {
    assert.equal(RATELIMITER_PACKETS_PER_SECOND, 20);
    assert.equal(RATELIMITER_PACKETS_BURSTABLE, 5);
  });

  // The schedule of wireguard-go ratelimiter_test.go (itself after the kernel selftest), run on
  // a fake clock for every address of that test at each step.
  it('follows the burst-then-refill schedule for every source', () => {
    const clock = fakeClock();
    const limiter = new Ratelimiter(clock.now);
    const addresses = [
      '127.0.0.1',
      '192.168.1.1',
      '172.167.2.3',
      '97.231.252.215',
      '248.97.91.167',
      '188.208.233.47',
      '104.2.183.179',
      '72.129.46.120',
      '2001:0db8:0a0b:12f0:0000:0000:0000:0001',
      'f5c2:818f:c052:655a:9860:b136:6894:25f0',
      'b2d7:15ab:48a7:b07c:a541:f144:a9fe:54fc',
      'a47b:786e:1671:a22b:d6f9:4ab0:abc7:c918',
      'ea1e:d155:7f7a:98fb:2bf5:9483:80f6:5445',
      '3f0e:54a2:f5b4:cd19:a21d:58e1:3746:84c4',
    ];
    const cost = 1000 / 20;
    const schedule: [waitMs: number, allowed: boolean, what: string][] = [
      ...Array.from({ length: 5 }, (): [number, boolean, string] => [0, true, 'initial burst']),
      [0, false, 'after burst'],
      [cost, true, 'refilled one packet'],
      [0, false, 'not refilled enough'],
      [2 * cost, true, 'refilled two packets'],
      [0, true, 'second of two'],
      [0, false, 'after the two'],
      [cost - 1, false, 'one millisecond short'],
      [1, true, 'exactly one packet'],
    ];
    for (const [step, [wait, allowed, what]] of schedule.entries()) {
      clock.advance(wait);
      for (const address of addresses) {
        assert.equal(
          limiter.allow(familyOf(address), address),
          allowed,
          `step ${step} (${what}): ${address}`
        );
      }
    }
    assert.equal(limiter.size, addresses.length);
  });

  it('never stores more than a burst, however long the source was quiet', () => {
    const clock = fakeClock();
    const limiter = new Ratelimiter(clock.now);
    assert.deepEqual(burst(limiter, '192.0.2.1', 6), [true, true, true, true, true, false]);
    clock.advance(900); // quiet, but not long enough to be collected
    assert.deepEqual(burst(limiter, '192.0.2.1', 6), [true, true, true, true, true, false]);
  });

  it('keeps sources independent', () => {
    const clock = fakeClock();
    const limiter = new Ratelimiter(clock.now);
    assert.deepEqual(burst(limiter, '192.0.2.1', 6), [true, true, true, true, true, false]);
    assert.deepEqual(burst(limiter, '192.0.2.2', 6), [true, true, true, true, true, false]);
    assert.deepEqual(burst(limiter, '2001:db8:0:1::1', 6), [true, true, true, true, true, false]);
    assert.deepEqual(burst(limiter, '2001:db8:0:2::1', 6), [true, true, true, true, true, false]);
    assert.equal(limiter.size, 4);
  });

  it('buckets IPv6 sources by /64', () => {
    const clock = fakeClock();
    const limiter = new Ratelimiter(clock.now);
    assert.deepEqual(burst(limiter, '2001:db8:1:2::1', 3), [true, true, true]);
    assert.deepEqual(burst(limiter, '2001:db8:1:2:ffff:ffff:ffff:ffff', 3), [true, true, false]);
    assert.equal(limiter.allow(6, '2001:db8:1:3::1'), true, 'the next /64 is another bucket');
    assert.equal(limiter.size, 2);
  });

  it('counts an IPv4-mapped IPv6 source as its IPv4 address', () => {
    const clock = fakeClock();
    const limiter = new Ratelimiter(clock.now);
    assert.deepEqual(burst(limiter, '198.51.100.9', 4), [true, true, true, true]);
    assert.equal(limiter.allow(6, '::ffff:198.51.100.9'), true);
    assert.equal(limiter.allow(6, '::ffff:c633:6409'), false);
    assert.equal(limiter.size, 1);
  });

  it('refuses what it cannot parse, without storing it', () => {
    const limiter = new Ratelimiter(fakeClock().now);
    assert.equal(limiter.allow(4, 'not an address'), false);
    assert.equal(limiter.allow(4, '2001:db8::1'), false, 'family mismatch');
    assert.equal(limiter.allow(6, '192.0.2.1'), false, 'family mismatch');
    assert.equal(limiter.allow(4, '192.0.2.0/24'), false, 'a prefix is not an address');
    assert.equal(limiter.size, 0);
  });

  it('does not refill when the clock steps back', () => {
    const clock = fakeClock();
    const limiter = new Ratelimiter(clock.now);
    burst(limiter, '192.0.2.1', 5);
    clock.advance(-500);
    assert.equal(limiter.allow(4, '192.0.2.1'), false);
    clock.advance(50);
    assert.equal(limiter.allow(4, '192.0.2.1'), true);
  });

  it('collects entries idle for more than a second, lazily', () => {
    const clock = fakeClock();
    const limiter = new Ratelimiter(clock.now);
    for (let i = 1; i <= 10; i++) limiter.allow(4, `192.0.2.${i}`);
    assert.equal(limiter.size, 10);
    clock.advance(600);
    limiter.allow(4, '192.0.2.1'); // keeps .1 fresh
    clock.advance(400); // a sweep is due; the others are idle for exactly 1 s: kept
    limiter.allow(4, '198.51.100.1');
    assert.equal(limiter.size, 11);
    clock.advance(999); // no sweep yet: the last one was 999 ms ago
    limiter.allow(4, '198.51.100.1');
    assert.equal(limiter.size, 11);
    clock.advance(1); // sweep: .2-.10 idle 2 s and .1 idle 1.4 s go; 198.51.100.1 stays
    limiter.allow(4, '198.51.100.2');
    assert.equal(limiter.size, 2);
    // A collected source comes back with a fresh bucket.
    assert.deepEqual(burst(limiter, '192.0.2.2', 6), [true, true, true, true, true, false]);
  });

  it('refuses new sources when the table is full, until a sweep frees room', () => {
    const clock = fakeClock();
    const limiter = new Ratelimiter(clock.now);
    for (let i = 0; i < RATELIMITER_MAX_ENTRIES; i++) {
      const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      assert.equal(limiter.allow(4, address), true, address);
    }
    assert.equal(limiter.size, RATELIMITER_MAX_ENTRIES);
    assert.equal(limiter.allow(4, '192.0.2.1'), false, 'full');
    assert.equal(limiter.allow(4, '10.0.0.0'), true, 'a known source still has tokens');
    assert.equal(limiter.size, RATELIMITER_MAX_ENTRIES);
    clock.advance(1_001);
    assert.equal(limiter.allow(4, '192.0.2.1'), true, 'after the sweep');
    assert.equal(limiter.size, 1);
  });

  it('forgets everything on close', () => {
    const clock = fakeClock();
    const limiter = new Ratelimiter(clock.now);
    burst(limiter, '192.0.2.1', 5);
    limiter.close();
    assert.equal(limiter.size, 0);
    assert.equal(limiter.allow(4, '192.0.2.1'), true);
  });
});
