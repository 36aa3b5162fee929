// SPDX-License-Identifier: MIT
/**
 * The default backend: node:crypto (OpenSSL) for ChaCha20-Poly1305, X25519, BLAKE2s-256 and
 * HMAC-BLAKE2s; @noble only for keyed BLAKE2s and XChaCha20-Poly1305, which OpenSSL 3.0 lacks
 * (`createHash('blake2s256', {key})` silently ignores the key).
 *
 * X25519 keys: a private key is 32 random bytes, clamped (RFC 7748 §5; wireguard-go
 * `newPrivateKey` does the same), loaded into OpenSSL as a JWK (RFC 8037 §2), which derives the
 * public key; the public key is read back from the JWK export of that same KeyObject. Never
 * `generateKeyPairSync('x25519')` then a JWK export: on Node 20 the export holds the key's mutex
 * while it allocates JS strings, and a garbage collection there that finalizes the key-generation
 * job (which shares that mutex) deadlocks the thread for good (seen on Node 20.20 after 3,000 to
 * 50,000 keys in a row, and in every run of `test/crypto-handshakes.helper.ts` on that path,
 * within 16,000 handshakes). A PKCS#8 import (RFC 8410 §7) is the fallback for a Node that
 * refuses the placeholder `x` of a private JWK, and only that: OpenSSL 3.0 parses the DER ten
 * times slower than a JWK (≈400 µs against ≈35 µs per key on 2 vCPUs). Public KeyObjects are
 * cached by value: a handshake meets each remote ephemeral in two DHs, and each remote static
 * key again in every handshake.
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
/** PKCS#8 PrivateKeyInfo of an X25519 key up to its 32 bytes (RFC 8410 §7 and §10.3). */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

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

/**
 * Whether this Node takes a private JWK whose `x` is a placeholder: Node 20 derives the public
 * key from `d` alone, but RFC 8037 §2 wants the matching `x`, and a Node that checks it refuses
 * the placeholder. False from the first refusal on, for the process's life.
 */
let jwkPlaceholder = true;

/** A private KeyObject for a clamped key, by JWK, or by PKCS#8 DER where the JWK is refused. */
function privateHandle(privateKey: Uint8Array, viaPkcs8: boolean): KeyObject {
  if (!viaPkcs8 && jwkPlaceholder) {
    try {
      return createPrivateKey({
        key: {
          kty: 'OKP',
          crv: 'X25519',
          d: toBuffer(privateKey).toString('base64url'),
          x: DUMMY_X,
        },
        format: 'jwk',
      });
    } catch {
      jwkPlaceholder = false;
    }
  }
  const der = Buffer.concat([X25519_PKCS8_PREFIX, privateKey]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

/** Loads a clamped private key (taken, not copied) and reads back the public key OpenSSL derived. */
function loadClamped(privateKey: Uint8Array, viaPkcs8 = false): NodePrivateKey {
  const handle = privateHandle(privateKey, viaPkcs8);
  // The JWK export of an imported key, never of a generated one (the deadlock above).
  const x = handle.export({ format: 'jwk' }).x;
  const publicKey = new Uint8Array(Buffer.from(x ?? '', 'base64url'));
  // u = 0 is no clamped scalar's public key: the placeholder came back instead of a derived key.
  if (publicKey.length !== KEY_SIZE || isZero(publicKey)) {
    throw new Error('Cannot import private key: OpenSSL derived no X25519 public key');
  }
  return new NodePrivateKey(privateKey, publicKey, handle);
}

function importPrivate(raw: Uint8Array, viaPkcs8 = false): NodePrivateKey {
  if (raw.length !== KEY_SIZE) {
    throw new TypeError(`Cannot import private key: expected 32 bytes, got ${raw.length}`);
  }
  return loadClamped(clamp(Uint8Array.from(raw)), viaPkcs8);
}

/**
 * {@link nodeCrypto}'s `importPrivateKey` through PKCS#8 DER, the path taken where Node refuses a
 * private JWK with a placeholder `x`; exported for the tests only (not in `index.ts`).
 */
export function importPrivateKeyPkcs8(raw: Uint8Array): DhPrivateKey {
  return importPrivate(raw, true);
}

/**
 * Random bytes for private keys and the other small draws (a handshake's sender index, cookie
 * nonces), taken from the CSPRNG 1 KiB at a time, since each `randomFillSync` call costs ≈5 µs
 * on Node 20 whatever its length; bytes are zeroed here as they are handed out.
 */
const randomPool = Buffer.alloc(1024);
let randomAt = randomPool.length;
const POOLED_MAX = 64;

function fillRandom(out: Uint8Array): void {
  if (out.length > POOLED_MAX) {
    randomFillSync(out);
    return;
  }
  if (randomAt + out.length > randomPool.length) {
    randomFillSync(randomPool);
    randomAt = 0;
  }
  const taken = randomPool.subarray(randomAt, randomAt + out.length);
  randomAt += out.length;
  out.set(taken);
  taken.fill(0);
}

/**
 * Public KeyObjects by their base64url bytes, oldest first, at most {@link PUBLIC_CACHE_SIZE}
 * (≈10 µs saved per hit): each side of a handshake meets the other's ephemeral in two DHs and
 * the other's static key in one per handshake, so with one peer 4 of a full handshake's 6 DHs
 * find their key here. `null` records a key OpenSSL refused. Public keys only, nothing secret.
 */
const publicKeys = new Map<string, KeyObject | null>();
const PUBLIC_CACHE_SIZE = 256;

function publicHandle(publicKey: Uint8Array): KeyObject | null {
  const x = toBuffer(publicKey).toString('base64url');
  let handle = publicKeys.get(x);
  if (handle !== undefined) return handle;
  try {
    handle = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
  } catch {
    handle = null;
  }
  if (publicKeys.size >= PUBLIC_CACHE_SIZE) {
    publicKeys.delete(publicKeys.keys().next().value as string);
  }
  publicKeys.set(x, handle);
  return handle;
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
    const raw = new Uint8Array(KEY_SIZE);
    fillRandom(raw);
    return loadClamped(clamp(raw));
  },
  importPrivateKey: (raw) => importPrivate(raw),
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
  randomBytes: fillRandom,
};
