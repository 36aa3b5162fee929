// SPDX-License-Identifier: MIT
/**
 * `db.dump` and `db.apply`: the state as a JSON document. StartTunnel's `db dump` returns its
 * database at a JSON Pointer and `db apply` rewrites it, refusing a result that does not fit
 * the model
 * (https://github.com/Start9Labs/start-os/blob/0d4ddc3451127a6238d6c63b77b14a2866a1426c/core/src/tunnel/db.rs#L138-L220).
 * Here a dump redacts every secret (server and device private keys, preshared keys, and in the
 * panel's section the password hash, TLS and root CA keys and session ids) unless root asks on
 * the local socket; `db.apply` takes an RFC 6902 patch (https://www.rfc-editor.org/rfc/rfc6902),
 * applies it to the redacted document (so a patch can neither read nor copy a secret), puts
 * back the current secret wherever the result still says `REDACTED`, checks every field of the
 * result with the model's own rules, and hands it to `Tunnel.change` (nat check, durable
 * commit, data plane by difference, rollback): the whole patch or nothing. The panel's section
 * (`/web`) is read-only here: its commands keep its invariants (sessions, the listener).
 * @module
 */

import {
  ErrorCode,
  formatPointer,
  type PatchOperation,
  parsePointer,
  REDACTED,
  type RpcDispatcher,
  RpcError,
} from '@start-tunnel/protocol';
import { z } from 'zod';
import { parsePinholeKey, parsePrefix6 } from './addr6.ts';
import { parseDnsName, parseDnsValue } from './dns.ts';
import { checkWanIp } from './egress.ts';
import { cidrsOverlap, formatIPv4, parseIPv4 } from './ipv4.ts';
import { addPinhole, setSubnetIpv6 } from './ipv6.ts';
import {
  checkName,
  normalizeKey,
  parseDeviceIp,
  parseSource,
  parseSubnet,
  parseTarget,
  publicKeyOf,
  setWanOverride,
} from './model.ts';
import { SCHEMA_VERSION, type State } from './schema.ts';
import { parseHostname } from './sni.ts';
import type { Tunnel } from './tunnel.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Sets an own property, even one named `__proto__`. */
function setOwn(obj: Record<string, Json>, key: string, value: Json): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(b).length &&
      ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]))
    );
  }
  return false;
}

// ---- secrets -------------------------------------------------------------------------------

/** Where secrets sit in the tunnel's own sections (`*`: any key). */
const SECRET_PATHS: readonly (readonly string[])[] = [
  ['server', 'privateKey'],
  ['subnets', '*', 'devices', '*', 'privateKey'],
  ['subnets', '*', 'devices', '*', 'presharedKey'],
];

/** The same in the panel's section. */
const WEB_SECRET_PATHS: readonly (readonly string[])[] = [
  ['web', 'password'],
  ['web', 'webserver', 'certificate', 'keyPem'],
  ['web', 'webserver', 'rootCa', 'keyPem'],
];

/** Every concrete location of `pattern` in `doc` that holds a string. */
function* secretsIn(
  doc: Json,
  pattern: readonly string[],
  at: string[] = []
): Generator<{ path: string[]; parent: Record<string, Json>; key: string }> {
  if (!isObject(doc)) return;
  const [head, ...rest] = pattern;
  if (head === undefined) return;
  const keys = head === '*' ? Object.keys(doc) : Object.hasOwn(doc, head) ? [head] : [];
  for (const key of keys) {
    if (rest.length === 0) {
      if (typeof doc[key] === 'string') yield { path: [...at, key], parent: doc, key };
    } else {
      yield* secretsIn(doc[key] as Json, rest, [...at, key]);
    }
  }
}

/** The state as JSON with every secret replaced by `REDACTED` (session ids renumbered). */
export function redactState(state: State): Json {
  const doc = clone(state) as unknown as Json;
  for (const pattern of [...SECRET_PATHS, ...WEB_SECRET_PATHS]) {
    for (const { parent, key } of secretsIn(doc, pattern)) parent[key] = REDACTED;
  }
  if (isObject(doc) && isObject(doc.web) && isObject(doc.web.sessions)) {
    const sessions: Record<string, Json> = {};
    Object.values(doc.web.sessions).forEach((s, i) => {
      setOwn(sessions, `${REDACTED} ${i + 1}`, s);
    });
    doc.web.sessions = sessions;
  }
  return doc;
}

// ---- JSON Pointer and Patch ----------------------------------------------------------------

