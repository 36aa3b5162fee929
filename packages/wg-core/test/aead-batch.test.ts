// SPDX-License-Identifier: MIT
/**
 * The batch transport AEAD (`aead-batch.ts`, `native/aead.c`): every backend seals a batch of
 * transport messages (several keys, counters past 2^32, empty and odd-sized bodies) to the same
 * bytes as a single node:crypto seal with the WireGuard nonce (node:crypto itself passes the
 * RFC 8439 vectors in `crypto.test.ts`, as does the native backend), opens them back, reports a
 * tampered packet alone, skips empty slots and refuses slots out of bounds; the per-batch
 * scratch copies a key once per keypair.
 * @module
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AeadScratch,
  aeadBatchOf,
  OP_OPEN,
  OP_SEAL,
  STATUS_AUTH_FAILED,
  STATUS_ERROR,
  STATUS_OK,
} from '../src/aead-batch.ts';
import type { Crypto } from '../src/crypto.ts';
import { nativeCrypto, nativeCryptoAvailable } from '../src/crypto-native.ts';
import { nobleCrypto } from '../src/crypto-noble.ts';
import { nodeCrypto } from '../src/crypto-node.ts';
import { Keypair } from '../src/keypair.ts';
import type { Peer } from '../src/peer.ts';

const backends: Crypto[] = [nodeCrypto, nobleCrypto];
if (nativeCryptoAvailable()) backends.push(nativeCrypto);

const SLOT = 2048;
const BODIES = [0, 16, 1, 1420, 64, 1500, 0, 333];
const COUNTERS = [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, 7, 8, 2 ** 53 - 1];

function key(n: number): Uint8Array {
  return Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + n * 31) & 0xff);
}

/** A batch of plaintext transport messages (header written, tag room empty) and its keys. */
function plainBatch() {
  const count = BODIES.length;
  const data = new Uint8Array(count * SLOT);
  const offsets = new Uint32Array(count);
  const lengths = new Uint32Array(count);
  const keys = new Uint8Array(3 * 32);
  for (let k = 0; k < 3; k++) keys.set(key(k), k * 32);
  const keyOf = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const off = i * SLOT + 8;
    offsets[i] = off;
    lengths[i] = 16 + BODIES[i]! + 16;
    keyOf[i] = i % 3;
    const view = new DataView(data.buffer, off, 16);
    view.setUint32(0, 4, true);
    view.setUint32(4, 0x1234 + i, true);
    view.setBigUint64(8, BigInt(COUNTERS[i]!), true);
    for (let b = 0; b < BODIES[i]!; b++) data[off + 16 + b] = (b * 13 + i) & 0xff;
  }
  return { count, data, offsets, lengths, keys, keyOf, status: new Uint8Array(count) };
}

