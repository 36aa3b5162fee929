// SPDX-License-Identifier: MIT
/**
 * DNS messages on the wire for the gateway's resolver (`dns.ts`) and its RFC 2136 UPDATE
 * handling (`dns-update.ts`): names, questions and RDATA through `dns-packet`
 * (https://github.com/mafintosh/dns-packet), the header and the resource record frame here.
 *
 * `dns-packet`'s `decode` reads each record's RDATA by its type and ignores RDLENGTH, so an
 * RFC 2136 §2.5.2–2.5.4 delete (an A or AAAA with RDLENGTH 0) shifts every later record, and it
 * has no class NONE (254); so the frame of each record (RFC 1035 §4.1.3) is walked here with
 * RDLENGTH honoured, and `dns-packet` decodes the owner names and, on demand, the RDATA of the
 * four types the resolver holds (A, AAAA, CNAME, TXT), each checked to fill its RDLENGTH
 * exactly. Replies echo the query's question section byte for byte (the client's ID, case and
 * type, even one `dns-packet` has no name for) and encode their records with `dns-packet`.
 *
 * Nothing here trusts its input: every length is checked against the message, and a malformed
 * message is a `FormatError` (the caller answers FORMERR, RFC 1035 §4.1.1, or drops it).
 * Mirrors StartTunnel's per-subnet hickory server
 * (https://github.com/Start9Labs/start-technologies, projects/start-tunnel).
 * @module
 */

import { createRequire } from 'node:module';

/** The part of `dns-packet`'s API used here (it ships no types). */
interface Codec<T> {
  encode: ((value: T, buf?: Buffer, offset?: number) => Buffer) & { bytes: number };
  decode: ((buf: Buffer, offset?: number) => T) & { bytes: number };
}
interface PacketRecord {
  name: string;
  type: string;
  class?: 'IN' | 'ANY';
  ttl?: number;
  data?: string | Buffer | Buffer[];
  udpPayloadSize?: number;
  options?: never[];
}
interface DnsPacket {
  name: Codec<string>;
  a: Codec<string>;
  aaaa: Codec<string>;
  txt: Codec<Buffer[]>;
  cname: Codec<string>;
  answer: Codec<PacketRecord>;
}

const packet = createRequire(import.meta.url)('dns-packet') as DnsPacket;

/** OPCODE values (RFC 1035 §4.1.1, RFC 2136 §1). */
export const OPCODE = { QUERY: 0, UPDATE: 5 } as const;
/** RCODE values (RFC 1035 §4.1.1, RFC 2136 §2.2); TSIG errors (RFC 8945 §3). */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
  BADSIG: 16,
  BADKEY: 17,
  BADTIME: 18,
  BADTRUNC: 22,
} as const;
/** TYPE values (RFC 1035 §3.2.2, RFC 3596, RFC 6891, RFC 8945). */
export const TYPE = {
  A: 1,
  CNAME: 5,
  SOA: 6,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
  TSIG: 250,
  ANY: 255,
} as const;
/** CLASS values (RFC 1035 §3.2.4, RFC 2136 §1). */
export const CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;

/** The four record types the resolver holds. */
export type LocalType = 'A' | 'AAAA' | 'CNAME' | 'TXT';
export const LOCAL_TYPES: Readonly<Record<LocalType, number>> = {
  A: TYPE.A,
  AAAA: TYPE.AAAA,
  CNAME: TYPE.CNAME,
  TXT: TYPE.TXT,
};
/** The local type of a TYPE value, or null. */
export function localType(type: number): LocalType | null {
  for (const [name, value] of Object.entries(LOCAL_TYPES))
    if (value === type) return name as LocalType;
  return null;
}

export const HEADER_BYTES = 12;
/** A UDP message without EDNS is at most 512 octets (RFC 1035 §4.2.1). */
export const UDP_PLAIN_BYTES = 512;
/** The UDP payload size this resolver advertises and honours at most (RFC 6891 §6.2.5). */
export const UDP_EDNS_BYTES = 1232;

