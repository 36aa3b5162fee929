// SPDX-License-Identifier: MIT
/**
 * The StartTunnel server end to end, in namespaces: a "VPS" runs `start-tunnel daemon` (wg-core
 * in process, nat, the local API); a "home" server joins with stock wireguard-go through
 * `wg-quick up` on the generated config, verbatim; a "visitor" on the internet reaches services
 * of the home server through forwards; "other" is a device of another subnet. A router
 * namespace joins them with documentation ranges:
 *
 *   vps  wan0 203.0.113.1/24 ── 203.0.113.254 ┐
 *   home eth0 198.51.100.2/25 ─ 198.51.100.1 ─┤ net (forwarding)
 *   other eth0 198.51.100.130/25 198.51.100.129┤
 *   visitor eth0 192.0.2.2/24 ─ 192.0.2.254 ──┘
 *
 * Checked: the device reaches its gateway; the visitor reaches a TCP and a UDP service on it
 * through forwards; a device of another subnet cannot reach it even after widening its
 * AllowedIPs; adding and removing devices does not interrupt the home server's traffic;
 * `kill -9` of the daemon and a restart bring peers, addresses and forwards back; removing the
 * device stops its traffic and its forwards; and a stream of changes with the daemon killed at
 * random moments never loses an acknowledged change.
 * @module
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Bg, Lab, labSkip, ROOT, sleep, takeLock, waitFor } from './_lab.ts';

const TAG = String(process.pid).slice(-6);
const NS = {
  vps: `stt-vps-${TAG}`,
  net: `stt-net-${TAG}`,
  home: `stt-home-${TAG}`,
  other: `stt-oth-${TAG}`,
  visitor: `stt-vis-${TAG}`,
};
const IF = { home: `stth${TAG}`, other: `stto${TAG}` };
const WAN = '203.0.113.1';
const SUBNET_A = '10.59.41.0/24';
const SUBNET_B = '10.59.42.0/24';
const HOME_IP = '10.59.41.2';
const OTHER_IP = '10.59.42.2';

const skip =
  labSkip(['wg', 'wg-quick', 'wireguard-go', 'ping', 'nft', 'curl', 'bash']) ||
  (existsSync(join(ROOT, 'packages/cli/dist/main.js')) ? false : 'needs npm run build');

describe('start-tunnel daemon in namespaces with stock wireguard-go devices', { skip }, () => {
  let lab: Lab | null = null;
  let release: (() => void) | null = null;
  let daemon: Bg | null = null;
  let dataDir = '';

  const startDaemon = () => lab!.startTunnelDaemon(NS.vps, dataDir);

  // the local API is the Unix socket in the data directory (root only): no cookie, no port
  const rpc = (method: string, params: unknown = {}) =>
    lab!.socketRpc(NS.vps, dataDir, method, params);

  async function ok<T>(method: string, params: unknown = {}): Promise<T> {
    const r = await rpc(method, params);
    assert.equal(r.error, undefined, `${method}: ${JSON.stringify(r.error)}`);
    return r.result as T;
  }

  /** Brings the device up with its config, verbatim, through wg-quick. */
  const join_ = (ns: string, ifname: string, config: string) => lab!.wgQuickUp(ns, ifname, config);

  /** TCP: an HTTP answer through the forward; UDP: an echo through the forward. */
  async function visitorTcp(port: number): Promise<string | null> {
    const r = await lab!.exec(
      NS.visitor,
      'curl',
      ['-sS', '--max-time', '4', `http://${WAN}:${port}/`],
      {
        timeoutMs: 8000,
      }
    );
    return r.code === 0 ? r.stdout : null;
  }

  async function visitorUdp(port: number): Promise<string | null> {
    const script = `
      const s = require('node:dgram').createSocket('udp4');
      const t = setTimeout(() => process.exit(3), 3000);
      s.on('message', (m) => { process.stdout.write(String(m)); clearTimeout(t); process.exit(0); });
      s.send('ping-udp', ${port}, '${WAN}');`;
    const r = await lab!.exec(NS.visitor, process.execPath, ['-e', script], { timeoutMs: 8000 });
    return r.code === 0 ? r.stdout : null;
  }

  before(
    async () => {
      release = await takeLock();
      lab = new Lab('stt');
      dataDir = join(lab.tmp, 'data');
      for (const ns of Object.values(NS)) await lab.addNamespace(ns);
      await lab.routerNamespace(NS.net);
      await lab.routedHost(NS.net, 'to-vps', '203.0.113.254/24', NS.vps, 'wan0', `${WAN}/24`);
      await lab.routedHost(
        NS.net,
        'to-home',
        '198.51.100.1/25',
        NS.home,
        'eth0',
        '198.51.100.2/25'
      );
      await lab.routedHost(
        NS.net,
        'to-oth',
        '198.51.100.129/25',
        NS.other,
        'eth0',
        '198.51.100.130/25'
      );
      await lab.routedHost(NS.net, 'to-vis', '192.0.2.254/24', NS.visitor, 'eth0', '192.0.2.2/24');
      daemon = await startDaemon();
    },
    { timeout: 120_000 }
  );

  after(
    async () => {
      const problems = (await lab?.cleanup()) ?? [];
      release?.();
      assert.deepEqual(problems, [], 'lab cleanup');
    },
    { timeout: 60_000 }
  );

  it('a stock wireguard-go device joins with its generated config and reaches its gateway', {
    timeout: 90_000,
  }, async () => {
    await ok('subnet.add', { subnet: SUBNET_A, name: 'home' });
    await ok('subnet.add', { subnet: SUBNET_B, name: 'guests' });
    const home = await ok<{ ip: string }>('device.add', { subnet: SUBNET_A, name: 'home-server' });
    assert.equal(home.ip, HOME_IP);
    const cfg = await ok<{ config: string }>('device.show-config', {
      subnet: SUBNET_A,
      ip: HOME_IP,
    });
    assert.match(cfg.config, new RegExp(`Endpoint = ${WAN.replace(/\./g, '\\.')}:51820`));
    await join_(NS.home, IF.home, cfg.config);
    const p = await lab!.ping(NS.home, '10.59.41.1', { count: 3, wait: 5 });
    assert.equal(p.received, 3, p.output);
    const list = await ok<{ ip: string; online: boolean; rxBytes: number }[]>('device.list', {
      subnet: SUBNET_A,
    });
    assert.equal(list[0]?.online, true);
    assert.ok((list[0]?.rxBytes ?? 0) > 0);
    // services on the home server: HTTP on 8080 and a UDP echo on 5353
    lab!.spawnIn(NS.home, 'http 8080', process.execPath, [
      '-e',
      `require('node:http').createServer((q, s) => s.end('hello from home ' + q.socket.remoteAddress)).listen(8080, '${HOME_IP}', () => console.log('listening'))`,
    ]);
    lab!.spawnIn(NS.home, 'udp 5353', process.execPath, [
      '-e',
      `const s = require('node:dgram').createSocket('udp4'); s.on('message', (m, r) => s.send('echo:' + m, r.port, r.address)); s.bind(5353, '${HOME_IP}', () => console.log('listening'))`,
    ]);
    await sleep(300);
  });

  it('a visitor reaches a TCP and a UDP service through forwards', {
    timeout: 60_000,
  }, async () => {
    // port 80 is the HTTP→HTTPS redirect's until it is turned off (StartTunnel 1.5)
    const taken = await rpc('port-forward.add', { source: '80', target: `${HOME_IP}:8080` });
    assert.match(taken.error?.message ?? '', /http-redirect set-enabled/);
    await ok('http-redirect.set-enabled', { ip: WAN, enabled: false });
    await ok('port-forward.add', {
      source: '80',
      target: `${HOME_IP}:8080`,
      protocol: 'tcp',
      label: 'web',
    });
    await ok('port-forward.add', {
      source: `${WAN}:5353`,
      target: `${HOME_IP}:5353`,
      protocol: 'udp',
    });
    const body = await visitorTcp(80);
    assert.match(body ?? '', /^hello from home /, 'TCP through the forward');
    assert.equal(await visitorUdp(5353), 'echo:ping-udp', 'UDP through the forward');
    // protocol is honoured: no UDP on the TCP-only forward, no TCP on the UDP-only one
    assert.equal(await visitorUdp(80), null);
    assert.equal(await visitorTcp(5353), null);
    const fwd = await ok<{ source: string; packets: number }[]>('port-forward.list');
    assert.ok((fwd.find((f) => f.source === '80')?.packets ?? 0) > 0, JSON.stringify(fwd));
  });

  it('a device of another subnet cannot reach it, even with widened AllowedIPs', {
    timeout: 90_000,
  }, async () => {
    await ok('device.add', { subnet: SUBNET_B, name: 'guest-laptop' });
    const cfg = await ok<{ config: string }>('device.show-config', {
      subnet: SUBNET_B,
      ip: OTHER_IP,
    });
    const widened = cfg.config.replace(/^AllowedIPs = .*$/m, 'AllowedIPs = 10.59.0.0/16');
    assert.notEqual(widened, cfg.config);
    await join_(NS.other, IF.other, widened);
    const own = await lab!.ping(NS.other, '10.59.42.1', { count: 3, wait: 5 });
    assert.equal(own.received, 3, `its own gateway: ${own.output}`);
    const cross = await lab!.ping(NS.other, HOME_IP, { count: 3, wait: 1 });
    assert.equal(cross.received, 0, `isolation: ${cross.output}`);
    const tcp = await lab!.exec(
      NS.other,
      'curl',
      ['-sS', '--max-time', '3', `http://${HOME_IP}:8080/`],
      { timeoutMs: 6000 }
    );
    assert.notEqual(tcp.code, 0, 'TCP across subnets must fail');
  });

  it('adding and removing devices does not interrupt another device', {
    timeout: 90_000,
  }, async () => {
    const pinging = lab!.ping(NS.home, '10.59.41.1', { count: 60, interval: 0.1, wait: 2 });
    for (let i = 0; i < 4; i++) {
      const d = await ok<{ ip: string }>('device.add', { subnet: SUBNET_A, name: `temp-${i}` });
      await ok('device.remove', { subnet: SUBNET_A, ip: d.ip });
    }
    await ok('subnet.add', { subnet: '10.59.43.0/24', name: 'temp' });
    await ok('subnet.remove', { subnet: '10.59.43.0/24' });
    const r = await pinging;
    assert.equal(r.received, 60, `no loss while others change: ${r.output}`);
  });

  it('kill -9 of the daemon and a restart bring peers, addresses and forwards back', {
    timeout: 120_000,
  }, async () => {
    daemon!.child.kill('SIGKILL');
    await waitFor(() => daemon!.exited, 5000);
    const gone = await lab!.exec(NS.vps, 'ip', ['link', 'show', 'wg-start-tunnel']);
    assert.notEqual(gone.code, 0, 'the TUN interface dies with the process');
    daemon = await startDaemon();
    const addrs = await lab!.checkIn(NS.vps, 'ip', [
      '-4',
      '-o',
      'addr',
      'show',
      'dev',
      'wg-start-tunnel',
    ]);
    assert.match(addrs, /10\.59\.41\.1\/24/);
    assert.match(addrs, /10\.59\.42\.1\/24/);
    const peers = await lab!.checkIn(NS.vps, 'wg', ['show', 'wg-start-tunnel', 'allowed-ips']);
    assert.match(peers, /10\.59\.41\.2\/32/);
    assert.match(peers, /10\.59\.42\.2\/32/);
    // the stock client notices the lost session and handshakes again (≈ 15 s, its own timers)
    const back = await waitFor(
      async () => (await lab!.ping(NS.home, '10.59.41.1', { count: 1, wait: 1 })).received === 1,
      60_000
    );
    assert.ok(back, 'home server back through the restarted daemon');
    assert.match((await visitorTcp(80)) ?? '', /^hello from home/, 'forward back after restart');
  });

  it('removing the device stops its traffic and its forwards', { timeout: 60_000 }, async () => {
    await ok('device.remove', { subnet: SUBNET_A, ip: HOME_IP });
    const fwd = await ok<{ source: string }[]>('port-forward.list');
    assert.deepEqual(
      fwd.map((f) => f.source),
      [],
      'its forwards went with it'
    );
    const p = await lab!.ping(NS.home, '10.59.41.1', { count: 3, wait: 1 });
    assert.equal(p.received, 0, p.output);
    assert.equal(await visitorTcp(80), null);
    const peers = await lab!.checkIn(NS.vps, 'wg', ['show', 'wg-start-tunnel', 'allowed-ips']);
    assert.doesNotMatch(peers, /10\.59\.41\.2/);
  });

  it('SIGKILL at random moments during a stream of changes never loses an acknowledged one', {
    timeout: 240_000,
  }, async () => {
    const acked: string[] = [];
    for (let round = 0; round < 4; round++) {
      // changes in a loop in the background; kill the daemon after a random delay
      let stop = false;
      const stream = (async () => {
        // one new subnet per change (third octets 100..255, unique across rounds)
        for (let i = 0; i < 39 && !stop; i++) {
          const key = `10.59.${100 + round * 39 + i}.1/24`;
          const r = await rpc('subnet.add', { subnet: key, name: `r${round}-${i}` }).catch(
            () => null
          );
          if (r === null) break; // connection refused: the daemon is dead
          assert.equal(r.error, undefined, JSON.stringify(r.error));
          acked.push(key);
        }
      })();
      await sleep(300 + Math.floor(Math.random() * 1500));
      daemon!.child.kill('SIGKILL');
      stop = true;
      await stream;
      await waitFor(() => daemon!.exited, 5000);
      daemon = await startDaemon();
      const list = await ok<{ subnet: string }[]>('subnet.list');
      const have = new Set(list.map((s) => s.subnet));
      for (const k of acked) assert.ok(have.has(k), `acknowledged ${k} was lost (round ${round})`);
    }
    assert.ok(acked.length > 10, `changes were acknowledged (${acked.length})`);
  });
});
