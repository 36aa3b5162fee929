// SPDX-License-Identifier: MIT
/**
 * `start-tunnel device list | add | remove | show-config | set-kind | set-wan`: StartTunnel's
 * device commands
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/api.rs#L141-L189,
 * and 1.5's `--kind client|server`, `set-kind` and `set-wan [--wan-ip IP]`,
 * https://github.com/Start9Labs/start-os/tree/master/core/startos/src/tunnel) with our
 * additions: bring-your-own public key (`--public-key`, the server then never holds the private
 * key), `--endpoint` (the original's optional `wan_addr` of `show-config`,
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/api.rs#L438-L449), and
 * a terminal QR code (`--qr`). Methods `device.list {subnet}`,
 * `device.add {subnet, name, ip?, publicKey?, kind?}`, `device.remove {subnet, ip}`,
 * `device.show-config {subnet, ip, endpoint?}`, `device.set-kind {subnet, ip, kind}`,
 * `device.set-wan {subnet, ip, wanIp}`; and what a device may do itself,
 * `set-dns-injection` and `set-auto-port-forward` with StartTunnel's presence flag (no
 * `--enabled`: off), `device.set-dns-injection {subnet, ip, enabled}`,
 * `device.set-auto-port-forward {subnet, ip, enabled}`, plus `dns-key` (ours: the TSIG key it
 * signs its DNS updates with), `device.dns-key {subnet, ip}`.
 * @module
 */

import type { DeviceKind, Params } from '@start-tunnel/protocol';
import { group, leaf, optional } from '../command.ts';
import { UsageError } from '../errors.ts';
import {
  choiceOf,
  clean,
  deviceState,
  fields,
  formatAge,
  formatBytes,
  ONLINE_WINDOW_TEXT,
  quoted,
  table,
} from '../format.ts';
import { renderQr } from '../qr.ts';
import { clearable, SUBNET_ARG } from './subnet.ts';

const IP_ARG = {
  type: 'positional',
  required: true,
  description: 'the device address inside the subnet, e.g. 10.59.7.2',
} as const;

const KINDS: readonly DeviceKind[] = ['client', 'server'];

/** What a kind means, for help texts. */
const KIND_TEXT =
  'A server publishes services (port forwards and pinholes reach it, and its config says so ' +
  'with "# inbound: yes", which StartOS reads); a client only goes out through the tunnel.';

const list = leaf('list', {
  description: 'List the devices of a subnet with their state, last handshake and traffic',
  aliases: ['ls'],
  details:
    `STATE is online (a handshake in the last ${ONLINE_WINDOW_TEXT}), idle (connected before, ` +
    'quiet now) or never (no handshake yet). ENDPOINT is where the device was last seen, WAN ' +
    "the public address it leaves by: its own, its subnet's, else the default one. With --format " +
    'json: an array of objects with name, ip, publicKey, endpoint, lastHandshake (ISO 8601 or ' +
    'null), rxBytes, txBytes, online, subnet, ownKey, kind, wanIp (its own), effectiveWanIp, ' +
    'ipv6, allowDnsInjection and allowAutoPortForward.',
  args: { subnet: SUBNET_ARG },
  examples: [
    'start-tunnel device list 10.59.7.1/24',
    'start-tunnel device list 10.59.7.0/24 --format json',
  ],
  async run(args, ctx) {
    const devices = await (await ctx.client()).call('device.list', { subnet: args.subnet });
    ctx.emit(devices, () => {
      if (devices.length === 0) {
        return `No devices in ${clean(args.subnet)}; add one with \`start-tunnel device add ${clean(args.subnet)} NAME\``;
      }
      const now = ctx.now();
      return table(
        ['NAME', 'IP', 'KIND', 'STATE', 'HANDSHAKE', 'ENDPOINT', 'RX', 'TX', 'WAN', 'PUBLIC KEY'],
        devices.map((d) => [
          d.name,
          d.ip,
          d.kind,
          deviceState(d),
          formatAge(d.lastHandshake, now),
          d.endpoint ?? '-',
          formatBytes(d.rxBytes),
          formatBytes(d.txBytes),
          d.effectiveWanIp ?? 'default',
          d.publicKey,
        ])
      );
    });
  },
});

