// SPDX-License-Identifier: MIT
// The server on the in-memory data plane, driven through its real local API (the Unix socket).
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { API_SOCKET, type DeviceConfig, ErrorCode } from '@start-tunnel/protocol';
import { MemoryDataplane } from '@start-tunnel/tunnel/testing';
import { startServer } from '../src/index.ts';
import { socketRequest, type TestServer, testServer } from './_env.ts';

describe('local API', () => {
  let t: TestServer;
  before(async () => {
    t = await testServer();
  });
  after(async () => {
    await t.stop();
  });

  it('serves a 0600 socket in the data directory', () => {
    assert.equal(t.server.socket, join(t.dir, API_SOCKET));
    const st = statSync(t.server.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  it('refuses what is not a JSON POST', async () => {
    const body = JSON.stringify({ id: 1, method: 'subnet.list' });
    const text = await socketRequest(t.server.socket, {
      headers: { 'content-type': 'text/plain' },
      body,
    });
    assert.equal(text.status, 415);
    const bad = await socketRequest(t.server.socket, {
      headers: { 'content-type': 'application/json' },
      body: '{"id":1,',
    });
    assert.equal(JSON.parse(bad.body).error.code, ErrorCode.ParseError);
    const get = await socketRequest(t.server.socket, { method: 'GET' });
    assert.equal(get.status, 405);
    const big = await socketRequest(t.server.socket, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(Array.from({ length: 65 }, (_, i) => ({ id: i, method: 'status' }))),
    });
    assert.equal(big.status, 400);
    assert.match(JSON.parse(big.body).error.message, /Batch too large/);
  });

  it('reports unknown methods and bad params naming the field', async () => {
    assert.equal((await t.call('nope.nothing')).error?.code, ErrorCode.MethodNotFound);
    const missing = await t.call('subnet.add', { subnet: '10.59.50.0/24' });
    assert.equal(missing.error?.code, ErrorCode.InvalidParams);
    assert.equal(missing.error?.data?.field, 'name');
    assert.match(missing.error!.message, /name: is required/);
    const typed = await t.call('port-forward.set-enabled', { source: '443', enabled: 'yes' });
    assert.equal(typed.error?.data?.field, 'enabled');
    const extra = await t.call('subnet.list', { junk: 1 });
    assert.equal(extra.error?.code, ErrorCode.InvalidParams);
    const proto = await t.call('port-forward.add', {
      source: '1',
      target: '10.59.1.2:1',
      protocol: 'sctp',
    });
    assert.equal(proto.error?.data?.field, 'protocol');
  });

  it('adds a subnet and a device, applies peers and addresses, renders the config', async () => {
    const sub = await t.call('subnet.add', { subnet: '10.59.50.0/24', name: 'lab' });
    assert.deepEqual(sub.result, {
      subnet: '10.59.50.1/24',
      name: 'lab',
      network: '10.59.50.0/24',
      devices: 0,
      wanIp: null,
      ipv6: null,
      gatewayIpv6: null,
      dns: { mode: 'default', deviceIp: null, servers: [] },
    });
    assert.ok(t.dataplane.addresses.includes('10.59.50.1/24'));
    const dev = (await t.call('device.add', { subnet: '10.59.50.1/24', name: 'phone' })).result as {
      ip: string;
      publicKey: string;
    };
    assert.equal(dev.ip, '10.59.50.2');
    assert.deepEqual(t.dataplane.peers.get(dev.publicKey)?.allowedIp, '10.59.50.2/32');
    const cfg = (await t.call('device.show-config', { subnet: '10.59.50.0/24', ip: '10.59.50.2' }))
      .result as DeviceConfig;
    const lines = cfg.config.split('\n');
    assert.equal(lines[0], '# StartTunnel config for phone');
    assert.ok(lines.includes('Address = 10.59.50.2/24'));
    assert.ok(lines.includes('AllowedIPs = 10.59.50.0/24'));
    assert.ok(lines.includes('Endpoint = 203.0.113.7:51820'), 'the detected WAN address');
    assert.ok(lines.includes('PersistentKeepalive = 25'));
    assert.ok(lines.includes(`PublicKey = ${t.server.tunnel.publicKey}`));
    assert.ok(lines.some((l) => /^PresharedKey = [A-Za-z0-9+/]{43}=$/.test(l)));
    const custom = (
      await t.call('device.show-config', {
        subnet: '10.59.50.0/24',
        ip: '10.59.50.2',
        endpoint: 'vpn.example.org',
      })
    ).result as DeviceConfig;
    assert.match(custom.config, /Endpoint = vpn\.example\.org:51820/);
    const badEp = await t.call('device.show-config', {
      subnet: '10.59.50.0/24',
      ip: '10.59.50.2',
      endpoint: 'a b',
    });
    assert.equal(badEp.error?.data?.field, 'endpoint');
  });

  it('touches only the changed peer when devices come and go', async () => {
    const a = (await t.call('device.add', { subnet: '10.59.50.1/24', name: 'a' })).result as {
      publicKey: string;
    };
    const touchesA = t.dataplane.touches.get(a.publicKey);
    const b = (await t.call('device.add', { subnet: '10.59.50.1/24', name: 'b' })).result as {
      ip: string;
    };
    await t.call('device.remove', { subnet: '10.59.50.1/24', ip: b.ip });
    await t.call('device.add', { subnet: '10.59.50.1/24', name: 'a-renamed', ip: '10.59.50.3' });
    assert.equal(t.dataplane.touches.get(a.publicKey), touchesA, 'a was not re-applied');
    assert.ok(t.dataplane.peers.has(a.publicKey));
  });

  it('device with its own key: config has a placeholder, never a private key', async () => {
    const own = (
      await t.call('device.add', {
        subnet: '10.59.50.1/24',
        name: 'laptop',
        publicKey: 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=',
      })
    ).result as { ip: string; ownKey: boolean };
    assert.equal(own.ownKey, true);
    const cfg = (await t.call('device.show-config', { subnet: '10.59.50.1/24', ip: own.ip }))
      .result as DeviceConfig;
    assert.match(cfg.config, /PrivateKey = <your private key/);
  });

  it('lists devices with live status', async () => {
    const list = (await t.call('device.list', { subnet: '10.59.50.0/24' })).result as {
      name: string;
      online: boolean;
      publicKey: string;
      lastHandshake: string | null;
    }[];
    const phone = list.find((d) => d.name === 'phone')!;
    t.dataplane.status.set(phone.publicKey, {
      endpoint: '198.51.100.9:40000',
      lastHandshake: t.env.t - 10_000,
      rxBytes: 1234,
      txBytes: 99,
    });
    const again = (await t.call('device.list', { subnet: '10.59.50.0/24' })).result as typeof list;
    const p = again.find((d) => d.name === 'phone')!;
    assert.equal(p.online, true);
    assert.equal(p.lastHandshake, new Date(t.env.t - 10_000).toISOString());
    t.env.t += 200_000;
    const later = (await t.call('device.list', { subnet: '10.59.50.0/24' })).result as typeof list;
    assert.equal(later.find((d) => d.name === 'phone')!.online, false);
    const missing = await t.call('device.list', { subnet: '10.59.51.0/24' });
    assert.equal(missing.error?.code, ErrorCode.NotFound);
  });

  it('forwards: applied to nat, clashes refused with nothing changed', async () => {
    const before = t.dataplane.natApplies;
    const f = await t.call('port-forward.add', {
      source: '443',
      target: '10.59.50.2:8443',
      protocol: 'tcp',
      label: 'web',
    });
    assert.equal((f.result as { protocol: string }).protocol, 'tcp');
    assert.equal(t.dataplane.natApplies, before + 1);
    assert.equal(t.dataplane.nat?.forwards.length, 1);
    assert.equal(t.dataplane.nat?.wan.address, '203.0.113.7');
    assert.deepEqual(t.dataplane.nat?.wan.interfaces, ['eth0']);
    const ssh = await t.call('port-forward.add', { source: '22', target: '10.59.50.2:22' });
    assert.equal(ssh.error?.code, ErrorCode.InvalidRequest);
    assert.equal(ssh.error?.data?.field, 'source');
    assert.match(ssh.error!.message, /SSH/);
    const wg = await t.call('port-forward.add', {
      source: '51820',
      target: '10.59.50.2:1',
      protocol: 'udp',
    });
    assert.match(wg.error!.message, /51820/);
    const dup = await t.call('port-forward.add', { source: '443', target: '10.59.50.2:1' });
    assert.match(dup.error!.message, /already exists/);
    assert.equal(Object.keys(t.server.tunnel.state.forwards).length, 1);
    const off = await t.call('port-forward.set-enabled', { source: '443', enabled: false });
    assert.equal((off.result as { enabled: boolean }).enabled, false);
    assert.equal(t.dataplane.nat?.forwards[0]?.enabled, false);
  });

  it('a failed apply rolls the change back', async () => {
    const before = JSON.stringify(t.server.tunnel.state);
    t.dataplane.failNat = new Error('nft exploded');
    const r = await t.call('port-forward.add', { source: '8080', target: '10.59.50.2:80' });
    assert.match(r.error!.message, /could not be applied and was undone: nft exploded/);
    assert.equal(JSON.stringify(t.server.tunnel.state), before);
    assert.equal(
      t.dataplane.nat?.forwards.some((f) => f.source === '8080'),
      false
    );
  });

  it('wan: detect, override, auto', async () => {
    assert.deepEqual((await t.call('wan.show')).result, {
      address: '203.0.113.7',
      source: 'detected',
      override: null,
      detected: '203.0.113.7',
      interfaces: ['eth0'],
    });
    const set = (await t.call('wan.set', { ip: '198.51.100.20' })).result as {
      address: string;
      source: string;
    };
    assert.equal(set.address, '198.51.100.20');
    assert.equal(set.source, 'override');
    assert.equal(t.dataplane.nat?.wan.address, '198.51.100.20');
    const auto = (await t.call('wan.auto')).result as { source: string };
    assert.equal(auto.source, 'detected');
  });

  it('status summarizes', async () => {
    const s = (await t.call('status')).result as {
      devices: number;
      interface: string;
      nat: { ok: boolean };
    };
    assert.equal(s.interface, 'wg-test');
    assert.ok(s.devices >= 2);
    assert.equal(s.nat.ok, true);
  });

  it('subnet removal cascades to devices, peers and forwards', async () => {
    await t.call('subnet.remove', { subnet: '10.59.50.0/24' });
    assert.equal(t.dataplane.peers.size, 0);
    assert.equal(t.dataplane.nat?.forwards.length, 0);
    assert.ok(!t.dataplane.addresses.includes('10.59.50.1/24'));
    assert.equal(
      (await t.call('subnet.remove', { subnet: '10.59.50.0/24' })).error?.code,
      ErrorCode.NotFound
    );
  });

  it('batches run in order', async () => {
    const res = await socketRequest(t.server.socket, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        { id: 1, method: 'subnet.add', params: { subnet: '10.59.60.0/24', name: 'b' } },
        { id: 2, method: 'device.add', params: { subnet: '10.59.60.0/24', name: 'x' } },
      ]),
    });
    const out = JSON.parse(res.body) as { id: number; result?: { ip?: string } }[];
    assert.equal(out[1]?.result?.ip, '10.59.60.2');
  });
});

