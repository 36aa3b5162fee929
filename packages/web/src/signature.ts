// SPDX-License-Identifier: MIT
/**
 * Signed requests: the original's `X-StartOS-Auth-Sig` scheme
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/middleware/auth/signature.rs#L26-L203 and
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/sign/commitment/request.rs#L20-L58),
 * both sides. The header is a URL-encoded query of the request commitment (`timestamp` i64 unix
 * seconds, `nonce` u64, `size` of the body, `blake3` base64 of BLAKE3(body)), the `signer`
 * (Ed25519 public key, PEM SPKI) and the `signature` (a PEM `SIGNATURE` block: DER SEQUENCE {
 * AlgorithmIdentifier 1.3.101.112, OCTET STRING sig }). The signature is Ed25519ph (RFC 8032 §5.1:
 * SHA-512 prehash) of timestamp‖nonce‖size (big-endian 8 bytes each) ‖ blake3, under a context
 * string naming the server
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/sign/ed25519.rs#L12-L31).
 * The original's context is only the host the client addressed
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/context.rs#L284-L293),
 * which two servers can share (a moved DNS name, a wildcard listen address); here it is that host
 * followed by the SHA-256 of the TLS certificate the server presented on the connection
 * (`signatureContext`), which the client reads from the handshake before it sends the body. A
 * request captured at, or replayed by, one server is therefore refused by every other, even under
 * the same name and key. The verifier also refuses timestamps from before the daemon started (its
 * nonce cache lives in memory, so this is what closes replay across a restart), and checks the
 * timestamp and that the key is authorised before it hashes the body.
 *
 * The original checks its nonce cache but never fills it
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/middleware/auth/signature.rs#L140-L155);
 * here every accepted nonce is recorded until its timestamp leaves the ±30 s window, after which
 * the timestamp check alone refuses it. Keys are accepted as PEM SPKI or OpenSSH
 * `ssh-ed25519 AAAA…` and stored as PEM SPKI.
 * @module
 */

import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { ed25519ph } from '@noble/curves/ed25519.js';
import { blake3 } from '@noble/hashes/blake3.js';
import {
  bytesEqual,
  type DerItem,
  DerTag,
  derChildren,
  derRead,
  derTlv,
  fromBase64,
  pemBlocks,
  pemEncode,
  toBase64,
} from './encoding.ts';

export const SIGNATURE_HEADER = 'X-StartOS-Auth-Sig';
/** Largest clock difference accepted, in seconds (the original's 30). */
export const SIGNATURE_WINDOW_SECONDS = 30;
/** Nonces remembered at most; when full of live nonces, signed requests wait (code 37). */
export const MAX_NONCES = 65536;

/** DER of AlgorithmIdentifier { id-Ed25519 } (RFC 8410 §3: no parameters). */
const ED25519_ALGORITHM = Uint8Array.of(0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70);
const SSH_ED25519 = 'ssh-ed25519';

/** A bad key: the message says what is wrong with it. */
export class KeyFormatError extends Error {
  override name = 'KeyFormatError';
}

export interface Ed25519PublicKey {
  /** The 32 key bytes. */
  raw: Uint8Array;
  /** Canonical form: PEM SPKI, LF line ends, trailing newline. */
  pem: string;
  /** `ssh-ed25519 AAAA…` (no comment). */
  openssh: string;
  /** `SHA256:…` as `ssh-keygen -l` prints it. */
  fingerprint: string;
}

export interface SigningKey {
  /** The 32-byte RFC 8032 secret (seed). */
  seed: Uint8Array;
  publicKey: Ed25519PublicKey;
}

