// SPDX-License-Identifier: MIT
/**
 * The `nft` command behind an interface: `NftRunner` runs `nft <args>` with optional stdin and
 * returns what it printed; `execaNftRunner` is the real one (through execa, optionally behind a
 * prefix such as `ip netns exec <ns>`), and `nft-fake.ts` holds the recording fake the unit
 * tests use. `nftFailure` turns a failed run into an `NftError` the user can act on.
 * @module
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/** What one `nft` run printed. */
export interface NftResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface NftRunner {
  /**
   * Runs `nft ...args`, writing `input` to its stdin when given (`-f -` reads it). Resolves
   * whatever the exit code; rejects with an `NftError` of code `NFT_MISSING` when nft cannot be
   * started.
   */
  run(args: readonly string[], input?: string): Promise<NftResult>;
}

/** Why an nft operation failed. */
export type NftErrorCode = 'NFT_MISSING' | 'NO_NF_TABLES' | 'NOT_PERMITTED' | 'REJECTED';

/** An nft run that failed; `stderr` is what nft printed. */
export class NftError extends Error {
  readonly code: NftErrorCode;
  readonly stderr: string;
  constructor(code: NftErrorCode, message: string, stderr = '') {
    super(message);
    this.name = 'NftError';
    this.code = code;
    this.stderr = stderr;
  }
}

const INSTALL_HINT = 'install it with "apt-get install nftables"';

function missingNft(command: string): NftError {
  return new NftError(
    'NFT_MISSING',
    `Cannot run "${command}": nft is not installed; ${INSTALL_HINT}`
  );
}

/** nft's message without blank lines, its source echo and caret lines, on one line. */
function nftMessage(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^\^+$/.test(line));
  const errors = lines.filter((line) => /error/i.test(line));
  return (errors.length > 0 ? errors : lines).join('; ');
}

/**
 * The error for a failed nft run. `what` says what was being done, e.g. "apply the ruleset".
 * A transaction nft refused changed nothing: nft applies a batch all or nothing.
 */
export function nftFailure(what: string, result: NftResult): NftError {
  const message = nftMessage(result.stderr) || `nft exited with code ${result.exitCode}`;
  const said = `(nft said ${JSON.stringify(message)})`;
  if (/exec of "?nft"? failed|nft: (command )?not found/i.test(result.stderr)) {
    return missingNft('nft');
  }
  if (
    /Protocol not supported|cache initialization failed|Address family not supported/i.test(message)
  ) {
    return new NftError(
      'NO_NF_TABLES',
      `Cannot ${what}: the kernel has no nf_tables support; load it with "modprobe nf_tables" ${said}`,
      result.stderr
    );
  }
  if (/Operation not permitted|Permission denied/i.test(message)) {
    return new NftError(
      'NOT_PERMITTED',
      `Cannot ${what}: changing nftables needs root (CAP_NET_ADMIN) ${said}`,
      result.stderr
    );
  }
  return new NftError(
    'REJECTED',
    `Cannot ${what}: nft rejected it and nothing was changed ${said}`,
    result.stderr
  );
}

export interface ExecaNftOptions {
  /** A command nft runs behind, e.g. `['ip', 'netns', 'exec', 'vps']`. */
  readonly prefix?: readonly string[];
  /** The nft binary; `nft` from PATH by default. */
  readonly nft?: string;
  /** Kills nft after this many milliseconds (default 30 000). */
  readonly timeoutMs?: number;
}

/**
 * The real runner: spawns nft through execa. nft reads `-f -` by opening `/dev/stdin`, which
 * fails on the socket Node gives a child as stdin, so the input goes through a private temp
 * file instead (removed after the run).
 */
export function execaNftRunner(options: ExecaNftOptions = {}): NftRunner {
  const nft = options.nft ?? 'nft';
  const argv = [...(options.prefix ?? []), nft];
  const command = argv.join(' ');
  const spawn = async (args: readonly string[]): Promise<NftResult> => {
    const [file = nft, ...rest] = argv;
    const result = await execa(file, [...rest, ...args], {
      reject: false,
      stdin: 'ignore',
      timeout: options.timeoutMs ?? 30_000,
      stripFinalNewline: false,
    });
    if (result.code === 'ENOENT') throw missingNft(command);
    if (result.exitCode === undefined) {
      throw new NftError('REJECTED', `Cannot run "${command}": ${result.shortMessage}`);
    }
    return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
  };
  return {
    async run(args, input) {
      const stdin = args.indexOf('-');
      if (input === undefined || stdin < 0) return spawn(args);
      const dir = await mkdtemp(join(tmpdir(), 'start-tunnel-nft-'));
      try {
        const path = join(dir, 'batch.json');
        await writeFile(path, input, { mode: 0o600 });
        return await spawn(args.map((arg, i) => (i === stdin ? path : arg)));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
