// SPDX-License-Identifier: MIT
/**
 * Apply, read back, tear down. `applyState` validates first (bad input never reaches nft),
 * reads the current named counters so they survive, replaces our whole table in one
 * `nft -j -f -` transaction, turns IPv4 forwarding on, then reads the table back and reports any
 * drift. `teardown` deletes our table and nothing else. Every nft call goes through the
 * injected `NftRunner`, every sysctl through the injected `Sysctl`.
 * @module
 */

import { compareTable, type DriftItem } from './drift.ts';
import { execaNftRunner, NftError, type NftResult, type NftRunner, nftFailure } from './nft.ts';
import {
  applyBatch,
  type CounterValue,
  TABLE_FAMILY,
  TABLE_NAME,
  tableObjects,
  teardownBatch,
} from './rules.ts';
import type { NftBatch, NftListing, NftObject } from './schema.ts';
import { type NatState, validateState } from './state.ts';
import { forwardingSysctls, procSysctl, type Sysctl } from './sysctl.ts';

export interface NatOptions {
  /** How nft is run; the real binary by default. */
  readonly nft?: NftRunner;
}

export interface ApplyOptions extends NatOptions {
  /** Where forwarding sysctls are written; `/proc/sys` by default, `null` to leave them alone. */
  readonly sysctl?: Sysctl | null;
  /** Read the table back after applying and report drift (default true). */
  readonly verify?: boolean;
}

export interface ApplyResult {
  /** Commands in the transaction. */
  readonly commands: number;
  /** Differences found when reading back; empty when the kernel holds what we wrote. */
  readonly drift: readonly DriftItem[];
}

function isMissingTable(result: NftResult): boolean {
  return result.exitCode !== 0 && /No such file or directory/.test(result.stderr);
}

function parseListing(what: string, stdout: string): NftObject[] {
  let listing: NftListing;
  try {
    listing = JSON.parse(stdout) as NftListing;
  } catch {
    throw new NftError('REJECTED', `Cannot ${what}: nft printed no JSON`, stdout.slice(0, 200));
  }
  return listing.nftables.filter((item): item is NftObject => !('metainfo' in item));
}

/** Runs a batch as one transaction; throws the classified error when nft refuses it. */
async function runBatch(nft: NftRunner, what: string, batch: NftBatch): Promise<void> {
  const result = await nft.run(['-j', '-f', '-'], JSON.stringify(batch));
  if (result.exitCode !== 0) throw nftFailure(what, result);
}

/** The objects of our table as nft lists them, or null when the table does not exist. */
export async function readTable(options: NatOptions = {}): Promise<NftObject[] | null> {
  const nft = options.nft ?? execaNftRunner();
  const result = await nft.run(['-j', 'list', 'table', TABLE_FAMILY, TABLE_NAME]);
  if (isMissingTable(result)) return null;
  if (result.exitCode !== 0) throw nftFailure('read the table', result);
  return parseListing('read the table', result.stdout);
}

/** The named counters of our table by name (empty when the table does not exist). */
export async function readCounters(options: NatOptions = {}): Promise<Map<string, CounterValue>> {
  const nft = options.nft ?? execaNftRunner();
  const result = await nft.run(['-j', 'list', 'counters', 'table', TABLE_FAMILY, TABLE_NAME]);
  const counters = new Map<string, CounterValue>();
  if (isMissingTable(result)) return counters;
  if (result.exitCode !== 0) throw nftFailure('read the counters', result);
  for (const object of parseListing('read the counters', result.stdout)) {
    if (!('counter' in object)) continue;
    const { name, packets = 0, bytes = 0 } = object.counter;
    counters.set(name, { packets, bytes });
  }
  return counters;
}

/**
 * The traffic counted for each forward of `state`, by index: `null` for a disabled forward or
 * one whose counter is not in the kernel (the state was not applied yet).
 */
export async function readForwardCounters(
  state: NatState,
  options: NatOptions = {}
): Promise<(CounterValue | null)[]> {
  const config = validateState(state);
  const counters = await readCounters(options);
  return config.forwards.map((forward) =>
    forward.enabled ? (counters.get(forward.counter) ?? null) : null
  );
}

/** Compares the kernel's table with what `state` generates. */
export async function checkDrift(state: NatState, options: NatOptions = {}): Promise<DriftItem[]> {
  const config = validateState(state);
  return compareTable(tableObjects(config), await readTable(options));
}

/**
 * Makes the kernel hold exactly the table `state` generates: validates (throwing
 * `NatStateError` before anything runs), keeps the counters, replaces the table in one
 * transaction, sets the forwarding sysctls, and reads back.
 * @throws {NatStateError} on bad input; nothing was run
 * @throws {NftError} when nft is missing, the kernel lacks nf_tables, or the ruleset was
 * rejected; the kernel holds what it held before
 */
export async function applyState(
  state: NatState,
  options: ApplyOptions = {}
): Promise<ApplyResult> {
  const config = validateState(state);
  const nft = options.nft ?? execaNftRunner();
  const counters = await readCounters({ nft });
  const batch = applyBatch(config, counters);
  await runBatch(nft, 'apply the ruleset', batch);
  const sysctl = options.sysctl === undefined ? procSysctl() : options.sysctl;
  if (sysctl !== null) {
    for (const [name, value] of forwardingSysctls(config)) await sysctl.write(name, value);
  }
  const drift =
    options.verify === false ? [] : compareTable(tableObjects(config), await readTable({ nft }));
  return { commands: batch.nftables.length, drift };
}

/** Deletes our table, and only ours; does nothing when it does not exist. */
export async function teardown(options: NatOptions = {}): Promise<void> {
  await runBatch(options.nft ?? execaNftRunner(), 'remove the table', teardownBatch());
}
