// SPDX-License-Identifier: MIT
/**
 * Small byte encodings the web layer needs and no installed library gives in the exact form
 * required: lowercase unpadded base32 (RFC 4648 §6 alphabet, the form StartTunnel uses for
 * passwords and session ids:
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/auth.rs#L287-L294 and
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/middleware/auth/session.rs#L161-L171),
 * PEM armour (RFC 7468) and a minimal DER writer and reader (X.690 §8.1: definite lengths only)
 * for the two structures we build by hand: the Name Constraints extension value and the
 * `SIGNATURE` block.
 * @module
 */

import { parseIp } from '@start-tunnel/protocol';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 §6 base32, lowercase, without padding. */
export function base32Lower(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(buffer >>> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Decodes standard or URL-safe base64, padded or not; null when the text is not base64. */
export function fromBase64(text: string): Uint8Array | null {
  const clean = text.trim();
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean)) return null;
  return new Uint8Array(Buffer.from(clean.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

// ---- PEM (RFC 7468) -------------------------------------------------------------------------

export interface PemBlock {
  label: string;
  der: Uint8Array;
}

/** RFC 7468 §2: base64 lines of 64 characters between BEGIN and END lines. */
export function pemEncode(label: string, der: Uint8Array): string {
  const b64 = toBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

const PEM_DASHES = '-----';
const PEM_BEGIN = '-----BEGIN ';
const PEM_END = '-----END ';

/**
 * Every PEM block in `text`, in order (text between blocks is ignored). One left-to-right pass:
 * a block's body is base64 and whitespace (RFC 7468 §3), so the first `-----` after a BEGIN line
 * must open its END line; when it does not, scanning resumes there, so no character is read
 * more than a fixed number of times whatever the input (a regex with a backreference to the
 * label took quadratic time on text full of BEGIN lines).
 */
export function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  let pos = text.indexOf(PEM_BEGIN);
  while (pos >= 0) {
    const labelAt = pos + PEM_BEGIN.length;
    const labelEnd = text.indexOf(PEM_DASHES, labelAt);
    if (labelEnd < 0) break;
    const label = text.slice(labelAt, labelEnd);
    const bodyAt = labelEnd + PEM_DASHES.length;
    if (!/^[A-Z0-9 ]+$/.test(label)) {
      pos = text.indexOf(PEM_BEGIN, labelAt);
      continue;
    }
    const next = text.indexOf(PEM_DASHES, bodyAt);
    if (next < 0) break;
    const endLine = `${PEM_END}${label}${PEM_DASHES}`;
    if (text.startsWith(endLine, next)) {
      const der = fromBase64(text.slice(bodyAt, next).replace(/\s+/g, ''));
      if (der !== null && der.length > 0) out.push({ label, der });
      pos = text.indexOf(PEM_BEGIN, next + endLine.length);
    } else {
      pos = text.indexOf(PEM_BEGIN, next);
    }
  }
  return out;
}

// ---- DER (X.690) ----------------------------------------------------------------------------

function derLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n >>>= 8) bytes.unshift(n & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One tag-length-value; `tag` is the full identifier octet. */
export function derTlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(content);
  return new Uint8Array(Buffer.concat([Uint8Array.of(tag), derLength(body.length), body]));
}

export const DerTag = {
  OctetString: 0x04,
  Oid: 0x06,
  Sequence: 0x30,
} as const;

/** A read TLV: its tag, its content, and where the next one starts. */
export interface DerItem {
  tag: number;
  content: Uint8Array;
  end: number;
}

/** Reads one TLV at `offset`; null when the bytes are not well-formed DER lengths. */
export function derRead(bytes: Uint8Array, offset = 0): DerItem | null {
  if (offset + 2 > bytes.length) return null;
  const tag = bytes[offset]!;
  let length = bytes[offset + 1]!;
  let pos = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 3 || pos + count > bytes.length) return null;
    length = 0;
    for (let i = 0; i < count; i++) length = (length << 8) | bytes[pos + i]!;
    pos += count;
  }
  if (pos + length > bytes.length) return null;
  return { tag, content: bytes.subarray(pos, pos + length), end: pos + length };
}

/** The items of a constructed value's content, or null when they do not parse exactly. */
export function derChildren(content: Uint8Array): DerItem[] | null {
  const out: DerItem[] = [];
  let pos = 0;
  while (pos < content.length) {
    const item = derRead(content, pos);
    if (item === null) return null;
    out.push(item);
    pos = item.end;
  }
  return out;
}

/**
 * The bytes of an IP address (4 for IPv4, 16 for IPv6; a `%zone` suffix is ignored); empty when
 * `ip` is not an address.
 */
export function ipBytes(ip: string): Uint8Array {
  return parseIp(ip.split('%')[0] ?? '')?.bytes ?? new Uint8Array();
}
