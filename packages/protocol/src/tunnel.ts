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

export const subnetInfo = z.strictObject({
  /** Canonical key: the gateway (`.1`) address with the prefix, e.g. `10.59.7.1/24`. */
  subnet: z.string(),
  name: z.string(),
  /** Network form, e.g. `10.59.7.0/24`. */
  network: z.string(),
  devices: count,
});
export type SubnetInfo = z.infer<typeof subnetInfo>;

export const deviceInfo = z.strictObject({
  subnet: z.string(),
  name: z.string(),
  ip: z.string(),
  publicKey: z.string(),
  /** True when the server never held this device's private key (bring your own key). */
  ownKey: z.boolean(),
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
    }),
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
    }),
    result: forwardInfo,
  },
  'port-forward.remove': {
    params: z.strictObject({ source: text('an IP:PORT string') }),
    result: z.null(),
  },
  'port-forward.set-enabled': {
    params: z.strictObject({
      source: text('an IP:PORT string'),
      enabled: z.boolean({ error: 'must be a boolean' }),
    }),
    result: forwardInfo,
  },
  'port-forward.update-label': {
    params: z.strictObject({
      source: text('an IP:PORT string'),
      label: text('a string').nullable().optional(),
    }),
    result: forwardInfo,
  },
  'wan.show': { params: none, result: wanInfo },
  'wan.set': { params: z.strictObject({ ip: text('an IPv4 string') }), result: wanInfo },
  'wan.auto': { params: none, result: wanInfo },
  status: { params: none, result: statusInfo },
} as const;
