// SPDX-License-Identifier: MIT
/**
 * The default backend: node:crypto (OpenSSL) for ChaCha20-Poly1305, X25519, BLAKE2s-256 and
 * HMAC-BLAKE2s; @noble only for keyed BLAKE2s and XChaCha20-Poly1305, which OpenSSL 3.0 lacks
 * (`createHash('blake2s256', {key})` silently ignores the key). Keys move in and out of OpenSSL
 * as JWK, which needs no DER encoding or parsing on either side.
 * @module
 */

import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  randomFillSync,
} from 'node:crypto';
import {
  AEAD_TAG_SIZE,
  type Crypto,
  clamp,
  type DhPrivateKey,
  isZero,
  KEY_SIZE,
} from './crypto.ts';
import { nobleMac, nobleXaeadOpen, nobleXaeadSeal } from './crypto-noble.ts';

const AEAD = 'chacha20-poly1305';
const DUMMY_X = Buffer.alloc(KEY_SIZE).toString('base64url');

class NodePrivateKey implements DhPrivateKey {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly handle: KeyObject;
  constructor(privateKey: Uint8Array, publicKey: Uint8Array, handle: KeyObject) {
    this.privateKey = privateKey;
    this.publicKey = publicKey;
    this.handle = handle;
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function importPrivate(raw: Uint8Array): NodePrivateKey {
  if (raw.length !== KEY_SIZE) {
    throw new TypeError(`Cannot import private key: expected 32 bytes, got ${raw.length}`);
  }
  const privateKey = clamp(Uint8Array.from(raw));
  // A private JWK needs `x`; OpenSSL derives the real public key and ignores the placeholder,
  // and we read the derived one back rather than trusting that.
  const handle = createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'X25519',
      d: Buffer.from(privateKey).toString('base64url'),
      x: DUMMY_X,
    },
    format: 'jwk',
  });
  const jwk = createPublicKey(handle).export({ format: 'jwk' });
  const publicKey = new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'));
  return new NodePrivateKey(privateKey, publicKey, handle);
}

function publicHandle(publicKey: Uint8Array): KeyObject | null {
  try {
    return createPublicKey({
      key: { kty: 'OKP', crv: 'X25519', x: toBuffer(publicKey).toString('base64url') },
      format: 'jwk',
    });
  } catch {
    return null;
  }
}

export const nodeCrypto: Crypto = {
  name: 'node',
  hash(out, ...parts) {
    const h = createHash('blake2s256');
    for (const p of parts) h.update(p);
    out.set(h.digest());
  },
  hmac(out, key, ...parts) {
    const h = createHmac('blake2s256', key);
    for (const p of parts) h.update(p);
    out.set(h.digest());
  },
  mac: nobleMac,
  aeadSeal(out, key, nonce, plaintext, ad) {
    const c = createCipheriv(AEAD, key, nonce, { authTagLength: AEAD_TAG_SIZE });
    if (ad) c.setAAD(ad, { plaintextLength: plaintext.length });
    const body = c.update(plaintext);
    c.final();
    // `body` is a fresh buffer, so writing over `plaintext` (in place) is safe.
    out.set(body, 0);
    out.set(c.getAuthTag(), plaintext.length);
  },
  aeadOpen(out, key, nonce, ciphertext, ad) {
    const n = ciphertext.length - AEAD_TAG_SIZE;
    if (n < 0) return false;
    const d = createDecipheriv(AEAD, key, nonce, { authTagLength: AEAD_TAG_SIZE });
    d.setAuthTag(ciphertext.subarray(n));
    if (ad) d.setAAD(ad, { plaintextLength: n });
    const body = d.update(ciphertext.subarray(0, n));
    try {
      d.final();
    } catch {
      return false;
    }
    out.set(body, 0);
    return true;
  },
  xaeadSeal: nobleXaeadSeal,
  xaeadOpen: nobleXaeadOpen,
  generatePrivateKey() {
    const { privateKey } = generateKeyPairSync('x25519');
    const jwk = privateKey.export({ format: 'jwk' });
    const raw = new Uint8Array(Buffer.from(jwk.d ?? '', 'base64url'));
    const pub = new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'));
    return new NodePrivateKey(clamp(raw), pub, privateKey);
  },
  importPrivateKey: importPrivate,
  dh(out, privateKey, publicKey) {
    out.fill(0);
    if (publicKey.length !== KEY_SIZE) return false;
    const own =
      privateKey instanceof NodePrivateKey ? privateKey : importPrivate(privateKey.privateKey);
    const peer = publicHandle(publicKey);
    if (!peer) return false;
    let shared: Buffer;
    try {
      shared = diffieHellman({ privateKey: own.handle, publicKey: peer });
    } catch {
      // OpenSSL refuses an all-zero result (low-order point) with an error.
      return false;
    }
    if (isZero(shared)) return false;
    out.set(shared);
    return true;
  },
  randomBytes(out) {
    randomFillSync(out);
  },
};
