// SPDX-License-Identifier: MIT
/**
 * Device configuration files in the original's format
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/client.conf.template
 * and https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/wg.rs#L224-L238):
 * the "StartTunnel" marker in the header comment (StartOS looks for it:
 * https://github.com/Start9Labs/start-os/blob/727e4d48ad682cb4bcfc5fd81a5b9e9a76ff980a/shared-libs/crates/start-core/src/net/tunnel.rs#L67-L77),
 * the device address with the subnet's prefix length, the server as the one peer with the device's
 * preshared key, the subnet network as AllowedIPs (split tunnel), the WAN endpoint and a 25 s
 * keepalive. A device that brought its own key gets a placeholder where its private key goes.
 * StartTunnel 1.5 adds `# inbound: yes` for devices reached from outside (StartOS reads it) and,
 * with an IPv6 prefix, the device's IPv6 address and `::/0` (full tunnel for IPv6).
 * @module
 */

import { formatCidr } from './ipv4.ts';
import type { SubnetKey } from './model.ts';
import type { DeviceRecord } from './schema.ts';

/** What a config file says in place of a private key the server never saw. */
export const PRIVATE_KEY_PLACEHOLDER = '<your private key: the one whose public key you gave>';

export interface ConfigInput {
  subnet: SubnetKey;
  ip: string;
  device: DeviceRecord;
  serverPublicKey: string;
  /** `HOST:PORT` (IPv6 hosts in brackets). */
  endpoint: string;
  /** The device's IPv6 address with its subnet prefix's length, or null without IPv6. */
  ipv6?: string | null;
  /** The device receives connections from outside (a server, a forward or a pinhole). */
  inbound?: boolean;
}

/** The wg-quick text of one device. */
export function renderConfig(c: ConfigInput): string {
  const privateKey = c.device.privateKey ?? PRIVATE_KEY_PLACEHOLDER;
  const v6 = c.ipv6 ?? null;
  const lines = [
    `# StartTunnel config for ${c.device.name}`,
    ...(c.inbound ? ['# inbound: yes'] : []),
    '',
    '[Interface]',
    `Address = ${c.ip}/${c.subnet.bits}${v6 !== null ? `, ${v6}` : ''}`,
    `PrivateKey = ${privateKey}`,
    '',
    '[Peer]',
    `PublicKey = ${c.serverPublicKey}`,
    `PresharedKey = ${c.device.presharedKey}`,
    // IPv4 is split tunnel; with IPv6 the device's global address only works through us
    `AllowedIPs = ${formatCidr(c.subnet.network, c.subnet.bits)}${v6 !== null ? ', ::/0' : ''}`,
    `Endpoint = ${c.endpoint}`,
    'PersistentKeepalive = 25',
    '',
  ];
  return lines.join('\n');
}

/**
 * Builds `HOST:PORT` from a user's `HOST` or `HOST:PORT` (bracketed IPv6 allowed); null when
 * the text is not a plausible host.
 */
export function formatEndpoint(text: string, defaultPort: number): string | null {
  const t = text.trim();
  let host: string;
  let port = defaultPort;
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(t);
  if (v6) {
    host = `[${v6[1]}]`;
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else if (/^[0-9a-fA-F:]+$/.test(t) && t.includes(':') && t.split(':').length > 2) {
    host = `[${t}]`; // a bare IPv6 address
  } else {
    const m = /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(t);
    if (!m) return null;
    host = m[1]!;
    if (m[2] !== undefined) port = Number(m[2]);
    if (host.startsWith('.') || host.endsWith('-') || host.length > 253) return null;
  }
  if (!(port >= 1 && port <= 65535)) return null;
  return `${host}:${port}`;
}
