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
import { checkState } from './db-check.ts';
import type { State } from './schema.ts';
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
