// SPDX-License-Identifier: MIT
/**
 * The primitives of Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s (whitepaper §5.4) behind one interface,
 * so the protocol runs on node:crypto (fast, native) or on @noble (portable), and one vector
 * suite checks both. KDF1/2/3 are built here on top of the backend's HMAC
 * (wireguard-go `device/noise-helpers.go`, kernel `noise.c` kdf()).
 * @module
 */

/** An X25519 private key (clamped) with its public key; backends may attach a native handle. */
export interface DhPrivateKey {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

export interface Crypto {
  readonly name: string;
  /** HASH: BLAKE2s-256 over the concatenation of `parts`, written to `out` (32 bytes). */
  hash(out: Uint8Array, ...parts: Uint8Array[]): void;
  /** HMAC-BLAKE2s-256 (RFC 2104, block 64) over the concatenation of `parts`. */
  hmac(out: Uint8Array, key: Uint8Array, ...parts: Uint8Array[]): void;
  /** MAC: keyed BLAKE2s with a 16-byte digest (RFC 7693 keyed mode, not HMAC). */
  mac(out: Uint8Array, key: Uint8Array, data: Uint8Array): void;
  /**
   * ChaCha20-Poly1305 (RFC 8439) seal of `plaintext` into `out` (plaintext + 16-byte tag).
   * `out` may start at the same byte as `plaintext` (in place).
   */
  aeadSeal(
    out: Uint8Array,
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    ad: Uint8Array | null
  ): void;
  /** Opens `ciphertext` (with tag) into `out`; false when the tag does not verify. */
  aeadOpen(
    out: Uint8Array,
    key: Uint8Array,
    nonce: Uint8Array,
    ciphertext: Uint8Array,
    ad: Uint8Array | null
  ): boolean;
  /** XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) with a 24-byte nonce; cookie replies only. */
  xaeadSeal(
    out: Uint8Array,
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    ad: Uint8Array
  ): void;
  xaeadOpen(
    out: Uint8Array,
    key: Uint8Array,
    nonce: Uint8Array,
    ciphertext: Uint8Array,
    ad: Uint8Array
  ): boolean;
  /**
   * Optional batch form of the transport AEAD (`aead-batch.ts` has the contract and a per-packet
   * fallback for backends without it): seals (op 1) or opens (op 2) in place the transport
   * message in each slot of non-zero length, under key `keyOf[i]` of `keys`; writes a status
   * per slot and returns how many succeeded.
   */
  aeadBatch?(
    op: number,
    data: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
    keys: Uint8Array,
    keyOf: Uint32Array,
    status: Uint8Array
  ): number;
  /** A fresh random X25519 key pair. */
  generatePrivateKey(): DhPrivateKey;
  /** Loads 32 raw bytes as a private key, clamping a copy (RFC 7748 §5). */
  importPrivateKey(raw: Uint8Array): DhPrivateKey;
  /**
   * X25519 into `out` (32 bytes). Returns false, leaving `out` zeroed, when the public key is
   * unusable or the shared secret is all zeros (a low-order point; whitepaper §5.4.4 and
   * wireguard-go `sharedSecret` reject it).
   */
  dh(out: Uint8Array, privateKey: DhPrivateKey, publicKey: Uint8Array): boolean;
  randomBytes(out: Uint8Array): void;
}

export const KEY_SIZE = 32;
export const HASH_SIZE = 32;
export const MAC_SIZE = 16;
export const AEAD_TAG_SIZE = 16;
export const AEAD_NONCE_SIZE = 12;
export const XAEAD_NONCE_SIZE = 24;

/** Clamps an X25519 private key in place (RFC 7748 §5, wireguard-go `NoisePrivateKey.clamp`). */
export function clamp(key: Uint8Array): Uint8Array {
  key[0]! &= 248;
  key[31] = (key[31]! & 127) | 64;
  return key;
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

/**
 * KDFn(key, input) = HKDF with HMAC-BLAKE2s: prk = HMAC(key, input); T1 = HMAC(prk, 0x1);
 * T2 = HMAC(prk, T1 ‖ 0x2); T3 = HMAC(prk, T2 ‖ 0x3) (whitepaper §5.4, "Kdf_n").
 * Outputs may alias `key` or `input`: prk is computed first into a scratch buffer.
 */
export function kdf(
  crypto: Crypto,
  key: Uint8Array,
  input: Uint8Array,
  t1: Uint8Array,
  t2?: Uint8Array,
  t3?: Uint8Array
): void {
  const prk = new Uint8Array(HASH_SIZE);
  crypto.hmac(prk, key, input);
  crypto.hmac(t1, prk, ONE);
  if (t2) crypto.hmac(t2, prk, t1, TWO);
  if (t2 && t3) crypto.hmac(t3, prk, t2, THREE);
  prk.fill(0);
}

/** Constant-time comparison of two equal-length byte strings. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** True when every byte is zero, in constant time for the length. */
export function isZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}
