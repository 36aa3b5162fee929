// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RpcError } from '@start-tunnel/protocol';
import {
  addDevice,
  addForward,
  addSubnet,
  checkName,
  initialState,
  normalizeKey,
  parseSource,
  parseSubnet,
  publicKeyOf,
  removeDevice,
  removeSubnet,
  setForwardEnabled,
  setWanOverride,
  systemEnv,
} from '../src/model.ts';
import type { State } from '../src/schema.ts';
import { testEnv } from './_env.ts';

/** Asserts that `fn` throws an RpcError naming `field` with a message matching `re`. */
function rejects(fn: () => unknown, field: string, re: RegExp, code?: number) {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RpcError, `expected RpcError, got ${String(err)}`);
    assert.equal(err.field, field, `field of: ${err.message}`);
    assert.match(err.message, re);
    if (code !== undefined) assert.equal(err.code, code, err.message);
    return;
  }
  assert.fail(`expected an error on ${field}`);
}

function base(): { state: State; env: ReturnType<typeof testEnv> } {
  const env = testEnv();
  const state = addSubnet(initialState(env), '10.59.7.0/24', 'home');
  return { state, env };
}

describe('system keys', () => {
  it('are clamped X25519 private keys whose public key is derived, many in a row', () => {
    // many in a row: generateKeyPairSync + JWK export deadlocked Node 20 after a few thousand
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const { privateKey, publicKey } = systemEnv.generateKeyPair();
      const raw = Buffer.from(privateKey, 'base64');
      assert.equal(raw.length, 32);
      assert.equal((raw[0] ?? 0) & 7, 0, 'RFC 7748 §5: low 3 bits clear');
      assert.equal((raw[31] ?? 0) & 0xc0, 0x40, 'RFC 7748 §5: top bit clear, next set');
      if (i < 20) assert.equal(publicKeyOf(privateKey), publicKey);
      seen.add(privateKey);
    }
    assert.equal(seen.size, 3000);
  });
});

describe('initial state', () => {
  it('has a server key and a Default Subnet 10.59.<random>.1/24', () => {
    const env = testEnv();
    const s = initialState(env);
    const keys = Object.keys(s.subnets);
    assert.equal(keys.length, 1);
    assert.match(keys[0]!, /^10\.59\.\d{1,3}\.1\/24$/);
    assert.equal(s.subnets[keys[0]!]!.name, 'Default Subnet');
    assert.equal(Buffer.from(s.server.privateKey, 'base64').length, 32);
  });
});

describe('subnets', () => {
  it('canonicalizes .0 and .1 to the gateway key', () => {
    assert.equal(parseSubnet('10.59.7.0/24').key, '10.59.7.1/24');
    assert.equal(parseSubnet('10.59.7.1/24').key, '10.59.7.1/24');
    assert.equal(parseSubnet('10.60.0.0/16').key, '10.60.0.1/16');
  });
  it('rejects bad subnets naming the field', () => {
    rejects(() => parseSubnet('10.59.7.0'), 'subnet', /expected A\.B\.C\.D\/N/, 41);
    rejects(() => parseSubnet('10.59.7.0/25'), 'subnet', /prefix must be \/8 to \/24/);
    rejects(() => parseSubnet('10.59.7.5/24'), 'subnet', /network \(10\.59\.7\.0\/24\) or gateway/);
    rejects(() => parseSubnet('10.059.7.0/24'), 'subnet', /expected/);
    rejects(() => parseSubnet('127.0.0.0/8'), 'subnet', /reserved range 127\.0\.0\.0\/8/);
    rejects(() => parseSubnet('169.254.1.0/24'), 'subnet', /reserved/);
    rejects(() => parseSubnet('10.59.7.0/x'), 'subnet', /expected/);
  });
  it('refuses overlaps either way', () => {
    const { state } = base();
    rejects(
      () => addSubnet(state, '10.59.0.0/16', 'big'),
      'subnet',
      /overlaps the existing subnet 10\.59\.\d+\.1\/24/
    );
    const wide = addSubnet(initialState(testEnv()), '10.60.0.0/16', 'wide');
    rejects(() => addSubnet(wide, '10.60.9.0/24', 'inner'), 'subnet', /overlaps/);
  });
  it('renames on re-add (upsert) and leaves devices alone', () => {
    const { state, env } = base();
    const d = addDevice(state, env, { subnet: '10.59.7.1/24', name: 'nas' }).state;
    const r = addSubnet(d, '10.59.7.0/24', 'renamed');
    assert.equal(r.subnets['10.59.7.1/24']!.name, 'renamed');
    assert.deepEqual(r.subnets['10.59.7.1/24']!.devices, d.subnets['10.59.7.1/24']!.devices);
  });
  it('checks names: empty, too long, control characters', () => {
    rejects(() => checkName('name', '   '), 'name', /must not be empty/);
    rejects(() => checkName('name', 'x'.repeat(65)), 'name', /longer than 64/);
    rejects(() => checkName('name', 'a\nPrivateKey = x'), 'name', /control characters/);
    // every character that starts a line somewhere or reorders text (NEL is a line break to
    // Apple's WireGuard parser; bidi overrides disguise names)
    for (const c of ['\u0085', '\u2028', '\u2029', '\u009b', '\u202e', '\u2066', '\u0000']) {
      rejects(() => checkName('name', `phone${c}[Peer]`), 'name', /control characters/);
    }
    assert.equal(checkName('name', '  café ☕ '), 'café ☕');
  });
  it('removing a subnet removes its devices and their forwards only', () => {
    const { state, env } = base();
    let s = addSubnet(state, '10.59.8.0/24', 'other');
    s = addDevice(s, env, { subnet: '10.59.7.0/24', name: 'a' }).state;
    s = addDevice(s, env, { subnet: '10.59.8.0/24', name: 'b' }).state;
    s = addForward(s, env, { source: '443', target: '10.59.7.2:443' }).state;
    s = addForward(s, env, { source: '8443', target: '10.59.8.2:443' }).state;
    const r = removeSubnet(s, '10.59.7.0/24');
    assert.equal(r.subnets['10.59.7.1/24'], undefined);
    assert.deepEqual(Object.keys(r.forwards), ['8443']);
    rejects(() => removeSubnet(r, '10.59.7.0/24'), 'subnet', /No subnet/, 6);
  });
  it('never mutates its input', () => {
    const { state, env } = base();
    const before = JSON.stringify(state);
    addDevice(state, env, { subnet: '10.59.7.1/24', name: 'x' });
    addSubnet(state, '10.59.9.0/24', 'y');
    assert.equal(JSON.stringify(state), before);
  });
});

