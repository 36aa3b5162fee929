// SPDX-License-Identifier: MIT
/**
 * The SNI demultiplexing proxy: one TCP port of a public IPv4 address shared by several devices,
 * told apart by the server_name of each connection's TLS ClientHello (RFC 8446 §4.1.2, RFC 6066
 * §3), as StartTunnel does it in its own process (https://github.com/Start9Labs/start-technologies).
 * TLS is never terminated: the ClientHello is read, the route picked, and the bytes go on
 * verbatim to the device, then both directions are copied.
 *
 * The device sees the visitor's real address in one of two ways. Transparently (the default):
 * the backend connection leaves from the visitor's own address and port (ip(7) IP_TRANSPARENT,
 * in wg-core's addon, with `mark`, if any, as SO_MARK), and the kernel hands the device's
 * replies back to that socket (https://docs.kernel.org/networking/tproxy.html: an nft
 * `socket transparent 1` rule in prerouting sets {@link SNI_DIVERT_MARK}, which a policy rule
 * routes to a table where every address is local). If that connect fails the visitor is closed: a plain connect would make WAN visitors
 * look local to the device. Or, per route, with `proxyProtocol`: an ordinary connection from this
 * host that starts with a PROXY protocol v2 header carrying the visitor's address
 * (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt).
 *
 * The ports face the internet, so every connection is bounded: a deadline and a size limit for
 * the ClientHello (one buffer of `maxHello` bytes, scanned once per record), one cap on open
 * connections across all ports, TCP keepalive, no callback that can throw, and log lines about
 * refusals at a bounded rate.
 * @module
 */

import { closeSync } from 'node:fs';
import { createConnection, createServer, type Server, Socket } from 'node:net';
import { parseIp } from '@start-tunnel/protocol';
import { connectTransparent } from '@start-tunnel/wg-core';
import { proxyV2Header, scanClientHello } from './sni-hello.ts';

export {
  type ClientHelloResult,
  parseClientHello,
  proxyV2Header,
} from './sni-hello.ts';

/** Where a hostname goes: a device's `IP:PORT`, with or without a PROXY v2 header. */
export interface SniRoute {
  /** `DEVICE_IP:PORT` (`[IPv6]:PORT` also read). */
  target: string;
  /** Send a PROXY protocol v2 header from this host instead of connecting transparently. */
  proxyProtocol: boolean;
}

/** One port of one address, and how its hostnames are routed. */
export interface SniListener {
  /** The IPv4 address the port answers on (held by this host). */
  address: string;
  port: number;
  /**
   * The route for a ClientHello's server_name (lower-cased; `null` when it had none), or `null`
   * to close the connection. Exact names, `*.parent` and a fallback are the caller's choice.
   */
  route(hostname: string | null): SniRoute | null;
}

export interface SniProxyOptions {
  /** One line per event worth an operator's attention; refusals at a bounded rate. */
  log: (line: string) => void;
  /** Time allowed for the whole ClientHello (default 5000). */
  helloTimeoutMs?: number;
  /** Largest ClientHello accepted, record headers included (default 16384). */
  maxHello?: number;
  /** Open connections allowed across all ports together (default 1024). */
  maxConnections?: number;
  /** How long a failed bind waits before the next try (default 5000). */
  retryMs?: number;
  /** Time allowed to connect to a device (default 5000). */
  connectTimeoutMs?: number;
  /** Connect from the visitor's address with IP_TRANSPARENT (default true; needs root). */
  transparent?: boolean;
  /**
   * SO_MARK of the transparent backend socket (default 0: none). Never the mark that the
   * prerouting rule sets for the replies: the policy rule would route the socket's own SYN to
   * the local table, and the connect would never leave the host.
   */
  mark?: number;
}

/** Defaults of {@link SniProxyOptions} (StartTunnel's: 16 KiB, 5 s, retries every 5 s). */
export const SNI_HELLO_TIMEOUT_MS = 5_000;
export const SNI_MAX_HELLO = 16_384;
export const SNI_MAX_CONNECTIONS = 1_024;
export const SNI_RETRY_MS = 5_000;
export const SNI_CONNECT_TIMEOUT_MS = 5_000;
/** The mark the kernel side puts on replies to transparent sockets (not for the sockets). */
export const SNI_DIVERT_MARK = 0x540001;
/** TCP keepalive idle time on both legs. */
const KEEPALIVE_MS = 60_000;
/** At most one log line per kind of refusal in this long; the rest are counted. */
const LOG_INTERVAL_MS = 10_000;

interface Listener {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  route: SniListener['route'];
  server: Server | null;
  retry: NodeJS.Timeout | null;
  failureLogged: boolean;
  readonly connections: Set<Connection>;
}

