// SPDX-License-Identifier: MIT
/**
 * StartTunnel 1.5's gateway services end to end, in namespaces, with stock wireguard-go
 * devices joining by `wg-quick up` and real clients (curl, dig, nsupdate, upnpc):
 *
 *   vps   wan0 203.0.113.1/24 ┐
 *   alpha eth0 198.51.100.2/25 ├ net
 *   beta  eth0 198.51.100.130/25┤
 *   vis   eth0 192.0.2.2/24 ───┘
 *
 * Checked: two devices serve different TLS sites on port 443 behind one public IP, told apart
 * by SNI, each with its own certificate and seeing the visitor's real address; a device resolves
 * a local name through its subnet's resolver, a `server` device publishes its own record with
 * `nsupdate -y` and its key while a `client` device and a wrong key are refused; a server opens
 * a forward with `upnpc` and another with PCP, the visitor reaches both, and they vanish when
 * the PCP lease ends and when the device is demoted; junk from the internet and from a device
 * (non-TLS, oversized and unfinished ClientHellos, garbage DNS/PCP/SSDP, an XML bomb) opens
 * nothing and leaves every service answering.
 * @module
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Bg, Lab, labSkip, ROOT, START_TUNNEL_BIN, sleep, takeLock, waitFor } from './_lab.ts';

const TAG = String(process.pid).slice(-5);
const NS = {
  vps: `stg-vps-${TAG}`,
  net: `stg-net-${TAG}`,
  alpha: `stg-a-${TAG}`,
  beta: `stg-b-${TAG}`,
  vis: `stg-vis-${TAG}`,
};
const IF = { vps: `stgv${TAG}`, alpha: `stga${TAG}`, beta: `stgb${TAG}` };
const WAN = '203.0.113.1';
const SUBNET = '10.59.61.0/24';
const GW = '10.59.61.1';
const A = '10.59.61.2';
const B = '10.59.61.3';
const VIS = '192.0.2.2';

const skip =
  labSkip(['wg', 'wg-quick', 'wireguard-go', 'curl', 'dig', 'nsupdate', 'upnpc', 'openssl']) ||
  (existsSync(join(ROOT, 'packages/cli/dist/main.js')) ? false : 'needs npm run build');

/** A PCP MAP request (RFC 6887 §7.1, §11.1) for TCP from `client`, with a `lifetime`. */
function pcpMap(client: string, internal: number, external: number, lifetime: number): Buffer {
  const b = Buffer.alloc(60);
  b[0] = 2; // version
  b[1] = 1; // MAP, request
  b.writeUInt32BE(lifetime, 4);
  b.writeUInt16BE(0xffff, 18); // client address as IPv4-mapped IPv6
  for (const [i, octet] of client.split('.').entries()) b[20 + i] = Number(octet);
  b.fill(7, 24, 36); // nonce
  b[36] = 6; // TCP
  b.writeUInt16BE(internal, 40);
  b.writeUInt16BE(external, 42);
  b.writeUInt16BE(0xffff, 54); // no suggested external address (::ffff:0.0.0.0)
  return b;
}

