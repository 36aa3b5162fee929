// SPDX-License-Identifier: MIT
/**
 * `start-tunnel pinhole …` against the fake daemon: the method and exact parameters of each
 * command (numbers for ports, null to clear a label, StartTunnel's presence flag for
 * set-enabled), the table, the confirmations and the JSON.
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

const GUA = '2001:db8:7::a3b:702';

async function one(argv: string[]): Promise<{ params: unknown; method: string; stdout: string }> {
  const o = await cli(argv, d.env);
  assert.equal(o.code, 0, `exit ${o.code}: ${o.stderr}`);
  assert.equal(d.calls.length, 1);
  return { ...d.calls[0]!, stdout: o.stdout };
}

describe('pinhole', () => {
  const cases: [string[], string, unknown][] = [
    [['pinhole', 'list'], 'pinhole.list', {}],
    [['pinhole', 'ls'], 'pinhole.list', {}],
    [['pinhole', 'add', GUA, '443'], 'pinhole.add', { gua: GUA, externalPort: 443 }],
    [
      ['pinhole', 'add', GUA, '8443', '--internal-port', '443', '--label', 'web', '--count=2'],
      'pinhole.add',
      { gua: GUA, externalPort: 8443, internalPort: 443, label: 'web', count: 2 },
    ],
    [['pinhole', 'rm', GUA, '443'], 'pinhole.remove', { gua: GUA, externalPort: 443 }],
    [
      ['pinhole', 'set-enabled', GUA, '443', '--enabled'],
      'pinhole.set-enabled',
      { gua: GUA, externalPort: 443, enabled: true },
    ],
    [
      ['pinhole', 'set-enabled', GUA, '443'],
      'pinhole.set-enabled',
      { gua: GUA, externalPort: 443, enabled: false },
    ],
    [
      ['pinhole', 'update-label', GUA, '443', 'web server'],
      'pinhole.update-label',
      { gua: GUA, externalPort: 443, label: 'web server' },
    ],
    [
      ['pinhole', 'update-label', GUA, '443'],
      'pinhole.update-label',
      { gua: GUA, externalPort: 443, label: null },
    ],
  ];
  for (const [argv, method, params] of cases) {
    it(`${argv.join(' ')} → ${method}`, async () => {
      const call = await one(argv);
      assert.deepEqual({ method: call.method, params: call.params }, { method, params });
    });
  }

  it('list: a table of address, ports, device and state', async () => {
    const { stdout } = await one(['pinhole', 'list']);
    assert.equal(
      stdout,
      'ADDRESS              PORTS  DEVICE PORTS  DEVICE  IP         ENABLED  LABEL\n' +
        `${GUA}  443    443           phone   10.59.7.2  yes      web\n` +
        `${GUA}  8443   443           phone   10.59.7.2  yes\n`
    );
    d.handle('pinhole.list', () => []);
    const empty = await cli(['pinhole', 'list'], d.env);
    d.handle('pinhole.list', () => cannedResults()['pinhole.list']);
    assert.match(empty.stdout, /^No pinholes; open one with `start-tunnel pinhole add GUA PORT`/);
  });

  it('changes confirm in one line; JSON is the result', async () => {
    const expect: [string[], string][] = [
      [['pinhole', 'add', GUA, '443'], `Opened pinhole [${GUA}]:443 ("phone" 10.59.7.2) "web"\n`],
      [['pinhole', 'remove', GUA, '443'], `Removed pinhole [${GUA}]:443\n`],
      [
        ['pinhole', 'set-enabled', GUA, '443'],
        `Disabled pinhole [${GUA}]:443 ("phone" 10.59.7.2) "web"\n`,
      ],
      [
        ['pinhole', 'update-label', GUA, '443', 'web server'],
        `Label of pinhole [${GUA}]:443 set to "web server"\n`,
      ],
    ];
    for (const [argv, out] of expect) {
      d.calls.length = 0;
      assert.equal((await one(argv)).stdout, out, argv.join(' '));
    }
    d.handle('pinhole.add', () => ({
      ...cannedResults()['pinhole.add'],
      externalPort: 8443,
      count: 2,
    }));
    d.calls.length = 0;
    const remapped = await one(['pinhole', 'add', GUA, '8443', '--internal-port', '443']);
    assert.equal(
      remapped.stdout,
      `Opened pinhole [${GUA}]:8443-8444 -> 443-444 ("phone" 10.59.7.2) "web"\n`
    );
    d.calls.length = 0;
    const json = await one(['pinhole', 'add', GUA, '8443', '-o', 'json']);
    d.handle('pinhole.add', () => cannedResults()['pinhole.add']);
    assert.equal(JSON.parse(json.stdout).count, 2);
  });
});
