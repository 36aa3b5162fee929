// SPDX-License-Identifier: MIT
/**
 * A command loads only what it needs: `start-tunnel status` against a daemon (the fake, on its
 * Unix socket) resolves no module of the panel (Hono, @peculiar/x509, hash-wasm,
 * @start-tunnel/web) or of the server (@start-tunnel/server). The CLI runs as a process with a
 * resolve hook that logs every module URL (`_record-loads.mjs`); the control commands show the
 * hook sees what a command does load, `import()` included, so a static import of any of them
 * anywhere on the path of `status` fails this test.
 * @module
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type FakeDaemon, fakeDaemon, tempDir } from './_fake-daemon.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const HOOK = fileURLToPath(new URL('./_record-loads.mjs', import.meta.url));

/** What `status` must not load: the panel's and the server's modules. */
const HEAVY: [string, RegExp][] = [
  ['hono', /\/node_modules\/(hono|@hono\/[^/]+)\//],
  ['@peculiar/x509', /\/node_modules\/@peculiar\/x509\//],
  ['hash-wasm', /\/node_modules\/hash-wasm\//],
  ['@start-tunnel/web', /\/packages\/web\/|\/node_modules\/@start-tunnel\/web\//],
  ['@start-tunnel/server', /\/packages\/server\/|\/node_modules\/@start-tunnel\/server\//],
];

let d: FakeDaemon;
let files: string;
before(async () => {
  d = await fakeDaemon();
  files = tempDir();
});
after(async () => {
  await d.stop();
  rmSync(files, { recursive: true, force: true });
});

/** Runs the CLI as a process (not blocking: the fake answers in this one); returns its exit status and the URLs it resolved. */
async function loads(
  name: string,
  argv: string[]
): Promise<{ status: number; urls: string[]; stderr: string }> {
  const log = join(files, `${name}.log`);
  const { status, stderr } = await new Promise<{ status: number; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', '--import', HOOK, MAIN, ...argv],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...d.env, ST_LOADS_FILE: log } },
      (err, _stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ status: code, stderr });
      }
    );
  });
  let urls: string[] = [];
  try {
    urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  } catch {
    // nothing logged: the assertions below say so
  }
  return { status, urls, stderr };
}

function heavyIn(urls: string[]): string[] {
  return HEAVY.filter(([, re]) => urls.some((u) => re.test(u))).map(([name]) => name);
}

describe('start-tunnel status loads no panel or server code', () => {
  it('status: the call is made, and none of them is resolved', async () => {
    d.calls.length = 0;
    const r = await loads('status', ['status']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      d.calls.map((c) => c.method),
      ['status']
    );
    // the hook saw the CLI's own modules and the contract
    assert.ok(r.urls.some((u) => u.endsWith('/packages/cli/src/client.ts')));
    assert.ok(r.urls.some((u) => /\/packages\/protocol\/src\/index\.ts$/.test(u)));
    assert.deepEqual(heavyIn(r.urls), []);
  });

  it('control: a command that signs (auth key generate) is seen loading @start-tunnel/web', async () => {
    const r = await loads('keygen', ['auth', 'key', 'generate', '--out', join(files, 'key.pem')]);
    assert.equal(r.status, 0, r.stderr);
    const heavy = heavyIn(r.urls);
    assert.ok(heavy.includes('@start-tunnel/web'), heavy.join(', '));
    assert.ok(heavy.includes('@peculiar/x509') || heavy.includes('hono'), heavy.join(', '));
  });

  it('control: the daemon with a bad flag is seen loading @start-tunnel/server', async () => {
    const r = await loads('daemon', ['daemon', '--listen-port', '0']);
    assert.equal(r.status, 2, r.stderr);
    assert.ok(heavyIn(r.urls).includes('@start-tunnel/server'));
  });
});
