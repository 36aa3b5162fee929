// SPDX-License-Identifier: MIT
/**
 * An exclusive lock on an open file (flock(2), through the native addon), for callers that must
 * be the only process using a directory: the kernel releases it when the process exits, even
 * on SIGKILL, so a crash never leaves a stale lock behind (unlike a PID file).
 * @module
 */

import { loadNative } from './native.ts';

/**
 * Takes `flock(fd, LOCK_EX | LOCK_NB)` on an open descriptor (keep it open to keep the lock).
 * @returns true when taken, false when another process holds it
 * @example
 * const fd = openSync('/var/lib/start-tunnel/lock', 'a');
 * if (!lockFileExclusive(fd)) throw new Error('already running');
 */
export function lockFileExclusive(fd: number): boolean {
  const native = loadNative();
  if (typeof native.fileLock !== 'function') {
    throw Object.assign(
      new Error('The native addon is stale (no fileLock): rebuild it with npm ci'),
      { code: 'ERR_WG_NATIVE' }
    );
  }
  return native.fileLock(fd);
}
