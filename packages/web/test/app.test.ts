// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RpcContext } from '@start-tunnel/protocol';
import {
  generateCertificate,
  generateSigningKey,
  SESSION_ABSOLUTE_MS,
  SESSION_COOKIE,
  SESSION_IDLE_MS,
  signRequest,
} from '../src/index.ts';
import { signatureContext } from '../src/signature.ts';
import { call, ENV, get, type Kit, kit, login, ORIGIN, PASSWORD, setPassword } from './_fixture.ts';

describe('POST /rpc/v0: transport', () => {
  it('takes JSON bodies only (415), valid JSON only (400), bounded (413), POST only (405)', async () => {
    const k = kit();
    const form = await call(
      k,
      'status',
      {},
      { headers: { 'content-type': 'text/plain', origin: ORIGIN } }
    );
    assert.equal(form.res.status, 415);
    assert.equal(form.body.error?.code, -32600);
    await setPassword(k);
    const cookie = await login(k);
    const broken = await call(k, 'status', {}, { body: '{"method":', cookie });
    assert.equal(broken.res.status, 400);
    assert.equal(broken.body.error?.code, -32700);
    const huge = await call(
      k,
      'status',
      {},
      { body: JSON.stringify({ pad: 'x'.repeat(1 << 20) }), cookie }
    );
    assert.equal(huge.res.status, 413);
    const batch = Array.from({ length: 65 }, (_, id) => ({ id, method: 'status' }));
    const long = await call(k, '', {}, { body: JSON.stringify(batch), cookie });
    assert.equal(long.res.status, 400);
    assert.match(long.body.error?.message ?? '', /Batch too large: at most 64/);
    const getIt = await k.web.app.request(`${ORIGIN}/rpc/v0`, {}, ENV);
    assert.equal(getIt.status, 405);
    assert.equal(getIt.headers.get('allow'), 'POST');
  });

  it('answers on any /rpc/ path, as the original', async () => {
    const k = kit();
    await setPassword(k);
    const cookie = await login(k);
    const r = await call(k, 'subnet.list', {}, { cookie, path: '/rpc/v1' });
    assert.equal(r.res.status, 200);
    assert.ok(Array.isArray(r.body.result));
  });

  it('refuses a browser request from another origin (403) and never answers CORS', async () => {
    const k = kit();
    await setPassword(k);
    const evil = await call(
      k,
      'auth.login',
      { password: PASSWORD },
      { headers: { origin: 'https://evil.test' } }
    );
    assert.equal(evil.res.status, 403);
    assert.match(evil.body.error?.message ?? '', /Origin is not this server/);
    assert.equal(evil.res.headers.get('set-cookie'), null);
    const site = await call(
      k,
      'auth.login',
      { password: PASSWORD },
      { headers: { 'sec-fetch-site': 'cross-site' } }
    );
    assert.equal(site.res.status, 403);
    const same = await call(
      k,
      'auth.login',
      { password: PASSWORD },
      { headers: { origin: ORIGIN, 'sec-fetch-site': 'same-origin' } }
    );
    assert.equal(same.res.status, 200);
    assert.equal(same.res.headers.get('access-control-allow-origin'), null);
    const preflight = await k.web.app.request(
      `${ORIGIN}/rpc/v0`,
      {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.test', 'access-control-request-method': 'POST' },
      },
      ENV
    );
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    assert.equal(preflight.headers.get('access-control-allow-credentials'), null);
  });

  it('sets a strict CSP and the other security headers on every response', async () => {
    const k = kit();
    for (const res of [
      (await call(k, 'status')).res,
      await get(k, '/login'),
      await get(k, '/assets/panel.js'),
    ]) {
      assert.match(
        res.headers.get('content-security-policy') ?? '',
        /default-src 'self'.*script-src 'self'/
      );
      assert.doesNotMatch(
        res.headers.get('content-security-policy') ?? '',
        /unsafe-inline|unsafe-eval|https?:/
      );
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('x-frame-options'), 'DENY');
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    }
  });
});

