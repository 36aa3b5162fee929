// SPDX-License-Identifier: MIT
/**
 * `start-tunnel port-forward list | add | remove | set-enabled | update-label`: StartTunnel's
 * classic (beta.9) forward commands
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/api.rs#L41-L77) with
 * the protocol choice users asked for (https://github.com/Start9Labs/start-os/issues/3258; `both`
 * by default as in the original, which DNATs TCP and UDP alike:
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/build/lib/scripts/forward-port#L40-L59).
 * Methods `port-forward.list`, `port-forward.add {source, target, protocol?, label?}`,
 * `port-forward.remove {source}`, `port-forward.set-enabled {source, enabled}`,
 * `port-forward.update-label {source, label}`. `set-enabled` keeps the original's flag meaning
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/api.rs#L628-L633):
 * `--enabled` enables, no flag (or `--no-enabled`) disables. StartTunnel 1.5's SNI routes
 * (https://github.com/Start9Labs/start-os/tree/master/core/startos/src/tunnel): `add --sni HOST`
 * (repeatable) shares one TCP port among devices by the hostname of the TLS ClientHello, and
 * `--hostname HOST` picks one route of such a port for `remove`, `set-enabled` and
 * `update-label`; `add {…, sni?, fallback?, proxyProtocol?}` and `{…, hostname?}`.
 * @module
 */

import type { ForwardInfo, Params, Protocol } from '@start-tunnel/protocol';
import { group, leaf, optional } from '../command.ts';
import { UsageError } from '../errors.ts';
import { choiceOf, clean, formatBytes, quoted, table } from '../format.ts';

const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'both'];

const SOURCE_ARG = {
  type: 'positional',
  required: true,
  description:
    'the public side: WAN_IP:PORT, or WAN_IP:FIRST-LAST for a range of ports, e.g. ' +
    '203.0.113.5:8080; a bare PORT or FIRST-LAST means the WAN address (see start-tunnel wan)',
} as const;

/** The route of an SNI port (its hostname, or the fallback), `-` for a plain forward. */
function route(f: ForwardInfo): string {
  if (f.kind !== 'sni') return '-';
  return f.hostname ?? '(fallback)';
}

function describeForward(f: ForwardInfo): string {
  const label = f.label ? ` ${quoted(f.label)}` : '';
  const sni = f.kind === 'sni' ? ` for ${clean(route(f))}` : '';
  return `${f.source}${sni} -> ${f.target} (${f.protocol})${label}`;
}

const HOSTNAME_ARG = {
  type: 'string',
  valueHint: 'HOST',
  description: 'the route of an SNI port to change (its hostname)',
} as const;

/** `{hostname}` when `--hostname` was given. */
function hostnameOf(value: unknown): { hostname: string } | Record<string, never> {
  const hostname = optional(value);
  if (hostname === undefined) return {};
  if (hostname.trim() === '') throw new UsageError('--hostname needs a hostname');
  return { hostname: hostname.trim() };
}

/**
 * `--count N` on a single-port SOURCE: the range of N ports from it (StartTunnel's `count`
 * keeps one forward for the span; so does our FIRST-LAST source).
 */
export function withCount(source: string, count: string | undefined): string {
  if (count === undefined) return source;
  if (!/^[0-9]{1,5}$/.test(count) || Number(count) < 1) {
    throw new UsageError(`invalid --count "${clean(count)}": expected a whole number from 1`);
  }
  const m = /^(.*:)?([0-9]{1,5})$/.exec(source.trim());
  if (!m) {
    throw new UsageError(
      `--count goes with a single port (PORT or IP:PORT), not "${clean(source)}"`
    );
  }
  const first = Number(m[2]);
  const last = first + Number(count) - 1;
  if (last > 65535) {
    throw new UsageError(`invalid --count "${count}": ports ${first} to ${last} pass 65535`);
  }
  return last === first ? source : `${m[1] ?? ''}${first}-${last}`;
}

