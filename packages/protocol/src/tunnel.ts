// SPDX-License-Identifier: MIT
/**
 * The tunnel's methods: subnets, devices, port forwards, the WAN address and status. Names and
 * parameter shapes follow StartTunnel's CLI/RPC (dotted subcommand paths, camelCase objects:
 * https://github.com/Start9Labs/start-os/tree/master/core/startos/src/tunnel), with our
 * additions marked. Parameters are checked here for type and presence; the model checks meaning
 * (a CIDR that parses, a device that exists) and names the field when it refuses.
 * @module
 */

import { z } from 'zod';

/** A required string parameter; the message says what it should have been. */
export const text = (what: string) =>
  z.string({ error: (i) => (i.input === undefined ? 'is required' : `must be ${what}`) });
/** Methods without parameters refuse unknown ones too. */
export const none = z.strictObject({});
export const protocolSchema = z.enum(['tcp', 'udp', 'both'], {
  error: 'must be "tcp", "udp" or "both"',
});
export type Protocol = z.infer<typeof protocolSchema>;

const count = z.number().int().nonnegative();
const isoTime = z.iso.datetime();
const port = z
  .number({ error: 'must be a port number' })
  .int({ error: 'must be a whole number' })
  .min(1, { error: 'must be 1 to 65535' })
  .max(65535, { error: 'must be 1 to 65535' });
/** An IPv4 string, or null to clear (`--wan-ip` omitted). */
const wanIp = text('an IPv4 string or null').nullable();
export const deviceKindSchema = z.enum(['client', 'server'], {
  error: 'must be "client" or "server"',
});
export type DeviceKind = z.infer<typeof deviceKindSchema>;

export const subnetInfo = z.strictObject({
  /** Canonical key: the gateway (`.1`) address with the prefix, e.g. `10.59.7.1/24`. */
  subnet: z.string(),
  name: z.string(),
  /** Network form, e.g. `10.59.7.0/24`. */
  network: z.string(),
  devices: count,
  /** The public IPv4 the subnet leaves by and is reached on (`set-wan`), or null for the default. */
  wanIp: z.string().nullable(),
  /** The routed IPv6 prefix (`set-ipv6`), e.g. `2001:db8:7::/64`, or null. */
  ipv6: z.string().nullable(),
  /** The server's IPv6 address in the prefix (prefix | gateway IPv4), or null. */
  gatewayIpv6: z.string().nullable(),
  /** Where the subnet's resolver (on its gateway addresses) forwards what it does not hold. */
  dns: z.strictObject({
    mode: z.enum(['default', 'device', 'custom']),
    deviceIp: z.string().nullable(),
    servers: z.array(z.string()),
  }),
});
export type SubnetInfo = z.infer<typeof subnetInfo>;

export const deviceInfo = z.strictObject({
  subnet: z.string(),
  name: z.string(),
  ip: z.string(),
  publicKey: z.string(),
  /** True when the server never held this device's private key (bring your own key). */
  ownKey: z.boolean(),
  /** `server` devices publish services (the original's kind); `client` devices only go out. */
  kind: deviceKindSchema,
  /** The device's own WAN (`device set-wan`), or null to follow its subnet. */
  wanIp: z.string().nullable(),
  /** The public IPv4 it leaves by and its forwards answer on: own, subnet's, else the default. */
  effectiveWanIp: z.string().nullable(),
  /** Its IPv6 address (subnet prefix | its IPv4), or null when the subnet has no prefix. */
  ipv6: z.string().nullable(),
  /** May publish its own DNS records (RFC 2136 with TSIG) and open its own forwards (PCP/UPnP). */
  allowDnsInjection: z.boolean(),
  allowAutoPortForward: z.boolean(),
  /** Last seen `IP:PORT`, or null. */
  endpoint: z.string().nullable(),
  /** ISO 8601, or null before the first handshake. */
  lastHandshake: isoTime.nullable(),
  rxBytes: count,
  txBytes: count,
  online: z.boolean(),
});
export type DeviceInfo = z.infer<typeof deviceInfo>;

export const addedDevice = z.strictObject({
  subnet: z.string(),
  name: z.string(),
  ip: z.string(),
  publicKey: z.string(),
  ownKey: z.boolean(),
  kind: deviceKindSchema,
  ipv6: z.string().nullable(),
  allowDnsInjection: z.boolean(),
  allowAutoPortForward: z.boolean(),
});
export type AddedDevice = z.infer<typeof addedDevice>;

export const deviceConfig = z.strictObject({
  subnet: z.string(),
  name: z.string(),
  ip: z.string(),
  /** The wg-quick config text (with a placeholder for the private key when `ownKey`). */
  config: z.string(),
  ownKey: z.boolean(),
  /** Suggested file name, `start-tunnel.conf` as in the original. */
  filename: z.string(),
});
export type DeviceConfig = z.infer<typeof deviceConfig>;

