// SPDX-License-Identifier: MIT
/**
 * The HTTP→HTTPS redirect on TCP port 80 of each public IPv4 address: every request is answered
 * with 307 Temporary Redirect to `https://<host><path?query>`, as StartOS answers plain HTTP on
 * its TLS port (`handle_http_on_https`,
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/net/http.rs#L173-L222),
 * which StartTunnel reuses for its redirect listeners.
 *
 * The listeners face the internet, so refusing is cheap: small header and time limits, a short
 * keep-alive, one cap on open connections across all addresses, no request body read, and no
 * callback that can throw. It runs in the control-plane process, never on the data plane's
 * thread.
 * @module
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { isIPv4, isIPv6 } from 'node:net';

/** The port StartTunnel redirects from. */
export const HTTP_REDIRECT_PORT = 80;
/** How long a failed bind waits before the next try. */
export const HTTP_REDIRECT_RETRY_MS = 5_000;
/** Time allowed for a request's headers (and the whole request: no body is read). */
export const HTTP_REDIRECT_HEADERS_TIMEOUT_MS = 10_000;
/** Open connections allowed across all the redirect's addresses together. */
export const HTTP_REDIRECT_MAX_CONNECTIONS = 256;
const MAX_HEADER_BYTES = 8 * 1024;
const KEEP_ALIVE_TIMEOUT_MS = 2_000;
const MAX_REQUESTS_PER_SOCKET = 100;
/** A Host field value longer than this is refused (a DNS name has at most 255 octets, RFC 1035 §2.3.4). */
const MAX_HOST_LENGTH = 255;

export interface HttpRedirectOptions {
  /** The TCP port to listen on (default 80; tests use a high port). */
  port?: number;
  /** One line per event worth an operator's attention (bind failures, listening). */
  log: (line: string) => void;
  /** How long a failed bind waits before the next try (default 5000). */
  retryMs?: number;
  /** Time allowed for a request's headers before the connection is cut (default 10000). */
  headersTimeoutMs?: number;
  /** Open connections allowed across all addresses together (default 256). */
  maxConnections?: number;
}

/** What a request is answered with: a redirect to `location`, or 400 with `reason`. */
export type RedirectAnswer = { location: string } | { reason: string };

/**
 * The host of a Host field value (or of an absolute-form target's authority) with its port
 * removed, or `null` when the value is not `host[:port]` with `host` a DNS name, an IPv4 address
 * or a bracketed IPv6 address (RFC 9110 §7.2, RFC 3986 §3.2.2). Userinfo, spaces, control
 * characters, zone identifiers and values longer than 255 characters are refused.
 */
export function hostOf(value: string): string | null {
  if (value.length === 0 || value.length > MAX_HOST_LENGTH) return null;
  let host: string;
  let port: string;
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end < 0) return null;
    const address = value.slice(1, end);
    if (address.includes('%') || !isIPv6(address)) return null;
    host = `[${address}]`;
    port = value.slice(end + 1);
  } else {
    const colon = value.indexOf(':');
    host = colon < 0 ? value : value.slice(0, colon);
    port = colon < 0 ? '' : value.slice(colon);
    if (!isHostname(host)) return null;
  }
  // port = *DIGIT (RFC 3986 §3.2.3); dropped from the target, the redirect goes to 443
  if (port !== '' && !(/^:[0-9]{0,5}$/.test(port) && Number(port.slice(1)) <= 65_535)) return null;
  return host;
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function isHostname(host: string): boolean {
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  if (!labels.every((label) => LABEL.test(label))) return false;
  // an all-numeric last label is no DNS name (RFC 3696 §2): it must be a whole IPv4 address
  return !/^[0-9]+$/.test(labels[labels.length - 1]!) || isIPv4(name);
}

