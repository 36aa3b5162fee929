// SPDX-License-Identifier: MIT
// db.dump / db.apply: redaction, JSON Pointer reads, RFC 6902 patches applied whole or not at all,
// and every field of the result checked with the model's rules.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type PatchOperation, REDACTED, RpcDispatcher, RpcError } from '@start-tunnel/protocol';
import {
  initialState,
  newSubnet,
  registerDbMethods,
  registerTunnelMethods,
  Tunnel,
} from '../src/index.ts';
import { MemoryDataplane, MemoryStateStore, testEnv } from '../src/testing.ts';

const SUBNET = '10.59.7.1/24';

async function setup() {
  const env = testEnv();
  const state = {
    ...initialState(env),
    subnets: { [SUBNET]: newSubnet('Home') },
  };
  state.web = {
    password: '$argon2id$v=19$secret-hash',
    webserver: {
      certificate: { keyPem: 'TLS-KEY', chainPem: ['C'] },
      rootCa: { keyPem: 'CA-KEY', certPem: 'R' },
    },
    sessions: { 'session-id-abc': { loggedIn: 'x' } },
  };
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
  });
  await tunnel.start();
  const rpc = new RpcDispatcher({ checkResults: true });
  registerTunnelMethods(rpc, tunnel, '0.0.0');
  registerDbMethods(rpc, tunnel);
  const local = { auth: 'local' as const };
  await rpc.call('device.add', { subnet: SUBNET, name: 'phone' }, local);
  await rpc.call('port-forward.add', { source: '443', target: '10.59.7.2:443' }, local);
  return { rpc, tunnel, store, dataplane, local };
}

