// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nobleCrypto } from '../src/crypto-noble.ts';
import { nodeCrypto } from '../src/crypto-node.ts';
import {
  beginSymmetricSession,
  CONSTRUCTION,
  consumeMessageInitiation,
  consumeMessageResponse,
  createMessageInitiation,
  createMessageResponse,
  HandshakeState,
  IDENTIFIER,
  initialChainKeyAndHash,
  receivedWithKeypair,
} from '../src/noise.ts';
import { GOLDEN, goldenDevices } from './_golden.ts';
import { hex } from './_packets.ts';

// Pinned from this implementation with the inputs of _golden.ts; identical on both backends, and
// checked once against stock wireguard-go 0.0.20220316 (Debian): it accepted this initiation
// (preshared key set) and answered with a response this implementation consumed.
const GOLDEN_INITIATION =
  '0100000044332211739034ca47db791ad25277c619601febfaac6119c5acd16301017ee7de0582559c4e7c54' +
  '84fa500ed8457fd27d928f26559fc54150656c892565c5b2444aa38705ace4b52b7083555db3e13f927009' +
  'bdefa6af3a72695f28f8f695c745bf820748e641604418ba55c5ce0f0c756de0f56426b5147830d5abaa44' +
  '545200000000000000000000000000000000';
const GOLDEN_RESPONSE_PSK =
  '0200000088776655443322118568e018964674c674a0c4e1d0dd1ae761560ae8442c23d5620c900a1fdcf145' +
  '1c7416afec8d17ffd0771ac63d35fe0333684c58a3dba7adfc958177c09d1a2600000000000000000000000000000000';
const GOLDEN_RESPONSE_NO_PSK =
  '0200000088776655443322118568e018964674c674a0c4e1d0dd1ae761560ae8442c23d5620c900a1fdcf145' +
  '8b5f68ee2365e8ab31a3d71efcdd2c893266e1a513c13919cac38c8a813bcfee00000000000000000000000000000000';

