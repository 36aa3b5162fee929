// SPDX-License-Identifier: MIT
/**
 * RFC 2136 UPDATE for the gateway's resolver, signed with TSIG (RFC 8945): the key a device
 * signs with, the TSIG check of a request and the signature of its reply, and what an UPDATE
 * asks for (prerequisites, then the changes to the record store). As StartTunnel's per-subnet
 * hickory server and StartOS's `rfc2136` client agree
 * (https://github.com/Start9Labs/start-technologies): HMAC-SHA256, key name
 * `startos-dns-update.`, fudge 300 s, key = HKDF-SHA256 of the device's WireGuard preshared key.
 * No replay cache, as in the original: a replay is bounded by the time window, and UPDATEs are
 * idempotent.
 * @module
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalIp } from '@start-tunnel/protocol';
import { DNS_UPDATE_KEY_NAME } from '@start-tunnel/tunnel';
import {
  CLASS,
  canonicalNameWire,
  encodeTsigRecord,
  FormatError,
  LOCAL_TYPES,
  type LocalType,
  localType,
  lowerName,
  type Message,
  RCODE,
  type Rr,
  readNameAt,
  readValue,
  TYPE,
} from './dns-wire.ts';

/** A record the resolver answers with (the global store, `dnsRecords` in the state). */
export interface DnsRecord {
  /** Lower case, no trailing dot. */
  name: string;
  type: LocalType;
  value: string;
  ttl: number;
  /** The device address that published it (RFC 2136), null for a manual record. */
  source: string | null;
}

/** One change an authorized UPDATE asks for, in the order of its update section. */
export type DnsChange =
  | { op: 'add'; name: string; type: LocalType; value: string; ttl: number }
  | { op: 'delete-rrset'; name: string; type: LocalType | 'ANY' }
  | { op: 'delete-rr'; name: string; type: LocalType; value: string };

/**
 * The TSIG key name devices sign with (RFC 8945 §4.2 NAME) and their key (HKDF-SHA256 of the
 * device's preshared key): the tunnel's model owns both, the RPC `device.dns-key` shows them.
 */
export { DNS_UPDATE_KEY_NAME, dnsUpdateKey } from '@start-tunnel/tunnel';
/** The one TSIG algorithm accepted (RFC 8945 §6). */
export const TSIG_ALGORITHM = 'hmac-sha256';
/** The widest time window accepted, in seconds (RFC 8945 §5.2.3 Fudge). */
export const TSIG_FUDGE_S = 300;
const MAC_BYTES = 32;

/** A TSIG record's fields (RFC 8945 §4.2) and where it starts in its message. */
export interface Tsig {
  keyName: string;
  algorithm: string;
  /** Seconds since the epoch (48 bits). */
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  other: Buffer;
  start: number;
}

/**
 * The TSIG record of `message`, or null when it has none. A TSIG anywhere but last in the
 * additional section, or a second one, is a `FormatError` (RFC 8945 §5.1).
 */
export function readTsig(message: Message): Tsig | null {
  const [answers, authorities, additionals] = message.sections;
  const tsigs = [...answers, ...authorities, ...additionals].filter((rr) => rr.type === TYPE.TSIG);
  if (tsigs.length === 0) return null;
  const rr = additionals[additionals.length - 1];
  if (tsigs.length > 1 || rr !== tsigs[0] || !rr) throw new FormatError('TSIG must be last');
  const bytes = message.bytes;
  const end = rr.rdata + rr.rdlength;
  const { name: algorithm, next } = readNameAt(bytes, rr.rdata);
  // Time Signed (48 bits), Fudge, MAC Size, MAC, Original ID, Error, Other Len, Other Data
  if (next + 10 > end) throw new FormatError('truncated TSIG');
  const macSize = bytes.readUInt16BE(next + 8);
  const afterMac = next + 10 + macSize;
  if (afterMac + 6 > end) throw new FormatError('truncated TSIG');
  const otherLength = bytes.readUInt16BE(afterMac + 4);
  if (afterMac + 6 + otherLength !== end) throw new FormatError('TSIG of the wrong length');
  return {
    keyName: rr.name,
    algorithm,
    timeSigned: bytes.readUIntBE(next, 6),
    fudge: bytes.readUInt16BE(next + 6),
    mac: bytes.subarray(next + 10, afterMac),
    originalId: bytes.readUInt16BE(afterMac),
    error: bytes.readUInt16BE(afterMac + 2),
    other: bytes.subarray(afterMac + 6, end),
    start: rr.start,
  };
}

