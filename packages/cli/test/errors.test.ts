// SPDX-License-Identifier: MIT
/**
 * Failures: each is one line on stderr, nothing on stdout, and an exit code (the daemon's error
 * code when it fits 1..125, 2 for usage errors). Covers the daemon not running (no socket, a
 * socket left by a killed daemon), something else answering on the socket, a caller who is not
 * root, errors from the daemon with their field, and command lines the CLI refuses before
 * calling anything.
 * @module
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { API_SOCKET, ErrorCode, RpcError } from '@start-tunnel/protocol';
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

const NOT_RUNNING =
  'start-tunnel: the daemon is not running (start it with `systemctl start start-tunneld` or ' +
  '`start-tunnel daemon`)';

/** Leaves a socket nobody listens on at `path`: a process that listened there was killed. */
function staleSocket(path: string): void {
  const script =
    "require('node:net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))";
  const r = spawnSync(process.execPath, ['-e', script, path]);
  assert.equal(r.signal, 'SIGKILL');
  assert.ok(existsSync(path), 'the socket file stays');
}

describe('the daemon is not running', () => {
  it('no socket: says so and how to start it, exit 9', async () => {
    const dir = tempDir();
    try {
      const o = await cli(['subnet', 'list'], { START_TUNNEL_DATADIR: dir });
      assert.ok(isOneLineError(o), o.stderr);
      assert.equal(o.stderr, `${NOT_RUNNING}; there is no ${join(dir, API_SOCKET)}\n`);
      assert.equal(o.code, ErrorCode.Network);
      const gone = await cli(['status'], { START_TUNNEL_DATADIR: join(dir, 'missing') });
      assert.equal(
        gone.stderr,
        `${NOT_RUNNING}; there is no ${join(dir, 'missing', API_SOCKET)}\n`
      );
      assert.equal(gone.code, ErrorCode.Network);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a socket left by a killed daemon: connection refused, exit 9', async () => {
    const dir = tempDir();
    try {
      const socket = join(dir, API_SOCKET);
      staleSocket(socket);
      const o = await cli(['status'], { START_TUNNEL_DATADIR: dir });
      assert.ok(isOneLineError(o), o.stderr);
      assert.equal(o.stderr, `${NOT_RUNNING}; nothing listens on ${socket}\n`);
      assert.equal(o.code, ErrorCode.Network);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('something else answers on the socket: one line, exit 9', async () => {
    const dir = tempDir();
    const socket = join(dir, API_SOCKET);
    const other = createServer((_req, res) => res.end('<html>hello</html>'));
    await new Promise<void>((resolve) => other.listen(socket, resolve));
    try {
      const o = await cli(['status'], { START_TUNNEL_DATADIR: dir });
      assert.ok(isOneLineError(o), o.stderr);
      assert.equal(
        o.stderr,
        `start-tunnel: unexpected answer from the daemon at ${socket} (HTTP 200, not JSON); ` +
          `is another program listening on ${socket}?\n`
      );
      assert.equal(o.code, ErrorCode.Network);
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('authorization', () => {
  it('a caller who is not root: permission denied — run as root, exit 34', async () => {
    // The data directory belongs to someone else and is 0700, as root's is to a user. As root,
    // the CLI runs without the capabilities that bypass file permissions (setpriv drops
    // CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, capabilities(7)); running it as nobody would
    // need a world-readable checkout, which a clone in a 0700 temp directory is not.
    const asRoot = process.getuid?.() === 0;
    const dir = tempDir();
    const data = join(dir, 'data');
    mkdirSync(data, { mode: 0o700 });
    chmodSync(dir, 0o755);
    const socket = join(data, API_SOCKET);
    const server = createServer((_req, res) => res.end('{}'));
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      if (asRoot) chownSync(data, 65534, 65534);
      else chmodSync(data, 0o000);
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
        `start-tunnel: cannot reach ${socket}: permission denied — run as root\n`
      );
      assert.equal(r.status, ErrorCode.Authorization);
    } finally {
      chmodSync(data, 0o700);
      await new Promise<void>((resolve) => server.close(() => resolve()));
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
      /unknown command "nope"; start-tunnel takes subnet, device, port-forward, pinhole, http-redirect, dns, wan, status, web, auth, db, daemon or completions/,
    ],
    [
      ['subnet', 'nope'],
      /unknown command "nope"; start-tunnel subnet takes list, add, remove, set-wan, set-ipv6 or set-dns/,
    ],
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
      ['device', 'set-kind', '10.59.7.1/24', '10.59.7.2'],
      /missing --kind client\|server; usage: start-tunnel device set-kind <SUBNET> <IP> --kind client\|server/,
    ],
    [
      ['device', 'add', '10.59.7.1/24', 'nas', '--kind', 'admin'],
      /invalid --kind "admin": expected client, server/,
    ],
    [['subnet', 'set-wan', '10.59.7.1/24', '--wan-ip='], /--wan-ip needs an IPv4 address/],
    [['device', 'set-wan', 'a', 'b', '--wan-ip', ' '], /--wan-ip needs an IPv4 address/],
    [['subnet', 'set-ipv6', '10.59.7.1/24', '--prefix='], /--prefix needs an IPv6 prefix/],
    [['pinhole', 'add', '2001:db8::2', '0'], /invalid EXTERNAL_PORT "0": expected a port number/],
    [
      ['pinhole', 'add', '2001:db8::2', '443', '--internal-port', '65536'],
      /invalid --internal-port "65536"/,
    ],
    [['pinhole', 'add', '2001:db8::2', '443', '--count', '0'], /invalid --count "0"/],
    [['pinhole', 'remove', '2001:db8::2'], /missing <EXTERNAL_PORT>/],
    [['http-redirect', 'set-enabled'], /missing <IP>; usage: start-tunnel http-redirect/],
    [['subnet', 'set-dns', '10.59.7.1/24'], /missing --mode default\|device\|custom/],
    [['subnet', 'set-dns', 'a', '--mode', 'google'], /invalid --mode "google": expected default/],
    [
      ['subnet', 'set-dns', 'a', '--mode', 'default', '--server', '1.1.1.1'],
      /--server goes with --mode custom/,
    ],
    [['subnet', 'set-dns', 'a', '--mode', 'custom', '--device-ip', 'x'], /--device-ip goes with/],
    [['dns', 'add', 'nas.home.arpa', '10.59.7.10'], /missing --type A\|AAAA\|CNAME\|TXT/],
    [['dns', 'add', 'n', 'v', '--type', 'MX'], /invalid --type "MX": expected A, AAAA, CNAME, TXT/],
    [['dns', 'add', 'n', 'v', '--type', 'A', '--ttl', '5m'], /invalid --ttl "5m"/],
    [
      ['port-forward', 'add', '443', '10.59.7.2:443', '--proxy-protocol'],
      /--proxy-protocol goes with --sni HOST or --fallback/,
    ],
    [['port-forward', 'remove', '443', '--hostname='], /--hostname needs a hostname/],
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
