// SPDX-License-Identifier: MIT
/**
 * The model: subnets, devices and port forwards as pure functions from a state and validated
 * parameters to a new state and a result. Nothing here does I/O or mutates its input, so a failed
 * check leaves the state exactly as it was (the caller commits only what returns). Rules follow
 * the original: a subnet is keyed by its gateway (`.1`) address, prefix ≤ /24, no overlaps, and a
 * re-added subnet is renamed
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/api.rs#L198-L268);
 * devices take the first free address from `.2` and a re-added device IP is renamed
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/api.rs#L328-L379);
 * forwards have unique sources
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/api.rs#L514-L570).
 * Ours on top: forwards must target a device, bring-your-own public key, per-forward protocol,
 * names checked for what a config file can hold.
 * @module
 */

import { randomBytes } from 'node:crypto';
import {
  type DeviceKind,
  ErrorCode,
  isUsableIPv4,
  nameProblem,
  type Protocol,
  RpcError,
} from '@start-tunnel/protocol';
import { keyToBase64, nodeCrypto } from '@start-tunnel/wg-core';
import {
  collectPinholes,
  deviceIpv6,
  hostAddress6,
  hosts6,
  parsePinholeKey,
  parsePrefix6,
} from './addr6.ts';
import {
  broadcastOf,
  type Cidr,
  cidrContains,
  cidrsOverlap,
  FORBIDDEN_SUBNET_RANGES,
  formatCidr,
  formatIPv4,
  maskOf,
  parseCidr,
  parseIPv4,
} from './ipv4.ts';
import type { DeviceRecord, ForwardRecord, State, SubnetRecord } from './schema.ts';
import { SCHEMA_VERSION } from './schema.ts';
import { filterTargets } from './targets.ts';

/** What the model needs from the outside world (injected for tests). */
export interface ModelEnv {
  now(): Date;
  randomBytes(n: number): Uint8Array;
  /** A new X25519 key pair, base64 (padded). */
  generateKeyPair(): { privateKey: string; publicKey: string };
}

export const systemEnv: ModelEnv = {
  now: () => new Date(),
  randomBytes: (n) => new Uint8Array(randomBytes(n)),
  // wg-core's keys: 32 clamped random bytes (RFC 7748 §5) loaded as a JWK, never
  // generateKeyPairSync + JWK export, which can deadlock Node 20 when a garbage collection
  // inside the export finalizes the key generation job
  generateKeyPair: () => {
    const key = nodeCrypto.generatePrivateKey();
    return { privateKey: keyToBase64(key.privateKey), publicKey: keyToBase64(key.publicKey) };
  },
};

export function invalid(
  field: string,
  value: unknown,
  reason: string,
  code: number = ErrorCode.InvalidRequest
) {
  const shown = typeof value === 'string' ? `"${value}"` : String(value);
  return new RpcError(code, `Invalid ${field} ${shown}: ${reason}`, field, reason);
}

export function notFound(field: string, value: string, what: string) {
  return new RpcError(ErrorCode.NotFound, `No ${what} "${value}"`, field, `no such ${what}`);
}

/** A fresh state: a server key and the "Default Subnet" `10.59.<random>.1/24`, as the original. */
export function initialState(env: ModelEnv): State {
  const third = env.randomBytes(1)[0] ?? 0;
  return {
    schema: SCHEMA_VERSION,
    server: { privateKey: env.generateKeyPair().privateKey },
    wan: { override: null },
    subnets: {
      [`10.59.${third}.1/24`]: newSubnet('Default Subnet'),
    },
    forwards: {},
    sni: {},
    pinholes: {},
    dnsRecords: [],
    httpRedirects: { disabled: [] },
    web: null,
  };
}

/** A new, empty subnet: no WAN of its own, no IPv6, the server's resolvers. */
export function newSubnet(name: string): SubnetRecord {
  return {
    name,
    devices: {},
    wanIp: null,
    ipv6: null,
    dns: { mode: 'default', deviceIp: null, servers: [] },
  };
}

// ---- names ---------------------------------------------------------------------------------

/** Checks a name or label with the contract's rule (it lands in configs and terminals). */
export function checkName(field: string, value: string): string {
  const trimmed = value.trim();
  const problem = nameProblem(trimmed);
  if (problem) throw invalid(field, value, problem);
  return trimmed;
}

// ---- subnets -------------------------------------------------------------------------------

export interface SubnetKey extends Cidr {
  /** `A.B.C.1/N` */
  key: string;
  gateway: number;
}