describe('POST /rpc/v0: cross-site requests', () => {
  const FORM_REFUSED =
    /^Cross-site request refused: a form or text POST needs this server's Origin$/;
  const EVIL = { origin: 'https://evil.test', 'sec-fetch-site': 'cross-site' };
  const logout = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'auth.logout', params: {} });

  /** A refusal is a small JSON-RPC error, never cached, that names its reason. */
  function assertSmallRefusal(r: Awaited<ReturnType<typeof call>>, status: number, why: RegExp) {
    assert.equal(r.res.status, status);
    assert.match(r.body.error?.message ?? '', why);
    assert.ok(r.text.length < 160, `${r.text.length} bytes: ${r.text}`);
    assert.match(r.res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(r.res.headers.get('cache-control'), 'no-store');
  }

  async function sessionStillValid(k: Kit, cookie: string): Promise<boolean> {
    return (await call(k, 'auth.key.list', {}, { cookie })).res.status === 200;
  }

  it("refuses another site's form POST with Hono's csrf (403), even with the user's cookie", async () => {
    const k = kit();
    await setPassword(k);
    const cookie = await login(k);
    for (const type of [
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'text/plain;charset=UTF-8',
      'TEXT/PLAIN',
    ]) {
      const r = await call(
        k,
        '',
        {},
        { body: logout, cookie, headers: { ...EVIL, 'content-type': type } }
      );
      assertSmallRefusal(r, 403, FORM_REFUSED);
    }
    // a form submitted under `Referrer-Policy: no-referrer` carries `Origin: null`
    const hidden = await call(
      k,
      '',
      {},
      { body: logout, cookie, headers: { origin: 'null', 'content-type': 'text/plain' } }
    );
    assertSmallRefusal(hidden, 403, FORM_REFUSED);
    // a sibling origin is another origin too
    const sibling = await call(
      k,
      '',
      {},
      {
        body: logout,
        cookie,
        headers: {
          origin: 'https://other.panel.test',
          'sec-fetch-site': 'same-site',
          'content-type': 'application/x-www-form-urlencoded',
        },
      }
    );
    assertSmallRefusal(sibling, 403, FORM_REFUSED);
    assert.ok(await sessionStillValid(k, cookie), 'no refused request logged the user out');
  });

  it("refuses a text/plain POST without this server's Origin (403), and with it (415)", async () => {
    const k = kit();
    await setPassword(k);
    const cookie = await login(k);
    // neither Origin nor Sec-Fetch-Site: Hono's csrf refuses form and text bodies it cannot place
    const bare = await call(
      k,
      '',
      {},
      { body: logout, cookie, headers: { 'content-type': 'text/plain' } }
    );
    assertSmallRefusal(bare, 403, FORM_REFUSED);
    // no Content-Type at all counts as text/plain
    const untyped = await k.web.app.request(
      `${ORIGIN}/rpc/v0`,
      { method: 'POST', headers: { cookie }, body: new TextEncoder().encode(logout) },
      ENV
    );
    assert.equal(untyped.status, 403);
    // from this server's own origin it passes csrf, and the endpoint still takes JSON only
    const own = await call(
      k,
      '',
      {},
      {
        body: logout,
        cookie,
        headers: { origin: ORIGIN, 'sec-fetch-site': 'same-origin', 'content-type': 'text/plain' },
      }
    );
    assertSmallRefusal(own, 415, /^Content-Type must be application\/json$/);
    assert.ok(await sessionStillValid(k, cookie), 'no refused request logged the user out');
  });

  it("refuses a JSON POST a browser marks as cross-site (403), which Hono's csrf lets through", async () => {
    const k = kit();
    await setPassword(k);
    const cookie = await login(k);
    for (const headers of [
      EVIL,
      { origin: 'https://evil.test' },
      { origin: 'null' },
      { 'sec-fetch-site': 'same-site' },
    ]) {
      const r = await call(k, '', {}, { body: logout, cookie, headers });
      assertSmallRefusal(r, 403, /^Cross-origin request refused: the Origin is not this server$/);
    }
    assert.ok(await sessionStillValid(k, cookie), 'no refused request logged the user out');
  });

  it('accepts a same-origin JSON POST with a session, with or without Sec-Fetch-Site', async () => {
    const k = kit();
    await setPassword(k);
    const cookie = await login(k);
    for (const headers of [
      { origin: ORIGIN, 'sec-fetch-site': 'same-origin' },
      { origin: ORIGIN },
      { 'sec-fetch-site': 'same-origin' },
    ]) {
      const r = await call(k, 'auth.key.list', {}, { cookie, headers });
      assert.equal(r.res.status, 200, r.text);
      assert.deepEqual(r.body.result, []);
    }
  });

  it("accepts the local socket's JSON without Origin, and answers its other bodies 415, not 403", async () => {
    const k = kit();
    const post = (type: string) =>
      k.web.app.request(
        'http://localhost/rpc/v0',
        {
          method: 'POST',
          headers: { 'content-type': type },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'auth.key.list', params: {} }),
        },
        { local: true }
      );
    const json = await post('application/json');
    assert.equal(json.status, 200);
    assert.deepEqual(((await json.json()) as { result?: unknown }).result, []);
    assert.equal((await post('text/plain')).status, 415);
  });
});