const QR = 0x8000;
const AA = 0x0400;
const TC = 0x0200;
const RD = 0x0100;
const RA = 0x0080;

/** A message this resolver cannot read; the caller answers FORMERR or drops it. */
export class FormatError extends Error {}

/** The fixed 12-octet header (RFC 1035 §4.1.1). */
export interface Header {
  id: number;
  qr: boolean;
  opcode: number;
  rd: boolean;
  tc: boolean;
  rcode: number;
  counts: readonly [number, number, number, number];
}

export interface Question {
  /** As sent: case kept, no trailing dot (`.` for the root). */
  name: string;
  type: number;
  class: number;
}

/** A resource record's frame; its RDATA is read on demand (`readAddress`, `readText` …). */
export interface Rr {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** Offsets in the message: the record's first octet, its RDATA, and the octet after it. */
  start: number;
  rdata: number;
  rdlength: number;
  end: number;
}

export interface Message {
  bytes: Buffer;
  header: Header;
  /** The question (zone, in an UPDATE) section, and where it ends in `bytes`. */
  questions: Question[];
  questionEnd: number;
  /** Answer (prerequisite), authority (update) and additional sections. */
  sections: readonly [Rr[], Rr[], Rr[]];
}

/** The header of `bytes`, or null when it is shorter than a header. */
export function readHeader(bytes: Buffer): Header | null {
  if (bytes.length < HEADER_BYTES) return null;
  const flags = bytes.readUInt16BE(2);
  return {
    id: bytes.readUInt16BE(0),
    qr: (flags & QR) !== 0,
    opcode: (flags >> 11) & 0xf,
    tc: (flags & TC) !== 0,
    rd: (flags & RD) !== 0,
    rcode: flags & 0xf,
    counts: [
      bytes.readUInt16BE(4),
      bytes.readUInt16BE(6),
      bytes.readUInt16BE(8),
      bytes.readUInt16BE(10),
    ],
  };
}

function readName(bytes: Buffer, offset: number): { name: string; next: number } {
  // dns-packet checks label lengths, the 255-octet limit and that pointers go backwards
  // (RFC 1035 §4.1.4), so compression cannot loop
  const name = packet.name.decode(bytes, offset);
  return { name, next: offset + packet.name.decode.bytes };
}

/** The question section of a message whose header is `header` (RFC 1035 §4.1.2). */
export function readQuestions(
  bytes: Buffer,
  header: Header
): { questions: Question[]; questionEnd: number } {
  try {
    let offset = HEADER_BYTES;
    const questions: Question[] = [];
    for (let i = 0; i < header.counts[0]; i++) {
      const { name, next } = readName(bytes, offset);
      if (next + 4 > bytes.length) throw new FormatError('truncated question');
      questions.push({ name, type: bytes.readUInt16BE(next), class: bytes.readUInt16BE(next + 2) });
      offset = next + 4;
    }
    return { questions, questionEnd: offset };
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw new FormatError((err as Error).message);
  }
}

/**
 * Every section of `bytes` (RFC 1035 §4.1), or a `FormatError`: truncated, a bad name, a count
 * the message does not hold, or octets after the last record.
 */
export function readMessage(bytes: Buffer): Message {
  const header = readHeader(bytes);
  if (!header) throw new FormatError('shorter than a header');
  const { questions, questionEnd } = readQuestions(bytes, header);
  try {
    let offset = questionEnd;
    const sections: [Rr[], Rr[], Rr[]] = [[], [], []];
    for (let s = 0; s < 3; s++) {
      for (let i = 0; i < header.counts[s + 1]!; i++) {
        const start = offset;
        const { name, next } = readName(bytes, offset);
        // TYPE, CLASS, TTL, RDLENGTH (RFC 1035 §4.1.3)
        if (next + 10 > bytes.length) throw new FormatError('truncated record');
        const rdlength = bytes.readUInt16BE(next + 8);
        const end = next + 10 + rdlength;
        if (end > bytes.length) throw new FormatError('record data past the end');
        sections[s]!.push({
          name,
          type: bytes.readUInt16BE(next),
          class: bytes.readUInt16BE(next + 2),
          ttl: bytes.readUInt32BE(next + 4),
          start,
          rdata: next + 10,
          rdlength,
          end,
        });
        offset = end;
      }
    }
    if (offset !== bytes.length) throw new FormatError('octets after the last record');
    return { bytes, header, questions, questionEnd, sections };
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw new FormatError((err as Error).message);
  }
}