describe('daemon life cycle', () => {
  it('restarts from its state: peers, addresses and forwards come back', async () => {
    const t = await testServer();
    await t.call('subnet.add', { subnet: '10.59.70.0/24', name: 'x' });
    const d = (await t.call('device.add', { subnet: '10.59.70.0/24', name: 'y' })).result as {
      publicKey: string;
    };
    await t.call('port-forward.add', { source: '8443', target: '10.59.70.2:443' });
    const dir = t.dir;
    await t.server.stop();
    const dp = new MemoryDataplane();
    const again = await startServer({
      dataDir: dir,
      interface: 'wg-test',
      listenPort: 51820,
      dataplane: dp,
      env: t.env,
      addresses: () => [{ name: 'eth0', family: 'IPv4', address: '203.0.113.7', internal: false }],
      log: () => {},
    });
    assert.ok(dp.peers.has(d.publicKey));
    assert.ok(dp.addresses.includes('10.59.70.1/24'));
    assert.equal(dp.nat?.forwards[0]?.source, '8443');
    await assert.rejects(
      startServer({
        dataDir: dir,
        interface: 'wg-test',
        listenPort: 51820,
        dataplane: new MemoryDataplane(),
        log: () => {},
      }),
      /in use by another start-tunnel daemon/
    );
    await again.stop();
    await t.stop();
  });

  it('rejects bad options naming the flag', async () => {
    const base = { dataDir: '/nonexistent', interface: 'wg0', listenPort: 51820 };
    await assert.rejects(startServer({ ...base, interface: 'a/b' }), /Invalid --interface "a\/b"/);
    await assert.rejects(startServer({ ...base, listenPort: 0 }), /Invalid --listen-port "0"/);
    await assert.rejects(startServer({ ...base, wanIp: '1.2.3' }), /Invalid --wan-ip "1\.2\.3"/);
  });
});
