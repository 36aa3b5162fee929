// SPDX-License-Identifier: MIT
/**
 * Helper process of `crypto.test.ts`: argv[2] full handshakes in a row between two devices on
 * `nodeCrypto` (initiation, response, both sessions; the loop of `npm run bench`), so two fresh
 * ephemeral keys and six DHs each, then `done N`. Run with a small young generation
 * (`--max-semi-space-size=1`) so that garbage collections come often: keys made with
 * `generateKeyPairSync('x25519')` and read back by a JWK export deadlock Node 20 for good when
 * one lands inside the export (`src/crypto-node.ts`); this loop on that path hung in each of 6
 * runs here, before 8,000 handshakes, and the process then never prints.
 *   node --max-semi-space-size=1 --conditions=source --import tsx crypto-handshakes.helper.ts N
 * @module
 */

import { FakeClock } from '../src/clock-fake.ts';
import { nodeCrypto } from '../src/crypto-node.ts';
import { Device } from '../src/device.ts';
import {
  beginSymmetricSession,
  consumeMessageInitiation,
  consumeMessageResponse,
  createMessageInitiation,
  createMessageResponse,
} from '../src/noise.ts';

const n = Number(process.argv[2] ?? 10_000);
const clock = new FakeClock();
let wall = Date.UTC(2026, 0, 1);
// a later TAI64N timestamp each round: the responder refuses a replayed one
clock.wallNow = () => (wall += 1000);
const a = new Device({ crypto: nodeCrypto, clock });
const b = new Device({ crypto: nodeCrypto, clock });
a.setPrivateKey(nodeCrypto.generatePrivateKey().privateKey);
b.setPrivateKey(nodeCrypto.generatePrivateKey().privateKey);
const peerB = a.addPeer(b.publicKey!)!;
b.addPeer(a.publicKey!);
const initiation = new Uint8Array(148);
const response = new Uint8Array(92);
let done = 0;
for (let i = 0; i < n; i++) {
  if (!createMessageInitiation(a, peerB, initiation)) break;
  const peerA = consumeMessageInitiation(b, initiation);
  if (!peerA) break;
  peerA.handshake.lastInitiationConsumed = Number.NEGATIVE_INFINITY; // no flood limit here
  if (!createMessageResponse(b, peerA, response)) break;
  const peer = consumeMessageResponse(a, response);
  if (!peer) break;
  a.retire([beginSymmetricSession(a, peer)?.keypair ?? null]);
  b.retire([beginSymmetricSession(b, peerA)?.keypair ?? null]);
  done++;
}
console.log(`done ${done}`);
