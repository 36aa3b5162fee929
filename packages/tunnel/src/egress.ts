// SPDX-License-Identifier: MIT
/**
 * Several public IPv4s: a subnet, or one device, can leave by and be reached on an address of
 * its own (`subnet set-wan`, `device set-wan`), StartTunnel 1.5's multi-IP egress
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel). The
 * effective WAN of a device is its own, else its subnet's, else the server's default (null
 * here). A forward answers where its target leaves: a forward written without an address
 * follows the target's WAN; one written with the old WAN address is re-keyed when the WAN
 * changes, so replies and the device's own connections use one address. Pure functions.
 * @module
 */

import { ErrorCode, isUsableIPv4 } from '@start-tunnel/protocol';
import { cidrContains, formatIPv4, parseIPv4 } from './ipv4.ts';
import { getDevice, getSubnet, invalid, parseSource, parseSubnet, withDevice } from './model.ts';
import type { State } from './schema.ts';

/** Checks a WAN address: a usable unicast IPv4 outside every subnet; null passes (clears). */
export function checkWanIp(state: State, text: string | null, field = 'wanIp'): string | null {
  if (text === null) return null;
  const n = parseIPv4(text.trim());
  if (n === null) {
    throw invalid(field, text, 'expected an IPv4 address', ErrorCode.ParseNetAddress);
  }
  const ip = formatIPv4(n);
  if (!isUsableIPv4(ip)) {
    throw invalid(field, text, 'is not a usable unicast address (loopback, link-local, multicast)');
  }
  for (const key of Object.keys(state.subnets)) {
    if (cidrContains(parseSubnet(key), n))
      throw invalid(field, text, `is inside the subnet ${key}`);
  }
  return ip;
}

/** The WAN a device leaves by: its own, its subnet's, or null for the server's default. */
export function effectiveWan(state: State, ip: string): string | null {
  for (const rec of Object.values(state.subnets)) {
    const d = rec.devices[ip];
    if (d) return d.wanIp ?? rec.wanIp;
  }
  return null;
}

/** The address a forward answers on: its own, else its target's WAN, else null (the default). */
export function forwardAddress(state: State, source: string): string | null {
  const f = state.forwards[source];
  const colon = source.indexOf(':');
  if (colon >= 0) return source.slice(0, colon);
  return f ? effectiveWan(state, f.target.split(':')[0] ?? '') : null;
}

/**
 * Refuses a forward written with an address other than where its target leaves (replies and
 * the device's own traffic would use two addresses). A target on the default WAN may take any.
 */
export function checkForwardWan(state: State, source: string): void {
  const f = state.forwards[source];
  const colon = source.indexOf(':');
  if (!f || colon < 0) return;
  const ip = f.target.split(':')[0] ?? '';
  const wan = effectiveWan(state, ip);
  const address = source.slice(0, colon);
  if (wan !== null && wan !== address) {
    throw invalid(
      'source',
      source,
      `the device ${ip} leaves by ${wan}: its forwards answer there (write ${wan}:PORT or only PORT)`
    );
  }
}

/**
 * Moves forwards written with a target's old WAN address to its new one (or to the default,
 * written without an address), refusing the change when a moved forward would take an
 * existing source.
 */
function rekey(old: State, next: State, field: string, shown: string | null): State {
  const forwards: State['forwards'] = {};
  let changed = false;
  for (const [source, f] of Object.entries(next.forwards)) {
    const colon = source.indexOf(':');
    const ip = f.target.split(':')[0] ?? '';
    const before = effectiveWan(old, ip);
    const after = effectiveWan(next, ip);
    if (colon < 0 || before === after || source.slice(0, colon) !== before) {
      forwards[source] = f;
      continue;
    }
    const ports = source.slice(colon + 1);
    const key = parseSource(after === null ? ports : `${after}:${ports}`).key;
    if (next.forwards[key] || forwards[key]) {
      throw invalid(
        field,
        shown ?? 'null',
        `the forward from ${source} would move to ${key}, which is taken`
      );
    }
    forwards[key] = f;
    changed = true;
  }
  return changed ? { ...next, forwards } : next;
}

/** `subnet.set-wan`. */
export function setSubnetWan(state: State, subnet: string, wanIp: string | null): State {
  const [s, rec] = getSubnet(state, subnet);
  const ip = checkWanIp(state, wanIp);
  const next = { ...state, subnets: { ...state.subnets, [s.key]: { ...rec, wanIp: ip } } };
  return rekey(state, next, 'wanIp', wanIp);
}

/** `device.set-wan`. */
export function setDeviceWan(
  state: State,
  subnet: string,
  ip: string,
  wanIp: string | null
): State {
  const found = getDevice(state, subnet, ip);
  const wan = checkWanIp(state, wanIp);
  const next = withDevice(state, found.subnet.key, found.ip, { ...found.device, wanIp: wan });
  return rekey(state, next, 'wanIp', wanIp);
}

/** Per-device SNAT: devices whose own WAN differs from their subnet's. */
export function deviceEgress(state: State): { source: string; address: string }[] {
  const out: { source: string; address: string }[] = [];
  for (const rec of Object.values(state.subnets)) {
    for (const [ip, d] of Object.entries(rec.devices)) {
      if (d.wanIp !== null && d.wanIp !== rec.wanIp) out.push({ source: ip, address: d.wanIp });
    }
  }
  return out;
}