function refuse(
  field: string,
  shown: string,
  reason: string,
  code: number = ErrorCode.InvalidRequest
) {
  return new RpcError(code, `Invalid ${field} ${JSON.stringify(shown)}: ${reason}`, field, reason);
}

/** The value at `tokens`, or undefined when there is none. */
function locate(doc: Json, tokens: readonly string[]): Json | undefined {
  let here: Json | undefined = doc;
  for (const token of tokens) {
    if (Array.isArray(here)) {
      if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
      here = here[Number(token)];
    } else if (isObject(here)) {
      here = Object.hasOwn(here, token) ? here[token] : undefined;
    } else {
      return undefined;
    }
  }
  return here;
}

/** The part of `doc` at a JSON Pointer; NotFound naming `field` when nothing is there. */
export function valueAt(doc: Json, pointer: string, field = 'pointer'): Json {
  let tokens: string[];
  try {
    tokens = parsePointer(pointer);
  } catch (err) {
    throw refuse(field, pointer, (err as Error).message);
  }
  const found = locate(doc, tokens);
  if (found === undefined) throw refuse(field, pointer, 'nothing is there', ErrorCode.NotFound);
  return found;
}

const INDEX = /^(0|[1-9][0-9]*)$/;

function missing(field: string, pointer: string): RpcError {
  return refuse(field, pointer, 'nothing is there', ErrorCode.NotFound);
}

/** RFC 6902 §4.1 `add` at `tokens`; returns the new root. */
function addAt(
  root: Json,
  tokens: readonly string[],
  value: Json,
  field: string,
  pointer: string
): Json {
  if (tokens.length === 0) return value;
  const parent = locate(root, tokens.slice(0, -1));
  const last = tokens.at(-1) ?? '';
  if (Array.isArray(parent)) {
    const index = last === '-' ? parent.length : INDEX.test(last) ? Number(last) : -1;
    if (index < 0 || index > parent.length) throw refuse(field, pointer, 'no such array index');
    parent.splice(index, 0, value);
  } else if (isObject(parent)) {
    setOwn(parent, last, value);
  } else {
    throw missing(field, pointer);
  }
  return root;
}

/** RFC 6902 §4.2 `remove` at `tokens`; returns the new root and what was there. */
function removeAt(
  root: Json,
  tokens: readonly string[],
  field: string,
  pointer: string
): { root: Json; value: Json } {
  const value = locate(root, tokens);
  if (value === undefined) throw missing(field, pointer);
  if (tokens.length === 0) return { root: null, value };
  const parent = locate(root, tokens.slice(0, -1));
  const last = tokens.at(-1) ?? '';
  if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else if (isObject(parent)) delete parent[last];
  return { root, value };
}

/** One operation on `doc` (which it may change); returns the new root. */
function applyOperation(doc: Json, op: PatchOperation, i: number): Json {
  const field = `patch[${i}].path`;
  const tokens = parsePointer(op.path);
  switch (op.op) {
    case 'add':
      return addAt(doc, tokens, clone(op.value as Json), field, op.path);
    case 'remove':
      return removeAt(doc, tokens, field, op.path).root;
    case 'replace': {
      const { root } = removeAt(doc, tokens, field, op.path);
      return addAt(root, tokens, clone(op.value as Json), field, op.path);
    }
    case 'test':
      if (!deepEqual(locate(doc, tokens), op.value)) {
        throw new RpcError(
          ErrorCode.InvalidRequest,
          `Test failed at patch[${i}]: ${op.path || '(the root)'} holds something else`,
          field,
          'holds something else'
        );
      }
      return doc;
    case 'copy':
    case 'move': {
      const fromField = `patch[${i}].from`;
      const from = parsePointer(op.from);
      const value = locate(doc, from);
      if (value === undefined) throw missing(fromField, op.from);
      if (op.op === 'copy') return addAt(doc, tokens, clone(value), field, op.path);
      if (from.length < tokens.length && from.every((t, k) => t === tokens[k])) {
        throw refuse(fromField, op.from, 'cannot move a value into itself');
      }
      const { root } = removeAt(doc, from, fromField, op.from);
      return addAt(root, tokens, value, field, op.path);
    }
  }
}

/** Applies a patch to a copy of `doc`; throws naming the operation at fault. */
export function applyPatch(doc: Json, patch: readonly PatchOperation[]): Json {
  let out = clone(doc);
  patch.forEach((op, i) => {
    out = applyOperation(out, op, i);
  });
  return out;
}

