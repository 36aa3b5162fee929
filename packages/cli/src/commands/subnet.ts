// SPDX-License-Identifier: MIT
/**
 * `start-tunnel subnet list | add <SUBNET> <NAME> | remove <SUBNET> | set-wan <SUBNET> |
 * set-ipv6 <SUBNET>`: StartTunnel's subnet commands
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/api.rs#L111-L139;
 * there the subnet is positional on the parent, `subnet <SUBNET> add <NAME>`; both that form
 * and ours, the subnet after the verb like every other argument, work), and 1.5's `set-wan
 * [--wan-ip IP]` and `set-ipv6 [--prefix P]`, each cleared by leaving the option out,
 * (https://github.com/Start9Labs/start-os/tree/master/core/startos/src/tunnel). Methods
 * `subnet.list`, `subnet.add {subnet, name}`, `subnet.remove {subnet}`,
 * `subnet.set-wan {subnet, wanIp}`, `subnet.set-ipv6 {subnet, prefix}`, and `set-dns --mode …`,
 * `subnet.set-dns {subnet, mode, deviceIp?, servers?}`. The server canonicalises `10.59.7.0/24`
 * to `10.59.7.1/24` and validates; the CLI passes the text through.
 * @module
 */

import { group, leaf, optional } from '../command.ts';
import { UsageError } from '../errors.ts';
import { choiceOf, clean, quoted, table } from '../format.ts';

export const SUBNET_ARG = {
  type: 'positional',
  required: true,
  description:
    'the subnet, as its network (10.59.7.0/24) or its gateway address (10.59.7.1/24); ' +
    'prefix /24 or shorter',
} as const;

const list = leaf('list', {
  description: 'List the subnets with their gateway address, name and device count',
  aliases: ['ls'],
  details:
    'Each subnet is shown by its canonical key, the gateway (.1) address the server holds on the ' +
    'tunnel interface, e.g. 10.59.7.1/24. WAN is the public address its devices leave by and ' +
    'are reached on when it has its own (set-wan), IPV6 its routed prefix (set-ipv6). With ' +
    '--format json: an array of objects with subnet (the key), name, network, devices, wanIp, ' +
    'ipv6 and gatewayIpv6.',
  args: {},
  examples: ['start-tunnel subnet list', 'start-tunnel subnet list --format json'],
  async run(_args, ctx) {
    const subnets = await (await ctx.client()).call('subnet.list', {});
    ctx.emit(subnets, () =>
      subnets.length === 0
        ? 'No subnets; add one with `start-tunnel subnet add 10.59.7.0/24 NAME`'
        : table(
            ['SUBNET', 'NAME', 'NETWORK', 'DEVICES', 'WAN', 'IPV6'],
            subnets.map((s) => [
              s.subnet,
              s.name,
              s.network,
              String(s.devices),
              s.wanIp ?? '-',
              s.ipv6 ?? '-',
            ])
          )
    );
  },
});

const add = leaf('add', {
  description: 'Add a subnet, or rename an existing one',
  details:
    'Creates an isolated subnet: the server takes its .1 address on the tunnel interface, its ' +
    'devices get addresses from .2 up, and devices of other subnets cannot reach it. ' +
    'Overlapping subnets are refused. Adding a subnet that exists renames it and keeps its ' +
    'devices.',
  args: {
    subnet: SUBNET_ARG,
    name: { type: 'positional', required: true, description: 'a name for it, e.g. "Home"' },
  },
  examples: [
    'start-tunnel subnet add 10.59.7.0/24 Home',
    'start-tunnel subnet add 10.59.7.1/24 "Home servers"   # rename',
  ],
  async run(args, ctx) {
    const info = await (await ctx.client()).call('subnet.add', {
      subnet: args.subnet,
      name: args.name,
    });
    ctx.emit(info, `Added subnet ${quoted(info.name)} ${info.subnet}`);
  },
});

