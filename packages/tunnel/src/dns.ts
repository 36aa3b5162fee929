// SPDX-License-Identifier: MIT
/**
 * DNS for subnets, StartTunnel 1.5's
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel): where
 * each subnet's resolver forwards (`subnet.set-dns`), the local records every resolver answers
 * (`dns.add|list|remove`), the devices allowed to publish their own with RFC 2136 UPDATE
 * (`device.set-dns-injection`), and the TSIG key they sign with: HKDF-SHA256 (RFC 5869) of the
 * device's WireGuard preshared key, so the device derives it without another secret. Pure
 * functions of the state; the resolver is the server's.
 * @module
 */

import { hkdfSync } from 'node:crypto';
import { ErrorCode, parseIp } from '@start-tunnel/protocol';
import { hosts6 } from './addr6.ts';
import { formatIPv4 } from './ipv4.ts';
import { getDevice, getSubnet, invalid, parseDeviceIp, withDevice } from './model.ts';
import type { DnsRecordEntry, State, SubnetRecord } from './schema.ts';
import { parseHostname } from './sni.ts';

/** The TSIG key name the original's devices use. */
export const DNS_UPDATE_KEY_NAME = 'startos-dns-update.';
const DNS_UPDATE_INFO = 'startos-dns-update-v1';

/** A device's TSIG key: HKDF-SHA256, no salt, IKM = its preshared key (32 bytes). */
export function dnsUpdateKey(presharedKey: Uint8Array): Uint8Array {
  if (presharedKey.length !== 32) {
    throw new Error(`A preshared key is 32 bytes, not ${presharedKey.length}`);
  }
  // RFC 5869 §2.2: no salt is HashLen zeros, which HMAC pads the same as an empty key
  return new Uint8Array(hkdfSync('sha256', presharedKey, new Uint8Array(0), DNS_UPDATE_INFO, 32));
}

/** `IP` or `IP:PORT` or `[IPv6]:PORT` → `ip:port` / `[v6]:port`; throws naming `servers`. */
function parseServer(text: string): string {
  const t = text.trim();
  const v6 = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(t);
  const v4 = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(t);
  const host = v6?.[1] ?? v4?.[1] ?? (t.includes(':') && !t.includes('.') ? t : undefined);
  const port = Number(v6?.[2] ?? v4?.[2] ?? 53);
  const ip = host !== undefined ? parseIp(host) : null;
  if (ip === null || !(port >= 1 && port <= 65535)) {
    throw invalid(
      'servers',
      text,
      'expected IP, IP:PORT or [IPv6]:PORT',
      ErrorCode.ParseNetAddress
    );
  }
  return ip.family === 6 ? `[${ip.canonical}]:${port}` : `${ip.canonical}:${port}`;
}

/** `subnet.set-dns`. */
export function setSubnetDns(
  state: State,
  subnet: string,
  p: {
    mode: SubnetRecord['dns']['mode'];
    deviceIp?: string | undefined;
    servers?: string[] | undefined;
  }
): State {
  const [s, rec] = getSubnet(state, subnet);
  let dns: SubnetRecord['dns'] = { mode: 'default', deviceIp: null, servers: [] };
  if (p.mode === 'device') {
    if (p.deviceIp === undefined) throw invalid('deviceIp', '', 'is required with mode "device"');
    const text = formatIPv4(parseDeviceIp(s, p.deviceIp, 'deviceIp'));
    if (!rec.devices[text]) throw invalid('deviceIp', p.deviceIp, `is no device of ${s.key}`);
    dns = { mode: 'device', deviceIp: text, servers: [] };
  } else if (p.mode === 'custom') {
    const servers = (p.servers ?? []).map(parseServer);
    if (servers.length < 1 || servers.length > 3) {
      throw invalid('servers', String(servers.length), 'give 1 to 3 servers with mode "custom"');
    }
    dns = { mode: 'custom', deviceIp: null, servers };
  }
  return { ...state, subnets: { ...state.subnets, [s.key]: { ...rec, dns } } };
}

