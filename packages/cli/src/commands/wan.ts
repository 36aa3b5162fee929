// SPDX-License-Identifier: MIT
/**
 * `start-tunnel wan show | set <IP> | auto`: the public IPv4 address the server puts in device
 * configs and uses for port forwards. Ours: StartTunnel only detects it, which fails on 1:1-NAT
 * clouds
 * (https://github.com/Start9Labs/start-os/blob/727e4d48ad682cb4bcfc5fd81a5b9e9a76ff980a/shared-libs/crates/start-core/src/tunnel/forward/igd.rs#L350-L373,
 * https://github.com/Start9Labs/start-os/issues/3565); here it can be set. Methods `wan.show`,
 * `wan.set {ip}`, `wan.auto`.
 * @module
 */

import type { WanInfo } from '@start-tunnel/protocol';
import { group, leaf } from '../command.ts';
import { fields } from '../format.ts';

function describeWan(wan: WanInfo): string {
  const source =
    wan.source === 'override'
      ? 'set with `start-tunnel wan set`'
      : wan.source === 'detected'
        ? 'detected'
        : 'none: set one with `start-tunnel wan set IP`';
  return fields([
    ['Address', `${wan.address ?? '-'} (${source})`],
    ['Override', wan.override ?? '-'],
    ['Detected', wan.detected ?? '-'],
    ['Interfaces', wan.interfaces.length ? wan.interfaces.join(', ') : '-'],
  ]);
}

const show = leaf('show', {
  description: 'Show the WAN address in use and where it comes from',
  details:
    'The address in use is the one set with `wan set`, else the one detected: the first IPv4 ' +
    'address on a non-tunnel interface outside the private, loopback, link-local and CGNAT ' +
    'ranges. With --format json: an object with address, source (override, detected or none), ' +
    'override, detected and interfaces.',
  args: {},
  examples: ['start-tunnel wan show', 'start-tunnel wan show --format json'],
  async run(_args, ctx) {
    const wan = await (await ctx.client()).call('wan.show', {});
    ctx.emit(wan, () => describeWan(wan));
  },
});

const set = leaf('set', {
  description: 'Use this public IPv4 address (for a server behind 1:1 NAT)',
  details:
    'On clouds that map a public address onto a private one (AWS, GCP, Oracle …) the server ' +
    'cannot see its public address: set it here. Configs shown afterwards and port forwards ' +
    'use it.',
  args: {
    ip: { type: 'positional', required: true, description: 'the public IPv4 address' },
  },
  examples: ['start-tunnel wan set 203.0.113.5'],
  async run(args, ctx) {
    const wan = await (await ctx.client()).call('wan.set', { ip: args.ip });
    ctx.emit(wan, `WAN address set to ${wan.address ?? args.ip}`);
  },
});

const auto = leaf('auto', {
  description: 'Forget the address set with `wan set` and use the detected one',
  args: {},
  examples: ['start-tunnel wan auto'],
  async run(_args, ctx) {
    const wan = await (await ctx.client()).call('wan.auto', {});
    ctx.emit(wan, () =>
      wan.address
        ? `WAN address detected: ${wan.address}`
        : 'No WAN address detected; set one with `start-tunnel wan set IP`'
    );
  },
});

export const wanCommand = group('wan', {
  description: 'The public address of the server, for configs and port forwards',
  children: [show, set, auto],
  examples: ['start-tunnel wan show', 'start-tunnel wan set 203.0.113.5', 'start-tunnel wan auto'],
});