/** Runs a `dns-packet` RDATA decoder that must consume exactly the record's RDATA. */
function decodeExactly<T>(codec: Codec<T>, bytes: Buffer, rr: Rr, lengthPrefixed: boolean): T {
  let value: T;
  try {
    value = codec.decode(bytes, lengthPrefixed ? rr.rdata - 2 : rr.rdata);
  } catch (err) {
    throw new FormatError((err as Error).message);
  }
  const used = codec.decode.bytes - (lengthPrefixed ? 2 : 0);
  if (used !== rr.rdlength) throw new FormatError('record data of the wrong length');
  return value;
}

/**
 * The RDATA of an A, AAAA, CNAME or TXT record as the resolver stores it: an address as
 * `dns-packet` writes it, a name in lower case without the trailing dot, a TXT record's
 * character-strings joined (RFC 1035 §3.3.14) and read as UTF-8.
 */
export function readValue(bytes: Buffer, rr: Rr, type: LocalType): string {
  switch (type) {
    case 'A':
      if (rr.rdlength !== 4) throw new FormatError('A record data must be 4 octets');
      return decodeExactly(packet.a, bytes, rr, true);
    case 'AAAA':
      if (rr.rdlength !== 16) throw new FormatError('AAAA record data must be 16 octets');
      return decodeExactly(packet.aaaa, bytes, rr, true);
    case 'CNAME':
      // names in CNAME data may be compressed (RFC 1035 §4.1.4), so decode in the whole message
      return lowerName(decodeExactly(packet.cname, bytes, rr, true));
    case 'TXT': {
      if (rr.rdlength === 0) throw new FormatError('TXT record data must hold a string');
      const strings = decodeExactly(packet.txt, bytes, rr, true);
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(strings));
      } catch {
        throw new FormatError('TXT record data is not UTF-8');
      }
    }
  }
}

/** A name in the form the records hold it: lower case (RFC 4343 §3), no trailing dot. */
export function lowerName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') && lower !== '.' ? lower.slice(0, -1) : lower;
}

/** The EDNS UDP payload size of a query (RFC 6891 §6.2.3), or null without an OPT record. */
export function ednsSize(message: Message): number | null {
  const opt = message.sections[2].find((rr) => rr.type === TYPE.OPT);
  // the OPT record's CLASS is the requestor's UDP payload size (RFC 6891 §6.1.2)
  return opt ? Math.min(Math.max(opt.class, UDP_PLAIN_BYTES), UDP_EDNS_BYTES) : null;
}

export interface ReplyHeader {
  id: number;
  opcode: number;
  rcode: number;
  /** Authoritative answer (local records). */
  aa?: boolean;
  tc?: boolean;
  rd: boolean;
  /** Recursion available: set on replies to queries (the resolver forwards). */
  ra?: boolean;
}

/**
 * A reply: the header, the request's question (zone) section byte for byte, then the records
 * (each an encoded RR from `encodeRecord`, `encodeOpt` …) in the three later sections.
 */