const add = leaf('add', {
  description: 'Add a device to a subnet (or rename the device at IP)',
  details:
    'Without IP the device gets the first free address from .2 up. The server makes its key ' +
    'pair and a preshared key, unless --public-key gives the public key of a pair the device ' +
    'made itself (wg genkey | wg pubkey): then the private key never leaves the device. ' +
    `Adding an IP that exists renames that device and keeps its keys and kind. ${KIND_TEXT} ` +
    'With --format json: an object with name, ip, publicKey, subnet, ownKey, kind, ipv6, ' +
    'allowDnsInjection and allowAutoPortForward. ' +
    'Then give the device its config: start-tunnel device show-config SUBNET IP.',
  args: {
    subnet: SUBNET_ARG,
    name: { type: 'positional', required: true, description: 'a name for the device' },
    ip: {
      type: 'positional',
      required: false,
      description: 'the address to give it (default: the first free one)',
    },
    'public-key': {
      type: 'string',
      valueHint: 'KEY',
      description: "the device's own WireGuard public key (base64, 44 characters)",
    },
    kind: {
      type: 'string',
      valueHint: 'client|server',
      description: 'what the device is (default: client)',
    },
  },
  examples: [
    'start-tunnel device add 10.59.7.1/24 phone',
    'start-tunnel device add 10.59.7.0/24 nas 10.59.7.10 --kind server',
    'start-tunnel device add 10.59.7.1/24 router --public-key "$(wg pubkey < router.key)"',
  ],
  async run(args, ctx) {
    const params: Params<'device.add'> = { subnet: args.subnet, name: args.name };
    const ip = optional(args.ip);
    const publicKey = optional(args['public-key']);
    const kind = optional(args.kind);
    if (ip !== undefined) params.ip = ip;
    if (kind !== undefined) params.kind = choiceOf('kind', kind, KINDS);
    if (publicKey !== undefined) {
      if (publicKey.trim() === '') throw new UsageError('--public-key needs a key');
      params.publicKey = publicKey.trim();
    }
    const device = await (await ctx.client()).call('device.add', params);
    ctx.emit(device, () => {
      const own = device.ownKey ? ' (its own key: the server holds only the public key)' : '';
      const server = device.kind === 'server' ? ' as a server' : '';
      return (
        `Added device ${quoted(device.name)} ${device.ip} in ${device.subnet}${server}${own}\n` +
        `Its config: start-tunnel device show-config ${device.subnet} ${device.ip} [--qr]`
      );
    });
  },
});

const remove = leaf('remove', {
  description: 'Remove a device and the port forwards to it',
  aliases: ['rm'],
  details:
    'The device is disconnected at once; other devices keep their sessions. With --format json ' +
    'the result is null.',
  args: { subnet: SUBNET_ARG, ip: IP_ARG },
  examples: ['start-tunnel device remove 10.59.7.1/24 10.59.7.2'],
  async run(args, ctx) {
    const result = await (await ctx.client()).call('device.remove', {
      subnet: args.subnet,
      ip: args.ip,
    });
    ctx.emit(result, `Removed device ${clean(args.ip)} from ${clean(args.subnet)}`);
  },
});

const showConfig = leaf('show-config', {
  description: "Print a device's WireGuard config, optionally as a QR code",
  details:
    'Prints the wg-quick config for the device: save it as a .conf file (wg-quick, the desktop ' +
    'apps) or scan --qr with the WireGuard mobile app. Endpoint is the WAN address of the ' +
    'server (see start-tunnel wan) unless --endpoint names another host, e.g. a DNS name or ' +
    'the public address of a NAT in front of the server. For a device that brought its own ' +
    "key the config has no private key: put the device's own in its PrivateKey line. With " +
    '--format json: an object with config (the text), name, ip, subnet, ownKey and filename, ' +
    'and qr (the code as text) with --qr.',
  args: {
    subnet: SUBNET_ARG,
    ip: IP_ARG,
    endpoint: {
      type: 'string',
      valueHint: 'HOST[:PORT]',
      description: 'the Endpoint the device dials (default: the WAN address and listen port)',
    },
    qr: { type: 'boolean', description: 'also print the config as a QR code' },
  },
  examples: [
    'start-tunnel device show-config 10.59.7.1/24 10.59.7.2 > phone.conf',
    'start-tunnel device show-config 10.59.7.1/24 10.59.7.2 --qr',
    'start-tunnel device show-config 10.59.7.1/24 10.59.7.3 --endpoint vpn.example.com:51820',
  ],
  async run(args, ctx) {
    const params: Params<'device.show-config'> = { subnet: args.subnet, ip: args.ip };
    const endpoint = optional(args.endpoint);
    if (endpoint !== undefined) {
      if (endpoint.trim() === '') throw new UsageError('--endpoint needs HOST or HOST:PORT');
      params.endpoint = endpoint.trim();
    }
    const config = await (await ctx.client()).call('device.show-config', params);
    const qr = args.qr === true ? await renderQr(config.config, ctx.io.isTTY === true) : undefined;
    if (config.ownKey) {
      ctx.io.stderr(
        `note: device ${quoted(config.name)} ${config.ip} brought its own key pair, so this ` +
          "config has no private key: put the device's own private key (the one its " +
          'public key was made from) in the PrivateKey line of [Interface] before using it\n'
      );
    }
    const text = config.config.endsWith('\n') ? config.config : `${config.config}\n`;
    ctx.emit(qr === undefined ? config : { ...config, qr }, () =>
      qr === undefined ? text : `${text}\n${qr}`
    );
  },
});