// ---- the checked state ---------------------------------------------------------------------

const time = z.iso.datetime({ error: 'must be an ISO 8601 time' });
const str = z.string({ error: 'must be a string' });
const bool = z.boolean({ error: 'must be a boolean' });
const sniRoute = z.strictObject({
  target: str,
  label: str.nullable(),
  enabled: bool,
  auto: bool,
  proxyProtocol: bool,
  createdAt: time,
});
const stateSchema = z.strictObject({
  schema: z.literal(SCHEMA_VERSION, { error: `must be ${SCHEMA_VERSION}` }),
  server: z.strictObject({ privateKey: str }),
  wan: z.strictObject({ override: str.nullable() }),
  subnets: z.record(
    str,
    z.strictObject({
      name: str,
      devices: z.record(
        str,
        z.strictObject({
          name: str,
          publicKey: str,
          privateKey: str.nullable(),
          presharedKey: str,
          createdAt: time,
          kind: z.enum(['client', 'server'], { error: 'must be "client" or "server"' }),
          wanIp: str.nullable(),
          allowDnsInjection: bool,
          allowAutoPortForward: bool,
        })
      ),
      wanIp: str.nullable(),
      ipv6: str.nullable(),
      dns: z.strictObject({
        mode: z.enum(['default', 'device', 'custom'], {
          error: 'must be "default", "device" or "custom"',
        }),
        deviceIp: str.nullable(),
        servers: z.array(str).max(3),
      }),
    })
  ),
  forwards: z.record(
    str,
    z.strictObject({
      target: str,
      protocol: z.enum(['tcp', 'udp', 'both'], { error: 'must be "tcp", "udp" or "both"' }),
      label: str.nullable(),
      enabled: z.boolean({ error: 'must be a boolean' }),
      createdAt: time,
      auto: bool,
    })
  ),
  sni: z.record(
    str,
    z.strictObject({ routes: z.record(str, sniRoute), fallback: sniRoute.nullable() })
  ),
  dnsRecords: z.array(
    z.strictObject({
      name: str,
      type: z.enum(['A', 'AAAA', 'CNAME', 'TXT'], { error: 'must be A, AAAA, CNAME or TXT' }),
      value: str,
      ttl: z.number().int().min(0).max(604800),
      source: str.nullable(),
    })
  ),
  pinholes: z.record(
    str,
    z.strictObject({
      internalPort: z.number().int().min(1).max(65535).nullable(),
      count: z.number().int().min(1).max(65535),
      label: str.nullable(),
      enabled: z.boolean({ error: 'must be a boolean' }),
      createdAt: time,
      auto: bool,
    })
  ),
  httpRedirects: z.strictObject({ disabled: z.array(str) }),
  web: z.record(str, z.unknown()).nullable(),
});

/** Runs a model check and re-words its refusal for the location `tokens`. */
function at<T>(tokens: readonly string[], value: unknown, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (!(err instanceof RpcError)) throw err;
    const pointer = formatPointer(tokens);
    const reason = err.details ?? err.message;
    throw new RpcError(
      err.code,
      `Invalid ${pointer} ${JSON.stringify(value)}: ${reason}`,
      pointer,
      reason
    );
  }
}

/** Requires the stored form of a value; `shown` is what an error may print (not a secret). */
function canonical(tokens: readonly string[], shown: string, value: string, form: string): void {
  if (value === form) return;
  const pointer = formatPointer(tokens);
  const reason = shown === REDACTED ? 'not in its stored form' : `write it as "${form}"`;
  throw new RpcError(
    ErrorCode.InvalidRequest,
    `Invalid ${pointer} ${JSON.stringify(shown)}: ${reason}`,
    pointer,
    reason
  );
}

function same(tokens: readonly string[], value: string, form: string): void {
  canonical(tokens, value, value, form);
}

/** A refusal at `tokens` with a reason of our own. */
function fault(tokens: readonly string[], shown: string, reason: string): RpcError {
  const pointer = formatPointer(tokens);
  return new RpcError(
    ErrorCode.InvalidRequest,
    `Invalid ${pointer} ${JSON.stringify(shown)}: ${reason}`,
    pointer,
    reason
  );
}

/** A secret key in its stored form (errors never print it). */
function secretKey(tokens: readonly string[], value: string): string {
  const key = at(tokens, REDACTED, () => normalizeKey(value, 'key'));
  canonical(tokens, REDACTED, value, key);
  return key;
}

