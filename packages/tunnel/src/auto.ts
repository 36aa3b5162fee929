// SPDX-License-Identifier: MIT
/**
 * Forwards a device opens for itself (PCP, RFC 6887; UPnP IGD), StartTunnel 1.5's automatic
 * port forwarding (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel):
 * only a device allowed to (`allowAutoPortForward`), only to its own address, never over a
 * manual entry or another device's, and marked `auto` so they show apart and expire with their
 * leases (kept by the server). IPv4 maps are plain forwards answering on the device's WAN;
 * IPv6 maps are pinholes on its own address. Pure functions of the state.
 * @module
 */

import type { Protocol } from '@start-tunnel/protocol';
import { deviceIpv6, hosts6, parsePinholeKey, pinholeKey } from './addr6.ts';
import { addPinhole } from './ipv6.ts';
import { type ModelEnv, parseSource } from './model.ts';
import type { DeviceRecord, ForwardRecord, State } from './schema.ts';
import { filterTargets, targetIp } from './targets.ts';

/** Why a map was refused, in the words PCP and UPnP answer with. */
export class AutoMapError extends Error {
  readonly code: 'NOT_AUTHORIZED' | 'CONFLICT' | 'NOT_FOUND';
  constructor(code: AutoMapError['code'], message: string) {
    super(message);
    this.name = 'AutoMapError';
    this.code = code;
  }
}

/** The device at `source` (its IPv4 or IPv6 address) that may open its own forwards. */
export function autoMapper(
  state: State,
  source: string
): { subnet: string; ip: string; gua: string | null; device: DeviceRecord } | null {
  const v6 = hosts6(state).find((h) => h.address === source && h.ip !== null);
  const ip = v6?.ip ?? source;
  for (const [subnet, rec] of Object.entries(state.subnets)) {
    const device = rec.devices[ip];
    if (device?.allowAutoPortForward) {
      return { subnet, ip, gua: deviceIpv6(state, subnet, ip), device };
    }
  }
  return null;
}

export interface AutoMap {
  /** The device's IPv4 (family 4) or IPv6 (family 6) address. */
  device: string;
  family: 4 | 6;
  protocol: Protocol;
  internalPort: number;
  /** 0: the same as `internalPort`. */
  externalPort: number;
  count: number;
  description: string;
}

/**
 * Opens (or repoints) a device's own mapping. Returns the key it is stored under: a forward
 * source, or a pinhole key.
 */
export function mapAuto(
  state: State,
  env: Pick<ModelEnv, 'now'>,
  m: AutoMap
): { state: State; key: string } {
  const who = autoMapper(state, m.device);
  if (!who) throw new AutoMapError('NOT_AUTHORIZED', `${m.device} may not open forwards`);
  const external = m.externalPort === 0 ? m.internalPort : m.externalPort;
  const label = m.description.trim() === '' ? 'PCP' : m.description.trim().slice(0, 64);
  if (m.family === 6) {
    if (who.gua === null)
      throw new AutoMapError('NOT_AUTHORIZED', `${m.device} has no IPv6 address`);
    const key = pinholeKey(who.gua, external);
    const old = state.pinholes[key];
    if (old && !old.auto) throw new AutoMapError('CONFLICT', `${key} is a manual pinhole`);
    try {
      return addPinhole(state, env, {
        gua: who.gua,
        externalPort: external,
        internalPort: m.internalPort,
        count: m.count,
        label: safeLabel(label),
        auto: true,
      });
    } catch (err) {
      throw new AutoMapError('CONFLICT', (err as Error).message);
    }
  }
  const last = external + m.count - 1;
  if (last > 65535 || m.internalPort + m.count - 1 > 65535) {
    throw new AutoMapError('CONFLICT', 'the range passes 65535');
  }
  const key = parseSource(last === external ? `${external}` : `${external}-${last}`).key;
  const target = `${who.ip}:${m.internalPort}`;
  const forwards: State['forwards'] = {};
  for (const [source, f] of Object.entries(state.forwards)) {
    const r = parseSource(source);
    const overlaps = !source.includes(':') && r.first <= last && external <= r.last;
    if (!overlaps) {
      forwards[source] = f;
      continue;
    }
    // a device may repoint its own automatic mapping; nothing else is taken over
    if (!f.auto || targetIp(f.target) !== who.ip) {
      throw new AutoMapError('CONFLICT', `the forward ${source} holds these ports`);
    }
  }
  const rec: ForwardRecord = {
    target,
    protocol: m.protocol,
    label: safeLabel(label),
    enabled: state.forwards[key]?.enabled ?? true,
    createdAt: state.forwards[key]?.createdAt ?? env.now().toISOString(),
    auto: true,
  };
  return { state: { ...state, forwards: { ...forwards, [key]: rec } }, key };
}

/** A description as a label: printable, or the original's default. */
function safeLabel(text: string): string {
  const clean = text.replace(/[\p{Cc}\p{Zl}\p{Zp}\p{Cf}]/gu, '').trim();
  return clean === '' ? 'PCP' : clean;
}

/** Removes a device's own automatic mapping by internal or external port. */
export function unmapAuto(
  state: State,
  u: {
    device: string;
    family: 4 | 6;
    internalPort?: number | undefined;
    externalPort?: number | undefined;
  }
): State {
  const who = autoMapper(state, u.device);
  if (!who) throw new AutoMapError('NOT_AUTHORIZED', `${u.device} may not open forwards`);
  if (u.family === 6) {
    const pinholes: State['pinholes'] = {};
    let found = false;
    for (const [key, p] of Object.entries(state.pinholes)) {
      const k = parsePinholeKey(key);
      const mine = p.auto && k?.gua === who.gua;
      const internal = p.internalPort ?? k?.port;
      const match = mine && (u.externalPort === k?.port || u.internalPort === internal);
      if (match) found = true;
      else pinholes[key] = p;
    }
    if (!found) throw new AutoMapError('NOT_FOUND', 'no such mapping');
    return { ...state, pinholes };
  }
  let found = false;
  const forwards: State['forwards'] = {};
  for (const [source, f] of Object.entries(state.forwards)) {
    const match =
      f.auto &&
      targetIp(f.target) === who.ip &&
      (u.internalPort === Number(f.target.split(':')[1]) ||
        u.externalPort === parseSource(source).first);
    if (match) found = true;
    else forwards[source] = f;
  }
  if (!found) throw new AutoMapError('NOT_FOUND', 'no such mapping');
  return { ...state, forwards };
}

/** The device's automatic IPv4 mappings (UPnP lists them). */
export function autoMappings(
  state: State,
  device: string
): { source: string; record: ForwardRecord }[] {
  return Object.entries(state.forwards)
    .filter(([, f]) => f.auto && targetIp(f.target) === device)
    .map(([source, record]) => ({ source, record }));
}

/** Drops every automatic entry of a device (its permission withdrawn, or demoted). */
export function dropAuto(state: State, ip: string): State {
  const next = filterTargets(state, (target, e) => !(e.auto && target === ip));
  let gua: string | null = null;
  for (const [subnet, rec] of Object.entries(state.subnets)) {
    if (rec.devices[ip]) gua = deviceIpv6(state, subnet, ip);
  }
  const pinholes: State['pinholes'] = {};
  for (const [key, p] of Object.entries(next.pinholes)) {
    if (!(p.auto && parsePinholeKey(key)?.gua === gua)) pinholes[key] = p;
  }
  return { ...next, pinholes };
}
