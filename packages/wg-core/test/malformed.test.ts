// SPDX-License-Identifier: MIT
// Garbage in every shape, to both a device's UDP side and its TUN side: dropped and counted,
// never answered, never thrown, and the tunnel still works afterwards.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DropCounters } from '../src/device.ts';
import { pair, sealWithCounter } from './_harness.ts';
import { ip } from './_packets.ts';

function total(d: DropCounters): number {
  return Object.values(d).reduce((x, y) => x + y, 0);
}

describe('malformed input', () => {
  it('random datagrams of every type and size are dropped, counted and never answered', async () => {
    const { lab, a, b } = await pair();
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    lab.settle();
    b.tun.drain();
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed;
    };
    const bytes = (n: number) => Uint8Array.from({ length: n }, () => rand() & 0xff);
    const evil = lab.network.endpoint('203.0.113.9', 9999);
    const to = lab.network.endpoint('198.51.100.2', 51821);
    let answers = 0;
    lab.network.tap = (d) => {
      if (d.to === evil) answers++;
      return true;
    };
    const cases: Uint8Array[] = [];
    for (const size of [0, 1, 3, 4, 15, 31, 32, 33, 63, 64, 65, 91, 92, 93, 147, 148, 149, 1500]) {
      for (let k = 0; k < 4; k++) cases.push(bytes(size));
    }
    for (const [type, size] of [
      [1, 148],
      [2, 92],
      [3, 64],
      [4, 32],
      [4, 100],
      [1, 147],
      [2, 93],
      [3, 63],
      [4, 31],
      [5, 148],
      [0, 148],
    ] as const) {
      for (let k = 0; k < 8; k++) {
        const m = bytes(size);
        m[0] = type;
        m[1] = m[2] = m[3] = 0;
        cases.push(m);
        const r = m.slice(); // same, with a reserved byte set
        r[1 + (k % 3)] = 1 + (k % 255);
        cases.push(r);
      }
    }
    const before = total(b.device.drops);
    for (const m of cases) lab.network.inject(evil, to, m);
    lab.settle();
    assert.equal(answers, 0);
    // a zero-length datagram is an empty slot in a batch: nothing to count
    const nonEmpty = cases.filter((m) => m.length > 0).length;
    assert.equal(total(b.device.drops) - before, nonEmpty);
    assert.equal(b.tun.drain().length, 0);

    // the TUN side: runts and non-IP packets
    const tunDrops = total(a.device.drops);
    a.tun.inject(
      new Uint8Array(0),
      new Uint8Array(1),
      bytes(19).fill(0x45, 0, 1),
      bytes(39).fill(0x60, 0, 1)
    );
    a.tun.inject(Uint8Array.of(0x10, 1, 2, 3));
    assert.equal(total(a.device.drops) - tunDrops, 4); // the empty slot is no packet at all

    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    b.tun.inject(ip('10.59.0.2', '10.59.0.1'));
    lab.settle();
    assert.equal(b.tun.drain().length, 1);
    assert.equal(a.tun.drain().length, 1);
  });

  it('decrypted payloads that are not one well-formed IP packet are dropped', async () => {
    const { lab, a, b, peerB } = await pair();
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    lab.settle();
    b.tun.drain();
    const kp = peerB.keypairs.current!;
    let counter = 100n;
    const seal = (packet: Uint8Array) => sealWithCounter(lab.crypto, kp, counter++, packet);
    const good = ip('10.59.0.1', '10.59.0.2', 30);
    const longer = good.slice();
    longer[3] = 200; // total length beyond the payload
    const short = good.slice();
    short[2] = 0;
    short[3] = 10; // total length below the header
    const v7 = good.slice();
    v7[0] = 0x75;
    const from = lab.network.endpoint('192.0.2.1', 51820);
    const to = lab.network.endpoint('198.51.100.2', 51821);
    const before = b.device.drops.invalidPacket;
    for (const p of [longer, short, v7, new Uint8Array(10).fill(0x45)]) {
      lab.network.inject(from, to, seal(p));
    }
    // padding is trimmed: the packet comes out at its own length
    const padded = new Uint8Array(good.length + 10);
    padded.set(good);
    lab.network.inject(from, to, seal(padded));
    lab.settle();
    assert.equal(b.device.drops.invalidPacket - before, 4);
    const out = b.tun.drain();
    assert.equal(out.length, 1);
    assert.equal(out[0]!.length, good.length);
  });
});
