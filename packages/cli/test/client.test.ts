// SPDX-License-Identifier: MIT
/**
 * The client on its own: the data directory's resolution, the RPC URL, the error message of a
 * JSON-RPC error, `HttpTransport` against servers that answer badly or not at all, and the
 * formatting helpers the tables use.
 * @module
 */

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_DATA_DIR, ErrorCode } from '@start-tunnel/protocol';
import { deviceState, formatAge, formatBytes, formatUptime, table } from '../src/format.ts';
import {
  ClientError,
  connect,
  exitCodeFor,
  HttpTransport,
  localSocketPath,
  RpcClient,
  resolveDataDir,
  rpcErrorMessage,
  rpcUrl,
  TransportError,
} from '../src/index.ts';
import { type FakeDaemon, fakeDaemon } from './_fake-daemon.ts';

describe('finding the daemon', () => {
  it('data directory: flag, else environment, else default', () => {
    assert.equal(resolveDataDir('/a', { START_TUNNEL_DATADIR: '/b' }), '/a');
    assert.equal(resolveDataDir(undefined, { START_TUNNEL_DATADIR: '/b' }), '/b');
    assert.equal(resolveDataDir(undefined, { START_TUNNEL_DATADIR: '' }), DEFAULT_DATA_DIR);
    assert.equal(resolveDataDir(undefined, {}), DEFAULT_DATA_DIR);
  });

  it('RPC URL for IPv4 and IPv6 API addresses', () => {
    assert.equal(rpcUrl('http', '127.0.59.60:5960'), 'http://127.0.59.60:5960/rpc/v0');
    assert.equal(rpcUrl('https', '[::1]:8443'), 'https://[::1]:8443/rpc/v0');
  });

  it('exit codes: 1..125 as is, anything else 1', () => {
    assert.deepEqual([6, 34, 125, 126, 0, -32602, 1.5].map(exitCodeFor), [6, 34, 125, 1, 1, 1, 1]);
  });
});

describe('RPC errors', () => {
  it('message, then details and field when the message lacks them', () => {
    assert.equal(rpcErrorMessage({ code: 6, message: 'Device not found' }), 'Device not found');
    assert.equal(
      rpcErrorMessage({ code: 38, message: 'Invalid ip "10.59.7.0"', data: { field: 'ip' } }),
      'Invalid ip "10.59.7.0"'
    );
    assert.equal(
      rpcErrorMessage({
        code: 38,
        message: 'Address taken',
        data: { field: 'ip', details: 'by "nas"' },
      }),
      'Address taken: by "nas" (field "ip")'
    );
    // the field is matched as a word, not inside another one
    assert.equal(
      rpcErrorMessage({ code: 38, message: 'Skipped', data: { field: 'ip' } }),
      'Skipped (field "ip")'
    );
    assert.equal(rpcErrorMessage({ code: 1, message: '' }), 'error 1');
  });

  it('RpcClient throws ClientError with the code and field', async () => {
    const client = new RpcClient({
      description: 'test',
      send: async (req) => ({
        jsonrpc: '2.0',
        id: req.id ?? null,
        error: { code: ErrorCode.NotFound, message: 'No such subnet', data: { field: 'subnet' } },
      }),
    });
    await assert.rejects(client.call('device.list', { subnet: '10.59.8.1/24' }), (err) => {
      assert.ok(err instanceof ClientError);
      assert.equal(err.code, ErrorCode.NotFound);
      assert.equal(err.exitCode, ErrorCode.NotFound);
      assert.equal(err.field, 'subnet');
      return true;
    });
  });

  it('connect() finds the socket in the data directory; ids increase per call', async () => {
    const d: FakeDaemon = await fakeDaemon();
    try {
      assert.equal(localSocketPath(d.dir), d.socket);
      const client = await connect({ env: d.env });
      assert.equal(client.transport.description, `the daemon at ${d.socket}`);
      const flagged = await connect({ dataDir: d.dir, env: { START_TUNNEL_DATADIR: '/nowhere' } });
      assert.equal(flagged.transport.description, `the daemon at ${d.socket}`);
      const ids: unknown[] = [];
      const send = client.transport.send.bind(client.transport);
      (client.transport as { send: typeof send }).send = async (req) => {
        ids.push(req.id);
        return send(req);
      };
      await client.call('status', {});
      await client.call('wan.show', {});
      assert.deepEqual(ids, [1, 2]);
      assert.deepEqual(
        d.calls.map((c) => c.method),
        ['status', 'wan.show']
      );
    } finally {
      await d.stop();
    }
  });
});

