// SPDX-License-Identifier: MIT
/**
 * `web init`'s decisions against a stub panel on the fake daemon (`web.*` and `auth.set-password`
 * over a tiny state, addresses that need no real interface): which calls it makes in which order
 * on a fresh server, behind 1:1 NAT (the WAN address on no interface), with no WAN address, on
 * a server already set up, when a repair does not take, when the 34 is the transport's (an
 * unknown key) rather than "no password", and the terminal paths (0.0.0.0, provide your own
 * certificate). The real panel is driven in `web.test.ts`.
 * @module
 */

import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type Handler, type MethodName, RpcError } from '@start-tunnel/protocol';
import { ClientError } from '../src/index.ts';
import { cli, type FakeDaemon, fakeDaemon, isOneLineError } from './_fake-daemon.ts';
import { scriptedTerminal } from './_web-daemon.ts';

interface Panel {
  listen: string | null;
  subjects: string[] | null;
  password: string | null;
  enabled: boolean;
  ips: string[];
  /** Hosts `web.set-listen` can bind. */
  bindable: string[];
  /** `web.generate-certificate` "works" but leaves no certificate (a broken server). */
  broken: boolean;
  imported: { key: string; cert: string } | null;
}

let d: FakeDaemon;
let panel: Panel;
const calls: [string, unknown][] = [];

function fresh(): Panel {
  return {
    listen: null,
    subjects: null,
    password: null,
    enabled: false,
    ips: ['127.0.0.1', '10.0.0.5', '203.0.113.5'],
    bindable: ['0.0.0.0', '203.0.113.5', '10.0.0.5', '127.0.0.1'],
    broken: false,
    imported: null,
  };
}

const ROOT = {
  pem: '-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n',
  fingerprint: 'AB:CD',
};

/** A stub for a panel method (the dispatcher checks its params and results by the contract). */
function stub<M extends MethodName>(name: M, handler: (p: never) => unknown): void {
  const h = (p: unknown) => {
    calls.push([name, p]);
    return handler(p as never);
  };
  d.dispatcher.register(name, h as Handler<M>);
}

function hostOf(listen: string): string {
  return listen.replace(/:\d+$/, '');
}

before(async () => {
  d = await fakeDaemon();
  stub('web.enable', () => {
    if (panel.listen === null) throw new RpcError(41, 'Listen address is not set: web set-listen');
    if (panel.subjects === null)
      throw new RpcError(49, 'Certificate is not set: web generate-certificate');
    if (panel.password === null) throw new RpcError(34, 'Password is not set: auth set-password');
    panel.enabled = true;
    return { listen: panel.listen, url: `https://${panel.listen}` };
  });
  stub('web.get-listen', () => panel.listen);
  stub('web.get-available-ips', () => panel.ips);
  stub('web.set-listen', ({ listen }: { listen: string }) => {
    if (!panel.bindable.includes(hostOf(listen))) {
      throw new RpcError(41, `${listen} is not available to bind to: EADDRNOTAVAIL`, 'listen');
    }
    panel.listen = listen;
    return null;
  });
  stub('web.generate-certificate', ({ subject }: { subject: string[] }) => {
    const host = panel.listen === null ? null : hostOf(panel.listen);
    const all = host && host !== '0.0.0.0' ? [host, ...subject] : subject;
    if (all.length === 0) throw new RpcError(49, 'No subject given', 'subject');
    if (!panel.broken) panel.subjects = all;
    const certificate = {
      subjects: { ips: all.filter((s) => /^\d/.test(s)), dns: all.filter((s) => !/^\d/.test(s)) },
      notBefore: '2026-01-01T00:00:00.000Z',
      notAfter: '2027-02-02T00:00:00.000Z',
      fingerprint: 'EF',
      issuer: 'CN=root',
      chainLength: 2,
    };
    return {
      chain: 'CHAIN',
      rootCa: ROOT.pem,
      fingerprint: 'AB:CD',
      rootRegenerated: false,
      rootReason: null,
      certificate,
    };
  });
  stub('web.import-certificate', (p: { key: string; cert: string }) => {
    panel.imported = p;
    panel.subjects = ['imported.example'];
    return {
      subjects: { ips: [], dns: ['imported.example'] },
      notBefore: '2026-01-01T00:00:00.000Z',
      notAfter: '2027-01-01T00:00:00.000Z',
      fingerprint: 'EF',
      issuer: 'CN=imported',
      chainLength: 1,
    };
  });
  stub('web.get-certificate', () =>
    panel.subjects === null
      ? null
      : {
          chain: 'CHAIN',
          subjects: {
            ips: panel.subjects.filter((s) => /^\d/.test(s)),
            dns: panel.subjects.filter((s) => !/^\d/.test(s)),
          },
          notBefore: '2026-01-01T00:00:00.000Z',
          notAfter: '2027-02-02T00:00:00.000Z',
          fingerprint: 'EF',
          issuer: 'CN=root',
          chainLength: 2,
        }
  );
  stub('web.get-root-ca', () => (panel.subjects === null || panel.imported ? null : ROOT));
  stub('auth.set-password', ({ password }: { password: string }) => {
    panel.password = password;
    return { sessionsEnded: 0 };
  });
});
after(async () => {
  await d.stop();
});
beforeEach(() => {
  panel = fresh();
  calls.length = 0;
  d.calls.length = 0;
  d.handle('wan.show', () => ({
    address: '203.0.113.5',
    source: 'detected',
    override: null,
    detected: '203.0.113.5',
    interfaces: ['eth0'],
  }));
});

