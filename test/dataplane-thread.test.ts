// SPDX-License-Identifier: MIT
/**
 * The data plane in its own thread, in namespaces: a child process in `a` runs
 * `@start-tunnel/server`'s `LinuxDataplane` (WireGuard in a worker thread) on commands read
 * from its stdin; a stock `wireguard-go` in `b` is its one peer.
 *
 *   a  eth0 198.51.100.1/24 ── eth0 198.51.100.2/24  b
 *   a  stdpa<tag> 10.59.60.1/24 (ours)   stdpb<tag> 10.59.60.2/24 (wireguard-go)  b
 *
 * Checked: pings through the tunnel and `wg show` through the thread's UAPI socket; the
 * child's main thread blocked in a busy loop while 20 pings/s are all answered (the worker
 * answers them); peers added and removed while traffic flows, with growing counters; a crashed
 * thread restarted with its peers and addresses; `stop()` leaves no interface, no socket and
 * nothing that keeps the process alive. Counts only, never timings.
 *
 * The same file is the child when STT_DATAPLANE_CHILD=1 (one JSON command per stdin line, one
 * JSON answer per stdout line).
 * @module
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LinuxDataplane } from '@start-tunnel/server';
import type { PeerSpec } from '@start-tunnel/tunnel';
import { Bg, Lab, labSkip, ROOT, SOCK_DIR, takeLock, waitFor } from './_lab.ts';

const CHILD = process.env.STT_DATAPLANE_CHILD === '1';

/** The child: a LinuxDataplane driven by JSON lines. */
async function child(): Promise<void> {
  const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
  const dp = new LinuxDataplane({
    interface: process.env.STT_IFNAME ?? '',
    listenPort: 51820,
    logger: { verbose: () => {}, error: (m) => say({ log: m }) },
    restartPolicy: { baseDelayMs: 100 },
  });
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line) as { id: number; op: string; [k: string]: unknown };
    try {
      let result: unknown = null;
      if (cmd.op === 'start') await dp.start(cmd.privateKey as string);
      else if (cmd.op === 'setPeers') await dp.setPeers(cmd.peers as never);
      else if (cmd.op === 'setAddresses') await dp.setAddresses(cmd.cidrs as string[]);
      else if (cmd.op === 'status') {
        await dp.refreshStatus();
        result = (cmd.keys as string[]).map((k) => dp.peerStatus(k));
      } else if (cmd.op === 'state') result = { state: dp.state, restarts: dp.restarts };
      else if (cmd.op === 'crash') await dp.crashThread();
      else if (cmd.op === 'stop') await dp.stop();
      else if (cmd.op === 'block') {
        say({ id: cmd.id, blocking: true }); // stdout to a pipe is synchronous on Linux
        const end = Date.now() + (cmd.ms as number);
        let spins = 0;
        while (Date.now() < end) spins++;
        result = spins;
      } else throw new Error(`unknown op ${cmd.op}`);
      say({ id: cmd.id, ok: true, result });
    } catch (err) {
      say({ id: cmd.id, ok: false, error: (err as Error).message });
    }
  }
}

interface Status {
  endpoint: string | null;
  lastHandshake: number;
  rxBytes: number;
  txBytes: number;
}