/** Parses `10.59.7.0/24` or `10.59.7.1/24` into the canonical key. */
export function parseSubnet(text: string, field = 'subnet'): SubnetKey {
  const c = parseCidr(text);
  if (!c)
    throw invalid(field, text, 'expected A.B.C.D/N, e.g. 10.59.7.1/24', ErrorCode.ParseNetAddress);
  if (c.bits < 8 || c.bits > 24) throw invalid(field, text, 'the prefix must be /8 to /24');
  const network = (c.address & maskOf(c.bits)) >>> 0;
  if (c.address !== network && c.address !== network + 1) {
    throw invalid(
      field,
      text,
      `give the network (${formatCidr(network, c.bits)}) or gateway (${formatCidr(network + 1, c.bits)}) address`
    );
  }
  const cidr = { network, bits: c.bits };
  for (const f of FORBIDDEN_SUBNET_RANGES) {
    if (cidrsOverlap(cidr, f)) {
      throw invalid(field, text, `overlaps the reserved range ${formatCidr(f.network, f.bits)}`);
    }
  }
  return { ...cidr, gateway: network + 1, key: formatCidr(network + 1, c.bits) };
}

/** The network form `A.B.C.0/N` of a canonical key. */
export function subnetNetwork(key: string): string {
  const s = parseSubnet(key);
  return formatCidr(s.network, s.bits);
}

/** An existing subnet by either form of its key; NotFound (or a parse error) naming `field`. */
export function getSubnet(state: State, text: string, field = 'subnet'): [SubnetKey, SubnetRecord] {
  const s = parseSubnet(text, field);
  const rec = state.subnets[s.key];
  if (!rec) throw notFound(field, text, 'subnet');
  return [s, rec];
}

/** `subnet.add`: creates, or renames when the key exists (the original's upsert). */
export function addSubnet(state: State, subnet: string, name: string): State {
  const s = parseSubnet(subnet);
  const cleanName = checkName('name', name);
  const existing = state.subnets[s.key];
  if (existing) {
    return { ...state, subnets: { ...state.subnets, [s.key]: { ...existing, name: cleanName } } };
  }
  for (const key of Object.keys(state.subnets)) {
    const other = parseSubnet(key);
    if (cidrsOverlap(s, other)) {
      throw invalid('subnet', subnet, `overlaps the existing subnet ${key}`);
    }
  }
  return {
    ...state,
    subnets: {
      ...state.subnets,
      [s.key]: newSubnet(cleanName),
    },
  };
}

/** `subnet.remove`: the subnet, its devices and every forward that targeted them. */
export function removeSubnet(state: State, subnet: string): State {
  const [s] = getSubnet(state, subnet);
  const subnets = { ...state.subnets };
  delete subnets[s.key];
  return collect({ ...state, subnets });
}

// ---- devices -------------------------------------------------------------------------------

/** Parses a device address that must lie inside `s` as a host (not network, gateway, broadcast). */
export function parseDeviceIp(s: SubnetKey, text: string, field = 'ip'): number {
  const ip = parseIPv4(text);
  if (ip === null)
    throw invalid(field, text, 'expected an IPv4 address', ErrorCode.ParseNetAddress);
  if (!cidrContains(s, ip)) throw invalid(field, text, `not inside ${s.key}`);
  if (ip === s.network) throw invalid(field, text, 'is the network address');
  if (ip === s.gateway) throw invalid(field, text, 'is the gateway (server) address');
  if (ip === broadcastOf(s)) throw invalid(field, text, 'is the broadcast address');
  return ip;
}

/**
 * First free host address from `.2` upward whose IPv6 address (when the subnet has a prefix
 * longer than /96) collides with no other host; null when there is none.
 */
export function firstFreeIp(state: State, s: SubnetKey, rec: SubnetRecord): number | null {
  const last = broadcastOf(s) - 1;
  for (let ip = s.gateway + 1; ip <= last; ip++) {
    if (!rec.devices[formatIPv4(ip)] && ipv6Clash(state, s.key, formatIPv4(ip)) === null) return ip;
  }
  return null;
}

/**
 * What a new device at `ip` would collide with in IPv6 (a prefix longer than /96 keeps only the
 * IPv4's low bits): a sentence, or null.
 */
