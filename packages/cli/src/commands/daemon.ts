// SPDX-License-Identifier: MIT
/**
 * `start-tunnel daemon`: the server in the foreground (systemd's `start-tunneld.service` runs
 * it), StartTunnel's `start-tunneld` (`starttunnel.md` §1) with our flags. The flags are checked
 * here so a typo fails before anything starts; then `runDaemon` of `@start-tunnel/tunnel` runs
 * until SIGTERM or SIGINT, with the HTTPS panel of `@start-tunnel/web` as its extension
 * (`web-extension.ts`).
 * @module
 */

import { isIP, isIPv4 } from 'node:net';
import { resolve } from 'node:path';
import {
  type DaemonOptions,
  DEFAULT_API_LISTEN,
  DEFAULT_INTERFACE,
  DEFAULT_LISTEN_PORT,
  parseListen,
  runDaemon,
} from '@start-tunnel/tunnel';
import { resolveDataDir } from '../client.ts';
import { type CliIo, leaf, optional, type RunDaemon } from '../command.ts';
import { UsageError } from '../errors.ts';
import { clean } from '../format.ts';
import { webExtension } from '../web-extension.ts';

/** Interface names as the daemon takes them: 1 to 15 letters, digits or `_.=+-`. */
function checkInterface(name: string): string {
  if (!/^[A-Za-z0-9_.=+-]{1,15}$/.test(name)) {
    throw new UsageError(
      `invalid --interface "${clean(name)}": expected 1 to 15 letters, digits or _.=+-`
    );
  }
  return name;
}

function checkPort(text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new UsageError(`invalid --listen-port "${clean(text)}": expected a port 1..65535`);
  }
  return port;
}

function checkWanIp(text: string): string {
  if (!isIPv4(text)) {
    throw new UsageError(`invalid --wan-ip "${clean(text)}": expected an IPv4 address`);
  }
  return text;
}

function checkApiListen(text: string): string {
  let host: string;
  try {
    host = parseListen(text).host;
  } catch {
    host = '';
  }
  if (isIP(host) === 0) {
    throw new UsageError(
      `invalid --api-listen "${clean(text)}": expected IP:PORT, e.g. ${DEFAULT_API_LISTEN}`
    );
  }
  return text;
}

/** The daemon entry: `runDaemon` of `@start-tunnel/tunnel` unless a test injects one. */
export function daemonEntry(io: CliIo): RunDaemon {
  return io.runDaemon ?? runDaemon;
}

export const daemonCommand = leaf('daemon', {
  description: 'Run the server in the foreground (systemd runs it as start-tunneld)',
  details:
    'Runs WireGuard on the TUN interface, the firewall rules of the port forwards, the local ' +
    'API the other commands use and the HTTPS panel (once `start-tunnel web init` has set it ' +
    'up), and rebuilds all of them from the saved state at start. Runs ' +
    'as root until SIGTERM or SIGINT. The data directory (--datadir, else ' +
    '$START_TUNNEL_DATADIR, else /var/lib/start-tunnel) holds the state and is locked: one ' +
    'daemon per directory.',
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
    'api-listen': {
      type: 'string',
      valueHint: 'IP:PORT',
      description: 'address of the local API',
      default: DEFAULT_API_LISTEN,
    },
  },
  examples: [
    'start-tunnel daemon',
    'start-tunnel daemon --wan-ip 203.0.113.5',
    'start-tunnel daemon --datadir /srv/st --interface wg-st2 --listen-port 51821 \\\n' +
      '    --api-listen 127.0.0.1:5961',
  ],
  async run(args, ctx) {
    const options: DaemonOptions = {
      dataDir: resolve(resolveDataDir(ctx.options.datadir, ctx.io.env)),
      interface: checkInterface(optional(args.interface) ?? DEFAULT_INTERFACE),
      listenPort: checkPort(optional(args['listen-port']) ?? String(DEFAULT_LISTEN_PORT)),
      apiListen: checkApiListen(optional(args['api-listen']) ?? DEFAULT_API_LISTEN),
      log: (line) => ctx.io.stderr(line.endsWith('\n') ? line : `${line}\n`),
    };
    const wanIp = optional(args['wan-ip']);
    if (wanIp !== undefined) options.wanIp = checkWanIp(wanIp);
    await daemonEntry(ctx.io)(options, [webExtension()]);
  },
});
