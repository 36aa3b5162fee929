// SPDX-License-Identifier: MIT
/**
 * Failures: each is one line on stderr, nothing on stdout, and an exit code (the daemon's error
 * code when it fits 1..125, 2 for usage errors). Covers the daemon not running (no daemon.json,
 * nothing listening), a wrong cookie, unreadable files, errors from the daemon with their field,
 * and command lines the CLI refuses before calling anything.
 * @module
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { COOKIE_FILE, DAEMON_FILE, ErrorCode, RpcError } from '@start-tunnel/tunnel';
import { cli, type FakeDaemon, fakeDaemon, isOneLineError, tempDir } from './_fake-daemon.ts';

let d: FakeDaemon;
before(async () => {
  d = await fakeDaemon();
});
after(async () => {
  await d.stop();
});
beforeEach(() => {
  d.calls.length = 0;
});

/** A port on 127.0.0.1 nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address && typeof address === 'object');
  return address.port;
}

describe('the daemon is not running', () => {
  it('no daemon.json: says so and how to start it', async () => {
    const dir = tempDir();
    try {
      const o = await cli(['subnet', 'list'], { START_TUNNEL_DATADIR: dir });
      assert.ok(isOneLineError(o), o.stderr);
      assert.equal(
        o.stderr,
        `start-tunnel: the daemon is not running (no ${join(dir, DAEMON_FILE)}); start it with ` +
          '`start-tunnel daemon` or `systemctl start start-tunneld`\n'
      );
      assert.equal(o.code, ErrorCode.Network);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('daemon.json left behind, nothing listening: connection refused', async () => {
    const dir = tempDir();
    try {
      const port = await closedPort();
      writeFileSync(join(dir, DAEMON_FILE), JSON.stringify({ pid: 1, api: `127.0.0.1:${port}` }));
      writeFileSync(join(dir, COOKIE_FILE), 'secret\n');
      const o = await cli(['status'], { START_TUNNEL_DATADIR: dir });
      assert.ok(isOneLineError(o), o.stderr);
      assert.match(
        o.stderr,
        new RegExp(`the daemon is not running \\(nothing answers on 127\\.0\\.0\\.1:${port}`)
      );
      assert.match(o.stderr, /systemctl start start-tunneld/);
      assert.equal(o.code, ErrorCode.Network);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('daemon.json without auth.cookie, or broken', async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir, DAEMON_FILE), JSON.stringify({ api: d.api.address }));
      const noCookie = await cli(['status'], { START_TUNNEL_DATADIR: dir });
      assert.ok(isOneLineError(noCookie));
      assert.match(noCookie.stderr, new RegExp(`no ${join(dir, COOKIE_FILE)}\\)`));
      writeFileSync(join(dir, DAEMON_FILE), '{"api":');
      const broken = await cli(['status'], { START_TUNNEL_DATADIR: dir });
      assert.ok(isOneLineError(broken));
      assert.match(broken.stderr, /invalid .*daemon\.json: not JSON/);
      assert.equal(broken.code, ErrorCode.Deserialization);
      writeFileSync(join(dir, DAEMON_FILE), '{"api":"nowhere"}');
      const bad = await cli(['status'], { START_TUNNEL_DATADIR: dir });
      assert.match(bad.stderr, /"api" is "nowhere", expected IP:PORT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('authorization', () => {
  it('a wrong cookie (401) is a clear message, exit 34', async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir, DAEMON_FILE), JSON.stringify({ api: d.api.address }));
      writeFileSync(join(dir, COOKIE_FILE), 'not-the-secret\n');
      const o = await cli(['subnet', 'list'], { START_TUNNEL_DATADIR: dir });
      assert.ok(isOneLineError(o), o.stderr);
      assert.match(
        o.stderr,
        new RegExp(
          `refused the local cookie from ${join(dir, COOKIE_FILE)} .*is ${dir} the data directory of the running daemon\\?`
        )
      );
      assert.equal(o.code, ErrorCode.Authorization);
      assert.equal(d.calls.length, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unreadable cookie: permission denied — run as root', () => {
    const dir = tempDir();
    try {
      const data = join(dir, 'data');
      mkdirSync(data, { mode: 0o755 });
      chmodSync(dir, 0o755);
      writeFileSync(join(data, DAEMON_FILE), JSON.stringify({ api: d.api.address }), {
        mode: 0o644,
      });
      writeFileSync(join(data, COOKIE_FILE), 'secret\n', { mode: 0o600 });
      // as root: the cookie belongs to nobody and the CLI runs as root without the capabilities
      // that bypass file permissions (running it as nobody would need a world-readable
      // checkout, which a clone in a 0700 temp directory is not); otherwise take the read
      // permission away
      const asRoot = process.getuid?.() === 0;
      if (asRoot) chownSync(join(data, COOKIE_FILE), 65534, 65534);
      else chmodSync(join(data, COOKIE_FILE), 0o000);
      const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
      const node = [process.execPath, '--conditions=source', '--import', 'tsx', main, 'status'];
      const [file, ...args] = asRoot
        ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--', ...node]
        : node;
      const r = spawnSync(file!, args, {
        encoding: 'utf8',
        env: { ...process.env, START_TUNNEL_DATADIR: data },
        cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      });
      assert.equal(r.stdout, '');
      assert.equal(
        r.stderr,
        `start-tunnel: cannot read ${join(data, COOKIE_FILE)}: permission denied — run as root\n`
      );
      assert.equal(r.status, ErrorCode.Authorization);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('errors from the daemon', () => {
  it('message and field, exit with the code', async () => {
    d.handle('subnet.add', () => {
      throw new RpcError(
        ErrorCode.InvalidRequest,
        'Subnet "10.59.7.1/24" overlaps "10.59.0.1/16"',
        'subnet'
      );
    });
    const o = await cli(['subnet', 'add', '10.59.7.0/24', 'Home'], d.env);
    assert.ok(isOneLineError(o), o.stderr);
    assert.equal(o.stderr, 'start-tunnel: Subnet "10.59.7.1/24" overlaps "10.59.0.1/16"\n');
    assert.equal(o.code, ErrorCode.InvalidRequest);
  });

  it('a field the message does not name is added; details too; newlines collapse', async () => {
    d.handle('device.add', () => {
      throw new RpcError(ErrorCode.NotFound, 'Not found:\n no such thing', 'ip', 'nothing at .9');
    });
    const o = await cli(['device', 'add', '10.59.7.1/24', 'x', '10.59.7.9'], d.env);
    assert.ok(isOneLineError(o), o.stderr);
    assert.equal(o.stderr, 'start-tunnel: Not found: no such thing: nothing at .9 (field "ip")\n');
    assert.equal(o.code, ErrorCode.NotFound);
  });

  it('a code outside 1..125 (JSON-RPC invalid params) exits 1', async () => {
    const o = await cli(
      ['port-forward', 'add', '203.0.113.5:80', '10.59.7.2:80', '--label', ''],
      d.env
    );
    // the fake's real schema accepts '' as a label; force an invalid-params reply instead
    assert.equal(o.code, 0, o.stderr);
    d.handle('port-forward.add', () => {
      throw new RpcError(
        ErrorCode.InvalidParams,
        'Invalid target: must be a DEVICE_IP:PORT string',
        'target'
      );
    });
    const bad = await cli(['port-forward', 'add', '203.0.113.5:80', 'x'], d.env);
    assert.ok(isOneLineError(bad));
    assert.equal(bad.stderr, 'start-tunnel: Invalid target: must be a DEVICE_IP:PORT string\n');
    assert.equal(bad.code, 1);
  });

  it('an unexpected exception in a handler (code 1)', async () => {
    d.handle('wan.set', () => {
      throw new Error('Invalid IPv4 address "300.1.1.1"');
    });
    const o = await cli(['wan', 'set', '300.1.1.1'], d.env);
    assert.ok(isOneLineError(o));
    assert.equal(o.stderr, 'start-tunnel: Invalid IPv4 address "300.1.1.1"\n');
    assert.equal(o.code, 1);
  });
});

describe('command lines refused before any call (exit 2, usage in the line)', () => {
  const cases: [string[], RegExp][] = [
    [
      ['subnet', 'add', '10.59.7.0/24'],
      /^start-tunnel: missing <NAME>; usage: start-tunnel subnet add <SUBNET> <NAME> \(see start-tunnel subnet add --help\)\n$/,
    ],
    [
      ['device', 'remove', '10.59.7.1/24'],
      /missing <IP>; usage: start-tunnel device remove <SUBNET> <IP>/,
    ],
    [['device', 'list'], /missing <SUBNET>; usage: start-tunnel device list <SUBNET>/],
    [
      ['subnet', 'list', 'extra'],
      /unexpected argument "extra"; usage: start-tunnel subnet list \(/,
    ],
    [['subnet', 'remove', 'a', 'b'], /unexpected argument "b"/],
    [['status', '--bogus'], /unknown option --bogus; usage: start-tunnel status/],
    [['device', 'show-config', 'a', 'b', '--qr=yes'], /--qr takes no value/],
    [['device', 'add', 'a', 'b', '--public-key'], /--public-key needs a value/],
    [['device', 'add', 'a', 'b', '--public-key', ' '], /--public-key needs a key/],
    [['device', 'show-config', 'a', 'b', '--endpoint='], /--endpoint needs HOST or HOST:PORT/],
    [
      ['nope'],
      /unknown command "nope"; start-tunnel takes subnet, device, port-forward, wan, status, web, auth or daemon/,
    ],
    [['subnet', 'nope'], /unknown command "nope"; start-tunnel subnet takes list, add or remove/],
    [['--bogus', 'subnet'], /unknown option --bogus before the command/],
    [
      ['subnet', 'list', '--format', 'yaml'],
      /invalid --format "yaml": expected text, json, json-pretty/,
    ],
    [['subnet', 'list', '--format'], /--format needs a value/],
    [['subnet', 'list', '--datadir='], /--datadir needs a value/],
    [
      ['port-forward', 'add', '1.2.3.4:80', '10.59.7.2:80', '--protocol', 'sctp'],
      /invalid --protocol "sctp": expected tcp, udp, both/,
    ],
    [['subnet', 'list', '--key', 'k.pem'], /--key and --root-ca go with -t\/--tunnel HOST:PORT/],
    [
      ['daemon', '-t', '203.0.113.5:8443'],
      /start-tunnel daemon runs on the server itself; drop --tunnel/,
    ],
  ];
  for (const [argv, expected] of cases) {
    it(argv.join(' '), async () => {
      const o = await cli(argv, d.env);
      assert.ok(isOneLineError(o), JSON.stringify(o));
      assert.match(o.stderr, expected);
      assert.equal(o.code, 2);
      assert.equal(d.calls.length, 0);
    });
  }

  it('words after -- are arguments, not options', async () => {
    const o = await cli(
      ['port-forward', 'update-label', '203.0.113.5:8080', '--', '--not-a-flag'],
      d.env
    );
    assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(d.calls[0]?.params, { source: '203.0.113.5:8080', label: '--not-a-flag' });
  });
});

describe('remote mode hook', () => {
  it('--tunnel without --key is refused clearly (the built-in connector)', async () => {
    const o = await cli(['subnet', 'list', '-t', '203.0.113.5:8443'], d.env);
    assert.ok(isOneLineError(o));
    assert.match(o.stderr, /--tunnel needs --key FILE, the Ed25519 private key/);
    assert.equal(o.code, 2);
  });

  it('--tunnel goes through the injected connector with --key and --root-ca', async () => {
    const seen: unknown[] = [];
    const o = await cli(
      [
        'subnet',
        'list',
        '-t',
        '203.0.113.5:8443',
        '--key',
        'dev.pem',
        '--root-ca',
        'a.pem',
        '--root-ca=b.pem',
        '-o',
        'json',
      ],
      {},
      {
        remote: (options) => {
          seen.push(options);
          return {
            description: 'the tunnel at 203.0.113.5:8443',
            send: async (req) => ({
              jsonrpc: '2.0',
              id: req.id ?? null,
              result: [{ subnet: 'remote', name: req.method }],
            }),
          };
        },
      }
    );
    assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(JSON.parse(o.stdout), [{ subnet: 'remote', name: 'subnet.list' }]);
    assert.deepEqual(seen, [
      { tunnel: '203.0.113.5:8443', key: 'dev.pem', rootCa: ['a.pem', 'b.pem'], timeoutMs: 60_000 },
    ]);
  });
});
