// SPDX-License-Identifier: MIT
/**
 * The real process: `node --conditions=source --import tsx packages/cli/src/main.ts …` spawned
 * against the fake daemon (which runs in this test process, so the child is awaited, never
 * spawned synchronously). Checks what only a process shows: stdout, stderr and the exit status
 * as a shell sees them.
 * @module
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ErrorCode, RpcError } from '@start-tunnel/protocol';
import { cannedResults, type FakeDaemon, fakeDaemon, tempDir } from './_fake-daemon.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const MAIN = 'packages/cli/src/main.ts';

interface Result {
  status: number;
  stdout: string;
  stderr: string;
}

function startTunnel(argv: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', MAIN, ...argv],
      { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 },
      (err, stdout, stderr) => {
        const status = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ status, stdout, stderr });
      }
    );
  });
}

let d: FakeDaemon;
before(async () => {
  d = await fakeDaemon();
});
after(async () => {
  await d.stop();
});

describe('start-tunnel as a process', () => {
  it('subnet list --format json: the result on stdout, exit 0', async () => {
    d.calls.length = 0;
    const r = await startTunnel(['subnet', 'list', '--format', 'json'], d.env);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual(JSON.parse(r.stdout), cannedResults()['subnet.list']);
    assert.deepEqual(d.calls, [{ method: 'subnet.list', params: {} }]);
  });

  it('device add: confirmation and hint', async () => {
    const r = await startTunnel(['device', 'add', '10.59.7.0/24', 'phone'], d.env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Added device "phone" 10\.59\.7\.2 in 10\.59\.7\.1\/24\nIts config: /);
  });

  it('device show-config --qr: config then QR blocks', async () => {
    const r = await startTunnel(
      ['device', 'show-config', '10.59.7.1/24', '10.59.7.2', '--qr'],
      d.env
    );
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.startsWith('# StartTunnel config for phone\n'));
    assert.match(r.stdout, /PersistentKeepalive = 25\n\n[ █▀▄\n]+$/);
  });

  it('an error from the daemon: one line on stderr, exit with its code', async () => {
    d.handle('device.remove', () => {
      throw new RpcError(ErrorCode.NotFound, 'No device 10.59.7.9 in 10.59.7.1/24', 'ip');
    });
    const r = await startTunnel(['device', 'remove', '10.59.7.1/24', '10.59.7.9'], d.env);
    assert.equal(r.status, ErrorCode.NotFound);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'start-tunnel: No device 10.59.7.9 in 10.59.7.1/24 (field "ip")\n');
  });

  it('the daemon not running: exit 9 and the hint', async () => {
    const r = await startTunnel(['status'], { START_TUNNEL_DATADIR: tempDir() });
    assert.equal(r.status, ErrorCode.Network);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /^start-tunnel: the daemon is not running \(start it with `systemctl start start-tunneld` or `start-tunnel daemon`\); there is no .*api\.sock$/m
    );
    assert.equal(r.stderr.split('\n').length, 2);
  });

  it('usage error: exit 2; --help: exit 0', async () => {
    const usage = await startTunnel(['subnet', 'add'], d.env);
    assert.equal(usage.status, 2);
    assert.match(
      usage.stderr,
      /^start-tunnel: missing <SUBNET>; usage: start-tunnel subnet add <SUBNET> <NAME>/
    );
    const help = await startTunnel(['port-forward', 'add', '--help'], d.env);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Usage: start-tunnel port-forward add <SOURCE> <TARGET>/m);
  });
});