const remove = leaf('remove', {
  description: 'Remove a subnet with all its devices and their port forwards',
  aliases: ['rm'],
  details:
    'Every device of the subnet is disconnected and deleted, and port forwards to them are ' +
    'removed. With --format json the result is null.',
  args: { subnet: SUBNET_ARG },
  examples: ['start-tunnel subnet remove 10.59.7.1/24'],
  async run(args, ctx) {
    const result = await (await ctx.client()).call('subnet.remove', { subnet: args.subnet });
    ctx.emit(result, `Removed subnet ${args.subnet}`);
  },
});

/** A value option that may be left out (to clear) but not given empty. */
export function clearable(flag: string, value: unknown, what: string): string | null {
  const text = optional(value)?.trim();
  if (text === undefined) return null;
  if (text === '') throw new UsageError(`--${flag} needs ${what} (leave it out to clear)`);
  return text;
}

const setWan = leaf('set-wan', {
  description: 'Give a subnet its own public address, or clear it (leave out --wan-ip)',
  details:
    'On a server with several public IPv4 addresses, the devices of the subnet leave by ' +
    '--wan-ip and their port forwards answer on it (forwards move with it). Without --wan-ip ' +
    'the subnet goes back to the default WAN address (start-tunnel wan show). A device can ' +
    'have its own (start-tunnel device set-wan). The address must be one the server holds ' +
    '(start-tunnel web get-available-ips lists them). With --format json: the subnet, as in ' +
    'subnet list.',
  args: {
    subnet: SUBNET_ARG,
    'wan-ip': {
      type: 'string',
      valueHint: 'IP',
      description: 'the public IPv4 address (leave it out to clear)',
    },
  },
  examples: [
    'start-tunnel subnet set-wan 10.59.7.1/24 --wan-ip 198.51.100.7',
    'start-tunnel subnet set-wan 10.59.7.1/24   # back to the default',
  ],
  async run(args, ctx) {
    const wanIp = clearable('wan-ip', args['wan-ip'], 'an IPv4 address');
    const info = await (await ctx.client()).call('subnet.set-wan', {
      subnet: args.subnet,
      wanIp,
    });
    ctx.emit(info, () =>
      info.wanIp === null
        ? `Subnet ${quoted(info.name)} ${info.subnet} uses the default WAN address`
        : `Subnet ${quoted(info.name)} ${info.subnet} uses WAN address ${clean(info.wanIp)}`
    );
  },
});

const setIpv6 = leaf('set-ipv6', {
  description: 'Route an IPv6 prefix to a subnet, or turn IPv6 off (leave out --prefix)',
  details:
    'Every host of the subnet gets one IPv6 address: the prefix with its IPv4 address in the ' +
    'low bits (10.59.7.2 in 2001:db8:7::/64 is 2001:db8:7::a3b:702), the server the one of the ' +
    'gateway. Devices then reach the IPv6 internet through the server; nothing reaches them ' +
    'but through a pinhole (start-tunnel pinhole add). The prefix must be routed to the server ' +
    '(a /64 per subnet is usual) and the server needs IPv6 itself. What the server cannot ' +
    'verify is printed as a warning on stderr. Configs shown afterwards carry the address; ' +
    'give the devices their new config. With --format json: the subnet, as in subnet list, ' +
    'with warnings.',
  args: {
    subnet: SUBNET_ARG,
    prefix: {
      type: 'string',
      valueHint: 'PREFIX',
      description: 'the IPv6 prefix, e.g. 2001:db8:7::/64 (leave it out to turn IPv6 off)',
    },
  },
  examples: [
    'start-tunnel subnet set-ipv6 10.59.7.1/24 --prefix 2001:db8:7::/64',
    'start-tunnel subnet set-ipv6 10.59.7.1/24   # IPv6 off',
  ],
  async run(args, ctx) {
    const prefix = clearable('prefix', args.prefix, 'an IPv6 prefix');
    const info = await (await ctx.client()).call('subnet.set-ipv6', {
      subnet: args.subnet,
      prefix,
    });
    if (ctx.options.format === 'text') {
      for (const warning of info.warnings) ctx.io.stderr(`warning: ${clean(warning)}\n`);
    }
    ctx.emit(info, () =>
      info.ipv6 === null
        ? `Subnet ${quoted(info.name)} ${info.subnet} has no IPv6`
        : `Subnet ${quoted(info.name)} ${info.subnet} has IPv6 prefix ${clean(info.ipv6)}` +
          (info.gatewayIpv6 ? ` (the server: ${clean(info.gatewayIpv6)})` : '')
    );
  },
});

