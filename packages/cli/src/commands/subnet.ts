// SPDX-License-Identifier: MIT
/**
 * `start-tunnel subnet list | add <SUBNET> <NAME> | remove <SUBNET>`: StartTunnel's subnet
 * commands
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/api.rs#L111-L139;
 * there the subnet is positional on the parent, `subnet <SUBNET> add <NAME>`; both that form
 * and ours, the subnet after the verb like every other argument, work). Methods `subnet.list`,
 * `subnet.add {subnet, name}`, `subnet.remove {subnet}`. The
 * server canonicalises `10.59.7.0/24` to `10.59.7.1/24` and validates; the CLI passes the text
 * through.
 * @module
 */

import { group, leaf } from '../command.ts';
import { quoted, table } from '../format.ts';

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
    'tunnel interface, e.g. 10.59.7.1/24. With --format json: an array of objects with subnet ' +
    '(the key), name, network and devices.',
  args: {},
  examples: ['start-tunnel subnet list', 'start-tunnel subnet list --format json'],
  async run(_args, ctx) {
    const subnets = await (await ctx.client()).call('subnet.list', {});
    ctx.emit(subnets, () =>
      subnets.length === 0
        ? 'No subnets; add one with `start-tunnel subnet add 10.59.7.0/24 NAME`'
        : table(
            ['SUBNET', 'NAME', 'NETWORK', 'DEVICES'],
            subnets.map((s) => [s.subnet, s.name, s.network, String(s.devices)])
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

export const subnetCommand = group('subnet', {
  description: 'Subnets: isolated networks of devices, each with its gateway on the server',
  details:
    "StartTunnel's form with the subnet before the verb works too: `subnet SUBNET add NAME` " +
    'is `subnet add SUBNET NAME`, `subnet SUBNET remove` is `subnet remove SUBNET`.',
  children: [list, add, remove],
  parentArg: { name: 'SUBNET', verbs: ['add', 'remove'] },
  examples: [
    'start-tunnel subnet list',
    'start-tunnel subnet add 10.59.7.0/24 Home',
    'start-tunnel subnet 10.59.7.0/24 add Home',
    'start-tunnel subnet remove 10.59.7.1/24',
    'start-tunnel subnet 10.59.7.1/24 remove',
  ],
});
