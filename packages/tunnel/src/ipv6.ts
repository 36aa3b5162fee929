// SPDX-License-Identifier: MIT
/**
 * IPv6 subnets and pinholes, StartTunnel 1.5's
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel): a subnet
 * gets a routed prefix (`subnet set-ipv6`), its hosts get prefix | IPv4 (`addr6.ts`), devices go
 * out with their own global address (no NAT for IPv6), and nothing comes in except through a
 * pinhole: `count` ports from `externalPort` on one device's address, optionally remapped to
 * another port on the device. Pure functions of the state; the server's routes and the nat
 * rules follow from them.
 * @module
 */

import { ErrorCode, type PinholeInfo, parseIp } from '@start-tunnel/protocol';
import {
  hosts6,
  type Prefix6,
  parsePinholeKey,
  parsePrefix6,
  pinholeKey,
  prefixes6Overlap,
} from './addr6.ts';
import { checkName, getSubnet, invalid, type ModelEnv, notFound } from './model.ts';
import type { PinholeRecord, State } from './schema.ts';

/** What `set-ipv6` needs to know of the host. */
export interface Ipv6Host {
  /** True when the host has an IPv6 default route (else devices could not reach anything). */
  hasDefaultRoute: boolean;
  /** Global IPv6 prefixes on-link on WAN interfaces (`2001:db8::/64`), for the warning. */
  onLink: readonly string[];
}

function unusable(p: Prefix6): string | null {
  const b = p.bytes;
  if (b[0] === 0xff) return 'is multicast';
  if (b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80) return 'is link-local';
  if (b.every((x) => x === 0)) return 'is the unspecified or loopback range';
  if (p.length < 16) return 'is wider than /16';
  if (p.length > 124) return 'is longer than /124: it cannot hold the subnet';
  return null;
}

/**
 * `subnet.set-ipv6`: a routed prefix for the subnet, or null to turn IPv6 off. Pinholes follow
 * their device to the new prefix (and go with IPv6). Returns warnings that do not refuse.
 */
export function setSubnetIpv6(
  state: State,
  subnet: string,
  prefixText: string | null,
  host: Ipv6Host
): { state: State; warnings: string[] } {
  const [s, rec] = getSubnet(state, subnet);
  const warnings: string[] = [];
  let prefix: Prefix6 | null = null;
  if (prefixText !== null) {
    prefix = parsePrefix6(prefixText);
    if (prefix === null) {
      throw invalid(
        'prefix',
        prefixText,
        'expected an IPv6 prefix like 2001:db8:7::/64',
        ErrorCode.ParseNetAddress
      );
    }
    const problem = unusable(prefix);
    if (problem !== null)
      throw invalid('prefix', prefixText, `${problem}: not a usable routed prefix`);
    if (!host.hasDefaultRoute) {
      throw invalid(
        'prefix',
        prefixText,
        'this tunnel server has no IPv6 default route: devices could not reach anything over IPv6'
      );
    }
    for (const [key, other] of Object.entries(state.subnets)) {
      const op = key !== s.key && other.ipv6 !== null ? parsePrefix6(other.ipv6) : null;
      if (op && prefixes6Overlap(op, prefix)) {
        throw invalid('prefix', prefixText, `overlaps ${op.text} of the subnet ${key}`);
      }
    }
    const p = prefix;
    if (!host.onLink.some((l) => overlaps(l, p))) {
      warnings.push(
        `${p.text} is not on-link on a WAN interface: make sure your provider routes it to this server`
      );
    }
  }
  const text = prefix?.text ?? null;
  const next: State = { ...state, subnets: { ...state.subnets, [s.key]: { ...rec, ipv6: text } } };
  const seen = new Map<string, string>();
  for (const h of hosts6(next)) {
    if (h.subnet !== s.key) continue;
    const who = h.ip ?? `the tunnel (${s.key})`;
    const other = seen.get(h.address);
    if (other !== undefined) {
      throw invalid(
        'prefix',
        prefixText ?? 'null',
        `is too small: ${other} and ${who} would both get IPv6 ${h.address}`
      );
    }
    seen.set(h.address, who);
  }
  return { state: movePinholes(state, next, s.key), warnings };
}

function overlaps(text: string, p: Prefix6): boolean {
  const o = parsePrefix6(text);
  return o !== null && prefixes6Overlap(o, p);
}

/** Re-keys the subnet's pinholes from the old prefix to the new one; drops them without one. */
function movePinholes(old: State, next: State, subnet: string): State {
  const before = new Map(
    hosts6(old)
      .filter((h) => h.subnet === subnet && h.ip !== null)
      .map((h) => [h.address, h.ip!])
  );
  const after = new Map(
    hosts6(next)
      .filter((h) => h.subnet === subnet && h.ip !== null)
      .map((h) => [h.ip!, h.address])
  );
  const pinholes: State['pinholes'] = {};
  for (const [key, rec] of Object.entries(next.pinholes)) {
    const k = parsePinholeKey(key);
    const ip = k ? before.get(k.gua) : undefined;
    if (!k || ip === undefined) {
      pinholes[key] = rec;
      continue;
    }
    const gua = after.get(ip);
    if (gua !== undefined) pinholes[pinholeKey(gua, k.port)] = rec;
  }
  return { ...next, pinholes };
}

