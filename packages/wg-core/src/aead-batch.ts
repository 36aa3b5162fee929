// SPDX-License-Identifier: MIT
/**
 * The transport AEAD a batch at a time (kernel `send.c`/`receive.c` encrypt and decrypt whole
 * packet bundles; wireguard-go `RoutineEncryption` takes a slice of elements): the data path
 * makes every per-batch decision in TypeScript (peer, keypair, nonce and header, padding, then
 * the replay window after authentication) and hands the backend one call for the packet loop.
 * The native backend runs that loop in C on Node's OpenSSL (`crypto-native.ts`); node:crypto
 * and @noble run it here, a packet per call ({@link perPacketAead}).
 *
 * The contract, shared with `native/aead.c` and the crypto workers: slot i of a batch holds a
 * whole transport message at `offsets[i]`, `lengths[i]` bytes (16-byte header whose bytes 8..16
 * are the little-endian counter, the body, the 16-byte tag); a length of 0 is skipped. The key
 * is the 32 bytes at `keys[32 * keyOf[i]]`; the nonce is 4 zero bytes ‖ the counter. Seal
 * encrypts the padded body in place and writes the tag; open verifies and decrypts in place.
 * `status[i]` becomes STATUS_OK, STATUS_AUTH_FAILED or STATUS_ERROR.
 * @module
 */

import { IDEAL_BATCH_SIZE } from './batch.ts';
import { AEAD_NONCE_SIZE, AEAD_TAG_SIZE, type Crypto, KEY_SIZE } from './crypto.ts';
import type { Keypair } from './keypair.ts';
import { MESSAGE_TRANSPORT_HEADER_SIZE, TRANSPORT_OFFSET_COUNTER } from './messages.ts';
import type { Peer } from './peer.ts';

/** Seal (send) or open (receive). */
export const OP_SEAL = 1;
export const OP_OPEN = 2;
export type AeadOp = typeof OP_SEAL | typeof OP_OPEN;

/** Per-packet results. */
export const STATUS_OK = 0;
/** The tag did not verify (open only). */
export const STATUS_AUTH_FAILED = 1;
/** Out of bounds, a backend failure, or a crypto worker that crashed with the job. */
export const STATUS_ERROR = 2;

export type AeadBatchFn = (
  op: number,
  data: Uint8Array,
  offsets: Uint32Array,
  lengths: Uint32Array,
  count: number,
  keys: Uint8Array,
  keyOf: Uint32Array,
  status: Uint8Array
) => number;

const HEADER = MESSAGE_TRANSPORT_HEADER_SIZE;

/** The batch AEAD of `crypto`: its own when it has one, else a loop over its aeadSeal/aeadOpen. */
export function aeadBatchOf(crypto: Crypto): AeadBatchFn {
  const own = crypto.aeadBatch;
  return own ? own.bind(crypto) : perPacketAead(crypto);
}

/** The batch contract over a backend's single-packet calls (node:crypto, @noble). */
export function perPacketAead(crypto: Crypto): AeadBatchFn {
  const nonce = new Uint8Array(AEAD_NONCE_SIZE);
  const keyViews: Uint8Array[] = [];
  let viewsOf: Uint8Array | null = null;
  return (op, data, offsets, lengths, count, keys, keyOf, status) => {
    let ok = 0;
    for (let i = 0; i < count; i++) {
      const length = lengths[i]!;
      if (length === 0) continue;
      const off = offsets[i]!;
      const k = keyOf[i]!;
      if (length < HEADER + AEAD_TAG_SIZE || off + length > data.length) {
        status[i] = STATUS_ERROR;
        continue;
      }
      if (keys !== viewsOf) {
        keyViews.length = 0;
        viewsOf = keys;
      }
      let key = keyViews[k];
      if (key === undefined) {
        key = keys.subarray(k * KEY_SIZE, (k + 1) * KEY_SIZE);
        keyViews[k] = key;
      }
      const counter = off + TRANSPORT_OFFSET_COUNTER;
      for (let b = 0; b < 8; b++) nonce[4 + b] = data[counter + b]!;
      const body = off + HEADER;
      const end = off + length;
      try {
        if (op === OP_SEAL) {
          const n = length - HEADER - AEAD_TAG_SIZE;
          crypto.aeadSeal(
            data.subarray(body, end),
            key,
            nonce,
            data.subarray(body, body + n),
            null
          );
          status[i] = STATUS_OK;
        } else {
          const opened = crypto.aeadOpen(
            data.subarray(body, end - AEAD_TAG_SIZE),
            key,
            nonce,
            data.subarray(body, end),
            null
          );
          status[i] = opened ? STATUS_OK : STATUS_AUTH_FAILED;
        }
      } catch {
        status[i] = STATUS_ERROR;
      }
      if (status[i] === STATUS_OK) ok++;
    }
    return ok;
  };
}

