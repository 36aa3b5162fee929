// SPDX-License-Identifier: MIT
/**
 * UDP segmentation offloads of `UdpBind` (`native/udpio.c`) on loopback: runs of equal-sized
 * datagrams to one endpoint leave as UDP_SEGMENT messages and arrive through UDP_GRO cut back
 * into the same datagrams, in order, interleaved destinations and sizes never merged wrongly;
 * a plain socket sees the kernel's segmentation; `offload: false` (the portable path) moves the
 * same bytes a datagram per message. Usage counters prove which path ran; where the kernel
 * lacks an offload, its assertions are skipped, never the data checks.
 * @module
 */

import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { PacketBatch } from '../src/batch.ts';
import { UdpBind } from '../src/bind-udp.ts';

const linux = process.platform === 'linux' ? false : 'needs Linux (native addon)';
const binds: UdpBind[] = [];
after(async () => {
  for (const b of binds) await b.close();
});

async function open(offload: boolean): Promise<[UdpBind, number]> {
  const b = new UdpBind({ offload });
  binds.push(b);
  return [b, await b.open(0)];
}

/** Copies of what `bind` delivers until `n` datagrams arrived. */
function collect(bind: UdpBind, n: number, ms = 5000): Promise<Buffer[]> {
  const got: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`got ${got.length} of ${n} datagrams`)), ms);
    bind.setReceiver((b) => {
      for (let i = 0; i < b.count; i++) if (b.lengths[i]! > 0) got.push(Buffer.from(b.packet(i)));
      if (got.length >= n) {
        clearTimeout(t);
        resolve(got);
      }
    });
  });
}

/** Datagram k: `size` bytes, each its number, with k in the first two bytes. */
function datagram(k: number, size: number): Uint8Array {
  const d = new Uint8Array(size).fill(k & 0xff);
  d[0] = k >> 8;
  d[1] = k & 0xff;
  return d;
}

describe('UdpBind offloads', { skip: linux }, () => {
  for (const offload of [true, false]) {
    it(`${offload ? 'GSO and GRO' : 'portable path'}: runs of equal sizes, a short tail, order kept`, async () => {
      const [a] = await open(offload);
      const [b, pb] = await open(offload);
      const dst = a.parseEndpoint(`127.0.0.1:${pb}`);
      const sent: Uint8Array[] = [];
      const tx = new PacketBatch(200, 2048);
      // 100 of 1200 B (over the 64-segment limit), a 500 B tail, then 90 of 1452 B, then 1 B
      for (let k = 0; k < 100; k++) sent.push(datagram(k, 1200));
      sent.push(datagram(100, 500));
      for (let k = 101; k < 191; k++) sent.push(datagram(k, 1452));
      sent.push(new Uint8Array([7]));
      for (const d of sent) assert.ok(tx.push(d, dst, 16));
      const arriving = collect(b, sent.length);
      a.send(tx);
      const got = await arriving;
      assert.equal(a.stats.txPackets, sent.length);
      assert.deepEqual(
        got.map((g) => g.toString('hex')),
        sent.map((d) => Buffer.from(d).toString('hex'))
      );
      const tx0 = a.offloads;
      const rx0 = b.offloads;
      if (!offload) {
        assert.deepEqual(
          [tx0.gso, tx0.gsoMessages, rx0.gro, rx0.groMessages],
          [false, 0, false, 0]
        );
      } else {
        if (tx0.gso) assert.ok(tx0.gsoMessages >= 3, `${tx0.gsoMessages} GSO messages`);
        if (tx0.gso && rx0.gro) assert.ok(rx0.groMessages >= 1, 'nothing came through GRO');
      }
    });
  }

  it('never merges datagrams for different endpoints or after a shorter one', async () => {
    const [a] = await open(true);
    const [b, pb] = await open(true);
    const [c, pc] = await open(true);
    const toB = a.parseEndpoint(`127.0.0.1:${pb}`);
    const toC = a.parseEndpoint(`127.0.0.1:${pc}`);
    const tx = new PacketBatch(120, 2048);
    const forB: string[] = [];
    const forC: string[] = [];
    for (let k = 0; k < 120; k++) {
      const toOther = k % 3 === 0;
      const d = datagram(k, k % 10 === 5 ? 700 : 1000);
      tx.push(d, toOther ? toC : toB, 16);
      (toOther ? forC : forB).push(Buffer.from(d).toString('hex'));
    }
    const atB = collect(b, forB.length);
    const atC = collect(c, forC.length);
    a.send(tx);
    assert.deepEqual(
      (await atB).map((g) => g.toString('hex')),
      forB
    );
    assert.deepEqual(
      (await atC).map((g) => g.toString('hex')),
      forC
    );
  });

  it('a plain socket receives a GSO batch as separate datagrams', async () => {
    const [a] = await open(true);
    const plain = createSocket('udp4');
    plain.bind(0, '127.0.0.1');
    await once(plain, 'listening');
    const sizes: number[] = [];
    const done = new Promise<void>((resolve) => {
      plain.on('message', (m) => {
        sizes.push(m.length);
        if (sizes.length === 41) resolve();
      });
    });
    const tx = new PacketBatch(41, 2048);
    const dst = a.parseEndpoint(`127.0.0.1:${plain.address().port}`);
    for (let k = 0; k < 40; k++) tx.push(datagram(k, 1400), dst, 16);
    tx.push(datagram(40, 3), dst, 16);
    a.send(tx);
    await done;
    plain.close();
    assert.deepEqual(sizes, [...new Array(40).fill(1400), 3]);
    if (a.offloads.gso) assert.equal(a.offloads.gsoMessages, 1);
  });
});