interface Connection {
  readonly client: Socket;
  backend: Socket | null;
  /** Refused, closed, or its listener removed: a late backend is closed at once. */
  done: boolean;
}

/**
 * The SNI listeners of the process.
 * @example
 * const sni = new SniProxy({ log: console.error });
 * await sni.reconcile([{ address: '203.0.113.1', port: 443, route: (name) =>
 *   name === 'a.example' ? { target: '10.59.0.2:443', proxyProtocol: false } : null }]);
 * await sni.close();
 */
export class SniProxy {
  readonly #log: (line: string) => void;
  readonly #helloTimeoutMs: number;
  readonly #maxHello: number;
  readonly #maxConnections: number;
  readonly #retryMs: number;
  readonly #connectTimeoutMs: number;
  readonly #transparent: boolean;
  readonly #mark: number;
  readonly #listeners = new Map<string, Listener>();
  readonly #limited = new Map<string, { last: number; suppressed: number }>();
  #open = 0;
  #closed = false;
  #queue: Promise<void> = Promise.resolve();

  constructor(opts: SniProxyOptions) {
    // a throwing logger must not break the queue of steps or reach a socket callback
    this.#log = (line) => {
      try {
        opts.log(line);
      } catch {}
    };
    this.#helloTimeoutMs = option('helloTimeoutMs', opts.helloTimeoutMs, SNI_HELLO_TIMEOUT_MS);
    // a ClientHello needs at least one record header and the handshake header
    this.#maxHello = option('maxHello', opts.maxHello, SNI_MAX_HELLO, 9);
    this.#maxConnections = option('maxConnections', opts.maxConnections, SNI_MAX_CONNECTIONS);
    this.#retryMs = option('retryMs', opts.retryMs, SNI_RETRY_MS);
    // the addon's bound on a connect that holds one of libuv's pool threads
    const most = 120_000;
    this.#connectTimeoutMs = option(
      'connectTimeoutMs',
      opts.connectTimeoutMs,
      SNI_CONNECT_TIMEOUT_MS,
      1,
      most
    );
    this.#transparent = opts.transparent ?? true;
    this.#mark = option('mark', opts.mark, 0, 0, 0xffff_ffff);
  }

  /**
   * Makes the listeners exactly `listeners` (by `address:port`): binds the new ones, closes the
   * removed ones with their connections, and keeps each kept one's latest `route` for the next
   * ClientHello without rebinding. A bind failure is logged once per listener and tried again
   * every `retryMs` until it succeeds or the listener is removed. Never rejects; does nothing
   * after `close()`.
   * @param listeners an IPv4 address, a port 1..65535 and a route each (others are logged and
   * skipped; for a repeated `address:port` the last wins)
   */
  reconcile(listeners: readonly SniListener[]): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const wanted = new Map<string, SniListener>();
    for (const l of listeners) {
      const problem = listenerProblem(l);
      if (problem) this.#log(`sni: ignoring a listener: ${problem}`);
      else wanted.set(`${l.address}:${l.port}`, l);
    }
    return this.#enqueue(async () => {
      const removed = [...this.#listeners.values()].filter((l) => !wanted.has(l.key));
      await Promise.all(removed.map((l) => this.#stop(l)));
      const added: Listener[] = [];
      for (const [key, l] of wanted) {
        const kept = this.#listeners.get(key);
        if (kept) {
          kept.route = l.route;
          continue;
        }
        const listener: Listener = {
          key,
          address: l.address,
          port: l.port,
          route: l.route,
          server: null,
          retry: null,
          failureLogged: false,
          connections: new Set(),
        };
        this.#listeners.set(key, listener);
        added.push(listener);
      }
      await Promise.all(added.map((l) => this.#bind(l)));
    });
  }

  /** The `address:port` pairs bound now (not those waiting for a retry). */
  listening(): string[] {
    return [...this.#listeners.values()].filter((l) => l.server).map((l) => l.key);
  }

  /** Connections open now, reading a ClientHello or relaying. */
  get openConnections(): number {
    return this.#open;
  }

  /** Closes every listener and connection and cancels the retries; final. */
  close(): Promise<void> {
    this.#closed = true;
    return this.#enqueue(async () => {
      await Promise.all([...this.#listeners.values()].map((l) => this.#stop(l)));
    });
  }

  /** Runs `step` after the steps before it; a failure is logged, never passed on. */
  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(async () => {
      try {
        await step();
      } catch (err) {
        this.#log(`sni: ${(err as Error).message}`);
      }
    });
    return this.#queue;
  }

  /** Logs `line` unless a line of this `kind` went out less than LOG_INTERVAL_MS ago. */
  #logLimited(kind: string, line: string): void {
    const now = Date.now();
    const entry = this.#limited.get(kind);
    if (entry && now - entry.last < LOG_INTERVAL_MS) {
      entry.suppressed++;
      return;
    }
    const more = entry?.suppressed ? ` (${entry.suppressed} more since the last such line)` : '';
    this.#limited.set(kind, { last: now, suppressed: 0 });
    this.#log(`${line}${more}`);
  }

  async #bind(listener: Listener): Promise<void> {
    listener.retry = null;
    if (this.#closed || this.#listeners.get(listener.key) !== listener) return;
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      try {
        this.#accept(listener, socket);
      } catch (err) {
        socket.destroy();
        this.#logLimited('internal', `sni: ${(err as Error).message}`);
      }
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: listener.address, port: listener.port, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (!listener.failureLogged) {
        this.#log(
          `sni: cannot listen on ${listener.key} (${code}); trying again every ${this.#retryMs} ms`
        );
        listener.failureLogged = true;
      }
      listener.retry = setTimeout(
        () => void this.#enqueue(() => this.#bind(listener)),
        this.#retryMs
      );
      return;
    }
    // accept errors (EMFILE …) arrive here; the listener stays
    server.on('error', (err) => this.#logLimited('accept', `sni: ${listener.key}: ${err.message}`));
    listener.server = server;
    listener.failureLogged = false;
    this.#log(`sni: listening on ${listener.key}`);
  }

  async #stop(listener: Listener): Promise<void> {
    if (listener.retry) clearTimeout(listener.retry);
    listener.retry = null;
    this.#listeners.delete(listener.key);
    for (const c of listener.connections) end(c);
    const server = listener.server;
    listener.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(listener: Listener, client: Socket): void {
    if (this.#closed || this.#open >= this.#maxConnections) {
      client.destroy();
      this.#logLimited('full', `sni: ${listener.key}: ${this.#maxConnections} connections open`);
      return;
    }
    const conn: Connection = { client, backend: null, done: false };
    const from = `${client.remoteAddress ?? '?'}:${client.remotePort ?? '?'}`;
    this.#open++;
    listener.connections.add(conn);
    client.setKeepAlive(true, KEEPALIVE_MS);
    client.setNoDelay(true);
    // the ClientHello: one buffer of maxHello bytes, scanned when a whole record may be in
    let hello: Buffer | null = null;
    let filled = 0;
    let overflow: Buffer | null = null;
    let need = 0;
    const refuse = (kind: string, why: string) => {
      cleanup();
      end(conn);
      this.#logLimited(kind, `sni: ${listener.key}: closed ${from}: ${why}`);
    };
    const timer = setTimeout(
      () => refuse('slow', 'no whole ClientHello in time'),
      this.#helloTimeoutMs
    );
    const cleanup = () => {
      clearTimeout(timer);
      client.off('data', onData);
      client.off('end', onEnd);
    };
    const onEnd = () => refuse('short', 'connection ended before a whole ClientHello');
    const onData = (chunk: Buffer) => {
      try {
        hello ??= Buffer.allocUnsafe(this.#maxHello);
        const room = this.#maxHello - filled;
        chunk.copy(hello, filled, 0, Math.min(room, chunk.length));
        if (chunk.length > room) overflow = chunk.subarray(room);
        filled += Math.min(room, chunk.length);
        if (filled < need && overflow === null) return;
        const scan = scanClientHello(hello.subarray(0, filled), this.#maxHello);
        // the kinds are a fixed set of messages, so the rate limiter's map stays small
        if ('error' in scan) return refuse(scan.error, scan.error);
        if (!scan.complete) {
          if (filled >= this.#maxHello) return refuse('big', 'ClientHello too large');
          need = scan.need;
          return;
        }
        cleanup();
        client.pause();
        const bytes = overflow
          ? Buffer.concat([hello.subarray(0, filled), overflow])
          : hello.subarray(0, filled);
        this.#route(listener, conn, scan.hostname, bytes);
      } catch (err) {
        refuse('internal', (err as Error).message);
      }
    };
    client.on('data', onData);
    client.on('end', onEnd);
    client.on('error', () => {}); // 'close' follows and ends the other leg
    client.once('close', () => {
      cleanup();
      this.#open--;
      listener.connections.delete(conn);
      conn.done = true;
      conn.backend?.destroySoon();
    });
  }

  #route(listener: Listener, conn: Connection, hostname: string | null, hello: Buffer): void {
    let route: SniRoute | null;
    try {
      route = listener.route(hostname);
    } catch (err) {
      route = null;
      this.#logLimited(
        'route',
        `sni: ${listener.key}: route(${String(hostname)}) threw: ${(err as Error).message}`
      );
    }
    const from = `${conn.client.remoteAddress ?? '?'}:${conn.client.remotePort ?? '?'}`;
    const name = hostname === null ? 'no server_name' : `'${hostname}'`;
    if (!route) {
      end(conn);
      this.#logLimited('unrouted', `sni: ${listener.key}: closed ${from}: no route for ${name}`);
      return;
    }
    const r = route;
    const target = parseTarget(r.target);
    if (!target) {
      end(conn);
      this.#logLimited(
        'target',
        `sni: ${listener.key}: invalid target '${route.target}' for ${name}`
      );
      return;
    }
    const visitor = { address: conn.client.remoteAddress, port: conn.client.remotePort };
    const local = { address: conn.client.localAddress, port: conn.client.localPort };
    if (
      visitor.address === undefined ||
      visitor.port === undefined ||
      local.address === undefined ||
      local.port === undefined
    ) {
      end(conn); // already gone
      return;
    }
    const failed = (err: unknown) => {
      end(conn);
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.#logLimited(
        r.proxyProtocol || !this.#transparent ? 'connect' : 'transparent',
        `sni: ${listener.key}: cannot reach ${r.target} for ${name} from ${from} (${code})`
      );
    };
    if (route.proxyProtocol || !this.#transparent) {
      const head = route.proxyProtocol
        ? Buffer.concat([
            proxyV2Header(
              { address: visitor.address, port: visitor.port },
              { address: local.address, port: local.port }
            ),
            hello,
          ])
        : hello;
      const backend = createConnection({
        host: target.address,
        port: target.port,
        allowHalfOpen: true,
      });
      conn.backend = backend;
      const timer = setTimeout(
        () => backend.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })),
        this.#connectTimeoutMs
      );
      backend.once('error', (err) => {
        clearTimeout(timer);
        if (backend.connecting || backend.bytesWritten === 0) failed(err);
      });
      backend.once('connect', () => {
        clearTimeout(timer);
        this.#relay(conn, backend, head);
      });
      return;
    }
    connectTransparent({
      source: { address: visitor.address, port: visitor.port },
      target,
      mark: this.#mark,
      timeoutMs: this.#connectTimeoutMs,
    }).then((fd) => {
      if (conn.done) {
        try {
          closeSync(fd);
        } catch {}
        return;
      }
      try {
        const backend = new Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
        conn.backend = backend;
        this.#relay(conn, backend, hello);
      } catch (err) {
        failed(err);
      }
    }, failed);
  }

  /** Writes the buffered bytes to the device, then copies both ways until both sides end. */
  #relay(conn: Connection, backend: Socket, head: Buffer): void {
    const client = conn.client;
    if (conn.done) {
      backend.destroy();
      return;
    }
    backend.setKeepAlive(true, KEEPALIVE_MS);
    backend.setNoDelay(true);
    backend.on('error', () => {}); // 'close' follows and ends the other leg
    backend.once('close', () => client.destroySoon());
    backend.write(head);
    client.pipe(backend);
    backend.pipe(client);
    client.resume();
  }
}

