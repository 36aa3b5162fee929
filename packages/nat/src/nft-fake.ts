// SPDX-License-Identifier: MIT
/**
 * The in-memory stand-in for nft beside the `NftRunner` interface (as wireguard-go ships
 * `tuntest` beside `tun.Device`): it records every call, keeps the tables a JSON batch creates
 * or deletes, and answers `list table` and `list counters table` the way nft does, so apply,
 * drift and teardown run in unit tests without root. `failWith` makes the next runs fail.
 * @module
 */

import { NftError, type NftResult, type NftRunner } from './nft.ts';
import type { NftBatch, NftObject } from './schema.ts';

/** One recorded run. */
export interface NftCall {
  readonly args: readonly string[];
  readonly input: string | undefined;
}

const OK: NftResult = { exitCode: 0, stdout: '', stderr: '' };
const NO_SUCH_TABLE: NftResult = {
  exitCode: 1,
  stdout: '',
  stderr: 'Error: No such file or directory\n',
};
const METAINFO = { metainfo: { version: '1.0.6', release_name: 'fake', json_schema_version: 1 } };

/** Which table an object belongs to, as `family name`. */
function tableKey(object: NftObject): string {
  if ('table' in object) return `${object.table.family} ${object.table.name}`;
  const inner =
    'chain' in object
      ? object.chain
      : 'rule' in object
        ? object.rule
        : 'set' in object
          ? object.set
          : object.counter;
  return `${inner.family} ${inner.table}`;
}

export class RecordingNftRunner implements NftRunner {
  /** Every run, in order. */
  readonly calls: NftCall[] = [];
  /** The objects of each table the fake holds, keyed `family name`, in listing order. */
  readonly tables = new Map<string, NftObject[]>();
  #failures: NftResult[] = [];
  #missing = false;

  /** The next runs fail with these results, one each, before the fake works again. */
  failWith(...results: NftResult[]): void {
    this.#failures.push(...results);
  }

  /** Every run rejects as if nft were not installed. */
  uninstall(): void {
    this.#missing = true;
  }

  /** The batches written with `-f -`, parsed. */
  batches(): NftBatch[] {
    return this.calls
      .filter((call) => call.args.includes('-f') && call.input !== undefined)
      .map((call) => JSON.parse(call.input ?? '') as NftBatch);
  }

  async run(args: readonly string[], input?: string): Promise<NftResult> {
    this.calls.push({ args: [...args], input });
    if (this.#missing) {
      throw new NftError('NFT_MISSING', 'Cannot run "nft": nft is not installed (fake)');
    }
    const failure = this.#failures.shift();
    if (failure !== undefined) return failure;
    const list = args.indexOf('list');
    if (args.includes('-f') && input !== undefined)
      return this.#apply(JSON.parse(input) as NftBatch);
    if (list >= 0) return this.#list(args.slice(list + 1));
    return OK;
  }

  #apply(batch: NftBatch): NftResult {
    // all or nothing, like the kernel: work on a copy
    const tables = new Map<string, NftObject[]>();
    for (const [key, objects] of this.tables) tables.set(key, [...objects]);
    for (const command of batch.nftables) {
      if ('add' in command) {
        const key = tableKey(command.add);
        const objects = tables.get(key);
        if ('table' in command.add) {
          if (objects === undefined) tables.set(key, [{ table: command.add.table }]);
        } else if (objects === undefined) return NO_SUCH_TABLE;
        else objects.push(command.add);
      } else {
        const key = tableKey(command.delete);
        if (!('table' in command.delete)) {
          return { exitCode: 1, stdout: '', stderr: 'Error: the fake only deletes tables\n' };
        }
        if (!tables.delete(key)) return NO_SUCH_TABLE;
      }
    }
    this.tables.clear();
    for (const [key, objects] of tables) this.tables.set(key, objects);
    return OK;
  }

  #list(what: readonly string[]): NftResult {
    const [kind, ...rest] = what;
    const [family, name] = kind === 'counters' ? rest.slice(1) : rest;
    const objects = this.tables.get(`${family} ${name}`);
    if (objects === undefined) return NO_SUCH_TABLE;
    const listed = kind === 'counters' ? objects.filter((o) => 'counter' in o) : objects;
    return { exitCode: 0, stdout: JSON.stringify({ nftables: [METAINFO, ...listed] }), stderr: '' };
  }
}
