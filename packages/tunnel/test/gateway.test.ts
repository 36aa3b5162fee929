// SPDX-License-Identifier: MIT
// StartTunnel 1.5's gateway services through the real methods over a memory data plane: SNI
// ports (routes by hostname, fallback, conversion, ownership), DNS settings and records, what a
// device may do on its own (DNS injection, automatic forwards) and its TSIG key.
import assert from 'node:assert/strict';
import { hkdfSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { type MethodName, type Params, RpcDispatcher, RpcError } from '@start-tunnel/protocol';
import {
  applyDnsChanges,
  dnsInjector,
  initialState,
  mapAuto,
  newSubnet,
  registerGatewayMethods,
  registerTunnelMethods,
  routeFor,
  type State,
  Tunnel,
  unmapAuto,
} from '../src/index.ts';
import { MemoryDataplane, MemoryStateStore, testEnv } from '../src/testing.ts';

const SUBNET = '10.59.7.1/24';

async function setup() {
  const env = testEnv();
  const state: State = { ...initialState(env), subnets: { [SUBNET]: newSubnet('Home') } };
  const store = new MemoryStateStore(state);
  const dataplane = new MemoryDataplane();
  const tunnel = new Tunnel({
    store,
    dataplane,
    env,
    addresses: () => [{ name: 'eth0', address: '203.0.113.5', family: 'IPv4', internal: false }],
    interface: 'wg-test',
    listenPort: 51820,
    log: () => {},
    ipv6DefaultRoute: () => true,
  });
  const rpc = new RpcDispatcher({ checkResults: true });
  registerTunnelMethods(rpc, tunnel, 'test');
  registerGatewayMethods(rpc, tunnel);
  const call = <M extends MethodName>(method: M, params: Params<M>) =>
    rpc.call(method, params, { auth: 'local' });
  const a = await call('device.add', { subnet: SUBNET, name: 'a', kind: 'server' });
  const b = await call('device.add', { subnet: SUBNET, name: 'b', kind: 'server' });
  const c = await call('device.add', { subnet: SUBNET, name: 'c' });
  return { tunnel, store, call, env, a: a.ip, b: b.ip, c: c.ip };
}

async function refused(p: Promise<unknown>, field: string, text: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RpcError, String(e));
    assert.equal(e.field, field, e.message);
    assert.match(e.message, text);
    return true;
  });
}

