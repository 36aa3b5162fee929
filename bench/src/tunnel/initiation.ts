// SPDX-License-Identifier: MIT
/**
 * Handshake initiation messages built from outside a device, for the handshakes-per-second
 * microbenchmark: the initiator half of Noise_IKpsk2 as the WireGuard whitepaper §5.4.2 gives
 * it (wireguard-go `device/noise-protocol.go` CreateMessageInitiation), without a preshared
 * key, with mac1 (whitepaper §5.4.4, wireguard-go `device/cookie.go`) and a zero mac2. The
 * primitives are wg-core's `Crypto` backend; only the message layout and the chaining live here.
 *
 * Layout (148 bytes, integers little-endian): type 1 and three zero bytes, sender index,
 * unencrypted ephemeral (32), encrypted static (32 + 16), encrypted TAI64N timestamp (12 + 16),
 * mac1 (16), mac2 (16).
 * @module
 */

import type { Crypto, DhPrivateKey } from '@start-tunnel/wg-core';

const te = new TextEncoder();
const CONSTRUCTION = te.encode('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
const IDENTIFIER = te.encode('WireGuard v1 zx2c4 Jason@zx2c4.com');
const LABEL_MAC1 = te.encode('mac1----');
const ZERO_NONCE = new Uint8Array(12);
/** TAI64 label of the Unix epoch, 2^62 + 10 (cr.yp.to/libtai/tai64.html; wireguard-go tai64n). */
const TAI64_BASE = 0x400000000000000an;

export const INITIATION_SIZE = 148;
export const RESPONSE_SIZE = 92;
export const COOKIE_REPLY_SIZE = 64;

/** KDF with HMAC-BLAKE2s (whitepaper §5.4, HKDF): returns T1 and T2. */
function kdf2(c: Crypto, key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const prk = new Uint8Array(32);
  c.hmac(prk, key, input);
  const t1 = new Uint8Array(32);
  c.hmac(t1, prk, Uint8Array.of(1));
  const t2 = new Uint8Array(32);
  c.hmac(t2, prk, t1, Uint8Array.of(2));
  return [t1, t2];
}

/** What stays the same for every initiation to one responder. */
export interface Responder {
  publicKey: Uint8Array;
  /** HASH(HASH(HASH(CONSTRUCTION) || IDENTIFIER) || responder's public key). */
  h0: Uint8Array;
  /** HASH(CONSTRUCTION). */
  c0: Uint8Array;
  /** HASH(LABEL_MAC1 || responder's public key), the mac1 key. */
  mac1Key: Uint8Array;
}

export function responder(c: Crypto, publicKey: Uint8Array): Responder {
  const c0 = new Uint8Array(32);
  c.hash(c0, CONSTRUCTION);
  const h = new Uint8Array(32);
  c.hash(h, c0, IDENTIFIER);
  const h0 = new Uint8Array(32);
  c.hash(h0, h, publicKey);
  const mac1Key = new Uint8Array(32);
  c.hash(mac1Key, LABEL_MAC1, publicKey);
  return { publicKey, h0, c0, mac1Key };
}

/** TAI64N of `ms` since the epoch plus `extraNs` (12 bytes, big-endian). */
function tai64n(ms: number, extraNs: number): Uint8Array {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  const seconds = Math.floor(ms / 1000);
  view.setBigUint64(0, TAI64_BASE + BigInt(seconds));
  view.setUint32(8, ((ms % 1000) * 1e6 + extraNs) % 1e9);
  return out;
}

/**
 * One initiation from `initiator` (a configured peer of the responder) with a fresh ephemeral
 * key and `sender` as its index.
 */
export function buildInitiation(
  c: Crypto,
  r: Responder,
  initiator: DhPrivateKey,
  sender: number,
  nowMs: number,
  extraNs = 0
): Uint8Array {
  const msg = new Uint8Array(INITIATION_SIZE);
  const view = new DataView(msg.buffer);
  view.setUint32(0, 1, true);
  view.setUint32(4, sender >>> 0, true);
  // a random scalar imported rather than c.generatePrivateKey(): with node:crypto (Node 20.20,
  // OpenSSL 3.0) thousands of generateKeyPairSync + JWK exports in one synchronous loop were
  // seen to stop in a futex wait here
  const raw = new Uint8Array(32);
  c.randomBytes(raw);
  const e = c.importPrivateKey(raw);
  msg.set(e.publicKey, 8);
  let ck = kdf2(c, r.c0, e.publicKey)[0];
  const h = new Uint8Array(32);
  c.hash(h, r.h0, e.publicKey);
  const dh = new Uint8Array(32);
  if (!c.dh(dh, e, r.publicKey)) throw new Error('Responder public key is unusable');
  let key: Uint8Array;
  [ck, key] = kdf2(c, ck, dh);
  const encStatic = msg.subarray(40, 88);
  c.aeadSeal(encStatic, key, ZERO_NONCE, initiator.publicKey, h);
  c.hash(h, h, encStatic);
  if (!c.dh(dh, initiator, r.publicKey)) throw new Error('Static shared secret is zero');
  [ck, key] = kdf2(c, ck, dh);
  const encTime = msg.subarray(88, 116);
  c.aeadSeal(encTime, key, ZERO_NONCE, tai64n(nowMs, extraNs), h);
  c.mac(msg.subarray(116, 132), r.mac1Key, msg.subarray(0, 116));
  return msg;
}
