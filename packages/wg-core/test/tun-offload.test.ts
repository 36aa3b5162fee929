// SPDX-License-Identifier: MIT
/**
 * TUN offloads (`native/offload.c`) against the real kernel: a helper (`tun-offload.helper.ts`)
 * in namespace A owns two TUN devices and relays batches between them; the test moves the
 * second into namespace B (the device follows its descriptor), so A and B talk TCP through our
 * read and write paths only. With the offloads, A's and B's stacks hand over TSO super-packets
 * that must be cut into valid segments (checksums, sequence numbers, lengths) and our writes
 * coalesce segments into super-packets (GRO) that the stack must accept: 4 MiB each way over
 * IPv4 and IPv6 arrive with the right SHA-256, and the counters show both paths ran. Without
 * them (the portable path) the same transfers pass with the counters at zero. Holds the lab lock.
 * @module
 */

import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hasCommand, takeLock } from '../../../test/_lab.ts';

const TAG = String(process.pid % 100000);
const skip =
  process.platform !== 'linux'
    ? 'needs Linux'
    : process.getuid?.() !== 0
      ? 'needs root (TUN devices and network namespaces)'
      : !existsSync('/dev/net/tun')
        ? 'needs /dev/net/tun'
        : !hasCommand('ip') || !hasCommand('flock')
          ? 'needs ip (iproute2) and flock (util-linux)'
          : false;

const ip = (...args: string[]) =>
  execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

interface Offloads {
  vnet: boolean;
  tso: boolean;
  tsoSplit: number;
  groMerged: number;
}
type State = { ev: string; a: Offloads; b: Offloads; txErrors: number };

/** A TCP sink in `ns` on `addr`:`port` printing `<bytes> <sha256>` when the stream ends. */
const SINK = (addr: string, port: number) => `
  const h = require('node:crypto').createHash('sha256'); let n = 0;
  const s = require('node:net').createServer((c) => {
    c.on('data', (d) => { h.update(d); n += d.length; });
    c.on('end', () => { console.log(n + ' ' + h.digest('hex')); s.close(); });
  });
  s.listen(${port}, '${addr}', () => console.log('listening'));
  setTimeout(() => process.exit(2), 30000).unref();`;

/** Sends 4 MiB of seeded bytes to `addr`:`port`, printing `<bytes> <sha256>` once closed. */
const SOURCE = (addr: string, port: number) => `
  const { createHash } = require('node:crypto');
  let seed = Buffer.from('wg-core tso'); const all = Buffer.alloc(4 << 20);
  for (let k = 0; k < all.length / 32; k++) { seed = createHash('sha256').update(seed).digest(); seed.copy(all, k * 32); }
  const c = require('node:net').connect(${port}, '${addr}', () => c.end(all));
  c.on('close', () => console.log(all.length + ' ' + createHash('sha256').update(all).digest('hex')));
  setTimeout(() => process.exit(2), 30000).unref();`;