describe('SNI ports', () => {
  it('routes hostnames to their devices, with a wildcard and a fallback', async () => {
    const t = await setup();
    await t.call('port-forward.add', { source: '443', target: `${t.a}:443`, sni: ['A.example'] });
    await t.call('port-forward.add', {
      source: '443',
      target: `${t.b}:8443`,
      sni: ['*.b.example'],
      fallback: true,
    });
    const port = t.store.state.sni['443']!;
    assert.equal(routeFor(port, 'a.example')?.target, `${t.a}:443`);
    assert.equal(routeFor(port, 'x.b.example')?.target, `${t.b}:8443`);
    assert.equal(routeFor(port, 'deep.x.b.example')?.target, `${t.b}:8443`, 'fallback');
    assert.equal(routeFor(port, null)?.target, `${t.b}:8443`);
    const list = await t.call('port-forward.list', {});
    assert.deepEqual(
      list.map((f) => `${f.kind} ${f.hostname} ${f.target}`),
      [`sni *.b.example ${t.b}:8443`, `sni a.example ${t.a}:443`, `sni null ${t.b}:8443`]
    );
    await t.call('port-forward.set-enabled', {
      source: '443',
      hostname: 'a.example',
      enabled: false,
    });
    assert.equal(routeFor(t.store.state.sni['443']!, 'a.example')?.target, `${t.b}:8443`);
  });

  it('keeps a hostname with its device, refuses ranges, UDP, reserved ports and plain forwards on it', async () => {
    const t = await setup();
    await t.call('port-forward.add', { source: '443', target: `${t.a}:443`, sni: ['a.example'] });
    await refused(
      t.call('port-forward.add', { source: '443', target: `${t.b}:443`, sni: ['a.example'] }),
      'sni',
      /taken/
    );
    await refused(
      t.call('port-forward.add', { source: '8000-8001', target: `${t.a}:443`, sni: ['x.example'] }),
      'source',
      /ranges/
    );
    await refused(
      t.call('port-forward.add', {
        source: '8443',
        target: `${t.a}:443`,
        sni: ['x.example'],
        protocol: 'udp',
      }),
      'protocol',
      /TCP/
    );
    await refused(
      t.call('port-forward.add', { source: '22', target: `${t.a}:22`, sni: ['x.example'] }),
      'source',
      /SSH/
    );
    await refused(
      t.call('port-forward.add', { source: '400-500', target: `${t.b}:400` }),
      'source',
      /SNI port/
    );
    await refused(
      t.call('port-forward.add', {
        source: '443',
        target: `${t.a}:443`,
        sni: ['bad_name.example'],
      }),
      'sni',
      /hostname/
    );
    await t.call('port-forward.add', {
      source: '443',
      target: `${t.a}:443`,
      sni: ['a.example'],
      label: 'again',
    });
    assert.equal(
      t.store.state.sni['443']?.routes['a.example']?.label,
      'again',
      'the same device re-claims'
    );
  });

  it('converts a plain forward to the same device into the fallback; another device is refused', async () => {
    const t = await setup();
    await t.call('port-forward.add', {
      source: '8443',
      target: `${t.a}:443`,
      protocol: 'tcp',
      label: 'web',
    });
    await refused(
      t.call('port-forward.add', { source: '8443', target: `${t.b}:443`, sni: ['b.example'] }),
      'source',
      /remove it first/
    );
    await t.call('port-forward.add', { source: '8443', target: `${t.a}:443`, sni: ['a.example'] });
    assert.equal(t.store.state.forwards['8443'], undefined);
    assert.deepEqual(
      [t.store.state.sni['8443']?.fallback?.target, t.store.state.sni['8443']?.fallback?.label],
      [`${t.a}:443`, 'web']
    );
    await refused(
      t.call('port-forward.add', { source: '8443', target: `${t.a}:443`, protocol: 'udp' }),
      'source',
      /is an SNI port/
    );
    await t.call('port-forward.remove', { source: '8443', hostname: 'a.example' });
    assert.ok(t.store.state.sni['8443'], 'the fallback keeps the port');
    await t.call('port-forward.add', { source: '8443', target: `${t.a}:443`, sni: ['a.example'] });
    await t.call('port-forward.remove', { source: '8443', hostname: '' });
    assert.equal(t.store.state.sni['8443']?.fallback, null, 'the fallback alone');
    await t.call('port-forward.remove', { source: '8443' });
    assert.equal(t.store.state.sni['8443'], undefined);
  });

  it('drops the routes of a removed or demoted device', async () => {
    const t = await setup();
    await t.call('port-forward.add', { source: '443', target: `${t.a}:443`, sni: ['a.example'] });
    await t.call('port-forward.add', { source: '443', target: `${t.b}:443`, sni: ['b.example'] });
    await t.call('device.remove', { subnet: SUBNET, ip: t.a });
    assert.deepEqual(Object.keys(t.store.state.sni['443']!.routes), ['b.example']);
    await t.call('device.set-kind', { subnet: SUBNET, ip: t.b, kind: 'client' });
    assert.deepEqual(t.store.state.sni, {});
  });
});

