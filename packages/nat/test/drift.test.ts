// SPDX-License-Identifier: MIT
/**
 * `compareTable`: what the kernel adds (handles, counter values, set order) is not drift;
 * missing, extra, changed and reordered objects are.
 * @module
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareTable, type NftObject, type NftRule } from '../src/index.ts';

const IN = { family: 'inet', table: 'start-tunnel' } as const;
const rule = (chain: string, ...expr: NftRule['expr']): NftObject => ({
  rule: { ...IN, chain, expr },
});
const ifname = (name: unknown) =>
  ({
    match: { op: '==', left: { meta: { key: 'iifname' } }, right: name },
  }) as NftRule['expr'][number];

const EXPECTED: NftObject[] = [
  { counter: { ...IN, name: 'isolation', packets: 0, bytes: 0 } },
  {
    set: {
      ...IN,
      name: 'subnets',
      type: 'ipv4_addr',
      flags: ['interval'],
      elem: [
        { prefix: { addr: '10.59.1.0', len: 24 } },
        { prefix: { addr: '10.59.2.0', len: 24 } },
      ],
    },
  },
  { chain: { ...IN, name: 'forward', type: 'filter', hook: 'forward', prio: 0, policy: 'accept' } },
  rule('forward', ifname({ set: ['eth0', 'eth1'] }), { accept: null }),
  rule('forward', ifname('wg0'), { drop: null }),
];

/** The listing the kernel would give for EXPECTED: handles, counts, hash-set order of its own. */
const LISTED: NftObject[] = [
  { counter: { ...IN, name: 'isolation', handle: 9, packets: 812, bytes: 64000 } },
  {
    set: {
      ...IN,
      name: 'subnets',
      handle: 3,
      type: 'ipv4_addr',
      flags: ['interval'],
      elem: [
        { prefix: { addr: '10.59.2.0', len: 24 } },
        { prefix: { addr: '10.59.1.0', len: 24 } },
      ],
    },
  },
  {
    chain: {
      ...IN,
      name: 'forward',
      handle: 1,
      type: 'filter',
      hook: 'forward',
      prio: 0,
      policy: 'accept',
    },
  },
  {
    rule: {
      ...IN,
      chain: 'forward',
      handle: 4,
      expr: [ifname({ set: ['eth1', 'eth0'] }), { accept: null }],
    },
  },
  { rule: { ...IN, chain: 'forward', handle: 5, expr: [ifname('wg0'), { drop: null }] } },
];

describe('compareTable()', () => {
  it('finds no drift in what the kernel adds', () => {
    assert.deepEqual(compareTable(EXPECTED, LISTED), []);
  });

  it('reports a missing table', () => {
    assert.deepEqual(compareTable(EXPECTED, null), [
      { kind: 'missing', path: 'table', message: 'The table "inet start-tunnel" is missing' },
    ]);
  });

  it('reports a flushed chain rule by rule', () => {
    const flushed = LISTED.filter((o) => !('rule' in o));
    assert.deepEqual(
      compareTable(EXPECTED, flushed).map((d) => [d.kind, d.path, d.message]),
      [
        ['missing', 'chain forward rule 1', 'Rule 1 of the chain "forward" is missing'],
        ['missing', 'chain forward rule 2', 'Rule 2 of the chain "forward" is missing'],
      ]
    );
  });

  it('reports rules added, changed or reordered by someone else', () => {
    const extra = [...LISTED, rule('forward', { accept: null })];
    assert.deepEqual(
      compareTable(EXPECTED, extra).map((d) => d.message),
      ['Rule 3 of the chain "forward" was not written by start-tunnel']
    );
    const swapped = [...LISTED.slice(0, 3), LISTED[4]!, LISTED[3]!];
    assert.deepEqual(
      compareTable(EXPECTED, swapped).map((d) => d.kind),
      ['changed', 'changed']
    );
  });

  it('reports counters, sets and chains by name', () => {
    const changed: NftObject[] = [
      { counter: { ...IN, name: 'fwd-tcp-wan-22' } },
      { set: { ...IN, name: 'subnets', type: 'ipv4_addr', flags: ['interval'], elem: [] } },
      {
        chain: { ...IN, name: 'forward', type: 'filter', hook: 'forward', prio: 0, policy: 'drop' },
      },
      ...LISTED.slice(3),
    ];
    assert.deepEqual(
      compareTable(EXPECTED, changed).map((d) => d.message),
      [
        'The counter "isolation" is missing',
        'The counter "fwd-tcp-wan-22" was not written by start-tunnel',
        'The set "subnets" differs from the desired one',
        'The chain "forward" differs from the desired one',
      ]
    );
  });
});
