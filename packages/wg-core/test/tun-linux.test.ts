// SPDX-License-Identifier: MIT
/**
 * Tests of `tun-linux.ts` (the TUN device on the native addon) in a network namespace made for
 * them (`sttun-<pid>`): a helper process (`tun-linux.helper.ts`) runs inside it, owns the TUN
 * `sttun0` (10.59.1.1/24) and reports what it reads; the test drives it over stdin/stdout and
 * configures the link with `ip`. Covers the MTU (set, read back, changed from outside, grown
 * past the read slots), reading kernel-sent UDP in batches at TUN_HEADROOM, writing a crafted
 * IPv4/UDP packet that a socket in the namespace receives, and `ip link del` ending the device
 * with a `down` event and no crash. The lab holds /tmp/start-tunnel-netns.lock while it runs.
 * Needs root and /dev/net/tun; skipped otherwise.
 * @module
 */

import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
// the lab kit of the root test/ folder: one lock for every namespace lab on the machine
import { hasCommand, takeLock } from '../../../test/_lab.ts';
import { TUN_HEADROOM, TUN_TAILROOM } from '../src/batch.ts';
import { LinuxTun } from '../src/tun-linux.ts';

const NS = `sttun-${process.pid}`;
const IF = 'sttun0';
const TUN_ADDR = '10.59.1.1';
const PEER_ADDR = '10.59.1.2';

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

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

type Msg = { ev: string; id?: number; [key: string]: unknown };
type Packet = { offset: number; slot: number; length: number; hex: string };

/** The helper process and the messages it printed, waited on with a deadline. */
class Helper {
  readonly child: ChildProcess;
  readonly messages: Msg[] = [];
  exitCode: number | null = null;
  #waiters: (() => void)[] = [];
  #nextId = 1;

