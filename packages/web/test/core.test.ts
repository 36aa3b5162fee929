// SPDX-License-Identifier: MIT
// @peculiar/x509 needs the Reflect shim loaded first (src/reflect-shim.ts explains why)
import '../src/reflect-shim.ts';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Argon2Runner } from '../src/argon2-worker.ts';
import { logSafe, WebCore } from '../src/core.ts';
import { pemBlocks } from '../src/encoding.ts';
import { hashPassword } from '../src/password.ts';
import {
  generateSigningKey,
  parseSignatureHeader,
  SignatureError,
  signatureContext,
  signRequest,
} from '../src/signature.ts';
import { MemoryWebStore } from '../src/state.ts';
import { generateCertificate } from '../src/tls.ts';
import { CHEAP_ARGON2, Clock } from './_clock.ts';

const body = new TextEncoder().encode('{"jsonrpc":"2.0","id":1,"method":"status","params":{}}');
const der = (pem: string) => pemBlocks(pem)[0]?.der ?? new Uint8Array();

async function signedCore(listen: string) {
  const clock = new Clock();
  const made = await generateCertificate(['192.0.2.7', 'vpn.example.org'], null, clock.ms);
  const store = new MemoryWebStore();
  const { key } = generateSigningKey();
  await store.update((d) => {
    d.webserver.listen = listen;
    d.webserver.certificate = made.certificate;
    d.webserver.rootCa = made.rootCa;
    d.keys[key.publicKey.pem] = { name: 'laptop', addedAt: new Date(clock.ms).toISOString() };
  });
  const core = new WebCore({ store, now: clock.now, startedAt: clock.ms - 60_000 });
  const leaf = der(made.certificate.chainPem[0] ?? '');
  return { clock, core, key, leaf, store };
}

describe('signed requests on WebCore', () => {
  it('accepts a request bound to the presented certificate, under any of its names', async () => {
    const { clock, core, key, leaf } = await signedCore('192.0.2.7:8443');
    for (const host of ['192.0.2.7', 'vpn.example.org', '192.0.2.7:8443']) {
      const header = signRequest(key, body, signatureContext(host, leaf), { now: clock.ms });
      assert.equal(core.verifySigned(header, body).name, 'laptop', host);
    }
    const header = signRequest(key, body, signatureContext('192.0.2.7', leaf), { now: clock.ms });
    assert.equal(core.verifySigned(header, body, leaf).name, 'laptop');
  });

  it('refuses a request made for another server with the same name (host-only, or another certificate)', async () => {
    const { clock, core, key } = await signedCore('192.0.2.7:8443');
    const other = await generateCertificate(['192.0.2.7', 'vpn.example.org'], null, clock.ms);
    const otherLeaf = der(other.certificate.chainPem[0] ?? '');
    for (const context of ['vpn.example.org', signatureContext('vpn.example.org', otherLeaf)]) {
      const header = signRequest(key, body, context, { now: clock.ms });
      assert.throws(
        () => core.verifySigned(header, body),
        (e: unknown) => e instanceof SignatureError && /does not verify/.test(e.message),
        context
      );
    }
  });

  it('a wildcard listen address is no context', async () => {
    for (const listen of ['0.0.0.0:8443', '[::]:8443']) {
      const { clock, core, key, leaf } = await signedCore(listen);
      const contexts = core.signatureContexts();
      assert.ok(contexts.length > 0);
      assert.ok(
        contexts.every((c) => !/^(0\.0\.0\.0|::|\[::\])(:8443)? /.test(c)),
        contexts.join(', ')
      );
      const host = listen.startsWith('[') ? '::' : '0.0.0.0';
      const header = signRequest(key, body, signatureContext(host, leaf), { now: clock.ms });
      assert.throws(() => core.verifySigned(header, body), /does not verify/);
    }
  });

  it('refuses a timestamp from before the daemon started', async () => {
    const { clock, core, key, leaf, store } = await signedCore('192.0.2.7:8443');
    const header = signRequest(key, body, signatureContext('192.0.2.7', leaf), { now: clock.ms });
    assert.equal(core.verifySigned(header, body).name, 'laptop');
    clock.advance(5_000);
    const restarted = new WebCore({ store, now: clock.now, startedAt: clock.ms });
    assert.throws(() => restarted.verifySigned(header, body), /predates the server start/);
    assert.equal(parseSignatureHeader(header).signer.pem, key.publicKey.pem);
  });
});

describe('logRefusal', () => {
  it('strips control characters, separators and bidi overrides from both parts', () => {
    const lines: string[] = [];
    const core = new WebCore({
      store: new MemoryWebStore(),
      now: new Clock().now,
      log: (l) => lines.push(l),
    });
    core.logRefusal('192.0.2.1\n', 'Unsupported key type "\u001b[31mx\u0085y\u2028z\u202e"');
    assert.equal(lines.length, 1);
    assert.doesNotMatch(lines[0] ?? '', /[\p{Cc}\u2028\u202e]/u);
    assert.match(
      lines[0] ?? '',
      /192\.0\.2\.1\\u\{a\}: Unsupported key type "\\u\{1b\}\[31mx\\u\{85\}y/
    );
    assert.equal(logSafe('x'.repeat(400), 300).length, 301);
  });

  it('writes a burst, then one line every 6 s, counting what it left out', () => {
    const lines: string[] = [];
    const clock = new Clock();
    const core = new WebCore({
      store: new MemoryWebStore(),
      now: clock.now,
      log: (l) => lines.push(l),
    });
    for (let i = 0; i < 1000; i++) core.logRefusal('192.0.2.1', `refusal ${i}`);
    assert.equal(lines.length, 10);
    clock.advance(6_000);
    core.logRefusal('192.0.2.1', 'later');
    assert.equal(lines.length, 11);
    assert.match(lines[10] ?? '', /later \(990 earlier refusals not logged\)$/);
  });
});

describe('checkLogin and checkPassword (Argon2 in the worker)', () => {
  it('no password, incorrect, throttled after the burst, correct from another address', async () => {
    const runner = new Argon2Runner();
    try {
      const store = new MemoryWebStore();
      const core = new WebCore({
        store,
        now: new Clock().now,
        argon2: CHEAP_ARGON2,
        argon2Runner: runner,
      });
      assert.deepEqual(await core.checkLogin('192.0.2.1', 'x'), {
        ok: false,
        reason: 'no-password',
      });
      const phc = await hashPassword('correct horse', CHEAP_ARGON2, runner);
      await store.update((d) => {
        d.password = phc;
      });
      for (let i = 0; i < 5; i++) {
        assert.deepEqual(await core.checkLogin('192.0.2.1', 'wrong'), {
          ok: false,
          reason: 'incorrect',
        });
      }
      const sixth = await core.checkLogin('192.0.2.1', 'correct horse');
      assert.equal(sixth.ok === false && sixth.reason, 'throttled');
      assert.deepEqual(await core.checkLogin('192.0.2.2', 'correct horse'), { ok: true });
      assert.deepEqual(await core.checkPassword('correct horse', 'sess1'), { ok: true });
      for (let i = 0; i < 5; i++) await core.checkPassword('wrong', 'sess1');
      const again = await core.checkPassword('correct horse', 'sess1');
      assert.equal(again.ok === false && again.reason, 'throttled', 'per session too');
      const made = await core.hashPassword('new password');
      assert.match(made, /^\$argon2id\$v=19\$m=64,t=1,p=1\$/);
    } finally {
      await runner.close();
    }
  });
});
