// SPDX-License-Identifier: MIT
/**
 * The HTTPS panel and the remote API, in namespaces: the daemon runs in a "VPS" through the
 * real CLI (`start-tunnel daemon`), `start-tunnel web init` issues the certificate for its WAN
 * address; from a "visitor" on the internet, `curl --cacert <root CA>` verifies the chain for
 * that address, and the CLI manages the server remotely with a signed Ed25519 key (and is
 * refused with a key the server does not know). Topology:
 *
 *   vps wan0 203.0.113.1/24 ── 203.0.113.254 ┐ net ┌ 192.0.2.254 ── 192.0.2.2/24 eth0 visitor
 * @module
 */

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Lab, labSkip, ROOT, START_TUNNEL_BIN, takeLock } from './_lab.ts';

const TAG = String(process.pid).slice(-6);
const NS = { vps: `stw-vps-${TAG}`, net: `stw-net-${TAG}`, visitor: `stw-vis-${TAG}` };
const WAN = '203.0.113.1';
const CLI = START_TUNNEL_BIN;

const skip =
  labSkip(['nft', 'curl']) ||
  (existsSync(join(ROOT, 'packages/cli/dist/main.js')) ? false : 'needs npm run build');

describe('HTTPS panel and remote CLI in namespaces', { skip }, () => {
  let lab: Lab | null = null;
  let release: (() => void) | null = null;
  let dataDir = '';
  let rootCa = '';

  /** Runs the CLI inside `ns`; returns stdout, asserting exit 0. */
  async function cli(ns: string, args: string[], input?: string): Promise<string> {
    const r = await lab!.exec(ns, process.execPath, [CLI, ...args], {
      timeoutMs: 30_000,
      env: { ...process.env, START_TUNNEL_DATADIR: dataDir },
      ...(input !== undefined ? { input } : {}),
    });
    assert.equal(r.code, 0, `start-tunnel ${args.join(' ')} (exit ${r.code}):\n${r.stderr}`);
    return r.stdout;
  }

  before(
    async () => {
      release = await takeLock();
      lab = new Lab('stw');
      dataDir = join(lab.tmp, 'data');
      for (const ns of Object.values(NS)) await lab.addNamespace(ns);
      await lab.routerNamespace(NS.net);
      await lab.routedHost(NS.net, 'to-vps', '203.0.113.254/24', NS.vps, 'wan0', `${WAN}/24`);
      await lab.routedHost(NS.net, 'to-vis', '192.0.2.254/24', NS.visitor, 'eth0', '192.0.2.2/24');
      await lab.startTunnelDaemon(NS.vps, dataDir); // tracked by the lab, stopped by cleanup()
    },
    { timeout: 120_000 }
  );

  after(
    async () => {
      const problems = (await lab?.cleanup()) ?? [];
      release?.();
      assert.deepEqual(problems, [], 'lab cleanup');
    },
    { timeout: 60_000 }
  );

  it('web init issues a certificate for the WAN address and serves HTTPS', {
    timeout: 60_000,
  }, async () => {
    const out = JSON.parse(await cli(NS.vps, ['web', 'init', '--format', 'json'])) as {
      url: string;
      password: string | null;
      rootCa: string;
    };
    assert.equal(out.url, `https://${WAN}:8443`);
    assert.match(out.password ?? '', /^[a-z2-7]{26}$/);
    assert.match(out.rootCa, /-----BEGIN CERTIFICATE-----/);
    rootCa = join(lab!.tmp, 'root-ca.pem');
    writeFileSync(rootCa, out.rootCa);
    // the visitor verifies the chain for the IP address with nothing but the root CA
    const r = await lab!.exec(NS.visitor, 'curl', [
      '-sS',
      '--max-time',
      '10',
      '--cacert',
      rootCa,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{ssl_verify_result}',
      `https://${WAN}:8443/`,
    ]);
    assert.equal(r.code, 0, `curl --cacert: ${r.stderr}`);
    assert.match(r.stdout, /^(200|302|303) 0$/);
    // and without it, the chain is not trusted
    const untrusted = await lab!.exec(NS.visitor, 'curl', [
      '-sS',
      '--max-time',
      '10',
      `https://${WAN}:8443/`,
    ]);
    assert.equal(untrusted.code, 60, 'curl exit 60: peer certificate cannot be authenticated');
    // an unauthenticated RPC call over HTTPS is refused with 401 / code 34
    const rpc = await lab!.exec(NS.visitor, 'curl', [
      '-sS',
      '--max-time',
      '10',
      '--cacert',
      rootCa,
      '-H',
      'content-type: application/json',
      '-w',
      '\n%{http_code}',
      '--data-binary',
      '{"id":1,"method":"subnet.list"}',
      `https://${WAN}:8443/rpc/v0`,
    ]);
    const [body, status] = rpc.stdout.trim().split('\n');
    assert.equal(status, '401');
    assert.equal((JSON.parse(body!) as { error: { code: number } }).error.code, 34);
  });

  it('the CLI manages the server remotely with a signed key', { timeout: 90_000 }, async () => {
    const keyFile = join(lab!.tmp, 'admin.key');
    const pub = (await cli(NS.visitor, ['auth', 'key', 'generate', '--out', keyFile])).trim();
    assert.match(pub, /ssh-ed25519 |BEGIN PUBLIC KEY/);
    await cli(NS.vps, [
      'auth',
      'key',
      'add',
      'laptop',
      pub.split('\n').find((l) => l.startsWith('ssh-ed25519')) ?? pub,
    ]);
    const remote = ['-t', `${WAN}:8443`, '--key', keyFile, '--root-ca', rootCa];
    await cli(NS.visitor, [...remote, 'subnet', 'add', '10.59.88.0/24', 'remote-made']);
    const local = JSON.parse(await cli(NS.vps, ['subnet', 'list', '--format', 'json'])) as {
      subnet: string;
      name: string;
    }[];
    assert.ok(
      local.some((s) => s.subnet === '10.59.88.1/24' && s.name === 'remote-made'),
      JSON.stringify(local)
    );
    const list = JSON.parse(
      await cli(NS.visitor, [...remote, 'subnet', 'list', '--format', 'json'])
    ) as { subnet: string }[];
    assert.ok(list.some((s) => s.subnet === '10.59.88.1/24'));
    // a key the server does not know is refused
    const stranger = join(lab!.tmp, 'stranger.key');
    await cli(NS.visitor, ['auth', 'key', 'generate', '--out', stranger]);
    const r = await lab!.exec(
      NS.visitor,
      process.execPath,
      [CLI, '-t', `${WAN}:8443`, '--key', stranger, '--root-ca', rootCa, 'subnet', 'list'],
      { timeoutMs: 30_000 }
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /key/i);
    assert.equal(
      readFileSync(rootCa, 'utf8').includes('PRIVATE KEY'),
      false,
      'root CA file holds no key'
    );
  });
});
