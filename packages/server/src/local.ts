// SPDX-License-Identifier: MIT
/**
 * The local API: the server's Hono app on a Unix socket inside the data directory. The
 * directory is root's and 0700 and the socket 0600, so whoever connects is root on this machine
 * (`auth: local`); unlike a TCP port on loopback, no other user can take the address while the
 * server is down and receive root's passwords and keys from the CLI (StartTunnel's local API
 * listens on 127.0.59.60:5960, where any local user could).
 * @module
 */

import { chmodSync, lstatSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';

// biome-ignore lint/suspicious/noExplicitAny: any Hono app whose bindings accept `local`
type AnyApp = Hono<any>;

export class LocalSocket {
  readonly path: string;
  readonly #server: Server;

  private constructor(path: string, server: Server) {
    this.path = path;
    this.#server = server;
  }

  /**
   * Listens on `path`, replacing a socket left by a crashed server (never a file of another
   * kind). The socket is made 0600 before the first connection can be accepted.
   */
  static async listen(path: string, app: AnyApp): Promise<LocalSocket> {
    try {
      if (lstatSync(path).isSocket()) rmSync(path);
    } catch {
      // nothing there
    }
    const server = createServer(
      getRequestListener((request, env) => app.fetch(request, { ...env, local: true }))
    );
    server.requestTimeout = 60_000;
    server.headersTimeout = 10_000;
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(old);
    }
    chmodSync(path, 0o600);
    return new LocalSocket(path, server);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    rmSync(this.path, { force: true });
  }
}
