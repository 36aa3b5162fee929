// SPDX-License-Identifier: MIT
/**
 * `start-tunnel daemon`: flags become `ServerOptions` (defaults from the protocol, the data
 * directory from `--datadir`, else `START_TUNNEL_DATADIR`, else the default), bad flags are
 * refused by the server's own `checkServerOptions` before anything starts (exit 2), and a
 * failure of the server is one line.
 * @module
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_DATA_DIR, DEFAULT_INTERFACE, DEFAULT_LISTEN_PORT } from '@start-tunnel/protocol';
import { checkServerOptions, type ServerOptions } from '@start-tunnel/server';
import { loadServer } from '../src/commands/daemon.ts';
import { cli, isOneLineError } from './_fake-daemon.ts';

async function daemon(argv: string[], env: Record<string, string> = {}) {
  const seen: ServerOptions[] = [];
  const checked: ServerOptions[] = [];
  const o = await cli(['daemon', ...argv], env, {
    server: {
      checkServerOptions: (options) => {
        checked.push(options);
        checkServerOptions(options);
      },
      runServer: async (options) => {
        seen.push(options);
        options.log?.('daemon says hello');
      },
    },
  });
  return { ...o, options: seen[0], checked: checked[0] };
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
    });
    assert.equal(typeof log, 'function');
    assert.equal(o.stderr, 'daemon says hello\n');
    // the server checked the very options it was started with
    assert.equal(o.checked, o.options);
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
    ]);
    assert.equal(o.code, 0, o.stderr);
    const { log: _log, ...rest } = o.options!;
    assert.deepEqual(rest, {
      dataDir: '/srv/st',
      interface: 'wg-st2',
      listenPort: 51821,
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
  });

  it('--help says where the local API is', async () => {
    const o = await cli(['daemon', '--help']);
    assert.equal(o.code, 0);
    assert.match(o.stdout.replace(/\s+/g, ' '), /local API is the Unix socket api\.sock in it/);
    assert.doesNotMatch(o.stdout, /api-listen/);
  });

  const bad: [string[], RegExp][] = [
    [['--interface', 'wg start'], /Invalid --interface "wg start": 1 to 15 letters/],
    [['--interface', 'a-very-long-interface'], /Invalid --interface/],
    [['--listen-port', '0'], /Invalid --listen-port "0": expected 1 to 65535/],
    [['--listen-port', '65536'], /Invalid --listen-port/],
    [['--listen-port', '51820x'], /invalid --listen-port "51820x": expected a number/],
    [['--wan-ip', '203.0.113'], /Invalid --wan-ip "203\.0\.113": expected an IPv4 address/],
    [['--wan-ip', '2001:db8::1'], /Invalid --wan-ip/],
    [['--api-listen', '127.0.0.1:5961'], /unknown option --api-listen/],
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

  it('without a stand-in, the entry is runServer of @start-tunnel/server', async () => {
    const server = await import('@start-tunnel/server');
    const io = { stdout: () => {}, stderr: () => {}, env: {} };
    const loaded = await loadServer(io);
    assert.equal(loaded.runServer, server.runServer);
    assert.equal(loaded.checkServerOptions, server.checkServerOptions);
    const injected = { runServer: async () => {}, checkServerOptions: () => {} };
    assert.equal(await loadServer({ ...io, server: injected }), injected);
  });

  it('a server that fails to start: its message on one line, exit 1', async () => {
    const o = await cli(
      ['daemon'],
      {},
      {
        server: {
          checkServerOptions,
          runServer: async () => {
            throw new Error('The data directory /var/lib/start-tunnel is locked by\nanother');
          },
        },
      }
    );
    assert.ok(isOneLineError(o));
    assert.equal(
      o.stderr,
      'start-tunnel: The data directory /var/lib/start-tunnel is locked by another\n'
    );
    assert.equal(o.code, 1);
  });
});
