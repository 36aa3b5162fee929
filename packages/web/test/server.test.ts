// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import type { RpcContext } from '@start-tunnel/protocol';
import { generateSigningKey, signatureContext, signRequest } from '../src/index.ts';
import { type Kit, kit } from './_fixture.ts';

const LOCAL: RpcContext = { auth: 'local' };
const kits: Kit[] = [];
after(async () => {
  for (const k of kits) await k.web.close();
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  peer: X509Certificate;
}

/** One HTTPS request on a fresh connection, trusting only `ca`. */
function https(
  address: string,
  ca: string,
  path: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {}
): Promise<Reply> {
  const url = new URL(`https://${address}${path}`);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: init.method ?? 'GET', ca, agent: false, headers: init.headers ?? {} },
      (res) => {
        const peer = new X509Certificate((res.socket as TLSSocket).getPeerCertificate().raw);
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, peer })
        );
      }
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

function rpc(
  address: string,
  ca: string,
  method: string,
  params: unknown,
  headers: Record<string, string> = {}
) {
  return https(address, ca, '/rpc/v0', {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    headers: { 'content-type': 'application/json', ...headers },
  });
}

async function freePort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** `web init` as the CLI drives it over the local API. */
async function init(k: Kit): Promise<{ address: string; root: string }> {
  const call = (m: string, p: unknown = {}) => k.dispatcher.call(m, p, LOCAL);
  await call('web.set-listen', { listen: '127.0.0.1:0' });
  const cert = (await call('web.generate-certificate', { subject: [] })) as { rootCa: string };
  await call('auth.set-password', { password: 'a long password' });
  await call('web.enable');
  assert.ok(k.web.address);
  return { address: k.web.address, root: cert.rootCa };
}

describe('the HTTPS listener', () => {
  it('serves the panel and the API over TLS a client trusting only the root CA accepts', async () => {
    const k = kit({ now: Date.now });
    kits.push(k);
    const { address, root } = await init(k);
    const page = await https(address, root, '/login');
    assert.equal(page.status, 200);
    assert.match(page.body, /data-rpc="auth\.login"/);
    assert.equal(page.peer.checkIP('127.0.0.1'), '127.0.0.1');

    const login = await rpc(address, root, 'auth.login', { password: 'a long password' });
    assert.equal(login.status, 200);
    const cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
    assert.match(cookie, /^__Host-session=/);
    const status = await rpc(address, root, 'web.status', {}, { cookie });
    assert.equal(
      (JSON.parse(status.body) as { result: { running: boolean } }).result.running,
      true
    );

    const { generateCertificate } = await import('../src/tls.ts');
    const stranger = await generateCertificate(['127.0.0.1'], null);
    await assert.rejects(
      https(address, stranger.rootCa.certPem, '/login'),
      /self[- ]signed|unable to verify|certificate/i
    );
  });

  it('accepts a signed request addressed to its IP', async () => {
    const k = kit({ now: Date.now });
    kits.push(k);
    const { address, root } = await init(k);
    const { key } = generateSigningKey();
    await k.dispatcher.call('auth.key.add', { name: 'cli', key: key.publicKey.openssh }, LOCAL);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'subnet.list', params: {} });
    const leaf = k.store.read().webserver.certificate?.chainPem[0] ?? '';
    const sig = signRequest(
      key,
      new TextEncoder().encode(body),
      signatureContext('127.0.0.1', leaf)
    );
    const r = await https(address, root, '/rpc/v0', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-startos-auth-sig': sig },
    });
    assert.equal(r.status, 200, r.body);
    const replay = await https(address, root, '/rpc/v0', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-startos-auth-sig': sig },
    });
    assert.equal(replay.status, 401);
  });

  it('caps open connections: past the cap a new connection is closed at once', async () => {
    const k = kit({ now: Date.now, maxConnections: 3 });
    kits.push(k);
    const { address, root } = await init(k);
    const [host, port] = [address.slice(0, address.lastIndexOf(':')), address.split(':').pop()];
    const held: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = connect(Number(port), host);
      await new Promise<void>((resolve) => s.once('connect', () => resolve()));
      held.push(s);
    }
    const extra = connect(Number(port), host);
    const closed = await new Promise<boolean>((resolve) => {
      extra.once('close', () => resolve(true));
      setTimeout(() => resolve(false), 5_000);
    });
    assert.equal(closed, true, 'the fourth connection was closed');
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await https(address, root, '/login')).status, 200, 'room again once they go');
  });

  it('swaps the certificate live: new connections get the new leaf under the same root', async () => {
    const k = kit({ now: Date.now });
    kits.push(k);
    const { address, root } = await init(k);
    const before = (await https(address, root, '/login')).peer;
    const renewed = (await k.dispatcher.call(
      'web.generate-certificate',
      { subject: [] },
      LOCAL
    )) as {
      rootCa: string;
      rootRegenerated: boolean;
    };
    assert.equal(renewed.rootRegenerated, false);
    assert.equal(k.web.address, address, 'same listener');
    const afterSwap = (await https(address, root, '/login')).peer;
    assert.notEqual(afterSwap.fingerprint256, before.fingerprint256);
    assert.equal(
      afterSwap.fingerprint256,
      new X509Certificate(k.store.read().webserver.certificate?.chainPem[0] ?? '').fingerprint256
    );
    assert.ok(k.logs.includes('web: certificate replaced'));
  });

  it('moves when the listen address changes, stops when disabled, restarts when enabled', async () => {
    const k = kit({ now: Date.now });
    kits.push(k);
    const { address, root } = await init(k);
    const port = await freePort();
    await k.dispatcher.call('web.set-listen', { listen: `127.0.0.1:${port}` }, LOCAL);
    assert.equal(k.web.address, `127.0.0.1:${port}`);
    assert.equal((await https(`127.0.0.1:${port}`, root, '/login')).status, 200);
    await assert.rejects(https(address, root, '/login'), /ECONNREFUSED/);
    await k.dispatcher.call('web.disable', {}, LOCAL);
    assert.equal(k.web.address, null);
    await assert.rejects(https(`127.0.0.1:${port}`, root, '/login'), /ECONNREFUSED/);
    await k.dispatcher.call('web.enable', {}, LOCAL);
    assert.equal((await https(`127.0.0.1:${port}`, root, '/login')).status, 200);
  });

  it('answers 41 and keeps the old listener when the new address is taken', async () => {
    const k = kit({ now: Date.now });
    kits.push(k);
    const { address, root } = await init(k);
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const taken = (squatter.address() as { port: number }).port;
    try {
      await assert.rejects(
        k.dispatcher.call('web.set-listen', { listen: `127.0.0.1:${taken}` }, LOCAL),
        (e: { code?: number; field?: string; message: string }) =>
          e.code === 41 &&
          e.field === 'listen' &&
          /not available to bind to: EADDRINUSE/.test(e.message)
      );
      assert.equal(k.web.address, address);
      assert.equal(k.store.read().webserver.listen, '127.0.0.1:0');
      assert.equal((await https(address, root, '/login')).status, 200);
    } finally {
      squatter.close();
    }
  });
});