  constructor(child: ChildProcess) {
    this.child = child;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.messages.push(JSON.parse(line) as Msg);
      this.#wake();
    });
    child.on('exit', (code) => {
      this.exitCode = code ?? -1;
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves with the first message (from `from` on) that `pred` accepts, within `ms`. */
  async next(pred: (m: Msg) => boolean, ms = 5000, from = 0): Promise<Msg> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.messages.slice(from).find(pred);
      if (found) return found;
      if (this.exitCode !== null) throw new Error(`helper exited (${this.exitCode})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for the helper');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves with the exit code, or null if the helper is still running after `ms`. */
  async exited(ms: number): Promise<number | null> {
    const deadline = Date.now() + ms;
    while (this.exitCode === null && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.exitCode;
  }

  async cmd(c: Record<string, unknown>): Promise<Msg> {
    const id = this.#nextId++;
    this.child.stdin!.write(`${JSON.stringify({ id, ...c })}\n`);
    const reply = await this.next((m) => (m.ev === 'ok' || m.ev === 'error') && m.id === id);
    if (reply.ev === 'error') throw new Error(`helper: ${String(reply.message)}`);
    return reply;
  }

  /** Every packet of every batch printed since message index `from`. */
  packets(from: number): Packet[] {
    return this.messages
      .slice(from)
      .filter((m) => m.ev === 'batch')
      .flatMap((m) => m.packets as Packet[]);
  }
}

/** Internet checksum (RFC 1071) over `bytes`, starting from `sum`. */
function checksum(bytes: Uint8Array, sum = 0): number {
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Bytes(text: string): number[] {
  return text.split('.').map(Number);
}

/** An IPv4/UDP packet with correct IP and UDP checksums. */
function udpPacket(src: string, sport: number, dst: string, dport: number, payload: Uint8Array) {
  const p = new Uint8Array(28 + payload.length);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  v.setUint16(2, p.length);
  v.setUint16(4, 0x1234);
  p[8] = 64;
  p[9] = 17;
  p.set(ipv4Bytes(src), 12);
  p.set(ipv4Bytes(dst), 16);
  v.setUint16(10, checksum(p.subarray(0, 20)));
  v.setUint16(20, sport);
  v.setUint16(22, dport);
  v.setUint16(24, 8 + payload.length);
  p.set(payload, 28);
  const pseudo = new Uint8Array(12);
  pseudo.set(p.subarray(12, 20), 0);
  pseudo[9] = 17;
  new DataView(pseudo.buffer).setUint16(10, 8 + payload.length);
  const partial = 0xffff & ~checksum(pseudo);
  v.setUint16(26, checksum(p.subarray(20), partial) || 0xffff);
  return p;
}

/** The parts of an IPv4/UDP packet the read test checks; null for anything else. */
function parseUdp(hex: string) {
  const p = Buffer.from(hex, 'hex');
  if (p.length < 28 || p[0]! >> 4 !== 4 || p[9] !== 17) return null;
  return {
    totalLength: p.readUInt16BE(2),
    dst: [...p.subarray(16, 20)].join('.'),
    dport: p.readUInt16BE(22),
    payload: p.subarray(28),
  };
}

describe('LinuxTun in a network namespace', { skip }, () => {
  let release: (() => void) | null = null;
  let helper: Helper | null = null;
  let nsMade = false;

  before(
    async () => {
      release = await takeLock();
      ip('netns', 'add', NS);
      nsMade = true;
      ip('-n', NS, 'link', 'set', 'lo', 'up');
      const script = fileURLToPath(new URL('./tun-linux.helper.ts', import.meta.url));
      const child = spawn(
        'ip',
        [
          'netns',
          'exec',
          NS,
          process.execPath,
          '--conditions=source',
          '--import',
          'tsx',
          script,
          IF,
          '1380',
        ],
        { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['pipe', 'pipe', 'inherit'] }
      );
      helper = new Helper(child);
    },
    { timeout: 330_000 }
  );

  after(() => {
    if (helper && helper.exitCode === null) helper.child.kill('SIGKILL');
    if (nsMade) {
      try {
        ip('netns', 'del', NS);
      } catch {
        // already gone
      }
    }
    release?.();
  });

  it('creates the interface with the MTU asked for and reads it back', async () => {
    const h = helper!;
    const ready = await h.next((m) => m.ev === 'ready', 20_000);
    assert.equal(ready.name, IF);
    assert.equal(ready.mtu, 1380);
    assert.equal(ready.up, false);
    assert.match(ip('-n', NS, 'link', 'show', IF), /mtu 1380 /);
  });

  it('reports the link coming up (SIOCSIFFLAGS, seen through rtnetlink)', async () => {
    const h = helper!;
    const mark = h.messages.length;
    ip('-n', NS, 'addr', 'add', `${TUN_ADDR}/24`, 'dev', IF);
    await h.cmd({ cmd: 'up' });
    await h.next((m) => m.ev === 'tun' && (m.event as { type: string }).type === 'up', 5000, mark);
    assert.match(ip('-n', NS, 'link', 'show', IF), /<[^>]*\bUP\b[^>]*>/);
  });

  it('reads UDP sent by the namespace in batches, each packet at TUN_HEADROOM', async () => {
    const h = helper!;
    const sizes = [1, 100, 500, 1000, 1352]; // 1352 = 1380 - 20 (IPv4) - 8 (UDP)
    const mark = h.messages.length;
    await h.cmd({ cmd: 'send', host: PEER_ADDR, port: 9999, sizes });
    const mine = () =>
      h.packets(mark).filter((p) => {
        const u = parseUdp(p.hex);
        return u !== null && u.dst === PEER_ADDR && u.dport === 9999;
      });
    await h.next(() => mine().length >= sizes.length, 5000, mark);
    const got = mine();
    assert.equal(got.length, sizes.length);
    got.forEach((p, i) => {
      const u = parseUdp(p.hex)!;
      assert.equal(p.offset, p.slot + TUN_HEADROOM, 'packet starts TUN_HEADROOM into its slot');
      assert.equal(p.length, 28 + sizes[i]!);
      assert.equal(u.totalLength, p.length);
      assert.equal(u.payload.length, sizes[i]);
      assert.ok(u.payload.every((b) => b === i + 1));
    });
    const batches = h.messages.slice(mark).filter((m) => m.ev === 'batch');
    for (const b of batches)
      assert.ok((b.slotSize as number) >= 1380 + TUN_HEADROOM + TUN_TAILROOM);
    assert.ok(
      batches.some((b) => (b.count as number) > 1),
      'datagrams queued together are read as one batch'
    );
  });

  it('writes a crafted IPv4/UDP packet that a socket in the namespace receives', async () => {
    const h = helper!;
    await h.cmd({ cmd: 'listen', host: TUN_ADDR, port: 6666 });
    const payload = Buffer.from('through the tun, batch-written');
    const pkt = udpPacket(PEER_ADDR, 7777, TUN_ADDR, 6666, payload);
    const mark = h.messages.length;
    const garbage = 'ff'.repeat(24);
    const reply = await h.cmd({
      cmd: 'write',
      packets: ['', Buffer.from(pkt).toString('hex'), garbage],
    });
    const stats = reply.stats as { txPackets: number; txErrors: number };
    assert.equal(stats.txPackets + stats.txErrors, 2, 'the empty slot is skipped');
    assert.ok(stats.txPackets >= 1);
    const udp = await h.next((m) => m.ev === 'udp', 5000, mark);
    assert.equal(udp.from, PEER_ADDR);
    assert.equal(udp.port, 7777);
    assert.equal(udp.hex, payload.toString('hex'));
  });

  it('follows MTU changes and grows its read slots to fit', async () => {
    const h = helper!;
    const set = await h.cmd({ cmd: 'mtu', mtu: 1300 });
    assert.equal(set.mtu, 1300);
    assert.match(ip('-n', NS, 'link', 'show', IF), /mtu 1300 /);
    const mark = h.messages.length;
    ip('-n', NS, 'link', 'set', IF, 'mtu', '1280');
    const ev = await h.next(
      (m) => m.ev === 'tun' && (m.event as { type: string }).type === 'mtu',
      5000,
      mark
    );
    assert.deepEqual(ev.event, { type: 'mtu', mtu: 1280 });
    const big = await h.cmd({ cmd: 'mtu', mtu: 4000 });
    assert.ok((big.slotSize as number) >= 4000 + TUN_HEADROOM + TUN_TAILROOM);
    const from = h.messages.length;
    await h.cmd({ cmd: 'send', host: PEER_ADDR, port: 9998, sizes: [3000] });
    await h.next(() => h.packets(from).some((p) => parseUdp(p.hex)?.dport === 9998), 5000, from);
    const p = h.packets(from).find((x) => parseUdp(x.hex)?.dport === 9998)!;
    assert.equal(p.length, 3028);
    assert.equal(p.offset, p.slot + TUN_HEADROOM);
  });

  it('ends with a down event when the interface is deleted, without crashing', async () => {
    const h = helper!;
    const mark = h.messages.length;
    ip('-n', NS, 'link', 'del', IF);
    const down = await h.next(
      (m) => m.ev === 'tun' && (m.event as { type: string }).type === 'down' && m.removed === true,
      5000,
      mark
    );
    assert.equal(down.removed, true);
    const before = (await h.cmd({ cmd: 'stats' })).stats as { txErrors: number };
    const wrote = await h.cmd({ cmd: 'write', packets: ['45'.padEnd(56, '0')] });
    const stats = wrote.stats as { txErrors: number };
    assert.equal(stats.txErrors, before.txErrors + 1, 'writes after removal are counted');
    await h.cmd({ cmd: 'close' });
    assert.equal(await h.exited(5000), 0);
  });
});

describe('LinuxTun.create arguments', () => {
  it('rejects bad names and MTUs before touching the kernel', async () => {
    await assert.rejects(LinuxTun.create(''), TypeError);
    await assert.rejects(LinuxTun.create('sttun-too-long-x'), /expected 1 to 15 bytes/);
    await assert.rejects(LinuxTun.create('st/tun'), TypeError);
    await assert.rejects(LinuxTun.create('sttun0', { mtu: 67 }), RangeError);
    await assert.rejects(LinuxTun.create('sttun0', { mtu: 1420.5 }), /Invalid MTU '1420.5'/);
  });
});