export const forwardInfo = z.strictObject({
  /** `IP:PORT`, `IP:PORT-PORT`, or `PORT`/`PORT-PORT` for the WAN address. */
  source: z.string(),
  /** `DEVICE_IP:PORT` (first port of a range). */
  target: z.string(),
  /** The address it answers on: the source's, else the target's WAN, else null (every WAN address). */
  externalIp: z.string().nullable(),
  /**
   * `dnat`: the kernel forwards the port; `sni`: the daemon reads the TLS ClientHello and
   * connects to the device its hostname names (TLS is never terminated).
   */
  kind: z.enum(['dnat', 'sni']),
  /** The SNI hostname (`a.example`, `*.example`) of an sni route; null for dnat and the fallback. */
  hostname: z.string().nullable(),
  /** Opened by the device itself (PCP/UPnP), with a lease; manual otherwise. */
  auto: z.boolean(),
  /** The lease's end (ISO 8601) of an automatic entry, null when permanent or manual. */
  expiresAt: isoTime.nullable(),
  /** sni only: a PROXY protocol v2 header tells the device the visitor's address. */
  proxyProtocol: z.boolean(),
  protocol: protocolSchema,
  label: z.string().nullable(),
  enabled: z.boolean(),
  /** Packets and bytes DNATed since the rule was created (0 when disabled or unknown). */
  packets: count,
  bytes: count,
});
export type ForwardInfo = z.infer<typeof forwardInfo>;

export const wanInfo = z.strictObject({
  /** The address in use: the override, else the detected one, else null. */
  address: z.string().nullable(),
  source: z.enum(['override', 'detected', 'none']),
  override: z.string().nullable(),
  detected: z.string().nullable(),
  /** Interfaces treated as WAN (every up, non-loopback, non-tunnel interface). */
  interfaces: z.array(z.string()),
});
export type WanInfo = z.infer<typeof wanInfo>;

export const statusInfo = z.strictObject({
  version: z.string(),
  interface: z.string(),
  listenPort: z.number().int(),
  publicKey: z.string(),
  wan: wanInfo,
  subnets: count,
  devices: count,
  online: count,
  forwards: count,
  startedAt: isoTime,
  /** The last nat apply: ok, or its error; drift lists rules the kernel shows differently. */
  nat: z.strictObject({
    ok: z.boolean(),
    error: z.string().nullable(),
    drift: z.array(z.string()),
  }),
});
export type StatusInfo = z.infer<typeof statusInfo>;

export const pinholeInfo = z.strictObject({
  /** The device's IPv6 address. */
  gua: z.string(),
  /** First external port; `count` ports from there. */
  externalPort: port,
  /** First port on the device (equal to `externalPort` unless remapped). */
  internalPort: port,
  count: z.number().int().min(1),
  label: z.string().nullable(),
  enabled: z.boolean(),
  subnet: z.string(),
  /** The device's IPv4 address and name. */
  ip: z.string(),
  name: z.string(),
  /** Opened by the device itself (PCP), with a lease. */
  auto: z.boolean(),
});
export type PinholeInfo = z.infer<typeof pinholeInfo>;

export const redirectInfo = z.strictObject({
  /** A public IPv4 address the server holds. */
  ip: z.string(),
  /** Off only when the owner turned it off (`http-redirect set-enabled IP --no-enabled`). */
  enabled: z.boolean(),
  /** A port forward covers TCP 80 on this address: the redirect yields and does not listen. */
  forwarded: z.boolean(),
});
export type RedirectInfo = z.infer<typeof redirectInfo>;

const pinholeKey = {
  gua: text('an IPv6 address string'),
  externalPort: port,
};