/** Checks a whole candidate state field by field; returns it typed. */
export function checkState(doc: Json): State {
  const parsed = stateSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const pointer = formatPointer((issue?.path ?? []).map(String));
    const reason = issue?.message ?? 'is malformed';
    throw new RpcError(
      ErrorCode.InvalidRequest,
      `Invalid ${pointer || '(the root)'}: ${reason}`,
      pointer,
      reason
    );
  }
  const state = parsed.data as State;
  const serverPublic = publicKeyOf(secretKey(['server', 'privateKey'], state.server.privateKey));
  const override = state.wan.override;
  if (override !== null) {
    const next = at(['wan', 'override'], override, () => setWanOverride(state, override));
    same(['wan', 'override'], override, next.wan.override ?? '');
  }
  const owners = new Map<string, string>();
  const keys = Object.keys(state.subnets);
  keys.forEach((key, n) => {
    const subnet = at(['subnets', key], key, () => parseSubnet(key));
    same(['subnets', key], key, subnet.key);
    const overlapping = keys.slice(0, n).find((other) => cidrsOverlap(subnet, parseSubnet(other)));
    if (overlapping !== undefined) throw fault(['subnets', key], key, `overlaps ${overlapping}`);
    const rec = state.subnets[key]!;
    const name = at(['subnets', key, 'name'], rec.name, () => checkName('name', rec.name));
    same(['subnets', key, 'name'], rec.name, name);
    const wan = rec.wanIp;
    if (wan !== null)
      same(
        ['subnets', key, 'wanIp'],
        wan,
        at(['subnets', key, 'wanIp'], wan, () => checkWanIp(state, wan)) ?? ''
      );
    const v6 = rec.ipv6;
    if (v6 !== null) {
      const p = parsePrefix6(v6);
      if (p === null) throw fault(['subnets', key, 'ipv6'], v6, 'expected an IPv6 prefix');
      same(['subnets', key, 'ipv6'], v6, p.text);
    }
    for (const [ip, d] of Object.entries(rec.devices)) {
      const base = ['subnets', key, 'devices', ip];
      same(base, ip, formatIPv4(at(base, ip, () => parseDeviceIp(subnet, ip))));
      const named = at([...base, 'name'], d.name, () => checkName('name', d.name));
      same([...base, 'name'], d.name, named);
      const pub = at([...base, 'publicKey'], d.publicKey, () => normalizeKey(d.publicKey, 'key'));
      same([...base, 'publicKey'], d.publicKey, pub);
      const owner = pub === serverPublic ? 'the server' : owners.get(pub);
      if (owner !== undefined) {
        throw fault([...base, 'publicKey'], d.publicKey, `is already the key of ${owner}`);
      }
      owners.set(pub, formatPointer(base));
      const dw = d.wanIp;
      if (dw !== null)
        same([...base, 'wanIp'], dw, at([...base, 'wanIp'], dw, () => checkWanIp(state, dw)) ?? '');
      secretKey([...base, 'presharedKey'], d.presharedKey);
      if (
        d.privateKey !== null &&
        publicKeyOf(secretKey([...base, 'privateKey'], d.privateKey)) !== pub
      ) {
        throw fault([...base, 'privateKey'], REDACTED, 'does not belong to publicKey');
      }
    }
  });
  for (const [source, f] of Object.entries(state.forwards)) {
    const base = ['forwards', source];
    const src = at(base, source, () => parseSource(source));
    same(base, source, src.key);
    const target = at([...base, 'target'], f.target, () =>
      parseTarget(state, f.target, src.last - src.first)
    );
    same([...base, 'target'], f.target, target);
    const label = f.label;
    if (label !== null) {
      same(
        [...base, 'label'],
        label,
        at([...base, 'label'], label, () => checkName('label', label))
      );
    }
  }
  checkIpv6(state);
  for (const [key, p] of Object.entries(state.pinholes)) {
    const k = parsePinholeKey(key);
    if (k === null) throw fault(['pinholes', key], key, 'expected [IPv6]:PORT');
    const at0 = { now: () => new Date(p.createdAt) };
    const again = at(['pinholes', key], key, () =>
      addPinhole(state, at0, {
        gua: k.gua,
        externalPort: k.port,
        internalPort: p.internalPort,
        label: p.label,
        count: p.count,
      })
    );
    same(['pinholes', key], key, again.key);
  }
  for (const [source, port] of Object.entries(state.sni)) {
    const base = ['sni', source];
    same(base, source, at(base, source, () => parseSource(source)).key);
    if (state.forwards[source]) throw fault(base, source, 'is also a plain port forward');
    for (const [host, r] of Object.entries(port.routes)) {
      same(
        [...base, 'routes', host],
        host,
        at([...base, 'routes', host], host, () => parseHostname(host))
      );
      same(
        [...base, 'routes', host, 'target'],
        r.target,
        at([...base, 'routes', host, 'target'], r.target, () => parseTarget(state, r.target, 0))
      );
    }
    const fb = port.fallback;
    if (fb)
      same(
        [...base, 'fallback', 'target'],
        fb.target,
        at([...base, 'fallback', 'target'], fb.target, () => parseTarget(state, fb.target, 0))
      );
  }
  for (const [i, r] of state.dnsRecords.entries()) {
    const base = ['dnsRecords', String(i)];
    same(
      [...base, 'name'],
      r.name,
      at([...base, 'name'], r.name, () => parseDnsName(r.name))
    );
    same(
      [...base, 'value'],
      r.value,
      at([...base, 'value'], r.value, () => parseDnsValue(r.type, r.value))
    );
  }
  for (const [i, ip] of state.httpRedirects.disabled.entries()) {
    const n = parseIPv4(ip);
    if (n === null || formatIPv4(n) !== ip) {
      throw fault(['httpRedirects', 'disabled', String(i)], ip, 'expected an IPv4 address');
    }
  }
  return state;
}