const setKind = leaf('set-kind', {
  description: 'Make a device a client or a server',
  details:
    `${KIND_TEXT} Setting the kind, even the same one, resets what the device may do itself ` +
    '(set-dns-injection, set-auto-port-forward: a server both, a client neither); making a ' +
    'server a client removes every port forward and pinhole to it. ' +
    'Give the device its config again (start-tunnel device show-config) so that it knows. ' +
    'With --format json: the device, as device add prints it.',
  args: {
    subnet: SUBNET_ARG,
    ip: IP_ARG,
    kind: {
      type: 'string',
      required: true,
      valueHint: 'client|server',
      description: 'what the device is to be',
    },
  },
  examples: [
    'start-tunnel device set-kind 10.59.7.1/24 10.59.7.10 --kind server',
    'start-tunnel device set-kind 10.59.7.1/24 10.59.7.2 --kind client',
  ],
  async run(args, ctx) {
    const device = await (await ctx.client()).call('device.set-kind', {
      subnet: args.subnet,
      ip: args.ip,
      kind: choiceOf('kind', args.kind, KINDS),
    });
    ctx.emit(device, `Device ${quoted(device.name)} ${device.ip} is a ${device.kind}`);
  },
});

const setWan = leaf('set-wan', {
  description: 'Give a device its own public address, or clear it (leave out --wan-ip)',
  details:
    'The device leaves by --wan-ip and its port forwards answer on it (they move with it); ' +
    "without --wan-ip it follows its subnet's address (start-tunnel subnet set-wan), else the " +
    'default one. The address must be one the server holds (start-tunnel web ' +
    'get-available-ips lists them). With --format json: the device, as device add prints it.',
  args: {
    subnet: SUBNET_ARG,
    ip: IP_ARG,
    'wan-ip': {
      type: 'string',
      valueHint: 'IP',
      description: 'the public IPv4 address (leave it out to clear)',
    },
  },
  examples: [
    'start-tunnel device set-wan 10.59.7.1/24 10.59.7.10 --wan-ip 198.51.100.7',
    "start-tunnel device set-wan 10.59.7.1/24 10.59.7.10   # back to its subnet's",
  ],
  async run(args, ctx) {
    const wanIp = clearable('wan-ip', args['wan-ip'], 'an IPv4 address');
    const device = await (await ctx.client()).call('device.set-wan', {
      subnet: args.subnet,
      ip: args.ip,
      wanIp,
    });
    const name = `${quoted(device.name)} ${device.ip}`;
    ctx.emit(device, () =>
      wanIp === null
        ? `Device ${name} uses the WAN address of its subnet`
        : `Device ${name} uses WAN address ${clean(wanIp)}`
    );
  },
});

/** `--enabled` / `--no-enabled`, StartTunnel's presence flag: left out, it is off. */
const ENABLED_ARG = (what: string) =>
  ({
    type: 'boolean',
    description: `allow it to ${what}`,
    negativeDescription: 'forbid it (the same as leaving the flag out)',
  }) as const;