/** The tunnel's methods: params (checked on the server) and result (checked in tests). */
export const tunnelMethods = {
  'subnet.list': { params: none, result: z.array(subnetInfo) },
  /** Upsert: re-adding an existing subnet renames it (the original's "edit"). */
  'subnet.add': {
    params: z.strictObject({ subnet: text('a CIDR string'), name: text('a string') }),
    result: subnetInfo,
  },
  'subnet.remove': {
    params: z.strictObject({ subnet: text('a CIDR string') }),
    result: z.null(),
  },
  /** The public IPv4 the subnet's devices leave by and are reached on; null: the default WAN. */
  'subnet.set-wan': {
    params: z.strictObject({ subnet: text('a CIDR string'), wanIp }),
    result: subnetInfo,
  },
  /** A routed IPv6 prefix for the subnet (each host: prefix | its IPv4); null turns IPv6 off. */
  'subnet.set-ipv6': {
    params: z.strictObject({
      subnet: text('a CIDR string'),
      prefix: text('an IPv6 prefix string or null').nullable(),
    }),
    result: subnetInfo.extend({ warnings: z.array(z.string()) }),
  },
  'device.list': {
    params: z.strictObject({ subnet: text('a CIDR string') }),
    result: z.array(deviceInfo),
  },
  /** An existing `ip` is renamed (keys kept), as in the original; `publicKey` is ours. */
  'device.add': {
    params: z.strictObject({
      subnet: text('a CIDR string'),
      name: text('a string'),
      ip: text('an IPv4 address string').optional(),
      publicKey: text('a base64 key string').optional(),
      kind: deviceKindSchema.optional(),
    }),
    result: addedDevice,
  },
  /** Sets the kind (and resets what it allows); demotion to client removes its forwards. */
  'device.set-kind': {
    params: z.strictObject({
      subnet: text('a CIDR string'),
      ip: text('an IPv4 string'),
      kind: deviceKindSchema,
    }),
    result: addedDevice,
  },
  /** The public IPv4 this device leaves by and is reached on; null: its subnet's. */
  'device.set-wan': {
    params: z.strictObject({ subnet: text('a CIDR string'), ip: text('an IPv4 string'), wanIp }),
    result: addedDevice,
  },
  'device.remove': {
    params: z.strictObject({ subnet: text('a CIDR string'), ip: text('an IPv4 string') }),
    result: z.null(),
  },
  /** `endpoint` is `HOST` or `HOST:PORT` (the original's `wanAddr`). */
  'device.show-config': {
    params: z.strictObject({
      subnet: text('a CIDR string'),
      ip: text('an IPv4 string'),
      endpoint: text('a HOST or HOST:PORT string').optional(),
    }),
    result: deviceConfig,
  },
  'port-forward.list': { params: none, result: z.array(forwardInfo) },
  'port-forward.add': {
    params: z.strictObject({
      source: text('an IP:PORT string'),
      target: text('a DEVICE_IP:PORT string'),
      protocol: protocolSchema.optional(),
      label: text('a string').optional(),
      /** TLS hostnames to route by SNI (one port, TCP); an empty list is a plain forward. */
      sni: z.array(text('a hostname string')).max(64).optional(),
      /** With `sni`: the route without a hostname (fallback) too; ours. */
      fallback: z.boolean({ error: 'must be a boolean' }).optional(),
      /** With `sni`: send a PROXY protocol v2 header to the device (ours). */
      proxyProtocol: z.boolean({ error: 'must be a boolean' }).optional(),
    }),
    /** The forward; for several hostnames, the first route (`port-forward.list` has all). */
    result: forwardInfo,
  },
  /** Without `hostname`, an SNI port loses every route and its fallback. */
  'port-forward.remove': {
    params: z.strictObject({
      source: text('an IP:PORT string'),
      hostname: text('a hostname string').optional(),
    }),
    result: z.null(),
  },
  'port-forward.set-enabled': {
    params: z.strictObject({
      source: text('an IP:PORT string'),
      enabled: z.boolean({ error: 'must be a boolean' }),
      hostname: text('a hostname string').optional(),
    }),
    result: forwardInfo,
  },
  'port-forward.update-label': {
    params: z.strictObject({
      source: text('an IP:PORT string'),
      label: text('a string').nullable().optional(),
      hostname: text('a hostname string').optional(),
    }),
    result: forwardInfo,
  },
  'pinhole.list': { params: none, result: z.array(pinholeInfo) },
  /** Opens `count` ports from `externalPort` on a device's IPv6 address (an upsert). */
  'pinhole.add': {
    params: z.strictObject({
      ...pinholeKey,
      internalPort: port.nullable().optional(),
      label: text('a string').nullable().optional(),
      count: z.number().int({ error: 'must be a whole number' }).min(1).max(65535).optional(),
    }),
    result: pinholeInfo,
  },
  'pinhole.remove': { params: z.strictObject(pinholeKey), result: z.null() },
  'pinhole.set-enabled': {
    params: z.strictObject({ ...pinholeKey, enabled: z.boolean({ error: 'must be a boolean' }) }),
    result: pinholeInfo,
  },
  'pinhole.update-label': {
    params: z.strictObject({ ...pinholeKey, label: text('a string').nullable().optional() }),
    result: pinholeInfo,
  },
  'http-redirect.list': { params: none, result: z.array(redirectInfo) },
  'http-redirect.set-enabled': {
    params: z.strictObject({
      ip: text('an IPv4 string'),
      enabled: z.boolean({ error: 'must be a boolean' }),
    }),
    result: redirectInfo,
  },
  'wan.show': { params: none, result: wanInfo },
  'wan.set': { params: z.strictObject({ ip: text('an IPv4 string') }), result: wanInfo },
  'wan.auto': { params: none, result: wanInfo },
  status: { params: none, result: statusInfo },
} as const;