export function ipv6Clash(state: State, subnet: string, ip: string): string | null {
  const rec = state.subnets[subnet];
  if (!rec || rec.ipv6 === null || rec.devices[ip]) return null;
  const prefix = parsePrefix6(rec.ipv6);
  const v4 = parseIPv4(ip);
  if (prefix === null || v4 === null) return null;
  const mine = hostAddress6(prefix, v4);
  const other = hosts6(state).find((h) => h.subnet === subnet && h.address === mine);
  if (!other) return null;
  const who = other.ip === null ? 'the tunnel itself' : `device ${other.ip}`;
  return (
    `would take IPv6 ${mine}, which collides with ${who}; choose an IP whose low bits ` +
    'differ, or use a larger IPv6 prefix'
  );
}

/** Normalizes a base64 WireGuard key (padded or not) to padded base64; throws naming `field`. */
export function normalizeKey(text: string, field: string): string {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/]{43}=?$/.test(t)) {
    throw invalid(field, text, 'expected a WireGuard key: 32 bytes in base64 (44 characters)');
  }
  const bytes = Buffer.from(t, 'base64');
  if (bytes.length !== 32) throw invalid(field, text, 'does not decode to 32 bytes');
  if (bytes.every((b) => b === 0)) throw invalid(field, text, 'is the all-zero key');
  return bytes.toString('base64');
}

/** Public key of the server (derived from its private key). */
export function serverPublicKey(state: State): string {
  return publicKeyOf(state.server.privateKey);
}

/** X25519 public key of a base64 private key (wg-core's import: ≈40 µs, not PKCS#8's ≈400). */
export function publicKeyOf(privateKey: string): string {
  return keyToBase64(nodeCrypto.importPrivateKey(Buffer.from(privateKey, 'base64')).publicKey);
}

export interface DeviceAdded {
  state: State;
  subnet: string;
  ip: string;
  device: DeviceRecord;
}

/**
 * `device.add`: a new device at `ip` (or the first free address) with fresh keys, or with the
 * public key it brings (then the server never holds its private key). An existing `ip` is
 * renamed, keys kept, as in the original; bringing a different key to it is refused.
 */
export function addDevice(
  state: State,
  env: ModelEnv,
  p: {
    subnet: string;
    name: string;
    ip?: string | undefined;
    publicKey?: string | undefined;
    kind?: DeviceKind | undefined;
  }
): DeviceAdded {
  const [s, rec] = getSubnet(state, p.subnet);
  const name = checkName('name', p.name);
  const ownKey = p.publicKey !== undefined ? normalizeKey(p.publicKey, 'publicKey') : null;
  let ip: number;
  if (p.ip !== undefined) {
    ip = parseDeviceIp(s, p.ip);
    const clash = ipv6Clash(state, s.key, formatIPv4(ip));
    if (clash !== null) throw invalid('ip', p.ip, clash);
  } else {
    const free = firstFreeIp(state, s, rec);
    if (free === null) throw invalid('subnet', p.subnet, 'has no free address left');
    ip = free;
  }
  const ipText = formatIPv4(ip);
  const existing = rec.devices[ipText];
  let device: DeviceRecord;
  if (existing) {
    if (ownKey !== null && ownKey !== existing.publicKey) {
      throw invalid('ip', ipText, `is taken by device "${existing.name}" with another key`);
    }
    // a rename keeps keys and kind, as the original; an explicit kind is applied as set-kind
    device = { ...existing, name, ...(p.kind !== undefined ? kindDefaults(p.kind) : {}) };
  } else {
    if (ownKey !== null) {
      if (ownKey === serverPublicKey(state)) {
        throw invalid('publicKey', p.publicKey, "is the server's own key");
      }
      for (const [k, other] of Object.entries(state.subnets)) {
        for (const [otherIp, d] of Object.entries(other.devices)) {
          if (d.publicKey === ownKey) {
            throw invalid('publicKey', p.publicKey, `is already used by ${otherIp} in ${k}`);
          }
        }
      }
    }
    const keys = ownKey === null ? env.generateKeyPair() : null;
    device = {
      name,
      publicKey: ownKey ?? keys!.publicKey,
      privateKey: keys ? keys.privateKey : null,
      presharedKey: Buffer.from(env.randomBytes(32)).toString('base64'),
      createdAt: env.now().toISOString(),
      kind: p.kind ?? 'client',
      wanIp: null,
      allowDnsInjection: p.kind === 'server',
      allowAutoPortForward: p.kind === 'server',
    };
  }
  const subnets = {
    ...state.subnets,
    [s.key]: { ...rec, devices: { ...rec.devices, [ipText]: device } },
  };
  return { state: { ...state, subnets }, subnet: s.key, ip: ipText, device };
}

