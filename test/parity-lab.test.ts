// SPDX-License-Identifier: MIT
/**
 * StartTunnel 1.5 parity end to end, in namespaces, with stock wireguard-go devices joining by
 * `wg-quick up` on their generated configs:
 *
 *   vps   wan0 203.0.113.1/24 + 203.0.113.2/24, 2001:db8:ff::1/64 ┐
 *   home  eth0 198.51.100.2/25                                     ├ net (routes 2001:db8:7::/64
 *   vis   eth0 192.0.2.2/24, 2001:db8:99::2/64                     ┘      to the vps)
 *
 *   edge  wan0 10.59.200.2/24 (private) ── net2 (1:1 NAT 203.0.113.50 ⇄ 10.59.200.2)
 *   home2 eth0 198.51.100.130/25, vis2 eth0 192.0.2.130/25 ── net2
 *
 * Checked: a device of a subnet with a routed IPv6 prefix reaches the IPv6 internet through our
 * userspace WireGuard with its own address; a visitor reaches its service through a pinhole and
 * not without one; with the subnet bound to the second public IPv4, the visitor sees the device
 * coming from it, and its forward answers there and not on the first; `curl http://IP/x` is
 * redirected to `https://IP/x` on both public addresses; and a server on a cloud that NATs at
 * its edge (only a private address on the host) works with an explicit endpoint.
 * @module
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Bg, Lab, labSkip, ROOT, START_TUNNEL_BIN, sleep, takeLock } from './_lab.ts';

const TAG = String(process.pid).slice(-5);
const NS = {
  vps: `stp-vps-${TAG}`,
  net: `stp-net-${TAG}`,
  home: `stp-home-${TAG}`,
  vis: `stp-vis-${TAG}`,
  edge: `stp-edge-${TAG}`,
  net2: `stp-net2-${TAG}`,
  home2: `stp-hom2-${TAG}`,
  vis2: `stp-vis2-${TAG}`,
};
const IF = { home: `stph${TAG}`, home2: `stpg${TAG}`, vps: `stpv${TAG}`, edge: `stpe${TAG}` };
const WAN1 = '203.0.113.1';
const WAN2 = '203.0.113.2';
const EDGE_PUBLIC = '203.0.113.50';
const SUBNET = '10.59.51.0/24';
const HOME_IP = '10.59.51.2';
const PREFIX = '2001:db8:7::/64';
const HOME_GUA = '2001:db8:7::a3b:3302';
const VIS6 = '2001:db8:99::2';

const skip =
  labSkip(['wg', 'wg-quick', 'wireguard-go', 'ping', 'nft', 'curl', 'bash']) ||
  (existsSync(join(ROOT, 'packages/cli/dist/main.js')) ? false : 'needs npm run build');

describe('StartTunnel 1.5 parity: IPv6, pinholes, two public IPs, redirect, edge NAT', {
  skip,
}, () => {
  let lab: Lab | null = null;
  let release: (() => void) | null = null;
  const dirs = { vps: '', edge: '' };

  async function daemon(ns: string, dataDir: string, ifname: string): Promise<Bg> {
    lab!.ifnames.add(ifname);
    const bg = lab!.spawnIn(ns, `start-tunnel daemon ${ns}`, process.execPath, [
      START_TUNNEL_BIN,
      'daemon',
      '--datadir',
      dataDir,
      '--interface',
      ifname,
    ]);
    const up = await bg.line((l) => l.includes('API on'), 30_000);
    if (!up) throw new Error(`start-tunnel daemon did not start:\n${bg.tail()}`);
    return bg;
  }

  const rpc = (dataDir: string, ns: string, method: string, params: unknown = {}) =>
    lab!.socketRpc(ns, dataDir, method, params);

  const ok = async <T>(method: string, params: unknown = {}, where: 'vps' | 'edge' = 'vps') => {
    const r = await rpc(dirs[where], NS[where], method, params);
    assert.equal(r.error, undefined, `${method}: ${JSON.stringify(r.error)}`);
    return r.result as T;
  };

  const join_ = (ns: string, ifname: string, config: string) => lab!.wgQuickUp(ns, ifname, config);

  async function curl(ns: string, url: string, extra: string[] = []) {
    const r = await lab!.exec(ns, 'curl', ['-sS', '--max-time', '4', ...extra, url], {
      timeoutMs: 8000,
    });
    return r.code === 0 ? r.stdout : null;
  }

  /** An HTTP server on every address that answers with the caller's address; once it listens. */
  async function whoami(ns: string, port: number, label: string) {
    const bg = lab!.spawnIn(ns, `${label} ${port}`, process.execPath, [
      '-e',
      `require('node:http').createServer((q, s) => s.end('${label} sees ' + q.socket.remoteAddress)).listen(${port}, '::', () => console.log('listening'))`,
    ]);
    assert.ok(await bg.line((l) => l.includes('listening'), 10_000), bg.tail());
  }

  /**
   * IPv4 in a StartTunnel config is split tunnel (the subnet only): a user who wants the
   * device's internet traffic to leave by the VPS widens AllowedIPs, as here for `range`.
   */
  const widen = (config: string, range: string) =>
    config.replace(/^AllowedIPs = (.*)$/m, `AllowedIPs = $1, ${range}`);

  before(
    async () => {
      release = await takeLock();
      lab = new Lab('stp');
      dirs.vps = join(lab.tmp, 'vps');
      dirs.edge = join(lab.tmp, 'edge');
      for (const ns of Object.values(NS)) await lab.addNamespace(ns);
      for (const router of [NS.net, NS.net2]) {
        await lab.routerNamespace(router);
        await lab.checkIn(router, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
      }
      // the internet, with a routed IPv6 prefix for the VPS
      await lab.routedHost(NS.net, 'to-vps', '203.0.113.254/24', NS.vps, 'wan0', `${WAN1}/24`);
      await lab.addr(NS.vps, 'wan0', `${WAN2}/24`);
      await lab.addr(NS.net, 'to-vps', '2001:db8:ff::fe/64');
      await lab.addr(NS.vps, 'wan0', '2001:db8:ff::1/64');
      await lab.ip('-n', NS.vps, '-6', 'route', 'add', 'default', 'via', '2001:db8:ff::fe');
      await lab.ip('-n', NS.net, '-6', 'route', 'add', PREFIX, 'via', '2001:db8:ff::1');
      await lab.routedHost(
        NS.net,
        'to-home',
        '198.51.100.1/25',
        NS.home,
        'eth0',
        '198.51.100.2/25'
      );
      await lab.routedHost(NS.net, 'to-vis', '192.0.2.254/24', NS.vis, 'eth0', '192.0.2.2/24');
      await lab.addr(NS.net, 'to-vis', '2001:db8:99::fe/64');
      await lab.addr(NS.vis, 'eth0', `${VIS6}/64`);
      await lab.ip('-n', NS.vis, '-6', 'route', 'add', 'default', 'via', '2001:db8:99::fe');
      // a cloud that NATs the public address at its edge
      await lab.routedHost(
        NS.net2,
        'to-edge',
        '10.59.200.254/24',
        NS.edge,
        'wan0',
        '10.59.200.2/24'
      );
      await lab.routedHost(
        NS.net2,
        'to-hom2',
        '198.51.100.129/25',
        NS.home2,
        'eth0',
        '198.51.100.130/25'
      );
      await lab.routedHost(NS.net2, 'to-vis2', '192.0.2.254/25', NS.vis2, 'eth0', '192.0.2.130/25');
      const nat = lab.file(
        'edge-nat.nft',
        `table ip edge {
  chain pre { type nat hook prerouting priority -100; ip daddr ${EDGE_PUBLIC} dnat to 10.59.200.2; }
  chain post { type nat hook postrouting priority 100; ip saddr 10.59.200.2 oifname != "to-edge" snat to ${EDGE_PUBLIC}; }
}\n`
      );
      await lab.checkIn(NS.net2, 'nft', ['-f', nat]);
      await daemon(NS.vps, dirs.vps, IF.vps);
      await daemon(NS.edge, dirs.edge, IF.edge);
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

  it('a device of an IPv6 subnet reaches the IPv6 internet with its own address', {
    timeout: 90_000,
  }, async () => {
    await ok('subnet.add', { subnet: SUBNET, name: 'home' });
    const set = await ok<{ ipv6: string; warnings: string[] }>('subnet.set-ipv6', {
      subnet: SUBNET,
      prefix: PREFIX,
    });
    assert.equal(set.ipv6, PREFIX);
    assert.equal(set.warnings.length, 1, 'routed, not on-link: the warning says so');
    const dev = await ok<{ ip: string; ipv6: string }>('device.add', {
      subnet: SUBNET,
      name: 'home-server',
      kind: 'server',
    });
    assert.deepEqual([dev.ip, dev.ipv6], [HOME_IP, HOME_GUA]);
    const cfg = await ok<{ config: string }>('device.show-config', { subnet: SUBNET, ip: HOME_IP });
    assert.match(cfg.config, /^# inbound: yes$/m);
    assert.match(cfg.config, /^AllowedIPs = 10\.59\.51\.0\/24, ::\/0$/m);
    await join_(NS.home, IF.home, widen(cfg.config, '192.0.2.0/24'));
    const gw = await lab!.ping(NS.home, '2001:db8:7::a3b:3301', { count: 3, wait: 5 });
    assert.equal(gw.received, 3, `the gateway over IPv6: ${gw.output}`);
    const out = await lab!.ping(NS.home, VIS6, { count: 3, wait: 5 });
    assert.equal(out.received, 3, `the IPv6 internet: ${out.output}`);
    await whoami(NS.vis, 9000, 'visitor');
    await whoami(NS.home, 8080, 'home');
    assert.equal(await curl(NS.home, `http://[${VIS6}]:9000/`), `visitor sees ${HOME_GUA}`);
  });

  it('a visitor reaches the device over IPv6 through a pinhole, and not without one', {
    timeout: 60_000,
  }, async () => {
    const url = `http://[${HOME_GUA}]:8080/`;
    assert.equal(await curl(NS.vis, url), null, 'closed without a pinhole');
    await ok('pinhole.add', { gua: HOME_GUA, externalPort: 8080, label: 'web' });
    assert.equal(await curl(NS.vis, url), `home sees ${VIS6}`, "the visitor's own address");
    // a remap: 8443 outside is 8080 on the device
    await ok('pinhole.add', { gua: HOME_GUA, externalPort: 8443, internalPort: 8080 });
    assert.equal(await curl(NS.vis, `http://[${HOME_GUA}]:8443/`), `home sees ${VIS6}`);
    await ok('pinhole.set-enabled', { gua: HOME_GUA, externalPort: 8080, enabled: false });
    assert.equal(await curl(NS.vis, url), null, 'closed again when disabled');
  });

  it('a subnet bound to the second public IPv4 leaves by it and is reached only there', {
    timeout: 60_000,
  }, async () => {
    assert.equal(await curl(NS.home, 'http://192.0.2.2:9000/'), `visitor sees ::ffff:${WAN1}`);
    await ok('subnet.set-wan', { subnet: SUBNET, wanIp: WAN2 });
    assert.equal(await curl(NS.home, 'http://192.0.2.2:9000/'), `visitor sees ::ffff:${WAN2}`);
    const fwd = await ok<{ externalIp: string }>('port-forward.add', {
      source: '8081',
      target: `${HOME_IP}:8080`,
      protocol: 'tcp',
    });
    assert.equal(fwd.externalIp, WAN2);
    assert.match((await curl(NS.vis, `http://${WAN2}:8081/`)) ?? '', /^home sees /);
    assert.equal(await curl(NS.vis, `http://${WAN1}:8081/`), null, 'not on the first address');
  });

  it('plain HTTP on port 80 of each public IPv4 is redirected to HTTPS', {
    timeout: 60_000,
  }, async () => {
    for (const ip of [WAN1, WAN2]) {
      const head = await curl(NS.vis, `http://${ip}/x?y=1`, [
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{redirect_url}',
      ]);
      assert.equal(head, `307 https://${ip}/x?y=1`);
    }
    const list = await ok<{ ip: string; enabled: boolean }[]>('http-redirect.list');
    assert.deepEqual(list.map((r) => `${r.ip} ${r.enabled}`).sort(), [
      `${WAN1} true`,
      `${WAN2} true`,
    ]);
    await ok('http-redirect.set-enabled', { ip: WAN1, enabled: false });
    await sleep(500); // the listener follows the change right after it is applied
    const closed = await curl(NS.vis, `http://${WAN1}/x`, [
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
    ]);
    assert.equal(closed, null, 'turned off: nothing listens');
  });

  it('a server behind an edge NAT works with an explicit endpoint', {
    timeout: 90_000,
  }, async () => {
    await ok('subnet.add', { subnet: '10.59.52.0/24', name: 'edge' }, 'edge');
    await ok('device.add', { subnet: '10.59.52.0/24', name: 'srv', kind: 'server' }, 'edge');
    const missing = await rpc(dirs.edge, NS.edge, 'device.show-config', {
      subnet: '10.59.52.0/24',
      ip: '10.59.52.2',
    });
    assert.equal(missing.error?.data?.field, 'endpoint', JSON.stringify(missing));
    const cfg = await ok<{ config: string }>(
      'device.show-config',
      { subnet: '10.59.52.0/24', ip: '10.59.52.2', endpoint: EDGE_PUBLIC },
      'edge'
    );
    await join_(NS.home2, IF.home2, widen(cfg.config, '192.0.2.128/25'));
    const p = await lab!.ping(NS.home2, '10.59.52.1', { count: 3, wait: 5 });
    assert.equal(p.received, 3, p.output);
    await whoami(NS.home2, 8080, 'home2');
    await whoami(NS.vis2, 9000, 'visitor2');
    await ok('port-forward.add', { source: '8080', target: '10.59.52.2:8080' }, 'edge');
    assert.equal(
      await curl(NS.vis2, `http://${EDGE_PUBLIC}:8080/`),
      'home2 sees ::ffff:10.59.52.1'
    );
    assert.equal(
      await curl(NS.home2, 'http://192.0.2.130:9000/'),
      `visitor2 sees ::ffff:${EDGE_PUBLIC}`
    );
  });
});
