// SPDX-License-Identifier: MIT
// The address keys the login gate counts under (the gate itself: login-gate.test.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aggregateKey, throttleKey } from '../src/throttle.ts';

describe('throttle keys', () => {
  it('counts IPv6 by /64 and IPv4-mapped addresses as IPv4', () => {
    assert.equal(throttleKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(throttleKey('2001:db8:1:2::ffff'), '2001:db8:1:2::/64');
    assert.equal(throttleKey('2001:db8::5:6:7:8'), '2001:db8:0:0::/64');
    assert.equal(throttleKey('::ffff:198.51.100.1'), '198.51.100.1');
    assert.equal(throttleKey(''), 'unknown');
  });

  it('aggregates IPv4 by /24 and IPv6 by /48', () => {
    assert.equal(aggregateKey('198.51.100.7'), aggregateKey('198.51.100.200'));
    assert.notEqual(aggregateKey('198.51.100.7'), aggregateKey('198.51.101.7'));
    assert.equal(aggregateKey('2001:db8:1:2::1'), aggregateKey('2001:db8:1:ffff::1'));
    assert.notEqual(aggregateKey('2001:db8:1::1'), aggregateKey('2001:db8:2::1'));
  });
});
