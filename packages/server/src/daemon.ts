// SPDX-License-Identifier: MIT
/**
 * The daemon, `start-tunnel daemon` (systemd runs it in the foreground): opens the state store
 * (taking the data directory's lock), brings up WireGuard in this process on the TUN interface
 * with every subnet's `.1` and every device as a peer, applies nat, then serves the local API.
 * On SIGTERM/SIGINT it closes the API, the interface and the store. On start it always
 * rebuilds everything from the stored state, so a crash (even SIGKILL) needs nothing but a
 * restart. A `DaemonExtension` (the HTTPS panel) runs in the same process on the same RPC table.
 * @module
 */

import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, type LogLevel } from '@start-tunnel/wg-core';
import { LocalApi, newLocalSecret, parseListen } from './api.ts';
import type { Dataplane } from './dataplane.ts';
import { LinuxDataplane } from './dataplane-linux.ts';
import { registerTunnelMethods } from './handlers.ts';
import { parseIPv4 } from './ipv4.ts';
import { initialState, type ModelEnv, setWanOverride, systemEnv } from './model.ts';
import { COOKIE_FILE, DAEMON_FILE, type DaemonInfo } from './protocol.ts';
import { RpcDispatcher } from './rpc.ts';
import type { State } from './schema.ts';
import { Store } from './store.ts';
import { Tunnel } from './tunnel.ts';
import { type AddressSource, systemAddresses } from './wan.ts';

export interface DaemonOptions {
  /** Data directory (default `/var/lib/start-tunnel`). */
  dataDir: string;
  /** TUN interface name (default `wg-start-tunnel`). */
  interface: string;
  /** WireGuard UDP port (default 51820). */
  listenPort: number;
  /** Local API `IP:PORT` (default `127.0.59.60:5960`). */
  apiListen: string;
  /** WAN IP override given on the command line (else the stored one, else detection). */
  wanIp?: string;
  /** Log sink (default stderr). */
  log?: (line: string) => void;
  /** wg-core log level (default: LOG_LEVEL or error). */
  logLevel?: LogLevel;
  /** Test seams: the data plane, the model's randomness/clock, the host's addresses. */
  dataplane?: Dataplane;
  env?: ModelEnv;
  addresses?: AddressSource;
}

/** What an extension (the web panel) gets to work with. */
export interface DaemonContext {
  tunnel: Tunnel;
  dispatcher: RpcDispatcher;
  dataDir: string;
  log: (line: string) => void;
  /** Reads and durably updates the opaque `web` section of the state. */
  webSection: {
    read(): Record<string, unknown> | null;
    update(fn: (current: Record<string, unknown> | null) => Record<string, unknown>): Promise<void>;
  };
}

export type DaemonExtension = (ctx: DaemonContext) => Promise<{ close(): Promise<void> }>;

export interface RunningDaemon {
  tunnel: Tunnel;
  dispatcher: RpcDispatcher;
  api: LocalApi;
  /** Stops everything; resolves when the lock is released. */
  stop(): Promise<void>;
}

/** The version in the tunnel package's package.json. */
export function tunnelVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    return String(pkg.version);
  } catch {
    return 'unknown';
  }
}

/** Checks daemon options; throws an Error naming the flag. */
export function checkDaemonOptions(o: DaemonOptions): void {
  if (!/^[A-Za-z0-9_.=+-]{1,15}$/.test(o.interface)) {
    throw new Error(`Invalid --interface "${o.interface}": 1 to 15 letters, digits or _.=+-`);
  }
  if (!Number.isInteger(o.listenPort) || o.listenPort < 1 || o.listenPort > 65535) {
    throw new Error(`Invalid --listen-port "${o.listenPort}": expected 1 to 65535`);
  }
  try {
    parseListen(o.apiListen);
  } catch {
    throw new Error(`Invalid --api-listen "${o.apiListen}": expected IP:PORT`);
  }
  if (o.wanIp !== undefined && parseIPv4(o.wanIp) === null) {
    throw new Error(`Invalid --wan-ip "${o.wanIp}": expected an IPv4 address`);
  }
}