const names = () => calls.map(([n]) => n);

describe('web init, asking nothing', () => {
  it('a fresh server: WAN address on 8443, certificate, random password, then enabled', async () => {
    const o = await cli(['web', 'init', '--format', 'json'], d.env);
    assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(names(), [
      'web.enable',
      'web.get-available-ips',
      'web.set-listen',
      'web.get-certificate',
      'web.enable',
      'web.generate-certificate',
      'web.enable',
      'auth.set-password',
      'web.enable',
      'web.get-root-ca',
    ]);
    assert.deepEqual(
      d.calls.map((c) => c.method),
      ['wan.show']
    );
    assert.deepEqual(calls[2], ['web.set-listen', { listen: '203.0.113.5:8443' }]);
    assert.deepEqual(calls[5], ['web.generate-certificate', { subject: [] }]);
    const r = JSON.parse(o.stdout) as Record<string, unknown>;
    assert.deepEqual(r, {
      url: 'https://203.0.113.5:8443',
      password: panel.password,
      rootCa: ROOT.pem,
    });
    assert.match(String(r.password), /^[a-z2-7]{26}$/);
  });

  it('behind 1:1 NAT: 0.0.0.0:8443, the WAN address in the certificate and the URL', async () => {
    d.handle('wan.show', () => ({
      address: '198.51.100.7',
      source: 'override',
      override: '198.51.100.7',
      detected: null,
      interfaces: ['eth0'],
    }));
    const o = await cli(['web', 'init', '-o', 'json'], d.env);
    assert.equal(o.code, 0, o.stderr);
    assert.equal(panel.listen, '0.0.0.0:8443');
    assert.deepEqual(panel.subjects, ['198.51.100.7']);
    assert.equal((JSON.parse(o.stdout) as { url: string }).url, 'https://198.51.100.7:8443');
  });

  it('no WAN address: says to pass --listen', async () => {
    d.handle('wan.show', () => ({
      address: null,
      source: 'none',
      override: null,
      detected: null,
      interfaces: [],
    }));
    const o = await cli(['web', 'init'], d.env);
    assert.ok(isOneLineError(o), o.stderr);
    assert.match(o.stderr, /no WAN address to listen on: pass --listen IP:PORT/);
    assert.equal(o.code, 1);
  });

  it('already set up: nothing changes, the password is not shown', async () => {
    Object.assign(panel, { listen: '203.0.113.5:8443', subjects: ['203.0.113.5'], password: 'x' });
    const o = await cli(['web', 'init'], d.env);
    assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(names(), ['web.enable', 'web.get-root-ca']);
    assert.match(o.stdout, /^URL: +https:\/\/203\.0\.113\.5:8443$/m);
    assert.match(o.stdout, /^Password: +unchanged/m);
    assert.ok(o.stdout.includes('Root CA (SHA-256 AB:CD):\n-----BEGIN CERTIFICATE-----\nROOT\n'));
  });

  it('--listen and --subject change a panel already set up', async () => {
    Object.assign(panel, { listen: '203.0.113.5:8443', subjects: ['203.0.113.5'], password: 'x' });
    const o = await cli(
      ['web', 'init', '--listen', '10.0.0.5:9443', '--subject', 'vpn.example.org', '-o', 'json'],
      d.env
    );
    assert.equal(o.code, 0, o.stderr);
    assert.equal(panel.listen, '10.0.0.5:9443');
    assert.deepEqual(panel.subjects, ['10.0.0.5', 'vpn.example.org']);
    assert.equal((JSON.parse(o.stdout) as { password: unknown }).password, null);
  });

  it('an address that cannot be bound: the server message and its code', async () => {
    const o = await cli(['web', 'init', '--listen', '192.0.2.1:8443'], d.env);
    assert.ok(isOneLineError(o), o.stderr);
    assert.equal(
      o.stderr,
      'start-tunnel: 192.0.2.1:8443 is not available to bind to: EADDRNOTAVAIL (field "listen")\n'
    );
    assert.equal(o.code, 41);
  });

  it('a repair that does not take: the server message, not a loop', async () => {
    panel.broken = true;
    const o = await cli(['web', 'init'], d.env);
    assert.ok(isOneLineError(o), o.stderr);
    assert.match(o.stderr, /Certificate is not set/);
    assert.equal(o.code, 49);
    assert.equal(names().filter((n) => n === 'web.generate-certificate').length, 1);
  });

  it('34 from the transport (an unknown key) is not "no password"', async () => {
    const o = await cli(
      ['web', 'init', '-t', '203.0.113.5:8443', '--key', 'k.pem'],
      {},
      {
        remote: () => ({
          description: 'the tunnel at 203.0.113.5:8443',
          send: async () => {
            throw new ClientError('the server does not know this key', 34);
          },
        }),
      }
    );
    assert.ok(isOneLineError(o), o.stderr);
    assert.equal(o.stderr, 'start-tunnel: the server does not know this key\n');
    assert.equal(o.code, 34);
  });

  it('usage: empty --listen or --subject', async () => {
    for (const argv of [
      ['web', 'init', '--listen', ''],
      ['web', 'init', '--subject', ' '],
    ]) {
      const o = await cli(argv, d.env);
      assert.ok(isOneLineError(o), o.stderr);
      assert.equal(o.code, 2);
    }
    assert.deepEqual(calls, []);
  });
});

