// SPDX-License-Identifier: MIT
/**
 * The IPv4 and port parsers under the state validation (`src/address.ts`), the addresses and
 * prefixes of them through `@start-tunnel/protocol`.
 * @module
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatIPv4,
  formatPrefix,
  isSpecialIPv4,
  parseCidr,
  parseIPv4,
  parsePortRange,
  prefixContains,
  prefixesOverlap,
  prefixLast,
  prefixMask,
  rangesOverlap,
} from '../src/address.ts';

describe('parseIPv4()', () => {
  it('round-trips dotted quads', () => {
    for (const text of ['0.0.0.0', '10.59.7.1', '192.0.2.255', '255.255.255.255']) {
      const value = parseIPv4(text);
      assert.notEqual(value, null, text);
      assert.equal(formatIPv4(value as number), text);
    }
    assert.equal(parseIPv4('10.59.7.1'), 0x0a3b0701);
  });

  it('refuses anything else, including leading zeros', () => {
    for (const text of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4',
      '010.0.0.1', // 8.0.0.1 to inet_aton and to ipaddr.js's lenient parse
      '0x0a.0.0.1',
      '10.1',
      '167772161',
      '[10.0.0.1]',
      '::ffff:10.0.0.1',
      '1.2.3.4/32',
      '1.2.3.-4',
      ' 1.2.3.4',
      'a.b.c.d',
      '1..3.4',
    ]) {
      assert.equal(parseIPv4(text), null, text);
    }
  });
});

describe('parseCidr()', () => {
  it('keeps the host and masks the network', () => {
    const parsed = parseCidr('10.59.7.1/24');
    assert.deepEqual(parsed, { host: 0x0a3b0701, prefix: { network: 0x0a3b0700, length: 24 } });
    assert.equal(prefixLast(parsed!.prefix), 0x0a3b07ff);
  });

  it('refuses a missing or out-of-range length, or a lenient address', () => {
    for (const text of [
      '10.59.7.1',
      '10.59.7.1/',
      '10.59.7.1/33',
      '10.59.7.1/024',
      '10.59.7/24',
      '010.59.7.1/24',
      '0x0a.59.7.1/24',
      '10.59.7.1/24/24',
      '2001:db8::/64',
    ]) {
      assert.equal(parseCidr(text), null, text);
    }
  });

  it('contains the host it was written with, and nothing past its length', () => {
    const { host, prefix } = parseCidr('10.59.7.1/24')!;
    assert.equal(formatPrefix(prefix), '10.59.7.0/24');
    assert.equal(prefixMask(prefix.length), 0xffffff00);
    assert.equal(prefixContains(prefix, host), true);
    assert.equal(prefixContains(prefix, parseIPv4('10.59.7.255')!), true);
    assert.equal(prefixContains(prefix, parseIPv4('10.59.8.1')!), false);
    assert.equal(prefixContains(prefix, parseIPv4('11.59.7.1')!), false);
    assert.equal(prefixContains(parseCidr('0.0.0.0/0')!.prefix, 0xffffffff), true);
    assert.equal(prefixMask(0), 0);
  });

  it('answers containment and overlap', () => {
    const a = parseCidr('10.59.0.0/16')!.prefix;
    const b = parseCidr('10.59.7.0/24')!.prefix;
    const c = parseCidr('10.60.0.0/24')!.prefix;
    assert.equal(prefixContains(a, 0x0a3b0702), true);
    assert.equal(prefixContains(c, 0x0a3b0702), false);
    assert.equal(prefixesOverlap(a, b), true);
    assert.equal(prefixesOverlap(b, a), true);
    assert.equal(prefixesOverlap(a, c), false);
  });
});

describe('parsePortRange()', () => {
  it('reads ports and ranges', () => {
    assert.deepEqual(parsePortRange('443'), { first: 443, last: 443 });
    assert.deepEqual(parsePortRange('8000-8100'), { first: 8000, last: 8100 });
    assert.deepEqual(parsePortRange('65535'), { first: 65535, last: 65535 });
  });

  it('refuses zero, too large, reversed and malformed', () => {
    for (const text of ['0', '65536', '100-99', '-5', '5-', '08', '1e3', '80,443', '']) {
      assert.equal(parsePortRange(text), null, text);
    }
  });

  it('overlaps inclusively', () => {
    assert.equal(rangesOverlap({ first: 1, last: 10 }, { first: 10, last: 20 }), true);
    assert.equal(rangesOverlap({ first: 1, last: 9 }, { first: 10, last: 20 }), false);
  });
});

describe('isSpecialIPv4()', () => {
  it('flags unspecified, loopback, link-local and multicast only', () => {
    for (const text of [
      '0.0.0.0',
      '0.1.2.3',
      '127.0.0.1',
      '169.254.169.254',
      '224.0.0.1',
      '240.0.0.1',
      '255.255.255.255',
    ]) {
      assert.equal(isSpecialIPv4(parseIPv4(text)!), true, text);
    }
    for (const text of [
      '203.0.113.1',
      '10.59.1.2',
      '192.0.2.1',
      '169.253.0.1',
      '223.255.255.255',
    ]) {
      assert.equal(isSpecialIPv4(parseIPv4(text)!), false, text);
    }
  });
});
