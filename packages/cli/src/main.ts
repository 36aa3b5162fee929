// SPDX-License-Identifier: MIT
/**
 * `start-tunnel`: the command line of the server, StartTunnel's `start-tunnel` CLI
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/api.rs#L19-L104) for
 * subnets, devices, port forwards, IPv6 pinholes, the HTTP redirect, DNS records, the WAN
 * address, the HTTPS panel and its auth, and the daemon itself; locally or remotely
 * (`remote.ts`). Only what a command needs is loaded: the daemon's server and remote mode's
 * signing come by `import()` in the command that uses them. Our own runner around citty's parser
 * instead of `runMain`, which prints usage with every error and calls `process.exit`: citty
 * reads the line (`args.ts`: the global options wherever they stand, the command path, the
 * leaf's arguments, all checked), the leaf runs, and any failure is one line on stderr with its
 * exit code (`errors.ts`). `run()` takes its I/O as arguments, so tests call it in-process.
 * @module
 */

import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseLine } from './args.ts';
import { connect, type RemoteConnector } from './client.ts';
import { type CliIo, createContext, group } from './command.ts';
import { authCommand } from './commands/auth.ts';
import { completionsCommand } from './commands/completions.ts';
import { daemonCommand } from './commands/daemon.ts';
import { dbCommand } from './commands/db.ts';
import { deviceCommand } from './commands/device.ts';
import { dnsCommand } from './commands/dns.ts';
import { httpRedirectCommand } from './commands/http-redirect.ts';
import { pinholeCommand } from './commands/pinhole.ts';
import { portForwardCommand } from './commands/port-forward.ts';
import { statusCommand } from './commands/status.ts';
import { subnetCommand } from './commands/subnet.ts';
import { wanCommand } from './commands/wan.ts';
import { webCommand } from './commands/web.ts';
import { CliError, oneLine } from './errors.ts';
import { PROGRAM, renderHelp } from './help.ts';
import { processTerminal } from './terminal.ts';

export type { CliIo } from './command.ts';

/** The package version (`package.json` sits one level above both `src/` and `dist/`). */
export const VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    return String(pkg.version);
  } catch {
    return 'unknown';
  }
})();

/** The command tree. */
export const ROOT = group(PROGRAM, {
  description:
    'start-tunnel: a self-hosted WireGuard virtual router. Isolated subnets, devices with ready ' +
    'configs, and port forwards from the public address of this server to any device.',
  details:
    'The commands talk to the daemon on this machine through its local API, the Unix socket ' +
    'api.sock in the data directory (--datadir, else $START_TUNNEL_DATADIR, else ' +
    '/var/lib/start-tunnel; run them as root), or with -t HOST:PORT --key FILE --root-ca FILE to a ' +
    "server's HTTPS panel, signed with an authorised key. Every command takes --format json " +
    'for scripts.',
  children: [
    subnetCommand,
    deviceCommand,
    portForwardCommand,
    pinholeCommand,
    httpRedirectCommand,
    dnsCommand,
    wanCommand,
    statusCommand,
    webCommand,
    authCommand,
    dbCommand,
    daemonCommand,
    completionsCommand(() => ROOT),
  ],
  examples: [
    'start-tunnel subnet add 10.59.7.0/24 Home',
    'start-tunnel device add 10.59.7.1/24 phone',
    'start-tunnel device show-config 10.59.7.1/24 10.59.7.2 --qr',
    'start-tunnel port-forward add 203.0.113.5:443 10.59.7.2:443 --label web',
    'start-tunnel status',
    'start-tunnel web init',
    'start-tunnel -t 203.0.113.5:8443 --key laptop.pem --root-ca root-ca.pem status',
  ],
});

/** Runs one command line; resolves with the exit status. Never throws. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const line = parseLine(argv, ROOT);
    if (line.kind === 'version') {
      io.stdout(`${PROGRAM} ${VERSION}\n`);
      return 0;
    }
    if (line.kind === 'help') {
      io.stdout(renderHelp(line.path, line.node, { version: VERSION }));
      return 0;
    }
    const { options } = line;
    const ctx = createContext(io, options, line.path, line.values, () =>
      connect({
        dataDir: options.datadir,
        env: io.env,
        tunnel: options.tunnel,
        key: options.key,
        rootCa: options.rootCa,
        remote: io.remote ?? loadRemote,
      })
    );
    await line.node.execute(line.args, ctx);
    return 0;
  } catch (err) {
    return report(err, io);
  }
}

/**
 * Remote mode's connector, loaded on first use: request signing needs `@start-tunnel/web`,
 * which a local command has no use for.
 */
const loadRemote: RemoteConnector = async (options) =>
  (await import('./remote.ts')).remoteConnector(options);

/** Writes the one-line report of an error; returns the exit status. */
function report(err: unknown, io: CliIo): number {
  if (err instanceof CliError) {
    io.stderr(`${PROGRAM}: ${oneLine(err.message)}\n`);
    return err.exitCode;
  }
  // citty's own argument errors (CLIError: an `enum` option's value outside its choices)
  if (err instanceof Error && err.name === 'CLIError') {
    io.stderr(`${PROGRAM}: ${oneLine(err.message)}\n`);
    return 2;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr(`${PROGRAM}: ${oneLine(message)}\n`);
  if (io.env['START_TUNNEL_DEBUG'] && err instanceof Error && err.stack)
    io.stderr(`${err.stack}\n`);
  return 1;
}

/** The process entry: runs `argv` with the process's streams and sets the exit code. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  // a closed pipe (`start-tunnel device list … | head`) is not an error
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  process.exitCode = await run(argv, {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    isTTY: process.stdout.isTTY === true,
    terminal: processTerminal(),
  });
}

function isEntry(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) await main();
