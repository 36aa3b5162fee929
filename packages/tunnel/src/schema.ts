// SPDX-License-Identifier: MIT
/**
 * The persistent state and its schema versions. The root is a plain object (CBOR on disk, see
 * `store.ts`) keyed the way the original keys its database
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/db.rs#L34-L50):
 * subnets by their gateway CIDR `10.59.7.1/24`
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/wg.rs#L69-L72),
 * devices by IPv4 (`WgSubnetClients`, same file), forwards by source
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/db.rs#L127-L128).
 * Keys are base64 with padding (what `wg` prints); the original's unpadded form is accepted on
 * input. Each schema change adds a migration from the previous version; `migrate()` runs them in
 * order on load and refuses a file written by a newer version rather than guess.
 * @module
 */

import type { DeviceKind, Protocol } from '@start-tunnel/protocol';

export const SCHEMA_VERSION = 3;

export interface DeviceRecord {
  name: string;
  /** base64 X25519 public key. */
  publicKey: string;
  /** base64 private key, or null when the device brought its own key (we never saw it). */
  privateKey: string | null;
  /** base64 32-byte preshared key, one per device. */
  presharedKey: string;
  createdAt: string;
  /** `server` publishes services (forwards, pinholes); `client` only goes out (the original's). */
  kind: DeviceKind;
  /** Public IPv4 this device leaves by and is reached on, or null to follow its subnet. */
  wanIp: string | null;
  /** May publish its own DNS records (RFC 2136 + TSIG); a server's default. */
  allowDnsInjection: boolean;
  /** May open its own forwards and pinholes (PCP, UPnP); a server's default. */
  allowAutoPortForward: boolean;
}

export interface SubnetRecord {
  name: string;
  /** Devices by IPv4 address. */
  devices: Record<string, DeviceRecord>;
  /** Public IPv4 the subnet leaves by and is reached on, or null for the default WAN. */
  wanIp: string | null;
  /** Routed IPv6 prefix `2001:db8:7::/64` (canonical, network form), or null. */
  ipv6: string | null;
  /** Upstreams of the subnet's resolver: the server's, a device's (`deviceIp`:53) or `servers`. */
  dns: { mode: 'default' | 'device' | 'custom'; deviceIp: string | null; servers: string[] };
}

/** A local DNS record (the original's `dnsRecords`). */
export interface DnsRecordEntry {
  /** Lower case, no trailing dot. */
  name: string;
  type: 'A' | 'AAAA' | 'CNAME' | 'TXT';
  value: string;
  ttl: number;
  /** The device address that published it, or null for a manual record. */
  source: string | null;
}

/** One route of an SNI port: the device it connects to. */
export interface SniRouteRecord {
  /** `DEVICE_IP:PORT`. */
  target: string;
  label: string | null;
  enabled: boolean;
  /** Opened by the device itself (PCP/UPnP). */
  auto: boolean;
  /** Send a PROXY protocol v2 header before the ClientHello. */
  proxyProtocol: boolean;
  createdAt: string;
}

/** A port shared by TLS hostnames (the original's `PortForward::Sni`). */
export interface SniPortRecord {
  /** By lower-case hostname, `a.example` or `*.example`. */
  routes: Record<string, SniRouteRecord>;
  /** Where a ClientHello without a known hostname goes, or null (closed). */
  fallback: SniRouteRecord | null;
}

/** An IPv6 pinhole, keyed `[GUA]:PORT` (the original's `pinholes6`). */
export interface PinholeRecord {
  /** First port on the device, or null for the external port itself. */
  internalPort: number | null;
  count: number;
  label: string | null;
  enabled: boolean;
  createdAt: string;
  auto: boolean;
}

export interface ForwardRecord {
  /** `DEVICE_IP:PORT`. */
  target: string;
  protocol: Protocol;
  label: string | null;
  enabled: boolean;
  createdAt: string;
  /** Opened by the device itself (PCP/UPnP), with a lease kept by the server. */
  auto: boolean;
}

export interface State {
  schema: number;
  server: {
    /** base64 X25519 private key of the tunnel interface. */
    privateKey: string;
  };
  /** WAN address set by the user (`wan set`), or null to detect it. */
  wan: { override: string | null };
  /** Subnets by canonical key `A.B.C.1/N`. */
  subnets: Record<string, SubnetRecord>;
  /** Forwards by normalized source (`PORT[-PORT]` or `IP:PORT[-PORT]`). */
  forwards: Record<string, ForwardRecord>;
  /** SNI ports by source (`PORT` or `IP:PORT`, one port): TLS hostnames to devices. */
  sni: Record<string, SniPortRecord>;
  /** IPv6 pinholes by `[GUA]:PORT`. */
  pinholes: Record<string, PinholeRecord>;
  /** Local DNS records, answered by every subnet's resolver. */
  dnsRecords: DnsRecordEntry[];
  /** Public IPv4s whose HTTP→HTTPS redirect the owner turned off (on by default). */
  httpRedirects: { disabled: string[] };
  /** Opaque section owned by the web package (panel settings, password, keys, sessions). */
  web: Record<string, unknown> | null;
}

