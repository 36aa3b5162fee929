// SPDX-License-Identifier: MIT
/**
 * The HTTPS listener. Like the original (a task follows the `/webserver` state and adds or removes
 * the TLS acceptor,
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/bins/tunnel.rs#L52-L111), it
 * follows the stored settings with no daemon restart: `reload()` starts it when `enabled`,
 * `listen` and a certificate are all set, stops it otherwise, moves it when `listen` changes, and
 * swaps the certificate in place (`tls.Server#setSecureContext`) when only the certificate
 * changed, so open connections keep going and new ones get the new chain. The web methods call
 * `reload()` after every change they make; the daemon calls it once at start and whenever it
 * changes the web state itself.
 * @module
 */

import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { MAX_CONNECTIONS, parseListen, type RpcDispatcher } from '@start-tunnel/protocol';
import type { Hono } from 'hono';
import { createApp } from './app.ts';
import { WebCore, type WebCoreOptions } from './core.ts';
import type { WebEnv } from './http.ts';
import { registerWebMethods } from './methods.ts';
import type { CertificateData } from './state.ts';

/** How long a moved or stopped listener lets in-flight requests finish. */
const DRAIN_MS = 5_000;

export interface WebServerOptions extends WebCoreOptions {
  /** The daemon's dispatcher (tunnel methods); `auth.*` and `web.*` are added to it. */
  dispatcher: RpcDispatcher;
  /** Most open connections (default `MAX_CONNECTIONS`). */
  maxConnections?: number;
}

function tlsOptions(cert: CertificateData) {
  return { key: cert.keyPem, cert: cert.chainPem.map((p) => `${p.trim()}\n`).join('') };
}

function certId(cert: CertificateData): string {
  return `${cert.keyPem}\n${cert.chainPem.join('')}`;
}

function formatAddress(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** The HTTPS listener and the app behind it. */
export class WebServer {
  readonly core: WebCore;
  readonly app: Hono<WebEnv>;
  readonly #dispatcher: RpcDispatcher;
  readonly #maxConnections: number;
  #server: Server | null = null;
  #listen: string | null = null;
  #cert: string | null = null;
  #queue: Promise<void> = Promise.resolve();

  constructor(options: WebServerOptions) {
    this.#dispatcher = options.dispatcher;
    this.#maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
    this.core = new WebCore(options);
    this.core.apply = () => this.reload();
    this.core.bound = () => this.address;
    registerWebMethods(this.#dispatcher, this.core);
    this.app = createApp({ dispatcher: this.#dispatcher, core: this.core });
  }

  /** The address the listener holds now (`IP:PORT`, the real port when 0 was asked), or null. */
  get address(): string | null {
    const a = this.#server?.address();
    return a && typeof a === 'object' ? formatAddress(a) : null;
  }

  /**
   * Brings the listener in line with the stored settings. Calls run one after another. Rejects
   * with the system's reason (`EADDRINUSE` …) when the address cannot be bound; the listener is
   * then stopped.
   */
  reload(): Promise<void> {
    const next = this.#queue.then(() => this.#apply());
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    await this.#queue;
    const server = this.#server;
    this.#server = null;
    this.#listen = null;
    this.#cert = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async #apply(): Promise<void> {
    const w = this.core.store.read().webserver;
    if (!w.enabled || w.listen === null || w.certificate === null) {
      if (this.#server) this.core.log('web: HTTPS listener stopped');
      this.#stop();
      return;
    }
    const id = certId(w.certificate);
    if (this.#server && this.#listen === w.listen) {
      if (this.#cert !== id) {
        this.#server.setSecureContext(tlsOptions(w.certificate));
        this.#cert = id;
        this.core.log('web: certificate replaced');
      }
      return;
    }
    this.#stop();
    const { host, port } = parseListen(w.listen);
    const server = createServer(
      { ...tlsOptions(w.certificate), minVersion: 'TLSv1.2', ALPNProtocols: ['http/1.1'] },
      getRequestListener((request, env) => this.app.fetch(request, env))
    );
    server.requestTimeout = 30_000;
    server.headersTimeout = 10_000;
    // bounded: past this many open connections new ones are closed at once, so a crowd of
    // idle or slow clients costs a bounded amount of memory and file descriptors
    server.maxConnections = this.#maxConnections;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(new Error(err.code ?? err.message));
      server.once('error', onError);
      server.listen({ host: host.replace(/^\[|\]$/g, ''), port }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => this.core.log(`web: listener error: ${err.message}`));
    this.#server = server;
    this.#listen = w.listen;
    this.#cert = id;
    this.core.log(`web: HTTPS listening on ${this.address}`);
  }

  /** Stops accepting at once; requests in flight (maybe the one that asked) get to finish. */
  #stop(): void {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    this.#listen = null;
    this.#cert = null;
    server.close();
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), DRAIN_MS).unref();
  }
}

/**
 * Builds the web server for the daemon: registers `auth.*` and `web.*` on `dispatcher` and
 * returns the listener, stopped until `reload()`.
 */
export function createWebServer(options: WebServerOptions): WebServer {
  return new WebServer(options);
}