describe('devices', () => {
  it('allocates the first free address from .2, filling holes', () => {
    const { state, env } = base();
    let s = state;
    for (const n of ['a', 'b', 'c'])
      s = addDevice(s, env, { subnet: '10.59.7.1/24', name: n }).state;
    assert.deepEqual(Object.keys(s.subnets['10.59.7.1/24']!.devices), [
      '10.59.7.2',
      '10.59.7.3',
      '10.59.7.4',
    ]);
    s = removeDevice(s, '10.59.7.1/24', '10.59.7.3');
    const r = addDevice(s, env, { subnet: '10.59.7.1/24', name: 'd' });
    assert.equal(r.ip, '10.59.7.3');
  });
  it('takes a given address inside the subnet, not network/gateway/broadcast', () => {
    const { state, env } = base();
    assert.equal(
      addDevice(state, env, { subnet: '10.59.7.0/24', name: 'x', ip: '10.59.7.200' }).ip,
      '10.59.7.200'
    );
    const add = (ip: string) => () =>
      addDevice(state, env, { subnet: '10.59.7.0/24', name: 'x', ip });
    rejects(add('10.59.7.0'), 'ip', /network address/);
    rejects(add('10.59.7.1'), 'ip', /gateway/);
    rejects(add('10.59.7.255'), 'ip', /broadcast/);
    rejects(add('10.59.8.2'), 'ip', /not inside 10\.59\.7\.1\/24/);
    rejects(add('10.59.7'), 'ip', /expected an IPv4 address/, 41);
  });
  it('holds at most 253 devices in a /24, then says it is full', () => {
    const { state, env } = base();
    let s = state;
    for (let i = 0; i < 253; i++)
      s = addDevice(s, env, { subnet: '10.59.7.1/24', name: `d${i}` }).state;
    assert.equal(Object.keys(s.subnets['10.59.7.1/24']!.devices).length, 253);
    rejects(
      () => addDevice(s, env, { subnet: '10.59.7.1/24', name: 'one-too-many' }),
      'subnet',
      /no free address/
    );
  });
  it('generates keys and a PSK, or takes a public key and never holds the private one', () => {
    const { state, env } = base();
    const gen = addDevice(state, env, { subnet: '10.59.7.1/24', name: 'gen' });
    assert.equal(Buffer.from(gen.device.privateKey!, 'base64').length, 32);
    assert.equal(Buffer.from(gen.device.presharedKey, 'base64').length, 32);
    const own = addDevice(gen.state, env, {
      subnet: '10.59.7.1/24',
      name: 'own',
      publicKey: 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg', // unpadded is accepted
    });
    assert.equal(own.device.privateKey, null);
    assert.equal(own.device.publicKey, 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=');
    rejects(
      () =>
        addDevice(own.state, env, {
          subnet: '10.59.7.1/24',
          name: 'dup',
          publicKey: own.device.publicKey,
        }),
      'publicKey',
      /already used by 10\.59\.7\.3/
    );
  });
  it('rejects malformed public keys', () => {
    const { state, env } = base();
    const add = (publicKey: string) => () =>
      addDevice(state, env, { subnet: '10.59.7.1/24', name: 'x', publicKey });
    rejects(add('not-a-key'), 'publicKey', /expected a WireGuard key/);
    rejects(add('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='), 'publicKey', /all-zero/);
    rejects(
      add('xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8D'),
      'publicKey',
      /expected a WireGuard key/
    );
    assert.throws(() => normalizeKey('x'.repeat(44), 'k'));
  });
  it('renames an existing address and keeps its keys; another key for it is refused', () => {
    const { state, env } = base();
    const a = addDevice(state, env, { subnet: '10.59.7.1/24', name: 'a' });
    const b = addDevice(a.state, env, { subnet: '10.59.7.1/24', name: 'renamed', ip: '10.59.7.2' });
    assert.equal(b.device.name, 'renamed');
    assert.equal(b.device.publicKey, a.device.publicKey);
    assert.equal(b.device.presharedKey, a.device.presharedKey);
    rejects(
      () =>
        addDevice(a.state, env, {
          subnet: '10.59.7.1/24',
          name: 'x',
          ip: '10.59.7.2',
          publicKey: 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=',
        }),
      'ip',
      /taken by device "a"/
    );
  });
  it('names the subnet when it does not exist', () => {
    const { state, env } = base();
    rejects(
      () => addDevice(state, env, { subnet: '10.59.99.0/24', name: 'x' }),
      'subnet',
      /No subnet "10\.59\.99\.0\/24"/,
      6
    );
    rejects(() => removeDevice(state, '10.59.7.1/24', '10.59.7.9'), 'ip', /No device/, 6);
  });
});

describe('forwards', () => {
  function withDevice() {
    const { state, env } = base();
    return { state: addDevice(state, env, { subnet: '10.59.7.1/24', name: 'nas' }).state, env };
  }
  it('normalizes sources', () => {
    assert.equal(parseSource('443').key, '443');
    assert.equal(parseSource('203.0.113.7:443').key, '203.0.113.7:443');
    assert.equal(parseSource('203.0.113.7:8000-8100').key, '203.0.113.7:8000-8100');
    assert.equal(parseSource('8000-8000').key, '8000');
  });
  it('rejects bad sources and targets naming the field', () => {
    const { state, env } = withDevice();
    const add =
      (source: string, target = '10.59.7.2:443') =>
      () =>
        addForward(state, env, { source, target });
    rejects(add('0'), 'source', /ports must be 1 to 65535/);
    rejects(add('70000'), 'source', /ports must be 1 to 65535/);
    rejects(add('9-8'), 'source', /ends before it starts/);
    rejects(add('1.2.3:443'), 'source', /not an IPv4 address/, 41);
    rejects(add('host:443'), 'source', /expected IP:PORT/, 41);
    rejects(add('443', '10.59.7.9:443'), 'target', /no device has the address 10\.59\.7\.9/);
    rejects(add('443', '10.59.7.2'), 'target', /expected DEVICE_IP:PORT/);
  });
  it('rejects a target range passing 65535', () => {
    const { state, env } = withDevice();
    rejects(
      () => addForward(state, env, { source: '1000-1010', target: '10.59.7.2:65530' }),
      'target',
      /would pass 65535/
    );
  });
  it('keeps sources unique, defaults to both protocols, toggles', () => {
    const { state, env } = withDevice();
    const a = addForward(state, env, { source: '443', target: '10.59.7.2:8443', label: 'web' });
    assert.equal(a.state.forwards['443']!.protocol, 'both');
    assert.equal(a.state.forwards['443']!.enabled, true);
    rejects(
      () => addForward(a.state, env, { source: '443', target: '10.59.7.2:1' }),
      'source',
      /already exists/
    );
    const off = setForwardEnabled(a.state, '443', false);
    assert.equal(off.state.forwards['443']!.enabled, false);
    rejects(() => setForwardEnabled(a.state, '444', true), 'source', /No port forward/, 6);
  });
  it('removing a device removes its forwards', () => {
    const { state, env } = withDevice();
    const a = addForward(state, env, { source: '443', target: '10.59.7.2:8443' }).state;
    assert.deepEqual(removeDevice(a, '10.59.7.1/24', '10.59.7.2').forwards, {});
  });
});

describe('wan', () => {
  it('sets and clears the override, refusing non-unicast', () => {
    const { state } = base();
    assert.equal(setWanOverride(state, '198.51.100.4').wan.override, '198.51.100.4');
    assert.equal(setWanOverride(state, null).wan.override, null);
    rejects(() => setWanOverride(state, 'nope'), 'ip', /expected an IPv4/, 41);
    rejects(() => setWanOverride(state, '127.0.0.1'), 'ip', /not a usable unicast/);
    rejects(() => setWanOverride(state, '239.1.1.1'), 'ip', /not a usable unicast/);
  });
});