/** One transfer from `fromNs` to a sink in `toNs`: what was sent and what arrived. */
async function transfer(fromNs: string, toNs: string, addr: string, port: number) {
  const server = spawn('ip', ['netns', 'exec', toNs, process.execPath, '-e', SINK(addr, port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const exited = new Promise<void>((resolve) => server.on('exit', () => resolve()));
  await new Promise<void>((resolve) => {
    createInterface({ input: server.stdout! }).on('line', (l) => {
      lines.push(l);
      if (l === 'listening') resolve();
    });
    server.on('exit', () => resolve());
  });
  const sent = spawnSync(
    'ip',
    ['netns', 'exec', fromNs, process.execPath, '-e', SOURCE(addr, port)],
    {
      encoding: 'utf8',
      timeout: 40_000,
    }
  );
  await Promise.race([exited, new Promise((r) => setTimeout(r, 35_000))]);
  server.kill('SIGKILL');
  return { sent: sent.stdout.trim(), received: lines.find((l) => l !== 'listening') ?? '' };
}

for (const offload of [true, false]) {
  describe(`TUN ${offload ? 'offloads (TSO split, GRO)' : 'portable path'}`, { skip }, () => {
    const nsA = `stoffa-${TAG}`;
    const nsB = `stoffb-${TAG}`;
    const ifA = `stoa${TAG}`;
    const ifB = `stob${TAG}`;
    let release: (() => void) | null = null;
    let helper: ChildProcess | null = null;
    const states: State[] = [];
    const waiters: (() => void)[] = [];

    const nextState = async (): Promise<State> => {
      const n = states.length;
      helper!.stdin!.write('stats\n');
      for (let t = 0; t < 100 && states.length === n; t++) {
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
      return states.at(-1)!;
    };

    before(
      async () => {
        release = await takeLock();
        for (const ns of [nsA, nsB]) {
          spawnSync('ip', ['netns', 'del', ns]);
          ip('netns', 'add', ns);
          ip('-n', ns, 'link', 'set', 'lo', 'up');
        }
        const script = fileURLToPath(new URL('./tun-offload.helper.ts', import.meta.url));
        helper = spawn(
          'ip',
          [
            'netns',
            'exec',
            nsA,
            process.execPath,
            '--conditions=source',
            '--import',
            'tsx',
            script,
            ifA,
            ifB,
            offload ? '1' : '0',
          ],
          { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['pipe', 'pipe', 'inherit'] }
        );
        createInterface({ input: helper.stdout! }).on('line', (l) => {
          states.push(JSON.parse(l) as State);
          for (const w of waiters.splice(0)) w();
        });
        for (let t = 0; t < 300 && states.length === 0; t++) {
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(states[0]?.ev, 'ready', 'the helper did not start');
        ip('-n', nsA, 'link', 'set', ifB, 'netns', nsB);
        ip('-n', nsA, 'addr', 'add', '10.59.31.1/24', 'dev', ifA);
        ip('-n', nsB, 'addr', 'add', '10.59.31.2/24', 'dev', ifB);
        ip('-n', nsA, 'addr', 'add', '2001:db8:31::1/64', 'dev', ifA, 'nodad');
        ip('-n', nsB, 'addr', 'add', '2001:db8:31::2/64', 'dev', ifB, 'nodad');
        ip('-n', nsA, 'link', 'set', ifA, 'up');
        ip('-n', nsB, 'link', 'set', ifB, 'up');
      },
      { timeout: 330_000 }
    );

    after(() => {
      helper?.stdin?.end();
      if (helper && helper.exitCode === null)
        setTimeout(() => helper?.kill('SIGKILL'), 2000).unref();
      for (const ns of [nsA, nsB]) spawnSync('ip', ['netns', 'del', ns]);
      release?.();
    });

    it('moves 4 MiB each way over IPv4 and IPv6 intact', { timeout: 180_000 }, async () => {
      const first = states[0]!;
      assert.equal(first.a.vnet, offload);
      assert.equal(first.b.vnet, offload);
      const before = await nextState();
      const cases: [string, string, string, number][] = [
        [nsA, nsB, '10.59.31.2', 5401],
        [nsB, nsA, '10.59.31.1', 5402],
        [nsA, nsB, '2001:db8:31::2', 5403],
        [nsB, nsA, '2001:db8:31::1', 5404],
      ];
      for (const [from, to, addr, port] of cases) {
        const r = await transfer(from, to, addr, port);
        assert.match(r.sent, /^4194304 [0-9a-f]{64}$/, `sender to ${addr}`);
        assert.equal(r.received, r.sent, `what arrived at ${addr}`);
      }
      const s = await nextState();
      // no write refused on the way (a malformed super-packet would be, and TCP would hide it)
      assert.equal(s.txErrors, before.txErrors);
      if (!offload) {
        assert.deepEqual([s.a.tsoSplit, s.a.groMerged, s.b.tsoSplit, s.b.groMerged], [0, 0, 0, 0]);
        return;
      }
      // the kernel sent super-packets both ways (TSO), and our writes were coalesced (GRO)
      if (s.a.tso) assert.ok(s.a.tsoSplit > 0 && s.b.tsoSplit > 0, JSON.stringify(s));
      assert.ok(s.a.groMerged > 0 && s.b.groMerged > 0, JSON.stringify(s));
    });
  });
}