const list = leaf('list', {
  description: 'List the port forwards with their state and traffic',
  aliases: ['ls'],
  details:
    'PACKETS and BYTES count what was forwarded since the forward was created or enabled. An ' +
    'SNI port has a row per HOSTNAME it routes (and one for its fallback); forwards a device ' +
    'opened itself (PCP, UPnP) are marked auto. With --format json: an array of objects with ' +
    'source, target, externalIp, kind (dnat or sni), hostname, auto, expiresAt, proxyProtocol, ' +
    'protocol, label, enabled, packets and bytes.',
  args: {},
  examples: ['start-tunnel port-forward list', 'start-tunnel port-forward list --format json'],
  async run(_args, ctx) {
    const forwards = await (await ctx.client()).call('port-forward.list', {});
    ctx.emit(forwards, () =>
      forwards.length === 0
        ? 'No port forwards; add one with `start-tunnel port-forward add WAN_IP:PORT DEVICE_IP:PORT`'
        : table(
            ['SOURCE', 'HOSTNAME', 'TARGET', 'PROTOCOL', 'ENABLED', 'PACKETS', 'BYTES', 'LABEL'],
            forwards.map((f) => [
              f.source,
              route(f),
              f.target,
              f.protocol,
              f.enabled ? 'yes' : 'no',
              String(f.packets),
              formatBytes(f.bytes),
              `${f.label ?? ''}${f.auto ? `${f.label ? ' ' : ''}(auto)` : ''}`,
            ])
          )
    );
  },
});

const add = leaf('add', {
  description: 'Forward a public port (or range) to a device',
  details:
    'Connections to SOURCE on the server are sent to TARGET, a device of one of the subnets; ' +
    'devices and the server itself reach it through the public address too. A range ' +
    'SOURCE WAN_IP:FIRST-LAST (or a single port with --count N) maps onto as many ports from ' +
    "TARGET's port up. The forward goes away with its device. With --sni, one TCP port of the " +
    'server serves several devices: the server reads the hostname a TLS client asks for ' +
    '(never the rest: TLS is not terminated) and connects it to the device of that hostname ' +
    '(*.example.org matches one label); --fallback takes the names no route has. The port ' +
    'may hold the routes of several devices, not a plain forward.',
  args: {
    source: SOURCE_ARG,
    target: {
      type: 'positional',
      required: true,
      description: 'the device side: DEVICE_IP:PORT, e.g. 10.59.7.2:80',
    },
    protocol: {
      type: 'string',
      valueHint: 'tcp|udp|both',
      description: 'what to forward (default: both)',
    },
    label: { type: 'string', valueHint: 'TEXT', description: 'a note shown in lists' },
    count: {
      type: 'string',
      valueHint: 'N',
      description:
        'forward N consecutive ports from SOURCE (one range, as StartTunnel does; default: 1)',
    },
    sni: {
      type: 'string',
      valueHint: 'HOST',
      description: 'route TLS connections for this hostname only (repeatable; one TCP port)',
    },
    fallback: {
      type: 'boolean',
      description: 'with --sni: also take the hostnames no route of the port has',
    },
    'proxy-protocol': {
      type: 'boolean',
      description: "with --sni: tell the device the visitor's address (PROXY protocol v2)",
    },
  },
  examples: [
    'start-tunnel port-forward add 203.0.113.5:443 10.59.7.2:443 --label "web server"',
    'start-tunnel port-forward add 27015 10.59.7.3:27015 --count 16 --protocol udp',
    'start-tunnel port-forward add 203.0.113.5:8080 10.59.7.2:80 --protocol tcp',
    'start-tunnel port-forward add 203.0.113.5:27015-27030 10.59.7.3:27015 --protocol udp',
    'start-tunnel port-forward add 80 10.59.7.2:8080 --protocol tcp   # on the WAN address',
    'start-tunnel port-forward add 443 10.59.7.2:443 --sni nextcloud.example.org',
    'start-tunnel port-forward add 443 10.59.7.10:443 --sni "*.start9.example.org" --fallback',
  ],
  async run(args, ctx) {
    const params: Params<'port-forward.add'> = {
      source: withCount(args.source, optional(args.count)),
      target: args.target,
    };
    const protocol = optional(args.protocol);
    if (protocol !== undefined) params.protocol = choiceOf('protocol', protocol, PROTOCOLS);
    const label = optional(args.label);
    if (label !== undefined) params.label = label;
    const sni = ctx.values('sni').map((h) => h.trim());
    if (sni.some((h) => h === '')) throw new UsageError('--sni needs a hostname');
    const routed = sni.length > 0 || args.fallback === true;
    if (!routed && args['proxy-protocol'] === true) {
      throw new UsageError('--proxy-protocol goes with --sni HOST or --fallback');
    }
    if (routed) {
      params.sni = sni;
      if (args.fallback === true) params.fallback = true;
      if (args['proxy-protocol'] === true) params.proxyProtocol = true;
    }
    const forward = await (await ctx.client()).call('port-forward.add', params);
    ctx.emit(forward, () => `Added port forward ${describeForward(forward)}`);
  },
});

