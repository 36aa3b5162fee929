// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  base32Lower,
  bytesEqual,
  derChildren,
  derRead,
  derTlv,
  fromBase64,
  pemBlocks,
  pemEncode,
} from '../src/encoding.ts';

const text = (s: string) => new TextEncoder().encode(s);

describe('base32Lower', () => {
  // RFC 4648 §10 test vectors, lowercased and without padding
  const vectors: [string, string][] = [
    ['', ''],
    ['f', 'my'],
    ['fo', 'mzxq'],
    ['foo', 'mzxw6'],
    ['foob', 'mzxw6yq'],
    ['fooba', 'mzxw6ytb'],
    ['foobar', 'mzxw6ytboi'],
  ];
  for (const [input, output] of vectors) {
    it(`"${input}" → "${output}"`, () => assert.equal(base32Lower(text(input)), output));
  }
  it('16 bytes give 26 characters and 32 bytes give 52', () => {
    assert.equal(base32Lower(new Uint8Array(16)).length, 26);
    assert.equal(base32Lower(new Uint8Array(32)).length, 52);
  });
});

describe('base64 and PEM', () => {
  it('decodes standard and URL-safe base64 and refuses other text', () => {
    assert.deepEqual(fromBase64('+/8='), Uint8Array.of(0xfb, 0xff));
    assert.deepEqual(fromBase64('-_8'), Uint8Array.of(0xfb, 0xff));
    assert.equal(fromBase64('not base64!'), null);
  });
  it('round-trips PEM with 64-column lines and finds every block', () => {
    const der = new Uint8Array(100).map((_, i) => i);
    const pem = pemEncode('TEST THING', der);
    assert.match(pem, /^-----BEGIN TEST THING-----\n[A-Za-z0-9+/]{64}\n/);
    const blocks = pemBlocks(`junk\n${pem}between\n${pemEncode('OTHER', Uint8Array.of(1))}`);
    assert.equal(blocks.length, 2);
    assert.equal(blocks[0]?.label, 'TEST THING');
    assert.deepEqual(blocks[0]?.der, der);
    assert.equal(blocks[1]?.label, 'OTHER');
  });
  it('skips broken blocks and keeps scanning', () => {
    const good = pemEncode('GOOD', Uint8Array.of(1, 2, 3));
    const text = [
      '-----BEGIN lower-----\nAAAA\n-----END lower-----',
      '-----BEGIN A-----\nAAAA\n-----END B-----',
      '-----BEGIN OPEN-----\nAAAA',
      good,
      '-----BEGIN TRAILING',
    ].join('\n');
    assert.deepEqual(pemBlocks(text), [{ label: 'GOOD', der: Uint8Array.of(1, 2, 3) }]);
  });
  // A header-sized input (node:http allows 16 KiB, a body 1 MiB) must not cost more than a pass
  // over it. The old backreference regex needed about 1.8 s for 256 KiB of this and grows with
  // the square: 4 MiB would take minutes, far past the test's timeout.
  it('reads adversarial text in one pass (4 MiB of unclosed BEGIN lines)', {
    timeout: 30_000,
  }, () => {
    const unit = '-----BEGIN A-----\nAAAA\n';
    const text = unit.repeat(Math.ceil((4 << 20) / unit.length)) + pemEncode('A', Uint8Array.of(9));
    assert.deepEqual(pemBlocks(text), [{ label: 'A', der: Uint8Array.of(9) }]);
    const dashes = '-----BEGIN B-----\n'.repeat(200_000);
    assert.deepEqual(
      pemBlocks(dashes + pemEncode('B', Uint8Array.of(7))).at(-1)?.der,
      Uint8Array.of(7)
    );
  });
  it('compares bytes', () => {
    assert.equal(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2)), true);
    assert.equal(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3)), false);
    assert.equal(bytesEqual(Uint8Array.of(1), Uint8Array.of(1, 2)), false);
  });
});

describe('DER', () => {
  it('writes short and long lengths (X.690 §8.1.3)', () => {
    assert.deepEqual(derTlv(0x04, Uint8Array.of(7)), Uint8Array.of(0x04, 1, 7));
    const long = derTlv(0x04, new Uint8Array(300));
    assert.deepEqual(long.subarray(0, 4), Uint8Array.of(0x04, 0x82, 0x01, 0x2c));
    assert.equal(long.length, 304);
  });
  it('reads back nested values and refuses truncation', () => {
    const seq = derTlv(
      0x30,
      derTlv(0x06, Uint8Array.of(0x2b, 0x65, 0x70)),
      derTlv(0x04, new Uint8Array(200))
    );
    const outer = derRead(seq);
    assert.equal(outer?.tag, 0x30);
    const kids = derChildren(outer?.content ?? new Uint8Array());
    assert.equal(kids?.length, 2);
    assert.equal(kids?.[1]?.content.length, 200);
    assert.equal(derRead(seq.subarray(0, seq.length - 1)), null);
  });
});
