// SPDX-License-Identifier: MIT
/**
 * Drift: what differs between the table we would write and the one `nft -j list table` shows.
 * `rules.ts` generates objects in the form nft lists them, so the comparison only drops what
 * the kernel adds (handles, counter values) and ignores the order of anonymous set elements
 * (the kernel may list a hash set in any order), and compares rule expressions in the normal
 * form of `normalize.ts` (nft 1.0.6 and 1.1.x spell some of them differently). Someone editing
 * or flushing our table, or `nft flush ruleset`, shows up here.
 * @module
 */

import { normalizeExpr } from './normalize.ts';
import type { Json, NftChain, NftObject, NftRule, NftSet } from './schema.ts';

/** One difference between the desired table and the kernel's. */
export interface DriftItem {
  readonly kind: 'missing' | 'unexpected' | 'changed';
  /** What differs, e.g. `table`, `counter fwd-tcp-wan-443`, `chain forward rule 3`. */
  readonly path: string;
  readonly message: string;
  readonly expected?: Json;
  readonly actual?: Json;
}

/** A canonical string of a JSON value: sorted keys, sorted anonymous set elements. */
function canonical(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const record = value as { readonly [key: string]: Json };
  const keys = Object.keys(record).sort();
  return `{${keys
    .map((key) => {
      const item = record[key] as Json;
      const text =
        key === 'set' && Array.isArray(item)
          ? `[${item.map(canonical).sort().join(',')}]`
          : canonical(item);
      return `${JSON.stringify(key)}:${text}`;
    })
    .join(',')}}`;
}

function chainShape(chain: NftChain): Json {
  const { handle: _handle, ...shape } = chain;
  return shape as unknown as Json;
}

function setShape(set: NftSet): Json {
  const { handle: _handle, elem, ...shape } = set;
  const sorted = [...(elem ?? [])].sort((a, b) => (canonical(a) < canonical(b) ? -1 : 1));
  return { ...shape, elem: sorted } as unknown as Json;
}

interface Split {
  counters: Set<string>;
  sets: Map<string, Json>;
  chains: Map<string, Json>;
  rules: Map<string, Json[]>;
}

function split(objects: readonly NftObject[]): Split {
  const out: Split = { counters: new Set(), sets: new Map(), chains: new Map(), rules: new Map() };
  for (const object of objects) {
    if ('counter' in object) out.counters.add(object.counter.name);
    else if ('set' in object) out.sets.set(object.set.name, setShape(object.set));
    else if ('chain' in object) out.chains.set(object.chain.name, chainShape(object.chain));
    else if ('rule' in object) {
      const rule: NftRule = object.rule;
      const list = out.rules.get(rule.chain) ?? [];
      list.push(normalizeExpr(rule.expr as unknown as Json));
      out.rules.set(rule.chain, list);
    }
  }
  return out;
}

function compareNamed(
  kind: string,
  expected: ReadonlyMap<string, Json>,
  actual: ReadonlyMap<string, Json>,
  drift: DriftItem[]
): void {
  for (const [name, want] of expected) {
    const have = actual.get(name);
    if (have === undefined) {
      drift.push({
        kind: 'missing',
        path: `${kind} ${name}`,
        message: `The ${kind} "${name}" is missing`,
        expected: want,
      });
    } else if (canonical(want) !== canonical(have)) {
      drift.push({
        kind: 'changed',
        path: `${kind} ${name}`,
        message: `The ${kind} "${name}" differs from the desired one`,
        expected: want,
        actual: have,
      });
    }
  }
  for (const [name, have] of actual) {
    if (!expected.has(name)) {
      drift.push({
        kind: 'unexpected',
        path: `${kind} ${name}`,
        message: `The ${kind} "${name}" was not written by start-tunnel`,
        actual: have,
      });
    }
  }
}

/**
 * Compares the objects we would write with those listed (`null`: the table does not exist).
 * Returns no items when they match.
 */
export function compareTable(
  expected: readonly NftObject[],
  actual: readonly NftObject[] | null
): DriftItem[] {
  if (actual === null) {
    return [
      { kind: 'missing', path: 'table', message: 'The table "inet start-tunnel" is missing' },
    ];
  }
  const want = split(expected);
  const have = split(actual);
  const drift: DriftItem[] = [];
  const asMap = (names: Set<string>) => new Map([...names].map((name) => [name, null] as const));
  compareNamed('counter', asMap(want.counters), asMap(have.counters), drift);
  compareNamed('set', want.sets, have.sets, drift);
  compareNamed('chain', want.chains, have.chains, drift);
  for (const chain of new Set([...want.rules.keys(), ...have.rules.keys()])) {
    const wanted = want.rules.get(chain) ?? [];
    const had = have.rules.get(chain) ?? [];
    for (let i = 0; i < Math.max(wanted.length, had.length); i++) {
      const w = wanted[i];
      const h = had[i];
      const path = `chain ${chain} rule ${i + 1}`;
      const where = `Rule ${i + 1} of the chain "${chain}"`;
      if (h === undefined && w !== undefined) {
        drift.push({ kind: 'missing', path, message: `${where} is missing`, expected: w });
      } else if (w === undefined && h !== undefined) {
        drift.push({
          kind: 'unexpected',
          path,
          message: `${where} was not written by start-tunnel`,
          actual: h,
        });
      } else if (w !== undefined && h !== undefined && canonical(w) !== canonical(h)) {
        drift.push({
          kind: 'changed',
          path,
          message: `${where} differs from the desired one`,
          expected: w,
          actual: h,
        });
      }
    }
  }
  return drift;
}
