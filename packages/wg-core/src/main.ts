// SPDX-License-Identifier: MIT
/**
 * `wireguard-ts`: a drop-in for `wireguard-go` (wireguard-go `main.go`, the cross-platform
 * userspace contract of wireguard.com/xplatform). `wireguard-ts [-f|--foreground] INTERFACE`
 * creates the TUN interface and the UAPI socket `/var/run/wireguard/INTERFACE.sock`, then serves
 * `wg`/`wg-quick`. Without `-f` it detaches, and the parent returns only once the socket is ready
 * (so `wg setconf` right after works). It exits cleanly, removing its socket, on SIGTERM/SIGINT,
 * when the socket file is deleted, or when the interface is destroyed (`wg-quick down`, or the
 * namespace it was moved to is deleted). Moving the interface to another network namespace or
 * renaming it is not a removal: the process and its UDP sockets stay in the namespace they were
 * born in and follow the interface (https://www.wireguard.com/netns/).
 * Environment, as wireguard-go's `main.go` on Linux: LOG_LEVEL=verbose|error|silent (default
 * error), WG_PROCESS_FOREGROUND=1, WG_TUN_FD=N (use this open TUN descriptor instead of creating
 * the interface), WG_UAPI_FD=N (serve this listening UAPI socket instead of creating one); and
 * WIREGUARD_TS_WORKERS=N (crypto worker threads, 0 = inline; default from the core count) and
 * WIREGUARD_TS_OFFLOAD=0 (no kernel offloads: one packet per TUN read/write and UDP datagram;
 * `tun` or `udp`: only that side's).
 * The package README has the whole contract, key by key.
 * @module
 */

import { spawn } from 'node:child_process';
import { closeSync, existsSync, readFileSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UdpBind } from './bind-udp.ts';
import { defaultCryptoWorkers, MAX_CRYPTO_WORKERS } from './crypto-pool.ts';
import { Device } from './device.ts';
import { createLogger, type Logger, type LogLevel } from './logger.ts';
import { LinuxTun } from './tun-linux.ts';
import { UapiServer } from './uapi.ts';

const USAGE = `Usage: wireguard-ts [-f/--foreground] INTERFACE-NAME

A userspace WireGuard, driven by wg(8) and wg-quick(8) like wireguard-go.

  -f, --foreground   stay in the foreground (default: detach once the interface is ready)
  --version          print the version and exit
  -h, --help         print this help

Environment:
  LOG_LEVEL=verbose|error|silent   logging (default: error)
  WG_PROCESS_FOREGROUND=1          same as -f
  WG_TUN_FD=N                      use this open TUN descriptor instead of creating INTERFACE
  WG_UAPI_FD=N                     serve this listening UAPI socket instead of creating one
  WIREGUARD_TS_WORKERS=N           worker threads for encryption and decryption, 0 = on the
                                   main thread (default: cores - 1 above 2 cores, at most 4;
                                   else 0)
  WIREGUARD_TS_OFFLOAD=0           no kernel offloads (TUN TSO/GRO, UDP GSO/GRO), the
                                   portable path; tun or udp: only that side's (default: all,
                                   each where the kernel has it)
`;

/** The fd on which a detached child reports readiness to its parent. */
const READY_FD = 3;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    return String(pkg.version);
  } catch {
    return 'unknown';
  }
}

function logLevel(): LogLevel {
  const v = process.env.LOG_LEVEL;
  if (v === 'verbose' || v === 'debug') return 'verbose';
  if (v === 'silent') return 'silent';
  return 'error';
}

/** WIREGUARD_TS_OFFLOAD: 0 none, `tun` or `udp` only that side's, anything else both. */
function offload(side: 'tun' | 'udp'): boolean {
  const v = process.env.WIREGUARD_TS_OFFLOAD;
  return v !== '0' && (v !== 'tun' || side === 'tun') && (v !== 'udp' || side === 'udp');
}

