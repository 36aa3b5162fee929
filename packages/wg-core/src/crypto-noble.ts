// SPDX-License-Identifier: MIT
/**
 * The portable backend: every primitive from @noble (pure JS, audited). Several times slower than
 * node:crypto for AEAD and handshakes (bench/README.md: a 1420-byte seal 51–58k/s against 145k/s,
 * handshakes 0.2k/s against 1.9k/s), so the device uses it only where node:crypto has no
 * equivalent: keyed BLAKE2s (MAC) and XChaCha20-Poly1305.
 * @module
 */

import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import {
  AEAD_TAG_SIZE,
  type Crypto,
  clamp,
  type DhPrivateKey,
  isZero,
  KEY_SIZE,
  MAC_SIZE,
} from './crypto.ts';

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Keyed BLAKE2s-128: the whitepaper's MAC (mac1, mac2, cookies). */
export function nobleMac(out: Uint8Array, key: Uint8Array, data: Uint8Array): void {
  out.set(blake2s(data, { key, dkLen: MAC_SIZE }));
}

export function nobleXaeadSeal(
  out: Uint8Array,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array
): void {
  out.set(xchacha20poly1305(key, nonce, ad).encrypt(plaintext));
}

export function nobleXaeadOpen(
  out: Uint8Array,
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array
): boolean {
  if (ciphertext.length < AEAD_TAG_SIZE) return false;
  try {
    out.set(xchacha20poly1305(key, nonce, ad).decrypt(ciphertext));
    return true;
  } catch {
    return false;
  }
}

function importKey(raw: Uint8Array): DhPrivateKey {
  if (raw.length !== KEY_SIZE) {
    throw new TypeError(`Cannot import private key: expected 32 bytes, got ${raw.length}`);
  }
  const privateKey = clamp(Uint8Array.from(raw));
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

export const nobleCrypto: Crypto = {
  name: 'noble',
  hash(out, ...parts) {
    out.set(blake2s(concat(parts)));
  },
  hmac(out, key, ...parts) {
    out.set(hmac(blake2s, key, concat(parts)));
  },
  mac: nobleMac,
  aeadSeal(out, key, nonce, plaintext, ad) {
    const sealed = chacha20poly1305(key, nonce, ad ?? undefined).encrypt(plaintext);
    out.set(sealed);
  },
  aeadOpen(out, key, nonce, ciphertext, ad) {
    if (ciphertext.length < AEAD_TAG_SIZE) return false;
    try {
      out.set(chacha20poly1305(key, nonce, ad ?? undefined).decrypt(ciphertext));
      return true;
    } catch {
      return false;
    }
  },
  xaeadSeal: nobleXaeadSeal,
  xaeadOpen: nobleXaeadOpen,
  generatePrivateKey() {
    return importKey(nodeRandomBytes(KEY_SIZE));
  },
  importPrivateKey: importKey,
  dh(out, privateKey, publicKey) {
    out.fill(0);
    if (publicKey.length !== KEY_SIZE) return false;
    let shared: Uint8Array;
    try {
      shared = x25519.getSharedSecret(privateKey.privateKey, publicKey);
    } catch {
      // noble rejects low-order points itself.
      return false;
    }
    if (isZero(shared)) return false;
    out.set(shared);
    return true;
  },
  randomBytes(out) {
    out.set(nodeRandomBytes(out.length));
  },
};