/** `device.set-dns-injection` / `device.set-auto-port-forward`. */
export function setDeviceFlag(
  state: State,
  subnet: string,
  ip: string,
  flag: 'allowDnsInjection' | 'allowAutoPortForward',
  enabled: boolean
): { state: State; ip: string } {
  const found = getDevice(state, subnet, ip);
  return {
    state: withDevice(state, found.subnet.key, found.ip, { ...found.device, [flag]: enabled }),
    ip: found.ip,
  };
}

/** A DNS name as records key it (hostname rules, no wildcard). */
export function parseDnsName(text: string): string {
  const name = parseHostname(text, 'name');
  if (name.startsWith('*.')) throw invalid('name', text, 'wildcard records are not supported');
  return name;
}

/** Checks a record's value for its type; returns the stored form. */
export function parseDnsValue(type: DnsRecordEntry['type'], text: string): string {
  const bad = (why: string) => invalid('value', text, `invalid ${type} record: ${why}`);
  if (type === 'A' || type === 'AAAA') {
    const ip = parseIp(text.trim());
    if (ip?.family !== (type === 'A' ? 4 : 6))
      throw bad(`expected an IPv${type === 'A' ? 4 : 6} address`);
    return ip!.canonical;
  }
  if (type === 'CNAME') return parseDnsName(text);
  if (text.length > 255 || /[\p{Cc}]/u.test(text))
    throw bad('at most 255 characters, no control characters');
  return text;
}

/** `dns.add` (and an injected add): replaces the same name, type and value. */
export function addDnsRecord(
  state: State,
  r: { name: string; type: DnsRecordEntry['type']; value: string; ttl?: number | undefined },
  source: string | null
): { state: State; record: DnsRecordEntry } {
  const record: DnsRecordEntry = {
    name: parseDnsName(r.name),
    type: r.type,
    value: parseDnsValue(r.type, r.value),
    ttl: r.ttl ?? 300,
    source,
  };
  const others = state.dnsRecords.filter(
    (x) => !(x.name === record.name && x.type === record.type && x.value === record.value)
  );
  return { state: { ...state, dnsRecords: [...others, record] }, record };
}

/** `dns.remove`: every record of the name, or of one type. */
export function removeDnsRecords(
  state: State,
  name: string,
  type?: DnsRecordEntry['type']
): { state: State; removed: number } {
  const n = parseDnsName(name);
  const kept = state.dnsRecords.filter(
    (x) => !(x.name === n && (type === undefined || x.type === type))
  );
  return { state: { ...state, dnsRecords: kept }, removed: state.dnsRecords.length - kept.length };
}

/** One change of an RFC 2136 UPDATE (§2.5: add, delete an RRset or a name, delete one RR). */
export type DnsChange =
  | { op: 'add'; name: string; type: DnsRecordEntry['type']; value: string; ttl: number }
  | { op: 'delete-rrset'; name: string; type: DnsRecordEntry['type'] | 'ANY' }
  | { op: 'delete-rr'; name: string; type: DnsRecordEntry['type']; value: string };

/** Applies an authorized UPDATE from `source`, all or nothing. */
export function applyDnsChanges(
  state: State,
  source: string,
  changes: readonly DnsChange[]
): State {
  let next = state;
  for (const c of changes) {
    const name = parseDnsName(c.name);
    if (c.op === 'add') next = addDnsRecord(next, c, source).state;
    else {
      const value = c.op === 'delete-rr' ? parseDnsValue(c.type, c.value) : null;
      const dnsRecords = next.dnsRecords.filter(
        (x) =>
          !(
            x.name === name &&
            (c.type === 'ANY' || x.type === c.type) &&
            (value === null || x.value === value)
          )
      );
      next = { ...next, dnsRecords };
    }
  }
  return next;
}

/** The device a DNS UPDATE comes from (its IPv4 or its IPv6 address), if it may publish. */
export function dnsInjector(
  state: State,
  source: string
): { ip: string; presharedKey: string } | null {
  const ip = parseIp(source)?.canonical ?? source;
  const v4 = hosts6(state).find((h) => h.address === ip && h.ip !== null)?.ip ?? ip;
  for (const rec of Object.values(state.subnets)) {
    const d = rec.devices[v4];
    if (d) return d.allowDnsInjection ? { ip: v4, presharedKey: d.presharedKey } : null;
  }
  return null;
}