let marks = 0;

/**
 * Per-batch scratch of the inline data path: the keys of the batch (one copy per keypair, not
 * per packet), the key slot, status, peer and keypair of each packet. Taken from and returned
 * to an {@link AeadScratchPool}, so a batch handled while another is (a synchronous bind
 * delivering back into the same device) never shares one.
 */
export class AeadScratch {
  keys: Uint8Array;
  keyOf: Uint32Array;
  status: Uint8Array;
  readonly peers: (Peer | null)[] = [];
  readonly keypairs: (Keypair | null)[] = [];
  #keyCount = 0;
  #mark = 0;
  #used = 0;

  constructor(capacity: number = IDEAL_BATCH_SIZE) {
    this.keys = new Uint8Array(capacity * KEY_SIZE);
    this.keyOf = new Uint32Array(capacity);
    this.status = new Uint8Array(capacity);
    this.#grow(capacity);
  }

  get capacity(): number {
    return this.keyOf.length;
  }

  #grow(capacity: number): void {
    if (capacity > this.keyOf.length) {
      this.keys = new Uint8Array(capacity * KEY_SIZE);
      this.keyOf = new Uint32Array(capacity);
      this.status = new Uint8Array(capacity);
    }
    while (this.peers.length < capacity) {
      this.peers.push(null);
      this.keypairs.push(null);
    }
  }

  /** Starts a batch of up to `capacity` packets. */
  begin(capacity: number): void {
    this.#grow(capacity);
    this.#used = capacity;
    this.#keyCount = 0;
    this.#mark = ++marks;
  }

  /** Records packet i under `keypair` (its `key`, send or receive); returns its key slot. */
  add(i: number, peer: Peer, keypair: Keypair, key: Uint8Array): void {
    this.peers[i] = peer;
    this.keypairs[i] = keypair;
    if (keypair.aeadMark === this.#mark) {
      this.keyOf[i] = keypair.aeadSlot;
      return;
    }
    const k = this.#keyCount++;
    this.keys.set(key, k * KEY_SIZE);
    keypair.aeadMark = this.#mark;
    keypair.aeadSlot = k;
    this.keyOf[i] = k;
  }

  /** Wipes the keys of the batch and forgets its packets (also after a throw midway). */
  end(): void {
    this.keys.fill(0, 0, this.#keyCount * KEY_SIZE);
    this.#keyCount = 0;
    this.peers.fill(null, 0, this.#used);
    this.keypairs.fill(null, 0, this.#used);
    this.#used = 0;
  }
}

/** A few scratches, reused: steady state allocates nothing. */
export class AeadScratchPool {
  readonly #free: AeadScratch[] = [];

  acquire(capacity: number): AeadScratch {
    const s = this.#free.pop() ?? new AeadScratch(capacity);
    s.begin(capacity);
    return s;
  }

  release(s: AeadScratch): void {
    s.end();
    if (this.#free.length < 4) this.#free.push(s);
  }
}
