// SPDX-License-Identifier: MIT
/**
 * The server under attack, in namespaces. Nothing a stranger sends to the HTTPS panel may delay
 * a packet or lock the owner out: a device pings its gateway through the tunnel 20 times a
 * second while a visitor on the internet sends ten 1 MiB junk batches and 75 wrong passwords
 * from 15 addresses. No ping may be lost, none may take 250 ms or more (the bound, a
 * property of the design: WireGuard runs in its own thread and Argon2 in another), every junk
 * answer is a small 4xx, and the owner's right password from another address works right
 * after. Before the server starts, an unprivileged process holds the original's local API
 * address, 127.0.59.60:5960: the server starts anyway and the CLI never talks to it (the local
 * API is a Unix socket in root's data directory). Topology:
 *
 *   device eth0 198.51.100.2/24 ── 198.51.100.254 ┐
 *   vps    wan0 203.0.113.1/24  ── 203.0.113.254  ┤ net
 *   visitor eth0 192.0.2.2-.26/24 ── 192.0.2.254  ┘
 * @module
 */

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Bg, Lab, labSkip, ROOT, START_TUNNEL_BIN, takeLock } from './_lab.ts';

const TAG = String(process.pid).slice(-6);
const NS = {
  vps: `sts-vps-${TAG}`,
  net: `sts-net-${TAG}`,
  device: `sts-dev-${TAG}`,
  visitor: `sts-vis-${TAG}`,
};
const WAN = '203.0.113.1';
const PANEL = `https://${WAN}:8443`;
/** The visitor's addresses: 15 attackers and the owner. */
const ATTACKERS = Array.from({ length: 15 }, (_, i) => `192.0.2.${10 + i}`);
const OWNER = '192.0.2.26';

const skip =
  labSkip(['nft', 'curl', 'wg-quick', 'wireguard-go', 'setpriv', 'ping']) ||
  (existsSync(join(ROOT, 'packages/cli/dist/main.js')) ? false : 'needs npm run build');

/** Listens where StartTunnel's local API used to be and reports every connection. */
const SQUATTER = `
const net = require('node:net');
const s = net.createServer((c) => { console.log('connection'); c.destroy(); });
s.listen(5960, '127.0.59.60', () => console.log('listening as uid ' + process.getuid()));
`;