export function writeReply(
  header: ReplyHeader,
  question: { bytes: Buffer; count: number },
  sections: readonly [readonly Buffer[], readonly Buffer[], readonly Buffer[]]
): Buffer {
  const head = Buffer.alloc(HEADER_BYTES);
  head.writeUInt16BE(header.id, 0);
  let flags = QR | ((header.opcode & 0xf) << 11) | (header.rcode & 0xf);
  if (header.aa) flags |= AA;
  if (header.ra) flags |= RA;
  if (header.tc) flags |= TC;
  if (header.rd) flags |= RD;
  head.writeUInt16BE(flags, 2);
  head.writeUInt16BE(question.count, 4);
  head.writeUInt16BE(sections[0].length, 6);
  head.writeUInt16BE(sections[1].length, 8);
  head.writeUInt16BE(sections[2].length, 10);
  return Buffer.concat([head, question.bytes, ...sections[0], ...sections[1], ...sections[2]]);
}

/** The question section of `message` as sent (one to echo in a reply). */
export function questionOf(message: Message): { bytes: Buffer; count: number } {
  return {
    bytes: message.bytes.subarray(HEADER_BYTES, message.questionEnd),
    count: message.questions.length,
  };
}

/** One record of the answer section, or null when `value` cannot be encoded as `type`. */
export function encodeRecord(
  name: string,
  type: LocalType,
  ttl: number,
  value: string
): Buffer | null {
  if (!isWireName(name) || (type === 'CNAME' && !isWireName(value))) return null;
  try {
    let data: string | Buffer[] = value;
    if (type === 'TXT') {
      // a character-string holds at most 255 octets (RFC 1035 §3.3): split longer values
      const bytes = Buffer.from(value, 'utf8');
      data = [];
      for (let i = 0; i < bytes.length || i === 0; i += 255) data.push(bytes.subarray(i, i + 255));
    }
    // TTL is an unsigned 31-bit number (RFC 2181 §8)
    const ttl31 = Math.min(Math.max(Math.trunc(ttl), 0), 0x7fffffff);
    return Buffer.from(packet.answer.encode({ name, type, class: 'IN', ttl: ttl31, data }));
  } catch {
    return null;
  }
}

/** A name `dns-packet` encodes faithfully: labels of 1 to 63 octets, 253 in all (RFC 1035 §2.3.4). */
function isWireName(name: string): boolean {
  const text = name.endsWith('.') ? name.slice(0, -1) : name;
  if (Buffer.byteLength(text) > 253) return false;
  return text.split('.').every((label) => label.length > 0 && Buffer.byteLength(label) <= 63);
}

/** The OPT pseudo-record of a reply to an EDNS query (RFC 6891 §6.1.2, §7). */
export function encodeOpt(): Buffer {
  return Buffer.from(
    packet.answer.encode({ name: '.', type: 'OPT', udpPayloadSize: UDP_EDNS_BYTES, options: [] })
  );
}

/** A TSIG record (RFC 8945 §4.2): owner `keyName`, class ANY, TTL 0, RDATA as given. */
export function encodeTsigRecord(keyName: string, rdata: Buffer): Buffer {
  return Buffer.from(
    packet.answer.encode({ name: keyName, type: 'TSIG', class: 'ANY', ttl: 0, data: rdata })
  );
}

/** A name in uncompressed wire form, lower-cased: the canonical form of RFC 4034 §6.2. */
export function canonicalNameWire(name: string): Buffer {
  return Buffer.from(packet.name.encode(lowerName(name)));
}

/** Reads a name inside RDATA (the TSIG algorithm); a `FormatError` when it is malformed. */
export function readNameAt(bytes: Buffer, offset: number): { name: string; next: number } {
  try {
    return readName(bytes, offset);
  } catch (err) {
    throw new FormatError((err as Error).message);
  }
}

/** A copy of `reply` with TC set and only its question kept (RFC 1035 §4.2.1, RFC 2181 §9). */
export function truncated(reply: Buffer, questionEnd: number): Buffer {
  const out = Buffer.from(reply.subarray(0, questionEnd));
  out.writeUInt16BE(out.readUInt16BE(2) | TC, 2);
  out.fill(0, 6, HEADER_BYTES);
  return out;
}
