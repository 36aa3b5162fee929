// SPDX-License-Identifier: MIT
/**
 * wg-core inside a worker thread, as the server's data-plane thread runs it: a worker holding
 * polled addon handles (UDP sockets, route watcher) and a UAPI socket is terminated without
 * closing anything, and the process must live on (the addon's handles close on the worker's own
 * loop before Node unloads the addon: `native/io.c`); `UapiServer.listen` must work there,
 * where Node forbids `process.umask()`, and still make the socket 0600 with any umask. The
 * worker runs in a child process (`worker-io.helper.ts`) so a crash fails this test, not the
 * runner.
 * @module
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { UapiServer } from '../src/uapi.ts';
import { Lab } from './_harness.ts';

const linux = process.platform === 'linux';

describe('wg-core in a worker thread', () => {
  it('terminating a worker with polled UDP handles and a UAPI socket leaves the process alive', {
    skip: !linux && 'needs Linux (native addon)',
  }, () => {
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const helper = fileURLToPath(new URL('./worker-io.helper.ts', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'wg-worker-'));
    try {
      const r = spawnSync(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', helper, dir],
        {
          cwd: root,
          encoding: 'utf8',
          timeout: 60_000,
        }
      );
      assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stdout}${r.stderr}`);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), [
        'served',
        'received 1',
        'terminated',
        'alive',
      ]);
      // the private directory the socket was made in is gone; only the socket stays behind
      assert.deepEqual(readdirSync(dir), ['stwk0.sock']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the UAPI socket is 0600 whatever the umask', async () => {
    const lab = new Lab();
    const a = await lab.node('192.0.2.1', 51820);
    const dir = mkdtempSync(join(tmpdir(), 'wg-umask-'));
    const old = process.umask(0);
    try {
      const server = await UapiServer.listen(a.device, 'stwk1', { directory: dir });
      try {
        assert.equal(statSync(server.path).mode & 0o777, 0o600);
        assert.ok(statSync(server.path).isSocket());
        assert.deepEqual(readdirSync(dir), ['stwk1.sock']);
      } finally {
        await server.close();
      }
    } finally {
      process.umask(old);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
