// SPDX-License-Identifier: MIT
/**
 * The whole state checked as a document (`db.apply`'s result, before it is committed): shape
 * with zod, then every field with the model's own rules, each refusal naming the JSON Pointer
 * at fault (RFC 6901) and never printing a secret.
 * @module
 */

import { ErrorCode, formatPointer, REDACTED, RpcError } from '@start-tunnel/protocol';
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

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

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
