// SPDX-License-Identifier: MIT
/**
 * Rule generation against golden JSON (`test/golden/*.json`, the exact `nft -j -f -` batch,
 * compared as parsed JSON so Biome may format the files), plus checks of what each scenario
 * must and must not contain, so a carelessly regenerated golden still fails here. Regenerate
 * deliberately (see `test/golden/README.md`):
 * `UPDATE_GOLDEN=1 node scripts/run-tests.mjs packages/nat/test/rules`, then
 * `npx biome format --write packages/nat/test/golden`, and review the diff.
 * @module
 */

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  buildRuleset,
  type NatState,
  type NftBatch,
  type NftRule,
  TABLE_FAMILY,
  TABLE_NAME,
} from '../src/index.ts';
import { BASE, withForwards } from './fixtures.ts';

const GOLDEN = new URL('./golden/', import.meta.url);
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

const SCENARIOS: Record<string, NatState> = {
  // every protocol choice, a changed target port, a disabled forward
  protocols: withForwards(
    { source: '443', target: '10.59.1.2:8443', protocol: 'tcp', label: 'web' },
    { source: '443', target: '10.59.1.2', protocol: 'udp', label: 'quic' },
    { source: '25565', target: '10.59.2.5', protocol: 'both' },
    { source: '8080', target: '10.59.1.3:80', protocol: 'tcp', enabled: false }
  ),
  // port-preserving and offset ranges, one protocol and both, an explicit public address
  ranges: withForwards(
    { source: '8000-8010', target: '10.59.1.2', protocol: 'tcp' },
    { source: '9000-9002', target: '10.59.1.2:7000', protocol: 'udp' },
    { source: '9100-9102', target: '10.59.2.2:7100', protocol: 'both' },
    { source: '198.51.100.7:8000-8001', target: '10.59.2.2', protocol: 'both' }
  ),
  // isolation and every egress choice, no forwards, two WANs, no known public address
  isolation: {
    wan: { interfaces: ['eth0', 'eth1'] },
    wireguard: { interface: 'wg-start-tunnel', listenPort: 51820 },
    subnets: [
      { cidr: '10.59.3.1/24', egress: 'none' },
      { cidr: '10.59.1.1/24', egress: 'masquerade' },
      { cidr: '10.59.2.1/24', egress: '203.0.113.1' },
    ],
    forwards: [],
  },
  // StartTunnel 1.5: a subnet with an IPv6 prefix and pinholes (one remapped, one disabled), a
  // device leaving by an address of its own
  ipv6: {
    wan: { interfaces: ['eth0'], address: '203.0.113.1' },
    wireguard: { interface: 'wg-start-tunnel', listenPort: 51820 },
    subnets: [
      { cidr: '10.59.1.1/24', ipv6: '2001:db8:1::/64' },
      { cidr: '10.59.2.1/24', egress: 'none', ipv6: '2001:db8:2::/64' },
    ],
    forwards: [],
    hostEgress: [{ source: '10.59.1.7', address: '203.0.113.2' }],
    transparentMark: 0x540001,
    pinholes: [
      { address: '2001:db8:1::a3b:102', ports: '443' },
      { address: '2001:db8:1::a3b:102', ports: '8080-8081', internalPort: 80 },
      { address: '2001:db8:1::a3b:103', ports: '22', enabled: false },
    ],
  },
  // the opt-in to keep the visitor's source address
  'keep-source': withForwards(
    { source: '443', target: '10.59.1.2', protocol: 'tcp', keepSource: true },
    { source: '3478', target: '10.59.1.2', protocol: 'both', keepSource: true },
    { source: '80', target: '10.59.1.2', protocol: 'tcp' }
  ),
};

function rules(batch: NftBatch, chain: string): NftRule[] {
  const out: NftRule[] = [];
  for (const command of batch.nftables) {
    if ('add' in command && 'rule' in command.add && command.add.rule.chain === chain) {
      out.push(command.add.rule);
    }
  }
  return out;
}

