// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginThrottle, MAX_TRACKED, throttleKey } from '../src/throttle.ts';
import { Clock } from './_clock.ts';

const per = { burst: 3, refillMs: 10_000 };
const all = { burst: 5, refillMs: 2_000 };

describe('login throttle', () => {
  it('allows a burst per address, then one attempt per refill period', () => {
    const clock = new Clock();
    const t = new LoginThrottle(clock.now, per, all);
    for (let i = 0; i < 3; i++) assert.equal(t.attempt('198.51.100.1').allowed, true);
    const refused = t.attempt('198.51.100.1');
    assert.deepEqual(refused, { allowed: false, retryAfterSeconds: 10, scope: 'address' });
    clock.advance(5_000);
    assert.equal(t.attempt('198.51.100.1').retryAfterSeconds, 5);
    clock.advance(5_000);
    assert.equal(t.attempt('198.51.100.1').allowed, true);
    assert.equal(t.attempt('198.51.100.1').allowed, false);
  });

  it('keeps addresses apart, and a success restores the address', () => {
    const clock = new Clock();
    const t = new LoginThrottle(clock.now, per, { burst: 100, refillMs: 1 });
    for (let i = 0; i < 3; i++) t.attempt('198.51.100.1');
    assert.equal(t.attempt('198.51.100.1').allowed, false);
    assert.equal(t.attempt('198.51.100.2').allowed, true, 'another address is not affected');
    t.succeeded('198.51.100.1');
    assert.equal(t.attempt('198.51.100.1').allowed, true);
  });

  it('limits all addresses together', () => {
    const clock = new Clock();
    const t = new LoginThrottle(clock.now, per, all);
    for (let i = 0; i < 5; i++) assert.equal(t.attempt(`198.51.100.${i}`).allowed, true);
    const refused = t.attempt('198.51.100.99');
    assert.equal(refused.allowed, false);
    assert.equal(refused.scope, 'global');
    assert.equal(refused.retryAfterSeconds, 2);
    clock.advance(2_000);
    assert.equal(t.attempt('198.51.100.99').allowed, true);
  });

  it('counts IPv6 by /64 and IPv4-mapped addresses as IPv4', () => {
    assert.equal(throttleKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(throttleKey('2001:db8:1:2::ffff'), '2001:db8:1:2::/64');
    assert.equal(throttleKey('2001:db8::5:6:7:8'), '2001:db8:0:0::/64');
    assert.equal(throttleKey('::ffff:198.51.100.1'), '198.51.100.1');
    const clock = new Clock();
    const t = new LoginThrottle(clock.now, per, { burst: 100, refillMs: 1 });
    for (let i = 1; i <= 3; i++) t.attempt(`2001:db8:1:2::${i}`);
    assert.equal(t.attempt('2001:db8:1:2::99').allowed, false);
    assert.equal(t.attempt('2001:db8:1:3::1').allowed, true);
  });

  it('tracks a bounded number of addresses', () => {
    const clock = new Clock();
    const t = new LoginThrottle(clock.now, per, { burst: 1e9, refillMs: 1 });
    for (let i = 0; i < MAX_TRACKED + 100; i++) {
      t.attempt(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    }
    assert.ok(t.tracked <= MAX_TRACKED);
  });
});