/** WIREGUARD_TS_WORKERS, or the default from the core count; null (reported) when invalid. */
function workerCount(): number | null {
  const text = process.env.WIREGUARD_TS_WORKERS;
  // inline on 2 cores or fewer, else cores - 1 (at most 4): measured, see defaultCryptoWorkers
  if (text === undefined || text === '') return defaultCryptoWorkers();
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n > MAX_CRYPTO_WORKERS) {
    process.stderr.write(
      `wireguard-ts: invalid WIREGUARD_TS_WORKERS "${text}": expected an integer ` +
        `0..${MAX_CRYPTO_WORKERS}\n`
    );
    return null;
  }
  return n;
}

interface Args {
  foreground: boolean;
  ifname: string;
}

function parseArgs(argv: string[]): Args | null {
  let foreground = process.env.WG_PROCESS_FOREGROUND === '1';
  const rest: string[] = [];
  for (const a of argv) {
    if (a === '-f' || a === '--foreground') foreground = true;
    else if (a === '--version') {
      process.stdout.write(`wireguard-ts v${version()}\n`);
      process.exit(0);
    } else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (a.startsWith('-')) {
      process.stderr.write(`wireguard-ts: unknown option "${a}"\n${USAGE}`);
      return null;
    } else rest.push(a);
  }
  if (rest.length !== 1) {
    process.stderr.write(USAGE);
    return null;
  }
  return { foreground, ifname: rest[0]! };
}

/** A descriptor number from the environment: undefined when unset, null (reported) if invalid. */
function envFd(name: string): number | null | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  if (!/^[0-9]{1,9}$/.test(text)) {
    process.stderr.write(`wireguard-ts: invalid ${name} "${text}": expected a descriptor number\n`);
    return null;
  }
  return Number(text);
}

/** Header and tag around a tunnelled packet: a datagram is at most MTU + 32 bytes. */
const TRANSPORT_OVERHEAD = 32;

/** Runs the interface in this process until it is told to stop. */
async function runForeground(
  ifname: string,
  logger: Logger,
  workers: number,
  ready: (error?: string) => void
) {
  const tunFd = envFd('WG_TUN_FD');
  const uapiFd = envFd('WG_UAPI_FD');
  if (tunFd === null || uapiFd === null) {
    ready('Invalid WG_TUN_FD or WG_UAPI_FD');
    return;
  }
  let tun: LinuxTun;
  try {
    tun =
      tunFd === undefined
        ? await LinuxTun.create(ifname, { offload: offload('tun') })
        : await LinuxTun.adopt(tunFd);
  } catch (err) {
    ready(`Failed to create TUN device "${ifname}": ${(err as Error).message}`);
    return;
  }
  // as wireguard-go: the UAPI socket is named after the interface as the kernel named it
  const sockName = tun.name;
  const bind = new UdpBind({ offload: offload('udp') });
  const fitDatagrams = (mtu: number) =>
    bind.setMaxDatagramSize(Math.min(65536, mtu + TRANSPORT_OVERHEAD));
  fitDatagrams(tun.mtu());
  // test-only: rekey sooner, so interop labs can force rekeys with traffic flowing
  const rekeySeconds = Number(process.env.WIREGUARD_TS_TEST_REKEY_AFTER_SECONDS ?? 0);
  let device: Device;
  try {
    device =
      rekeySeconds > 0
        ? new Device({ tun, bind, logger, workers, rekeyAfterTimeMs: rekeySeconds * 1000 })
        : new Device({ tun, bind, logger, workers });
  } catch (err) {
    await tun.close();
    ready(`Invalid WIREGUARD_TS_TEST_REKEY_AFTER_SECONDS: ${(err as Error).message}`);
    return;
  }
  if (rekeySeconds > 0) logger.error(`TEST MODE: rekeying every ${rekeySeconds} s`);
  logger.verbose(
    device.pool ? `Crypto on ${device.pool.size} worker threads` : 'Crypto on the main thread'
  );
  let uapi: UapiServer;
  try {
    uapi = await UapiServer.listen(device, sockName, {
      log: (m) => logger.error(m),
      ...(uapiFd === undefined ? {} : { fd: uapiFd }),
    });
  } catch (err) {
    await tun.close();
    ready(`Failed to open UAPI socket: ${(err as Error).message}`);
    return;
  }

  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    logger.verbose(`Shutting down: ${why}`);
    clearInterval(watch);
    await uapi.close();
    await device.close();
    process.exit(0);
  };
  // like wireguard-go: sockets open when the link comes up, close when it goes down; they are
  // always opened here, in the namespace this process was born in, wherever the interface is
  tun.setEventHandler((event) => {
    if (event.type === 'up') {
      device.up().catch((err) => logger.error(`Cannot bring the device up: ${String(err)}`));
    } else if (event.type === 'down') {
      if (tun.removed) {
        void stop('the interface was destroyed');
        return;
      }
      device.down().catch(() => {});
    } else if (event.type === 'mtu') {
      fitDatagrams(event.mtu);
    }
  });
  if (tun.isUp()) await device.up();
  // the socket file deleted means "go away" (boringtun polls it the same way)
  const watch = setInterval(() => {
    if (!existsSync(uapi.path)) void stop('the UAPI socket was deleted');
  }, 1000);
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  logger.verbose(`Interface ${tun.name} ready, UAPI at ${uapi.path}`);
  ready();
}