/** The device owning an IPv6 address; throws naming `gua` when none does. */
function deviceAt(state: State, text: string): { subnet: string; ip: string; gua: string } {
  const parsed = parseIp(text.trim());
  if (parsed?.family !== 6) {
    throw invalid('gua', text, 'expected an IPv6 address', ErrorCode.ParseNetAddress);
  }
  const host = hosts6(state).find((h) => h.address === parsed.canonical && h.ip !== null);
  if (!host || host.ip === null) {
    throw invalid('gua', text, 'is not a device address on any IPv6-enabled subnet');
  }
  return { subnet: host.subnet, ip: host.ip, gua: host.address };
}

function lastPort(field: string, shown: number, first: number, count: number): number {
  const last = first + count - 1;
  if (last > 65535) {
    throw invalid(field, shown, `a range of ${count} from ${first} passes 65535`);
  }
  return last;
}

/** `pinhole.add` (an upsert: the same key keeps its enabled state and, unless given, its label). */
export function addPinhole(
  state: State,
  env: Pick<ModelEnv, 'now'>,
  p: {
    gua: string;
    externalPort: number;
    internalPort?: number | null | undefined;
    label?: string | null | undefined;
    count?: number | undefined;
    auto?: boolean | undefined;
  }
): { state: State; key: string } {
  const { gua } = deviceAt(state, p.gua);
  const count = p.count ?? 1;
  const last = lastPort('count', count, p.externalPort, count);
  const internal = p.internalPort ?? null;
  if (internal !== null) lastPort('internalPort', internal, internal, count);
  const key = pinholeKey(gua, p.externalPort);
  for (const [other, rec] of Object.entries(state.pinholes)) {
    const k = parsePinholeKey(other);
    if (other === key || k?.gua !== gua) continue;
    if (k.port <= last && p.externalPort <= k.port + rec.count - 1) {
      throw invalid('externalPort', p.externalPort, `overlaps the existing pinhole at ${other}`);
    }
  }
  const existing = state.pinholes[key];
  const label =
    p.label === undefined
      ? (existing?.label ?? null)
      : p.label === null || p.label === ''
        ? null
        : checkName('label', p.label);
  const rec: PinholeRecord = {
    internalPort: internal === p.externalPort ? null : internal,
    count,
    label,
    enabled: existing?.enabled ?? true,
    createdAt: existing?.createdAt ?? env.now().toISOString(),
    auto: p.auto ?? existing?.auto ?? false,
  };
  return { state: { ...state, pinholes: { ...state.pinholes, [key]: rec } }, key };
}

function getPinhole(state: State, gua: string, port: number): [string, PinholeRecord] {
  const parsed = parseIp(gua.trim());
  if (parsed?.family !== 6) {
    throw invalid('gua', gua, 'expected an IPv6 address', ErrorCode.ParseNetAddress);
  }
  const key = pinholeKey(parsed.canonical, port);
  const rec = state.pinholes[key];
  if (!rec) throw notFound('externalPort', key, 'pinhole at');
  return [key, rec];
}

export function removePinhole(state: State, gua: string, port: number): State {
  const [key] = getPinhole(state, gua, port);
  const pinholes = { ...state.pinholes };
  delete pinholes[key];
  return { ...state, pinholes };
}

export function updatePinhole(
  state: State,
  gua: string,
  port: number,
  change: { enabled?: boolean; label?: string | null | undefined }
): { state: State; key: string } {
  const [key, rec] = getPinhole(state, gua, port);
  const next: PinholeRecord = { ...rec };
  if (change.enabled !== undefined) next.enabled = change.enabled;
  if ('label' in change) {
    const l = change.label;
    next.label = l === undefined || l === null || l === '' ? null : checkName('label', l);
  }
  return { state: { ...state, pinholes: { ...state.pinholes, [key]: next } }, key };
}

/** One pinhole as the contract shows it. */
export function pinholeInfo(state: State, key: string): PinholeInfo {
  const rec = state.pinholes[key]!;
  const k = parsePinholeKey(key)!;
  const host = hosts6(state).find((h) => h.address === k.gua && h.ip !== null);
  const device = host?.ip ? state.subnets[host.subnet]?.devices[host.ip] : undefined;
  return {
    gua: k.gua,
    externalPort: k.port,
    internalPort: rec.internalPort ?? k.port,
    count: rec.count,
    label: rec.label,
    enabled: rec.enabled,
    subnet: host?.subnet ?? '',
    ip: host?.ip ?? '',
    name: device?.name ?? '',
    auto: rec.auto,
  };
}
