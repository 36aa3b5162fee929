// SPDX-License-Identifier: MIT
/**
 * The bytes the SNI proxy reads and writes without terminating TLS: the server_name of a TLS
 * ClientHello (RFC 8446 §4.1.2 and §5.1, RFC 6066 §3), found in one or more handshake records,
 * and the PROXY protocol version 2 header that tells a backend the visitor's address
 * (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt §2.2). StartTunnel reads the same
 * name to pick a device (https://github.com/Start9Labs/start-technologies).
 *
 * No library parses a ClientHello without also being a TLS endpoint, so this one is written by
 * hand: every length is checked against what is left before it is used, nothing is copied
 * unless the ClientHello spans several records, and bad input is an `{ error }` result, never a
 * throw.
 * @module
 */

import { parseIp } from '@start-tunnel/protocol';

/** What {@link parseClientHello} learned: the name, whether more bytes are needed, or why not. */
export type ClientHelloResult = { complete: boolean; hostname: string | null } | { error: string };

/** {@link scanClientHello}'s answer: as {@link ClientHelloResult}, with the bytes still needed. */
export type ClientHelloScan =
  | { complete: true; hostname: string | null }
  | { complete: false; hostname: null; need: number }
  | { error: string };

/** RFC 8446 §5.1: a TLSPlaintext header is type (1), legacy_record_version (2), length (2). */
const RECORD_HEADER_BYTES = 5;
/** RFC 8446 §5.1: "The length MUST NOT exceed 2^14 bytes." */
const MAX_FRAGMENT_BYTES = 1 << 14;
/** RFC 8446 §5.1 ContentType handshake(22). */
const CONTENT_HANDSHAKE = 22;
/** RFC 8446 §4 Handshake: msg_type (1), length (uint24). */
const HANDSHAKE_HEADER_BYTES = 4;
/** RFC 8446 §4 HandshakeType client_hello(1). */
const HANDSHAKE_CLIENT_HELLO = 1;
/** RFC 8446 §4.2 ExtensionType server_name(0) (defined in RFC 6066 §3). */
const EXTENSION_SERVER_NAME = 0;
/** RFC 6066 §3 NameType host_name(0). */
const NAME_TYPE_HOST_NAME = 0;
/** RFC 1035 §2.3.4: 255 octets on the wire, 253 characters as text without the final dot. */
const MAX_HOSTNAME_LENGTH = 253;

/**
 * Reads the server_name of the TLS ClientHello at the start of `buf`, the first bytes a TLS
 * client sends on a connection. The ClientHello may come in several handshake records (RFC 8446
 * §5.1) and `buf` may stop anywhere: then the result is `{ complete: false }` until enough bytes
 * are there. Pure and bounds-checked; never throws.
 * @param buf the bytes received so far, from the first
 * @returns `{ complete: true, hostname }` (lower-cased; `null` when the client sent no
 * server_name), `{ complete: false, hostname: null }` when more bytes are needed, or
 * `{ error }` when the bytes are not a well-formed ClientHello
 * @example
 * parseClientHello(firstBytes); // { complete: true, hostname: 'a.example' }
 */
export function parseClientHello(buf: Uint8Array): ClientHelloResult {
  const scan = scanClientHello(buf, Number.POSITIVE_INFINITY);
  if ('error' in scan) return scan;
  return { complete: scan.complete, hostname: scan.hostname };
}

/**
 * {@link parseClientHello} with a limit: a ClientHello whose records would end after `maxBytes`
 * is an error as soon as its length is known, and an incomplete one says how many bytes `buf`
 * must hold before another look can tell more (`need`), so a reader fed one byte at a time
 * scans once per record, not once per byte.
 */