/** `device.remove`: the device and the forwards that targeted it. */
export function removeDevice(state: State, subnet: string, ip: string): State {
  const found = getDevice(state, subnet, ip);
  const rec = state.subnets[found.subnet.key]!;
  const devices = { ...rec.devices };
  delete devices[found.ip];
  return collect({
    ...state,
    subnets: { ...state.subnets, [found.subnet.key]: { ...rec, devices } },
  });
}

/** A state with one device record replaced. */
export function withDevice(state: State, subnet: string, ip: string, device: DeviceRecord): State {
  const rec = state.subnets[subnet]!;
  return {
    ...state,
    subnets: { ...state.subnets, [subnet]: { ...rec, devices: { ...rec.devices, [ip]: device } } },
  };
}

/**
 * `device.set-kind`: the kind is sticky; a device demoted to client loses every forward and
 * pinhole that reached it, as in the original.
 */
export function setDeviceKind(state: State, subnet: string, ip: string, kind: DeviceKind): State {
  const found = getDevice(state, subnet, ip);
  const next = withDevice(state, found.subnet.key, found.ip, {
    ...found.device,
    ...kindDefaults(kind),
  });
  return kind === 'client' ? dropExposure(next, found.subnet.key, found.ip) : next;
}

/** A kind with what it allows by default: a server both, a client neither (the original's). */
function kindDefaults(kind: DeviceKind) {
  const server = kind === 'server';
  return { kind, allowDnsInjection: server, allowAutoPortForward: server };
}

/** Removes the forwards that target a device and the pinholes on its IPv6 address. */
function dropExposure(state: State, subnet: string, ip: string): State {
  const { forwards, sni } = filterTargets(state, (target) => target !== ip);
  const gua = deviceIpv6(state, subnet, ip);
  const pinholes: State['pinholes'] = {};
  for (const [key, p] of Object.entries(state.pinholes)) {
    if (parsePinholeKey(key)?.gua !== gua) pinholes[key] = p;
  }
  return { ...state, forwards, sni, pinholes };
}

/** True when a device receives anything from outside (a forward or a pinhole reaches it). */
export function isInbound(state: State, subnet: string, ip: string): boolean {
  const rec = state.subnets[subnet]?.devices[ip];
  if (!rec) return false;
  if (rec.kind === 'server') return true;
  if (Object.values(state.forwards).some((f) => f.target.split(':')[0] === ip)) return true;
  const gua = deviceIpv6(state, subnet, ip);
  return gua !== null && Object.keys(state.pinholes).some((k) => parsePinholeKey(k)?.gua === gua);
}

/** Finds a device; throws NotFound naming the field. */
export function getDevice(
  state: State,
  subnet: string,
  ip: string
): { subnet: SubnetKey; ip: string; device: DeviceRecord } {
  const [s, rec] = getSubnet(state, subnet);
  const addr = parseIPv4(ip);
  if (addr === null) throw invalid('ip', ip, 'expected an IPv4 address', ErrorCode.ParseNetAddress);
  const ipText = formatIPv4(addr);
  const device = rec.devices[ipText];
  if (!device) throw notFound('ip', ip, `device in ${s.key} at`);
  return { subnet: s, ip: ipText, device };
}

/** Every device with its subnet key and address. */
export function allDevices(state: State): { subnet: string; ip: string; device: DeviceRecord }[] {
  const out: { subnet: string; ip: string; device: DeviceRecord }[] = [];
  for (const [subnet, rec] of Object.entries(state.subnets)) {
    for (const [ip, device] of Object.entries(rec.devices)) out.push({ subnet, ip, device });
  }
  return out;
}

/** Drops forwards and pinholes that no longer reach a device (the original's garbage collection). */
function collect(state: State): State {
  return collectPinholes(collectForwards(state));
}

function collectForwards(state: State): State {
  const ips = new Set(allDevices(state).map((d) => d.ip));
  return filterTargets(state, (ip) => ips.has(ip));
}

// ---- forwards ------------------------------------------------------------------------------