const stderrLog = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Writes `name` in `dir` with mode 0600 atomically. */
function writePrivate(dir: string, name: string, text: string): void {
  const tmp = join(dir, `${name}.tmp`);
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, join(dir, name));
}

/** Starts the daemon; resolves once the API answers. */
export async function startDaemon(
  options: DaemonOptions,
  extensions: DaemonExtension[] = []
): Promise<RunningDaemon> {
  checkDaemonOptions(options);
  const log = options.log ?? stderrLog;
  const env = options.env ?? systemEnv;
  const level: LogLevel =
    options.logLevel ?? (process.env.LOG_LEVEL === 'verbose' ? 'verbose' : 'error');
  const store = await Store.open(options.dataDir, () => initialState(env));
  let tunnel: Tunnel | null = null;
  let api: LocalApi | null = null;
  const closers: { close(): Promise<void> }[] = [];
  try {
    // `--wan-ip` also sets the stored override so that it survives restarts without the flag
    if (options.wanIp !== undefined && store.state.wan.override !== options.wanIp) {
      await store.commit(setWanOverride(store.state, options.wanIp));
    }
    const dataplane =
      options.dataplane ??
      new LinuxDataplane({
        interface: options.interface,
        listenPort: options.listenPort,
        logger: createLogger(level, `${options.interface}: `),
      });
    tunnel = new Tunnel({
      store,
      dataplane,
      env,
      addresses: options.addresses ?? systemAddresses,
      interface: options.interface,
      listenPort: options.listenPort,
      log,
    });
    await tunnel.start();
    const dispatcher = new RpcDispatcher();
    registerTunnelMethods(dispatcher, tunnel, tunnelVersion());
    const secret = newLocalSecret();
    writePrivate(options.dataDir, COOKIE_FILE, `${secret}\n`);
    const t = tunnel;
    const ctx: DaemonContext = {
      tunnel: t,
      dispatcher,
      dataDir: options.dataDir,
      log,
      webSection: {
        read: () => t.state.web,
        update: (fn) =>
          t.change((s: State) => ({ state: { ...s, web: fn(s.web) }, result: undefined })),
      },
    };
    for (const ext of extensions) closers.push(await ext(ctx));
    api = await LocalApi.listen({ dispatcher, secret: () => secret, listen: options.apiListen });
    const info: DaemonInfo = {
      pid: process.pid,
      api: api.address,
      interface: options.interface,
      listenPort: options.listenPort,
      startedAt: tunnel.startedAt.toISOString(),
    };
    writePrivate(options.dataDir, DAEMON_FILE, `${JSON.stringify(info, null, 2)}\n`);
    const wanTimer = setInterval(() => void t.refreshWan(), 30_000);
    wanTimer.unref();
    const a = api;
    let stopping: Promise<void> | null = null;
    const stop = () => {
      stopping ??= (async () => {
        clearInterval(wanTimer);
        rmSync(join(options.dataDir, DAEMON_FILE), { force: true });
        await a.close();
        for (const c of closers.reverse()) await c.close().catch(() => {});
        await t.stop();
        await store.close();
      })();
      return stopping;
    };
    log(
      `start-tunnel ${tunnelVersion()}: ${options.interface} on UDP ${options.listenPort}, ` +
        `API on ${api.address}, ${Object.keys(store.state.subnets).length} subnet(s)`
    );
    return { tunnel, dispatcher, api, stop };
  } catch (err) {
    await api?.close().catch(() => {});
    for (const c of closers.reverse()) await c.close().catch(() => {});
    await tunnel?.stop().catch(() => {});
    await store.close().catch(() => {});
    throw err;
  }
}

/** Runs the daemon until SIGTERM or SIGINT. */
export async function runDaemon(
  options: DaemonOptions,
  extensions: DaemonExtension[] = []
): Promise<void> {
  const daemon = await startDaemon(options, extensions);
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string) => {
      (options.log ?? stderrLog)(`${sig}: stopping`);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      daemon.stop().then(resolve, resolve);
    };
    const onTerm = () => onSignal('SIGTERM');
    const onInt = () => onSignal('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}