/** An integer option in `min..max`, or its default when absent; a TypeError names it. */
function option(
  name: string,
  value: number | undefined,
  fallback: number,
  min = 1,
  max = 2 ** 31 - 1
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`Invalid ${name}: '${String(value)}' is not an integer in ${min}..${max}`);
  }
  return value;
}

/** Closes a connection's both legs now. */
function end(conn: Connection): void {
  conn.done = true;
  conn.client.destroy();
  conn.backend?.destroy();
}

/** Why a listener given to reconcile cannot be used, or null. */
function listenerProblem(l: SniListener): string | null {
  if (typeof l !== 'object' || l === null) return 'not an object';
  const ip = typeof l.address === 'string' ? parseIp(l.address) : null;
  if (ip?.family !== 4 || ip.canonical !== l.address) {
    return `address '${String(l.address)}' is not an IPv4 address`;
  }
  if (!Number.isInteger(l.port) || l.port < 1 || l.port > 65_535) {
    return `port '${String(l.port)}' of ${l.address} is not in 1..65535`;
  }
  if (typeof l.route !== 'function') return `route of ${l.address}:${l.port} is not a function`;
  return null;
}

/** `IPv4:PORT` or `[IPv6]:PORT` with a port 1..65535, or null. */
export function parseTarget(target: string): { address: string; port: number } | null {
  if (typeof target !== 'string') return null;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(target);
  if (!m) return null;
  const ip = parseIp(m[1] ?? m[2]!);
  const port = Number(m[3]);
  if (!ip || (m[1] !== undefined) !== (ip.family === 6) || port < 1 || port > 65_535) return null;
  return { address: ip.canonical, port };
}