/** The IPv6 prefixes of `state` together: none overlaps another, no two hosts collide. */
function checkIpv6(state: State): void {
  for (const [key, rec] of Object.entries(state.subnets)) {
    if (rec.ipv6 === null) continue;
    const prefix = rec.ipv6;
    at(['subnets', key, 'ipv6'], prefix, () =>
      setSubnetIpv6(state, key, prefix, { hasDefaultRoute: true, onLink: [prefix] })
    );
  }
}

/**
 * The state a patch makes of `current`: applied to the redacted document, secrets put back
 * where the result still says `REDACTED`, the panel's section required unchanged, every field
 * checked. Throws an `RpcError` naming the location at fault; `current` is never touched.
 */
export function patchState(current: State, patch: readonly PatchOperation[]): State {
  const redacted = redactState(current);
  const doc = applyPatch(redacted, patch);
  if (!isObject(doc)) {
    throw new RpcError(
      ErrorCode.InvalidRequest,
      'Invalid (the root): must be an object',
      '',
      'must be an object'
    );
  }
  const before = isObject(redacted) ? redacted.web : null;
  if (!deepEqual(doc.web, before)) {
    throw new RpcError(
      ErrorCode.InvalidRequest,
      "Invalid /web: the panel's settings change only through the web and auth commands",
      '/web',
      'read-only here'
    );
  }
  setOwn(doc, 'web', current.web as unknown as Json);
  const source = current as unknown as Json;
  for (const pattern of SECRET_PATHS) {
    for (const { path, parent, key } of secretsIn(doc, pattern)) {
      if (parent[key] !== REDACTED) continue;
      const old = locate(source, path);
      if (typeof old !== 'string') {
        const pointer = formatPointer(path);
        throw new RpcError(
          ErrorCode.InvalidRequest,
          `Invalid ${pointer}: "${REDACTED}" keeps the current secret, and there is none there`,
          pointer,
          'no current secret'
        );
      }
      parent[key] = old;
    }
  }
  const next = checkState(doc);
  next.web = current.web;
  return next;
}

/** Registers `db.dump` and `db.apply` on `rpc`. */
export function registerDbMethods(rpc: RpcDispatcher, tunnel: Tunnel): void {
  rpc.register('db.dump', (p, ctx) => {
    if (p.includeSecrets === true && ctx.auth !== 'local') {
      throw new RpcError(
        ErrorCode.Authorization,
        "Secrets are only dumped for root on the server's local socket",
        'includeSecrets',
        'local socket only'
      );
    }
    const doc =
      p.includeSecrets === true
        ? (clone(tunnel.state) as unknown as Json)
        : redactState(tunnel.state);
    return { value: valueAt(doc, p.pointer ?? '') };
  });
  rpc.register('db.apply', (p) =>
    tunnel.change<{ changed: boolean }>((s) => {
      const next = patchState(s, p.patch);
      if (deepEqual(next, s)) return { state: s, result: { changed: false } };
      return { state: next, result: { changed: true } };
    })
  );
}