/** The TSIG variables (RFC 8945 §4.3.3) for a key name, time, fudge, error and other data. */
function tsigVariables(
  keyName: string,
  timeSigned: number,
  fudge: number,
  error: number,
  other: Buffer
): Buffer {
  const fixed = Buffer.alloc(2 + 4);
  fixed.writeUInt16BE(CLASS.ANY, 0); // CLASS ANY, TTL 0
  const times = Buffer.alloc(6 + 2 + 2 + 2);
  times.writeUIntBE(timeSigned, 0, 6);
  times.writeUInt16BE(fudge, 6);
  times.writeUInt16BE(error, 8);
  times.writeUInt16BE(other.length, 10);
  return Buffer.concat([
    canonicalNameWire(keyName),
    fixed,
    canonicalNameWire(TSIG_ALGORITHM),
    times,
    other,
  ]);
}

/** HMAC-SHA256 over a message (its ID set to `originalId`) and the TSIG variables. */
function tsigMac(
  key: Uint8Array,
  requestMac: Buffer | null,
  message: Buffer,
  originalId: number,
  variables: Buffer
): Buffer {
  const hmac = createHmac('sha256', key);
  // a reply's digest starts with the request's MAC, with its length (RFC 8945 §4.3.1)
  if (requestMac) {
    const size = Buffer.alloc(2);
    size.writeUInt16BE(requestMac.length);
    hmac.update(size).update(requestMac);
  }
  const id = Buffer.alloc(2);
  id.writeUInt16BE(originalId);
  // "If the message ID differs from the original message ID, the original message ID is
  // substituted for the message ID" (RFC 8945 §4.3.3)
  hmac.update(id).update(message.subarray(2));
  return hmac.update(variables).digest();
}

/**
 * Checks the TSIG of a request against `key` (RFC 8945 §5.2): 0 when it verifies, else the TSIG
 * error to answer with under NOTAUTH (BADKEY, BADSIG, BADTRUNC, BADTIME), or FORMERR for a MAC
 * of an impossible size (§5.2.2.1). The time window is the request's fudge, at most 300 s.
 */
export function verifyTsig(message: Message, tsig: Tsig, key: Uint8Array, nowS: number): number {
  if (lowerName(tsig.keyName) !== lowerName(DNS_UPDATE_KEY_NAME)) return RCODE.BADKEY;
  if (lowerName(tsig.algorithm) !== TSIG_ALGORITHM) return RCODE.BADKEY;
  // §5.2.2.1: longer than the HMAC, or shorter than 10 octets or half of it, is malformed
  if (tsig.mac.length > MAC_BYTES || tsig.mac.length < MAC_BYTES / 2) return RCODE.FORMERR;
  // a truncated MAC is allowed by RFC 8945 §5.2.2.1, not by this server's policy
  if (tsig.mac.length < MAC_BYTES) return RCODE.BADTRUNC;
  // the message as signed: without the TSIG record, ARCOUNT one less (§4.3.3)
  const unsigned = Buffer.from(message.bytes.subarray(0, tsig.start));
  unsigned.writeUInt16BE(message.header.counts[3] - 1, 10);
  const variables = tsigVariables(
    tsig.keyName,
    tsig.timeSigned,
    tsig.fudge,
    tsig.error,
    tsig.other
  );
  const expected = tsigMac(key, null, unsigned, tsig.originalId, variables);
  if (!timingSafeEqual(expected, tsig.mac)) return RCODE.BADSIG;
  // §5.2.3: the time is checked after the MAC, so BADTIME is only said to a key holder
  const window = Math.min(tsig.fudge, TSIG_FUDGE_S);
  if (Math.abs(nowS - tsig.timeSigned) > window) return RCODE.BADTIME;
  return 0;
}

