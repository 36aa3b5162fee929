// SPDX-License-Identifier: MIT
/**
 * Helper process of `crypto.test.ts`: makes argv[2] X25519 keys in a row with
 * `nodeCrypto.generatePrivateKey()`, as a handshake flood does (one ephemeral per handshake
 * message), and prints `made N`. Run with a small young generation (`--max-semi-space-size=1`)
 * so that garbage collections come often: `generateKeyPairSync('x25519')` followed by a JWK
 * export deadlocks Node 20 for good when one lands inside the export (`src/crypto-node.ts`), and
 * this process then never prints.
 *   node --max-semi-space-size=1 --conditions=source --import tsx crypto-keygen.helper.ts N
 * @module
 */

import { nodeCrypto } from '../src/crypto-node.ts';

const n = Number(process.argv[2] ?? 100_000);
let clamped = 0;
for (let i = 0; i < n; i++) {
  const key = nodeCrypto.generatePrivateKey();
  if ((key.privateKey[0]! & 7) === 0 && (key.privateKey[31]! & 0xc0) === 0x40) clamped++;
}
console.log(`made ${clamped}`);
