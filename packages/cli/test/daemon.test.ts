// SPDX-License-Identifier: MIT
/**
 * `start-tunnel daemon`: flags become `DaemonOptions` (defaults from the protocol, the data
 * directory from `--datadir`, else `START_TUNNEL_DATADIR`, else the default), bad flags are
 * refused before anything starts, and a failure of the daemon is one line.
 * @module
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type DaemonOptions,
  DEFAULT_API_LISTEN,
  DEFAULT_DATA_DIR,
  DEFAULT_INTERFACE,
  DEFAULT_LISTEN_PORT,
} from '@start-tunnel/tunnel';
import { daemonEntry } from '../src/commands/daemon.ts';
import { cli, isOneLineError } from './_fake-daemon.ts';

async function daemon(argv: string[], env: Record<string, string> = {}) {
  const seen: DaemonOptions[] = [];
  const extensions: unknown[][] = [];
  const o = await cli(['daemon', ...argv], env, {
    runDaemon: async (options, ext) => {
      seen.push(options);
      extensions.push(ext);
      options.log?.('daemon says hello');
    },
  });
  return { ...o, options: seen[0], extensions: extensions[0] };
}

describe('start-tunnel daemon', () => {
  it('defaults', async () => {
    const o = await daemon([]);
    assert.equal(o.code, 0, o.stderr);
    const { log, ...rest } = o.options!;
    assert.deepEqual(rest, {
      dataDir: DEFAULT_DATA_DIR,
      interface: DEFAULT_INTERFACE,
      listenPort: DEFAULT_LISTEN_PORT,
      apiListen: DEFAULT_API_LISTEN,
    });
    assert.equal(typeof log, 'function');
    assert.equal(o.stderr, 'daemon says hello\n');
    // the HTTPS panel runs as the daemon's one extension
    assert.equal(o.extensions?.length, 1);
    assert.equal(typeof o.extensions?.[0], 'function');
  });

  it('every flag', async () => {
    const o = await daemon([
      '--datadir',
      '/srv/st',
      '--interface',
      'wg-st2',
      '--listen-port',
      '51821',
      '--wan-ip',
      '203.0.113.5',
      '--api-listen',
      '127.0.0.1:5961',
    ]);
    assert.equal(o.code, 0, o.stderr);
    const { log: _log, ...rest } = o.options!;
    assert.deepEqual(rest, {
      dataDir: '/srv/st',
      interface: 'wg-st2',
      listenPort: 51821,
      apiListen: '127.0.0.1:5961',
      wanIp: '203.0.113.5',
    });
  });

  it('the data directory from START_TUNNEL_DATADIR, made absolute', async () => {
    assert.equal(
      (await daemon([], { START_TUNNEL_DATADIR: '/tmp/st-env' })).options?.dataDir,
      '/tmp/st-env'
    );
    const relative = await daemon(['--datadir', 'st-rel']);
    assert.equal(relative.options?.dataDir, `${process.cwd()}/st-rel`);
    const ipv6 = await daemon(['--api-listen', '[::1]:5960']);
    assert.equal(ipv6.options?.apiListen, '[::1]:5960');
  });

  const bad: [string[], RegExp][] = [
    [['--interface', 'wg start'], /invalid --interface "wg start": expected 1 to 15 letters/],
    [['--interface', 'a-very-long-interface'], /invalid --interface/],
    [['--listen-port', '0'], /invalid --listen-port "0": expected a port 1\.\.65535/],
    [['--listen-port', '65536'], /invalid --listen-port/],
    [['--listen-port', '51820x'], /invalid --listen-port/],
    [['--wan-ip', '203.0.113'], /invalid --wan-ip "203\.0\.113": expected an IPv4 address/],
    [['--wan-ip', '2001:db8::1'], /invalid --wan-ip/],
    [['--api-listen', 'localhost:5960'], /invalid --api-listen "localhost:5960": expected IP:PORT/],
    [['--api-listen', '127.0.0.1'], /invalid --api-listen/],
    [['--interface'], /--interface needs a value/],
    [['extra'], /unexpected argument "extra"/],
  ];
  for (const [argv, expected] of bad) {
    it(`refuses ${argv.join(' ')}`, async () => {
      const o = await daemon(argv);
      assert.ok(isOneLineError(o), o.stderr);
      assert.match(o.stderr, expected);
      assert.equal(o.code, 2);
      assert.equal(o.options, undefined, 'the daemon did not start');
    });
  }

  it('without an injected entry, runDaemon comes from @start-tunnel/tunnel', async () => {
    const tunnel = await import('@start-tunnel/tunnel');
    const io = { stdout: () => {}, stderr: () => {}, env: {} };
    assert.equal(daemonEntry(io), tunnel.runDaemon);
    const injected = async () => {};
    assert.equal(daemonEntry({ ...io, runDaemon: injected }), injected);
  });

  it('a daemon that fails to start: its message on one line, exit 1', async () => {
    const o = await cli(
      ['daemon'],
      {},
      {
        runDaemon: async () => {
          throw new Error('Cannot listen on 127.0.59.60:5960: EADDRINUSE');
        },
      }
    );
    assert.ok(isOneLineError(o));
    assert.equal(o.stderr, 'start-tunnel: Cannot listen on 127.0.59.60:5960: EADDRINUSE\n');
    assert.equal(o.code, 1);
  });
});