/** The expected message: one node:crypto seal with nonce 0⁴ ‖ counter (little endian). */
function expected(data: Uint8Array, off: number, length: number, k: Uint8Array): Uint8Array {
  const nonce = new Uint8Array(12);
  nonce.set(data.subarray(off + 8, off + 16), 4);
  const body = BigInt(length) - 32n;
  const out = new Uint8Array(length);
  out.set(data.subarray(off, off + 16));
  nodeCrypto.aeadSeal(
    out.subarray(16),
    k,
    nonce,
    data.subarray(off + 16, off + 16 + Number(body)),
    null
  );
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('batch AEAD', () => {
  it('finds OpenSSL ChaCha20-Poly1305 in this Node (the native backend runs)', {
    skip: process.platform !== 'linux' && 'the addon is Linux only',
  }, () => {
    assert.equal(nativeCryptoAvailable(), true);
  });

  for (const crypto of backends) {
    it(`${crypto.name}: seals to the reference bytes and opens them back`, () => {
      const b = plainBatch();
      const want = Array.from({ length: b.count }, (_, i) =>
        expected(b.data, b.offsets[i]!, b.lengths[i]!, key(i % 3))
      );
      const aead = aeadBatchOf(crypto);
      const sealed = aead(
        OP_SEAL,
        b.data,
        b.offsets,
        b.lengths,
        b.count,
        b.keys,
        b.keyOf,
        b.status
      );
      assert.equal(sealed, b.count);
      assert.deepEqual([...b.status], new Array(b.count).fill(STATUS_OK));
      for (let i = 0; i < b.count; i++) {
        const off = b.offsets[i]!;
        assert.equal(hex(b.data.subarray(off, off + b.lengths[i]!)), hex(want[i]!), `packet ${i}`);
      }
      const opened = aead(
        OP_OPEN,
        b.data,
        b.offsets,
        b.lengths,
        b.count,
        b.keys,
        b.keyOf,
        b.status
      );
      assert.equal(opened, b.count);
      const fresh = plainBatch();
      for (let i = 0; i < b.count; i++) {
        const off = b.offsets[i]!;
        const body = b.lengths[i]! - 32;
        assert.equal(
          hex(b.data.subarray(off, off + 16 + body)),
          hex(fresh.data.subarray(off, off + 16 + body)),
          `plaintext ${i}`
        );
      }
    });

    it(`${crypto.name}: a tampered packet fails alone; empty and out-of-range slots`, () => {
      const b = plainBatch();
      const aead = aeadBatchOf(crypto);
      aead(OP_SEAL, b.data, b.offsets, b.lengths, b.count, b.keys, b.keyOf, b.status);
      b.data[b.offsets[3]! + 20]! ^= 1; // body bit
      b.data[b.offsets[5]! + b.lengths[5]! - 1]! ^= 0x80; // tag bit
      b.keyOf[6] = 1; // wrong key (the packet was sealed under key 0)
      b.lengths[1] = 0; // skipped: keeps its status
      b.status[1] = 9;
      b.lengths[7] = 8; // shorter than header + tag
      const ok = aead(OP_OPEN, b.data, b.offsets, b.lengths, b.count, b.keys, b.keyOf, b.status);
      assert.deepEqual(
        [...b.status],
        [
          STATUS_OK,
          9,
          STATUS_OK,
          STATUS_AUTH_FAILED,
          STATUS_OK,
          STATUS_AUTH_FAILED,
          STATUS_AUTH_FAILED,
          STATUS_ERROR,
        ]
      );
      assert.equal(ok, 3);
      b.offsets[0] = b.data.length - 20; // runs past the slab
      b.status.fill(0);
      aead(OP_SEAL, b.data, b.offsets, b.lengths, 1, b.keys, b.keyOf, b.status);
      assert.equal(b.status[0], STATUS_ERROR);
    });
  }

  it('all backends agree on a sealed batch over shared memory', () => {
    const outputs = backends.map((crypto) => {
      const b = plainBatch();
      const shared = new Uint8Array(new SharedArrayBuffer(b.data.length));
      shared.set(b.data);
      aeadBatchOf(crypto)(
        OP_SEAL,
        shared,
        b.offsets,
        b.lengths,
        b.count,
        b.keys,
        b.keyOf,
        b.status
      );
      return hex(shared);
    });
    for (const out of outputs) assert.equal(out, outputs[0]);
  });

  it('the scratch copies each keypair’s key once per batch and wipes them after', () => {
    const s = new AeadScratch(4);
    const k1 = new Keypair(key(1), key(2), true, 0, 1, 2);
    const k2 = new Keypair(key(3), key(4), false, 0, 3, 4);
    const peer = {} as Peer;
    s.begin(8);
    s.add(0, peer, k1, k1.sendKey);
    s.add(1, peer, k2, k2.sendKey);
    s.add(2, peer, k1, k1.sendKey);
    assert.deepEqual([...s.keyOf.subarray(0, 3)], [0, 1, 0]);
    assert.equal(hex(s.keys.subarray(32, 64)), hex(key(3)));
    assert.ok(s.capacity >= 8);
    s.end();
    assert.ok(s.keys.every((x) => x === 0));
    assert.deepEqual([s.peers[0], s.keypairs[2]], [null, null], 'packets forgotten');
    s.begin(8); // a new batch copies again
    s.add(0, peer, k2, k2.sendKey);
    assert.equal(s.keyOf[0], 0);
    assert.equal(hex(s.keys.subarray(0, 32)), hex(key(3)));
  });
});
