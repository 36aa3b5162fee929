// SPDX-License-Identifier: MIT
// The crypto worker pool: in-memory devices with 1 and 2 workers. Completion is asynchronous
// (real worker messages), so these tests await `Device.flush()`; the FakeClock still drives
// the protocol timers. No assertion depends on timing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PacketBatch } from '../src/batch.ts';
import { nodeCrypto } from '../src/crypto-node.ts';
import {
  CryptoPool,
  defaultCryptoWorkers,
  JobMemory,
  OP_OPEN,
  OP_SEAL,
  STATUS_AUTH_FAILED,
  STATUS_OK,
} from '../src/crypto-pool.ts';
import { Device, type DeviceOptions } from '../src/device.ts';
import { Keypair } from '../src/keypair.ts';
import type { Logger } from '../src/logger.ts';
import { Lab, type Node } from './_harness.ts';
import { hex, ip } from './_packets.ts';

/** A payload of `size` bytes (at least 4) starting with `seq`, so order is visible. */
function numbered(seq: number, size: number): Uint8Array {
  const p = new Uint8Array(Math.max(4, size)).fill(seq & 0xff);
  new DataView(p.buffer).setUint32(0, seq);
  return p;
}

/** Delivers datagrams and waits for every pool, until nothing is queued or in flight. */
async function settle(lab: Lab, nodes: Node[]): Promise<void> {
  for (let round = 0; round < 1000; round++) {
    lab.settle();
    await Promise.all(nodes.map((n) => n.device.flush()));
    if (lab.network.queued === 0) return;
  }
  throw new Error('devices did not settle in 1000 rounds');
}

function sum(drops: object): number {
  return Object.values(drops).reduce((a: number, b: number) => a + b, 0);
}

/** A = 10.59.0.1 / fd59::1, B = .2; both with `workers`; a session is up (B's TUN drained). */
async function poolPair(workers: number, options: DeviceOptions = {}) {
  const lab = new Lab();
  const a = await lab.node('192.0.2.1', 51820, { workers, ...options });
  const b = await lab.node('198.51.100.2', 51821, { workers, ...options });
  const peerB = lab.connect(a, b, ['10.59.0.2/32', 'fd59::2/128']);
  const peerA = lab.connect(b, a, ['10.59.0.1/32', 'fd59::1/128']);
  const nodes = [a, b];
  a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
  await settle(lab, nodes);
  assert.equal(b.tun.drain().length, 1, 'the first packet went through the handshake');
  return { lab, a, b, peerA, peerB, nodes };
}

async function closeAll(nodes: Node[]): Promise<void> {
  for (const n of nodes) await n.device.close();
}

