// SPDX-License-Identifier: MIT
/**
 * `start-tunnel status`: one look at the running daemon (interface, port, public key, WAN address,
 * counts, and whether the last firewall apply held). Method `status`. Ours: the original has no
 * such command (its command tree:
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/api.rs#L19-L104).
 * @module
 */

import { leaf } from '../command.ts';
import { fields, formatUptime } from '../format.ts';

export const statusCommand = leaf('status', {
  description: 'Show the state of the daemon',
  details:
    'With --format json: an object with version, interface, listenPort, publicKey, wan, ' +
    'subnets, devices, online, forwards, startedAt and nat {ok, error, drift}.',
  args: {},
  examples: ['start-tunnel status', 'start-tunnel status --format json'],
  async run(_args, ctx) {
    const s = await (await ctx.client()).call('status', {});
    ctx.emit(s, () => {
      const wan = s.wan.address
        ? `${s.wan.address} (${s.wan.source})`
        : 'none (see start-tunnel wan)';
      const nat = s.nat.ok
        ? s.nat.drift.length
          ? `applied, drift: ${s.nat.drift.join('; ')}`
          : 'applied'
        : `FAILED: ${s.nat.error ?? 'unknown error'}`;
      return fields([
        ['Version', s.version],
        ['Interface', `${s.interface}, UDP ${s.listenPort}`],
        ['Public key', s.publicKey],
        ['WAN address', wan],
        ['Subnets', String(s.subnets)],
        ['Devices', `${s.devices} (${s.online} online)`],
        ['Port forwards', String(s.forwards)],
        ['Firewall', nat],
        ['Up', `${formatUptime(s.startedAt, ctx.now())} (since ${s.startedAt})`],
      ]);
    });
  },
});
