// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { RpcContext } from '@start-tunnel/protocol';
import {
  generateCertificate,
  generateSigningKey,
  signatureContext,
  signRequest,
} from '../src/index.ts';
import { call, type Kit, kit, login, PASSWORD, setPassword } from './_fixture.ts';

const LOCAL: RpcContext = { auth: 'local', remoteAddress: '127.0.0.1' };

/** Calls through the dispatcher as root on the server (the local API's context). */
async function local(k: Kit, method: string, params: unknown = {}): Promise<unknown> {
  return k.dispatcher.call(method, params, LOCAL);
}

async function localError(k: Kit, method: string, params: unknown = {}) {
  try {
    await local(k, method, params);
  } catch (err) {
    return err as { code: number; message: string; field?: string };
  }
  throw new Error(`${method} did not fail`);
}

const kits: Kit[] = [];
function tracked(): Kit {
  const k = kit();
  kits.push(k);
  return k;
}
after(async () => {
  for (const k of kits) await k.web.close();
});

describe('auth.set-password and auth.reset-password', () => {
  it('a session must give the current password; others are logged out, the caller stays', async () => {
    const k = kit();
    await setPassword(k);
    const me = await login(k);
    const other = await login(k, PASSWORD, { remoteAddress: '198.51.100.30' });
    const short = await call(
      k,
      'auth.set-password',
      { password: 'short', currentPassword: PASSWORD },
      { cookie: me }
    );
    assert.deepEqual([short.body.error?.code, short.body.error?.data?.field], [-32602, 'password']);
    assert.match(short.body.error?.message ?? '', /at least 8 characters/);
    const wrong = await call(
      k,
      'auth.set-password',
      { password: 'new password 1', currentPassword: 'x' },
      { cookie: me }
    );
    assert.deepEqual(
      [wrong.body.error?.code, wrong.body.error?.data?.field],
      [7, 'currentPassword']
    );
    const ok = await call(
      k,
      'auth.set-password',
      { password: 'new password 1', currentPassword: PASSWORD },
      { cookie: me }
    );
    assert.deepEqual(ok.body.result, { sessionsEnded: 1 });
    assert.equal((await call(k, 'status', {}, { cookie: me })).res.status, 200);
    assert.equal((await call(k, 'status', {}, { cookie: other })).res.status, 401);
    assert.equal((await call(k, 'auth.login', { password: PASSWORD })).body.error?.code, 7);
    assert.ok(await login(k, 'new password 1'));
    assert.ok(ok.text.includes('argon2') === false);
  });

  it('root on the server sets it without the old one', async () => {
    const k = kit();
    await setPassword(k);
    assert.deepEqual(await local(k, 'auth.set-password', { password: 'from the cli 1' }), {
      sessionsEnded: 0,
    });
    assert.ok(await login(k, 'from the cli 1'));
  });

  it('reset-password is for root on the server only, returns a 26-character password', async () => {
    const k = kit();
    await setPassword(k);
    const cookie = await login(k);
    const refused = await call(k, 'auth.reset-password', {}, { cookie });
    assert.equal(refused.body.error?.code, 34);
    assert.match(refused.body.error?.message ?? '', /only for root/);
    const { password } = (await local(k, 'auth.reset-password')) as { password: string };
    assert.match(password, /^[a-z2-7]{26}$/);
    assert.equal((await call(k, 'status', {}, { cookie })).res.status, 401, 'sessions ended');
    assert.ok(await login(k, password));
  });

  it('login through the local API is refused with advice (no cookie to carry)', async () => {
    const k = kit();
    await setPassword(k);
    const err = await localError(k, 'auth.login', { password: PASSWORD });
    assert.equal(err.code, 38);
    assert.match(err.message, /HTTPS panel/);
    const out = await localError(k, 'auth.logout');
    assert.match(out.message, /No session/);
  });
});

describe('auth.session.*', () => {
  it('lists sessions with the current one marked, and kills by id', async () => {
    const k = kit();
    await setPassword(k);
    const me = await login(k);
    k.clock.advance(1000);
    const other = await login(k, PASSWORD, { remoteAddress: '198.51.100.31' });
    const list = (await call(k, 'auth.session.list', {}, { cookie: me })).body.result as {
      id: string;
      current: boolean;
      remoteAddress: string;
    }[];
    assert.equal(list.length, 2);
    const mine = list.find((s) => s.current);
    const theirs = list.find((s) => !s.current);
    assert.equal(mine?.remoteAddress, '198.51.100.20');
    assert.equal(theirs?.remoteAddress, '198.51.100.31');
    const bad = await call(k, 'auth.session.kill', { ids: ['nope'] }, { cookie: me });
    assert.equal(bad.body.error?.data?.field, 'ids[0]');
    const empty = await call(k, 'auth.session.kill', { ids: [] }, { cookie: me });
    assert.equal(empty.body.error?.data?.field, 'ids');
    const killed = await call(k, 'auth.session.kill', { ids: [theirs?.id] }, { cookie: me });
    assert.deepEqual(killed.body.result, { killed: [theirs?.id] });
    assert.equal((await call(k, 'status', {}, { cookie: other })).res.status, 401);
    const self = await call(k, 'auth.session.kill', { ids: [mine?.id] }, { cookie: me });
    assert.match(
      self.res.headers.get('set-cookie') ?? '',
      /Max-Age=0/,
      'killing oneself clears the cookie'
    );
  });
});

