// SPDX-License-Identifier: MIT
// StartTunnel 1.5 parity through the real methods over a memory data plane: IPv6 subnets and
// pinholes, several public IPv4s (subnet and device WAN, re-keyed forwards), the HTTP→HTTPS
// redirect's exclusion with port-80 forwards, device kinds and what configs say.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type MethodName, type Params, RpcDispatcher, RpcError } from '@start-tunnel/protocol';
import {
  initialState,
  newSubnet,
  registerTunnelMethods,
  type State,
  Tunnel,
} from '../src/index.ts';
import { MemoryDataplane, MemoryStateStore, testEnv } from '../src/testing.ts';

const SUBNET = '10.59.7.1/24';
const PREFIX = '2001:db8:7::/64';

function setup(opts: { ipv6Route?: boolean } = {}) {
  const env = testEnv();
  const state: State = {
    ...initialState(env),
    subnets: { [SUBNET]: newSubnet('Home') },
  };
  const store = new MemoryStateStore(state);
  const dataplane = new MemoryDataplane();
  const logs: string[] = [];
  const tunnel = new Tunnel({
    store,
    dataplane,
    env,
    addresses: () => [
      { name: 'eth0', address: '203.0.113.5', family: 'IPv4', internal: false },
      { name: 'eth0', address: '203.0.113.6', family: 'IPv4', internal: false },
      {
        name: 'eth0',
        address: '2001:db8:ff::5',
        family: 'IPv6',
        internal: false,
        cidr: '2001:db8:ff::5/64',
      },
    ],
    interface: 'wg-test',
    listenPort: 51820,
    log: (l) => logs.push(l),
    ipv6DefaultRoute: () => opts.ipv6Route ?? true,
  });
  const rpc = new RpcDispatcher({ checkResults: true });
  registerTunnelMethods(rpc, tunnel, 'test');
  const call = <M extends MethodName>(method: M, params: Params<M>) =>
    rpc.call(method, params, { auth: 'local' });
  return { tunnel, dataplane, store, call, logs };
}

async function refused(p: Promise<unknown>, field: string, text: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RpcError, String(e));
    assert.equal(e.field, field, e.message);
    assert.match(e.message, text);
    return true;
  });
}

