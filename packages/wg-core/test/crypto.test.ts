// SPDX-License-Identifier: MIT
/**
 * Known-answer tests for the whitepaper's primitives (§5.4), one suite run against every
 * backend. Vector files and their sources: test/vectors/README.md.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Crypto, kdf } from '../src/crypto.ts';
import { nativeCrypto, nativeCryptoAvailable } from '../src/crypto-native.ts';
import { nobleCrypto } from '../src/crypto-noble.ts';
import { importPrivateKeyPkcs8, nodeCrypto } from '../src/crypto-node.ts';

interface X25519Vectors {
  scalarMult: { scalar: string; u: string; out: string }[];
  iterated: Record<'1' | '1000', string>;
  diffieHellman: Record<
    'alicePrivate' | 'alicePublic' | 'bobPrivate' | 'bobPublic' | 'shared',
    string
  >;
  lowOrder: string[];
}
interface AeadVector {
  name: string;
  key: string;
  nonce: string;
  aad: string;
  plaintext: string;
  ciphertext: string;
  tag: string;
}
interface HashVector {
  name: string;
  input: string;
  digest: string;
}
interface MacVector {
  name: string;
  key: string;
  input: string;
  mac: string;
}
interface KdfVector {
  name: string;
  key: string;
  input: string;
  t1: string;
  t2: string;
  t3: string;
}
interface Construction {
  construction: string;
  identifier: string;
  chainKey: string;
  hash: string;
}

function load<T>(name: string): T & { source: string } {
  const text = readFileSync(new URL(`./vectors/${name}.json`, import.meta.url), 'utf8');
  const parsed = JSON.parse(text) as T & { source: string };
  assert.ok(parsed.source, `${name}.json names its source`);
  return parsed;
}

const x25519 = load<X25519Vectors>('x25519');
const chacha = load<{ vectors: AeadVector[] }>('chacha20poly1305').vectors;
const xchacha = load<{ vectors: AeadVector[] }>('xchacha20poly1305').vectors;
const blake2s = load<{ vectors: HashVector[] }>('blake2s').vectors;
const macs = load<{ vectors: MacVector[] }>('blake2s-mac').vectors;
const kdfs = load<{ vectors: KdfVector[] }>('kdf').vectors;
const construction = load<Construction>('construction');

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// the native backend (Node's own OpenSSL through the addon) where this process can run it
const backends: Crypto[] = [nodeCrypto, nobleCrypto];
if (nativeCryptoAvailable()) backends.push(nativeCrypto);

for (const crypto of backends) {
  describe(`crypto: ${crypto.name}`, () => {
    describe('X25519 (RFC 7748)', () => {
      for (const [i, v] of x25519.scalarMult.entries()) {
        it(`§5.2 scalar multiplication vector ${i + 1}`, () => {
          const out = new Uint8Array(32);
          assert.equal(crypto.dh(out, crypto.importPrivateKey(bytes(v.scalar)), bytes(v.u)), true);
          assert.equal(hex(out), v.out);
        });
      }

      it('§5.2 iterated: after 1 and 1,000 iterations', () => {
        let k: Uint8Array = bytes(`09${'00'.repeat(31)}`);
        let u: Uint8Array = Uint8Array.from(k);
        for (let i = 1; i <= 1000; i++) {
          const next = new Uint8Array(32);
          assert.equal(crypto.dh(next, crypto.importPrivateKey(k), u), true);
          u = k;
          k = next;
          if (i === 1) assert.equal(hex(k), x25519.iterated['1']);
        }
        assert.equal(hex(k), x25519.iterated['1000']);
      });

      it('§6.1 Diffie-Hellman: public keys and the shared secret', () => {
        const v = x25519.diffieHellman;
        const alice = crypto.importPrivateKey(bytes(v.alicePrivate));
        const bob = crypto.importPrivateKey(bytes(v.bobPrivate));
        assert.equal(hex(alice.publicKey), v.alicePublic);
        assert.equal(hex(bob.publicKey), v.bobPublic);
        const ab = new Uint8Array(32);
        const ba = new Uint8Array(32);
        assert.equal(crypto.dh(ab, alice, bytes(v.bobPublic)), true);
        assert.equal(crypto.dh(ba, bob, bytes(v.alicePublic)), true);
        assert.equal(hex(ab), v.shared);
        assert.equal(hex(ba), v.shared);
      });

      it('importPrivateKey clamps a copy and leaves the input alone', () => {
        const raw = bytes(x25519.diffieHellman.alicePrivate);
        const before = hex(raw);
        const key = crypto.importPrivateKey(raw);
        assert.equal(hex(raw), before);
        assert.equal(key.privateKey[0]! & 7, 0);
        assert.equal(key.privateKey[31]! & 0xc0, 0x40);
      });

      for (const point of x25519.lowOrder) {
        it(`refuses the low-order public key ${point.slice(0, 8)}…${point.slice(-4)}`, () => {
          const alice = crypto.importPrivateKey(bytes(x25519.diffieHellman.alicePrivate));
          const out = new Uint8Array(32).fill(0xff);
          assert.equal(crypto.dh(out, alice, bytes(point)), false);
          assert.equal(hex(out), '00'.repeat(32), 'out is zeroed');
        });
      }

      it('refuses a public key of the wrong length', () => {
        const alice = crypto.importPrivateKey(bytes(x25519.diffieHellman.alicePrivate));
        const out = new Uint8Array(32);
        assert.equal(
          crypto.dh(out, alice, bytes(x25519.diffieHellman.bobPublic).subarray(1)),
          false
        );
      });

      it('generatePrivateKey makes a clamped key whose public half matches', () => {
        const key = crypto.generatePrivateKey();
        assert.equal(key.privateKey.length, 32);
        assert.equal(key.privateKey[0]! & 7, 0);
        assert.equal(key.privateKey[31]! & 0xc0, 0x40);
        assert.equal(hex(crypto.importPrivateKey(key.privateKey).publicKey), hex(key.publicKey));
      });
    });

    describe('ChaCha20-Poly1305 (RFC 8439)', () => {
      for (const v of chacha) {
        it(`${v.name}: seal`, () => {
          const pt = bytes(v.plaintext);
          const out = new Uint8Array(pt.length + 16);
          crypto.aeadSeal(out, bytes(v.key), bytes(v.nonce), pt, bytes(v.aad));
          assert.equal(hex(out), v.ciphertext + v.tag);
        });

        it(`${v.name}: seal in place`, () => {
          const buffer = new Uint8Array(v.plaintext.length / 2 + 16);
          buffer.set(bytes(v.plaintext));
          const pt = buffer.subarray(0, buffer.length - 16);
          crypto.aeadSeal(buffer, bytes(v.key), bytes(v.nonce), pt, bytes(v.aad));
          assert.equal(hex(buffer), v.ciphertext + v.tag);
        });

        it(`${v.name}: open`, () => {
          const out = new Uint8Array(v.plaintext.length / 2);
          const ok = crypto.aeadOpen(
            out,
            bytes(v.key),
            bytes(v.nonce),
            bytes(v.ciphertext + v.tag),
            bytes(v.aad)
          );
          assert.equal(ok, true);
          assert.equal(hex(out), v.plaintext);
        });

        it(`${v.name}: a flipped bit in the tag, ciphertext or AD fails to open`, () => {
          const sealed = bytes(v.ciphertext + v.tag);
          const out = new Uint8Array(v.plaintext.length / 2);
          const open = (ct: Uint8Array, ad: Uint8Array): boolean =>
            crypto.aeadOpen(out, bytes(v.key), bytes(v.nonce), ct, ad);
          const tag = Uint8Array.from(sealed);
          tag[tag.length - 1]! ^= 0x01;
          assert.equal(open(tag, bytes(v.aad)), false);
          const body = Uint8Array.from(sealed);
          body[0]! ^= 0x80;
          assert.equal(open(body, bytes(v.aad)), false);
          const ad = bytes(v.aad);
          ad[0]! ^= 0x01;
          assert.equal(open(sealed, ad), false);
          assert.equal(open(sealed.subarray(0, 15), bytes(v.aad)), false, 'shorter than a tag');
        });
      }

      it('round-trips an empty plaintext without AD (a keepalive)', () => {
        const key = bytes(chacha[0]!.key);
        const nonce = new Uint8Array(12);
        const sealed = new Uint8Array(16);
        crypto.aeadSeal(sealed, key, nonce, new Uint8Array(0), null);
        assert.equal(crypto.aeadOpen(new Uint8Array(0), key, nonce, sealed, null), true);
        sealed[3]! ^= 0x10;
        assert.equal(crypto.aeadOpen(new Uint8Array(0), key, nonce, sealed, null), false);
      });
    });

    describe('XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha)', () => {
      for (const v of xchacha) {
        it(`${v.name}: seal and open`, () => {
          const pt = bytes(v.plaintext);
          const sealed = new Uint8Array(pt.length + 16);
          crypto.xaeadSeal(sealed, bytes(v.key), bytes(v.nonce), pt, bytes(v.aad));
          assert.equal(hex(sealed), v.ciphertext + v.tag);
          const out = new Uint8Array(pt.length);
          assert.equal(
            crypto.xaeadOpen(out, bytes(v.key), bytes(v.nonce), sealed, bytes(v.aad)),
            true
          );
          assert.equal(hex(out), v.plaintext);
        });

        it(`${v.name}: a flipped tag bit fails to open`, () => {
          const sealed = bytes(v.ciphertext + v.tag);
          sealed[sealed.length - 16]! ^= 0x01;
          const out = new Uint8Array(v.plaintext.length / 2);
          assert.equal(
            crypto.xaeadOpen(out, bytes(v.key), bytes(v.nonce), sealed, bytes(v.aad)),
            false
          );
        });
      }
    });

    describe('BLAKE2s (RFC 7693)', () => {
      for (const v of blake2s) {
        it(`HASH: ${v.name}`, () => {
          const out = new Uint8Array(32);
          crypto.hash(out, bytes(v.input));
          assert.equal(hex(out), v.digest);
        });
      }

      it('HASH over several parts equals the hash of their concatenation', () => {
        const out = new Uint8Array(32);
        crypto.hash(out, ascii('a'), new Uint8Array(0), ascii('bc'));
        assert.equal(hex(out), blake2s[0]!.digest);
      });

      for (const v of macs) {
        it(`MAC (keyed, 16 bytes): ${v.name}`, () => {
          const out = new Uint8Array(16);
          crypto.mac(out, bytes(v.key), bytes(v.input));
          assert.equal(hex(out), v.mac);
        });
      }
    });

    describe('KDF (HMAC-BLAKE2s, wireguard-go kdf_test.go)', () => {
      for (const v of kdfs) {
        it(v.name, () => {
          const t1 = new Uint8Array(32);
          const t2 = new Uint8Array(32);
          const t3 = new Uint8Array(32);
          // KDF1, KDF2 and KDF3 are prefixes of one another.
          kdf(crypto, bytes(v.key), bytes(v.input), t1);
          assert.equal(hex(t1), v.t1);
          t1.fill(0);
          kdf(crypto, bytes(v.key), bytes(v.input), t1, t2);
          assert.deepEqual([hex(t1), hex(t2)], [v.t1, v.t2]);
          t1.fill(0);
          t2.fill(0);
          kdf(crypto, bytes(v.key), bytes(v.input), t1, t2, t3);
          assert.deepEqual([hex(t1), hex(t2), hex(t3)], [v.t1, v.t2, v.t3]);
        });
      }

      it('allows the output to alias the key (C = KDF1(C, x))', () => {
        const v = kdfs[0]!;
        const chain = new Uint8Array(32);
        chain.set(bytes(v.key));
        const key = chain.subarray(0, v.key.length / 2);
        const t2 = new Uint8Array(32);
        kdf(crypto, key, bytes(v.input), chain, t2);
        assert.deepEqual([hex(chain), hex(t2)], [v.t1, v.t2]);
      });
    });

    describe('construction constants (whitepaper §5.4.2)', () => {
      it('C0 = HASH(CONSTRUCTION), H0 = HASH(C0 ‖ IDENTIFIER)', () => {
        const c0 = new Uint8Array(32);
        crypto.hash(c0, ascii(construction.construction));
        assert.equal(hex(c0), construction.chainKey);
        const h0 = new Uint8Array(32);
        crypto.hash(h0, c0, ascii(construction.identifier));
        assert.equal(hex(h0), construction.hash);
      });
    });
  });
}

describe('crypto: backends agree', () => {
  it('on X25519 with freshly generated keys', () => {
    const a = nodeCrypto.generatePrivateKey();
    const b = nobleCrypto.generatePrivateKey();
    const viaNode = new Uint8Array(32);
    const viaNoble = new Uint8Array(32);
    assert.equal(
      nodeCrypto.dh(viaNode, nodeCrypto.importPrivateKey(a.privateKey), b.publicKey),
      true
    );
    assert.equal(
      nobleCrypto.dh(viaNoble, nobleCrypto.importPrivateKey(b.privateKey), a.publicKey),
      true
    );
    assert.equal(hex(viaNode), hex(viaNoble));
    assert.equal(
      hex(nobleCrypto.importPrivateKey(a.privateKey).publicKey),
      hex(nodeCrypto.importPrivateKey(a.privateKey).publicKey)
    );
  });
});

describe('crypto: node X25519 keys', () => {
  it('the PKCS#8 import (RFC 8410) gives the §6.1 public keys and shared secret too', () => {
    const v = x25519.diffieHellman;
    const alice = importPrivateKeyPkcs8(bytes(v.alicePrivate));
    const bob = importPrivateKeyPkcs8(bytes(v.bobPrivate));
    assert.equal(hex(alice.publicKey), v.alicePublic);
    assert.equal(hex(bob.publicKey), v.bobPublic);
    const ab = new Uint8Array(32);
    assert.equal(nodeCrypto.dh(ab, alice, bytes(v.bobPublic)), true);
    assert.equal(hex(ab), v.shared);
    for (const [i, s] of x25519.scalarMult.entries()) {
      const out = new Uint8Array(32);
      assert.equal(nodeCrypto.dh(out, importPrivateKeyPkcs8(bytes(s.scalar)), bytes(s.u)), true);
      assert.equal(hex(out), s.out, `§5.2 vector ${i + 1}`);
    }
  });

  it('a public key seen before gives the same results (the KeyObject cache)', () => {
    const v = x25519.diffieHellman;
    const alice = nodeCrypto.importPrivateKey(bytes(v.alicePrivate));
    for (let round = 0; round < 3; round++) {
      const out = new Uint8Array(32);
      assert.equal(nodeCrypto.dh(out, alice, bytes(v.bobPublic)), true);
      assert.equal(hex(out), v.shared);
      for (const point of x25519.lowOrder) {
        assert.equal(nodeCrypto.dh(out, alice, bytes(point)), false, point);
      }
    }
    // more keys than the cache holds, then the first ones again
    const keys = Array.from({ length: 300 }, () => nodeCrypto.generatePrivateKey());
    for (const pass of [0, 1]) {
      for (const [i, k] of keys.entries()) {
        if (pass === 1 && i > 20) break;
        const viaNode = new Uint8Array(32);
        const viaNoble = new Uint8Array(32);
        assert.equal(nodeCrypto.dh(viaNode, alice, k.publicKey), true);
        assert.equal(
          nobleCrypto.dh(
            viaNoble,
            nobleCrypto.importPrivateKey(k.privateKey),
            bytes(v.alicePublic)
          ),
          true
        );
        assert.equal(hex(viaNode), hex(viaNoble));
      }
    }
  });

  it('randomBytes fills every length, small ones from a pool, across its refills', () => {
    const seen = new Set<string>();
    for (const n of [0, 1, 4, 24, 32, 63, 64, 65, 1000, 1024, 4096]) {
      const out = new Uint8Array(n);
      nodeCrypto.randomBytes(out);
      if (n >= 16) assert.notEqual(hex(out), '00'.repeat(n), `${n} bytes`);
    }
    // 4-byte draws (sender indices) past several 1 KiB refills: 16-byte windows never repeat
    for (let i = 0; i < 1000; i++) {
      const a = new Uint8Array(4);
      const b = new Uint8Array(12);
      nodeCrypto.randomBytes(a);
      nodeCrypto.randomBytes(b);
      seen.add(hex(a) + hex(b));
    }
    assert.equal(seen.size, 1000);
  });

  it('10,000 handshakes in a row with frequent garbage collections do not deadlock', () => {
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const helper = fileURLToPath(new URL('./crypto-handshakes.helper.ts', import.meta.url));
    const r = spawnSync(
      process.execPath,
      ['--max-semi-space-size=1', '--conditions=source', '--import', 'tsx', helper, '10000'],
      // a hang guard, not a speed limit: the handshakes take seconds, a deadlock forever
      { cwd: root, encoding: 'utf8', timeout: 240_000, killSignal: 'SIGKILL' }
    );
    assert.equal(r.signal, null, `killed by ${r.signal} (deadlocked?): ${r.stdout}${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'done 10000');
  });
});
