// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { initialState, migrate, SchemaError, STATE_FILE, Store, StoreError } from '../src/index.ts';
import { addSubnet } from '../src/model.ts';
import { tempDir, testEnv } from './_env.ts';

const dirs: (() => void)[] = [];
after(() => {
  for (const c of dirs) c();
});
function dir(): string {
  const t = tempDir();
  dirs.push(t.cleanup);
  return join(t.dir, 'data');
}

describe('store', () => {
  it('creates a 0700 directory and 0600 files with the initial state', async () => {
    const d = dir();
    const s = await Store.open(d, () => initialState(testEnv()));
    assert.equal(statSync(d).mode & 0o777, 0o700);
    assert.equal(statSync(join(d, STATE_FILE)).mode & 0o777, 0o600);
    assert.equal(Object.keys(s.state.subnets).length, 1);
    await s.close();
  });

  it('persists every commit and reloads it', async () => {
    const d = dir();
    const s = await Store.open(d, () => initialState(testEnv()));
    await s.commit(addSubnet(s.state, '10.59.200.0/24', 'x'));
    await s.commit(addSubnet(s.state, '10.59.201.0/24', 'y'));
    await s.close();
    const r = await Store.open(d, () => assert.fail('must not re-initialize'));
    assert.ok(r.state.subnets['10.59.200.1/24']);
    assert.ok(r.state.subnets['10.59.201.1/24']);
    await r.close();
  });

  it('is exclusive to one process and says who holds it', async () => {
    const d = dir();
    const s = await Store.open(d, () => initialState(testEnv()));
    await assert.rejects(
      Store.open(d, () => initialState(testEnv())),
      (e: unknown) =>
        e instanceof StoreError && e.code === 'LOCKED' && e.message.includes(`pid ${process.pid}`)
    );
    await s.close();
    const again = await Store.open(d, () => initialState(testEnv()));
    await again.close();
  });

  it('refuses a corrupt file and leaves it untouched', async () => {
    const d = dir();
    const s = await Store.open(d, () => initialState(testEnv()));
    await s.close();
    writeFileSync(join(d, STATE_FILE), Buffer.from([0xff, 0x00, 0x13]));
    await assert.rejects(
      Store.open(d, () => initialState(testEnv())),
      (e: unknown) =>
        e instanceof StoreError && e.code === 'CORRUPT' && /left untouched/.test(e.message)
    );
    assert.deepEqual([...readFileSync(join(d, STATE_FILE))], [0xff, 0x00, 0x13]);
  });

  it('refuses a file from a newer schema', () => {
    const s = { ...initialState(testEnv()), schema: 99 };
    assert.throws(
      () => migrate(s),
      (e: unknown) => e instanceof SchemaError && /newer/.test(String(e))
    );
    assert.throws(() => migrate({ schema: 1 }), /server\.privateKey/);
    assert.throws(() => migrate([]), /does not hold an object/);
    assert.equal(migrate(JSON.parse(JSON.stringify(initialState(testEnv())))).schema, 3);
  });

  it('migrates schema 1 through 3: a device a forward targets becomes a server, may publish', () => {
    const device = (publicKey: string) => ({
      name: publicKey,
      publicKey,
      privateKey: null,
      presharedKey: 'psk',
      createdAt: '2026-01-01T00:00:00.000Z',
    });
    const v1 = {
      schema: 1,
      server: { privateKey: 'k' },
      wan: { override: null },
      subnets: {
        '10.59.7.1/24': {
          name: 'Home',
          devices: { '10.59.7.2': device('a'), '10.59.7.3': device('b') },
        },
      },
      forwards: { '443': { target: '10.59.7.2:443', protocol: 'tcp', label: null, enabled: true } },
      web: null,
    };
    const v2 = migrate(v1);
    assert.equal(v2.schema, 3);
    const subnet = v2.subnets['10.59.7.1/24']!;
    assert.deepEqual([subnet.wanIp, subnet.ipv6], [null, null]);
    assert.deepEqual(
      [subnet.devices['10.59.7.2']?.kind, subnet.devices['10.59.7.3']?.kind],
      ['server', 'client']
    );
    assert.equal(subnet.devices['10.59.7.3']?.wanIp, null);
    assert.deepEqual([v2.pinholes, v2.httpRedirects], [{}, { disabled: [] }]);
    const server = subnet.devices['10.59.7.2']!;
    const client = subnet.devices['10.59.7.3']!;
    assert.deepEqual(
      [server.allowDnsInjection, server.allowAutoPortForward, client.allowDnsInjection],
      [true, true, false]
    );
    assert.deepEqual(subnet.dns, { mode: 'default', deviceIp: null, servers: [] });
    assert.equal(v2.forwards['443']?.auto, false);
    assert.deepEqual([v2.sni, v2.dnsRecords], [{}, []]);
  });

  it('never loses an acknowledged commit when the process is killed with SIGKILL', async () => {
    // a child commits subnets in a loop and prints each one once commit() resolved; it is
    // killed at a random moment; every subnet it printed must be in the file
    const d = dir();
    for (let round = 0; round < 5; round++) {
      const child = spawn(
        process.execPath,
        [
          '--conditions=source',
          '--import',
          'tsx',
          join(import.meta.dirname, '_store-writer.ts'),
          d,
          String(round),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] }
      );
      const exited = new Promise((r) => child.once('exit', r));
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (c: string) => {
        out += c;
      });
      // wait for the first acks, then kill at a random moment
      const deadline = Date.now() + 20_000;
      while (!out.includes('\n') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 30 + Math.random() * 200));
      child.kill('SIGKILL');
      await exited;
      const acked = out.split('\n').filter((l) => l.startsWith('10.'));
      assert.ok(acked.length > 0, 'the writer acknowledged nothing');
      const s = await Store.open(d, () => assert.fail('state must exist'));
      for (const key of acked) assert.ok(s.state.subnets[key], `acknowledged ${key} was lost`);
      await s.close();
    }
  });
});