/** Starts a detached copy of this command in the foreground and waits for it to be ready. */
function detach(ifname: string): void {
  // the bin shim next to the package, whether this runs from dist/ or src/
  const script = fileURLToPath(new URL('../bin/wireguard-ts.js', import.meta.url));
  // as wireguard-go: the daemon keeps stdout/stderr only when LOG_LEVEL asks for output
  const level = process.env.LOG_LEVEL;
  const out = level !== undefined && level !== '' && level !== 'silent' ? 'inherit' : 'ignore';
  // descriptors handed to us by a supervisor go on to the daemon, renumbered after the pipe
  const stdio: ('ignore' | 'inherit' | 'pipe' | number)[] = ['ignore', out, out, 'pipe'];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WG_PROCESS_FOREGROUND: '1',
    WG_TS_READY_FD: String(READY_FD),
  };
  for (const name of ['WG_TUN_FD', 'WG_UAPI_FD'] as const) {
    const fd = envFd(name);
    if (fd === null) process.exit(1);
    if (fd === undefined) continue;
    env[name] = String(stdio.length);
    stdio.push(fd);
  }
  const child = spawn(process.execPath, [...process.execArgv, script, '-f', ifname], {
    detached: true,
    stdio,
    env,
  });
  let said = '';
  const pipe = child.stdio[READY_FD] as NodeJS.ReadableStream;
  pipe.setEncoding('utf8');
  pipe.on('data', (d: string) => {
    said += d;
  });
  const timeout = setTimeout(() => {
    process.stderr.write('wireguard-ts: the interface did not become ready in 30 s\n');
    process.exit(1);
  }, 30_000);
  pipe.on('end', () => {
    clearTimeout(timeout);
    if (said.startsWith('ready')) {
      child.unref();
      process.exit(0);
    }
    process.stderr.write(
      `wireguard-ts: ${said.trim() || 'the daemon exited before it was ready'}\n`
    );
    process.exit(1);
  });
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (!args) {
    process.exitCode = 1;
    return;
  }
  const workers = workerCount();
  if (workers === null) {
    process.exitCode = 1;
    return;
  }
  if (!args.foreground) {
    detach(args.ifname);
    return;
  }
  const readyFd = process.env.WG_TS_READY_FD ? Number(process.env.WG_TS_READY_FD) : null;
  const logger = createLogger(logLevel(), `(${args.ifname}) `);
  await runForeground(args.ifname, logger, workers, (error) => {
    if (error) logger.error(error);
    if (readyFd !== null) {
      try {
        writeSync(readyFd, error ? `${error}\n` : 'ready\n');
      } catch {}
      try {
        // closing the pipe tells the parent we are done talking
        closeSync(readyFd);
      } catch {}
    }
    if (error) process.exit(1);
  });
}