describe('StartTunnel 1.5 gateway services: SNI, DNS, UPnP/PCP', { skip }, () => {
  let lab: Lab | null = null;
  let release: (() => void) | null = null;
  let dataDir = '';
  let daemonBg: Bg | null = null;
  const daemonLog = () => daemonBg?.tail(30) ?? '';

  const rpc = (method: string, params: unknown = {}) =>
    lab!.socketRpc(NS.vps, dataDir, method, params);

  async function ok<T>(method: string, params: unknown = {}): Promise<T> {
    const r = await rpc(method, params);
    assert.equal(r.error, undefined, `${method}: ${JSON.stringify(r.error)}`);
    return r.result as T;
  }

  /** Joins with the generated config, widened so replies to the visitor go back through us. */
  async function join_(ns: string, ifname: string, ip: string) {
    const { config } = await ok<{ config: string }>('device.show-config', { subnet: SUBNET, ip });
    await lab!.wgQuickUp(
      ns,
      ifname,
      config.replace(/^AllowedIPs = (.*)$/m, 'AllowedIPs = $1, 192.0.2.0/24')
    );
  }

  /** A self-signed certificate for `host` in the lab directory: key and cert paths. */
  async function cert(host: string): Promise<{ key: string; cert: string }> {
    const key = join(lab!.tmp, `${host}.key`);
    const crt = join(lab!.tmp, `${host}.pem`);
    const r = await lab!.exec(NS.vps, 'openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      crt,
      '-days',
      '1',
      '-subj',
      `/CN=${host}`,
      '-addext',
      `subjectAltName=DNS:${host}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    return { key, cert: crt };
  }

  /** An HTTPS (or HTTP) server in `ns` answering with its name and the caller's address. */
  async function serve(
    ns: string,
    port: number,
    name: string,
    tls?: { key: string; cert: string }
  ) {
    const make = tls
      ? `require('node:https').createServer({ key: fs.readFileSync('${tls.key}'), cert: fs.readFileSync('${tls.cert}') }, h)`
      : `require('node:http').createServer(h)`;
    const bg: Bg = lab!.spawnIn(ns, `${name} ${port}`, process.execPath, [
      '-e',
      `const fs = require('node:fs'); const h = (q, s) => s.end('${name} sees ' + q.socket.remoteAddress); ${make}.listen(${port}, '0.0.0.0', () => console.log('listening'))`,
    ]);
    assert.ok(await bg.line((l) => l.includes('listening'), 10_000), bg.tail());
  }

  async function curl(ns: string, args: string[]): Promise<string | null> {
    const r = await lab!.exec(ns, 'curl', ['-sS', '--max-time', '4', ...args], { timeoutMs: 8000 });
    return r.code === 0 ? r.stdout : null;
  }

  before(
    async () => {
      release = await takeLock();
      lab = new Lab('stg');
      dataDir = join(lab.tmp, 'data');
      for (const ns of Object.values(NS)) await lab.addNamespace(ns);
      await lab.routerNamespace(NS.net);
      await lab.routedHost(NS.net, 'to-vps', '203.0.113.254/24', NS.vps, 'wan0', `${WAN}/24`);
      await lab.routedHost(NS.net, 'to-a', '198.51.100.1/25', NS.alpha, 'eth0', '198.51.100.2/25');
      await lab.routedHost(
        NS.net,
        'to-b',
        '198.51.100.129/25',
        NS.beta,
        'eth0',
        '198.51.100.130/25'
      );
      await lab.routedHost(NS.net, 'to-vis', '192.0.2.254/24', NS.vis, 'eth0', `${VIS}/24`);
      lab.ifnames.add(IF.vps);
      const daemon = lab.spawnIn(NS.vps, 'start-tunnel daemon', process.execPath, [
        START_TUNNEL_BIN,
        'daemon',
        '--datadir',
        dataDir,
        '--interface',
        IF.vps,
      ]);
      assert.ok(await daemon.line((l) => l.includes('API on'), 30_000), daemon.tail());
      daemonBg = daemon;
      await ok('subnet.add', { subnet: SUBNET, name: 'lab' });
      await ok('device.add', { subnet: SUBNET, name: 'alpha', kind: 'server' });
      await ok('device.add', { subnet: SUBNET, name: 'beta' });
      await join_(NS.alpha, IF.alpha, A);
      await join_(NS.beta, IF.beta, B);
      for (const [ns, gw] of [
        [NS.alpha, GW],
        [NS.beta, GW],
      ] as const) {
        const p = await lab.ping(ns, gw, { count: 2, wait: 5 });
        assert.equal(p.received, 2, p.output);
      }
    },
    { timeout: 180_000 }
  );

  after(
    async () => {
      const problems = (await lab?.cleanup()) ?? [];
      release?.();
      assert.deepEqual(problems, [], 'lab cleanup');
    },
    { timeout: 60_000 }
  );

  it('two devices serve their own TLS sites on port 443 of one IP, told apart by SNI', {
    timeout: 90_000,
  }, async () => {
    await ok('device.set-kind', { subnet: SUBNET, ip: B, kind: 'server' });
    const ca = await cert('a.example');
    const cb = await cert('b.example');
    await serve(NS.alpha, 443, 'alpha', ca);
    await serve(NS.beta, 443, 'beta', cb);
    await ok('port-forward.add', { source: '443', target: `${A}:443`, sni: ['a.example'] });
    await ok('port-forward.add', { source: '443', target: `${B}:443`, sni: ['b.example'] });
    const get = (host: string, pem: string) =>
      curl(NS.vis, ['--cacert', pem, '--resolve', `${host}:443:${WAN}`, `https://${host}/`]);
    // the certificate is verified against each site's own: TLS ends on the device
    const a = await waitFor(async () => (await get('a.example', ca.cert)) !== null, 10_000);
    assert.ok(a, 'a.example answers');
    assert.equal(await get('a.example', ca.cert), `alpha sees ${VIS}`);
    assert.equal(await get('b.example', cb.cert), `beta sees ${VIS}`);
    assert.equal(await get('c.example', ca.cert), null, 'no route, no fallback: closed');
  });

  it('resolves local names; a server publishes its own with nsupdate, a client cannot', {
    timeout: 60_000,
  }, async () => {
    // an upstream on the "internet" that knows up.example and nothing else
    const upstream = lab!.spawnIn(NS.vis, 'upstream dns', process.execPath, [
      '-e',
      `const s = require('node:dgram').createSocket('udp4');
       s.on('message', (q, r) => {
         let i = 12; const labels = [];
         while (q[i]) { labels.push(q.subarray(i + 1, i + 1 + q[i]).toString()); i += q[i] + 1; }
         const question = q.subarray(12, i + 5);
         const known = labels.join('.').toLowerCase() === 'up.example';
         const head = Buffer.from([q[0], q[1], 0x81, known ? 0x80 : 0x83, 0, 1, 0, known ? 1 : 0, 0, 0, 0, 0]);
         const answer = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 99]);
         s.send(Buffer.concat([head, question, known ? answer : Buffer.alloc(0)]), r.port, r.address);
       });
       s.bind(5353, '${VIS}', () => console.log('listening'));`,
    ]);
    assert.ok(await upstream.line((l) => l.includes('listening'), 10_000), upstream.tail());
    await ok('subnet.set-dns', { subnet: SUBNET, mode: 'custom', servers: [`${VIS}:5353`] });
    await ok('dns.add', { name: 'nas.lab', type: 'A', value: A });
    const dig = async (ns: string, name: string, type = 'A') =>
      (
        await lab!.checkIn(ns, 'dig', ['+short', '+time=2', '+tries=2', `@${GW}`, name, type])
      ).trim();
    assert.equal(await dig(NS.beta, 'nas.lab'), A);
    assert.equal(await dig(NS.beta, 'nas.lab', 'TXT'), '', 'NODATA for another type');
    assert.equal(await dig(NS.beta, 'up.example'), '198.51.100.99', 'forwarded upstream');
    const key = await ok<{ keyName: string; secret: string }>('device.dns-key', {
      subnet: SUBNET,
      ip: A,
    });
    const update = (ns: string, secret: string, name: string) =>
      lab!.exec(ns, 'nsupdate', ['-y', `hmac-sha256:${key.keyName}:${secret}`], {
        // the resolver is not authoritative for any zone: name it rather than ask for a SOA
        input: `server ${GW}\nzone lab\nupdate add ${name} 60 A ${A}\nsend\n`,
        timeoutMs: 15_000,
      });
    const good = await update(NS.alpha, key.secret, 'alpha.lab');
    assert.equal(good.code, 0, `${good.stderr}\n${daemonLog()}`);
    assert.equal(await dig(NS.beta, 'alpha.lab'), A);
    const records = await ok<{ name: string; source: string | null }[]>('dns.list');
    assert.deepEqual(records.find((r) => r.name === 'alpha.lab')?.source, A);
    const wrong = await update(NS.alpha, Buffer.alloc(32, 1).toString('base64'), 'evil.lab');
    assert.notEqual(wrong.code, 0, 'a wrong key is refused');
    await ok('device.set-kind', { subnet: SUBNET, ip: B, kind: 'client' });
    const bKey = await ok<{ secret: string }>('device.dns-key', { subnet: SUBNET, ip: B });
    const client = await update(NS.beta, bKey.secret, 'beta.lab');
    assert.notEqual(client.code, 0, 'a client device is refused');
    assert.equal(await dig(NS.beta, 'evil.lab'), '');
    assert.equal(await dig(NS.beta, 'beta.lab'), '');
  });

  it('hostile input from the internet and from a device opens nothing and stalls nothing', {
    timeout: 90_000,
  }, async () => {
    // the internet: non-TLS junk, an oversized ClientHello and clients that never finish one
    const junk = lab!.spawnIn(NS.vis, 'junk 443', process.execPath, [
      '-e',
      `const net = require('node:net'); let open = 0, closedEarly = 0;
       const big = Buffer.concat([Buffer.from([0x16, 3, 1, 0xff, 0xff, 1]), Buffer.alloc(70000, 0x41)]);
       for (let i = 0; i < 20; i++) {
         const s = net.connect(443, '${WAN}', () => s.write(i % 2 ? big : require('node:crypto').randomBytes(4096)));
         s.on('error', () => {}); s.on('close', () => {});
       }
       for (let i = 0; i < 5; i++) {
         open++;
         const t0 = Date.now();
         const s = net.connect(443, '${WAN}', () => s.write(Buffer.from([0x16, 3, 1])));
         s.on('error', () => {});
         s.on('close', () => { if (Date.now() - t0 < 12000) closedEarly++; if (--open === 0) { console.log('slow clients cut: ' + closedEarly); process.exit(0); } });
       }
       setTimeout(() => { console.log('slow clients cut: ' + closedEarly); process.exit(0); }, 15000);`,
    ]);
    // a client device: garbage to the resolver, PCP, SSDP and UPnP; an XML bomb; NAT-PMP
    const garbage = await lab!.exec(
      NS.beta,
      process.execPath,
      [
        '-e',
        `const dgram = require('node:dgram'), net = require('node:net'), crypto = require('node:crypto');
       const u = dgram.createSocket('udp4');
       u.bind(0, '${A}', () => { for (const port of [53, 5351, 1900]) for (let i = 0; i < 100; i++) u.send(crypto.randomBytes(1 + (i * 37) % 1400), port, '${GW}'); u.send(Buffer.from([0, 0]), 5351, '${GW}'); });
       const bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&b;&b;&b;</s:Body></s:Envelope>';
       const h = net.connect(49001, '${GW}', () => h.write('POST /ctl/IPConn HTTP/1.1\\r\\nHost: ${GW}:49001\\r\\nSOAPAction: "urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping"\\r\\nContent-Type: text/xml\\r\\nContent-Length: ' + bomb.length + '\\r\\n\\r\\n' + bomb));
       h.on('data', (d) => process.stdout.write(String(d).split('\\r\\n')[0] + '\\n')); h.on('error', () => {});
       setTimeout(() => process.exit(0), 3000);`,
      ],
      { timeoutMs: 10_000 }
    );
    assert.equal(garbage.code, 0, garbage.stderr);
    assert.doesNotMatch(garbage.stdout, /HTTP\/1\.1 200/, 'the XML bomb mapped nothing');
    const cut = await junk.line((l) => l.startsWith('slow clients cut'), 20_000);
    assert.equal(cut, 'slow clients cut: 5', junk.tail());
    // everything still answers, and nothing was opened
    const status = await rpc('status');
    assert.equal(status.error, undefined);
    const dig = await lab!.checkIn(NS.beta, 'dig', ['+short', '+time=2', `@${GW}`, 'nas.lab', 'A']);
    assert.equal(dig.trim(), A);
    const ca = join(lab!.tmp, 'a.example.pem');
    const get = await curl(NS.vis, [
      '--cacert',
      ca,
      '--resolve',
      `a.example:443:${WAN}`,
      'https://a.example/',
    ]);
    assert.equal(get, `alpha sees ${VIS}`);
    const forwards = await ok<{ auto: boolean }[]>('port-forward.list');
    assert.ok(!forwards.some((f) => f.auto), JSON.stringify(forwards));
  });

  it('a server opens forwards with upnpc and PCP; they end with the lease and the demotion', {
    timeout: 90_000,
  }, async () => {
    await serve(NS.alpha, 8080, 'alpha-http');
    await serve(NS.alpha, 8081, 'alpha-pcp');
    const root = `http://${GW}:49001/rootDesc.xml`;
    const add = await lab!.exec(NS.alpha, 'upnpc', ['-u', root, '-r', '8080', 'tcp'], {
      timeoutMs: 20_000,
    });
    assert.match(add.stdout, /is redirected to internal/, `${add.stdout}${add.stderr}`);
    assert.match((await curl(NS.vis, [`http://${WAN}:8080/`])) ?? '', /^alpha-http sees /);
    // PCP MAP for 8081 with a 3 s lifetime, from the device's own address
    const reply = await lab!.exec(
      NS.alpha,
      process.execPath,
      [
        '-e',
        `const s = require('node:dgram').createSocket('udp4');
       const t = setTimeout(() => process.exit(3), 4000);
       s.on('message', (m) => { process.stdout.write(m.toString('hex')); clearTimeout(t); process.exit(0); });
       s.bind(0, '${A}', () => s.send(Buffer.from('${pcpMap(A, 8081, 8081, 3).toString('hex')}', 'hex'), 5351, '${GW}'));`,
      ],
      { timeoutMs: 8000 }
    );
    assert.equal(reply.code, 0, reply.stderr);
    const answer = Buffer.from(reply.stdout, 'hex');
    assert.deepEqual([answer[1], answer[3]], [0x81, 0], 'a MAP response, SUCCESS');
    assert.match((await curl(NS.vis, [`http://${WAN}:8081/`])) ?? '', /^alpha-pcp sees /);
    const auto =
      await ok<{ source: string; auto: boolean; expiresAt: string | null }[]>('port-forward.list');
    assert.ok(
      auto.some((f) => f.source === '8081' && f.auto && f.expiresAt !== null),
      JSON.stringify(auto)
    );
    const gone = await waitFor(
      async () => (await curl(NS.vis, [`http://${WAN}:8081/`])) === null,
      15_000
    );
    assert.ok(gone, 'the PCP forward ends with its lease');
    await ok('device.set-kind', { subnet: SUBNET, ip: A, kind: 'client' });
    await sleep(300);
    assert.equal(
      await curl(NS.vis, [`http://${WAN}:8080/`]),
      null,
      'demoted: the UPnP forward goes'
    );
    const left = await ok<{ auto: boolean }[]>('port-forward.list');
    assert.ok(!left.some((f) => f.auto), JSON.stringify(left));
  });

  it('the gateway services answer the tunnel only, not the internet', {
    timeout: 30_000,
  }, async () => {
    await lab!.ip('-n', NS.vis, 'route', 'add', '10.59.61.0/24', 'via', '192.0.2.254');
    await lab!.ip('-n', NS.net, 'route', 'add', '10.59.61.0/24', 'via', WAN);
    const r = await lab!.exec(
      NS.vis,
      'dig',
      ['+short', '+time=1', '+tries=1', `@${GW}`, 'nas.lab'],
      {
        timeoutMs: 8000,
      }
    );
    assert.notEqual(r.code, 0, `the resolver answered the internet: ${r.stdout}`);
  });
});