function sshString(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

/** Reads the SSH wire strings of RFC 4251 §5 one by one. */
class SshReader {
  #pos = 0;
  readonly #bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }
  u32(): number {
    if (this.#pos + 4 > this.#bytes.length) throw new KeyFormatError('Truncated OpenSSH key');
    const v = new DataView(this.#bytes.buffer, this.#bytes.byteOffset).getUint32(this.#pos);
    this.#pos += 4;
    return v;
  }
  string(): Uint8Array {
    const n = this.u32();
    if (this.#pos + n > this.#bytes.length) throw new KeyFormatError('Truncated OpenSSH key');
    const v = this.#bytes.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }
  text(): string {
    return Buffer.from(this.string()).toString('latin1');
  }
}

/** Builds every form of a public key from its 32 bytes. */
export function publicKeyFromRaw(raw: Uint8Array): Ed25519PublicKey {
  if (raw.length !== 32) throw new KeyFormatError('An Ed25519 public key is 32 bytes');
  const spki = new Uint8Array([...derTlv(DerTag.Sequence, ED25519_ALGORITHM, bitString(raw))]);
  const blob = new Uint8Array([
    ...sshString(new TextEncoder().encode(SSH_ED25519)),
    ...sshString(raw),
  ]);
  const digest = createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
  return {
    raw: new Uint8Array(raw),
    pem: pemEncode('PUBLIC KEY', spki),
    openssh: `${SSH_ED25519} ${toBase64(blob)}`,
    fingerprint: `SHA256:${digest}`,
  };
}

function bitString(bytes: Uint8Array): Uint8Array {
  return derTlv(0x03, Uint8Array.of(0), bytes);
}

/**
 * Parses an Ed25519 public key given as PEM SPKI (`-----BEGIN PUBLIC KEY-----`) or OpenSSH
 * (`ssh-ed25519 AAAA… [comment]`). Throws `KeyFormatError` naming what is wrong.
 */
export function parsePublicKey(text: string): Ed25519PublicKey {
  const trimmed = text.trim();
  if (trimmed.startsWith('ssh-')) {
    const [type, b64] = trimmed.split(/\s+/);
    if (type !== SSH_ED25519) {
      throw new KeyFormatError(
        `Unsupported key type "${type}": only ssh-ed25519 keys are accepted`
      );
    }
    const blob = fromBase64(b64 ?? '');
    if (blob === null) throw new KeyFormatError('The OpenSSH key is not valid base64');
    const r = new SshReader(blob);
    if (r.text() !== SSH_ED25519) throw new KeyFormatError('The OpenSSH key blob is not ed25519');
    return publicKeyFromRaw(r.string());
  }
  const block = pemBlocks(trimmed)[0];
  if (!block) {
    throw new KeyFormatError('Expected a PEM public key or an OpenSSH "ssh-ed25519 AAAA…" line');
  }
  if (block.label !== 'PUBLIC KEY') {
    throw new KeyFormatError(`Expected a "PUBLIC KEY" PEM block, got "${block.label}"`);
  }
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey({ key: Buffer.from(block.der), format: 'der', type: 'spki' });
  } catch {
    throw new KeyFormatError('The PEM public key does not parse as SPKI');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new KeyFormatError(`Unsupported key type "${key.asymmetricKeyType}": only Ed25519`);
  }
  const x = key.export({ format: 'jwk' }).x;
  return publicKeyFromRaw(new Uint8Array(Buffer.from(x ?? '', 'base64url')));
}

/**
 * Parses an Ed25519 private key: PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, the original's
 * `developer.key.pem`) or an unencrypted OpenSSH key (`-----BEGIN OPENSSH PRIVATE KEY-----`).
 */
export function parseSigningKey(text: string): SigningKey {
  const block = pemBlocks(text)[0];
  if (!block) throw new KeyFormatError('Expected a PEM private key');
  if (block.label === 'OPENSSH PRIVATE KEY') return parseOpenSshPrivate(block.der);
  if (block.label !== 'PRIVATE KEY') {
    throw new KeyFormatError(`Expected a "PRIVATE KEY" PEM block, got "${block.label}"`);
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey({ key: Buffer.from(block.der), format: 'der', type: 'pkcs8' });
  } catch {
    throw new KeyFormatError('The PEM private key does not parse as PKCS#8');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new KeyFormatError(`Unsupported key type "${key.asymmetricKeyType}": only Ed25519`);
  }
  const jwk = key.export({ format: 'jwk' });
  const seed = new Uint8Array(Buffer.from(jwk.d ?? '', 'base64url'));
  return {
    seed,
    publicKey: publicKeyFromRaw(new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'))),
  };
}

/** openssh-key-v1 (OpenSSH PROTOCOL.key), unencrypted keys only. */
function parseOpenSshPrivate(der: Uint8Array): SigningKey {
  const magic = new TextEncoder().encode('openssh-key-v1\0');
  if (!bytesEqual(der.subarray(0, magic.length), magic)) {
    throw new KeyFormatError('Not an openssh-key-v1 private key');
  }
  const r = new SshReader(der.subarray(magic.length));
  const cipher = r.text();
  r.text(); // kdf name
  r.string(); // kdf options
  if (cipher !== 'none') {
    throw new KeyFormatError(
      `The OpenSSH key is encrypted ("${cipher}"): remove its passphrase or convert it to PKCS#8`
    );
  }
  if (r.u32() !== 1) throw new KeyFormatError('The OpenSSH file must hold exactly one key');
  r.string(); // public key blob, repeated in the private section
  const p = new SshReader(r.string());
  const check = p.u32();
  if (p.u32() !== check) throw new KeyFormatError('The OpenSSH key check bytes differ');
  if (p.text() !== SSH_ED25519) throw new KeyFormatError('The OpenSSH key is not ssh-ed25519');
  const pub = p.string();
  const secret = p.string();
  if (pub.length !== 32 || secret.length !== 64) {
    throw new KeyFormatError('The OpenSSH ed25519 key has the wrong length');
  }
  return { seed: new Uint8Array(secret.subarray(0, 32)), publicKey: publicKeyFromRaw(pub) };
}

/** A new key and its PKCS#8 PEM (what `--key FILE` reads). */
export function generateSigningKey(): { key: SigningKey; pem: string } {
  const seed = new Uint8Array(randomBytes(32));
  const x = Buffer.from(ed25519ph.getPublicKey(seed)).toString('base64url');
  const d = Buffer.from(seed).toString('base64url');
  const pem = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x, d }, format: 'jwk' })
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
  return { key: parseSigningKey(pem), pem };
}

// ---- the commitment ------------------------------------------------------------------------

/** Ed25519ph contexts are at most 255 bytes (RFC 8032 §5.1). */
export const MAX_CONTEXT_BYTES = 255;

/**
 * The context string of a request to the server addressed as `host` (no port, no brackets) that
 * presented `certificate` (DER, or a PEM certificate) in its TLS handshake: the host, a space,
 * and the unpadded base64url SHA-256 of the certificate's DER (43 characters). Throws
 * `RangeError` when the host is too long for the 255-byte limit.
 */
export function signatureContext(host: string, certificate: Uint8Array | string): string {
  const der =
    typeof certificate === 'string'
      ? pemBlocks(certificate).find((b) => b.label === 'CERTIFICATE')?.der
      : certificate;
  if (der === undefined) throw new RangeError('Expected a PEM certificate');
  const digest = createHash('sha256').update(der).digest('base64url');
  const context = `${host} ${digest}`;
  if (Buffer.byteLength(context) > MAX_CONTEXT_BYTES) {
    throw new RangeError(`Host "${host.slice(0, 40)}…" is too long for a signature context`);
  }
  return context;
}

export interface RequestCommitment {
  timestamp: bigint;
  nonce: bigint;
  size: number;
  blake3: Uint8Array;
}

/** The signed message: timestamp (i64), nonce (u64), size (u64), big-endian, then blake3. */
function commitmentBytes(c: RequestCommitment): Uint8Array {
  const out = new Uint8Array(24 + 32);
  const view = new DataView(out.buffer);
  view.setBigInt64(0, c.timestamp);
  view.setBigUint64(8, c.nonce);
  view.setBigUint64(16, BigInt(c.size));
  out.set(c.blake3, 24);
  return out;
}

function signatureBlock(sig: Uint8Array): string {
  return pemEncode(
    'SIGNATURE',
    derTlv(DerTag.Sequence, ED25519_ALGORITHM, derTlv(DerTag.OctetString, sig))
  );
}

function parseSignatureBlock(text: string): Uint8Array | null {
  const block = pemBlocks(text).find((b) => b.label === 'SIGNATURE');
  if (!block) return null;
  const outer = derRead(block.der);
  if (!outer || outer.tag !== DerTag.Sequence || outer.end !== block.der.length) return null;
  const parts = derChildren(outer.content);
  if (parts?.length !== 2) return null;
  const [alg, sig] = parts as [DerItem, DerItem];
  // the first child starts the content: compare its whole encoding
  if (!bytesEqual(outer.content.subarray(0, alg.end), ED25519_ALGORITHM)) return null;
  if (sig.tag !== DerTag.OctetString || sig.content.length !== 64) return null;
  return new Uint8Array(sig.content);
}

export interface SignOptions {
  /** Unix time in ms (default: now). */
  now?: number;
  /** Default: 8 random bytes. */
  nonce?: bigint;
}

/**
 * The `X-StartOS-Auth-Sig` header value for `body` sent to the server named by `context`:
 * `signatureContext(host, certificate)`, from the host the client connects to (without port:
 * `203.0.113.7` or `vpn.example.org`) and the certificate the server presented.
 */
export function signRequest(
  key: SigningKey,
  body: Uint8Array,
  context: string,
  options: SignOptions = {}
): string {
  const commitment: RequestCommitment = {
    timestamp: BigInt(Math.floor((options.now ?? Date.now()) / 1000)),
    nonce: options.nonce ?? randomBytes(8).readBigUInt64BE(0),
    size: body.length,
    blake3: blake3(body),
  };
  const sig = ed25519ph.sign(commitmentBytes(commitment), key.seed, {
    context: new TextEncoder().encode(context),
  });
  const query = new URLSearchParams();
  query.append('timestamp', commitment.timestamp.toString());
  query.append('nonce', commitment.nonce.toString());
  query.append('size', String(commitment.size));
  query.append('blake3', toBase64(commitment.blake3));
  query.append('signer', key.publicKey.pem);
  query.append('signature', signatureBlock(sig));
  return query.toString();
}

export interface ParsedSignature {
  commitment: RequestCommitment;
  signer: Ed25519PublicKey;
  signature: Uint8Array;
}

/** Why a signed request was refused; `code` is the error code to answer with. */
export class SignatureError extends Error {
  override name = 'SignatureError';
  readonly code: number;
  constructor(message: string, code = 34) {
    super(message);
    this.code = code;
  }
}

/** Parses the header; throws `SignatureError` naming the field at fault. */
export function parseSignatureHeader(value: string): ParsedSignature {
  const q = new URLSearchParams(value);
  const field = (name: string, pattern?: RegExp): string => {
    const v = q.get(name);
    if (v === null) throw new SignatureError(`Invalid signature header: "${name}" is missing`);
    if (pattern && !pattern.test(v)) {
      throw new SignatureError(`Invalid signature header: "${name}" is malformed`);
    }
    return v;
  };
  const timestamp = BigInt(field('timestamp', /^-?\d{1,18}$/));
  const nonce = BigInt(field('nonce', /^\d{1,20}$/));
  if (nonce >= 1n << 64n) throw new SignatureError('Invalid signature header: "nonce" is too big');
  const size = Number(field('size', /^\d{1,15}$/));
  const hash = fromBase64(field('blake3'));
  if (hash === null || hash.length !== 32) {
    throw new SignatureError('Invalid signature header: "blake3" is not 32 bytes of base64');
  }
  let signer: Ed25519PublicKey;
  try {
    signer = parsePublicKey(field('signer'));
  } catch (err) {
    throw new SignatureError(`Invalid signature header: "signer": ${(err as Error).message}`);
  }
  const signature = parseSignatureBlock(field('signature'));
  if (signature === null) {
    throw new SignatureError('Invalid signature header: "signature" is not an Ed25519 SIGNATURE');
  }
  return { commitment: { timestamp, nonce, size, blake3: hash }, signer, signature };
}

export interface VerifyInput {
  /** Accepted context strings: the names and addresses this server answers to. */
  contexts: readonly string[];
  /** The name of an authorised key (by canonical PEM), or undefined. */
  keyName: (pem: string) => string | undefined;
}

/** Checks signed requests and remembers their nonces. */
export class SignatureVerifier {
  readonly #now: () => number;
  readonly #maxNonces: number;
  readonly #startedSeconds: number;
  /** `signer-hex:nonce` → unix seconds after which the timestamp check refuses it anyway. */
  readonly #nonces = new Map<string, number>();
  #inserted = 0;

  /**
   * `startedAt` (ms, default: the clock's now) is when this process began accepting requests:
   * nonces seen before it were not remembered, so earlier timestamps are refused.
   */
  constructor(now: () => number, maxNonces = MAX_NONCES, startedAt: number = now()) {
    this.#now = now;
    this.#maxNonces = maxNonces;
    this.#startedSeconds = Math.floor(startedAt / 1000);
  }

  /** Nonces currently remembered (for tests). */
  get remembered(): number {
    return this.#nonces.size;
  }

  /**
   * Verifies a header against the exact body bytes; returns the signer and its key name, or
   * throws `SignatureError`. Cheap checks first: the timestamp and the key's authorisation come
   * before the body is hashed and the signature checked. The nonce is recorded only once
   * everything else has passed, so forged requests cannot fill the cache.
   */
  verify(header: string, body: Uint8Array, input: VerifyInput): { name: string; key: string } {
    const { commitment, signer, signature } = parseSignatureHeader(header);
    const nowSeconds = Math.floor(this.#now() / 1000);
    const skew = Number(commitment.timestamp) - nowSeconds;
    if (Math.abs(skew) > SIGNATURE_WINDOW_SECONDS) {
      throw new SignatureError(
        `Signature timestamp is ${Math.abs(skew)} s ${skew < 0 ? 'old' : 'ahead'}: ` +
          `allowed ±${SIGNATURE_WINDOW_SECONDS} s (check the clocks)`,
        31
      );
    }
    if (Number(commitment.timestamp) < this.#startedSeconds) {
      throw new SignatureError(
        'Signature timestamp predates the server start: sign the request again',
        31
      );
    }
    const name = input.keyName(signer.pem);
    if (name === undefined) throw new SignatureError('Key is not authorized');
    if (commitment.size !== body.length || !bytesEqual(blake3(body), commitment.blake3)) {
      throw new SignatureError('Body does not match the signed size and BLAKE3 hash', 31);
    }
    const message = commitmentBytes(commitment);
    const ok = input.contexts.some((context) => {
      const ctx = new TextEncoder().encode(context);
      return (
        ctx.length <= MAX_CONTEXT_BYTES &&
        ed25519ph.verify(signature, message, signer.raw, { context: ctx })
      );
    });
    if (!ok) {
      throw new SignatureError(
        'Signature does not verify for this server (made for another address or certificate, ' +
          'or altered)',
        31
      );
    }
    this.#remember(
      `${Buffer.from(signer.raw).toString('hex')}:${commitment.nonce}`,
      Number(commitment.timestamp) + SIGNATURE_WINDOW_SECONDS,
      nowSeconds
    );
    return { name, key: signer.pem };
  }

  #remember(key: string, until: number, nowSeconds: number): void {
    const seen = this.#nonces.get(key);
    if (seen !== undefined && seen >= nowSeconds) {
      throw new SignatureError('Replayed request: this nonce was already used');
    }
    if (this.#nonces.size >= this.#maxNonces || ++this.#inserted % 1024 === 0) {
      for (const [k, t] of this.#nonces) if (t < nowSeconds) this.#nonces.delete(k);
    }
    if (this.#nonces.size >= this.#maxNonces) {
      // Forgetting a live nonce would open a replay; refusing new requests briefly does not.
      throw new SignatureError('Too many signed requests: retry in a few seconds', 37);
    }
    this.#nonces.set(key, until);
  }
}