describe('crypto pool, unit', { timeout: 120_000 }, () => {
  it('defaults to inline on 2 cores or fewer, cores - 1 (at most 4) above', () => {
    assert.deepEqual([1, 2, 3, 4, 8, 64].map(defaultCryptoWorkers), [0, 0, 2, 3, 4, 4]);
  });

  it('maps a PacketBatch over shared memory, and refuses memory too small', () => {
    const memory = new SharedArrayBuffer(PacketBatch.byteLength(4, 64) + 8);
    const a = new PacketBatch(4, 64, memory, 8);
    const b = new PacketBatch(4, 64, memory, 8);
    a.push(Uint8Array.of(1, 2, 3), null, 5);
    b.count = 1;
    assert.deepEqual([...b.packet(0)], [1, 2, 3]);
    assert.equal(b.offsets[0], 5);
    assert.throws(() => new PacketBatch(4, 64, memory, 12), /do not fit in/);
    assert.throws(() => new PacketBatch(4, 64, memory, 2), /do not fit in/);
  });

  it('rejects a bad worker count naming the field', () => {
    assert.throws(() => new Device({ workers: -1 }), /Cannot use workers -1/);
    assert.throws(() => new Device({ workers: 1.5 }), /Cannot use workers 1\.5/);
    assert.throws(() => new Device({ workers: 65 }), /must be an integer 0\.\.64/);
  });

  for (const workers of [1, 2]) {
    it(`${workers} worker(s) seal and open as node:crypto does, one message per job`, async () => {
      const logger: Logger = { verbose() {}, error: (m) => assert.fail(m) };
      const owner = new Device();
      const peer = owner.addPeer(nodeCrypto.generatePrivateKey().publicKey)!;
      const keypairs = [1, 2, 3].map((k) => {
        const key = new Uint8Array(32).fill(k);
        return new Keypair(key, key, true, 0, k, k);
      });
      // 300 messages over 3 keys: a header with counter i, then the plaintext
      const plain = Array.from({ length: 300 }, (_, i) => numbered(i, 1 + ((i * 37) % 1400)));
      const expected = plain.map((p, i) => {
        const message = new Uint8Array(16 + p.length + 16);
        new DataView(message.buffer).setUint32(8, i, true);
        const nonce = new Uint8Array(12);
        nonce.set(message.subarray(8, 16), 4);
        nodeCrypto.aeadSeal(message.subarray(16), keypairs[i % 3]!.sendKey, nonce, p, null);
        return message;
      });

      const order: number[] = [];
      const sealed: Uint8Array[] = [];
      const sealer = new CryptoPool({
        workers,
        logger,
        complete: (job) => {
          order.push(job.id);
          for (let j = 0; j < job.batch.count; j++) {
            assert.equal(job.status[j], STATUS_OK);
            sealed.push(job.batch.packet(j).slice());
          }
        },
      });
      const submitted: number[] = [];
      plain.forEach((p, i) => {
        const wire = 16 + p.length + 16;
        const job = sealer.reserve(OP_SEAL, wire)!;
        if (submitted.at(-1) !== job.id) submitted.push(job.id);
        const at = job.batch.offsets[job.add(wire, peer, keypairs[i % 3]!)]!;
        job.batch.data.set(expected[i]!.subarray(0, 16), at); // the header: counter i
        job.batch.data.set(p, at + 16);
      });
      await sealer.flush();
      await sealer.close();
      assert.deepEqual(order, submitted, 'applied in submission order');
      assert.deepEqual(sealer.stats, {
        jobs: 3,
        packets: 300,
        outOfOrder: sealer.stats.outOfOrder,
      });
      assert.deepEqual(sealed.map(hex), expected.map(hex));

      const status: number[] = [];
      const opened: Uint8Array[] = [];
      const opener = new CryptoPool({
        workers,
        logger,
        complete: (job) => {
          for (let j = 0; j < job.batch.count; j++) {
            status.push(job.status[j]!);
            const at = job.batch.offsets[j]!;
            opened.push(job.batch.data.slice(at + 16, at + job.batch.lengths[j]! - 16));
          }
        },
      });
      expected.forEach((m, i) => {
        const job = opener.reserve(OP_OPEN, m.length)!;
        const at = job.batch.offsets[job.add(m.length, peer, keypairs[i % 3]!)]!;
        job.batch.data.set(m, at);
        if (i === 77) job.batch.data[at + m.length - 1]! ^= 1; // a tampered tag
      });
      await opener.flush();
      await opener.close();
      status.forEach((s, i) => {
        assert.equal(s, i === 77 ? STATUS_AUTH_FAILED : STATUS_OK, `status ${i}`);
      });
      opened.forEach((p, i) => {
        if (i !== 77) assert.equal(hex(p), hex(plain[i]!), `plaintext ${i}`);
      });
      await owner.close();
    });
  }

  it('keeps job memory the same on both sides: header, keys, key slots, status', () => {
    const memory = new SharedArrayBuffer(JobMemory.byteLength);
    const main = new JobMemory(memory);
    const other = new JobMemory(memory);
    main.header[1] = 7;
    main.keys[32] = 9;
    main.keyOf[3] = 1;
    main.status[3] = 2;
    assert.deepEqual(
      [other.header[1], other.keys[32], other.keyOf[3], other.status[3]],
      [7, 9, 1, 2]
    );
    assert.throws(() => new JobMemory(new SharedArrayBuffer(64)), /Cannot map job/);
  });
});