/** Parses `PORT`, `PORT-PORT`, `IP:PORT` or `IP:PORT-PORT` into its normalized form. */
export function parseSource(
  text: string,
  field = 'source'
): { key: string; first: number; last: number } {
  const m = /^(?:([0-9.]+):)?([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(text.trim());
  if (!m) {
    throw invalid(
      field,
      text,
      'expected IP:PORT or IP:PORT-PORT (or PORT for the WAN address)',
      ErrorCode.ParseNetAddress
    );
  }
  let prefix = '';
  if (m[1] !== undefined) {
    const ip = parseIPv4(m[1]);
    if (ip === null)
      throw invalid(field, text, `"${m[1]}" is not an IPv4 address`, ErrorCode.ParseNetAddress);
    prefix = `${formatIPv4(ip)}:`;
  }
  const first = Number(m[2]);
  const last = m[3] === undefined ? first : Number(m[3]);
  if (first < 1 || first > 65535 || last < 1 || last > 65535) {
    throw invalid(field, text, 'ports must be 1 to 65535');
  }
  if (last < first) throw invalid(field, text, 'the range ends before it starts');
  return { key: `${prefix}${first}${last === first ? '' : `-${last}`}`, first, last };
}

/** Parses `DEVICE_IP:PORT` and checks that a device has that address. */
export function parseTarget(state: State, text: string, span: number, field = 'target'): string {
  const m = /^([0-9.]+):([0-9]{1,5})$/.exec(text.trim());
  if (!m) throw invalid(field, text, 'expected DEVICE_IP:PORT', ErrorCode.ParseNetAddress);
  const ip = parseIPv4(m[1]!);
  if (ip === null)
    throw invalid(field, text, `"${m[1]}" is not an IPv4 address`, ErrorCode.ParseNetAddress);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw invalid(field, text, 'the port must be 1 to 65535');
  if (port + span > 65535) throw invalid(field, text, 'the port range would pass 65535');
  const ipText = formatIPv4(ip);
  if (!allDevices(state).some((d) => d.ip === ipText)) {
    throw invalid(field, text, `no device has the address ${ipText}`);
  }
  return `${ipText}:${port}`;
}

function getForward(state: State, source: string): [string, ForwardRecord] {
  const { key } = parseSource(source);
  const f = state.forwards[key];
  if (!f) throw notFound('source', source, 'port forward from');
  return [key, f];
}

/** `port-forward.add`: a new forward (enabled); an existing source is refused. */
export function addForward(
  state: State,
  env: ModelEnv,
  p: { source: string; target: string; protocol?: Protocol | undefined; label?: string | undefined }
): { state: State; source: string } {
  const src = parseSource(p.source);
  if (state.forwards[src.key]) {
    throw invalid('source', p.source, `a port forward from ${src.key} already exists`);
  }
  const target = parseTarget(state, p.target, src.last - src.first);
  const label = p.label === undefined || p.label === '' ? null : checkName('label', p.label);
  const rec: ForwardRecord = {
    target,
    protocol: p.protocol ?? 'both',
    label,
    enabled: true,
    createdAt: env.now().toISOString(),
    auto: false,
  };
  return { state: { ...state, forwards: { ...state.forwards, [src.key]: rec } }, source: src.key };
}

export function removeForward(state: State, source: string): State {
  const [key] = getForward(state, source);
  const forwards = { ...state.forwards };
  delete forwards[key];
  return { ...state, forwards };
}

export function setForwardEnabled(
  state: State,
  source: string,
  enabled: boolean
): { state: State; source: string } {
  const [key, f] = getForward(state, source);
  return {
    state: { ...state, forwards: { ...state.forwards, [key]: { ...f, enabled } } },
    source: key,
  };
}

export function setForwardLabel(
  state: State,
  source: string,
  label: string | null | undefined
): { state: State; source: string } {
  const [key, f] = getForward(state, source);
  const clean =
    label === undefined || label === null || label === '' ? null : checkName('label', label);
  return {
    state: { ...state, forwards: { ...state.forwards, [key]: { ...f, label: clean } } },
    source: key,
  };
}

// ---- WAN -----------------------------------------------------------------------------------

/** `wan.set` / `wan.auto` (null): the address configs and forwards use. */
export function setWanOverride(state: State, ip: string | null): State {
  if (ip === null) return { ...state, wan: { override: null } };
  const addr = parseIPv4(ip.trim());
  if (addr === null) throw invalid('ip', ip, 'expected an IPv4 address', ErrorCode.ParseNetAddress);
  if (!isUsableIPv4(formatIPv4(addr))) {
    throw invalid(
      'ip',
      ip,
      'is not a usable unicast address (unspecified, loopback, link-local or multicast)'
    );
  }
  return { ...state, wan: { override: formatIPv4(addr) } };
}