/**
 * The answer to a request with these Host field lines and request target (`req.url`): the same
 * path and query on `https://` and the host without its port. Exactly one valid Host line is
 * required (RFC 9112 §3.2); an absolute-form target's own authority wins over Host (RFC 9112
 * §3.2.2). StartOS keeps the Host's port; this redirect drops it, since the port of a request
 * to :80 is 80 (or absent) and HTTPS is on 443.
 * @param hosts every Host field line of the request (`req.headersDistinct.host`)
 * @param target the request target as received
 * @returns `{ location }` for a 307, or `{ reason }` for a 400
 * @example
 * redirectAnswer(['203.0.113.7:80'], '/x?y=1'); // { location: 'https://203.0.113.7/x?y=1' }
 */
export function redirectAnswer(
  hosts: readonly string[] | undefined,
  target: string
): RedirectAnswer {
  if (!hosts || hosts.length === 0) return { reason: 'Host header required' };
  if (hosts.length > 1) return { reason: 'Only one Host header allowed' };
  let host = hostOf(hosts[0]!);
  if (host === null) return { reason: 'Invalid Host header' };
  let path = target;
  if (!target.startsWith('/')) {
    const absolute = /^https?:\/\/([^/?#]*)(.*)$/i.exec(target);
    if (!absolute) return { reason: 'Invalid request target' };
    host = hostOf(absolute[1]!);
    if (host === null) return { reason: 'Invalid request target' };
    path = absolute[2]!.startsWith('/') ? absolute[2]! : `/${absolute[2]!}`;
  }
  // what Node may write in a field value; its parser already refuses controls in the target
  if (/[^\x21-\x7e\x80-\xff]/.test(path)) return { reason: 'Invalid request target' };
  return { location: `https://${host}${path}` };
}

interface Listener {
  readonly address: string;
  server: Server | null;
  retry: NodeJS.Timeout | null;
  failureLogged: boolean;
  readonly sockets: Set<Socket>;
}

/**
 * The redirect listeners: one per address given to `reconcile`, each on the same port.
 * @example
 * const redirect = new HttpRedirect({ log: console.error });
 * await redirect.reconcile(['203.0.113.7']);
 * redirect.listening(); // ['203.0.113.7'] once bound
 * await redirect.close();
 */
export class HttpRedirect {
  readonly #port: number;
  readonly #log: (line: string) => void;
  readonly #retryMs: number;
  readonly #headersTimeoutMs: number;
  readonly #maxConnections: number;
  readonly #listeners = new Map<string, Listener>();
  #open = 0;
  #closed = false;
  #queue: Promise<void> = Promise.resolve();

  constructor(opts: HttpRedirectOptions) {
    this.#port = opts.port ?? HTTP_REDIRECT_PORT;
    // a throwing logger must not break the queue of steps or reach a socket callback
    this.#log = (line) => {
      try {
        opts.log(line);
      } catch {}
    };
    this.#retryMs = opts.retryMs ?? HTTP_REDIRECT_RETRY_MS;
    this.#headersTimeoutMs = opts.headersTimeoutMs ?? HTTP_REDIRECT_HEADERS_TIMEOUT_MS;
    this.#maxConnections = opts.maxConnections ?? HTTP_REDIRECT_MAX_CONNECTIONS;
  }

  /**
   * Makes the set of addresses listened on exactly `addresses`: listens on the new ones, closes
   * the removed ones (and their connections). A bind failure (`EADDRINUSE`, `EADDRNOTAVAIL` …)
   * is logged once per address and tried again every `retryMs` until it succeeds or the address
   * is removed. Never rejects; does nothing after `close()`.
   * @param addresses IP addresses (a value that is not one is logged and skipped)
   */
  reconcile(addresses: readonly string[]): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const wanted = new Set<string>();
    for (const address of addresses) {
      if (isIPv4(address) || isIPv6(address)) wanted.add(address);
      else this.#log(`http-redirect: ignoring "${address}": not an IP address`);
    }
    return this.#enqueue(async () => {
      const removed = [...this.#listeners.values()].filter((l) => !wanted.has(l.address));
      await Promise.all(removed.map((l) => this.#stop(l)));
      const added: Listener[] = [];
      for (const address of wanted) {
        if (this.#listeners.has(address)) continue;
        const listener: Listener = {
          address,
          server: null,
          retry: null,
          failureLogged: false,
          sockets: new Set(),
        };
        this.#listeners.set(address, listener);
        added.push(listener);
      }
      await Promise.all(added.map((l) => this.#bind(l)));
    });
  }

  /** The addresses bound now (not those waiting for a retry). */
  listening(): string[] {
    return [...this.#listeners.values()].filter((l) => l.server).map((l) => l.address);
  }

  /** Closes every listener and open connection and cancels the retries; final. */
  close(): Promise<void> {
    this.#closed = true;
    return this.#enqueue(async () => {
      const all = [...this.#listeners.values()];
      await Promise.all(all.map((l) => this.#stop(l)));
    });
  }

  /** Runs `step` after the steps before it; a failure is logged, never passed on. */
  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(async () => {
      try {
        await step();
      } catch (err) {
        this.#log(`http-redirect: ${(err as Error).message}`);
      }
    });
    return this.#queue;
  }

  #cancelRetry(listener: Listener): void {
    if (listener.retry) clearTimeout(listener.retry);
    listener.retry = null;
  }

  async #bind(listener: Listener): Promise<void> {
    listener.retry = null;
    if (this.#closed || this.#listeners.get(listener.address) !== listener) return;
    const server = this.#createServer(listener);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: listener.address, port: this.#port, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (!listener.failureLogged) {
        this.#log(
          `http-redirect: cannot listen on ${endpoint(listener.address, this.#port)} (${code}); ` +
            `trying again every ${this.#retryMs} ms`
        );
        listener.failureLogged = true;
      }
      listener.retry = setTimeout(
        () => void this.#enqueue(() => this.#bind(listener)),
        this.#retryMs
      );
      return;
    }
    // a listening server reports later errors here instead of crashing the process
    server.on('error', (err) => this.#log(`http-redirect: ${listener.address}: ${err.message}`));
    listener.server = server;
    this.#log(`http-redirect: listening on ${endpoint(listener.address, this.#port)}`);
  }

  async #stop(listener: Listener): Promise<void> {
    this.#cancelRetry(listener);
    this.#listeners.delete(listener.address);
    const server = listener.server;
    listener.server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of listener.sockets) socket.destroy();
    await closed;
  }

  #createServer(listener: Listener): Server {
    const server = createServer(
      {
        maxHeaderSize: MAX_HEADER_BYTES,
        headersTimeout: this.#headersTimeoutMs,
        // nothing after the headers is read, so the whole request gets the same time
        requestTimeout: this.#headersTimeoutMs,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        connectionsCheckingInterval: Math.min(1_000, Math.max(10, this.#headersTimeoutMs / 4)),
        // a missing Host gets our 400 and its reason, not Node's bare one
        requireHostHeader: false,
      },
      answer
    );
    server.maxRequestsPerSocket = MAX_REQUESTS_PER_SOCKET;
    // after Node's own connection listener: the parser is attached, destroy cleans it up
    server.on('connection', (socket: Socket) => {
      if (this.#open >= this.#maxConnections) {
        socket.destroy();
        return;
      }
      this.#open++;
      listener.sockets.add(socket);
      socket.once('close', () => {
        this.#open--;
        listener.sockets.delete(socket);
      });
    });
    return server;
  }
}

/** The request listener: a 307 or a 400, never a body read, never a throw. */
function answer(req: IncomingMessage, res: ServerResponse): void {
  try {
    const result = redirectAnswer(req.headersDistinct['host'], req.url ?? '');
    // a body is never read: close after answering rather than read it to find the next request
    const hasBody =
      req.headers['transfer-encoding'] !== undefined ||
      (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    if ('location' in result) {
      // RFC 9110 §15.4.8: 307 keeps the method and body (a POST stays a POST), unlike 301/302
      res.writeHead(307, {
        location: result.location,
        'content-length': '0',
        ...(hasBody ? { connection: 'close' } : {}),
      });
      res.end();
    } else {
      const body = `${result.reason}\n`;
      res.writeHead(400, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': String(Buffer.byteLength(body)),
        connection: 'close',
      });
      res.end(body);
    }
  } catch {
    res.destroy();
  }
}

function endpoint(address: string, port: number): string {
  return isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}