/** A rule as compact JSON, for `includes` checks. */
const text = (rule: NftRule) => JSON.stringify(rule.expr);
const counters = (batch: NftBatch) =>
  batch.nftables.flatMap((c) => ('add' in c && 'counter' in c.add ? [c.add.counter.name] : []));

describe('golden rulesets', () => {
  for (const [name, state] of Object.entries(SCENARIOS)) {
    it(`${name}.json`, () => {
      const file = new URL(`${name}.json`, GOLDEN);
      const actual = buildRuleset(state);
      if (UPDATE) writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
      assert.deepEqual(actual, JSON.parse(readFileSync(file, 'utf8')));
    });
  }
});

describe('IPv6 subnets, pinholes and per-device egress', () => {
  const batch = buildRuleset(SCENARIOS['ipv6']!);
  const forward = rules(batch, 'forward').map(text);

  it('opens a pinhole before the drop of what comes from outside, and only enabled ones', () => {
    const drop = forward.findIndex(
      (r) =>
        r.includes('"op":"!=","left":{"meta":{"key":"iifname"}}') && r.endsWith('{"drop":null}]')
    );
    const open = forward.findIndex(
      (r) => r.includes('"2001:db8:1::a3b:102"') && r.includes('"right":443')
    );
    assert.ok(open >= 0 && drop > open, `pinhole at ${open}, drop at ${drop}`);
    assert.ok(!JSON.stringify(batch).includes('a3b:103'), 'the disabled pinhole leaked');
  });

  it('remaps by DNAT and accepts the remapped flow only after that DNAT', () => {
    const pre = rules(batch, 'prerouting').map(text);
    const dnat = pre.find((r) => r.includes('"family":"ip6"'));
    assert.ok(dnat?.includes('[8080,{"concat":["2001:db8:1::a3b:102",80]}]'), dnat);
    const accept = forward.find((r) => r.includes('"right":{"range":[80,81]}'));
    assert.ok(accept?.includes('"right":"dnat"'), accept);
  });

  it('lets devices of a subnet reach each other over IPv6 and honours egress none', () => {
    assert.ok(
      forward.some(
        (r) =>
          r.includes('"saddr"}},"right":{"prefix":{"addr":"2001:db8:1::","len":64}}') &&
          r.includes('ip6')
      )
    );
    const none = forward.find(
      (r) =>
        r.includes('{"prefix":{"addr":"2001:db8:2::","len":64}}') && r.endsWith('{"drop":null}]')
    );
    assert.ok(none?.includes('"oifname"'), none);
  });

  it('never masquerades IPv6 and SNATs a device with its own WAN before its subnet', () => {
    const post = rules(batch, 'postrouting').map(text);
    const generic = post.filter(
      (x) => x.includes('"masquerade"') && x.includes('"status"') && !x.includes('"protocol":"ip"')
    );
    assert.equal(generic.length, 2);
    for (const r of generic) {
      assert.ok(r.includes('"nfproto"'), r);
    }
    const own = post.findIndex((r) => r.includes('"10.59.1.7"') && r.includes('"203.0.113.2"'));
    const subnet = post.findIndex(
      (r) => r.includes('"addr":"10.59.1.0","len":24') && r.includes('masquerade')
    );
    assert.ok(own >= 0 && own < subnet, `device at ${own}, subnet at ${subnet}`);
  });

  it('keeps the gateways for the tunnel and marks transparent sockets for local delivery', () => {
    const input = rules(batch, 'input').map(text);
    assert.equal(input.length, 3, 'two IPv4 gateways in one rule, one per IPv6 prefix');
    assert.ok(input[0]?.includes('{"set":["10.59.1.1","10.59.2.1"]}'), input[0]);
    assert.ok(input.every((r) => r.includes('"op":"!="') && r.endsWith('{"drop":null}]')));
    const divert = rules(batch, 'divert').map(text);
    assert.deepEqual(divert.length, 1);
    assert.ok(divert[0]?.includes('"transparent"') && divert[0]?.includes('5505025'), divert[0]);
    assert.equal(rules(buildRuleset(BASE), 'divert').length, 0, 'no SNI ports, no divert');
  });

  it('refuses pinholes outside every prefix and overlapping ones, naming the field', () => {
    const bad = (pinholes: unknown[]) => () =>
      buildRuleset({ ...SCENARIOS['ipv6']!, pinholes } as NatState);
    assert.throws(bad([{ address: '2001:db8:9::1', ports: '80' }]), /pinholes\[0\]\.address/);
    assert.throws(
      bad([
        { address: '2001:db8:1::a3b:102', ports: '80-90' },
        { address: '2001:db8:1::a3b:102', ports: '85' },
      ]),
      /pinholes\[1\]\.ports/
    );
    assert.throws(
      () => buildRuleset({ ...BASE, subnets: [{ cidr: '10.59.1.1/24', ipv6: 'fe80::/64x' }] }),
      /subnets\[0\]\.ipv6/
    );
  });
});

