// SPDX-License-Identifier: MIT
/**
 * `start-tunnel pinhole list | add | remove | set-enabled | update-label`: StartTunnel 1.5's IPv6
 * pinholes (https://github.com/Start9Labs/start-os/tree/master/core/startos/src/tunnel): a
 * device of a subnet with an IPv6 prefix has a public IPv6 address, and a pinhole lets the
 * internet reach ports of it (optionally onto other ports of the device); nothing else comes in.
 * Keyed by the device's address and the first external port. Methods `pinhole.list`,
 * `pinhole.add {gua, externalPort, internalPort?, label?, count?}`,
 * `pinhole.remove {gua, externalPort}`, `pinhole.set-enabled {gua, externalPort, enabled}`,
 * `pinhole.update-label {gua, externalPort, label}`. `set-enabled` has the meaning of StartTunnel's
 * flags: `--enabled` enables, no flag (or `--no-enabled`) disables.
 * @module
 */

import type { Params, PinholeInfo } from '@start-tunnel/protocol';
import { group, leaf, optional } from '../command.ts';
import { UsageError } from '../errors.ts';
import { clean, quoted, table } from '../format.ts';

const GUA_ARG = {
  type: 'positional',
  required: true,
  description:
    "the device's IPv6 address, e.g. 2001:db8:7::a3b:702 (device list --format json shows it)",
} as const;

const PORT_ARG = {
  type: 'positional',
  required: true,
  valueHint: 'EXTERNAL_PORT',
  description: 'the (first) port opened on that address',
} as const;

