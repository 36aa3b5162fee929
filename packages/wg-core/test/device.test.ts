// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pair, sealWithCounter } from './_harness.ts';
import { hex, ip } from './_packets.ts';

describe('two in-memory devices', () => {
  it('exchange IPv4 and IPv6 packets both ways after one handshake', async () => {
    const { lab, a, b, peerA, peerB } = await pair();
    const handshakes: string[] = [];
    a.device.on('handshake', () => handshakes.push('a'));
    b.device.on('handshake', () => handshakes.push('b'));

    const p1 = ip('10.59.0.1', '10.59.0.2', 100);
    a.tun.inject(p1);
    lab.settle();
    assert.deepEqual(b.tun.drain().map(hex), [hex(p1)]);
    assert.deepEqual(handshakes.sort(), ['a', 'b']);

    const p2 = ip('fd59::2', 'fd59::1', 300);
    const p3 = ip('10.59.0.2', '10.59.0.1', 1);
    b.tun.inject(p2, p3);
    lab.settle();
    assert.deepEqual(a.tun.drain().map(hex), [hex(p2), hex(p3)]);

    const sa = a.device.stats(peerB);
    const sb = b.device.stats(peerA);
    assert.equal(sa.endpoint, '198.51.100.2:51821');
    assert.equal(sb.endpoint, '192.0.2.1:51820');
    assert.ok(sa.lastHandshakeTime > 0 && sb.lastHandshakeTime > 0);
    assert.equal(sa.txBytes, sb.rxBytes);
    assert.equal(sb.txBytes, sa.rxBytes);
    assert.deepEqual(sa.allowedIPs, ['10.59.0.2/32', 'fd59::2/128']);
  });
});

describe('device behaviour', () => {
  it('pads plaintext to 16 bytes, never past the MTU', async () => {
    const { lab, a, b } = await pair();
    const sizes: number[] = [];
    lab.network.tap = (d) => {
      if (d.data[0] === 4 && d.data.length > 32) sizes.push(d.data.length);
      return true;
    };
    for (const n of [21, 32, 33, 1419, 1420]) a.tun.inject(ip('10.59.0.1', '10.59.0.2', n - 20));
    lab.settle();
    assert.deepEqual(sizes, [32 + 32, 32 + 32, 32 + 48, 32 + 1420, 32 + 1420]);
    assert.deepEqual(
      b.tun.drain().map((p) => p.length),
      [21, 32, 33, 1419, 1420]
    );
  });

  it('roams to the source of authenticated packets, never to replays or forgeries', async () => {
    const { lab, a, b, peerB } = await pair();
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    lab.settle();
    let captured: Uint8Array | null = null;
    lab.network.tap = (d) => {
      if (d.data[0] === 4 && d.data.length > 32 && d.from.address === '198.51.100.2') {
        captured = d.data.slice();
      }
      return true;
    };
    // B moves to another port: A follows
    await b.device.setListenPort(51999);
    b.tun.inject(ip('10.59.0.2', '10.59.0.1'));
    lab.settle();
    assert.equal(a.device.stats(peerB).endpoint, '198.51.100.2:51999');
    assert.equal(a.tun.drain().length, 1);
    assert.ok(captured);

    // the same datagram replayed from elsewhere: dropped, endpoint unchanged
    const evil = lab.network.endpoint('203.0.113.66', 6666);
    const to = lab.network.endpoint('192.0.2.1', 51820);
    const replayed = a.device.drops.replayed;
    lab.network.inject(evil, to, captured);
    // a forgery with a valid header and a bad tag
    const forged = (captured as Uint8Array).slice();
    forged[forged.length - 1]! ^= 1;
    forged[8]! ^= 0x40; // a new counter, so only the tag can refuse it
    const failed = a.device.drops.decryptFailed;
    lab.network.inject(evil, to, forged);
    lab.settle();
    assert.equal(a.device.drops.replayed, replayed + 1);
    assert.equal(a.device.drops.decryptFailed, failed + 1);
    assert.equal(a.device.stats(peerB).endpoint, '198.51.100.2:51999');
    assert.equal(a.tun.drain().length, 0);
  });

  it('drops packets from a source outside the peer’s allowed IPs, and unroutable ones', async () => {
    const { lab, a, b } = await pair();
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    lab.settle();
    b.device.addAllowedIP(
      b.device.getPeer(a.device.publicKey!)!,
      (await import('../src/allowedips.ts')).parsePrefix('10.59.7.0/24')
    );
    b.tun.inject(ip('10.59.0.99', '10.59.7.5')); // spoofed source 10.59.0.99 is not B's
    lab.settle();
    assert.equal(a.tun.drain().length, 0);
    assert.equal(a.device.drops.notAllowed, 1);
    a.tun.inject(ip('10.59.0.1', '10.59.9.9'), ip('fd59::1', 'fd59::99'));
    assert.equal(a.device.drops.noRoute, 2);
  });

  it('drops transport packets at the reject limit, with a flipped tag, or with reserved bits', async () => {
    const { lab, a, b, peerB } = await pair();
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    lab.settle();
    b.tun.drain();
    const kp = peerB.keypairs.current!;
    const seal = (counter: bigint, packet: Uint8Array) =>
      sealWithCounter(lab.crypto, kp, counter, packet);
    const from = lab.network.endpoint('192.0.2.1', 51820);
    const to = lab.network.endpoint('198.51.100.2', 51821);
    const packet = ip('10.59.0.1', '10.59.0.2', 12);
    const reject = 2n ** 64n - 2n ** 13n - 1n;
    const drops = b.device.drops;
    const before = { ...drops };

    const good = seal(1000n, packet);
    const flipped = good.slice();
    flipped[20]! ^= 0x01;
    const reserved = good.slice();
    reserved[1] = 1;
    lab.network.inject(from, to, flipped);
    lab.network.inject(from, to, reserved);
    lab.network.inject(from, to, good);
    lab.network.inject(from, to, good); // replayed
    lab.network.inject(from, to, seal(reject, packet)); // at the limit
    lab.network.inject(from, to, seal(reject + 1n, packet));
    lab.network.inject(from, to, seal(reject - 1n, packet)); // just below: accepted
    lab.network.inject(from, to, seal(reject - 1n, packet)); // and now replayed
    lab.settle();
    assert.equal(drops.decryptFailed, before.decryptFailed + 1);
    assert.equal(drops.malformed, before.malformed + 1);
    assert.equal(drops.replayed, before.replayed + 4);
    assert.equal(b.tun.drain().length, 2);
  });

  it('removing a peer stops its traffic at once; other peers keep flowing', async () => {
    const { lab, a, b } = await pair();
    const c = await lab.node('203.0.113.3', 51822);
    lab.connect(a, c, ['10.59.0.3/32']);
    lab.connect(c, a, ['10.59.0.1/32']);
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'), ip('10.59.0.1', '10.59.0.3'));
    lab.settle();
    assert.equal(b.tun.drain().length, 1);
    assert.equal(c.tun.drain().length, 1);

    assert.ok(a.device.removePeer(c.device.publicKey!));
    assert.equal(a.device.peerCount, 1);
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'), ip('10.59.0.1', '10.59.0.3'));
    c.tun.inject(ip('10.59.0.3', '10.59.0.1'));
    lab.settle();
    assert.equal(b.tun.drain().length, 1);
    assert.equal(c.tun.drain().length, 0);
    assert.deepEqual(a.tun.drain().length, 0);
    assert.equal(a.device.drops.noRoute, 1);
    assert.ok(a.device.drops.unknownKeypair >= 1);
  });
});
