// SPDX-License-Identifier: MIT
/**
 * The SNI proxy's transparent path in namespaces: a visitor on the internet reaches a device's
 * TLS service through the VPS's SNI port, and the device sees the visitor's own address and
 * port, not the VPS's. The VPS runs `SniProxy` (in a child process inside its namespace) and
 * only the kernel side the transparent leg needs (https://docs.kernel.org/networking/tproxy.html):
 *
 *   nft  table inet sni-test { chain pre { type filter hook prerouting priority mangle;
 *          meta l4proto tcp socket transparent 1 meta mark set 0x00540001 } }
 *   ip rule add fwmark 0x540001 lookup 1344
 *   ip route add local 0.0.0.0/0 dev lo table 1344
 *
 * and no IP forwarding: the device's replies to the visitor's address must be taken by the
 * proxy's socket, not routed on. Topology (all ours, removed afterwards):
 *
 *   visitor eth0 198.51.100.2/24 ── 198.51.100.1/24 wan0  vps  lan0 10.59.0.1/24 ── 10.59.0.2/24 eth0 device
 *                                   SNI port 203.0.113.1:443 (lo)        device TLS on 10.59.0.2:8443
 *
 * Holds the lab lock of test/_lab.ts (imported at run time: this package's type-check stays
 * inside the package).
 * @module
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateCertificate } from '@start-tunnel/web';

/** What this test uses of test/_lab.ts. */
interface LabRun {
  code: number | null;
  stdout: string;
  stderr: string;
}
interface LabProc {
  readonly lines: string[];
  line(pred: (l: string) => boolean, ms: number, from?: number): Promise<string | null>;
  tail(n?: number): string;
}
interface LabLike {
  ip(...args: string[]): Promise<string>;
  exec(
    ns: string,
    file: string,
    args: readonly string[],
    o?: { timeoutMs?: number }
  ): Promise<LabRun>;
  checkIn(ns: string, file: string, args: readonly string[]): Promise<string>;
  addNamespace(ns: string): Promise<void>;
  veth(nsA: string, nameA: string, nsB: string, nameB: string): Promise<void>;
  addr(ns: string, dev: string, cidr: string): Promise<void>;
  spawnIn(ns: string, name: string, file: string, args: readonly string[]): LabProc;
  file(name: string, text: string): string;
  cleanup(): Promise<string[]>;
}
interface LabKit {
  takeLock(waitMs?: number): Promise<() => void>;
  Lab: new (prefix: string) => LabLike;
  hasCommand(cmd: string): boolean;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const LAB = new URL('../../../test/_lab.ts', import.meta.url).href;
const SNI = new URL('../src/sni.ts', import.meta.url).href;
const TSX = import.meta.resolve('tsx');
const ADDON = `${ROOT}packages/wg-core/build/Release/wg_core.node`;

const TAG = String(process.pid).slice(-6);
const NS = { vps: `sni-vps-${TAG}`, device: `sni-dev-${TAG}`, visitor: `sni-vis-${TAG}` };
const PUBLIC = '203.0.113.1';
const VISITOR = '198.51.100.2';
const DEVICE = '10.59.0.2';

const which = (cmd: string) =>
  (process.env.PATH ?? '').split(':').some((d) => d && existsSync(`${d}/${cmd}`));
const skip =
  process.platform !== 'linux'
    ? 'needs Linux'
    : process.getuid?.() !== 0
      ? 'needs root (network namespaces, IP_TRANSPARENT)'
      : !['ip', 'nft', 'flock'].every(which)
        ? 'needs ip, nft and flock'
        : !existsSync(ADDON)
          ? 'needs the wg-core addon (npm ci)'
          : false;

/** The VPS side: SniProxy on PUBLIC:443, dev.example to the device, transparently. */
const PROXY = `
import { SniProxy } from ${JSON.stringify(SNI)};
const sni = new SniProxy({ log: (l) => console.log(l), connectTimeoutMs: 1500 });
await sni.reconcile([{ address: ${JSON.stringify(PUBLIC)}, port: 443, route: (name) =>
  name === 'dev.example' ? { target: ${JSON.stringify(`${DEVICE}:8443`)}, proxyProtocol: false } : null }]);
console.log('ready ' + sni.listening().join(' '));
process.on('SIGTERM', () => void sni.close().then(() => process.exit(0)));
`;

/** The device's TLS service: says whom it sees, once per connection. */
const DEVICE_SERVER = `
const tls = require('node:tls');
const fs = require('node:fs');
const [key, cert] = process.argv.slice(1).map((f) => fs.readFileSync(f, 'utf8'));
const s = tls.createServer({ key, cert }, (c) => {
  console.log('peer ' + c.remoteAddress + ':' + c.remotePort + ' ' + c.servername);
  c.end('hello from the device\\n');
});
s.on('tlsClientError', () => {});
s.listen(8443, ${JSON.stringify(DEVICE)}, () => console.log('listening'));
`;

/** The visitor: one TLS connection with SNI, verified; prints its own port and the answer. */
const VISITOR_CLIENT = `
const tls = require('node:tls');
const fs = require('node:fs');
const [ca, name] = [fs.readFileSync(process.argv[1], 'utf8'), process.argv[2]];
const c = tls.connect({ host: ${JSON.stringify(PUBLIC)}, port: 443, servername: name, ca });
c.on('secureConnect', () => console.log('local ' + c.localAddress + ':' + c.localPort));
c.on('data', (d) => process.stdout.write('answer ' + d));
c.on('error', (e) => console.log('error ' + (e.code || e.message)));
setTimeout(() => c.destroy(), 8000).unref();
`;

describe('SniProxy transparent path, in namespaces', { skip }, () => {
  let kit: LabKit;
  let lab: LabLike | null = null;
  let release: (() => void) | null = null;
  let proxy: LabProc;
  let device: LabProc;
  let caFile = '';

  async function visit(name: string): Promise<string> {
    const r = await lab!.exec(NS.visitor, process.execPath, ['-e', VISITOR_CLIENT, caFile, name], {
      timeoutMs: 15_000,
    });
    return `${r.stdout}${r.stderr}`;
  }

  before(
    async () => {
      kit = (await import(LAB)) as LabKit;
      release = await kit.takeLock();
      lab = new kit.Lab('sni');
      for (const ns of Object.values(NS)) await lab.addNamespace(ns);
      await lab.veth(NS.visitor, 'eth0', NS.vps, 'wan0');
      await lab.veth(NS.vps, 'lan0', NS.device, 'eth0');
      await lab.addr(NS.visitor, 'eth0', `${VISITOR}/24`);
      await lab.addr(NS.vps, 'wan0', '198.51.100.1/24');
      await lab.addr(NS.vps, 'lo', `${PUBLIC}/32`);
      await lab.addr(NS.vps, 'lan0', '10.59.0.1/24');
      await lab.addr(NS.device, 'eth0', `${DEVICE}/24`);
      await lab.ip('-n', NS.visitor, 'route', 'add', '203.0.113.0/24', 'via', '198.51.100.1');
      await lab.ip('-n', NS.device, 'route', 'add', 'default', 'via', '10.59.0.1');
      // the kernel side of the transparent leg, as the daemon will set it up
      const rules = lab.file(
        'sni.nft',
        'table inet sni-test {\n  chain pre {\n    type filter hook prerouting priority mangle;\n' +
          '    meta l4proto tcp socket transparent 1 meta mark set 0x00540001\n  }\n}\n'
      );
      await lab.checkIn(NS.vps, 'nft', ['-f', rules]);
      await lab.ip('-n', NS.vps, 'rule', 'add', 'fwmark', '0x540001', 'lookup', '1344');
      await lab.ip(
        '-n',
        NS.vps,
        'route',
        'add',
        'local',
        '0.0.0.0/0',
        'dev',
        'lo',
        'table',
        '1344'
      );
      // no forwarding (new namespaces may inherit it): the replies must be taken, not routed on
      await lab.checkIn(NS.vps, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0']);

      const made = await generateCertificate(['dev.example'], null);
      caFile = lab.file('ca.pem', made.rootCa.certPem);
      const key = lab.file('key.pem', made.certificate.keyPem);
      const cert = lab.file('cert.pem', made.certificate.chainPem.join(''));
      device = lab.spawnIn(NS.device, 'device tls', process.execPath, [
        '-e',
        DEVICE_SERVER,
        key,
        cert,
      ]);
      assert.ok(await device.line((l) => l === 'listening', 10_000), device.tail());
      proxy = lab.spawnIn(NS.vps, 'sni proxy', process.execPath, [
        '--conditions=source',
        '--import',
        TSX,
        '--input-type=module',
        '-e',
        PROXY,
      ]);
      const ready = await proxy.line((l) => l.startsWith('ready'), 30_000);
      assert.equal(ready, `ready ${PUBLIC}:443`, proxy.tail());
    },
    { timeout: 120_000 }
  );

  after(async () => {
    const problems = lab ? await lab.cleanup() : [];
    release?.();
    assert.deepEqual(problems, []);
  });

  it('the device sees the visitor’s own address and port', async () => {
    const out = await visit('dev.example');
    const local = /^local (\S+)$/m.exec(out)?.[1];
    assert.ok(local?.startsWith(`${VISITOR}:`), `${out}\n${proxy.tail()}`);
    assert.match(out, /^answer hello from the device$/m);
    const seen = await device.line((l) => l.startsWith('peer '), 5000);
    assert.equal(seen, `peer ${local} dev.example`);
  });

  it('an unknown name is closed, and so is a transparent connect the kernel cannot complete', async () => {
    const from = proxy.lines.length;
    const unknown = await visit('other.example');
    assert.doesNotMatch(unknown, /answer/);
    assert.ok(await proxy.line((l) => l.includes("no route for 'other.example'"), 5000, from));
    // without the policy route the device's SYN-ACK is not ours: the connect times out, and
    // the visitor is closed rather than connected from the VPS's own address
    await lab!.ip('-n', NS.vps, 'rule', 'del', 'fwmark', '0x540001', 'lookup', '1344');
    const peers = device.lines.length;
    const cut = await visit('dev.example');
    assert.doesNotMatch(cut, /answer/, `${cut}\n${proxy.tail()}`);
    assert.ok(await proxy.line((l) => l.includes('ETIMEDOUT'), 10_000, from), proxy.tail());
    assert.equal(device.lines.slice(peers).filter((l) => l.startsWith('peer ')).length, 0);
  });
});
