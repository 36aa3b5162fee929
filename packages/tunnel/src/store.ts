// SPDX-License-Identifier: MIT
/**
 * The state store: one CBOR file (`tunnel.db`, cbor-x) in the data directory, replaced whole on
 * every change by write → fsync → rename → fsync(directory), so that after any crash the file is
 * either the old state or the new one, and a change is on disk before it is acknowledged. The
 * directory is 0700, files 0600, and an flock(2) on `lock` makes the store exclusive to one
 * process; the kernel drops it when that process dies, so a crash never leaves it stale. (PatchDB
 * in the original appends RFC 6902 patches to one file,
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/context.rs#L102-L103 and
 * https://github.com/Start9Labs/patch-db/blob/f7a4e02fd2d20c1982ffd7c4a693e0f5c93e69e9/core/src/store.rs#L215-L276;
 * our states are small enough that rewriting them is simpler and as fast.)
 * @module
 */

import {
  chmodSync,
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
} from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { lockFileExclusive } from '@start-tunnel/wg-core';
import { decode, encode } from 'cbor-x';
import { migrate, type State } from './schema.ts';

export const STATE_FILE = 'tunnel.db';
export const LOCK_FILE = 'lock';

export class StoreError extends Error {
  readonly code: 'LOCKED' | 'CORRUPT' | 'IO';
  constructor(code: 'LOCKED' | 'CORRUPT' | 'IO', message: string) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
}

/** Creates `dir` (0700) if needed and tightens its mode if it is looser. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o777;
  if (mode !== 0o700) chmodSync(dir, 0o700);
}

/** fsyncs a directory so that a rename inside it is durable. */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class Store {
  readonly dir: string;
  readonly path: string;
  #state: State;
  #lockFd: number;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(dir: string, state: State, lockFd: number) {
    this.dir = dir;
    this.path = join(dir, STATE_FILE);
    this.#state = state;
    this.#lockFd = lockFd;
  }

  /**
   * Opens (or creates with `init()`) the store in `dir`, taking its lock.
   * @throws StoreError LOCKED when another process holds it, CORRUPT when the file cannot be read
   */
  static async open(dir: string, init: () => State): Promise<Store> {
    ensurePrivateDir(dir);
    const lockPath = join(dir, LOCK_FILE);
    const fd = openSync(lockPath, 'a+', 0o600);
    let taken: boolean;
    try {
      taken = lockFileExclusive(fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (!taken) {
      closeSync(fd);
      let holder = '';
      try {
        holder = readFileSync(lockPath, 'utf8').trim();
      } catch {}
      throw new StoreError(
        'LOCKED',
        `The data directory ${dir} is in use by another start-tunnel daemon` +
          (holder ? ` (pid ${holder})` : '')
      );
    }
    // record who holds it (informational: the flock is the lock)
    const pid = Buffer.from(`${process.pid}\n`);
    ftruncateSync(fd, 0);
    writeSync(fd, pid, 0, pid.length, 0);
    const path = join(dir, STATE_FILE);
    let state: State;
    let bytes: Buffer | null = null;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        closeSync(fd);
        throw new StoreError('IO', `Cannot read ${path}: ${(err as Error).message}`);
      }
    }
    await rm(`${path}.tmp`, { force: true });
    if (bytes === null) {
      const store = new Store(dir, init(), fd);
      await store.commit(store.#state);
      return store;
    }
    try {
      state = migrate(decode(bytes));
    } catch (err) {
      closeSync(fd);
      throw new StoreError(
        'CORRUPT',
        `Cannot load ${path}: ${(err as Error).message}. The file was left untouched; restore a ` +
          'backup or move it away to start from an empty state'
      );
    }
    if ((statSync(path).mode & 0o777) !== 0o600) chmodSync(path, 0o600);
    return new Store(dir, state, fd);
  }

  /** The last committed state (treat as immutable). */
  get state(): State {
    return this.#state;
  }

  /**
   * Makes `next` the state, durably: resolves once it is on disk. Commits are serialized in
   * call order; a failed write leaves the previous state in place and rejects.
   */
  commit(next: State): Promise<void> {
    const run = this.#chain.then(() => this.#write(next));
    this.#chain = run.catch(() => {});
    return run;
  }

  async #write(next: State): Promise<void> {
    if (this.#closed) throw new StoreError('IO', 'The store is closed');
    const tmp = `${this.path}.tmp`;
    const data = encode(next);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    syncDir(this.dir);
    this.#state = next;
  }

  /** Waits for pending commits and releases the lock. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#chain;
    this.#closed = true;
    closeSync(this.#lockFd);
  }
}