function lab(): void {
  const TAG = String(process.pid).slice(-6);
  const NS = { a: `stdp-a-${TAG}`, b: `stdp-b-${TAG}` };
  const IF = { a: `stdpa${TAG}`, b: `stdpb${TAG}` };
  const OURS = '10.59.60.1';
  const skip = labSkip(['wg', 'wireguard-go', 'ping']);

  describe('LinuxDataplane: WireGuard in a worker thread, with stock wireguard-go', {
    skip,
  }, () => {
    let lab: Lab | null = null;
    let release: (() => void) | null = null;
    let node: Bg | null = null;
    let peerB: PeerSpec | null = null;
    let nextId = 1;

    const answered = (id: number) => (l: string) => l.startsWith(`{"id":${id},"ok"`);
    async function ask<T = unknown>(op: string, args: object = {}, ms = 30_000): Promise<T> {
      const id = nextId++;
      node!.child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
      const line = await node!.line(answered(id), ms);
      if (line === null) throw new Error(`the child did not answer ${op}:\n${node!.tail()}`);
      const r = JSON.parse(line) as { ok: boolean; result: T; error?: string };
      if (!r.ok) throw new Error(r.error);
      return r.result;
    }
    const statusOfB = async () => (await ask<Status[]>('status', { keys: [peerB!.publicKey] }))[0]!;
    const peersInWgShow = async () =>
      (await lab!.dump(NS.a, IF.a)).peers.map((p) => p.publicKey).sort();

    before(
      async () => {
        release = await takeLock();
        lab = new Lab('stdp');
        await lab.addNamespace(NS.a);
        await lab.addNamespace(NS.b);
        await lab.veth(NS.a, 'eth0', NS.b, 'eth0');
        await lab.addr(NS.a, 'eth0', '198.51.100.1/24');
        await lab.addr(NS.b, 'eth0', '198.51.100.2/24');
        const [ours, theirs, psk] = [await lab.genkey(), await lab.genkey(), await lab.genpsk()];
        peerB = { publicKey: theirs.publicKey, presharedKey: psk, allowedIp: '10.59.60.2/32' };

        lab.ifnames.add(IF.a); // cleanup removes its socket if anything is left
        const self = fileURLToPath(import.meta.url);
        const args = ['netns', 'exec', NS.a, process.execPath];
        args.push('--conditions=source', '--import', 'tsx', self);
        const env = { ...process.env, STT_DATAPLANE_CHILD: '1', STT_IFNAME: IF.a };
        node = new Bg('dataplane child', spawn('ip', args, { cwd: ROOT, env, stdio: 'pipe' }));
        lab.procs.add(node);
        await ask('start', { privateKey: ours.privateKey });
        await ask('setAddresses', { cidrs: [`${OURS}/24`] });
        await ask('setPeers', { peers: [peerB] });

        await lab.daemon('wireguard-go', NS.b, IF.b);
        const conf = [
          '[Interface]',
          `PrivateKey = ${theirs.privateKey}`,
          '[Peer]',
          `PublicKey = ${ours.publicKey}`,
          `PresharedKey = ${psk}`,
          'Endpoint = 198.51.100.1:51820',
          'AllowedIPs = 10.59.60.0/24',
        ].join('\n');
        await lab.setconf(NS.b, IF.b, `${conf}\n`);
        await lab.addr(NS.b, IF.b, '10.59.60.2/24');
        await lab.ip('-n', NS.b, 'link', 'set', IF.b, 'up');
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

    it('pings through the tunnel; wg show reads the thread', { timeout: 60_000 }, async () => {
      const p = await lab!.ping(NS.b, OURS, { count: 5, wait: 5 });
      assert.equal(p.received, 5, p.output);
      assert.deepEqual(await peersInWgShow(), [peerB!.publicKey]);
    });

    it('a blocked main thread: 20 pings/s all answered by the worker', {
      timeout: 60_000,
    }, async () => {
      const id = nextId++;
      node!.child.stdin!.write(`${JSON.stringify({ id, op: 'block', ms: 4000 })}\n`);
      const blocking = await node!.line((l) => l === `{"id":${id},"blocking":true}`, 20_000);
      assert.notEqual(blocking, null, node!.tail());
      const p = await lab!.ping(NS.b, OURS, { count: 40, interval: 0.05, wait: 1 });
      // every ping was sent and answered while the main thread still spun
      assert.equal(node!.lines.some(answered(id)), false, 'the main thread was not blocked');
      assert.equal(p.sent, 40, p.output);
      assert.equal(p.received, 40, p.output);
      const done = await node!.line(answered(id), 20_000);
      assert.ok(done !== null && (JSON.parse(done) as { result: number }).result > 0);
    });

    it('peers change while traffic flows; counters grow', { timeout: 60_000 }, async () => {
      const before = await statusOfB();
      const other = {
        publicKey: (await lab!.genkey()).publicKey,
        presharedKey: '',
        allowedIp: '10.59.60.3/32',
      };
      const pinging = lab!.ping(NS.b, OURS, { count: 40, interval: 0.05, wait: 2 });
      await ask('setPeers', { peers: [peerB, other] });
      assert.deepEqual(await peersInWgShow(), [peerB!.publicKey, other.publicKey].sort());
      await assert.rejects(
        ask('setPeers', { peers: [{ ...other, presharedKey: 'secret?' }] }),
        /Invalid peers\[0\]\.presharedKey: not a 32-byte base64 key/
      );
      assert.equal((await peersInWgShow()).length, 2);
      await ask('setPeers', { peers: [peerB] });
      assert.deepEqual(await peersInWgShow(), [peerB!.publicKey]);
      const p = await pinging;
      assert.equal(p.received, 40, p.output);
      const now = await statusOfB();
      assert.ok(now.rxBytes > before.rxBytes, `rx ${before.rxBytes} -> ${now.rxBytes}`);
      assert.ok(now.txBytes > before.txBytes, `tx ${before.txBytes} -> ${now.txBytes}`);
      assert.ok(now.lastHandshake > 0);
      assert.match(now.endpoint ?? '', /^198\.51\.100\.2:\d+$/);
    });

    it('a crashed thread is restarted with its peers and addresses', {
      timeout: 90_000,
    }, async () => {
      await statusOfB(); // the endpoint the restarted thread greets
      await ask('crash');
      const back = await waitFor(async () => {
        const s = await ask<{ state: string; restarts: number }>('state');
        return s.state === 'running' && s.restarts === 1;
      }, 30_000);
      assert.ok(back, node!.tail());
      assert.ok(
        node!.lines.some((l) => l.includes('exited unexpectedly')),
        node!.tail()
      );
      const addrs = await lab!.ip('-n', NS.a, '-o', '-4', 'addr', 'show', 'dev', IF.a);
      assert.match(addrs, /inet 10\.59\.60\.1\/24/);
      assert.deepEqual(await peersInWgShow(), [peerB!.publicKey]);
      const first = await waitFor(
        async () => (await lab!.ping(NS.b, OURS, { count: 1, wait: 1 })).received === 1,
        40_000
      );
      assert.ok(first, 'no ping answered after the restart');
      const p = await lab!.ping(NS.b, OURS, { count: 10, interval: 0.05, wait: 2 });
      assert.equal(p.received, 10, p.output);
    });

    it('stop() leaves no interface, no socket, nothing running', { timeout: 60_000 }, async () => {
      assert.ok(existsSync(join(SOCK_DIR, `${IF.a}.sock`)));
      await ask('stop');
      const link = await lab!.exec(NS.a, 'ip', ['link', 'show', IF.a]);
      assert.notEqual(link.code, 0, 'the TUN interface is still there');
      assert.equal(existsSync(join(SOCK_DIR, `${IF.a}.sock`)), false);
      // with stdin closed the child has nothing left: no thread or handle keeps it alive
      node!.child.stdin!.end();
      assert.ok(await waitFor(() => node!.exited, 15_000), node!.tail());
      assert.equal(node!.exitCode, 0, node!.tail());
    });
  });
}

if (CHILD) await child();
else lab();
