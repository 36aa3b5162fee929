// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ed25519ph } from '@noble/curves/ed25519.js';
import { blake3 } from '@noble/hashes/blake3.js';
import { derChildren, derRead, pemBlocks } from '../src/encoding.ts';
import {
  generateSigningKey,
  KeyFormatError,
  parsePublicKey,
  parseSignatureHeader,
  parseSigningKey,
  SignatureError,
  SignatureVerifier,
  signatureContext,
  signRequest,
} from '../src/signature.ts';
import { Clock } from './_clock.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const body = new TextEncoder().encode('{"jsonrpc":"2.0","id":1,"method":"status","params":{}}');
const CONTEXT = '203.0.113.7';

function hasSshKeygen(): boolean {
  try {
    execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return (
      (err as { status?: number }).status !== undefined &&
      (err as { code?: string }).code !== 'ENOENT'
    );
  }
}

function setup(maxNonces?: number) {
  const clock = new Clock();
  // started an hour ago, so the window tests are not about the start
  const verifier = new SignatureVerifier(clock.now, maxNonces, clock.ms - 3600_000);
  const { key } = generateSigningKey();
  const names = new Map([[key.publicKey.pem, 'laptop']]);
  const input = {
    contexts: [CONTEXT, 'vpn.example.org'],
    keyName: (pem: string) => names.get(pem),
  };
  const sign = (b = body, o: { now?: number; nonce?: bigint; context?: string } = {}) =>
    signRequest(key, b, o.context ?? CONTEXT, {
      now: o.now ?? clock.ms,
      ...(o.nonce ? { nonce: o.nonce } : {}),
    });
  return { clock, verifier, key, input, sign };
}

function refused(fn: () => unknown, pattern: RegExp, code?: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SignatureError, `expected a SignatureError, got ${String(err)}`);
    assert.match(err.message, pattern);
    if (code !== undefined) assert.equal(err.code, code);
    return true;
  });
}

describe('primitives', () => {
  it('Ed25519ph matches RFC 8032 §7.3 (TEST abc)', () => {
    const sk = Buffer.from(
      '833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42',
      'hex'
    );
    assert.equal(
      hex(ed25519ph.getPublicKey(sk)),
      'ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf'
    );
    assert.equal(
      hex(ed25519ph.sign(new TextEncoder().encode('abc'), sk)),
      '98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41' +
        '31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406'
    );
  });
  it('BLAKE3 of the empty input matches the reference', () => {
    assert.equal(
      hex(blake3(new Uint8Array())),
      'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'
    );
  });
});

describe('the X-StartOS-Auth-Sig header', () => {
  it('carries the commitment, the signer PEM and a DER SIGNATURE block', () => {
    const { key, sign, clock } = setup();
    const header = sign(body, { nonce: 0xfedcba9876543210n });
    const q = new URLSearchParams(header);
    assert.deepEqual(
      [...q.keys()],
      ['timestamp', 'nonce', 'size', 'blake3', 'signer', 'signature']
    );
    assert.equal(q.get('timestamp'), String(Math.floor(clock.ms / 1000)));
    assert.equal(q.get('nonce'), String(0xfedcba9876543210n));
    assert.equal(q.get('size'), String(body.length));
    assert.equal(q.get('blake3'), Buffer.from(blake3(body)).toString('base64'));
    assert.equal(q.get('signer'), key.publicKey.pem);
    const block = pemBlocks(q.get('signature') ?? '')[0];
    assert.equal(block?.label, 'SIGNATURE');
    const outer = derRead(block?.der ?? new Uint8Array());
    const [alg, sig] = derChildren(outer?.content ?? new Uint8Array()) ?? [];
    assert.equal(
      hex(alg?.content ?? new Uint8Array()),
      '06032b6570',
      'AlgorithmIdentifier { 1.3.101.112 }'
    );
    assert.equal(sig?.tag, 0x04);
    assert.equal(sig?.content.length, 64);
  });

  it('signs Ed25519ph(timestamp‖nonce‖size big-endian ‖ blake3) under the context', () => {
    const { key, sign, clock } = setup();
    const header = sign(body, { nonce: 42n });
    const { signature } = parseSignatureHeader(header);
    const msg = Buffer.alloc(56);
    msg.writeBigInt64BE(BigInt(Math.floor(clock.ms / 1000)), 0);
    msg.writeBigUInt64BE(42n, 8);
    msg.writeBigUInt64BE(BigInt(body.length), 16);
    Buffer.from(blake3(body)).copy(msg, 24);
    const ctx = new TextEncoder().encode(CONTEXT);
    assert.equal(ed25519ph.verify(signature, msg, key.publicKey.raw, { context: ctx }), true);
    assert.equal(ed25519ph.verify(signature, msg, key.publicKey.raw), false, 'the context counts');
  });

  it('names the missing or malformed field', () => {
    const { sign } = setup();
    const q = new URLSearchParams(sign());
    for (const field of ['timestamp', 'nonce', 'size', 'blake3', 'signer', 'signature']) {
      const without = new URLSearchParams(q);
      without.delete(field);
      refused(() => parseSignatureHeader(without.toString()), new RegExp(`"${field}"`));
    }
    const bad = new URLSearchParams(q);
    bad.set('nonce', '-1');
    refused(() => parseSignatureHeader(bad.toString()), /"nonce" is malformed/);
    bad.set('nonce', String(1n << 64n));
    refused(() => parseSignatureHeader(bad.toString()), /"nonce" is too big/);
  });
});