describe('buildRuleset()', () => {
  it('replaces our table in one batch that also works when it does not exist', () => {
    const batch = buildRuleset(BASE);
    const table = { family: TABLE_FAMILY, name: TABLE_NAME };
    assert.deepEqual(batch.nftables.slice(0, 3), [
      { add: { table } },
      { delete: { table } },
      { add: { table } },
    ]);
    for (const command of batch.nftables.slice(3)) {
      assert.ok('add' in command);
      const inner = Object.values(command.add)[0] as { family: string; table: string };
      assert.deepEqual([inner.family, inner.table], [TABLE_FAMILY, TABLE_NAME]);
    }
  });

  it('generates DNAT for each protocol choice and leaves disabled forwards out', () => {
    const batch = buildRuleset(SCENARIOS['protocols']!);
    const dnat = rules(batch, 'port-forwards').map(text);
    assert.equal(dnat.length, 3);
    assert.ok(dnat[0]?.includes('{"protocol":"tcp","field":"dport"}},"right":443'));
    assert.ok(dnat[0]?.includes('"port":8443'));
    assert.ok(dnat[1]?.includes('{"protocol":"udp","field":"dport"}},"right":443'));
    assert.ok(dnat[2]?.includes('{"set":["tcp","udp"]}'));
    assert.ok(!JSON.stringify(batch).includes('8080'), 'the disabled forward leaked');
    assert.deepEqual(counters(batch), [
      'isolation',
      'fwd-tcp-wan-443',
      'fwd-udp-wan-443',
      'fwd-both-wan-25565',
    ]);
    // one flow rule per protocol: tcp, udp, and two for "both"
    const flows = rules(batch, 'forward-flows').map(text);
    assert.equal(flows.filter((r) => r.includes('"counter":"fwd-both-wan-25565"')).length, 2);
    assert.equal(flows.at(-1), '[{"drop":null}]');
  });

  it('maps offset ranges port by port and keeps ports of aligned ranges', () => {
    const dnat = rules(buildRuleset(SCENARIOS['ranges']!), 'port-forwards').map(text);
    // the explicit address comes first so it wins over WAN-wide forwards
    assert.ok(dnat[0]?.includes('"right":"198.51.100.7"'));
    const aligned = dnat.find((r) => r.includes('"right":{"range":[8000,8010]}'));
    assert.ok(aligned?.endsWith('{"dnat":{"family":"ip","addr":"10.59.1.2"}}]'));
    const offset = dnat.find((r) => r.includes('[9000,9002]'));
    for (const pair of [
      '[9000,{"concat":["10.59.1.2",7000]}]',
      '[9002,{"concat":["10.59.1.2",7002]}]',
    ]) {
      assert.ok(offset?.includes(pair), pair);
    }
  });

  it('isolates subnets: same-subnet accepts, then a counted drop, for the tunnel only', () => {
    const forward = rules(buildRuleset(SCENARIOS['isolation']!), 'forward').map(text);
    const accepts = forward.filter((r) => r.includes('"accept"') && r.includes('"saddr"'));
    assert.deepEqual(
      accepts.map((r) => /"addr":"([0-9.]+)"/.exec(r)?.[1]),
      ['10.59.1.0', '10.59.2.0', '10.59.3.0']
    );
    const drop = forward.findIndex((r) => r.includes('"counter":"isolation"'));
    assert.ok(drop > forward.indexOf(accepts.at(-1)!));
    for (const rule of forward.filter((r) => r.includes('"drop"'))) {
      assert.ok(rule.includes('"wg-start-tunnel"'), `a drop not about the tunnel: ${rule}`);
    }
  });

  it('masquerades, SNATs or blocks each subnet egress as asked', () => {
    const batch = buildRuleset(SCENARIOS['isolation']!);
    const post = rules(batch, 'postrouting').map(text);
    const egress = post.filter((r) => r.includes('["eth0","eth1"]'));
    assert.equal(egress.length, 2);
    assert.ok(egress[0]?.includes('10.59.1.0') && egress[0].endsWith('{"masquerade":null}]'));
    assert.ok(egress[1]?.includes('10.59.2.0'));
    assert.ok(egress[1]?.endsWith('{"snat":{"family":"ip","addr":"203.0.113.1"}}]'));
    assert.ok(!post.some((r) => r.includes('10.59.3.0')), 'egress "none" got a NAT rule');
    const blocked = rules(batch, 'forward').map(text).at(-1);
    assert.ok(blocked?.includes('10.59.3.0') && blocked.endsWith('{"drop":null}]'));
  });

  it('jumps to DNAT from the public address only when one is known', () => {
    assert.equal(rules(buildRuleset(SCENARIOS['isolation']!), 'output').length, 0);
    assert.equal(rules(buildRuleset(SCENARIOS['isolation']!), 'prerouting').length, 1);
    const output = rules(buildRuleset(SCENARIOS['ranges']!), 'output').map(text);
    assert.deepEqual(output, [
      '[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":{"set":["198.51.100.7","203.0.113.1"]}}},{"jump":{"target":"port-forwards"}}]',
    ]);
  });

  it('keeps the visitor source only for opted-in forwards, never for hairpin', () => {
    const post = rules(buildRuleset(SCENARIOS['keep-source']!), 'postrouting').map(text);
    const hairpin = post.findIndex((r) => r.includes('@subnets'));
    const host = post.findIndex((r) => r.includes('"fib"'));
    const keeps = post.flatMap((r, i) => (r.endsWith('{"accept":null}]') ? [i] : []));
    const masquerade = post.indexOf(
      '[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"wg-start-tunnel"}},{"match":{"op":"in","left":{"ct":{"key":"status"}},"right":"dnat"}},{"match":{"op":"==","left":{"meta":{"key":"nfproto"}},"right":"ipv4"}},{"masquerade":null}]'
    );
    assert.equal(keeps.length, 3, 'tcp 443, then tcp and udp 3478');
    assert.ok(hairpin < keeps[0]! && host < keeps[0]!, 'hairpin must masquerade first');
    assert.ok(keeps.every((i) => i < masquerade));
    assert.ok(!post.some((r) => r.includes('"proto-dst","dir":"original"},"right":80')));
  });

  it('seeds named counters with the values given', () => {
    const batch = buildRuleset(
      SCENARIOS['protocols']!,
      new Map([['fwd-tcp-wan-443', { packets: 7, bytes: 900 }]])
    );
    const seeded = batch.nftables.find(
      (c) => 'add' in c && 'counter' in c.add && c.add.counter.name === 'fwd-tcp-wan-443'
    );
    assert.deepEqual(seeded, {
      add: {
        counter: {
          family: 'inet',
          table: 'start-tunnel',
          name: 'fwd-tcp-wan-443',
          packets: 7,
          bytes: 900,
        },
      },
    });
  });

  it('clamps TCP MSS to the route MTU in both directions through the tunnel', () => {
    const forward = rules(buildRuleset(BASE), 'forward').map(text);
    const clamps = forward.filter((r) => r.includes('"maxseg"'));
    assert.equal(clamps.length, 2);
    assert.ok(clamps[0]?.includes('"iifname"') && clamps[1]?.includes('"oifname"'));
    assert.ok(clamps.every((r) => r.includes('"value":{"rt":{"key":"mtu"}}')));
  });
});
