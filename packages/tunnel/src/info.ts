// SPDX-License-Identifier: MIT
/**
 * The state as the contract shows it: subnets, devices and forwards (plain and SNI routes)
 * in the shapes `@start-tunnel/protocol` defines. Pure functions of the state, shared by the
 * method handlers.
 * @module
 */

import type { AddedDevice, ForwardInfo, SubnetInfo } from '@start-tunnel/protocol';
import { deviceIpv6, gatewayIpv6 } from './addr6.ts';
import { forwardAddress } from './egress.ts';
import { subnetNetwork } from './model.ts';
import type { SniRouteRecord, State } from './schema.ts';
import { sniAddress } from './sni.ts';

/** When an automatic entry's lease ends (the server keeps leases), by `leaseKey`. */
export interface LeaseView {
  expiresAt(key: string): string | null;
}

/** The key of an automatic entry's lease: `forward SOURCE`, `sni SOURCE HOST|*`, `pinhole KEY`. */
export function leaseKey(kind: 'forward' | 'sni' | 'pinhole', key: string, host?: string | null) {
  return kind === 'sni' ? `sni ${key} ${host ?? '*'}` : `${kind} ${key}`;
}

export function subnetInfo(state: State, key: string): SubnetInfo {
  const rec = state.subnets[key]!;
  return {
    subnet: key,
    name: rec.name,
    network: subnetNetwork(key),
    devices: Object.keys(rec.devices).length,
    wanIp: rec.wanIp,
    ipv6: rec.ipv6,
    gatewayIpv6: gatewayIpv6(state, key),
    dns: { ...rec.dns, servers: [...rec.dns.servers] },
  };
}

export function addedDevice(state: State, subnet: string, ip: string): AddedDevice {
  const d = state.subnets[subnet]!.devices[ip]!;
  return {
    subnet,
    name: d.name,
    ip,
    publicKey: d.publicKey,
    ownKey: d.privateKey === null,
    kind: d.kind,
    ipv6: deviceIpv6(state, subnet, ip),
    allowDnsInjection: d.allowDnsInjection,
    allowAutoPortForward: d.allowAutoPortForward,
  };
}

export function forwardInfo(
  state: State,
  source: string,
  counters?: { packets: number; bytes: number } | null,
  leases?: LeaseView
): ForwardInfo {
  const f = state.forwards[source]!;
  return {
    source,
    target: f.target,
    externalIp: forwardAddress(state, source),
    kind: 'dnat',
    hostname: null,
    auto: f.auto,
    expiresAt: f.auto ? (leases?.expiresAt(leaseKey('forward', source)) ?? null) : null,
    proxyProtocol: false,
    protocol: f.protocol,
    label: f.label,
    enabled: f.enabled,
    packets: counters?.packets ?? 0,
    bytes: counters?.bytes ?? 0,
  };
}

/** One route of an SNI port (`hostname` null: its fallback). */
export function sniInfo(
  state: State,
  source: string,
  hostname: string | null,
  leases?: LeaseView
): ForwardInfo {
  const port = state.sni[source]!;
  const r: SniRouteRecord = hostname === null ? port.fallback! : port.routes[hostname]!;
  return {
    source,
    target: r.target,
    externalIp: sniAddress(state, source),
    kind: 'sni',
    hostname,
    auto: r.auto,
    expiresAt: r.auto ? (leases?.expiresAt(leaseKey('sni', source, hostname)) ?? null) : null,
    proxyProtocol: r.proxyProtocol,
    protocol: 'tcp',
    label: r.label,
    enabled: r.enabled,
    packets: 0,
    bytes: 0,
  };
}

/** Every route of every SNI port, hostnames first, then the fallback. */
export function sniInfos(state: State, leases?: LeaseView): ForwardInfo[] {
  const out: ForwardInfo[] = [];
  for (const [source, port] of Object.entries(state.sni)) {
    for (const host of Object.keys(port.routes).sort())
      out.push(sniInfo(state, source, host, leases));
    if (port.fallback) out.push(sniInfo(state, source, null, leases));
  }
  return out;
}