/** Migrations from version `from` to `from + 1`. */
const MIGRATIONS: Record<number, (old: Record<string, unknown>) => Record<string, unknown>> = {
  // 2: StartTunnel 1.5's per-subnet/device WAN and IPv6, device kind, pinholes, redirects. Every
  // existing device becomes a client, as the original's `WgClientKind` migration does for a
  // device without its automatic capabilities, except one that a forward targets: it already
  // publishes, so it is a server.
  1: (old) => {
    const forwards = isRecord(old.forwards) ? old.forwards : {};
    const targets = new Set(
      Object.values(forwards).map((f) =>
        isRecord(f) && typeof f.target === 'string' ? f.target.split(':')[0] : ''
      )
    );
    const subnets: Record<string, unknown> = {};
    for (const [key, s] of Object.entries(isRecord(old.subnets) ? old.subnets : {})) {
      if (!isRecord(s)) {
        subnets[key] = s;
        continue;
      }
      const devices: Record<string, unknown> = {};
      for (const [ip, d] of Object.entries(isRecord(s.devices) ? s.devices : {})) {
        devices[ip] = isRecord(d)
          ? { ...d, kind: targets.has(ip) ? 'server' : 'client', wanIp: null }
          : d;
      }
      subnets[key] = { ...s, devices, wanIp: null, ipv6: null };
    }
    return { ...old, subnets, pinholes: {}, httpRedirects: { disabled: [] } };
  },
  // 3: StartTunnel 1.5's gateway services: DNS per subnet and local records, SNI ports,
  // automatic forwards; a server may do both (the original's kind defaults)
  2: (old) => {
    const subnets: Record<string, unknown> = {};
    for (const [key, s] of Object.entries(isRecord(old.subnets) ? old.subnets : {})) {
      if (!isRecord(s)) {
        subnets[key] = s;
        continue;
      }
      const devices: Record<string, unknown> = {};
      for (const [ip, d] of Object.entries(isRecord(s.devices) ? s.devices : {})) {
        const server = isRecord(d) && d.kind === 'server';
        devices[ip] = isRecord(d)
          ? { ...d, allowDnsInjection: server, allowAutoPortForward: server }
          : d;
      }
      subnets[key] = { ...s, devices, dns: { mode: 'default', deviceIp: null, servers: [] } };
    }
    const mark = (table: unknown) =>
      Object.fromEntries(
        Object.entries(isRecord(table) ? table : {}).map(([k, v]) => [
          k,
          isRecord(v) ? { ...v, auto: false } : v,
        ])
      );
    return {
      ...old,
      subnets,
      forwards: mark(old.forwards),
      pinholes: mark(old.pinholes),
      sni: {},
      dnsRecords: [],
    };
  },
};

export class SchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaError';
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Brings a decoded root up to `SCHEMA_VERSION`, checking the shape of what it returns. */
export function migrate(decoded: unknown): State {
  if (!isRecord(decoded)) throw new SchemaError('State file does not hold an object');
  let root = decoded;
  let version = root.schema;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new SchemaError(`State file has no valid schema version (${String(version)})`);
  }
  if (version > SCHEMA_VERSION) {
    throw new SchemaError(
      `State file is schema ${version}, newer than this start-tunnel (${SCHEMA_VERSION}): ` +
        'upgrade start-tunnel'
    );
  }
  while (version < SCHEMA_VERSION) {
    const step = MIGRATIONS[version];
    if (!step) throw new SchemaError(`No migration from schema ${version}`);
    root = step(root);
    version += 1;
    root.schema = version;
  }
  checkShape(root);
  return root as unknown as State;
}

function checkShape(root: Record<string, unknown>): void {
  const server = root.server;
  if (!isRecord(server) || typeof server.privateKey !== 'string') {
    throw new SchemaError('State file lacks server.privateKey');
  }
  if (!isRecord(root.wan)) throw new SchemaError('State file lacks wan');
  if (!isRecord(root.subnets)) throw new SchemaError('State file lacks subnets');
  for (const [key, s] of Object.entries(root.subnets)) {
    if (!isRecord(s) || typeof s.name !== 'string' || !isRecord(s.devices)) {
      throw new SchemaError(`State file has a malformed subnet "${key}"`);
    }
  }
  if (!isRecord(root.forwards)) throw new SchemaError('State file lacks forwards');
  if (!isRecord(root.pinholes)) throw new SchemaError('State file lacks pinholes');
  if (!isRecord(root.sni)) throw new SchemaError('State file lacks sni');
  if (!Array.isArray(root.dnsRecords)) throw new SchemaError('State file lacks dnsRecords');
  if (!isRecord(root.httpRedirects) || !Array.isArray(root.httpRedirects.disabled)) {
    throw new SchemaError('State file lacks httpRedirects');
  }
  if (root.web !== null && root.web !== undefined && !isRecord(root.web)) {
    throw new SchemaError('State file has a malformed web section');
  }
  if (root.web === undefined) root.web = null;
}
