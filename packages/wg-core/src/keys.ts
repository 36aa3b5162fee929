// SPDX-License-Identifier: MIT
/**
 * Key encodings: base64 as in `wg` configs and output, lowercase hex as in the UAPI
 * (wireguard-go `device/noise-types.go`). Every parser names the field in its error but never
 * repeats the rejected text: these parsers read private and preshared keys, and an error message
 * ends up in logs and UAPI answers.
 * @module
 */

import { constantTimeEqual, KEY_SIZE } from './crypto.ts';

const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const HEX_KEY = /^[0-9a-f]{64}$/;

/** What was given, without any of its content: its type, or its length for a string. */
function shape(text: unknown): string {
  return typeof text === 'string' ? `${text.length} characters` : `a ${typeof text}`;
}

/** Parses a 32-byte key in base64 (44 characters, as `wg genkey` prints). */
export function parseKeyBase64(text: string, field = 'key'): Uint8Array {
  if (typeof text !== 'string' || !BASE64_KEY.test(text)) {
    throw new TypeError(`Cannot parse ${field}: ${shape(text)}, not a 32-byte base64 key`);
  }
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/** Parses a 32-byte key in lowercase hex (64 characters, as the UAPI carries it). */
export function parseKeyHex(text: string, field = 'key'): Uint8Array {
  if (typeof text !== 'string' || !HEX_KEY.test(text)) {
    throw new TypeError(`Cannot parse ${field}: ${shape(text)}, not 64 lowercase hex digits`);
  }
  return new Uint8Array(Buffer.from(text, 'hex'));
}

export function keyToBase64(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64');
}

export function keyToHex(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
}

/**
 * Compares two keys in time independent of where they differ (private keys go through here): every
 * byte is read, as the kernel's `crypto_memneq` does.
 */
export function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== KEY_SIZE || b.length !== KEY_SIZE) return false;
  return constantTimeEqual(a, b);
}