describe('web init on a terminal', () => {
  it('no public address on an interface: 0.0.0.0, and the names are asked (WAN by default)', async () => {
    panel.ips = ['127.0.0.1', '10.0.0.5'];
    const terminal = scriptedTerminal(['', '', '', '']);
    const o = await cli(['web', 'init'], d.env, { terminal });
    assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(terminal.asked, [
      'Listen address (an IP of this server) [0.0.0.0]: ',
      'Port [8443]: ',
      'Choose [1]: ',
      'DNS names or IPs browsers will use, comma-separated [203.0.113.5]: ',
    ]);
    assert.equal(panel.listen, '0.0.0.0:8443');
    assert.deepEqual(panel.subjects, ['203.0.113.5']);
    assert.match(o.stdout, /^URL: +https:\/\/203\.0\.113\.5:8443$/m);
    assert.match(o.stderr, /^Certificate for 203\.0\.113\.5, valid until/m);
  });

  it('one public address: taken without asking; an address that does not bind is asked again', async () => {
    panel.bindable = ['203.0.113.5'];
    const terminal = scriptedTerminal(['8443', '', 'a.example, b.example']);
    const o = await cli(['web', 'init'], d.env, { terminal });
    assert.equal(o.code, 0, o.stderr);
    assert.match(o.stderr, /^Listen address: 203\.0\.113\.5 \(the only public address/m);
    assert.deepEqual(panel.subjects, ['203.0.113.5', 'a.example', 'b.example']);
  });

  it('provide your own certificate: key and chain files', async () => {
    Object.assign(panel, { listen: '203.0.113.5:8443', password: 'x' });
    const dir = d.dir;
    const key = join(dir, 'k.pem');
    const chain = join(dir, 'c.pem');
    writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n');
    writeFileSync(chain, '-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n');
    const terminal = scriptedTerminal(['3', '2', join(dir, 'nope'), chain, key, chain]);
    const o = await cli(['web', 'init'], d.env, { terminal });
    assert.equal(o.code, 0, o.stderr);
    assert.match(o.stderr, /^"3" is not 1 or 2$/m);
    assert.match(o.stderr, /^cannot read .*nope: ENOENT$/m);
    assert.deepEqual(panel.imported, {
      key: '-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n',
      cert: '-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n',
    });
    assert.match(o.stdout, /no root CA of its own/);
    rmSync(key);
    rmSync(chain);
  });

  it('--yes asks nothing', async () => {
    const terminal = scriptedTerminal([]);
    const o = await cli(['web', 'init', '--yes'], d.env, { terminal });
    assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(terminal.asked, []);
    assert.equal(panel.listen, '203.0.113.5:8443');
  });
});