export function scanClientHello(buf: Uint8Array, maxBytes: number): ClientHelloScan {
  const fragments: Uint8Array[] = [];
  let collected = 0;
  let pos = 0;
  let total = -1; // the handshake message's length with its header, once known
  for (;;) {
    if (buf.length < pos + RECORD_HEADER_BYTES) return incomplete(pos + RECORD_HEADER_BYTES);
    // RFC 8446 §5.1: handshake messages MUST NOT be interleaved with other record types
    if (buf[pos] !== CONTENT_HANDSHAKE) {
      return { error: pos === 0 ? 'not a TLS handshake record' : 'record type changed mid-hello' };
    }
    // legacy_record_version: 0x0301 or 0x0303 (RFC 8446 §5.1); older clients send 0x0300..0x0302
    if (buf[pos + 1] !== 3 || buf[pos + 2]! > 4) return { error: 'unknown record version' };
    const length = (buf[pos + 3]! << 8) | buf[pos + 4]!;
    // RFC 8446 §5.1: no zero-length handshake fragments, none over 2^14
    if (length === 0) return { error: 'empty handshake record' };
    if (length > MAX_FRAGMENT_BYTES) return { error: 'record longer than 2^14 bytes' };
    const end = pos + RECORD_HEADER_BYTES + length;
    if (end > maxBytes) return { error: `ClientHello longer than ${maxBytes} bytes` };
    if (buf.length < end) {
      // the first fragment's first byte already tells whether this is a ClientHello
      if (collected === 0 && buf.length > pos + RECORD_HEADER_BYTES) {
        if (buf[pos + RECORD_HEADER_BYTES] !== HANDSHAKE_CLIENT_HELLO) {
          return { error: 'not a ClientHello' };
        }
      }
      return incomplete(end);
    }
    fragments.push(buf.subarray(pos + RECORD_HEADER_BYTES, end));
    collected += length;
    pos = end;
    const first = fragments[0]!;
    if (first[0] !== HANDSHAKE_CLIENT_HELLO) return { error: 'not a ClientHello' };
    if (collected < HANDSHAKE_HEADER_BYTES) continue;
    if (total < 0) {
      // RFC 8446 §4: Handshake.length, uint24 (the header itself may span fragments)
      const length = (byteAt(fragments, 1) << 16) | (byteAt(fragments, 2) << 8);
      total = HANDSHAKE_HEADER_BYTES + (length | byteAt(fragments, 3));
    }
    if (collected >= total) {
      const message = fragments.length === 1 ? first : concat(fragments, collected);
      const body = message.subarray(HANDSHAKE_HEADER_BYTES, total);
      const found = serverNameOf(body);
      return 'error' in found ? found : { complete: true, hostname: found.hostname };
    }
    // at least one more record of at least one byte each for what is missing
    const least = pos + (total - collected) + RECORD_HEADER_BYTES;
    if (least > maxBytes) return { error: `ClientHello longer than ${maxBytes} bytes` };
  }
}

function incomplete(need: number): ClientHelloScan {
  return { complete: false, hostname: null, need };
}