describe('the server under hostile input, in namespaces', { skip }, () => {
  let lab: Lab | null = null;
  let release: (() => void) | null = null;
  let squatter: Bg | null = null;
  let dataDir = '';
  let rootCa = '';
  let password = '';
  let gateway = '';

  async function cli(args: string[]): Promise<string> {
    const r = await lab!.exec(NS.vps, process.execPath, [START_TUNNEL_BIN, ...args], {
      timeoutMs: 30_000,
      env: { ...process.env, START_TUNNEL_DATADIR: dataDir },
    });
    assert.equal(r.code, 0, `start-tunnel ${args.join(' ')} (exit ${r.code}):\n${r.stderr}`);
    return r.stdout;
  }

  /** One HTTPS POST from the visitor; status, body size and body. */
  async function post(
    from: string,
    body: { text?: string; file?: string }
  ): Promise<{ status: number; size: number; body: string }> {
    const out = join(lab!.tmp, `reply-${from}-${Math.random().toString(36).slice(2)}`);
    const r = await lab!.exec(
      NS.visitor,
      'curl',
      [
        '-sS',
        '--max-time',
        '60',
        '--interface',
        from,
        '--cacert',
        rootCa,
        '-H',
        'content-type: application/json',
        '--data-binary',
        body.file ? `@${body.file}` : (body.text ?? ''),
        '-o',
        out,
        '-w',
        '%{http_code} %{size_download}',
        `${PANEL}/rpc/v0`,
      ],
      { timeoutMs: 70_000 }
    );
    const [status, size] = r.stdout.trim().split(' ').map(Number);
    const text = existsSync(out) ? readFileSync(out, 'utf8') : '';
    return { status: status ?? 0, size: size ?? -1, body: `${text}${r.stderr}` };
  }

  before(
    async () => {
      release = await takeLock();
      lab = new Lab('sts');
      dataDir = join(lab.tmp, 'data');
      for (const ns of Object.values(NS)) await lab.addNamespace(ns);
      await lab.routerNamespace(NS.net);
      await lab.routedHost(NS.net, 'to-vps', '203.0.113.254/24', NS.vps, 'wan0', `${WAN}/24`);
      await lab.routedHost(
        NS.net,
        'to-dev',
        '198.51.100.254/24',
        NS.device,
        'eth0',
        '198.51.100.2/24'
      );
      await lab.routedHost(NS.net, 'to-vis', '192.0.2.254/24', NS.visitor, 'eth0', '192.0.2.2/24');
      for (const a of [...ATTACKERS, OWNER]) await lab.addr(NS.visitor, 'eth0', `${a}/24`);

      // an unprivileged process takes the original's local API address first
      squatter = lab.spawnIn(NS.vps, 'squatter', 'setpriv', [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        '-e',
        SQUATTER,
      ]);
      const listening = await squatter.line((l) => l.startsWith('listening as uid 65534'), 15_000);
      assert.ok(listening !== null, `the squatter did not listen:\n${squatter.tail()}`);

      await lab.startTunnelDaemon(NS.vps, dataDir);
      const init = JSON.parse(await cli(['web', 'init', '--format', 'json'])) as {
        url: string;
        password: string;
        rootCa: string;
      };
      assert.equal(init.url, PANEL);
      password = init.password;
      rootCa = join(lab.tmp, 'root-ca.pem');
      writeFileSync(rootCa, init.rootCa);

      const subnet = (
        JSON.parse(await cli(['subnet', 'list', '--format', 'json'])) as {
          subnet: string;
        }[]
      )[0]!.subnet;
      gateway = subnet.split('/')[0]!;
      const dev = JSON.parse(await cli(['device', 'add', subnet, 'phone', '--format', 'json'])) as {
        ip: string;
      };
      const cfg = JSON.parse(
        await cli(['device', 'show-config', subnet, dev.ip, '--format', 'json'])
      ) as { config: string };
      const path = join(lab.tmp, 'sts0.conf'); // wg-quick names the interface after the file
      writeFileSync(path, cfg.config, { mode: 0o600 });
      lab.ifnames.add('sts0');
      const up = await lab.exec(NS.device, 'wg-quick', ['up', path], { timeoutMs: 30_000 });
      assert.equal(up.code, 0, `wg-quick up: ${up.stderr}`);
      const first = await lab.ping(NS.device, gateway, { count: 10, interval: 0.2, wait: 2 });
      assert.ok(first.received > 0, `the device reaches its gateway:\n${first.output}`);
    },
    { timeout: 480_000 }
  );

  after(
    async () => {
      const problems = (await lab?.cleanup()) ?? [];
      release?.();
      assert.deepEqual(problems, [], 'lab cleanup');
    },
    { timeout: 60_000 }
  );

  it('the server started beside the squatter, and the CLI never talked to it', async () => {
    const status = JSON.parse(await cli(['status', '--format', 'json'])) as { interface: string };
    assert.equal(status.interface, 'wg-start-tunnel');
    assert.equal(squatter!.exited, false, 'the squatter still holds the address');
    assert.equal(
      squatter!.lines.filter((l) => l.includes('connection')).length,
      0,
      'nothing connected to the squatter'
    );
  });

  it('junk batches and a login flood neither delay a packet nor lock the owner out', {
    timeout: 240_000,
  }, async () => {
    // a junk batch of a million bytes that names no method, as the review's attacker sent
    const junk = join(lab!.tmp, 'junk.json');
    writeFileSync(junk, `[${Array.from({ length: 524_287 }, () => '1').join(',')}]`);
    // 20 pings a second through the tunnel for the whole attack
    const pings = lab!.exec(
      NS.device,
      'ping',
      ['-n', '-i', '0.05', '-c', '500', '-W', '2', gateway],
      { timeoutMs: 60_000 }
    );
    await new Promise((r) => setTimeout(r, 2_000));
    const attacks: Promise<{ status: number; size: number; body: string }>[] = [];
    for (let i = 0; i < 10; i++) attacks.push(post(ATTACKERS[i]!, { file: junk }));
    for (const from of ATTACKERS) {
      for (let i = 0; i < 5; i++) {
        const text = JSON.stringify({
          jsonrpc: '2.0',
          id: i,
          method: 'auth.login',
          params: { password: `wrong-${from}-${i}` },
        });
        attacks.push(post(from, { text }));
      }
    }
    const answers = await Promise.all(attacks);
    const junkAnswers = answers.slice(0, 10);
    for (const a of junkAnswers) {
      assert.ok(a.status >= 400 && a.status < 500, `junk got ${a.status}: ${a.body.slice(0, 200)}`);
      assert.ok(a.size < 1024, `junk got a small answer, not ${a.size} bytes`);
    }
    for (const a of answers.slice(10)) {
      assert.ok(
        a.status === 200 || a.status === 429,
        `a wrong login got ${a.status}: ${a.body.slice(0, 200)}`
      );
      assert.doesNotMatch(a.body, /"result"/, 'no wrong password logs in');
    }
    const owner = await post(OWNER, {
      text: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'auth.login', params: { password } }),
    });
    assert.equal(owner.status, 200, `the owner logs in right after: ${owner.body.slice(0, 300)}`);
    assert.match(owner.body, /"result":\{"loggedIn"/);

    const r = await pings;
    const sent = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    assert.ok(sent, `ping summary:\n${r.stdout}${r.stderr}`);
    assert.equal(sent[2], sent[1], `no ping lost:\n${r.stdout.split('\n').slice(-4).join('\n')}`);
    const rtt = /= [\d.]+\/[\d.]+\/([\d.]+)\//.exec(r.stdout);
    assert.ok(rtt, 'ping reports its round-trip times');
    assert.ok(Number(rtt[1]) < 250, `the worst round trip stayed under 250 ms: ${rtt[1]} ms`);
  });
});
