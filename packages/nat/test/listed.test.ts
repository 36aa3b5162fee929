// SPDX-License-Identifier: MIT
/**
 * Drift against real listings: each golden batch (`golden/<scenario>.json`) applied with nft
 * 1.0.6 (Debian 12) and nft 1.1.3 (Debian 13) and listed back with `nft -j list table inet
 * start-tunnel` (`listed/<scenario>.nft-<version>.json`, see `listed/README.md`) is no drift,
 * while a real change in either spelling still is. Also `normalizeExpr` on its own.
 * @module
 */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  compareTable,
  type Json,
  type NftBatch,
  type NftObject,
  type NftRule,
  normalizeExpr,
} from '../src/index.ts';

const GOLDEN = new URL('./golden/', import.meta.url);
const LISTED = new URL('./listed/', import.meta.url);

/** The objects a golden batch writes (after its add/delete/add of the table). */
function written(scenario: string): NftObject[] {
  const batch = JSON.parse(readFileSync(new URL(`${scenario}.json`, GOLDEN), 'utf8')) as NftBatch;
  return batch.nftables.slice(3).map((command) => {
    assert.ok('add' in command);
    return command.add as NftObject;
  });
}

/** A listing as `readTable` returns it: the objects without the metainfo and the table. */
function listed(file: string): NftObject[] {
  const { nftables } = JSON.parse(readFileSync(new URL(file, LISTED), 'utf8')) as {
    nftables: Record<string, unknown>[];
  };
  return nftables.filter((o) => !('metainfo' in o) && !('table' in o)) as unknown as NftObject[];
}

const FILES = readdirSync(LISTED).filter((f) => f.endsWith('.json'));

/** The first rule of `chain` whose expression text contains `needle`, and its index. */
function findRule(objects: NftObject[], chain: string, needle: string): number {
  return objects.findIndex(
    (o) => 'rule' in o && o.rule.chain === chain && JSON.stringify(o.rule.expr).includes(needle)
  );
}

function replaceExpr(objects: NftObject[], index: number, from: string, to: string): NftObject[] {
  const copy = objects.slice();
  const rule = (copy[index] as { rule: NftRule }).rule;
  const expr = JSON.parse(JSON.stringify(rule.expr).replace(from, to)) as NftRule['expr'];
  copy[index] = { rule: { ...rule, expr } };
  return copy;
}

describe('drift against the listings of nft 1.0.6 and 1.1.3', () => {
  it('has a listing of every golden scenario for both versions', () => {
    const golden = readdirSync(GOLDEN).filter((f) => f.endsWith('.json'));
    for (const g of golden) {
      for (const v of ['1.0.6', '1.1.3']) {
        assert.ok(FILES.includes(g.replace('.json', `.nft-${v}.json`)), `${g} listed by nft ${v}`);
      }
    }
  });

  for (const file of FILES) {
    const scenario = file.replace(/\.nft-.*$/, '');
    it(`${file}: the golden batch listed back is no drift`, () => {
      assert.deepEqual(compareTable(written(scenario), listed(file)), []);
    });
  }

  it('1.1.3 spells syn|rst and protocols otherwise; a changed flag or protocol still drifts', () => {
    const objects = listed('keep-source.nft-1.1.3.json');
    const syn = findRule(objects, 'forward', '{"|":["syn","rst"]}');
    assert.ok(syn >= 0, 'the 1.1.3 listing has the binary OR form');
    const proto = findRule(objects, 'forward-flows', '"right":6}');
    assert.ok(proto >= 0, 'the 1.1.3 listing has a protocol number');
    const expected = written('keep-source');

    const fin = compareTable(expected, replaceExpr(objects, syn, '"rst"]', '"fin"]'));
    assert.deepEqual(
      fin.map((d) => d.kind),
      ['changed']
    );
    const udp = compareTable(expected, replaceExpr(objects, proto, '"right":6}', '"right":17}'));
    assert.deepEqual(
      udp.map((d) => d.kind),
      ['changed']
    );
    assert.match(udp[0]?.path ?? '', /^chain forward-flows rule \d+$/);
  });
});

describe('normalizeExpr()', () => {
  const flags = (right: Json): Json => ({
    match: {
      op: '==',
      left: { '&': [{ payload: { protocol: 'tcp', field: 'flags' } }, right] },
      right: 'syn',
    },
  });
  const l4 = (right: Json): Json => ({
    match: { op: '==', left: { meta: { key: 'l4proto' } }, right },
  });

  it('turns an OR of constants into the list form, nested ORs flattened', () => {
    assert.deepEqual(normalizeExpr(flags({ '|': ['syn', 'rst'] })), flags(['syn', 'rst']));
    assert.deepEqual(
      normalizeExpr(flags({ '|': [{ '|': ['syn', 'rst'] }, 'fin'] })),
      flags(['syn', 'rst', 'fin'])
    );
    assert.deepEqual(normalizeExpr(flags(['syn', 'rst'])), flags(['syn', 'rst']));
  });

  it('keeps an OR that involves an expression', () => {
    const expr = { '|': [{ meta: { key: 'mark' } }, 16] };
    assert.deepEqual(normalizeExpr(expr), expr);
  });

  it('names protocol numbers only on the right of a protocol match', () => {
    assert.deepEqual(normalizeExpr(l4(6)), l4('tcp'));
    assert.deepEqual(normalizeExpr(l4({ set: [6, 17] })), l4({ set: ['tcp', 'udp'] }));
    assert.deepEqual(normalizeExpr(l4(250)), l4(250), 'an unknown number stays a number');
    const ip = {
      match: { op: '==', left: { payload: { protocol: 'ip', field: 'protocol' } }, right: 17 },
    };
    assert.deepEqual(normalizeExpr(ip), { match: { ...ip.match, right: 'udp' } });
    const port = {
      match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 6 },
    };
    assert.deepEqual(normalizeExpr(port), port, 'a port 6 is not a protocol');
  });

  it('does not mutate its input', () => {
    const input = l4({ set: [6, 17] });
    const before = JSON.stringify(input);
    normalizeExpr(input);
    assert.equal(JSON.stringify(input), before);
  });
});