/** Byte `i` of the fragments taken as one. */
function byteAt(parts: readonly Uint8Array[], i: number): number {
  for (const part of parts) {
    if (i < part.length) return part[i]!;
    i -= part.length;
  }
  return 0;
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The server_name of a ClientHello body (after msg_type and length), checked field by field. */
function serverNameOf(b: Uint8Array): { hostname: string | null } | { error: string } {
  const end = b.length;
  // RFC 8446 §4.1.2: ProtocolVersion legacy_version (2), Random random (32)
  let p = 2 + 32;
  if (p + 1 > end) return { error: 'ClientHello shorter than its fixed fields' };
  // opaque legacy_session_id<0..32>
  const sessionId = b[p]!;
  if (sessionId > 32) return { error: 'legacy_session_id longer than 32 bytes' };
  p += 1 + sessionId;
  // CipherSuite cipher_suites<2..2^16-2>: two bytes each
  if (p + 2 > end) return { error: 'ClientHello ends before cipher_suites' };
  const suites = (b[p]! << 8) | b[p + 1]!;
  if (suites < 2 || suites % 2 !== 0) return { error: 'malformed cipher_suites' };
  p += 2 + suites;
  // opaque legacy_compression_methods<1..2^8-1>
  if (p + 1 > end) return { error: 'ClientHello ends before legacy_compression_methods' };
  const methods = b[p]!;
  if (methods < 1) return { error: 'empty legacy_compression_methods' };
  p += 1 + methods;
  if (p > end) return { error: 'ClientHello ends inside legacy_compression_methods' };
  // Extension extensions<8..2^16-1>; a TLS 1.2 hello may have none (RFC 5246 §7.4.1.2)
  if (p === end) return { hostname: null };
  if (p + 2 > end) return { error: 'ClientHello ends inside the extensions length' };
  const extensions = (b[p]! << 8) | b[p + 1]!;
  p += 2;
  if (p + extensions !== end) return { error: 'extensions do not end the ClientHello' };
  let hostname: string | null = null;
  let seen = false;
  while (p < end) {
    // RFC 8446 §4.2: ExtensionType extension_type (2), opaque extension_data<0..2^16-1>
    if (p + 4 > end) return { error: 'extension header cut short' };
    const type = (b[p]! << 8) | b[p + 1]!;
    const length = (b[p + 2]! << 8) | b[p + 3]!;
    p += 4;
    if (p + length > end) return { error: 'extension longer than the extensions' };
    if (type === EXTENSION_SERVER_NAME) {
      // RFC 8446 §4.2: "There MUST NOT be more than one extension of the same type"
      if (seen) return { error: 'server_name sent twice' };
      seen = true;
      const name = hostNameOf(b, p, p + length);
      if (typeof name !== 'string') return name;
      hostname = name;
    }
    p += length;
  }
  return { hostname };
}

/** RFC 6066 §3: the host_name of a ServerNameList in `b[start, end)`, lower-cased. */
function hostNameOf(b: Uint8Array, start: number, end: number): string | { error: string } {
  // ServerName server_name_list<1..2^16-1>
  if (start + 2 > end) return { error: 'server_name without a list' };
  const listLength = (b[start]! << 8) | b[start + 1]!;
  let p = start + 2;
  if (listLength < 1 || p + listLength !== end) return { error: 'malformed server_name_list' };
  let hostname: string | null = null;
  while (p < end) {
    // NameType name_type; only host_name(0) is defined, and its form is all that can be read
    if (b[p] !== NAME_TYPE_HOST_NAME) return { error: 'unknown server_name name_type' };
    // "MUST NOT contain more than one name of the same name_type"
    if (hostname !== null) return { error: 'two host_name entries' };
    // opaque HostName<1..2^16-1>
    if (p + 3 > end) return { error: 'host_name cut short' };
    const length = (b[p + 1]! << 8) | b[p + 2]!;
    p += 3;
    if (length < 1 || p + length > end) return { error: 'malformed host_name' };
    if (length > MAX_HOSTNAME_LENGTH) return { error: 'host_name longer than 253 bytes' };
    const name = asciiHostname(b, p, p + length);
    if (name === null) return { error: 'host_name is not a DNS hostname' };
    hostname = name;
    p += length;
  }
  return hostname ?? { error: 'malformed server_name_list' };
}

/**
 * RFC 6066 §3: "the hostname is represented as a byte string using ASCII encoding without a
 * trailing dot": letters, digits, '-' and '_' in non-empty dot-separated labels of at most 63
 * bytes (RFC 1035 §2.3.4), lower-cased; null for anything else.
 */
function asciiHostname(b: Uint8Array, start: number, end: number): string | null {
  let text = '';
  let label = 0;
  for (let i = start; i < end; i++) {
    let c = b[i]!;
    if (c === 0x2e) {
      if (label === 0) return null;
      label = 0;
    } else {
      const letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
      const digit = c >= 0x30 && c <= 0x39;
      if (!letter && !digit && c !== 0x2d && c !== 0x5f) return null;
      if (++label > 63) return null;
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
    }
    text += String.fromCharCode(c);
  }
  return label === 0 ? null : text;
}

/** PROXY protocol v2 signature (§2.2): \r\n\r\n\0\r\nQUIT\n. */
const PROXY_V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
/** §2.2: version 2 in the high nibble, command PROXY (1) in the low one. */
const PROXY_V2_VERSION_PROXY = 0x21;
/** §2.2: address family (AF_INET 1, AF_INET6 2) high, transport STREAM (1) low. */
const PROXY_V2_TCP4 = 0x11;
const PROXY_V2_TCP6 = 0x21;

/**
 * The PROXY protocol version 2 header (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 * §2.2) a backend reads before the visitor's bytes: command PROXY over TCP, the visitor's address
 * and port as source, the address and port it connected to as destination. Two IPv4 addresses
 * give a TCP4 block (16 + 12 bytes); otherwise both go as IPv6 (16 + 36), an IPv4 one mapped to
 * `::ffff:a.b.c.d`. IPv4-mapped IPv6 input counts as IPv4. No TLVs.
 * @param src the visitor's address and port
 * @param dst the address and port the visitor connected to
 * @returns 28 or 52 bytes
 * @throws TypeError naming the field when an address is not an IP literal or a port not 0..65535
 * @example
 * proxyV2Header({ address: '198.51.100.7', port: 50123 }, { address: '203.0.113.1', port: 443 });
 */
export function proxyV2Header(
  src: { address: string; port: number },
  dst: { address: string; port: number }
): Uint8Array {
  const s = addressBytes(src.address, 'src.address');
  const d = addressBytes(dst.address, 'dst.address');
  checkPort(src.port, 'src.port');
  checkPort(dst.port, 'dst.port');
  const v4 = s.length === 4 && d.length === 4;
  const block = v4 ? 12 : 36;
  const out = new Uint8Array(16 + block);
  out.set(PROXY_V2_SIGNATURE, 0);
  out[12] = PROXY_V2_VERSION_PROXY;
  out[13] = v4 ? PROXY_V2_TCP4 : PROXY_V2_TCP6;
  // §2.2: "the number of following bytes part of the header", network byte order
  out[14] = block >> 8;
  out[15] = block & 0xff;
  const size = v4 ? 4 : 16;
  // §2.2 ipv4_addr / ipv6_addr: src_addr, dst_addr, src_port, dst_port
  out.set(v4 ? s : mapped(s), 16);
  out.set(v4 ? d : mapped(d), 16 + size);
  const view = new DataView(out.buffer);
  view.setUint16(16 + 2 * size, src.port);
  view.setUint16(18 + 2 * size, dst.port);
  return out;
}

/** 4 bytes for IPv4 (including IPv4-mapped IPv6), 16 for IPv6. */
function addressBytes(address: string, field: string): Uint8Array {
  const ip = typeof address === 'string' ? parseIp(address) : null;
  if (!ip) throw new TypeError(`Invalid ${field}: '${String(address)}' is not an IP address`);
  const b = ip.bytes;
  if (ip.family === 6 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff) {
    if (b[11] === 0xff) return b.slice(12);
  }
  return b;
}

function mapped(b: Uint8Array): Uint8Array {
  if (b.length === 16) return b;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(b, 12);
  return out;
}

function checkPort(port: number, field: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new TypeError(`Invalid ${field}: '${String(port)}' is not a port in 0..65535`);
  }
}