describe('SignatureVerifier', () => {
  it('accepts a fresh request from a known key, under any accepted context', () => {
    const { verifier, input, sign } = setup();
    assert.deepEqual(verifier.verify(sign(), body, input).name, 'laptop');
    assert.equal(
      verifier.verify(sign(body, { context: 'vpn.example.org' }), body, input).name,
      'laptop'
    );
  });

  it('refuses a replay, and still refuses it once the window has passed', () => {
    const { verifier, input, sign, clock } = setup();
    const header = sign();
    verifier.verify(header, body, input);
    refused(() => verifier.verify(header, body, input), /Replayed request/, 34);
    clock.advance(10_000);
    refused(() => verifier.verify(header, body, input), /Replayed request/, 34);
    clock.advance(60_000);
    refused(() => verifier.verify(header, body, input), /timestamp is \d+ s old/, 31);
  });

  it('refuses timestamps more than 30 s away, accepts 30 s', () => {
    const { verifier, input, sign, clock } = setup();
    refused(
      () => verifier.verify(sign(body, { now: clock.ms - 31_000 }), body, input),
      /31 s old/,
      31
    );
    refused(
      () => verifier.verify(sign(body, { now: clock.ms + 31_000 }), body, input),
      /31 s ahead/,
      31
    );
    assert.equal(
      verifier.verify(sign(body, { now: clock.ms - 30_000 }), body, input).name,
      'laptop'
    );
    assert.equal(
      verifier.verify(sign(body, { now: clock.ms + 30_000 }), body, input).name,
      'laptop'
    );
  });

  it('refuses a changed body, a changed commitment, another server and an unknown key', () => {
    const { verifier, input, sign, clock } = setup();
    const header = sign();
    const tampered = new TextEncoder().encode(
      new TextDecoder().decode(body).replace('status', 'statuz')
    );
    refused(() => verifier.verify(header, tampered, input), /Body does not match/, 31);
    const q = new URLSearchParams(header);
    q.set('nonce', '7');
    refused(() => verifier.verify(q.toString(), body, input), /does not verify/, 31);
    refused(
      () => verifier.verify(sign(body, { context: '198.51.100.9' }), body, input),
      /does not verify/,
      31
    );
    const stranger = generateSigningKey().key;
    const strangers = signRequest(stranger, body, CONTEXT, { now: clock.ms });
    refused(() => verifier.verify(strangers, body, input), /not authorized/, 34);
  });

  it('records nonces only for valid requests, bounded, forgetting them after the window', () => {
    const { verifier, input, sign, clock } = setup(3);
    const stranger = generateSigningKey().key;
    for (let i = 0; i < 5; i++) {
      const header = signRequest(stranger, body, CONTEXT, { now: clock.ms });
      refused(() => verifier.verify(header, body, input), /not authorized/);
      refused(() => verifier.verify(sign(body, { context: 'elsewhere' }), body, input), /verify/);
    }
    assert.equal(verifier.remembered, 0, 'refused requests leave no nonce');
    for (let i = 0; i < 3; i++) verifier.verify(sign(), body, input);
    assert.equal(verifier.remembered, 3);
    refused(() => verifier.verify(sign(), body, input), /Too many signed requests/, 37);
    clock.advance(31_000);
    verifier.verify(sign(), body, input);
    assert.equal(verifier.remembered, 1, 'expired nonces were dropped');
  });
});

