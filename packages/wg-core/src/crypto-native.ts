// SPDX-License-Identifier: MIT
/**
 * The native backend: ChaCha20-Poly1305 on the OpenSSL inside Node itself, called through the
 * wg-core addon (`native/aead.c`) without node:crypto's per-call cipher objects, and a whole
 * batch of transport messages per call (`aeadBatch`); everything else (X25519, BLAKE2s, HMAC,
 * keyed BLAKE2s, XChaCha) is `nodeCrypto`'s. Same bytes as the other backends: one vector suite
 * checks all three. Measured on 2 vCPUs (bench/README.md, "Speed work"): node:crypto's objects
 * cost ≈5 µs of a 1420-byte seal, OpenSSL's cipher work < 1 µs.
 *
 * The addon resolves OpenSSL's functions at run time: `nativeCryptoAvailable()` is false when it
 * is missing (not Linux, not built) or Node's OpenSSL does not export them, and
 * {@link defaultCrypto} then falls back to `nodeCrypto`.
 * @module
 */

import type { Crypto } from './crypto.ts';
import { nodeCrypto } from './crypto-node.ts';
import { loadNative, type NativeAddon } from './native.ts';

let addon: NativeAddon | null | undefined;

function aeadAddon(): NativeAddon | null {
  if (addon === undefined) {
    try {
      const a = loadNative();
      addon = a.AEAD === true ? a : null;
    } catch {
      addon = null;
    }
  }
  return addon;
}

/** Whether the native AEAD can run in this process (addon built, Node's OpenSSL usable). */
export function nativeCryptoAvailable(): boolean {
  return aeadAddon() !== null;
}

function need(): NativeAddon {
  const a = aeadAddon();
  if (a === null) {
    throw Object.assign(new Error('The native AEAD is not available in this process'), {
      code: 'ERR_WG_NATIVE',
    });
  }
  return a;
}

export const nativeCrypto: Crypto = {
  ...nodeCrypto,
  name: 'native',
  aeadSeal(out, key, nonce, plaintext, ad) {
    if (!need().aeadSeal(key, nonce, plaintext, ad, out)) {
      throw new Error('Cannot seal: OpenSSL ChaCha20-Poly1305 failed');
    }
  },
  aeadOpen(out, key, nonce, ciphertext, ad) {
    if (ciphertext.length < 16) return false;
    return need().aeadOpen(key, nonce, ciphertext, ad, out);
  },
  aeadBatch(op, data, offsets, lengths, count, keys, keyOf, status) {
    return need().aeadBatch(op, data, offsets, lengths, count, keys, keyOf, status);
  },
};

/** The backend a Device uses unless told otherwise: native when available, else node:crypto. */
export function defaultCrypto(): Crypto {
  return nativeCryptoAvailable() ? nativeCrypto : nodeCrypto;
}
