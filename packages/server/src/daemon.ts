// SPDX-License-Identifier: MIT
/**
 * The process, assembled: `start-tunnel daemon` (systemd runs it in the foreground).
 *   1. Take the data directory's lock and load the state (a damaged file stops here).
 *   2. Start WireGuard on the TUN interface in its own thread and rebuild everything from the
 *      state (a crash, even SIGKILL, needs nothing but a restart).
 *   3. Build one dispatcher (the tunnel's methods, `auth.*` and `web.*`) and one Hono app.
 *   4. Serve the app on the local Unix socket (root) and, as the panel settings say, on HTTPS;
 *      answer plain HTTP on port 80 of each public IPv4 with a redirect to HTTPS, following
 *      the state and the host's addresses.
 * On SIGTERM/SIGINT it undoes these in reverse order.
 * @module
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  API_SOCKET,
  DEFAULT_DATA_DIR,
  DEFAULT_INTERFACE,
  DEFAULT_LISTEN_PORT,
  isInterfaceName,
  RpcDispatcher,
} from '@start-tunnel/protocol';
import {
  type AddressSource,
  type Dataplane,
  initialState,
  type ModelEnv,
  parseIPv4,
  redirectListeners,
  registerDbMethods,
  registerGatewayMethods,
  registerTunnelMethods,
  Store,
  setWanOverride,
  systemAddresses,
  systemEnv,
  Tunnel,
} from '@start-tunnel/tunnel';
import { createWebServer, type WebCoreOptions, type WebServer } from '@start-tunnel/web';
import { createLogger, type LogLevel } from '@start-tunnel/wg-core';
import { LinuxDataplane } from './dataplane-linux.ts';
import { GatewayServices } from './gateway.ts';
import { Leases } from './leases.ts';
import { LocalSocket } from './local.ts';
import { HTTP_REDIRECT_PORT, HttpRedirect } from './redirect.ts';
import { reservedPorts, tunnelWebStore, webDataOf } from './web-state.ts';

export interface ServerOptions {
  /** Data directory (default `/var/lib/start-tunnel`). */
  dataDir?: string;
  /** TUN interface name (default `wg-start-tunnel`). */
  interface?: string;
  /** WireGuard UDP port (default 51820). */
  listenPort?: number;
  /** WAN IP override given on the command line (stored, so it survives restarts). */
  wanIp?: string;
  /** Log sink (default stderr). */
  log?: (line: string) => void;
  /** wg-core log level (default: LOG_LEVEL or error). */
  logLevel?: LogLevel;
  /** Test seams: the data plane, the model's randomness/clock, the host's addresses, the web. */
  dataplane?: Dataplane;
  env?: ModelEnv;
  addresses?: AddressSource;
  web?: Pick<WebCoreOptions, 'argon2' | 'now' | 'interfaces' | 'gate' | 'startedAt'>;
  /** Check every result against the contract (tests). */
  checkResults?: boolean;
  /** Port of the HTTP→HTTPS redirect (default 80); null: no redirect listeners (tests). */
  httpRedirectPort?: number | null;
  /**
   * Ports of the gateway services (DNS 53, PCP 5351, SSDP 1900, UPnP 49001); null: none of
   * them (tests whose gateway addresses are not the host's).
   */
  gatewayPorts?: { dns?: number; pcp?: number; ssdp?: number; http?: number } | null;
}

export interface RunningServer {
  tunnel: Tunnel;
  dispatcher: RpcDispatcher;
  web: WebServer;
  /** Path of the local API socket. */
  socket: string;
  /** Stops everything; resolves when the lock is released. */
  stop(): Promise<void>;
}

/** The version in the server package's package.json. */
export function serverVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    return String(pkg.version);
  } catch {
    return 'unknown';
  }
}

/** Checks options; throws an Error naming the flag. The one place daemon flags are checked. */
export function checkServerOptions(o: ServerOptions): void {
  if (o.interface !== undefined && !isInterfaceName(o.interface)) {
    throw new Error(`Invalid --interface "${o.interface}": 1 to 15 letters, digits or _=+.-`);
  }
  const port = o.listenPort;
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw new Error(`Invalid --listen-port "${port}": expected 1 to 65535`);
  }
  if (o.wanIp !== undefined && parseIPv4(o.wanIp) === null) {
    throw new Error(`Invalid --wan-ip "${o.wanIp}": expected an IPv4 address`);
  }
}

