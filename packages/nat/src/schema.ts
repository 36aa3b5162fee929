// SPDX-License-Identifier: MIT
/**
 * The subset of the nftables JSON schema (libnftables-json(5), `nft -j`, schema version 1) this
 * package writes and reads back: tables, chains, rules, sets and named counters, and the
 * add/delete commands around them. Expressions and statements stay plain JSON values; `rules.ts`
 * builds them with small helpers in the exact form `nft -j list` prints, so a read-back compares
 * equal without a second normaliser.
 * @module
 */

/** Any JSON value. */
export type Json =
  | null
  | boolean
  | number
  | string
  | readonly Json[]
  | { readonly [key: string]: Json };

/** A rule statement or expression, e.g. `{ match: { op: '==', left, right } }` or `{ accept: null }`. */
export type NftStatement = { readonly [key: string]: Json };

export interface NftTable {
  readonly family: string;
  readonly name: string;
  readonly handle?: number;
}

export interface NftChain {
  readonly family: string;
  readonly table: string;
  readonly name: string;
  readonly handle?: number;
  /** Base chains only: `filter` or `nat`. */
  readonly type?: string;
  readonly hook?: string;
  readonly prio?: number;
  readonly policy?: 'accept' | 'drop';
}

export interface NftRule {
  readonly family: string;
  readonly table: string;
  readonly chain: string;
  readonly expr: readonly NftStatement[];
  readonly handle?: number;
  readonly comment?: string;
}

export interface NftSet {
  readonly family: string;
  readonly table: string;
  readonly name: string;
  readonly type: string;
  readonly handle?: number;
  readonly flags?: readonly string[];
  readonly elem?: readonly Json[];
}

export interface NftCounter {
  readonly family: string;
  readonly table: string;
  readonly name: string;
  readonly handle?: number;
  readonly packets?: number;
  readonly bytes?: number;
}

/** One object of a ruleset, as listed or as the argument of a command. */
export type NftObject =
  | { readonly table: NftTable }
  | { readonly chain: NftChain }
  | { readonly rule: NftRule }
  | { readonly set: NftSet }
  | { readonly counter: NftCounter };

export type NftCommand = { readonly add: NftObject } | { readonly delete: NftObject };

/** What `nft -j -f -` reads. */
export interface NftBatch {
  readonly nftables: readonly NftCommand[];
}

/** What `nft -j list ...` prints: a `metainfo` object, then the objects. */
export interface NftListing {
  readonly nftables: readonly (NftObject | { readonly metainfo: Json })[];
}
