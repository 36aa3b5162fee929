// SPDX-License-Identifier: MIT
/**
 * `start-tunnel http-redirect …` against the fake daemon: the method and exact parameters,
 * StartTunnel's presence flag for set-enabled, the table and the JSON.
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

describe('http-redirect', () => {
  it('list: each public address and what its redirect does', async () => {
    const o = await cli(['http-redirect', 'list'], d.env);
    assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(d.calls, [{ method: 'http-redirect.list', params: {} }]);
    assert.equal(
      o.stdout,
      'IP            REDIRECT\n' + '203.0.113.5   on\n' + '198.51.100.7  off\n'
    );
    const json = await cli(['http-redirect', 'ls', '--format', 'json'], d.env);
    assert.deepEqual(JSON.parse(json.stdout), cannedResults()['http-redirect.list']);
  });

  it('a redirect yielding to a forward of port 80 says so', async () => {
    d.handle('http-redirect.list', () => [{ ip: '203.0.113.5', enabled: true, forwarded: true }]);
    const o = await cli(['http-redirect', 'list'], d.env);
    d.handle('http-redirect.list', () => cannedResults()['http-redirect.list']);
    assert.match(o.stdout, /^203\.0\.113\.5 +on, yields to a port forward of port 80$/m);
  });

  it('set-enabled: on with --enabled, off without it or with --no-enabled', async () => {
    for (const [flags, enabled] of [
      [['--enabled'], true],
      [['--no-enabled'], false],
      [[], false],
    ] as const) {
      d.calls.length = 0;
      const o = await cli(['http-redirect', 'set-enabled', '203.0.113.5', ...flags], d.env);
      assert.equal(o.code, 0, o.stderr);
      assert.deepEqual(d.calls, [
        { method: 'http-redirect.set-enabled', params: { ip: '203.0.113.5', enabled } },
      ]);
      assert.equal(o.stdout, 'HTTP redirect on 203.0.113.5: off\n');
    }
  });
});
