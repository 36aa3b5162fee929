// SPDX-License-Identifier: MIT
/**
 * `start-tunnel daemon`: the server in the foreground (systemd's `start-tunneld.service` runs it),
 * StartTunnel's `start-tunneld`
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/bins/tunnel.rs, its flags
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/context.rs#L43-L54)
 * with our flags. The command turns its words into `ServerOptions` and hands them to
 * `@start-tunnel/server`, loaded here and nowhere else (`import()`), so no other command pays for
 * the server's modules. The flags are checked in one place, `checkServerOptions`, before anything
 * starts; a refusal is a usage error (exit 2).
 * @module
 */

import { resolve } from 'node:path';
import { API_SOCKET, DEFAULT_INTERFACE, DEFAULT_LISTEN_PORT } from '@start-tunnel/protocol';
import type { ServerOptions } from '@start-tunnel/server';
import { resolveDataDir } from '../client.ts';
import { type CliIo, leaf, optional } from '../command.ts';
import { UsageError } from '../errors.ts';
import { clean } from '../format.ts';

/** The server package: the test's stand-in, else `@start-tunnel/server`, loaded now. */
export async function loadServer(io: CliIo): Promise<NonNullable<CliIo['server']>> {
  if (io.server) return io.server;
  const { runServer, checkServerOptions } = await import('@start-tunnel/server');
  return { runServer, checkServerOptions };
}

/** `--listen-port` as a number; the range is the server's to check. */
function portNumber(text: string): number {
  if (!/^\d{1,5}$/.test(text)) {
    throw new UsageError(`invalid --listen-port "${clean(text)}": expected a number`);
  }
  return Number(text);
}

export const daemonCommand = leaf('daemon', {
  description: 'Run the server in the foreground (systemd runs it as start-tunneld)',
  details:
    'Runs WireGuard on the TUN interface, the firewall rules of the port forwards, the local ' +
    'API the other commands use and the HTTPS panel (once `start-tunnel web init` has set it ' +
    'up), and rebuilds all of them from the saved state at start. Runs as root until SIGTERM ' +
    'or SIGINT. The data directory (--datadir, else $START_TUNNEL_DATADIR, else ' +
    '/var/lib/start-tunnel) holds the state and is locked: one daemon per directory. The ' +
    `local API is the Unix socket ${API_SOCKET} in it (only root can reach it); there is no ` +
    'TCP port for it.',
  localOnly: true,
  usageGlobals: ['--datadir DIR'],
  args: {
    interface: {
      type: 'string',
      valueHint: 'NAME',
      description: 'the WireGuard interface',
      default: DEFAULT_INTERFACE,
    },
    'listen-port': {
      type: 'string',
      valueHint: 'N',
      description: 'the WireGuard UDP port',
      default: String(DEFAULT_LISTEN_PORT),
    },
    'wan-ip': {
      type: 'string',
      valueHint: 'IP',
      description:
        'public IPv4 address for configs and forwards (default: as saved, else detected)',
    },
  },
  examples: [
    'start-tunnel daemon',
    'start-tunnel daemon --wan-ip 203.0.113.5',
    'start-tunnel daemon --datadir /srv/st --interface wg-st2 --listen-port 51821',
  ],
  async run(args, ctx) {
    const options: ServerOptions = {
      dataDir: resolve(resolveDataDir(ctx.options.datadir, ctx.io.env)),
      interface: optional(args.interface) ?? DEFAULT_INTERFACE,
      listenPort: portNumber(optional(args['listen-port']) ?? String(DEFAULT_LISTEN_PORT)),
      log: (line) => ctx.io.stderr(line.endsWith('\n') ? line : `${line}\n`),
    };
    const wanIp = optional(args['wan-ip']);
    if (wanIp !== undefined) options.wanIp = wanIp;
    const server = await loadServer(ctx.io);
    try {
      server.checkServerOptions(options);
    } catch (err) {
      throw new UsageError(clean((err as Error).message));
    }
    await server.runServer(options);
  },
});