describe('DNS', () => {
  it('sets each mode and refuses what cannot work, naming the field', async () => {
    const t = await setup();
    const dev = await t.call('subnet.set-dns', { subnet: SUBNET, mode: 'device', deviceIp: t.a });
    assert.deepEqual([dev.mode, dev.deviceIp], ['device', t.a]);
    await refused(
      t.call('subnet.set-dns', { subnet: SUBNET, mode: 'device', deviceIp: '10.59.7.99' }),
      'deviceIp',
      /no device/
    );
    await refused(
      t.call('subnet.set-dns', { subnet: SUBNET, mode: 'device' }),
      'deviceIp',
      /required/
    );
    const custom = await t.call('subnet.set-dns', {
      subnet: SUBNET,
      mode: 'custom',
      servers: ['192.0.2.53', '[2001:db8::53]:5353'],
    });
    assert.deepEqual(custom.servers, ['192.0.2.53:53', '[2001:db8::53]:5353']);
    await refused(
      t.call('subnet.set-dns', { subnet: SUBNET, mode: 'custom', servers: [] }),
      'servers',
      /1 to 3/
    );
    await refused(
      t.call('subnet.set-dns', { subnet: SUBNET, mode: 'custom', servers: ['dns.example'] }),
      'servers',
      /IP/
    );
    const [info] = await t.call('subnet.list', {});
    assert.deepEqual(info?.dns.servers, ['192.0.2.53:53', '[2001:db8::53]:5353']);
  });

  it('adds, replaces and removes records with checked values', async () => {
    const t = await setup();
    await t.call('dns.add', { name: 'NAS.home.', type: 'A', value: '10.59.7.2' });
    await t.call('dns.add', { name: 'nas.home', type: 'A', value: '10.59.7.2', ttl: 60 });
    await t.call('dns.add', { name: 'nas.home', type: 'TXT', value: 'hello' });
    assert.deepEqual(
      (await t.call('dns.list', {})).map((r) => `${r.name} ${r.type} ${r.value} ${r.ttl}`),
      ['nas.home A 10.59.7.2 60', 'nas.home TXT hello 300']
    );
    await refused(
      t.call('dns.add', { name: 'x.home', type: 'A', value: '2001:db8::1' }),
      'value',
      /invalid A record/
    );
    await refused(
      t.call('dns.add', { name: 'bad name', type: 'A', value: '10.0.0.1' }),
      'name',
      /hostname/
    );
    assert.deepEqual(await t.call('dns.remove', { name: 'nas.home', type: 'TXT' }), { removed: 1 });
    assert.deepEqual(await t.call('dns.remove', { name: 'nas.home' }), { removed: 1 });
  });

  it('lets only allowed devices inject, with a key derived from their preshared key', async () => {
    const t = await setup();
    assert.ok(dnsInjector(t.store.state, t.a), 'a server may');
    assert.equal(dnsInjector(t.store.state, t.c), null, 'a client may not');
    await t.call('device.set-dns-injection', { subnet: SUBNET, ip: t.a, enabled: false });
    assert.equal(dnsInjector(t.store.state, t.a), null, 'withdrawn at once');
    const key = await t.call('device.dns-key', { subnet: SUBNET, ip: t.b });
    const psk = Buffer.from(t.store.state.subnets[SUBNET]!.devices[t.b]!.presharedKey, 'base64');
    const expected = Buffer.from(
      hkdfSync('sha256', psk, new Uint8Array(0), 'startos-dns-update-v1', 32)
    );
    assert.equal(key.secret, expected.toString('base64'));
    assert.deepEqual([key.keyName, key.server], ['startos-dns-update.', '10.59.7.1']);
    const next = applyDnsChanges(t.store.state, t.b, [
      { op: 'add', name: 'b.home', type: 'A', value: t.b, ttl: 120 },
      { op: 'add', name: 'b.home', type: 'TXT', value: 'x', ttl: 120 },
      { op: 'delete-rr', name: 'b.home', type: 'TXT', value: 'x' },
    ]);
    assert.deepEqual(next.dnsRecords, [
      { name: 'b.home', type: 'A', value: t.b, ttl: 120, source: t.b },
    ]);
    assert.deepEqual(
      applyDnsChanges(next, t.b, [{ op: 'delete-rrset', name: 'b.home', type: 'ANY' }]).dnsRecords,
      []
    );
  });
});

describe('automatic forwards', () => {
  it('opens, repoints and closes only its own, never over a manual forward', async () => {
    const t = await setup();
    const now = { now: () => new Date('2026-12-07T00:00:00Z') };
    const m = {
      family: 4 as const,
      protocol: 'both' as const,
      internalPort: 8080,
      externalPort: 0,
      count: 1,
      description: 'game',
    };
    let s = mapAuto(t.store.state, now, { ...m, device: t.a }).state;
    assert.deepEqual([s.forwards['8080']?.target, s.forwards['8080']?.auto], [`${t.a}:8080`, true]);
    s = mapAuto(s, now, { ...m, device: t.a, internalPort: 9090, externalPort: 8080 }).state;
    assert.equal(s.forwards['8080']?.target, `${t.a}:9090`, 'repointed');
    assert.throws(
      () => mapAuto(s, now, { ...m, device: t.b, externalPort: 8080 }),
      /holds these ports/
    );
    assert.throws(() => mapAuto(s, now, { ...m, device: t.c }), /may not/);
    s = unmapAuto(s, { device: t.a, family: 4, externalPort: 8080 });
    assert.equal(s.forwards['8080'], undefined);
    await t.call('port-forward.add', { source: '7000', target: `${t.b}:7000` });
    assert.throws(
      () => mapAuto(t.store.state, now, { ...m, device: t.a, internalPort: 7000 }),
      /holds/
    );
  });

  it('goes when the device loses the permission; manual forwards stay', async () => {
    const t = await setup();
    await t.call('port-forward.add', { source: '7000', target: `${t.a}:7000` });
    await t.tunnel.change((s) => ({
      state: mapAuto(s, t.env, {
        device: t.a,
        family: 4,
        protocol: 'tcp',
        internalPort: 8080,
        externalPort: 0,
        count: 4,
        description: '',
      }).state,
      result: null,
    }));
    const auto = (await t.call('port-forward.list', {})).find((f) => f.auto);
    assert.deepEqual([auto?.source, auto?.label], ['8080-8083', 'PCP']);
    await t.call('device.set-auto-port-forward', { subnet: SUBNET, ip: t.a, enabled: false });
    assert.deepEqual(Object.keys(t.store.state.forwards), ['7000']);
  });
});
