// SPDX-License-Identifier: MIT
/**
 * One JSON form for rule expressions that nft versions list differently, so that drift compares
 * meaning, not the spelling of one nft release. Pure; applied to both sides of the comparison.
 *
 * Seen between Debian 12's nft 1.0.6 and Debian 13's nft 1.1.3 listing the same table (the
 * listings are kept in `test/listed/`):
 * - a bitwise OR of constants, `tcp flags & (syn | rst) == syn`: 1.0.6 lists the right operand
 *   of `&` as an array of flag names (`["syn", "rst"]`), 1.1.3 as a binary expression
 *   (`{"|": ["syn", "rst"]}`). Both are documented forms of libnftables-json(5) ("BINARY
 *   OPERATION" and "a list of flags"): https://manpages.debian.org/trixie/libnftables1/libnftables-json.5.en.html
 * - an L4 protocol matched through `meta l4proto` (and `ip protocol` / `ip6 nexthdr`): 1.0.6
 *   lists names (`"tcp"`, `{"set": ["tcp", "udp"]}`), 1.1.3 numbers (`6`, `{"set": [6, 17]}`),
 *   the IANA protocol numbers: https://www.iana.org/assignments/protocol-numbers/
 *
 * The normal form is the one the generator writes (arrays of flags, protocol names), so what
 * `rules.ts` produces is already normal.
 * @module
 */

import type { Json } from './schema.ts';

/** IANA protocol numbers of the names nft prints for `meta l4proto` (nft's own table). */
const PROTOCOL_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'icmp'],
  [2, 'igmp'],
  [6, 'tcp'],
  [17, 'udp'],
  [33, 'dccp'],
  [47, 'gre'],
  [50, 'esp'],
  [51, 'ah'],
  [58, 'icmpv6'],
  [132, 'sctp'],
  [136, 'udplite'],
]);

type JsonRecord = { readonly [key: string]: Json };

function isRecord(value: Json | undefined): value is JsonRecord {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** True for the left side of a match whose right side is an L4 protocol. */
function isProtocolKey(left: Json | undefined): boolean {
  if (!isRecord(left)) return false;
  const meta = left['meta'];
  if (isRecord(meta)) return meta['key'] === 'l4proto';
  const payload = left['payload'];
  if (!isRecord(payload)) return false;
  return (
    (payload['protocol'] === 'ip' && payload['field'] === 'protocol') ||
    (payload['protocol'] === 'ip6' && payload['field'] === 'nexthdr')
  );
}

function protocolName(value: Json): Json {
  if (typeof value === 'number') return PROTOCOL_NAMES.get(value) ?? value;
  if (isRecord(value) && Array.isArray(value['set'])) {
    return { ...value, set: (value['set'] as Json[]).map(protocolName) };
  }
  return value;
}

/** The operands of nested `|` expressions, flattened: `a | (b | c)` is `[a, b, c]`. */
function orOperands(value: Json): Json[] {
  if (isRecord(value) && Array.isArray(value['|'])) {
    return (value['|'] as Json[]).flatMap(orOperands);
  }
  return [normalizeExpr(value)];
}

/**
 * The normal form of a rule expression (or any part of one): `{"|": [...]}` of constants
 * becomes the list of them, and L4 protocol numbers on the right of a protocol match become
 * their names. Returns a new value; never mutates.
 */
export function normalizeExpr(value: Json): Json {
  if (Array.isArray(value)) return value.map(normalizeExpr);
  if (!isRecord(value)) return value;
  if (Array.isArray(value['|']) && Object.keys(value).length === 1) {
    const operands = orOperands(value);
    // only an OR of constants has a list form; an OR involving an expression stays as it is
    if (operands.every((o) => typeof o === 'string' || typeof o === 'number')) return operands;
    return { '|': operands };
  }
  const out: { [key: string]: Json } = {};
  for (const [key, item] of Object.entries(value)) out[key] = normalizeExpr(item);
  const match = out['match'];
  if (isRecord(match) && isProtocolKey(match['left']) && match['right'] !== undefined) {
    out['match'] = { ...match, right: protocolName(match['right']) };
  }
  return out;
}