/** A port number (1..65535) from the command line; `what` names the argument. */
export function portNumber(what: string, value: string): number {
  if (!/^[0-9]{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new UsageError(`invalid ${what} "${clean(value)}": expected a port number 1 to 65535`);
  }
  return Number(value);
}

/** `443`, or `27015-27030` for a span of `count` ports. */
function span(first: number, count: number): string {
  return count > 1 ? `${first}-${first + count - 1}` : String(first);
}

/** `[2001:db8:7::a3b:702]:8443 -> 443 ("phone" 10.59.7.2) "web"` */
function describePinhole(p: PinholeInfo): string {
  const remap = p.internalPort === p.externalPort ? '' : ` -> ${span(p.internalPort, p.count)}`;
  const label = p.label ? ` ${quoted(p.label)}` : '';
  return `[${p.gua}]:${span(p.externalPort, p.count)}${remap} (${quoted(p.name)} ${p.ip})${label}`;
}

const list = leaf('list', {
  description: 'List the IPv6 pinholes with their device and state',
  aliases: ['ls'],
  details:
    'PORTS are opened on ADDRESS, the IPv6 address of DEVICE; DEVICE PORTS are where they land ' +
    'on it. With --format json: an array of objects with gua, externalPort, internalPort, ' +
    'count, label, enabled, subnet, ip (the IPv4 address of the device), name and auto (opened ' +
    'by the device itself, PCP).',
  args: {},
  examples: ['start-tunnel pinhole list', 'start-tunnel pinhole list --format json'],
  async run(_args, ctx) {
    const pinholes = await (await ctx.client()).call('pinhole.list', {});
    ctx.emit(pinholes, () =>
      pinholes.length === 0
        ? 'No pinholes; open one with `start-tunnel pinhole add GUA PORT`'
        : table(
            ['ADDRESS', 'PORTS', 'DEVICE PORTS', 'DEVICE', 'IP', 'ENABLED', 'LABEL'],
            pinholes.map((p) => [
              p.gua,
              span(p.externalPort, p.count),
              span(p.internalPort, p.count),
              p.name,
              p.ip,
              p.enabled ? 'yes' : 'no',
              p.label ?? '',
            ])
          )
    );
  },
});

const add = leaf('add', {
  description: "Open ports of a device's IPv6 address to the internet",
  details:
    'Connections from anywhere to EXTERNAL_PORT (and the next ports, with --count) of the ' +
    "device's IPv6 address reach the device, on the same ports or from --internal-port up; TCP " +
    'and UDP alike. The device must be in a subnet with an IPv6 prefix (start-tunnel subnet ' +
    'set-ipv6). Adding a pinhole that exists changes it. With --format json: the pinhole, as ' +
    'in pinhole list.',
  args: {
    gua: GUA_ARG,
    'external-port': PORT_ARG,
    'internal-port': {
      type: 'string',
      valueHint: 'PORT',
      description: 'the (first) port on the device (default: EXTERNAL_PORT)',
    },
    label: { type: 'string', valueHint: 'TEXT', description: 'a note shown in lists' },
    count: {
      type: 'string',
      valueHint: 'N',
      description: 'open N consecutive ports (default: 1)',
    },
  },
  examples: [
    'start-tunnel pinhole add 2001:db8:7::a3b:702 443 --label web',
    'start-tunnel pinhole add 2001:db8:7::a3b:702 8443 --internal-port 443',
    'start-tunnel pinhole add 2001:db8:7::a3b:70a 27015 --count 16',
  ],
  async run(args, ctx) {
    const params: Params<'pinhole.add'> = {
      gua: args.gua,
      externalPort: portNumber('EXTERNAL_PORT', args['external-port']),
    };
    const internal = optional(args['internal-port']);
    if (internal !== undefined) params.internalPort = portNumber('--internal-port', internal);
    const label = optional(args.label);
    if (label !== undefined) params.label = label;
    const count = optional(args.count);
    if (count !== undefined) {
      if (!/^[0-9]{1,5}$/.test(count) || Number(count) < 1 || Number(count) > 65535) {
        throw new UsageError(`invalid --count "${clean(count)}": expected a whole number from 1`);
      }
      params.count = Number(count);
    }
    const pinhole = await (await ctx.client()).call('pinhole.add', params);
    ctx.emit(pinhole, () => `Opened pinhole ${describePinhole(pinhole)}`);
  },
});

const remove = leaf('remove', {
  description: 'Close a pinhole',
  aliases: ['rm'],
  details: 'With --format json the result is null.',
  args: { gua: GUA_ARG, 'external-port': PORT_ARG },
  examples: ['start-tunnel pinhole remove 2001:db8:7::a3b:702 443'],
  async run(args, ctx) {
    const externalPort = portNumber('EXTERNAL_PORT', args['external-port']);
    const result = await (await ctx.client()).call('pinhole.remove', {
      gua: args.gua,
      externalPort,
    });
    ctx.emit(result, `Removed pinhole [${clean(args.gua)}]:${externalPort}`);
  },
});

const setEnabled = leaf('set-enabled', {
  description: 'Turn a pinhole on (--enabled) or off (no flag, or --no-enabled)',
  details:
    'A disabled pinhole is kept with its label and can be enabled again. As in StartTunnel, ' +
    'the pinhole is disabled unless --enabled is given.',
  args: {
    gua: GUA_ARG,
    'external-port': PORT_ARG,
    enabled: {
      type: 'boolean',
      description: 'enable the pinhole',
      negativeDescription: 'disable it (the same as leaving the flag out)',
    },
  },
  examples: [
    'start-tunnel pinhole set-enabled 2001:db8:7::a3b:702 443 --no-enabled',
    'start-tunnel pinhole set-enabled 2001:db8:7::a3b:702 443 --enabled',
  ],
  async run(args, ctx) {
    const pinhole = await (await ctx.client()).call('pinhole.set-enabled', {
      gua: args.gua,
      externalPort: portNumber('EXTERNAL_PORT', args['external-port']),
      enabled: args.enabled === true,
    });
    ctx.emit(
      pinhole,
      () => `${pinhole.enabled ? 'Enabled' : 'Disabled'} pinhole ${describePinhole(pinhole)}`
    );
  },
});

const updateLabel = leaf('update-label', {
  description: 'Set or clear the label of a pinhole',
  args: {
    gua: GUA_ARG,
    'external-port': PORT_ARG,
    label: {
      type: 'positional',
      required: false,
      description: 'the new label (leave it out to clear the label)',
    },
  },
  examples: [
    'start-tunnel pinhole update-label 2001:db8:7::a3b:702 443 "web server"',
    'start-tunnel pinhole update-label 2001:db8:7::a3b:702 443   # clear',
  ],
  async run(args, ctx) {
    const pinhole = await (await ctx.client()).call('pinhole.update-label', {
      gua: args.gua,
      externalPort: portNumber('EXTERNAL_PORT', args['external-port']),
      label: optional(args.label) ?? null,
    });
    const where = `[${pinhole.gua}]:${pinhole.externalPort}`;
    ctx.emit(pinhole, () =>
      pinhole.label
        ? `Label of pinhole ${where} set to ${quoted(pinhole.label)}`
        : `Label of pinhole ${where} cleared`
    );
  },
});

export const pinholeCommand = group('pinhole', {
  description: 'IPv6 pinholes: ports of devices opened to the internet on their IPv6 address',
  details:
    'A subnet with an IPv6 prefix (start-tunnel subnet set-ipv6) gives each device a public ' +
    'IPv6 address; the server lets nothing in to it but through a pinhole. IPv4 has port ' +
    'forwards instead (start-tunnel port-forward).',
  children: [list, add, remove, setEnabled, updateLabel],
  examples: [
    'start-tunnel pinhole add 2001:db8:7::a3b:702 443 --label web',
    'start-tunnel pinhole list',
    'start-tunnel pinhole set-enabled 2001:db8:7::a3b:702 443 --no-enabled',
    'start-tunnel pinhole remove 2001:db8:7::a3b:702 443',
  ],
});
