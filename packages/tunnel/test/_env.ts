// SPDX-License-Identifier: MIT
// Test helpers: a deterministic model environment and a temp data dir.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export { testEnv } from '../src/testing.ts';

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'st-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