describe('POST /rpc/v0: authentication', () => {
  it('a stranger may send one small auth.login object and nothing else: junk gets a small 401', async () => {
    const k = kit();
    await setPassword(k);
    const login = JSON.stringify({ id: 1, method: 'auth.login', params: { password: PASSWORD } });
    const junk = [
      `[${Array.from({ length: 524_287 }, () => '1').join(',')}]`, // the review's 1 MiB batch
      JSON.stringify([1, 2, 3]),
      JSON.stringify([JSON.parse(login), JSON.parse(login)]), // even a batch of logins
      '{}',
      '{"method":',
      JSON.stringify({ id: 1, method: 'auth.login', params: { password: 'x'.repeat(5000) } }),
    ];
    for (const body of junk) {
      const r = await call(k, '', {}, { body });
      assert.equal(r.res.status, 401, body.slice(0, 40));
      assert.ok(r.text.length < 200, `a small answer to ${body.slice(0, 40)}: ${r.text.length} B`);
      assert.equal(r.res.headers.get('set-cookie'), null);
    }
    const ok = await call(k, '', {}, { body: login });
    assert.equal(ok.res.status, 200, 'the one thing a stranger may send still works');
  });

  it('every method but auth.login answers 401 with code 34 without auth', async () => {
    const k = kit();
    const names = k.dispatcher.names();
    assert.ok(names.includes('web.enable') && names.includes('device.add') && names.length > 30);
    for (const method of names) {
      const r = await call(k, method, {});
      if (method === 'auth.login') {
        assert.notEqual(r.res.status, 401);
        continue;
      }
      assert.equal(r.res.status, 401, method);
      assert.equal(r.body.error?.code, 34, method);
    }
    const unknown = await call(k, 'no.such.method');
    assert.equal(unknown.res.status, 401, 'unknown methods do not reveal that they are unknown');
    const batch = await call(
      k,
      '',
      {},
      {
        body: JSON.stringify([
          { id: 1, method: 'auth.login', params: { password: 'x' } },
          { id: 2, method: 'status', params: {} },
        ]),
      }
    );
    assert.equal(batch.res.status, 401, 'a batch needs auth when any member does');
  });

  it('login: wrong password is code 7 on the field; right password sets the cookie, not the body', async () => {
    const k = kit();
    await setPassword(k);
    const wrong = await call(k, 'auth.login', { password: 'nope' });
    assert.equal(wrong.res.status, 200);
    assert.deepEqual([wrong.body.error?.code, wrong.body.error?.data?.field], [7, 'password']);
    assert.equal(wrong.res.headers.get('set-cookie'), null);
    const ok = await call(
      k,
      'auth.login',
      { password: PASSWORD },
      { headers: { 'user-agent': 'Test/1' } }
    );
    const cookie = ok.res.headers.get('set-cookie') ?? '';
    assert.match(
      cookie,
      /^__Host-session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Strict; Max-Age=604800$/
    );
    const token = cookie.slice(`${SESSION_COOKIE}=`.length, cookie.indexOf(';'));
    assert.equal(ok.text.includes(token), false, 'the token is only in Set-Cookie');
    assert.equal(ok.res.headers.get('cache-control'), 'no-store');
    const status = await call(k, 'status', {}, { cookie: `${SESSION_COOKIE}=${token}` });
    assert.equal(status.res.status, 200);
    assert.equal((status.body.result as { listenPort: number }).listenPort, 51820);
  });

  it('login field errors name the field', async () => {
    const k = kit();
    const r = await call(k, 'auth.login', {});
    assert.equal(r.body.error?.code, -32602);
    assert.equal(r.body.error?.data?.field, 'password');
    const long = await call(k, 'auth.login', { password: 'x'.repeat(2000) });
    assert.equal(long.body.error?.data?.field, 'password');
    assert.match(long.body.error?.message ?? '', /at most 1024/);
  });

  it('logout ends the session and clears the cookie', async () => {
    const k = kit();
    await setPassword(k);
    const cookie = await login(k);
    const out = await call(k, 'auth.logout', {}, { cookie });
    assert.equal(out.body.result, null);
    assert.match(out.res.headers.get('set-cookie') ?? '', /^__Host-session=; .*Max-Age=0/);
    assert.equal((await call(k, 'status', {}, { cookie })).res.status, 401);
    assert.deepEqual(k.store.read().sessions, {});
  });

  it('throttles logins per address, never the owner elsewhere: HTTP 429, code 37, Retry-After', async () => {
    const k = kit();
    await setPassword(k);
    for (let i = 0; i < 5; i++) {
      assert.equal((await call(k, 'auth.login', { password: 'bad' })).body.error?.code, 7);
    }
    const limited = await call(k, 'auth.login', { password: PASSWORD });
    assert.equal(limited.res.status, 429);
    assert.equal(limited.body.error?.code, 37);
    assert.ok(Number(limited.res.headers.get('retry-after')) >= 1);
    assert.equal(limited.res.headers.get('set-cookie'), null, 'even the right password waits');
    // a dozen failing addresses drain every shared budget; an address that has not been failing
    // still gets in with the right password
    for (let a = 0; a < 12; a++) {
      for (let i = 0; i < 5; i++) {
        const env = { remoteAddress: `192.0.2.${a}` };
        await call(k, 'auth.login', { password: 'bad' }, { env });
      }
    }
    const owner = await call(
      k,
      'auth.login',
      { password: PASSWORD },
      { env: { remoteAddress: '198.51.100.21' } }
    );
    assert.equal(owner.res.status, 200, 'the owner is never locked out by others');
    k.clock.advance(30_000);
    assert.equal((await call(k, 'auth.login', { password: PASSWORD })).res.status, 200);
  });

  it('sessions expire when idle and at the absolute limit', async () => {
    const k = kit();
    await setPassword(k);
    const cookie = await login(k);
    k.clock.advance(SESSION_IDLE_MS - 60_000);
    assert.equal((await call(k, 'status', {}, { cookie })).res.status, 200);
    k.clock.advance(SESSION_IDLE_MS + 1);
    const idle = await call(k, 'status', {}, { cookie });
    assert.equal(idle.res.status, 401);
    assert.match(
      idle.res.headers.get('set-cookie') ?? '',
      /Max-Age=0/,
      'the dead cookie is cleared'
    );

    const busy = await login(k);
    for (let t = 0; t < SESSION_ABSOLUTE_MS - 3600_000; t += 3600_000) {
      k.clock.advance(3600_000);
      assert.equal((await call(k, 'status', {}, { cookie: busy })).res.status, 200);
    }
    k.clock.advance(3600_000);
    assert.equal((await call(k, 'status', {}, { cookie: busy })).res.status, 401);
  });

  it('a forged or stolen-looking cookie is refused', async () => {
    const k = kit();
    await setPassword(k);
    await login(k);
    const id = Object.keys(k.store.read().sessions)[0] ?? '';
    for (const cookie of [
      `__Host-session=${id}`,
      '__Host-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      '__Host-session=',
    ]) {
      assert.equal((await call(k, 'status', {}, { cookie })).res.status, 401, cookie);
    }
  });
});