describe('auth.key.*', () => {
  it('adds PEM and OpenSSH keys, canonicalised, lists them, removes by name or key', async () => {
    const k = kit();
    const a = generateSigningKey().key;
    const b = generateSigningKey().key;
    const added = (await local(k, 'auth.key.add', { name: 'laptop', key: a.publicKey.pem })) as {
      key: string;
    };
    assert.equal(added.key, a.publicKey.pem);
    await local(k, 'auth.key.add', { name: 'desktop', key: `${b.publicKey.openssh} me@desk` });
    assert.deepEqual(
      Object.keys(k.store.read().keys).sort(),
      [a.publicKey.pem, b.publicKey.pem].sort()
    );
    const list = (await local(k, 'auth.key.list')) as {
      name: string;
      fingerprint: string;
      openssh: string;
    }[];
    assert.deepEqual(
      list.map((x) => x.name),
      ['desktop', 'laptop']
    );
    assert.equal(list[0]?.openssh, b.publicKey.openssh);
    assert.equal(list[1]?.fingerprint, a.publicKey.fingerprint);
    await local(k, 'auth.key.remove', { key: 'desktop' });
    await local(k, 'auth.key.remove', { key: a.publicKey.openssh });
    assert.deepEqual(k.store.read().keys, {});
  });

  it('names the field at fault', async () => {
    const k = kit();
    const a = generateSigningKey().key;
    assert.equal(
      (await localError(k, 'auth.key.add', { name: 'x', key: 'ssh-rsa AAAA' })).field,
      'key'
    );
    assert.equal(
      (await localError(k, 'auth.key.add', { name: '', key: a.publicKey.pem })).field,
      'name'
    );
    await local(k, 'auth.key.add', { name: 'laptop', key: a.publicKey.pem });
    const dup = await localError(k, 'auth.key.add', {
      name: 'laptop',
      key: generateSigningKey().key.publicKey.pem,
    });
    assert.deepEqual([dup.field, dup.message], ['name', 'A key named "laptop" already exists']);
    const gone = await localError(k, 'auth.key.remove', { key: 'nobody' });
    assert.deepEqual([gone.code, gone.field], [6, 'key']);
  });

  it('a removed key can no longer sign', async () => {
    const k = kit();
    const a = generateSigningKey().key;
    await local(k, 'auth.key.add', { name: 'laptop', key: a.publicKey.pem });
    const made = await generateCertificate(['203.0.113.7'], null, k.clock.ms);
    await k.store.update((d) => {
      d.webserver.listen = '203.0.113.7:8443';
      d.webserver.certificate = made.certificate;
    });
    const context = signatureContext('203.0.113.7', made.certificate.chainPem[0] ?? '');
    const body = JSON.stringify({ id: 1, method: 'auth.key.list', params: {} });
    const send = () =>
      call(
        k,
        '',
        {},
        {
          body,
          headers: {
            'x-startos-auth-sig': signRequest(a, new TextEncoder().encode(body), context, {
              now: k.clock.ms,
            }),
          },
        }
      );
    assert.equal((await send()).res.status, 200);
    await local(k, 'auth.key.remove', { key: 'laptop' });
    assert.equal((await send()).res.status, 401);
  });
});