for (const crypto of [nodeCrypto, nobleCrypto]) {
  describe(`noise (${crypto.name})`, () => {
    it('derives C0 and H0 from the construction and identifier', () => {
      const { ck, h } = initialChainKeyAndHash(crypto);
      assert.equal(CONSTRUCTION.length, 37);
      assert.equal(IDENTIFIER.length, 34);
      assert.equal(hex(ck), '60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36');
      assert.equal(hex(h), '2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3');
    });

    for (const psk of [true, false]) {
      it(`golden handshake byte for byte, ${psk ? 'with' : 'without'} preshared key`, () => {
        const g = goldenDevices(crypto, psk);
        const init = new Uint8Array(148);
        assert.ok(createMessageInitiation(g.initiator, g.peerR, init));
        g.peerR.cookieGenerator.addMacs(init);
        assert.equal(hex(init), GOLDEN_INITIATION);

        const peer = consumeMessageInitiation(g.responder, init);
        assert.equal(peer, g.peerI);
        const resp = new Uint8Array(92);
        assert.ok(createMessageResponse(g.responder, g.peerI, resp));
        g.peerI.cookieGenerator.addMacs(resp);
        assert.equal(hex(resp), psk ? GOLDEN_RESPONSE_PSK : GOLDEN_RESPONSE_NO_PSK);

        // both sides reach the same transcript hash and chaining key before deriving
        assert.equal(consumeMessageResponse(g.initiator, resp), g.peerR);
        assert.equal(hex(g.peerR.handshake.hash), hex(g.peerI.handshake.hash));
        assert.equal(hex(g.peerR.handshake.chainKey), hex(g.peerI.handshake.chainKey));

        const i = beginSymmetricSession(g.initiator, g.peerR)!;
        const r = beginSymmetricSession(g.responder, g.peerI)!;
        assert.equal(hex(i.keypair.sendKey), hex(r.keypair.receiveKey));
        assert.equal(hex(i.keypair.receiveKey), hex(r.keypair.sendKey));
        assert.notEqual(hex(i.keypair.sendKey), hex(i.keypair.receiveKey));
        assert.equal(i.keypair.remoteIndex, GOLDEN.responderIndex);
        assert.equal(r.keypair.remoteIndex, GOLDEN.initiatorIndex);
        // initiator sends at once; responder parks the keypair in `next` until confirmed
        assert.equal(g.peerR.keypairs.current, i.keypair);
        assert.equal(g.peerI.keypairs.next, r.keypair);
        assert.equal(g.peerI.keypairs.current, null);
        assert.ok(receivedWithKeypair(g.peerI.keypairs, r.keypair, []));
        assert.equal(g.peerI.keypairs.current, r.keypair);
        assert.equal(g.peerR.handshake.state, HandshakeState.zeroed);
        assert.equal(hex(g.peerR.handshake.chainKey), '00'.repeat(32));
      });
    }

    it('completes a handshake in the other role too (responder initiates)', () => {
      const g = goldenDevices(crypto);
      const init = new Uint8Array(148);
      assert.ok(createMessageInitiation(g.responder, g.peerI, init));
      assert.equal(consumeMessageInitiation(g.initiator, init), g.peerR);
      const resp = new Uint8Array(92);
      assert.ok(createMessageResponse(g.initiator, g.peerR, resp));
      assert.equal(consumeMessageResponse(g.responder, resp), g.peerI);
      const a = beginSymmetricSession(g.responder, g.peerI)!;
      const b = beginSymmetricSession(g.initiator, g.peerR)!;
      assert.equal(hex(a.keypair.sendKey), hex(b.keypair.receiveKey));
    });

    it('rejects a replayed initiation and a stale timestamp', () => {
      const g = goldenDevices(crypto);
      const init = new Uint8Array(148);
      createMessageInitiation(g.initiator, g.peerR, init);
      assert.equal(consumeMessageInitiation(g.responder, init), g.peerI);
      g.clock.advance(1000);
      // the very same bytes again: timestamp not newer
      assert.equal(consumeMessageInitiation(g.responder, init), null);
      // a fresh initiation made with a wall clock stepped back: stale
      g.clock.stepWall(-60_000);
      const old = new Uint8Array(148);
      createMessageInitiation(g.initiator, g.peerR, old);
      assert.equal(consumeMessageInitiation(g.responder, old), null);
      // and forward again: accepted
      g.clock.stepWall(120_000);
      const fresh = new Uint8Array(148);
      createMessageInitiation(g.initiator, g.peerR, fresh);
      assert.equal(consumeMessageInitiation(g.responder, fresh), g.peerI);
    });

    it('rejects a second initiation within 20 ms (flood)', () => {
      const g = goldenDevices(crypto);
      const a = new Uint8Array(148);
      createMessageInitiation(g.initiator, g.peerR, a);
      assert.equal(consumeMessageInitiation(g.responder, a), g.peerI);
      g.clock.advance(5);
      g.clock.stepWall(5_000); // newer timestamp, but too soon after the last one
      const b = new Uint8Array(148);
      createMessageInitiation(g.initiator, g.peerR, b);
      assert.equal(consumeMessageInitiation(g.responder, b), null);
      g.clock.advance(20);
      assert.equal(consumeMessageInitiation(g.responder, b), g.peerI);
    });

    it('rejects initiations and responses with any flipped bit in their AEAD parts', () => {
      const g = goldenDevices(crypto);
      const init = new Uint8Array(148);
      createMessageInitiation(g.initiator, g.peerR, init);
      for (const bit of [8 * 8, 40 * 8 + 3, 87 * 8 + 7, 88 * 8, 115 * 8 + 1]) {
        const bad = init.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        assert.equal(consumeMessageInitiation(g.responder, bad), null, `bit ${bit}`);
      }
      assert.equal(g.peerI.handshake.state, HandshakeState.zeroed);
      assert.equal(consumeMessageInitiation(g.responder, init), g.peerI);
      const resp = new Uint8Array(92);
      createMessageResponse(g.responder, g.peerI, resp);
      for (const bit of [12 * 8, 44 * 8 + 5, 59 * 8 + 7]) {
        const bad = resp.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        assert.equal(consumeMessageResponse(g.initiator, bad), null, `bit ${bit}`);
      }
      assert.equal(g.peerR.handshake.state, HandshakeState.initiationCreated);
      assert.equal(consumeMessageResponse(g.initiator, resp), g.peerR);
    });

    it('refuses a response with an unknown receiver index or in the wrong state', () => {
      const g = goldenDevices(crypto);
      const init = new Uint8Array(148);
      createMessageInitiation(g.initiator, g.peerR, init);
      consumeMessageInitiation(g.responder, init);
      const resp = new Uint8Array(92);
      createMessageResponse(g.responder, g.peerI, resp);
      const wrongIndex = resp.slice();
      wrongIndex[8]! ^= 0xff;
      assert.equal(consumeMessageResponse(g.initiator, wrongIndex), null);
      assert.equal(consumeMessageResponse(g.initiator, resp), g.peerR);
      // consumed once: a second copy finds the handshake no longer waiting
      assert.equal(consumeMessageResponse(g.initiator, resp), null);
    });

    it('refuses peers whose static-static DH is zero, and zero ephemeral DH', () => {
      const g = goldenDevices(crypto);
      // a low-order public key: DH with it is all zeros
      const lowOrder = new Uint8Array(32);
      lowOrder[0] = 1;
      const bad = g.initiator.addPeer(lowOrder)!;
      assert.equal(bad.handshake.staticStaticValid, false);
      assert.equal(createMessageInitiation(g.initiator, bad, new Uint8Array(148)), false);
      // an initiation whose ephemeral is a low-order point is refused by the responder
      const init = new Uint8Array(148);
      createMessageInitiation(g.initiator, g.peerR, init);
      init.fill(0, 8, 40);
      init[8] = 1;
      assert.equal(consumeMessageInitiation(g.responder, init), null);
    });

    it('does not handshake with a peer it does not know', () => {
      const g = goldenDevices(crypto);
      const init = new Uint8Array(148);
      createMessageInitiation(g.initiator, g.peerR, init);
      g.responder.removePeer(g.initiator.publicKey!);
      assert.equal(consumeMessageInitiation(g.responder, init), null);
    });
  });
}
