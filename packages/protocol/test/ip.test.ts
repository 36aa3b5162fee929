// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canonicalIp,
  ipv4PrefixContains,
  ipv4PrefixesOverlap,
  ipv4PrefixLast,
  ipv4PrefixMask,
  ipv4ToNumber,
  ipv6PrefixContains,
  ipv6WithIPv4,
  isInterfaceName,
  isPublicIPv4,
  isUsableIPv4,
  nameProblem,
  numberToIPv4,
  parseIPv4Cidr,
  parseIPv6Prefix,
  parseIp,
  parseListen,
} from '../src/index.ts';

describe('IP addresses', () => {
  it('parses strictly: four decimal parts without leading zeros, IPv6 without zone', () => {
    assert.equal(ipv4ToNumber('203.0.113.7'), 0xcb007107);
    for (const bad of ['010.0.0.1', '1.2.3', '1.2.3.4.5', '256.1.1.1', '0x7f.0.0.1', '1.2.3.4 ']) {
      assert.equal(parseIp(bad), null, bad);
    }
    assert.equal(parseIp('fe80::1%eth0'), null);
    assert.deepEqual(parseIp('[2001:DB8::0:1]'), {
      family: 6,
      bytes: Uint8Array.from([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
      canonical: '2001:db8::1',
    });
    assert.equal(canonicalIp('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
    assert.equal(ipv4ToNumber('[192.0.2.1]'), null, 'brackets are for IPv6');
  });

  it('tells public from private, and usable from special', () => {
    const table: [string, boolean, boolean][] = [
      // address, public, usable
      ['203.0.113.7', true, true], // documentation ranges stand for the internet in labs
      ['8.8.8.8', true, true],
      ['10.0.0.5', false, true], // edge-NAT clouds give the host a private WAN address
      ['100.64.1.1', false, true],
      ['169.254.1.1', false, false],
      ['127.0.0.1', false, false],
      ['0.1.2.3', false, false],
      ['224.0.0.1', false, false],
      ['240.0.0.1', false, false],
      ['255.255.255.255', false, false],
    ];
    for (const [ip, pub, usable] of table) {
      assert.equal(isPublicIPv4(ip), pub, `${ip} public`);
      assert.equal(isUsableIPv4(ip), usable, `${ip} usable`);
    }
  });

  it('formats numbers back to dotted quads', () => {
    for (const text of ['0.0.0.0', '10.59.7.1', '192.0.2.255', '255.255.255.255']) {
      assert.equal(numberToIPv4(ipv4ToNumber(text) as number), text);
    }
  });

  it('parses IPv4 CIDRs strictly, keeping the host and masking the network', () => {
    assert.deepEqual(parseIPv4Cidr('10.59.7.1/24'), {
      address: 0x0a3b0701,
      prefix: { network: 0x0a3b0700, length: 24 },
    });
    assert.deepEqual(parseIPv4Cidr('0.0.0.0/0'), { address: 0, prefix: { network: 0, length: 0 } });
    assert.deepEqual(parseIPv4Cidr('255.255.255.255/32')?.prefix, {
      network: 0xffffffff,
      length: 32,
    });
    // ipaddr.js's own parseCIDR takes the first four (octal, hex, a short form, parseInt length)
    for (const bad of [
      '010.0.0.1/8',
      '0x0a.0.0.1/8',
      '10.1/16',
      '10.59.7.1/024',
      '10.59.7.1/+24',
      '10.59.7.1/33',
      '10.59.7.1/',
      '10.59.7.1',
      '[10.59.7.1]/24',
      '10.59.7.1/24 ',
      '2001:db8::/32',
    ]) {
      assert.equal(parseIPv4Cidr(bad), null, bad);
    }
  });

  it('answers IPv4 prefix containment and overlap', () => {
    const prefix = (text: string) => parseIPv4Cidr(text)!.prefix;
    const lan = prefix('10.59.7.1/24');
    assert.equal(ipv4PrefixMask(24), 0xffffff00);
    assert.equal(ipv4PrefixMask(0), 0);
    assert.equal(ipv4PrefixLast(lan), 0x0a3b07ff);
    assert.equal(ipv4PrefixContains(lan, 0x0a3b0702), true);
    assert.equal(ipv4PrefixContains(lan, 0x0a3b0800), false);
    assert.equal(ipv4PrefixContains(prefix('0.0.0.0/0'), 0xffffffff), true);
    assert.equal(ipv4PrefixContains(prefix('10.59.7.1/32'), 0x0a3b0701), true);
    assert.equal(ipv4PrefixContains(prefix('10.59.7.1/32'), 0x0a3b0702), false);
    assert.equal(ipv4PrefixesOverlap(prefix('10.59.0.0/16'), lan), true);
    assert.equal(ipv4PrefixesOverlap(lan, prefix('10.59.0.0/16')), true);
    assert.equal(ipv4PrefixesOverlap(lan, prefix('10.59.8.0/24')), false);
    assert.equal(ipv4PrefixesOverlap(prefix('224.0.0.0/3'), prefix('240.0.0.0/4')), true);
  });

  it('parses IPv6 prefixes strictly, clearing the host bits', () => {
    const prefix = parseIPv6Prefix('2001:DB8:1:0::5/64');
    assert.equal(prefix?.network, '2001:db8:1::');
    assert.equal(prefix?.length, 64);
    assert.deepEqual(
      prefix?.bytes,
      Uint8Array.from([0x20, 1, 0xd, 0xb8, 0, 1, ...Array(10).fill(0)])
    );
    assert.equal(parseIPv6Prefix('2001:db8::1/128')?.network, '2001:db8::1');
    assert.equal(parseIPv6Prefix('2001:db8::1/0')?.network, '::');
    assert.equal(parseIPv6Prefix('2001:db8:ffff::/33')?.network, '2001:db8:8000::');
    for (const bad of [
      '2001:db8::/064',
      '2001:db8::/129',
      '2001:db8::',
      '[2001:db8::]/64',
      'fe80::%eth0/64',
      '2001:db8:::/64',
      '10.59.0.0/16',
      '2001:db8::/64 ',
    ]) {
      assert.equal(parseIPv6Prefix(bad), null, bad);
    }
  });

  it('puts an IPv4 address in the low bits of an IPv6 prefix', () => {
    const at = (prefix: string, ipv4: string) =>
      ipv6WithIPv4(parseIPv6Prefix(prefix)!, ipv4ToNumber(ipv4)!);
    assert.equal(at('2001:db8:1::/64', '10.59.7.2'), '2001:db8:1::a3b:702');
    // the /96 examples of RFC 6052 §2.4: 2001:db8:122:344::192.0.2.33, 64:ff9b::192.0.2.33
    assert.equal(at('2001:db8:122:344::/96', '192.0.2.33'), '2001:db8:122:344::c000:221');
    assert.equal(at('64:ff9b::/96', '192.0.2.33'), '64:ff9b::c000:221');
    // longer than /96: only the bits the prefix leaves come from the IPv4 address
    assert.equal(at('2001:db8:1::ab00:0/104', '10.59.7.2'), '2001:db8:1::ab3b:702');
    assert.equal(at('2001:db8:1::ab00:0/120', '10.59.7.2'), '2001:db8:1::ab00:2');
    assert.equal(at('2001:db8:1::ab00:1/128', '10.59.7.2'), '2001:db8:1::ab00:1');
    assert.equal(at('::/0', '255.255.255.255'), '::ffff:ffff');
    const prefix = parseIPv6Prefix('2001:db8:1::/64')!;
    assert.throws(() => ipv6WithIPv4(prefix, 2 ** 32), RangeError);
    assert.throws(() => ipv6WithIPv4(prefix, -1), RangeError);
    assert.throws(() => ipv6WithIPv4({ bytes: new Uint8Array(4), length: 24 }, 1), RangeError);
    assert.throws(() => ipv6WithIPv4({ ...prefix, length: 129 }, 1), RangeError);
  });

  it('answers IPv6 prefix containment', () => {
    const prefix = parseIPv6Prefix('2001:db8:1::/64')!;
    assert.equal(ipv6PrefixContains(prefix, '2001:db8:1::a3b:702'), true);
    assert.equal(ipv6PrefixContains(prefix, '2001:DB8:1:0:ffff:ffff:ffff:ffff'), true);
    assert.equal(ipv6PrefixContains(prefix, '2001:db8:1:1::'), false);
    assert.equal(ipv6PrefixContains(prefix, '2001:db8:2::1'), false);
    assert.equal(ipv6PrefixContains(parseIPv6Prefix('::/0')!, '2001:db8:2::1'), true);
    assert.equal(ipv6PrefixContains(parseIPv6Prefix('2001:db8:1::/127')!, '2001:db8:1::1'), true);
    assert.equal(ipv6PrefixContains(parseIPv6Prefix('2001:db8:1::/127')!, '2001:db8:1::2'), false);
    for (const bad of ['10.59.7.2', '2001:db8:1::1%eth0', '2001:db8:1::/64', 'x']) {
      assert.equal(ipv6PrefixContains(prefix, bad), false, bad);
    }
  });

  it('reads listen addresses', () => {
    assert.deepEqual(parseListen('[2001:db8::1]:8443'), { host: '2001:db8::1', port: 8443 });
    assert.deepEqual(parseListen('203.0.113.1:443'), { host: '203.0.113.1', port: 443 });
    assert.throws(() => parseListen('2001:db8::1:443'), /expected IP:PORT/);
    assert.throws(() => parseListen('203.0.113.1:70000'), /expected IP:PORT/);
  });
});

describe('names', () => {
  it('refuse every character that breaks a line or reorders text', () => {
    for (const c of ['\n', '\r', '\u0085', '\u2028', '\u2029', '\u009b', '\u202e', '\u2067']) {
      assert.match(nameProblem(`a${c}b`) ?? '', /control characters/, JSON.stringify(c));
    }
    assert.equal(nameProblem('café ☕ 🏠'), null);
    assert.match(nameProblem('x'.repeat(65)) ?? '', /longer than 64/);
    assert.match(nameProblem('') ?? '', /empty/);
  });

  it('one interface-name rule', () => {
    for (const ok of ['wg0', 'wg-start-tunnel', 'a=b', 'x.y+z_1'])
      assert.ok(isInterfaceName(ok), ok);
    for (const bad of ['', '.', '..', 'a/b', 'a b', 'sixteen-chars-xx', 'wg0\n']) {
      assert.equal(isInterfaceName(bad), false, JSON.stringify(bad));
    }
  });
});