describe('HttpTransport against bad servers', () => {
  let server: Server;
  let address: string;
  let reply: (res: import('node:http').ServerResponse) => void = () => {};
  const seen: { headers: Record<string, unknown>; body: string }[] = [];
  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        seen.push({ headers: req.headers, body });
        reply(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const a = server.address();
    assert.ok(a && typeof a === 'object');
    address = `127.0.0.1:${a.port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const transport = (timeoutMs = 5000) =>
    new HttpTransport({
      url: rpcUrl('http', address),
      description: 'test',
      headers: (body) => ({ 'x-signature': `sig(${body.length})` }),
      timeoutMs,
    });

  async function failure(timeoutMs?: number): Promise<TransportError> {
    try {
      await transport(timeoutMs).send({ jsonrpc: '2.0', id: 1, method: 'status', params: {} });
    } catch (err) {
      assert.ok(err instanceof TransportError, String(err));
      return err;
    }
    assert.fail('no error');
  }

  it('sends JSON with the hook headers (the remote signer goes here)', async () => {
    reply = (res) => res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: 'ok' }));
    seen.length = 0;
    const r = await transport().send({ jsonrpc: '2.0', id: 1, method: 'status', params: {} });
    assert.deepEqual(r, { jsonrpc: '2.0', id: 1, result: 'ok' });
    const body = '{"jsonrpc":"2.0","id":1,"method":"status","params":{}}';
    assert.equal(seen[0]?.body, body);
    assert.equal(seen[0]?.headers['content-type'], 'application/json');
    assert.equal(seen[0]?.headers['x-signature'], `sig(${body.length})`);
  });

  it('not JSON, not JSON-RPC, 401', async () => {
    reply = (res) => {
      res.statusCode = 404;
      res.end('<html>nope</html>');
    };
    assert.deepEqual(
      [(await failure()).kind, (await failure()).detail],
      ['protocol', 'HTTP 404, not JSON']
    );
    reply = (res) => res.end('[1,2]');
    assert.equal((await failure()).detail, 'HTTP 200, not a JSON-RPC response');
    reply = (res) => res.end('{"hello":1}');
    assert.equal((await failure()).kind, 'protocol');
    reply = (res) => {
      res.statusCode = 401;
      res.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: null,
          error: { code: 34, message: 'Key is not authorized' },
        })
      );
    };
    const unauthorized = await failure();
    assert.equal(unauthorized.kind, 'unauthorized');
    assert.equal(unauthorized.detail, 'Key is not authorized');
  });

  it('an error body with another status is still the RPC error', async () => {
    reply = (res) => {
      res.statusCode = 415;
      res.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: null,
          error: { code: -32600, message: 'Content-Type must be application/json' },
        })
      );
    };
    const r = await transport().send({ jsonrpc: '2.0', id: 1, method: 'status', params: {} });
    assert.ok('error' in r && r.error.message === 'Content-Type must be application/json');
  });

  it('no answer: timeout', async () => {
    reply = () => {};
    const err = await failure(200);
    assert.equal(err.kind, 'timeout');
  });
});

describe('formatting', () => {
  it('table: aligned, no trailing blanks', () => {
    assert.equal(
      table(
        ['A', 'BB', 'C'],
        [
          ['long', '', 'x'],
          ['s', 'y', ''],
        ]
      ),
      'A     BB  C\nlong      x\ns     y\n'
    );
  });

  it('bytes and ages', () => {
    assert.deepEqual([0, 1023, 1024, 1536, 10 * 1024, 5 * 1024 ** 3].map(formatBytes), [
      '0 B',
      '1023 B',
      '1.0 KiB',
      '1.5 KiB',
      '10 KiB',
      '5.0 GiB',
    ]);
    const now = Date.parse('2026-11-25T12:00:00Z');
    assert.deepEqual(
      [
        null,
        '2026-11-25T11:59:59Z',
        '2026-11-25T11:55:00Z',
        '2026-11-25T09:00:00Z',
        '2026-11-20T12:00:00Z',
      ].map((t) => formatAge(t, now)),
      ['never', '1s ago', '5m ago', '3h ago', '5d ago']
    );
  });

  it('uptime', () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    assert.deepEqual(
      [
        '2026-11-25T11:59:20Z',
        '2026-11-25T11:57:00Z',
        '2026-11-25T09:55:00Z',
        '2026-11-21T11:00:00Z',
      ].map((t) => formatUptime(t, now)),
      ['40s', '3m', '2h 5m', '4d 1h']
    );
  });

  it('device state: online, idle, never', () => {
    assert.equal(deviceState({ online: true, lastHandshake: '2026-11-25T11:59:59Z' }), 'online');
    assert.equal(deviceState({ online: false, lastHandshake: '2026-11-25T10:00:00Z' }), 'idle');
    assert.equal(deviceState({ online: false, lastHandshake: null }), 'never');
  });
});