describe('IPv6 subnets', () => {
  it('refuses a prefix without an IPv6 default route and changes nothing', async () => {
    const t = setup({ ipv6Route: false });
    const before = JSON.stringify(t.store.state);
    await refused(
      t.call('subnet.set-ipv6', { subnet: SUBNET, prefix: PREFIX }),
      'prefix',
      /no IPv6 default route/
    );
    assert.equal(JSON.stringify(t.store.state), before);
  });

  it('refuses unusable prefixes, naming the field', async () => {
    const t = setup();
    for (const prefix of ['fe80::/64', 'ff02::/64', '::/64', '2001:db8::/125', 'nope']) {
      await refused(t.call('subnet.set-ipv6', { subnet: SUBNET, prefix }), 'prefix', /prefix/);
    }
  });

  it('numbers hosts prefix | IPv4 and carries IPv6 to the data plane, nat and the config', async () => {
    const t = setup();
    await t.call('subnet.set-ipv6', { subnet: SUBNET, prefix: '2001:db8:7::9/64' });
    const dev = await t.call('device.add', { subnet: SUBNET, name: 'nas', kind: 'server' });
    assert.equal(dev.ipv6, '2001:db8:7::a3b:702');
    const [info] = await t.call('subnet.list', {});
    assert.deepEqual([info?.ipv6, info?.gatewayIpv6], [PREFIX, '2001:db8:7::a3b:701']);
    assert.ok(t.dataplane.addresses.includes('2001:db8:7::a3b:701/128'));
    assert.equal(t.dataplane.peers.get(dev.publicKey)?.allowedIp6, '2001:db8:7::a3b:702/128');
    assert.deepEqual(t.dataplane.ipv6.routes, ['2001:db8:7::a3b:702/128']);
    assert.deepEqual(t.dataplane.ipv6.proxy, [], 'the prefix is routed, not on-link');
    assert.equal(t.dataplane.nat?.subnets[0]?.ipv6, PREFIX);
    const { config } = await t.call('device.show-config', { subnet: SUBNET, ip: dev.ip });
    assert.match(config, /^# StartTunnel config for nas\n# inbound: yes\n/);
    assert.match(config, /^Address = 10\.59\.7\.2\/24, 2001:db8:7::a3b:702\/64$/m);
    assert.match(config, /^AllowedIPs = 10\.59\.7\.0\/24, ::\/0$/m);
    // off again: addresses, routes and the config lose IPv6
    await t.call('subnet.set-ipv6', { subnet: SUBNET, prefix: null });
    assert.ok(!t.dataplane.addresses.some((a) => a.includes(':')));
    assert.equal(t.dataplane.peers.get(dev.publicKey)?.allowedIp6, undefined);
    const again = await t.call('device.show-config', { subnet: SUBNET, ip: dev.ip });
    assert.match(again.config, /^AllowedIPs = 10\.59\.7\.0\/24$/m);
  });

  it('answers NDP for devices when the prefix is on-link on a WAN', async () => {
    const t = setup();
    await t.call('subnet.set-ipv6', { subnet: SUBNET, prefix: '2001:db8:ff::/64' });
    await t.call('device.add', { subnet: SUBNET, name: 'a' });
    assert.deepEqual(t.dataplane.ipv6.proxy.map((p) => `${p.address} ${p.dev}`).sort(), [
      '2001:db8:ff::a3b:701 eth0',
      '2001:db8:ff::a3b:702 eth0',
    ]);
  });

  it('refuses a prefix too small for its hosts, and a device that would collide', async () => {
    const t = setup();
    await t.call('device.add', { subnet: SUBNET, name: 'a', ip: '10.59.7.17' });
    // a /124 keeps 4 bits: .17 and the gateway .1 would both be ::1
    await refused(
      t.call('subnet.set-ipv6', { subnet: SUBNET, prefix: '2001:db8::/124' }),
      'prefix',
      /too small/
    );
    await t.call('device.remove', { subnet: SUBNET, ip: '10.59.7.17' });
    await t.call('subnet.set-ipv6', { subnet: SUBNET, prefix: '2001:db8::/124' });
    await refused(
      t.call('device.add', { subnet: SUBNET, name: 'b', ip: '10.59.7.33' }),
      'ip',
      /collides with the tunnel itself/
    );
    const free = await t.call('device.add', { subnet: SUBNET, name: 'c' });
    assert.equal(free.ipv6, '2001:db8::2');
  });
});

describe('pinholes', () => {
  async function withDevice() {
    const t = setup();
    await t.call('subnet.set-ipv6', { subnet: SUBNET, prefix: PREFIX });
    const dev = await t.call('device.add', { subnet: SUBNET, name: 'nas', kind: 'server' });
    return { ...t, dev, gua: dev.ipv6! };
  }

  it('opens ports on a device address only, refusing overlaps and other addresses', async () => {
    const t = await withDevice();
    const p = await t.call('pinhole.add', {
      gua: t.gua,
      externalPort: 8000,
      count: 10,
      label: 'web',
    });
    assert.deepEqual([p.ip, p.internalPort, p.count, p.enabled], ['10.59.7.2', 8000, 10, true]);
    await refused(
      t.call('pinhole.add', { gua: t.gua, externalPort: 8005 }),
      'externalPort',
      /overlaps/
    );
    await refused(
      t.call('pinhole.add', { gua: '2001:db8:7::a3b:701', externalPort: 22 }),
      'gua',
      /not a device address/
    );
    await refused(
      t.call('pinhole.add', { gua: '2001:db8:9::1', externalPort: 22 }),
      'gua',
      /not a device/
    );
    await refused(
      t.call('pinhole.add', { gua: t.gua, externalPort: 65535, count: 2 }),
      'count',
      /passes 65535/
    );
    assert.deepEqual(t.dataplane.nat?.pinholes, [
      { address: t.gua, ports: '8000-8009', enabled: true },
    ]);
  });

  it('upserts keeping the enabled state, toggles, relabels, removes', async () => {
    const t = await withDevice();
    await t.call('pinhole.add', { gua: t.gua, externalPort: 443, internalPort: 8443 });
    await t.call('pinhole.set-enabled', { gua: t.gua, externalPort: 443, enabled: false });
    const again = await t.call('pinhole.add', { gua: t.gua, externalPort: 443, label: 'tls' });
    assert.deepEqual([again.enabled, again.label, again.internalPort], [false, 'tls', 443]);
    const cleared = await t.call('pinhole.update-label', { gua: t.gua, externalPort: 443 });
    assert.equal(cleared.label, null);
    await t.call('pinhole.remove', { gua: t.gua, externalPort: 443 });
    assert.deepEqual(await t.call('pinhole.list', {}), []);
    await refused(
      t.call('pinhole.remove', { gua: t.gua, externalPort: 443 }),
      'externalPort',
      /No pinhole/
    );
  });

  it('follow their device to a new prefix and go with it, its demotion or its removal', async () => {
    const t = await withDevice();
    await t.call('pinhole.add', { gua: t.gua, externalPort: 22 });
    await t.call('subnet.set-ipv6', { subnet: SUBNET, prefix: '2001:db8:8::/64' });
    assert.deepEqual(
      (await t.call('pinhole.list', {})).map((p) => p.gua),
      ['2001:db8:8::a3b:702']
    );
    await t.call('port-forward.add', { source: '2222', target: '10.59.7.2:22' });
    await t.call('device.set-kind', { subnet: SUBNET, ip: '10.59.7.2', kind: 'client' });
    assert.deepEqual(await t.call('pinhole.list', {}), []);
    assert.deepEqual(await t.call('port-forward.list', {}), []);
    await t.call('pinhole.add', { gua: '2001:db8:8::a3b:702', externalPort: 22 });
    await t.call('subnet.set-ipv6', { subnet: SUBNET, prefix: null });
    assert.deepEqual(await t.call('pinhole.list', {}), []);
  });
});

describe('several public IPv4s', () => {
  it('binds a subnet to its WAN: egress SNAT and forwards answering there only', async () => {
    const t = setup();
    const dev = await t.call('device.add', { subnet: SUBNET, name: 'web', kind: 'server' });
    await t.call('port-forward.add', { source: '443', target: `${dev.ip}:443` });
    const info = await t.call('subnet.set-wan', { subnet: SUBNET, wanIp: '203.0.113.6' });
    assert.equal(info.wanIp, '203.0.113.6');
    assert.equal(t.dataplane.nat?.subnets[0]?.egress, '203.0.113.6');
    assert.equal(t.dataplane.nat?.forwards[0]?.source, '203.0.113.6:443');
    const [fwd] = await t.call('port-forward.list', {});
    assert.equal(fwd?.externalIp, '203.0.113.6');
    await refused(
      t.call('port-forward.add', { source: '203.0.113.5:80', target: `${dev.ip}:80` }),
      'source',
      /leaves by 203\.0\.113\.6/
    );
    const [d] = await t.call('device.list', { subnet: SUBNET });
    assert.deepEqual([d?.wanIp, d?.effectiveWanIp], [null, '203.0.113.6']);
  });

  it('re-keys forwards written with the old WAN and SNATs a device of its own', async () => {
    const t = setup();
    const dev = await t.call('device.add', { subnet: SUBNET, name: 'web', kind: 'server' });
    await t.call('device.set-wan', { subnet: SUBNET, ip: dev.ip, wanIp: '203.0.113.6' });
    await t.call('port-forward.add', { source: '203.0.113.6:8443', target: `${dev.ip}:443` });
    assert.deepEqual(t.dataplane.nat?.hostEgress, [{ source: dev.ip, address: '203.0.113.6' }]);
    await t.call('device.set-wan', { subnet: SUBNET, ip: dev.ip, wanIp: '203.0.113.5' });
    assert.deepEqual(Object.keys(t.store.state.forwards), ['203.0.113.5:8443']);
    await t.call('device.set-wan', { subnet: SUBNET, ip: dev.ip, wanIp: null });
    assert.deepEqual(Object.keys(t.store.state.forwards), ['8443']);
    assert.deepEqual(t.dataplane.nat?.hostEgress, []);
  });

  it('refuses a WAN inside a subnet or not unicast, changing nothing', async () => {
    const t = setup();
    await refused(
      t.call('subnet.set-wan', { subnet: SUBNET, wanIp: '10.59.7.9' }),
      'wanIp',
      /inside the subnet/
    );
    await refused(
      t.call('subnet.set-wan', { subnet: SUBNET, wanIp: '127.0.0.1' }),
      'wanIp',
      /not a usable/
    );
    await refused(t.call('subnet.set-wan', { subnet: SUBNET, wanIp: '1.2.3' }), 'wanIp', /IPv4/);
    assert.equal(t.store.state.subnets[SUBNET]?.wanIp, null);
  });

  it('asks for --endpoint when the WAN is private (edge NAT) and uses a public one', async () => {
    const t = setup();
    const dev = await t.call('device.add', { subnet: SUBNET, name: 'a' });
    await t.call('subnet.set-wan', { subnet: SUBNET, wanIp: '172.16.0.5' });
    await refused(
      t.call('device.show-config', { subnet: SUBNET, ip: dev.ip }),
      'endpoint',
      /not public/
    );
    const ok = await t.call('device.show-config', {
      subnet: SUBNET,
      ip: dev.ip,
      endpoint: 'vpn.example.com',
    });
    assert.match(ok.config, /^Endpoint = vpn\.example\.com:51820$/m);
    assert.doesNotMatch(ok.config, /inbound/);
    await t.call('subnet.set-wan', { subnet: SUBNET, wanIp: '203.0.113.6' });
    const pub = await t.call('device.show-config', { subnet: SUBNET, ip: dev.ip });
    assert.match(pub.config, /^Endpoint = 203\.0\.113\.6:51820$/m);
  });
});

describe('HTTP→HTTPS redirect', () => {
  it('is on for every public IPv4 and excludes a port-80 forward either way', async () => {
    const t = setup();
    const dev = await t.call('device.add', { subnet: SUBNET, name: 'web', kind: 'server' });
    assert.deepEqual(await t.call('http-redirect.list', {}), [
      { ip: '203.0.113.5', enabled: true, forwarded: false },
      { ip: '203.0.113.6', enabled: true, forwarded: false },
    ]);
    await refused(
      t.call('port-forward.add', { source: '79-81', target: `${dev.ip}:79` }),
      'source',
      /http-redirect set-enabled 203\.0\.113\.5 --no-enabled/
    );
    await t.call('http-redirect.set-enabled', { ip: '203.0.113.6', enabled: false });
    // a forward bound to .6 only takes port 80 there
    await t.call('port-forward.add', { source: '203.0.113.6:80', target: `${dev.ip}:80` });
    assert.deepEqual(await t.call('http-redirect.list', {}), [
      { ip: '203.0.113.5', enabled: true, forwarded: false },
      { ip: '203.0.113.6', enabled: false, forwarded: true },
    ]);
    await refused(
      t.call('http-redirect.set-enabled', { ip: '203.0.113.6', enabled: true }),
      'ip',
      /is forwarded/
    );
    await refused(
      t.call('http-redirect.set-enabled', { ip: '198.51.100.1', enabled: false }),
      'ip',
      /not a public IPv4 of this server/
    );
    await t.call('port-forward.set-enabled', { source: '203.0.113.6:80', enabled: false });
    await t.call('http-redirect.set-enabled', { ip: '203.0.113.6', enabled: true });
    await refused(
      t.call('port-forward.set-enabled', { source: '203.0.113.6:80', enabled: true }),
      'source',
      /used by the HTTP→HTTPS redirect/
    );
  });
});