for (const workers of [1, 2]) {
  describe(`two in-memory devices with ${workers} crypto worker(s)`, { timeout: 120_000 }, () => {
    it('exchange IPv4 and IPv6 packets both ways, in order, with many jobs in flight', async () => {
      const { lab, a, b, peerA, peerB, nodes } = await poolPair(workers);
      const out = Array.from({ length: 600 }, (_, k) =>
        k % 3 === 0
          ? ip('fd59::1', 'fd59::2', numbered(k, (k * 53) % 1380))
          : ip('10.59.0.1', '10.59.0.2', numbered(k, (k * 29) % 1400))
      );
      const { jobs, packets } = a.device.pool!.stats;
      a.tun.inject(...out);
      // nothing completes synchronously: every job is still being filled or in flight
      assert.equal(a.device.pool!.busyJobs, Math.ceil(600 / 128));
      const back = Array.from({ length: 300 }, (_, k) =>
        ip(k % 2 ? '10.59.0.2' : 'fd59::2', k % 2 ? '10.59.0.1' : 'fd59::1', numbered(k, k + 4))
      );
      b.tun.inject(...back);
      await settle(lab, nodes);
      assert.deepEqual(b.tun.drain().map(hex), out.map(hex));
      assert.deepEqual(a.tun.drain().map(hex), back.map(hex));
      const stats = a.device.pool!.stats;
      assert.equal(stats.packets - packets, 900);
      assert.ok(stats.jobs - jobs <= 10, `${stats.jobs - jobs} jobs for 900 packets`);
      assert.equal(sum(a.device.drops) + sum(b.device.drops), 0);
      assert.equal(a.device.stats(peerB).txBytes, b.device.stats(peerA).rxBytes);
      assert.equal(b.device.stats(peerA).txBytes, a.device.stats(peerB).rxBytes);
      await closeAll(nodes);
    });

    it('pads plaintext to 16 bytes, never past the MTU', async () => {
      const { lab, a, b, nodes } = await poolPair(workers);
      const sizes: number[] = [];
      lab.network.tap = (d) => {
        if (d.data[0] === 4 && d.data.length > 32) sizes.push(d.data.length);
        return true;
      };
      for (const n of [21, 32, 33, 1419, 1420]) a.tun.inject(ip('10.59.0.1', '10.59.0.2', n - 20));
      await settle(lab, nodes);
      assert.deepEqual(sizes, [32 + 32, 32 + 32, 32 + 48, 32 + 1420, 32 + 1420]);
      assert.deepEqual(
        b.tun.drain().map((p) => p.length),
        [21, 32, 33, 1419, 1420]
      );
      await closeAll(nodes);
    });

    it('rekeys with traffic flowing both ways and loses nothing', async () => {
      const { lab, a, b, peerB, nodes } = await poolPair(workers, { rekeyAfterTimeMs: 3000 });
      const first = peerB.keypairs.current;
      let handshakes = 0;
      a.device.on('handshake', () => handshakes++);
      const sentAB: string[] = [];
      const sentBA: string[] = [];
      const gotAB: string[] = [];
      const gotBA: string[] = [];
      for (let round = 0; round < 40; round++) {
        const ab = Array.from({ length: 150 }, (_, k) =>
          ip('10.59.0.1', '10.59.0.2', numbered(round * 1000 + k, 200))
        );
        const ba = Array.from({ length: 40 }, (_, k) =>
          ip('fd59::2', 'fd59::1', numbered(round * 1000 + k, 60))
        );
        a.tun.inject(...ab);
        b.tun.inject(...ba);
        sentAB.push(...ab.map(hex));
        sentBA.push(...ba.map(hex));
        await settle(lab, nodes);
        gotAB.push(...b.tun.drain().map(hex));
        gotBA.push(...a.tun.drain().map(hex));
        lab.clock.advance(500);
      }
      assert.ok(
        handshakes >= 3,
        `rekeyed ${handshakes} times in 20 s (every 3 s, at most every 5 s)`
      );
      assert.notEqual(peerB.keypairs.current, first);
      assert.equal(gotAB.length, sentAB.length);
      assert.deepEqual(gotAB, sentAB);
      assert.deepEqual(gotBA, sentBA);
      assert.equal(sum(a.device.drops) + sum(b.device.drops), 0);
      await closeAll(nodes);
    });

    it('roams, and drops and counts tampered, forged and replayed packets, which never roam', async () => {
      const { lab, a, b, peerA, nodes } = await poolPair(workers);
      // A moves to another port: B follows its first authenticated packet from there
      await a.device.setListenPort(51999);
      let seen = 0;
      let captured: Uint8Array | null = null;
      lab.network.tap = (d) => {
        if (d.data[0] !== 4 || d.to.address !== '198.51.100.2') return true;
        seen++;
        if (seen === 3) d.data[d.data.length - 1]! ^= 1; // the tag of the third
        if (seen === 5) captured = d.data.slice();
        return true;
      };
      const out = Array.from({ length: 10 }, (_, k) =>
        ip('10.59.0.1', '10.59.0.2', numbered(k, 90))
      );
      a.tun.inject(...out);
      await settle(lab, nodes);
      assert.deepEqual(b.tun.drain().map(hex), out.filter((_, k) => k !== 2).map(hex));
      assert.equal(b.device.drops.decryptFailed, 1);
      assert.equal(b.device.stats(peerA).endpoint, '192.0.2.1:51999');
      assert.ok(captured);

      const evil = lab.network.endpoint('203.0.113.66', 6666);
      const to = lab.network.endpoint('198.51.100.2', 51821);
      lab.network.inject(evil, to, captured);
      const forged = (captured as Uint8Array).slice();
      forged[8]! ^= 0x40; // a new counter, so only the tag can refuse it
      lab.network.inject(evil, to, forged);
      await settle(lab, nodes);
      assert.equal(b.device.drops.replayed, 1);
      assert.equal(b.device.drops.decryptFailed, 2);
      assert.equal(b.device.stats(peerA).endpoint, '192.0.2.1:51999');
      assert.equal(b.tun.drain().length, 0);
      await closeAll(nodes);
    });

    it('drops packets from a source outside the sending peer’s allowed IPs', async () => {
      const { lab, a, b, nodes } = await poolPair(workers);
      const spoofed = ip('10.59.0.99', '10.59.0.2'); // A may not use 10.59.0.99
      a.device.addAllowedIP(a.device.getPeer(b.device.publicKey!)!, {
        family: 4,
        ip: Uint8Array.of(10, 59, 0, 0),
        cidr: 24,
      });
      a.tun.inject(spoofed, ip('10.59.0.1', '10.59.0.2'));
      await settle(lab, nodes);
      assert.equal(b.tun.drain().length, 1);
      assert.equal(b.device.drops.notAllowed, 1);
      await closeAll(nodes);
    });

    it('keeps each peer’s packets in order with several peers', async () => {
      const lab = new Lab();
      const a = await lab.node('192.0.2.1', 51820, { workers });
      const others = [
        await lab.node('198.51.100.2', 51821, { workers }),
        await lab.node('198.51.100.3', 51822, { workers }),
        await lab.node('203.0.113.4', 51823, { workers }),
      ];
      const nodes = [a, ...others];
      others.forEach((o, k) => {
        lab.connect(a, o, [`10.59.0.${k + 2}/32`]);
        lab.connect(o, a, ['10.59.0.1/32']);
      });
      for (let k = 0; k < others.length; k++) a.tun.inject(ip('10.59.0.1', `10.59.0.${k + 2}`));
      await settle(lab, nodes);
      for (const o of others) assert.equal(o.tun.drain().length, 1, 'a session with each peer');
      const out = others.map(() => [] as Uint8Array[]);
      const all: Uint8Array[] = [];
      for (let n = 0; n < 900; n++) {
        const k = (n * 7) % 3; // interleaved destinations
        const p = ip('10.59.0.1', `10.59.0.${k + 2}`, numbered(n, 40 + (n % 500)));
        out[k]!.push(p);
        all.push(p);
      }
      a.tun.inject(...all);
      const back = others.map((_, k) =>
        Array.from({ length: 300 }, (_, n) => ip(`10.59.0.${k + 2}`, '10.59.0.1', numbered(n, 64)))
      );
      others.forEach((o, k) => {
        o.tun.inject(...back[k]!);
      });
      await settle(lab, nodes);
      others.forEach((o, k) => {
        assert.deepEqual(o.tun.drain().map(hex), out[k]!.map(hex), `peer ${k}`);
      });
      const got = a.tun.drain();
      others.forEach((_, k) => {
        const from = got.filter((p) => p[15] === k + 2);
        assert.deepEqual(from.map(hex), back[k]!.map(hex), `from peer ${k}`);
      });
      for (const n of nodes) assert.equal(sum(n.device.drops), 0);
      await closeAll(nodes);
    });

    it('applies jobs in submission order when a later one finishes first', async () => {
      const { lab, a, b, nodes } = await poolPair(workers);
      const pool = a.device.pool!;
      const sent: string[] = [];
      // a full job of large packets, then a job of one small packet, again and again: with two
      // workers the small job often finishes first (the full one waits 20 ms in its worker: the
      // native AEAD is otherwise too fast to be overtaken); with one, never (and order must hold)
      pool.slowJobsFrom = 128;
      for (let round = 0; round < 40; round++) {
        const big = Array.from({ length: 128 }, (_, k) =>
          ip('10.59.0.1', '10.59.0.2', numbered(round * 200 + k, 1400))
        );
        const small = ip('10.59.0.1', '10.59.0.2', numbered(round * 200 + 199, 4));
        a.tun.inject(...big);
        a.tun.inject(small);
        sent.push(...big.map(hex), hex(small));
        await settle(lab, nodes);
        if (workers > 1 && pool.stats.outOfOrder >= 3) break;
      }
      if (workers > 1) assert.ok(pool.stats.outOfOrder > 0, 'no job ever finished out of order');
      else assert.equal(pool.stats.outOfOrder, 0);
      assert.deepEqual(b.tun.drain().map(hex), sent);
      await closeAll(nodes);
    });

    it('drops and counts what finds every job in flight, and never reorders', async () => {
      const { lab, a, b, nodes } = await poolPair(workers);
      const capacity = a.device.pool!.jobs.length * 128;
      const out = Array.from({ length: capacity + 100 }, (_, k) =>
        ip('10.59.0.1', '10.59.0.2', numbered(k, 8))
      );
      a.tun.inject(...out);
      assert.equal(a.device.drops.cryptoQueueFull, 100);
      await settle(lab, nodes);
      assert.deepEqual(b.tun.drain().map(hex), out.slice(0, capacity).map(hex));
      await closeAll(nodes);
    });

    it('stops a removed peer’s traffic at once, jobs in flight included', async () => {
      const { lab, a, b, nodes } = await poolPair(workers);
      const c = await lab.node('203.0.113.3', 51822, { workers });
      nodes.push(c);
      lab.connect(a, c, ['10.59.0.3/32']);
      lab.connect(c, a, ['10.59.0.1/32']);
      a.tun.inject(ip('10.59.0.1', '10.59.0.3'));
      await settle(lab, nodes);
      assert.equal(c.tun.drain().length, 1);

      const toB = Array.from({ length: 20 }, (_, k) =>
        ip('10.59.0.1', '10.59.0.2', numbered(k, 50))
      );
      const toC = Array.from({ length: 20 }, (_, k) =>
        ip('10.59.0.1', '10.59.0.3', numbered(k, 50))
      );
      // C's packets sealed and on the wire, then taken into A's open job
      c.tun.inject(...Array.from({ length: 5 }, (_, k) => ip('10.59.0.3', '10.59.0.1', k + 4)));
      await c.device.flush();
      lab.settle();
      // and A's packets for B and C in its seal job, still being filled
      a.tun.inject(...toB.flatMap((p, k) => [p, toC[k]!]));
      assert.ok(a.device.removePeer(c.device.publicKey!));
      await settle(lab, nodes);
      assert.deepEqual(b.tun.drain().map(hex), toB.map(hex));
      assert.equal(c.tun.drain().length, 0);
      assert.equal(a.tun.drain().length, 0);
      assert.equal(a.device.drops.noRoute, 20);
      assert.equal(a.device.drops.unknownKeypair, 5); // retired while being opened
      assert.equal(a.device.drops.notAllowed, 0);
      await closeAll(nodes);
    });
  });
}

