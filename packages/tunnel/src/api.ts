// SPDX-License-Identifier: MIT
/**
 * The local API: plain HTTP on loopback (`127.0.59.60:5960` by default, StartTunnel's
 * `TUNNEL_DEFAULT_LISTEN`), `POST /rpc/v0` with a JSON body, authorised by the cookie
 * `local=<secret>` whose secret sits in the data directory readable by root only
 * (`starttunnel.md` §1 and §7). Anything else is refused before the body is read.
 * @module
 */

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ErrorCode, LOCAL_COOKIE_NAME, type RpcResponse } from './protocol.ts';
import type { RpcContext, RpcDispatcher } from './rpc.ts';

/** Largest request body accepted (a batch of changes fits easily). */
export const MAX_BODY_BYTES = 1 << 20;

/** A fresh local secret: base64 of 32 random bytes, as the original's authcookie. */
export function newLocalSecret(): string {
  return randomBytes(32).toString('base64');
}

/** Parses `IP:PORT` / `[IPv6]:PORT`; throws a message naming the value on bad input. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new Error(`Invalid listen address "${text}": expected IP:PORT`);
  }
  return { host: m[1]!, port };
}

/** Reads the value of one cookie from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Constant-time comparison of two strings. */
export function secretsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function fail(res: ServerResponse, status: number, code: number, message: string): void {
  reply(res, status, { jsonrpc: '2.0', id: null, error: { code, message } });
}

/** Reads a body up to `MAX_BODY_BYTES`; null when larger. */
function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export interface LocalApiOptions {
  dispatcher: RpcDispatcher;
  /** The current local secret (a function: it may be rotated). */
  secret: () => string;
  listen: string;
}

/** The local API server. */
export class LocalApi {
  readonly server: Server;
  readonly #opts: LocalApiOptions;

  private constructor(opts: LocalApiOptions) {
    this.#opts = opts;
    this.server = createServer((req, res) => {
      this.#serve(req, res).catch(() => {
        if (!res.headersSent) fail(res, 500, ErrorCode.Unknown, 'Internal error');
        else res.destroy();
      });
    });
    this.server.requestTimeout = 60_000;
  }

  /** Starts listening; rejects with a clear message when the address cannot be bound. */
  static async listen(opts: LocalApiOptions): Promise<LocalApi> {
    const api = new LocalApi(opts);
    const { host, port } = parseListen(opts.listen);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(new Error(`Cannot listen on ${opts.listen}: ${err.code ?? err.message}`));
      api.server.once('error', onError);
      api.server.listen(port, host, () => {
        api.server.off('error', onError);
        resolve();
      });
    });
    return api;
  }

  /** The bound `IP:PORT` (port resolved when 0 was asked). */
  get address(): string {
    const a = this.server.address();
    if (a && typeof a === 'object') {
      return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    }
    return this.#opts.listen;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (!path.startsWith('/rpc/')) return fail(res, 404, ErrorCode.NotFound, 'Not found');
    if (req.method !== 'POST') return fail(res, 405, ErrorCode.InvalidEnvelope, 'Use POST');
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') {
      return fail(res, 415, ErrorCode.InvalidEnvelope, 'Content-Type must be application/json');
    }
    const cookie = readCookie(req.headers.cookie, LOCAL_COOKIE_NAME);
    if (cookie === undefined || !secretsEqual(cookie, this.#opts.secret())) {
      return fail(res, 401, ErrorCode.Authorization, 'Unauthorized: missing or wrong local cookie');
    }
    const raw = await readBody(req);
    if (raw === null) return fail(res, 413, ErrorCode.InvalidEnvelope, 'Request body too large');
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return fail(res, 400, ErrorCode.ParseError, 'Request body is not valid JSON');
    }
    const ctx: RpcContext = {
      auth: 'local',
      remoteAddress: req.socket.remoteAddress ?? '',
      localAddress: req.socket.localAddress ?? '',
    };
    const out: RpcResponse | RpcResponse[] = await this.#opts.dispatcher.handle(body, ctx);
    reply(res, 200, out);
  }
}
