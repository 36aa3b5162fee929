// SPDX-License-Identifier: MIT
/**
 * `WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-ts wg-quick up|down <conf>` with the stock
 * wg-quick (this kernel has no WireGuard module, so wg-quick falls back to the userspace command,
 * found through a `wireguard-ts` wrapper first on PATH). Ours runs in namespace `a`, its peer is
 * stock wireguard-go in `b`; a veth (198.51.100.0/24, MTU 1480) joins them and `a` reaches b's
 * endpoint 192.0.2.2 only through its default route. Both Debian generations of wireguard-go
 * pass (`WIREGUARD_GO` picks the binary, see `_lab.ts`).
 *
 * Cases: a split tunnel (address, explicit MTU, a route for an extra allowed prefix, traffic
 * both ways, `wg-quick down` removes the interface, our detached process exits and its socket is
 * gone); a full tunnel (`AllowedIPs = 0.0.0.0/0, ::/0`): fwmark 0xca6c and wg-quick's policy
 * rules and nftables tables, the MTU derived from the endpoint's route, traffic to addresses
 * beyond the peer (203.0.113.77, fd59:77::77) through the tunnel while our own encrypted UDP,
 * marked with SO_MARK, still leaves by the veth (an unmarked packet to the endpoint would be
 * routed into the tunnel: no loop), and `wg-quick down` undoing all of it.
 * @module
 */

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type KeyPair,
  Lab,
  labSkip,
  requireBuilt,
  run,
  SOCK_DIR,
  takeLock,
  WG_TS_BIN,
  waitFor,
  wireguardGoVersion,
} from './_lab.ts';

const TAG = String(process.pid);
const NS = { a: `stq-a-${TAG}`, b: `stq-b-${TAG}` };
const IF = { ours: `stqa${TAG}`, b: `stqb${TAG}` };
const PORT = { ours: 51820, b: 51821 };
const VETH = { a: '198.51.100.1', b: '198.51.100.2', mtu: 1480 };
const ENDPOINT = '192.0.2.2';
const BEYOND = { v4: '203.0.113.77', v6: 'fd59:77::77', split: '10.59.20.5' };
const INNER = { a4: '10.59.2.1', b4: '10.59.2.2', a6: 'fd59:2::1', b6: 'fd59:2::2' };

const skip = labSkip(['wg', 'wg-quick', 'wireguard-go', 'ping', 'nft', 'bash', 'pgrep']);

/** True when `pid` is gone or a zombie (the detached daemon's reaper may be slow). */
function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

