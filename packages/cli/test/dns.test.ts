// SPDX-License-Identifier: MIT
/**
 * `start-tunnel dns …` against the fake daemon: the method and exact parameters (the type in
 * capitals whatever its case, the TTL a number), the table, the confirmations and the JSON.
 * @module
 */

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { cannedResults, cli, type FakeDaemon, fakeDaemon } from './_fake-daemon.ts';

let d: FakeDaemon;
before(async () => {
  d = await fakeDaemon();
});
after(async () => {
  await d.stop();
});
beforeEach(() => {
  d.calls.length = 0;
});

async function one(argv: string[]): Promise<{ method: string; params: unknown; stdout: string }> {
  const o = await cli(argv, d.env);
  assert.equal(o.code, 0, `exit ${o.code}: ${o.stderr}`);
  assert.equal(d.calls.length, 1);
  return { ...d.calls[0]!, stdout: o.stdout };
}

describe('dns', () => {
  const cases: [string[], string, unknown][] = [
    [['dns', 'list'], 'dns.list', {}],
    [
      ['dns', 'add', 'nas.home.arpa', '10.59.7.10', '--type', 'a'],
      'dns.add',
      { name: 'nas.home.arpa', type: 'A', value: '10.59.7.10' },
    ],
    [
      ['dns', 'add', 'nas.home.arpa', '--type=AAAA', '2001:db8:7::a3b:70a', '--ttl', '60'],
      'dns.add',
      { name: 'nas.home.arpa', type: 'AAAA', value: '2001:db8:7::a3b:70a', ttl: 60 },
    ],
    [['dns', 'rm', 'nas.home.arpa'], 'dns.remove', { name: 'nas.home.arpa' }],
    [
      ['dns', 'remove', 'nas.home.arpa', '--type', 'txt'],
      'dns.remove',
      { name: 'nas.home.arpa', type: 'TXT' },
    ],
  ];
  for (const [argv, method, params] of cases) {
    it(`${argv.join(' ')} → ${method}`, async () => {
      const call = await one(argv);
      assert.deepEqual({ method: call.method, params: call.params }, { method, params });
    });
  }

  it('list: a table with the source of each record', async () => {
    assert.equal(
      (await one(['dns', 'list'])).stdout,
      'NAME           TYPE  VALUE                TTL  SOURCE\n' +
        'nas.home.arpa  A     10.59.7.10           300  manual\n' +
        'start9.local   AAAA  2001:db8:7::a3b:70a  60   10.59.7.10\n'
    );
    d.handle('dns.list', () => []);
    const empty = await cli(['dns', 'list'], d.env);
    d.handle('dns.list', () => cannedResults()['dns.list']);
    assert.match(empty.stdout, /^No DNS records; add one with `start-tunnel dns add/);
  });

  it('changes confirm in one line; JSON is the result', async () => {
    assert.equal(
      (await one(['dns', 'add', 'nas.home.arpa', '10.59.7.10', '--type', 'A'])).stdout,
      'Added DNS record nas.home.arpa A 10.59.7.10 (TTL 300)\n'
    );
    d.calls.length = 0;
    assert.equal(
      (await one(['dns', 'remove', 'nas.home.arpa'])).stdout,
      'Removed 1 DNS record of nas.home.arpa\n'
    );
    d.calls.length = 0;
    const json = await one(['dns', 'remove', 'nas.home.arpa', '-o', 'json']);
    assert.deepEqual(JSON.parse(json.stdout), { removed: 1 });
  });
});
