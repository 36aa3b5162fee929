// SPDX-License-Identifier: MIT
/**
 * The gateway's DNS: each subnet's resolver (on its gateway addresses) forwards to the server's
 * resolvers, a device's or custom ones (`subnet.set-dns`), and answers local records itself
 * (`dns.*`); devices allowed to (`device.set-dns-injection`) publish their own records with
 * RFC 2136 UPDATE signed by TSIG (RFC 8945) with a key derived from their preshared key. Names
 * and shapes follow StartTunnel 1.5
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel).
 * @module
 */

import { z } from 'zod';
import { text } from './tunnel.ts';

export const dnsTypeSchema = z.enum(['A', 'AAAA', 'CNAME', 'TXT'], {
  error: 'must be A, AAAA, CNAME or TXT',
});
export type DnsType = z.infer<typeof dnsTypeSchema>;

export const dnsRecordInfo = z.strictObject({
  /** Lower case, no trailing dot. */
  name: z.string(),
  type: dnsTypeSchema,
  value: z.string(),
  ttl: z.number().int().nonnegative(),
  /** The device address that published it (RFC 2136), or null for a manual record. */
  source: z.string().nullable(),
});
export type DnsRecordInfo = z.infer<typeof dnsRecordInfo>;

const flag = z.boolean({ error: 'must be a boolean' });
const deviceKey = { subnet: text('a CIDR string'), ip: text('an IPv4 string') };

export const dnsMethods = {
  /** `default`: the server's own resolvers; `device`: `deviceIp`:53; `custom`: 1–3 servers. */
  'subnet.set-dns': {
    params: z.strictObject({
      subnet: text('a CIDR string'),
      mode: z.enum(['default', 'device', 'custom'], {
        error: 'must be "default", "device" or "custom"',
      }),
      deviceIp: text('an IPv4 string').optional(),
      servers: z.array(text('an IP[:PORT] string')).optional(),
    }),
    result: z.strictObject({
      subnet: z.string(),
      mode: z.enum(['default', 'device', 'custom']),
      deviceIp: z.string().nullable(),
      servers: z.array(z.string()),
    }),
  },
  'device.set-dns-injection': {
    params: z.strictObject({ ...deviceKey, enabled: flag }),
    result: z.strictObject({ ip: z.string(), allowDnsInjection: z.boolean() }),
  },
  'device.set-auto-port-forward': {
    params: z.strictObject({ ...deviceKey, enabled: flag }),
    result: z.strictObject({ ip: z.string(), allowAutoPortForward: z.boolean() }),
  },
  /** The TSIG key a device signs its DNS updates with (ours: `nsupdate -y` needs it). */
  'device.dns-key': {
    params: z.strictObject(deviceKey),
    result: z.strictObject({
      /** `startos-dns-update.`, as the original's devices use. */
      keyName: z.string(),
      algorithm: z.literal('hmac-sha256'),
      /** base64. */
      secret: z.string(),
      /** The resolver to send updates to: the subnet's gateway. */
      server: z.string(),
    }),
  },
  'dns.list': { params: z.strictObject({}), result: z.array(dnsRecordInfo) },
  /** Adds a record; the same name, type and value is replaced (its TTL). */
  'dns.add': {
    params: z.strictObject({
      name: text('a DNS name string'),
      type: dnsTypeSchema,
      value: text('a string'),
      ttl: z.number().int().min(0).max(604800).optional(),
    }),
    result: dnsRecordInfo,
  },
  /** Without `type`, every record of the name. */
  'dns.remove': {
    params: z.strictObject({ name: text('a DNS name string'), type: dnsTypeSchema.optional() }),
    result: z.strictObject({ removed: z.number().int().nonnegative() }),
  },
} as const;
