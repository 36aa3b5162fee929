// SPDX-License-Identifier: MIT
/**
 * `install.sh`'s command line and its guards, which must hold before it touches anything: an
 * unknown option or `--purge` without `--uninstall` is a usage error, and a prefix that is not a
 * directory of its own (`--uninstall` deletes the prefix whole) is refused — checked with a
 * prefix that does not exist, so nothing is at stake. The install itself, on fresh Debian 12 and
 * 13 roots, is `scripts/install-test.sh` (`./scripts/test.sh --install`: minutes per release).
 * @module
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, run } from './_lab.ts';

const INSTALL = join(ROOT, 'install.sh');
const skip = process.getuid?.() !== 0 ? 'install.sh checks for root first' : false;

function install(args: string[], env: NodeJS.ProcessEnv = {}) {
  return run('sh', [INSTALL, ...args], { env: { ...process.env, ...env }, timeoutMs: 20_000 });
}

describe('install.sh guards', { skip }, () => {
  it('--help prints the usage and changes nothing', async () => {
    const r = await install(['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--uninstall --purge/);
    assert.match(r.stdout, /--no-start/);
  });

  it('refuses an unknown option and --purge without --uninstall', async () => {
    const bad = await install(['--frobnicate']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown option "--frobnicate"/);
    const purge = await install(['--purge']);
    assert.equal(purge.code, 2);
    assert.match(purge.stderr, /--purge goes with --uninstall/);
  });

  it('refuses a prefix that is not a directory of its own', async () => {
    const prefix = '/nonexistent-st-test/usr';
    const r = await install(['--uninstall'], { START_TUNNEL_PREFIX: prefix });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /START_TUNNEL_PREFIX must be an absolute directory of its own/);
    assert.doesNotMatch(r.stdout, /Stopping and removing/);
    const relative = await install(['--uninstall'], { START_TUNNEL_PREFIX: 'start-tunnel' });
    assert.equal(relative.code, 1);
    assert.ok(!existsSync(prefix));
  });
});