const stderrLog = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Starts the server; resolves once the local API answers. */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  checkServerOptions(options);
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  const iface = options.interface ?? DEFAULT_INTERFACE;
  const listenPort = options.listenPort ?? DEFAULT_LISTEN_PORT;
  const log = options.log ?? stderrLog;
  const env = options.env ?? systemEnv;
  const level: LogLevel =
    options.logLevel ?? (process.env.LOG_LEVEL === 'verbose' ? 'verbose' : 'error');

  // 1. lock and state
  const store = await Store.open(dataDir, () => initialState(env));
  let tunnel: Tunnel | null = null;
  let web: WebServer | null = null;
  let local: LocalSocket | null = null;
  const redirectPort =
    options.httpRedirectPort === undefined ? HTTP_REDIRECT_PORT : options.httpRedirectPort;
  const redirect = redirectPort === null ? null : new HttpRedirect({ port: redirectPort, log });
  // the redirect listens where the state and the host's public addresses say, after each change
  let leases: Leases | null = null;
  let gateway: GatewayServices | null = null;
  const followRedirects = () => {
    if (redirect && tunnel) {
      void redirect.reconcile(redirectListeners(tunnel.state, tunnel.publicIps()));
    }
  };
  // every listener of the process follows each applied state
  const follow = () => {
    followRedirects();
    if (gateway && tunnel) gateway.follow(tunnel.state);
  };
  try {
    webDataOf(store.state.web);
    if (options.wanIp !== undefined && store.state.wan.override !== options.wanIp) {
      await store.commit(setWanOverride(store.state, options.wanIp));
    }

    // 2. the data plane, rebuilt from the state
    const dataplane =
      options.dataplane ??
      new LinuxDataplane({
        interface: iface,
        listenPort,
        logger: createLogger(level, `${iface}: `),
      });
    tunnel = new Tunnel({
      store,
      dataplane,
      env,
      addresses: options.addresses ?? systemAddresses,
      interface: iface,
      listenPort,
      log,
      reserved: reservedPorts,
      onApplied: follow,
      leases: { expiresAt: (key) => leases?.expiresAt(key) ?? null },
    });
    await tunnel.start();
    leases = new Leases({ tunnel, log });
    if (options.gatewayPorts !== null) {
      gateway = new GatewayServices({
        tunnel,
        log,
        leases,
        ...(options.gatewayPorts ? { ports: options.gatewayPorts } : {}),
      });
    }
    follow();

    // 3. one dispatcher, one app
    const dispatcher = new RpcDispatcher({ checkResults: options.checkResults ?? false });
    registerTunnelMethods(dispatcher, tunnel, serverVersion());
    registerGatewayMethods(dispatcher, tunnel);
    registerDbMethods(dispatcher, tunnel);
    web = createWebServer({
      ...options.web,
      dispatcher,
      store: tunnelWebStore(tunnel),
      log,
      tunnelInterface: iface,
    });

    // 4. the listeners
    local = await LocalSocket.listen(join(dataDir, API_SOCKET), web.app);
    try {
      await web.reload();
    } catch (err) {
      // The server runs on without the panel (its address may be gone after a reboot); the
      // next `web set-listen` or `web enable` tries again.
      const listen = web.core.store.read().webserver.listen ?? '?';
      log(`web: the HTTPS panel cannot listen on ${listen}: ${(err as Error).message}`);
    }

    const wanTimer = setInterval(() => {
      void t.refreshWan();
      follow(); // an address added or removed on the host, a resolver changed
    }, 30_000);
    wanTimer.unref();
    const t = tunnel;
    const w = web;
    const l = local;
    let stopping: Promise<void> | null = null;
    const stop = () => {
      stopping ??= (async () => {
        clearInterval(wanTimer);
        leases?.close();
        await gateway?.close().catch(() => {});
        await redirect?.close().catch(() => {});
        await l.close().catch(() => {});
        await w.close().catch(() => {});
        await t.stop();
        await store.close();
      })();
      return stopping;
    };
    log(
      `start-tunnel ${serverVersion()}: ${iface} on UDP ${listenPort}, API on ${local.path}, ` +
        `${Object.keys(store.state.subnets).length} subnet(s)`
    );
    return { tunnel, dispatcher, web, socket: local.path, stop };
  } catch (err) {
    leases?.close();
    await gateway?.close().catch(() => {});
    await redirect?.close().catch(() => {});
    await local?.close().catch(() => {});
    await web?.close().catch(() => {});
    await tunnel?.stop().catch(() => {});
    await store.close().catch(() => {});
    throw err;
  }
}

/** Runs the server until SIGTERM or SIGINT. */
export async function runServer(options: ServerOptions = {}): Promise<void> {
  const server = await startServer(options);
  const log = options.log ?? stderrLog;
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string) => {
      log(`${sig}: stopping`);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      server.stop().then(resolve, resolve);
    };
    const onTerm = () => onSignal('SIGTERM');
    const onInt = () => onSignal('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}