describe(`wg-quick with wireguard-ts, peer ${wireguardGoVersion()}`, { skip }, () => {
  let lab: Lab | null = null;
  let release: (() => void) | null = null;
  let env: NodeJS.ProcessEnv = {};

  async function wgQuick(action: 'up' | 'down', confPath: string) {
    const r = await lab!.exec(NS.a, 'wg-quick', [action, confPath], { timeoutMs: 30_000, env });
    assert.equal(r.code, 0, `wg-quick ${action} (timed out: ${r.timedOut}):\n${r.stderr}`);
    return r.stderr; // wg-quick prints each command it runs as `[#] ...` on stderr
  }

  async function oursPid(): Promise<number> {
    const r = await run('pgrep', ['-f', `wireguard-ts\\.js -f ${IF.ours}$`]);
    const pids = r.stdout.trim().split('\n').filter(Boolean).map(Number);
    assert.equal(pids.length, 1, `one wireguard-ts process for ${IF.ours}: ${r.stdout}`);
    return pids[0]!;
  }

  async function pingOk(ns: string, addr: string) {
    const r = await lab!.ping(ns, addr, { count: 3 });
    assert.equal(r.received, 3, `ping ${addr} from ${ns}\n${r.output}`);
  }

  /** A fresh key pair for each side; wireguard-go in b set up with `wg setconf`. */
  async function keys(): Promise<{ a: KeyPair; b: KeyPair }> {
    const l = lab!;
    const a = await l.genkey();
    const b = await l.genkey();
    await l.setconf(
      NS.b,
      IF.b,
      `[Interface]\nPrivateKey = ${b.privateKey}\nListenPort = ${PORT.b}\n\n[Peer]\n` +
        `PublicKey = ${a.publicKey}\nAllowedIPs = ${INNER.a4}/32, ${INNER.a6}/128\n`
    );
    return { a, b };
  }

  function writeConf(text: string): string {
    const path = join(lab!.tmp, `${IF.ours}.conf`); // wg-quick names the interface after it
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  }

  /** `wg-quick down`, then: the interface, our process and its UAPI socket are gone. */
  async function downAndGone(confPath: string, pid: number) {
    await wgQuick('down', confPath);
    const sock = join(SOCK_DIR, `${IF.ours}.sock`);
    assert.ok(await waitFor(() => processGone(pid), 5000), 'our process exited');
    assert.ok(await waitFor(() => !existsSync(sock), 2000), 'our UAPI socket is gone');
    const link = await lab!.exec(NS.a, 'ip', ['link', 'show', IF.ours]);
    assert.notEqual(link.code, 0, 'the interface is gone');
  }

  before(
    async () => {
      requireBuilt();
      release = await takeLock();
      const l = new Lab('stq');
      lab = l;
      l.ifnames.add(IF.ours);
      await l.addNamespace(NS.a);
      await l.addNamespace(NS.b);
      await l.veth(NS.a, 'va', NS.b, 'vb');
      for (const [ns, dev] of [
        [NS.a, 'va'],
        [NS.b, 'vb'],
      ] as const) {
        await l.ip('-n', ns, 'link', 'set', dev, 'mtu', String(VETH.mtu));
      }
      await l.addr(NS.a, 'va', `${VETH.a}/24`);
      await l.addr(NS.b, 'vb', `${VETH.b}/24`);
      await l.ip('-n', NS.a, 'route', 'add', 'default', 'via', VETH.b, 'dev', 'va');
      for (const a of [
        `${ENDPOINT}/32`,
        `${BEYOND.v4}/32`,
        `${BEYOND.split}/32`,
        `${BEYOND.v6}/128`,
      ]) {
        await l.addr(NS.b, 'lo', a);
      }
      // b answers from 192.0.2.2 whichever wireguard-go runs there: 0.0.20220316 replies from the
      // address it was reached at (sticky source), 0.0.20231211 from the route's preferred source
      // (its sticky source is lost, see https://github.com/amnezia-vpn/amneziawg-go/pull/144,
      // which describes the same conn/bind_std.go)
      await l.ip(
        '-n',
        NS.b,
        'route',
        'replace',
        '198.51.100.0/24',
        'dev',
        'vb',
        'proto',
        'kernel',
        'scope',
        'link',
        'src',
        ENDPOINT
      );
      await l.daemon('wireguard-go', NS.b, IF.b);
      await l.addr(NS.b, IF.b, `${INNER.b4}/24`);
      await l.addr(NS.b, IF.b, `${INNER.b6}/64`);
      await l.ip('-n', NS.b, 'link', 'set', IF.b, 'up');

      const bin = join(l.tmp, 'bin');
      mkdirSync(bin);
      const wrapper = join(bin, 'wireguard-ts');
      writeFileSync(wrapper, `#!/bin/sh\nexec '${process.execPath}' '${WG_TS_BIN}' "$@"\n`);
      chmodSync(wrapper, 0o755);
      env = {
        ...process.env,
        PATH: `${bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
        WG_QUICK_USERSPACE_IMPLEMENTATION: 'wireguard-ts',
        LOG_LEVEL: 'error',
      };
    },
    { timeout: 360_000 }
  );

  after(
    async () => {
      try {
        const problems = (await lab?.cleanup()) ?? [];
        assert.deepEqual(problems, [], 'lab cleanup');
      } finally {
        release?.();
      }
    },
    { timeout: 60_000 }
  );

  it('split tunnel: address, MTU, routes, traffic both ways; down ends our process', async () => {
    const l = lab!;
    const { a, b } = await keys();
    const confPath = writeConf(
      `[Interface]\nPrivateKey = ${a.privateKey}\nAddress = ${INNER.a4}/24, ${INNER.a6}/64\n` +
        `ListenPort = ${PORT.ours}\nMTU = 1380\n\n[Peer]\nPublicKey = ${b.publicKey}\n` +
        `AllowedIPs = ${INNER.b4}/32, ${INNER.b6}/128, 10.59.20.0/24\n` +
        `Endpoint = ${ENDPOINT}:${PORT.b}\n`
    );
    const log = await wgQuick('up', confPath);
    assert.match(
      log,
      new RegExp(`\\[#\\] wireguard-ts ${IF.ours}\\n`),
      'userspace fallback to ours'
    );
    const pid = await oursPid();
    assert.ok(existsSync(join(SOCK_DIR, `${IF.ours}.sock`)), 'UAPI socket');

    const [link] = JSON.parse(await l.ip('-j', '-n', NS.a, 'addr', 'show', 'dev', IF.ours)) as {
      mtu: number;
      flags: string[];
      addr_info: { local: string; prefixlen: number }[];
    }[];
    assert.ok(link, 'the interface exists');
    assert.equal(link.mtu, 1380);
    assert.ok(link.flags.includes('UP'), `flags ${link.flags.join(',')}`);
    const addrs = link.addr_info.map((x) => `${x.local}/${x.prefixlen}`);
    assert.ok(addrs.includes(`${INNER.a4}/24`) && addrs.includes(`${INNER.a6}/64`), `${addrs}`);
    const routes = await l.ip('-n', NS.a, 'route', 'show', 'dev', IF.ours);
    assert.match(routes, /^10\.59\.20\.0\/24 .*scope link/m, 'route for the extra allowed prefix');
    assert.match(
      await l.ip('-n', NS.a, 'route', 'get', BEYOND.split),
      new RegExp(`dev ${IF.ours} `)
    );

    await pingOk(NS.a, INNER.b4);
    await pingOk(NS.a, INNER.b6);
    await pingOk(NS.a, BEYOND.split);
    await pingOk(NS.b, INNER.a4);
    const dump = await l.dump(NS.a, IF.ours);
    assert.equal(dump.listenPort, PORT.ours);
    assert.equal(dump.fwmark, 'off', 'no fwmark without a default route');
    assert.equal(dump.peers[0]?.endpoint, `${ENDPOINT}:${PORT.b}`);
    assert.ok((dump.peers[0]?.latestHandshake ?? 0) > 0, 'handshake');

    await downAndGone(confPath, pid);
  });

  it('full tunnel: fwmark 0xca6c, rules, traffic beyond the peer, no loop, down', async () => {
    const l = lab!;
    const { a, b } = await keys();
    const confPath = writeConf(
      `[Interface]\nPrivateKey = ${a.privateKey}\nAddress = ${INNER.a4}/24, ${INNER.a6}/64\n` +
        `ListenPort = ${PORT.ours}\n\n[Peer]\nPublicKey = ${b.publicKey}\n` +
        `AllowedIPs = 0.0.0.0/0, ::/0\nEndpoint = ${ENDPOINT}:${PORT.b}\n`
    );
    await wgQuick('up', confPath);
    const pid = await oursPid();

    assert.equal((await l.wg(NS.a, 'show', IF.ours, 'fwmark')).trim(), '0xca6c');
    const rules4 = await l.ip('-n', NS.a, '-4', 'rule', 'show');
    assert.match(rules4, /not from all fwmark 0xca6c lookup 51820/);
    assert.match(rules4, /from all lookup main suppress_prefixlength 0/);
    assert.match(
      await l.ip('-n', NS.a, '-6', 'rule', 'show'),
      /not from all fwmark 0xca6c lookup 51820/
    );
    const tables = (await l.checkIn(NS.a, 'nft', ['list', 'tables'])).trim().split('\n');
    assert.ok(tables.includes(`table ip wg-quick-${IF.ours}`), tables.join('; '));
    assert.ok(tables.includes(`table ip6 wg-quick-${IF.ours}`), tables.join('; '));
    // the MTU wg-quick derives from the route to the endpoint it read from our UAPI: 1480 - 80
    assert.match(await l.ip('-n', NS.a, 'link', 'show', IF.ours), / mtu 1400 /);
    // only the mark keeps our own UDP out of the tunnel: unmarked, the endpoint routes into it
    assert.match(await l.ip('-n', NS.a, 'route', 'get', ENDPOINT), new RegExp(`dev ${IF.ours} `));
    assert.match(
      await l.ip('-n', NS.a, 'route', 'get', ENDPOINT, 'mark', '0xca6c'),
      new RegExp(`via ${VETH.b} dev va `)
    );

    await pingOk(NS.a, BEYOND.v4);
    await pingOk(NS.a, BEYOND.v6);
    await pingOk(NS.a, INNER.b4);
    const theirs = await l.dump(NS.b, IF.b);
    assert.equal(
      theirs.peers[0]?.endpoint,
      `${VETH.a}:${PORT.ours}`,
      'our encrypted UDP reached the peer straight from the veth'
    );
    const ours = await l.dump(NS.a, IF.ours);
    const peer = ours.peers[0];
    assert.ok(peer && peer.latestHandshake > 0 && peer.rxBytes > 0 && peer.txBytes > 0, 'traffic');
    assert.equal(peer.allowedIps, '0.0.0.0/0,::/0');

    await downAndGone(confPath, pid);
    assert.doesNotMatch(
      await l.ip('-n', NS.a, '-4', 'rule', 'show'),
      /lookup 51820|suppress_prefixlength/
    );
    assert.doesNotMatch(
      await l.ip('-n', NS.a, '-6', 'rule', 'show'),
      /lookup 51820|suppress_prefixlength/
    );
    const left = await l.checkIn(NS.a, 'nft', ['list', 'tables']);
    assert.doesNotMatch(left, /wg-quick-/, 'wg-quick removed its nftables tables');
  });
});