describe('web.*', () => {
  it('web.enable answers 41, 49, 34 in order, as web init expects, then listens', async () => {
    const k = tracked();
    assert.equal((await localError(k, 'web.enable')).code, 41);
    await local(k, 'web.set-listen', { listen: '127.0.0.1:0' });
    assert.equal(await local(k, 'web.get-listen'), '127.0.0.1:0');
    assert.equal((await localError(k, 'web.enable')).code, 49);
    const cert = (await local(k, 'web.generate-certificate', { subject: [] })) as {
      certificate: { subjects: { ips: string[] } };
      rootRegenerated: boolean;
    };
    assert.deepEqual(cert.certificate.subjects.ips, ['127.0.0.1'], 'the listen IP is included');
    assert.equal((await localError(k, 'web.enable')).code, 34);
    await local(k, 'auth.set-password', { password: 'a long password' });
    const on = (await local(k, 'web.enable')) as { url: string };
    assert.match(on.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(k.web.address);
    const status = (await local(k, 'web.status')) as { running: boolean; passwordSet: boolean };
    assert.equal(status.running, true);
    assert.equal(status.passwordSet, true);
    await local(k, 'web.disable');
    assert.equal(k.web.address, null);
  });

  it('web.set-listen names the field: bad form, host name, unbindable address', async () => {
    const k = kit();
    for (const listen of ['nonsense', '127.0.0.1', '127.0.0.1:70000', 'example.org:8443']) {
      const err = await localError(k, 'web.set-listen', { listen });
      assert.deepEqual([err.code, err.field], [41, 'listen'], listen);
    }
    const busy = await localError(k, 'web.set-listen', { listen: '192.0.2.1:8443' });
    assert.match(busy.message, /192\.0\.2\.1:8443 is not available to bind to: EADDRNOTAVAIL/);
    await local(k, 'web.set-listen', { listen: '[::1]:0' }).catch(() => {});
    const v6 = await local(k, 'web.get-listen');
    assert.ok(
      v6 === '[::1]:0' || v6 === null,
      'IPv6 is stored in brackets (or ::1 is absent here)'
    );
  });

  it('web.get-available-ips leaves out the tunnel interface', async () => {
    const k = kit();
    assert.deepEqual(await local(k, 'web.get-available-ips'), ['127.0.0.1', '203.0.113.7']);
  });

  it('web.generate-certificate: names a bad subject, needs one when listening on 0.0.0.0, keeps the root', async () => {
    const k = kit();
    const bad = await localError(k, 'web.generate-certificate', {
      subject: ['203.0.113.7', 'no way'],
    });
    assert.deepEqual([bad.code, bad.field], [49, 'subject[1]']);
    await local(k, 'web.set-listen', { listen: '0.0.0.0:0' });
    const none = await localError(k, 'web.generate-certificate', { subject: [] });
    assert.deepEqual([none.code, none.field], [49, 'subject']);
    const first = (await local(k, 'web.generate-certificate', { subject: ['203.0.113.7'] })) as {
      chain: string;
      rootCa: string;
      fingerprint: string;
    };
    assert.equal(first.chain.match(/BEGIN CERTIFICATE/g)?.length, 2);
    assert.doesNotMatch(JSON.stringify(first), /PRIVATE KEY/);
    const second = (await local(k, 'web.generate-certificate', { subject: ['203.0.113.7'] })) as {
      rootCa: string;
      rootRegenerated: boolean;
    };
    assert.equal(second.rootRegenerated, false);
    assert.equal(second.rootCa, first.rootCa);
    const root = (await local(k, 'web.get-root-ca')) as { pem: string; fingerprint: string };
    assert.equal(root.pem, first.rootCa);
    assert.equal(root.fingerprint, first.fingerprint);
  });

  it('web.import-certificate checks key and chain; get-certificate shows the public part', async () => {
    const k = kit();
    const { generateCertificate } = await import('../src/tls.ts');
    const mine = await generateCertificate(['vpn.example.org'], null);
    const other = await generateCertificate(['vpn.example.org'], null);
    const bad = await localError(k, 'web.import-certificate', {
      key: other.certificate.keyPem,
      cert: mine.certificate.chainPem.join(''),
    });
    assert.deepEqual([bad.code, bad.field], [49, 'key']);
    const info = (await local(k, 'web.import-certificate', {
      key: mine.certificate.keyPem,
      cert: mine.certificate.chainPem.join(''),
    })) as { subjects: { dns: string[] } };
    assert.deepEqual(info.subjects.dns, ['vpn.example.org']);
    const got = (await local(k, 'web.get-certificate')) as { chain: string; fingerprint: string };
    assert.equal(got.chain, mine.certificate.chainPem.join(''));
    assert.doesNotMatch(JSON.stringify(got), /PRIVATE KEY/);
  });

  it('web.reset forgets listen, certificate and password, keeps the root CA, ends sessions', async () => {
    const k = kit();
    await setPassword(k);
    const cookie = await login(k);
    await local(k, 'web.set-listen', { listen: '127.0.0.1:0' });
    await local(k, 'web.generate-certificate', { subject: [] });
    const root = k.store.read().webserver.rootCa;
    await local(k, 'web.reset');
    const w = k.store.read().webserver;
    assert.deepEqual(
      [w.enabled, w.listen, w.certificate, k.store.read().password],
      [false, null, null, null]
    );
    assert.deepEqual(w.rootCa, root);
    assert.equal((await call(k, 'status', {}, { cookie })).res.status, 401);
    assert.equal(await local(k, 'web.uninit'), null, 'the upstream name works too');
  });
});