async function refusal(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RpcError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

describe('db.dump', () => {
  test('redacts every secret unless root asks on the local socket', async () => {
    const { rpc, tunnel, local } = await setup();
    const { value } = await rpc.call('db.dump', {}, local);
    const text = JSON.stringify(value);
    const s = tunnel.state;
    const device = s.subnets[SUBNET]!.devices['10.59.7.2']!;
    for (const secret of [s.server.privateKey, device.privateKey!, device.presharedKey]) {
      assert.ok(!text.includes(secret), 'a key leaked into the dump');
    }
    for (const secret of ['secret-hash', 'TLS-KEY', 'CA-KEY', 'session-id-abc']) {
      assert.ok(!text.includes(secret), `${secret} leaked into the dump`);
    }
    assert.ok(text.includes(device.publicKey), 'public keys are not secret');
    const full = await rpc.call('db.dump', { includeSecrets: true }, local);
    assert.ok(JSON.stringify(full.value).includes(device.presharedKey));
    const err = await refusal(rpc.call('db.dump', { includeSecrets: true }, { auth: 'key' }));
    assert.equal(err.field, 'includeSecrets');
    assert.equal(err.code, 34);
  });

  test('reads at a JSON Pointer, with ~1 for "/" in keys', async () => {
    const { rpc, local } = await setup();
    const { value } = await rpc.call('db.dump', { pointer: '/subnets/10.59.7.1~124/name' }, local);
    assert.equal(value, 'Home');
    const key = await rpc.call('db.dump', { pointer: '/server/privateKey' }, local);
    assert.equal(key.value, REDACTED);
    const err = await refusal(rpc.call('db.dump', { pointer: '/subnets/nope' }, local));
    assert.equal(err.field, 'pointer');
    assert.equal(err.code, 6);
    const bad = await refusal(rpc.call('db.dump', { pointer: 'subnets' }, local));
    assert.equal(bad.field, 'pointer');
  });
});

describe('db.apply', () => {
  test('a patch renames, relabels and disables through the controller', async () => {
    const { rpc, tunnel, local, dataplane } = await setup();
    const r = await rpc.call(
      'db.apply',
      {
        patch: [
          { op: 'test', path: '/subnets/10.59.7.1~124/name', value: 'Home' },
          { op: 'replace', path: '/subnets/10.59.7.1~124/name', value: 'Lab' },
          { op: 'replace', path: '/forwards/443/label', value: 'web' },
          { op: 'replace', path: '/forwards/443/enabled', value: false },
        ],
      },
      local
    );
    assert.deepEqual(r, { changed: true });
    assert.equal(tunnel.state.subnets[SUBNET]!.name, 'Lab');
    assert.equal(tunnel.state.forwards['443']!.label, 'web');
    assert.equal(dataplane.nat?.forwards[0]?.enabled, false);
    assert.deepEqual(await rpc.call('db.apply', { patch: [] }, local), { changed: false });
  });

  test('a whole redacted dump applied back keeps every secret', async () => {
    const { rpc, tunnel, local } = await setup();
    const before = structuredClone(tunnel.state);
    const { value } = await rpc.call('db.dump', {}, local);
    const r = await rpc.call('db.apply', { patch: [{ op: 'replace', path: '', value }] }, local);
    assert.deepEqual(r, { changed: false });
    assert.deepEqual(tunnel.state, before);
  });

  test('adds a subnet and a device with keys of its own', async () => {
    const { rpc, tunnel, local, dataplane } = await setup();
    const dump = await rpc.call('db.dump', { includeSecrets: true }, local);
    const dev = (dump.value as never as typeof tunnel.state).subnets[SUBNET]!.devices['10.59.7.2']!;
    const device = { ...dev, name: 'copy' };
    const patch: PatchOperation[] = [
      {
        op: 'add',
        path: '/subnets/10.59.8.1~124',
        value: JSON.parse(JSON.stringify(newSubnet('Two'))),
      },
      { op: 'copy', from: '/subnets/10.59.7.1~124/devices/10.59.7.2', path: '/x' },
      { op: 'remove', path: '/x' },
    ];
    await rpc.call('db.apply', { patch }, local);
    assert.ok(tunnel.state.subnets['10.59.8.1/24']);
    assert.ok(dataplane.addresses.includes('10.59.8.1/24'));
    // the same key twice is refused, naming the device that has it
    const err = await refusal(
      rpc.call(
        'db.apply',
        { patch: [{ op: 'add', path: '/subnets/10.59.8.1~124/devices/10.59.8.2', value: device }] },
        local
      )
    );
    assert.equal(err.field, '/subnets/10.59.8.1~124/devices/10.59.8.2/publicKey');
  });

  const cases: [string, PatchOperation[], string][] = [
    [
      'a bad subnet key',
      [
        {
          op: 'add',
          path: '/subnets/10.59.7.0~124',
          value: JSON.parse(JSON.stringify(newSubnet('x'))),
        },
      ],
      '/subnets/10.59.7.0~124',
    ],
    [
      'an overlap',
      [
        {
          op: 'add',
          path: '/subnets/10.59.0.1~116',
          value: JSON.parse(JSON.stringify(newSubnet('x'))),
        },
      ],
      '/subnets/10.59.0.1~116',
    ],
    [
      'a wrong type',
      [{ op: 'replace', path: '/forwards/443/enabled', value: 'no' }],
      '/forwards/443/enabled',
    ],
    ['an unknown field', [{ op: 'add', path: '/forwards/443/extra', value: 1 }], '/forwards/443'],
    [
      'a target that is no device',
      [{ op: 'replace', path: '/forwards/443/target', value: '10.59.7.9:443' }],
      '/forwards/443/target',
    ],
    [
      'a name with a newline',
      [{ op: 'replace', path: '/subnets/10.59.7.1~124/name', value: 'a\nb' }],
      '/subnets/10.59.7.1~124/name',
    ],
    [
      'a bad WAN override',
      [{ op: 'replace', path: '/wan/override', value: '127.0.0.1' }],
      '/wan/override',
    ],
    [
      'a bad key',
      [{ op: 'replace', path: '/server/privateKey', value: 'short' }],
      '/server/privateKey',
    ],
    [
      'a redacted secret with nothing behind it',
      [
        {
          op: 'move',
          from: '/subnets/10.59.7.1~124/devices/10.59.7.2',
          path: '/subnets/10.59.7.1~124/devices/10.59.7.3',
        },
      ],
      '/subnets/10.59.7.1~124/devices/10.59.7.3/privateKey',
    ],
    ['a change of the panel', [{ op: 'replace', path: '/web/password', value: null }], '/web'],
    ['a missing location', [{ op: 'remove', path: '/nothing' }], 'patch[0].path'],
    ['a failed test', [{ op: 'test', path: '/wan/override', value: '1.2.3.4' }], 'patch[0].path'],
    ['another schema', [{ op: 'replace', path: '/schema', value: 99 }], '/schema'],
  ];
  for (const [what, patch, field] of cases) {
    test(`refuses ${what}, naming ${field}, and changes nothing`, async () => {
      const { rpc, tunnel, store, local } = await setup();
      const before = tunnel.state;
      const commits = store.commits;
      // a harmless first operation that must not survive the refusal
      const first: PatchOperation = {
        op: 'replace',
        path: '/subnets/10.59.7.1~124/name',
        value: 'Lab',
      };
      const err = await refusal(rpc.call('db.apply', { patch: [first, ...patch] }, local));
      assert.equal(err.field, field.replace('patch[0]', 'patch[1]'), err.message);
      assert.ok(!err.message.includes('\n'));
      assert.equal(tunnel.state, before);
      assert.equal(store.commits, commits);
    });
  }

  test('a secret never shows in an error', async () => {
    const { rpc, tunnel, local } = await setup();
    const key = tunnel.state.server.privateKey;
    const other = key.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')).replace(/=$/, '');
    const err = await refusal(
      rpc.call(
        'db.apply',
        { patch: [{ op: 'replace', path: '/server/privateKey', value: other }] },
        local
      )
    );
    assert.equal(err.field, '/server/privateKey');
    assert.ok(!err.message.includes(other.slice(0, 20)), err.message);
  });
});