describe('binding to this server and this run', () => {
  const certA = Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01);
  const certB = Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x02);

  it('the context is the host and the SHA-256 of the presented certificate', () => {
    const context = signatureContext('vpn.example.org', certA);
    const digest = createHash('sha256').update(certA).digest('base64url');
    assert.equal(context, `vpn.example.org ${digest}`);
    assert.throws(() => signatureContext('a'.repeat(240), certA), RangeError);
  });

  it('a request signed for one server is refused by another with the same name and key', () => {
    const { verifier, key, clock } = setup();
    const names = new Map([[key.publicKey.pem, 'laptop']]);
    const keyName = (pem: string) => names.get(pem);
    const header = signRequest(key, body, signatureContext(CONTEXT, certA), { now: clock.ms });
    refused(
      () =>
        verifier.verify(header, body, { contexts: [signatureContext(CONTEXT, certB)], keyName }),
      /does not verify for this server/,
      31
    );
    const other = new SignatureVerifier(clock.now, undefined, clock.ms - 1000);
    const own = { contexts: [signatureContext(CONTEXT, certA)], keyName };
    assert.equal(other.verify(header, body, own).name, 'laptop');
  });

  it('refuses a timestamp from before the server started (a replay across a restart)', () => {
    const { verifier, input, sign, clock } = setup();
    const header = sign();
    verifier.verify(header, body, input);
    clock.advance(2000);
    const restarted = new SignatureVerifier(clock.now, undefined, clock.ms);
    refused(() => restarted.verify(header, body, input), /predates the server start/, 31);
    assert.equal(restarted.verify(sign(), body, input).name, 'laptop', 'a new request passes');
  });

  it('refuses an unknown key before looking at the body', () => {
    const { verifier, input, clock } = setup();
    const stranger = generateSigningKey().key;
    const header = signRequest(stranger, body, CONTEXT, { now: clock.ms });
    let read = 0;
    const watched = new Proxy(new Uint8Array(body.length), {
      get(target, prop, receiver) {
        read++;
        return Reflect.get(target, prop, receiver);
      },
    });
    refused(() => verifier.verify(header, watched, input), /not authorized/, 34);
    assert.equal(read, 0, 'the body was not touched');
  });
});

describe('keys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'web-keys-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const ssh = hasSshKeygen();

  it('canonicalises PEM and OpenSSH forms of one key to the same PEM', () => {
    const { key } = generateSigningKey();
    const fromPem = parsePublicKey(key.publicKey.pem);
    const fromSsh = parsePublicKey(`${key.publicKey.openssh} me@laptop`);
    assert.equal(fromPem.pem, key.publicKey.pem);
    assert.equal(fromSsh.pem, key.publicKey.pem);
    assert.match(
      key.publicKey.pem,
      /^-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA[A-Za-z0-9+/]{43}=\n-----END PUBLIC KEY-----\n$/
    );
  });

  it('writes PKCS#8 that node reads as Ed25519, and reads it back', () => {
    const { key, pem } = generateSigningKey();
    assert.equal(createPrivateKey(pem).asymmetricKeyType, 'ed25519');
    assert.deepEqual(parseSigningKey(pem).publicKey.pem, key.publicKey.pem);
  });

  it('refuses other key types and non-keys with a reason', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.throws(() => parsePublicKey(pem), /only Ed25519/);
    assert.throws(() => parsePublicKey('ssh-rsa AAAAB3NzaC1yc2E= x'), /only ssh-ed25519/);
    assert.throws(() => parsePublicKey('hello'), KeyFormatError);
    const priv = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.throws(() => parseSigningKey(priv), /only Ed25519/);
  });

  it('reads ssh-keygen keys: public line, fingerprint and unencrypted private key', {
    skip: !ssh,
  }, () => {
    const file = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'test', '-f', file]);
    const pub = parsePublicKey(readFileSync(`${file}.pub`, 'utf8'));
    const printed = execFileSync('ssh-keygen', ['-l', '-f', `${file}.pub`]).toString();
    assert.ok(printed.includes(pub.fingerprint), `${printed} has ${pub.fingerprint}`);
    const priv = parseSigningKey(readFileSync(file, 'utf8'));
    assert.equal(priv.publicKey.pem, pub.pem);
    const clock = new Clock();
    const v = new SignatureVerifier(clock.now);
    const header = signRequest(priv, body, CONTEXT, { now: clock.ms });
    assert.equal(v.verify(header, body, { contexts: [CONTEXT], keyName: () => 'ssh' }).name, 'ssh');
  });

  it('refuses an encrypted OpenSSH key with advice', { skip: !ssh }, () => {
    const file = join(dir, 'id_locked');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret pass', '-f', file]);
    assert.throws(() => parseSigningKey(readFileSync(file, 'utf8')), /encrypted.*passphrase/);
  });
});