describe('POST /rpc/v0: signed requests', () => {
  async function signedKit() {
    const k = kit();
    const { key } = generateSigningKey();
    const made = await generateCertificate(['203.0.113.7'], null, k.clock.ms);
    await k.store.update((d) => {
      d.webserver.listen = '203.0.113.7:8443';
      d.webserver.certificate = made.certificate;
      d.webserver.rootCa = made.rootCa;
      d.keys[key.publicKey.pem] = { name: 'laptop', addedAt: '2026-03-01T00:00:00.000Z' };
    });
    const leaf = made.certificate.chainPem[0] ?? '';
    const send = (body: string, header: string, cookie?: string) =>
      call(
        k,
        '',
        {},
        { body, headers: { 'x-startos-auth-sig': header }, ...(cookie ? { cookie } : {}) }
      );
    const sign = (body: string, o: { now?: number; context?: string; signer?: typeof key } = {}) =>
      signRequest(
        o.signer ?? key,
        new TextEncoder().encode(body),
        signatureContext(o.context ?? '203.0.113.7', leaf),
        { now: o.now ?? k.clock.ms }
      );
    return { k, key, send, sign };
  }
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'subnet.list', params: {} });

  it('accepts a request signed by an authorised key, as principal of that name', async () => {
    const { send, sign, k } = await signedKit();
    const r = await send(body, sign(body));
    assert.equal(r.res.status, 200);
    assert.ok(Array.isArray(r.body.result));
    const seen: { auth: string; principal?: string | undefined }[] = [];
    const call = k.dispatcher.call.bind(k.dispatcher);
    k.dispatcher.call = ((method: string, params: unknown, ctx: RpcContext) => {
      seen.push({ auth: ctx.auth, principal: ctx.principal });
      return call(method, params, ctx);
    }) as typeof k.dispatcher.call;
    const who = JSON.stringify({ id: 2, method: 'auth.key.list', params: {} });
    assert.equal((await send(who, sign(who))).res.status, 200);
    assert.deepEqual(seen, [{ auth: 'key', principal: 'laptop' }]);
  });

  it("accepts the CLI's signed request, which carries neither Origin nor Sec-Fetch-Site", async () => {
    const { send, sign } = await signedKit();
    const list = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'auth.key.list', params: {} });
    const r = await send(list, sign(list));
    assert.equal(r.res.status, 200, r.text);
    assert.equal((r.body.result as unknown[]).length, 1);
  });

  it('accepts the listen IP:PORT context (the original) and refuses other servers', async () => {
    const { send, sign } = await signedKit();
    assert.equal((await send(body, sign(body, { context: '203.0.113.7:8443' }))).res.status, 200);
    const other = await send(body, sign(body, { context: '198.51.100.1' }));
    assert.equal(other.res.status, 401);
    assert.equal(other.body.error?.code, 31);
  });

  it('refuses a replay', async () => {
    const { send, sign } = await signedKit();
    const header = sign(body);
    assert.equal((await send(body, header)).res.status, 200);
    const again = await send(body, header);
    assert.equal(again.res.status, 401);
    assert.equal(again.body.error?.code, 34);
    assert.match(again.body.error?.message ?? '', /Replayed/);
  });

  it('refuses a stale request', async () => {
    const { send, sign, k } = await signedKit();
    const r = await send(body, sign(body, { now: k.clock.ms - 45_000 }));
    assert.equal(r.res.status, 401);
    assert.equal(r.body.error?.code, 31);
    assert.match(r.body.error?.message ?? '', /45 s old/);
  });

  it('refuses a tampered body', async () => {
    const { send, sign } = await signedKit();
    const evil = body.replace('subnet.list', 'subnet.remove');
    const r = await send(evil, sign(body));
    assert.equal(r.res.status, 401);
    assert.match(r.body.error?.message ?? '', /Body does not match/);
  });

  it('refuses an unknown key, with no fallback to a valid cookie', async () => {
    const { send, sign, k } = await signedKit();
    await setPassword(k);
    const cookie = await login(k);
    const stranger = generateSigningKey().key;
    const r = await send(body, sign(body, { signer: stranger }), cookie);
    assert.equal(r.res.status, 401);
    assert.equal(r.body.error?.code, 34);
    assert.match(r.body.error?.message ?? '', /not authorized/);
    assert.ok(
      k.logs.some((l) => l.includes('refused request')),
      'the refusal is logged'
    );
  });
});