const setDnsInjection = leaf('set-dns-injection', {
  description: 'Let a device publish its own DNS records (--enabled), or not',
  details:
    "The device may then add, change and delete records of the subnets' resolvers with DNS " +
    'UPDATE (RFC 2136) signed with its own key (start-tunnel device dns-key), as StartOS does ' +
    'for its private domains and .local name; they show in start-tunnel dns list with the ' +
    'device as their source. Servers may by default, clients not; setting the kind resets it. ' +
    'As in StartTunnel, it is turned off unless --enabled is given. With --format json: an ' +
    'object with ip and allowDnsInjection.',
  args: { subnet: SUBNET_ARG, ip: IP_ARG, enabled: ENABLED_ARG('publish DNS records') },
  examples: [
    'start-tunnel device set-dns-injection 10.59.7.1/24 10.59.7.10 --enabled',
    'start-tunnel device set-dns-injection 10.59.7.1/24 10.59.7.10 --no-enabled',
  ],
  async run(args, ctx) {
    const r = await (await ctx.client()).call('device.set-dns-injection', {
      subnet: args.subnet,
      ip: args.ip,
      enabled: args.enabled === true,
    });
    ctx.emit(
      r,
      `Device ${r.ip} ${r.allowDnsInjection ? 'may' : 'may not'} publish its own DNS records`
    );
  },
});

const setAutoPortForward = leaf('set-auto-port-forward', {
  description: 'Let a device open its own port forwards (--enabled), or not',
  details:
    'The device may then ask the server for port forwards and pinholes to itself with PCP, ' +
    'NAT-PMP or UPnP, as a home router allows (StartOS does); they are leased and show in ' +
    'start-tunnel port-forward list as automatic. Turning it off removes those at once and ' +
    'keeps the ones added by hand. Servers may by default, clients not; setting the kind ' +
    'resets it. As in StartTunnel, it is turned off unless --enabled is given. With --format ' +
    'json: an object with ip and allowAutoPortForward.',
  args: { subnet: SUBNET_ARG, ip: IP_ARG, enabled: ENABLED_ARG('open port forwards') },
  examples: [
    'start-tunnel device set-auto-port-forward 10.59.7.1/24 10.59.7.10 --enabled',
    'start-tunnel device set-auto-port-forward 10.59.7.1/24 10.59.7.10 --no-enabled',
  ],
  async run(args, ctx) {
    const r = await (await ctx.client()).call('device.set-auto-port-forward', {
      subnet: args.subnet,
      ip: args.ip,
      enabled: args.enabled === true,
    });
    ctx.emit(
      r,
      `Device ${r.ip} ${r.allowAutoPortForward ? 'may' : 'may not'} open its own port forwards`
    );
  },
});

const dnsKey = leaf('dns-key', {
  description: 'Print the key a device signs its DNS updates with',
  details:
    'The TSIG key (HMAC-SHA256) the server expects on DNS UPDATE from this device, derived ' +
    "from its preshared key, and the resolver to send the updates to (its subnet's gateway): " +
    'what nsupdate -y takes. The device also needs start-tunnel device set-dns-injection ' +
    '--enabled. With --format json: an object with keyName, algorithm, secret and server.',
  args: { subnet: SUBNET_ARG, ip: IP_ARG },
  examples: ['start-tunnel device dns-key 10.59.7.1/24 10.59.7.10'],
  async run(args, ctx) {
    const key = await (await ctx.client()).call('device.dns-key', {
      subnet: args.subnet,
      ip: args.ip,
    });
    ctx.emit(key, () =>
      fields([
        ['Key name', key.keyName],
        ['Algorithm', key.algorithm],
        ['Secret', key.secret],
        ['Server', key.server],
        ['nsupdate', `-y ${key.algorithm}:${key.keyName}:${key.secret} (server ${key.server})`],
      ])
    );
  },
});

export const deviceCommand = group('device', {
  description: 'Devices: the WireGuard peers of a subnet, with their configs',
  children: [
    list,
    add,
    remove,
    showConfig,
    setKind,
    setWan,
    setDnsInjection,
    setAutoPortForward,
    dnsKey,
  ],
  examples: [
    'start-tunnel device add 10.59.7.1/24 phone',
    'start-tunnel device show-config 10.59.7.1/24 10.59.7.2 --qr',
    'start-tunnel device list 10.59.7.1/24',
    'start-tunnel device set-kind 10.59.7.1/24 10.59.7.10 --kind server',
    'start-tunnel device remove 10.59.7.1/24 10.59.7.2',
  ],
});