describe('crypto pool failures and shutdown', { timeout: 120_000 }, () => {
  it('a crashed worker drops and counts its batch and restarts; past the limit, inline', async () => {
    const errors: string[] = [];
    const logger: Logger = { verbose() {}, error: (m) => errors.push(m) };
    const { lab, a, b, nodes } = await poolPair(1, { logger });
    const pool = a.device.pool!;
    const batch = (n: number) =>
      Array.from({ length: 10 }, (_, k) => ip('10.59.0.1', '10.59.0.2', numbered(n * 10 + k, 30)));
    for (let crash = 1; crash <= 3; crash++) {
      pool.crashNextJob = true;
      a.tun.inject(...batch(crash));
      await settle(lab, nodes);
      assert.equal(b.tun.drain().length, 0, `crash ${crash}: the batch was lost`);
      assert.equal(a.device.drops.cryptoFailed, 10 * crash);
      assert.equal(pool.restarts, crash);
      assert.ok(pool.active);
      const after = batch(10 + crash);
      a.tun.inject(...after);
      await settle(lab, nodes);
      assert.deepEqual(b.tun.drain().map(hex), after.map(hex), `crash ${crash}: restarted`);
    }
    assert.equal(errors.filter((e) => /restarting it/.test(e)).length, 3);

    pool.crashNextJob = true;
    a.tun.inject(...batch(4));
    await settle(lab, nodes);
    assert.equal(a.device.drops.cryptoFailed, 40);
    assert.equal(pool.active, false);
    assert.equal(a.device.activePool, null);
    assert.ok(errors.some((e) => /crypto pool is disabled, running inline/.test(e)));
    const inline = batch(20);
    a.tun.inject(...inline);
    await settle(lab, nodes);
    assert.deepEqual(b.tun.drain().map(hex), inline.map(hex));
    await closeAll(nodes);
  });

  it('close() terminates every worker; flush() is immediate inline', async () => {
    const { lab, a, b, nodes } = await poolPair(2);
    const threads = [...a.device.pool!.threads, ...b.device.pool!.threads];
    assert.equal(threads.length, 4);
    const exits = threads.map((t) => once(t, 'exit'));
    a.tun.inject(...Array.from({ length: 200 }, (_, k) => ip('10.59.0.1', '10.59.0.2', k + 4)));
    lab.settle();
    await closeAll(nodes); // with jobs in flight
    await Promise.all(exits);
    assert.equal(a.device.pool!.active, false);
    const inline = new Device();
    await inline.flush();
    assert.equal(inline.pool, null);
    await inline.close();
  });

  it('a process with pooled devices exits by itself after close (and with idle ones open)', () => {
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const helper = fileURLToPath(new URL('./crypto-pool.helper.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', helper], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.signal, null, `killed: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /delivered 300 of 300/);
  });
});
