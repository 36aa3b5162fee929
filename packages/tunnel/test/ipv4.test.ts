// SPDX-License-Identifier: MIT
/**
 * The model's IPv4 names (`src/ipv4.ts`) over `@start-tunnel/protocol`'s ip module.
 * @module
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  broadcastOf,
  type Cidr,
  cidrContains,
  cidrsOverlap,
  FORBIDDEN_SUBNET_RANGES,
  formatCidr,
  formatIPv4,
  isPublicIPv4,
  maskOf,
  parseCidr,
  parseIPv4,
} from '../src/ipv4.ts';

/** A subnet the way the model builds one: the written address masked to its network. */
function cidr(text: string): Cidr {
  const parsed = parseCidr(text)!;
  return { network: (parsed.address & maskOf(parsed.bits)) >>> 0, bits: parsed.bits };
}

describe('ipv4', () => {
  it('parses canonical dotted quads only', () => {
    assert.equal(parseIPv4('10.59.7.1'), 0x0a3b0701);
    assert.equal(formatIPv4(0x0a3b0701), '10.59.7.1');
    assert.equal(formatIPv4(0xffffffff), '255.255.255.255');
    for (const bad of ['010.0.0.1', '0x0a.0.0.1', '10.1', '167772161', '1.2.3.4 ', '[1.2.3.4]']) {
      assert.equal(parseIPv4(bad), null, bad);
    }
  });

  it('parses CIDRs, keeping the written address', () => {
    assert.deepEqual(parseCidr('10.59.7.1/24'), { address: 0x0a3b0701, bits: 24 });
    assert.deepEqual(parseCidr('0.0.0.0/0'), { address: 0, bits: 0 });
    for (const bad of [
      '010.59.7.1/24',
      '10.59.7.1/024',
      '10.59.7.1/33',
      '10.59.7/24',
      '10.59.7.1',
    ]) {
      assert.equal(parseCidr(bad), null, bad);
    }
  });

  it('answers containment, overlap and broadcast', () => {
    const lan = cidr('10.59.7.1/24');
    assert.equal(formatCidr(lan.network, lan.bits), '10.59.7.0/24');
    assert.equal(maskOf(24), 0xffffff00);
    assert.equal(maskOf(0), 0);
    assert.equal(broadcastOf(lan), 0x0a3b07ff);
    assert.equal(cidrContains(lan, parseIPv4('10.59.7.1')!), true);
    assert.equal(cidrContains(lan, parseIPv4('10.59.7.255')!), true);
    assert.equal(cidrContains(lan, parseIPv4('10.59.8.1')!), false);
    assert.equal(cidrsOverlap(lan, cidr('10.59.0.0/16')), true);
    assert.equal(cidrsOverlap(cidr('10.59.0.0/16'), lan), true);
    assert.equal(cidrsOverlap(lan, cidr('10.59.8.0/24')), false);
  });

  it('forbids exactly the ranges of addresses that are not usable', () => {
    const forbidden = (text: string) =>
      FORBIDDEN_SUBNET_RANGES.some((range) => cidrsOverlap(range, cidr(text)));
    for (const text of [
      '0.1.0.0/16',
      '127.0.0.0/24',
      '169.254.1.0/24',
      '224.0.0.0/24',
      '240.0.0.0/4',
    ]) {
      assert.equal(forbidden(text), true, text);
    }
    for (const text of ['10.59.7.0/24', '169.253.0.0/16', '192.0.2.0/24', '223.255.255.0/24']) {
      assert.equal(forbidden(text), false, text);
    }
  });

  it('tells public addresses as the contract does', () => {
    assert.equal(isPublicIPv4(parseIPv4('203.0.113.7')!), true);
    assert.equal(isPublicIPv4(parseIPv4('10.59.7.1')!), false);
    assert.equal(isPublicIPv4(parseIPv4('100.64.0.1')!), false);
  });
});