/**
 * `reply` with a TSIG record appended (RFC 8945 §5.3): signed with `key` over the request's
 * MAC, the reply and the variables; unsigned (MAC size 0) when `key` is null, as BADKEY and
 * BADSIG replies are (§5.3.2). A BADTIME reply carries the server's time in Other Data (§5.2.3).
 */
export function signReply(
  reply: Buffer,
  key: Uint8Array | null,
  request: Tsig,
  error: number,
  nowS: number
): Buffer {
  const other = Buffer.alloc(error === RCODE.BADTIME ? 6 : 0);
  if (error === RCODE.BADTIME) other.writeUIntBE(nowS, 0, 6);
  const timeSigned = error === RCODE.BADTIME ? request.timeSigned : nowS;
  const mac = key
    ? tsigMac(
        key,
        request.mac,
        reply,
        request.originalId,
        tsigVariables(request.keyName, timeSigned, TSIG_FUDGE_S, error, other)
      )
    : Buffer.alloc(0);
  const rdata = Buffer.alloc(6 + 2 + 2 + mac.length + 6 + other.length);
  rdata.writeUIntBE(timeSigned, 0, 6);
  rdata.writeUInt16BE(TSIG_FUDGE_S, 6);
  rdata.writeUInt16BE(mac.length, 8);
  mac.copy(rdata, 10);
  const at = 10 + mac.length;
  rdata.writeUInt16BE(request.originalId, at);
  rdata.writeUInt16BE(error, at + 2);
  rdata.writeUInt16BE(other.length, at + 4);
  other.copy(rdata, at + 6);
  const record = encodeTsigRecord(
    request.keyName,
    Buffer.concat([canonicalNameWire(TSIG_ALGORITHM), rdata])
  );
  const out = Buffer.concat([reply, record]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}

const NAME_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** A name the store holds: lower case, at most 253 octets, letters, digits, `-` and `_`. */
export function isRecordName(name: string): boolean {
  return name.length <= 253 && name.split('.').every((label) => NAME_LABEL.test(label));
}

/** A value as the store compares it: addresses canonical, names lower case. */
export function normalValue(type: LocalType, value: string): string {
  if (type === 'A' || type === 'AAAA') return canonicalIp(value) ?? value;
  if (type === 'CNAME') return lowerName(value);
  return value;
}

/** QUERY metatypes and pseudo-types: never data (RFC 2136 §3.4.1.3, RFC 6895 §3.1). */
function isMetaType(type: number): boolean {
  return type === TYPE.OPT || (type >= 128 && type <= 255);
}

/** What an UPDATE asks for: an RCODE, and the changes when it is NOERROR. */
export interface UpdatePlan {
  rcode: number;
  changes: DnsChange[];
}

/**
 * Reads an UPDATE (RFC 2136 §3) against the records held now: the zone section, the
 * prerequisites (§3.2), then every update (§3.4.1, all checked before any is applied). The zone
 * is not checked against the names, as the original's devices send any parent (deviation from
 * §3.4.1.3's NOTZONE). Only A, AAAA, CNAME and TXT are held: any other type is REFUSED.
 */
export function planUpdate(message: Message, records: readonly DnsRecord[]): UpdatePlan {
  const fail = (rcode: number): UpdatePlan => ({ rcode, changes: [] });
  // §3.1.1: exactly one zone, of type SOA; this server holds class IN only
  const zone = message.questions[0];
  if (message.questions.length !== 1 || !zone || zone.type !== TYPE.SOA) return fail(RCODE.FORMERR);
  if (zone.class !== CLASS.IN) return fail(RCODE.REFUSED);
  try {
    const prerequisite = checkPrerequisites(message, message.sections[0], records);
    if (prerequisite !== RCODE.NOERROR) return fail(prerequisite);
    const changes: DnsChange[] = [];
    for (const rr of message.sections[1]) {
      const change = readChange(message, rr);
      if (typeof change === 'number') return fail(change);
      changes.push(change);
    }
    return { rcode: RCODE.NOERROR, changes };
  } catch (err) {
    if (err instanceof FormatError) return fail(RCODE.FORMERR);
    throw err;
  }
}

/** One update RR (RFC 2136 §2.5, §3.4.1.3) as a change, or the RCODE that refuses it. */
function readChange(message: Message, rr: Rr): DnsChange | number {
  const name = lowerName(rr.name);
  const type = localType(rr.type);
  if (rr.class === CLASS.IN) {
    if (isMetaType(rr.type)) return RCODE.FORMERR;
    if (!type || !isRecordName(name)) return RCODE.REFUSED;
    const value = normalValue(type, readValue(message.bytes, rr, type));
    if (type === 'CNAME' && !isRecordName(value)) return RCODE.REFUSED;
    // TTLs with the top bit set are 0 (RFC 2181 §8)
    return { op: 'add', name, type, value, ttl: rr.ttl > 0x7fffffff ? 0 : rr.ttl };
  }
  if (rr.class === CLASS.ANY) {
    // §2.5.2, §2.5.3: TTL 0 and no RDATA
    if (rr.ttl !== 0 || rr.rdlength !== 0) return RCODE.FORMERR;
    if (rr.type === TYPE.ANY)
      return isRecordName(name) ? { op: 'delete-rrset', name, type: 'ANY' } : RCODE.REFUSED;
    if (isMetaType(rr.type)) return RCODE.FORMERR;
    if (!type || !isRecordName(name)) return RCODE.REFUSED;
    return { op: 'delete-rrset', name, type };
  }
  if (rr.class === CLASS.NONE) {
    // §2.5.4: TTL 0, the RDATA to delete
    if (rr.ttl !== 0 || isMetaType(rr.type)) return RCODE.FORMERR;
    if (!type || !isRecordName(name)) return RCODE.REFUSED;
    return {
      op: 'delete-rr',
      name,
      type,
      value: normalValue(type, readValue(message.bytes, rr, type)),
    };
  }
  return RCODE.FORMERR;
}

/** RFC 2136 §3.2: NOERROR when every prerequisite holds, else the RCODE of the first that fails. */
function checkPrerequisites(
  message: Message,
  prerequisites: readonly Rr[],
  records: readonly DnsRecord[]
): number {
  const held = (name: string, type?: number) =>
    records.filter((r) => r.name === name && (type === undefined || LOCAL_TYPES[r.type] === type));
  // §3.2.3: value-dependent prerequisites are compared as whole RRsets
  const wanted = new Map<string, { name: string; type: LocalType; values: Set<string> }>();
  for (const rr of prerequisites) {
    const name = lowerName(rr.name);
    if (rr.ttl !== 0) return RCODE.FORMERR;
    if (rr.class === CLASS.ANY || rr.class === CLASS.NONE) {
      if (rr.rdlength !== 0 || (isMetaType(rr.type) && rr.type !== TYPE.ANY)) return RCODE.FORMERR;
      const type = rr.type === TYPE.ANY ? undefined : rr.type;
      const exists = held(name, type).length > 0;
      if (rr.class === CLASS.ANY && !exists)
        return type === undefined ? RCODE.NXDOMAIN : RCODE.NXRRSET;
      if (rr.class === CLASS.NONE && exists)
        return type === undefined ? RCODE.YXDOMAIN : RCODE.YXRRSET;
    } else if (rr.class === CLASS.IN) {
      if (isMetaType(rr.type)) return RCODE.FORMERR;
      const type = localType(rr.type);
      // a type this server cannot hold never exists here
      if (!type) return RCODE.NXRRSET;
      const key = `${name} ${type}`;
      const set = wanted.get(key) ?? { name, type, values: new Set<string>() };
      set.values.add(normalValue(type, readValue(message.bytes, rr, type)));
      wanted.set(key, set);
    } else {
      return RCODE.FORMERR;
    }
  }
  for (const { name, type, values } of wanted.values()) {
    const have = new Set(held(name, LOCAL_TYPES[type]).map((r) => normalValue(type, r.value)));
    if (have.size !== values.size || [...values].some((v) => !have.has(v))) return RCODE.NXRRSET;
  }
  return RCODE.NOERROR;
}
