// SPDX-License-Identifier: MIT
/**
 * Tests of `keys.ts`: parse errors name the field but never repeat the rejected text (private
 * and preshared keys pass through these parsers, and their errors reach logs and UAPI answers),
 * and `keysEqual` reads every byte whatever the first difference (no early exit).
 * @module
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keysEqual, keyToBase64, keyToHex, parseKeyBase64, parseKeyHex } from '../src/keys.ts';

/** A Uint8Array whose indexed reads are recorded in `reads`. */
function watched(bytes: Uint8Array, reads: Set<string>): Uint8Array {
  return new Proxy(bytes, {
    get(target, prop) {
      if (typeof prop === 'string' && /^\d+$/.test(prop)) reads.add(prop);
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('keys', () => {
  const key = new Uint8Array(32).map((_, i) => (i * 73 + 11) & 0xff);

  it('round-trips base64 and hex', () => {
    assert.deepEqual(parseKeyBase64(keyToBase64(key)), key);
    assert.deepEqual(parseKeyHex(keyToHex(key)), key);
  });

  it('never echoes a rejected key, only the field and the shape', () => {
    const b64 = keyToBase64(key);
    const hex = keyToHex(key);
    const rejected: [() => unknown, string][] = [
      [() => parseKeyBase64(`${b64.slice(0, 42)}!=`, 'private key'), b64.slice(0, 42)],
      [() => parseKeyBase64(b64.slice(1), 'preshared key'), b64.slice(1)],
      [() => parseKeyHex(`${hex.slice(0, 63)}G`, 'private_key'), hex.slice(0, 63)],
      [() => parseKeyHex(hex.toUpperCase(), 'preshared_key'), hex.toUpperCase()],
      [() => parseKeyHex(`${hex}00`, 'preshared_key'), hex],
    ];
    for (const [parse, secret] of rejected) {
      assert.throws(parse, (err: Error) => {
        assert.ok(err instanceof TypeError);
        assert.match(err.message, /^Cannot parse (private|preshared)[ _]key: \d+ characters, /);
        // not the text, and no 8-character run of it either
        for (let i = 0; i + 8 <= secret.length; i++) {
          assert.ok(!err.message.includes(secret.slice(i, i + 8)), err.message);
        }
        return true;
      });
    }
    assert.throws(() => parseKeyHex(42 as unknown as string, 'key'), /a number, not 64/);
  });

  it('keysEqual reads all 32 bytes of both keys even when the first byte differs', () => {
    const other = key.slice();
    other[0]! ^= 1;
    const readsA = new Set<string>();
    const readsB = new Set<string>();
    assert.equal(keysEqual(watched(key, readsA), watched(other, readsB)), false);
    assert.equal(readsA.size, 32);
    assert.equal(readsB.size, 32);
    assert.equal(keysEqual(key, key.slice()), true);
    assert.equal(keysEqual(key, key.subarray(0, 31)), false);
  });
});