const DNS_MODES = ['default', 'device', 'custom'] as const;

const setDns = leaf('set-dns', {
  description: "Choose where a subnet's resolver sends the names it does not hold",
  details:
    'Devices ask the resolver on their gateway address (the DNS line of their config), which ' +
    'answers the records of start-tunnel dns itself and forwards every other name: with ' +
    "--mode default to the server's own resolvers, with --mode device to a device of the " +
    'subnet (--device-ip, e.g. a Pi-hole), with --mode custom to one to three --server ' +
    'addresses (IP or IP:PORT, port 53 when none). Devices need no new config. With --format ' +
    'json: an object with subnet, mode, deviceIp and servers.',
  args: {
    subnet: SUBNET_ARG,
    mode: {
      type: 'string',
      required: true,
      valueHint: 'default|device|custom',
      description: 'where names go',
    },
    'device-ip': {
      type: 'string',
      valueHint: 'IP',
      description: 'with --mode device: the device that resolves',
    },
    server: {
      type: 'string',
      valueHint: 'IP[:PORT]',
      description: 'with --mode custom: a resolver (repeatable, up to 3)',
    },
  },
  examples: [
    'start-tunnel subnet set-dns 10.59.7.1/24 --mode custom --server 9.9.9.9 --server 149.112.112.112',
    'start-tunnel subnet set-dns 10.59.7.1/24 --mode device --device-ip 10.59.7.53',
    'start-tunnel subnet set-dns 10.59.7.1/24 --mode default',
  ],
  async run(args, ctx) {
    const mode = choiceOf('mode', args.mode, DNS_MODES);
    const deviceIp = optional(args['device-ip']);
    const servers = ctx.values('server');
    if (mode !== 'device' && deviceIp !== undefined) {
      throw new UsageError('--device-ip goes with --mode device');
    }
    if (mode !== 'custom' && servers.length > 0) {
      throw new UsageError('--server goes with --mode custom');
    }
    const dns = await (await ctx.client()).call('subnet.set-dns', {
      subnet: args.subnet,
      mode,
      ...(deviceIp !== undefined ? { deviceIp } : {}),
      ...(mode === 'custom' ? { servers } : {}),
    });
    ctx.emit(dns, () => {
      const where =
        dns.mode === 'default'
          ? "the server's resolvers"
          : dns.mode === 'device'
            ? `device ${clean(dns.deviceIp ?? '?')}`
            : dns.servers.map(clean).join(', ');
      return `Subnet ${dns.subnet} resolves names through ${where}`;
    });
  },
});

export const subnetCommand = group('subnet', {
  description: 'Subnets: isolated networks of devices, each with its gateway on the server',
  details:
    "StartTunnel's form with the subnet before the verb works too: `subnet SUBNET add NAME` " +
    'is `subnet add SUBNET NAME`, `subnet SUBNET remove` is `subnet remove SUBNET`, and so ' +
    'for set-wan, set-ipv6 and set-dns.',
  children: [list, add, remove, setWan, setIpv6, setDns],
  parentArg: { name: 'SUBNET', verbs: ['add', 'remove', 'set-wan', 'set-ipv6', 'set-dns'] },
  examples: [
    'start-tunnel subnet list',
    'start-tunnel subnet add 10.59.7.0/24 Home',
    'start-tunnel subnet 10.59.7.0/24 add Home',
    'start-tunnel subnet remove 10.59.7.1/24',
    'start-tunnel subnet 10.59.7.1/24 remove',
    'start-tunnel subnet 10.59.7.1/24 set-wan --wan-ip 198.51.100.7',
    'start-tunnel subnet 10.59.7.1/24 set-ipv6 --prefix 2001:db8:7::/64',
    'start-tunnel subnet 10.59.7.1/24 set-dns --mode custom --server 9.9.9.9',
  ],
});