const remove = leaf('remove', {
  description: 'Remove a port forward',
  aliases: ['rm'],
  details:
    'On an SNI port, --hostname removes that route only; without it every route of the port ' +
    'and its fallback go. With --format json the result is null.',
  args: { source: SOURCE_ARG, hostname: HOSTNAME_ARG },
  examples: [
    'start-tunnel port-forward remove 203.0.113.5:8080',
    'start-tunnel port-forward remove 203.0.113.5:443 --hostname nextcloud.example.org',
  ],
  async run(args, ctx) {
    const hostname = hostnameOf(args.hostname);
    const result = await (await ctx.client()).call('port-forward.remove', {
      source: args.source,
      ...hostname,
    });
    const which = 'hostname' in hostname ? ` for ${clean(hostname.hostname)}` : '';
    ctx.emit(result, `Removed port forward ${clean(args.source)}${which}`);
  },
});

const setEnabled = leaf('set-enabled', {
  description: 'Turn a port forward on (--enabled) or off (no flag, or --no-enabled)',
  details:
    'A disabled forward is kept with its label and can be enabled again. As in StartTunnel, ' +
    'the forward is disabled unless --enabled is given. A route of an SNI port is named by ' +
    '--hostname.',
  args: {
    source: SOURCE_ARG,
    enabled: {
      type: 'boolean',
      description: 'enable the forward',
      negativeDescription: 'disable it (the same as leaving the flag out)',
    },
    hostname: HOSTNAME_ARG,
  },
  examples: [
    'start-tunnel port-forward set-enabled 203.0.113.5:8080 --no-enabled',
    'start-tunnel port-forward set-enabled 203.0.113.5:8080 --enabled',
  ],
  async run(args, ctx) {
    const enabled = args.enabled === true;
    const forward = await (await ctx.client()).call('port-forward.set-enabled', {
      source: args.source,
      enabled,
      ...hostnameOf(args.hostname),
    });
    ctx.emit(
      forward,
      () => `${forward.enabled ? 'Enabled' : 'Disabled'} port forward ${describeForward(forward)}`
    );
  },
});

const updateLabel = leaf('update-label', {
  description: 'Set or clear the label of a port forward',
  details: 'A route of an SNI port is named by --hostname.',
  args: {
    source: SOURCE_ARG,
    hostname: HOSTNAME_ARG,
    label: {
      type: 'positional',
      required: false,
      description: 'the new label (leave it out to clear the label)',
    },
  },
  examples: [
    'start-tunnel port-forward update-label 203.0.113.5:443 "web server"',
    'start-tunnel port-forward update-label 203.0.113.5:443   # clear',
  ],
  async run(args, ctx) {
    const label = optional(args.label) ?? null;
    const forward = await (await ctx.client()).call('port-forward.update-label', {
      source: args.source,
      label,
      ...hostnameOf(args.hostname),
    });
    ctx.emit(forward, () =>
      forward.label
        ? `Label of port forward ${forward.source} set to ${quoted(forward.label)}`
        : `Label of port forward ${forward.source} cleared`
    );
  },
});

export const portForwardCommand = group('port-forward', {
  description: 'Port forwards: public ports of the server sent on to devices',
  children: [list, add, remove, setEnabled, updateLabel],
  examples: [
    'start-tunnel port-forward add 203.0.113.5:443 10.59.7.2:443 --label web',
    'start-tunnel port-forward list',
    'start-tunnel port-forward set-enabled 203.0.113.5:443 --no-enabled',
    'start-tunnel port-forward remove 203.0.113.5:443',
  ],
});
