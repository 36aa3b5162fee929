// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../src/clock-fake.ts';
import { CookieChecker, CookieGenerator } from '../src/cookie.ts';
import { nobleCrypto } from '../src/crypto-noble.ts';
import { nodeCrypto } from '../src/crypto-node.ts';
import { readU32 } from '../src/messages.ts';
import { pair } from './_harness.ts';
import { ip } from './_packets.ts';

const enc = new TextEncoder();

for (const crypto of [nodeCrypto, nobleCrypto]) {
  describe(`cookie (${crypto.name})`, () => {
    const setup = () => {
      const clock = new FakeClock();
      const responder = crypto.generatePrivateKey();
      const checker = new CookieChecker(crypto, () => clock.now());
      checker.init(responder.publicKey);
      const generator = new CookieGenerator(crypto, () => clock.now(), responder.publicKey);
      const msg = new Uint8Array(148);
      crypto.randomBytes(msg.subarray(0, 116));
      return { clock, checker, generator, msg };
    };

    it('mac1 verifies only for the right key and unmodified message', () => {
      const { checker, generator, msg } = setup();
      generator.addMacs(msg);
      assert.ok(checker.checkMAC1(msg));
      const tampered = msg.slice();
      tampered[10]! ^= 1;
      assert.equal(checker.checkMAC1(tampered), false);
      const other = new CookieChecker(crypto, () => 0);
      other.init(crypto.generatePrivateKey().publicKey);
      assert.equal(other.checkMAC1(msg), false);
      // mac2 is zero without a cookie
      assert.ok(msg.subarray(132).every((x) => x === 0));
    });

    it('a cookie reply lets the next message carry a mac2 bound to the source address', () => {
      const { clock, checker, generator, msg } = setup();
      const src = enc.encode('192.0.2.7:40000');
      generator.addMacs(msg);
      assert.equal(checker.checkMAC2(msg, src), false);
      const reply = new Uint8Array(64);
      assert.ok(checker.createReply(msg, 0xabcdef01, src, reply));
      assert.equal(readU32(reply, 0), 3);
      assert.equal(readU32(reply, 4), 0xabcdef01);
      assert.ok(generator.consumeReply(reply));
      assert.ok(generator.hasCookie());
      // a reply can be consumed only against the mac1 it answered
      const again = msg.slice();
      again[20]! ^= 1;
      generator.addMacs(again);
      assert.equal(generator.consumeReply(reply), false);

      const next = new Uint8Array(148);
      crypto.randomBytes(next.subarray(0, 116));
      generator.addMacs(next);
      assert.ok(checker.checkMAC1(next));
      assert.ok(checker.checkMAC2(next, src));
      assert.equal(checker.checkMAC2(next, enc.encode('192.0.2.8:40000')), false);
      // the cookie expires after 120 s
      clock.advance(121_000);
      const late = new Uint8Array(148);
      generator.addMacs(late);
      assert.ok(late.subarray(132).every((x) => x === 0));
      assert.equal(checker.checkMAC2(next, src), false);
    });

    it('refuses a tampered cookie reply', () => {
      const { checker, generator, msg } = setup();
      generator.addMacs(msg);
      const reply = new Uint8Array(64);
      checker.createReply(msg, 1, enc.encode('x'), reply);
      reply[40]! ^= 1;
      assert.equal(generator.consumeReply(reply), false);
      assert.equal(generator.hasCookie(), false);
    });
  });
}

describe('under load', () => {
  it('a flood of initiations with valid mac1 draws cookie replies; the tunnel keeps working', async () => {
    const { lab, a, b } = await pair();
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    lab.settle();
    assert.equal(b.tun.drain().length, 1);

    // capture one initiation A makes (valid mac1 for B), then replay it from many sources
    let initiation: Uint8Array | null = null;
    lab.network.tap = (d) => {
      if (readU32(d.data, 0) === 1) initiation = d.data.slice();
      return false;
    };
    const peerB = a.device.getPeer(b.device.publicKey!)!;
    peerB.lastSentHandshake = Number.NEGATIVE_INFINITY;
    (await import('../src/send.ts')).sendHandshakeInitiation(a.device, peerB, false);
    lab.network.deliver();
    assert.ok(initiation);

    let cookieReplies = 0;
    let repliesToFlood = 0;
    lab.network.tap = (d) => {
      if (readU32(d.data, 0) === 3) {
        cookieReplies++;
        if (d.to.address.startsWith('203.0.113.')) repliesToFlood++;
      }
      return !d.to.address.startsWith('203.0.113.');
    };
    const to = lab.network.endpoint('198.51.100.2', 51821);
    for (let k = 0; k < 400; k++) {
      lab.network.inject(
        lab.network.endpoint(`203.0.113.${1 + (k % 250)}`, 1000 + k),
        to,
        initiation
      );
    }
    // data keeps flowing while the handshake queue is full of the flood
    a.tun.inject(ip('10.59.0.1', '10.59.0.2', 40));
    lab.network.deliver();
    assert.equal(b.tun.drain().length, 1);
    assert.ok(b.device.handshakeQueue.length >= 128);
    lab.settle();
    // under load from the first message on (and for 1 s after): every one gets a cookie reply,
    // none reaches the DH work of consumption
    const rejected = b.device.drops.handshakeRejected;
    assert.equal(repliesToFlood, 400);
    assert.equal(cookieReplies, b.device.cookieRepliesSent);
    assert.equal(b.device.drops.handshakeRejected, rejected);
    a.tun.inject(ip('10.59.0.1', '10.59.0.2', 40));
    b.tun.inject(ip('10.59.0.2', '10.59.0.1', 40));
    lab.settle();
    assert.equal(b.tun.drain().length, 1);
    assert.equal(a.tun.drain().length, 1);
  });
});
