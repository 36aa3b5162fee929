// SPDX-License-Identifier: MIT
/**
 * `start-tunnel http-redirect list | set-enabled <IP>`: StartTunnel 1.5's HTTP→HTTPS redirect
 * on port 80 of each public IPv4 address of the server
 * (https://github.com/Start9Labs/start-os/tree/master/core/startos/src/tunnel), on by default;
 * a port forward of TCP 80 on an address needs it off there. Methods `http-redirect.list`,
 * `http-redirect.set-enabled {ip, enabled}`. `set-enabled` has the meaning of StartTunnel's
 * flags: `--enabled` enables, no flag (or `--no-enabled`) disables.
 * @module
 */

import type { RedirectInfo } from '@start-tunnel/protocol';
import { group, leaf } from '../command.ts';
import { table } from '../format.ts';

/** What the redirect on one address does now. */
function state(r: RedirectInfo): string {
  if (!r.enabled) return 'off';
  return r.forwarded ? 'on, yields to a port forward of port 80' : 'on';
}

const list = leaf('list', {
  description: 'List the public addresses with the state of their redirect',
  aliases: ['ls'],
  details:
    'One row per public IPv4 address of the server. A redirect that is on answers plain HTTP ' +
    'on port 80 with a redirect to HTTPS on the same host, unless a port forward covers port ' +
    '80 there. With --format json: an array of objects with ip, enabled and forwarded.',
  args: {},
  examples: ['start-tunnel http-redirect list', 'start-tunnel http-redirect list --format json'],
  async run(_args, ctx) {
    const redirects = await (await ctx.client()).call('http-redirect.list', {});
    ctx.emit(redirects, () =>
      redirects.length === 0
        ? 'No public IPv4 address on this server (start-tunnel wan show)'
        : table(
            ['IP', 'REDIRECT'],
            redirects.map((r) => [r.ip, state(r)])
          )
    );
  },
});

const setEnabled = leaf('set-enabled', {
  description: 'Turn the redirect on an address on (--enabled) or off (no flag, or --no-enabled)',
  details:
    'Turn it off to forward port 80 of that address to a device (start-tunnel port-forward ' +
    'add); it cannot be turned on while such a forward exists. As in StartTunnel, the redirect ' +
    'is turned off unless --enabled is given. With --format json: the address, as in ' +
    'http-redirect list.',
  args: {
    ip: {
      type: 'positional',
      required: true,
      description: 'a public IPv4 address of the server (see http-redirect list)',
    },
    enabled: {
      type: 'boolean',
      description: 'turn the redirect on',
      negativeDescription: 'turn it off (the same as leaving the flag out)',
    },
  },
  examples: [
    'start-tunnel http-redirect set-enabled 203.0.113.5 --no-enabled',
    'start-tunnel http-redirect set-enabled 203.0.113.5 --enabled',
  ],
  async run(args, ctx) {
    const redirect = await (await ctx.client()).call('http-redirect.set-enabled', {
      ip: args.ip,
      enabled: args.enabled === true,
    });
    ctx.emit(redirect, `HTTP redirect on ${redirect.ip}: ${state(redirect)}`);
  },
});

export const httpRedirectCommand = group('http-redirect', {
  description: 'The HTTP→HTTPS redirect on port 80 of each public address',
  children: [list, setEnabled],
  examples: [
    'start-tunnel http-redirect list',
    'start-tunnel http-redirect set-enabled 203.0.113.5 --no-enabled',
  ],
});
