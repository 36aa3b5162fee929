// SPDX-License-Identifier: MIT
/**
 * How the command line reaches a daemon. Locally, as StartTunnel's root CLI does (it reads a
 * root-only cookie file and calls the loopback listener,
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/context.rs#L257-L285),
 * but over a Unix socket: find the data directory (`--datadir`, else `START_TUNNEL_DATADIR`, else
 * `/var/lib/start-tunnel`) and POST JSON-RPC to `/rpc/v0` on its `api.sock` (`http.request` with
 * `socketPath`, https://nodejs.org/api/http.html#httprequestoptions-callback). The directory is
 * root's and 0700, so whoever reaches the socket is root: no cookie, no file to read first. Every
 * way this can fail becomes one sentence saying what to do (start the daemon, run as root).
 *
 * Commands only see `RpcClient.call`, typed by the contract of `@start-tunnel/protocol`, which
 * speaks through a `Transport`. The remote mode (`-t/--tunnel HOST:PORT --key FILE --root-ca
 * FILE`: HTTPS with a signed request, `remote.ts`) plugs in as a `RemoteConnector` that returns
 * another `Transport`; `main.ts` loads it only when `--tunnel` is given.
 * @module
 */

import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import {
  API_SOCKET,
  DATA_DIR_ENV,
  DEFAULT_DATA_DIR,
  ErrorCode,
  type MethodName,
  type Params,
  parseListen,
  type Result,
  RPC_PATH,
  type RpcErrorObject,
  type RpcRequest,
  type RpcResponse,
} from '@start-tunnel/protocol';
import { CliError, ClientError, oneLine, RpcCallError } from './errors.ts';

/** How long a call may take before it is given up (a change waits for its nft apply). */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Largest answer read from a daemon. */
const MAX_RESPONSE_BYTES = 16 << 20;

/**
 * Collects an HTTP answer of at most `MAX_RESPONSE_BYTES` (a larger one destroys the request
 * with a protocol error), for both transports.
 */
export function readAnswer(
  req: ClientRequest,
  res: IncomingMessage,
  resolve: (answer: { status: number; text: string }) => void,
  reject: (err: Error) => void
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  res.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_RESPONSE_BYTES) {
      req.destroy(new TransportError('protocol', 'answer too large'));
      return;
    }
    chunks.push(chunk);
  });
  res.on('end', () =>
    resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') })
  );
  res.on('error', reject);
}

/** What to do when nothing answers (the unit install.sh writes is start-tunneld.service). */
const START_HINT = 'start it with `systemctl start start-tunneld` or `start-tunnel daemon`';

/** The data directory: the flag, else the environment variable, else the default. */
export function resolveDataDir(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>
): string {
  if (flag !== undefined && flag !== '') return flag;
  const fromEnv = env[DATA_DIR_ENV];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_DATA_DIR;
}

// ---- transport -------------------------------------------------------------------------------

/** Carries one JSON-RPC request to a daemon and brings back its response. */
export interface Transport {
  /** Where requests go, for messages (`the daemon at /var/lib/start-tunnel/api.sock`). */
  readonly description: string;
  /** Resolves with the response (which may carry an RPC error); throws `CliError` otherwise. */
  send(request: RpcRequest): Promise<RpcResponse>;
}

/** Why an HTTP exchange failed before a usable JSON-RPC response came back. */
export type TransportFailure = 'refused' | 'timeout' | 'unauthorized' | 'network' | 'protocol';

/** Raised by `HttpTransport`; wrappers turn it into a message fit for their mode. */
export class TransportError extends Error {
  readonly kind: TransportFailure;
  /** errno code (`ECONNREFUSED` …), HTTP status text, or the server's message on 401. */
  readonly detail: string;
  constructor(kind: TransportFailure, detail: string) {
    super(`${kind}: ${detail}`);
    this.name = 'TransportError';
    this.kind = kind;
    this.detail = detail;
  }
}

export interface HttpTransportOptions {
  /** `http://IP:PORT/rpc/v0` or `https://HOST:PORT/rpc/v0` (with `socketPath`, only the path counts). */
  url: string;
  /** A Unix socket to connect to instead of the URL's host and port (the local API). */
  socketPath?: string;
  description: string;
  /** Extra headers for a body (a test's, or a signature). */
  headers?: (body: string) => Record<string, string> | Promise<Record<string, string>>;
  /** PEM roots to trust for `https:` (the tunnel's self-signed chain). */
  ca?: string[];
  timeoutMs?: number;
}

/** JSON-RPC over one HTTP(S) POST per call. */
export class HttpTransport implements Transport {
  readonly description: string;
  readonly #opts: HttpTransportOptions;

  constructor(opts: HttpTransportOptions) {
    this.#opts = opts;
    this.description = opts.description;
  }

  async send(rpc: RpcRequest): Promise<RpcResponse> {
    const body = JSON.stringify(rpc);
    const extra = this.#opts.headers ? await this.#opts.headers(body) : {};
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      accept: 'application/json',
      connection: 'close',
      ...extra,
    };
    const url = new URL(this.#opts.url);
    const timeoutMs = this.#opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const { status, text } = await new Promise<{ status: number; text: string }>(
      (resolve, reject) => {
        const onResponse = (res: IncomingMessage) => readAnswer(req, res, resolve, reject);
        const options = {
          method: 'POST',
          headers,
          agent: false as const,
          ...(this.#opts.socketPath !== undefined ? { socketPath: this.#opts.socketPath } : {}),
        };
        const req =
          url.protocol === 'https:'
            ? httpsRequest(
                url,
                { ...options, ...(this.#opts.ca ? { ca: this.#opts.ca } : {}) },
                onResponse
              )
            : httpRequest(url, options, onResponse);
        req.setTimeout(timeoutMs, () =>
          req.destroy(new TransportError('timeout', `${Math.round(timeoutMs / 1000)} s`))
        );
        req.on('error', (err: NodeJS.ErrnoException) => {
          if (err instanceof TransportError) reject(err);
          else if (err.code === 'ECONNREFUSED') reject(new TransportError('refused', err.code));
          else reject(new TransportError('network', err.code ?? err.message));
        });
        req.end(body);
      }
    );
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new TransportError('protocol', `HTTP ${status}, not JSON`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new TransportError('protocol', `HTTP ${status}, not a JSON-RPC response`);
    }
    const response = parsed as Partial<RpcResponse> & { error?: RpcErrorObject };
    if (status === 401) {
      throw new TransportError('unauthorized', response.error?.message ?? 'HTTP 401');
    }
    if (!('result' in response) && !('error' in response && response.error)) {
      throw new TransportError('protocol', `HTTP ${status}, not a JSON-RPC response`);
    }
    return response as RpcResponse;
  }
}

// ---- local mode ------------------------------------------------------------------------------

/** The path of the local API socket in a data directory. */
export function localSocketPath(dataDir: string): string {
  return join(dataDir, API_SOCKET);
}

/** The URL of the JSON-RPC endpoint for an `IP:PORT` (IPv6 in brackets). */
export function rpcUrl(scheme: 'http' | 'https', address: string): string {
  const { host, port } = parseListen(address);
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${RPC_PATH}`;
}

/** The local daemon on `<dataDir>/api.sock`; transport failures become local advice. */
export class LocalTransport implements Transport {
  readonly description: string;
  /** The socket's path. */
  readonly socket: string;
  readonly #http: HttpTransport;

  constructor(dataDir: string, timeoutMs?: number) {
    this.socket = localSocketPath(dataDir);
    this.description = `the daemon at ${this.socket}`;
    this.#http = new HttpTransport({
      // the host only fills the Host header; the socket is what is reached
      url: `http://localhost${RPC_PATH}`,
      socketPath: this.socket,
      description: this.description,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
  }

  async send(request: RpcRequest): Promise<RpcResponse> {
    try {
      return await this.#http.send(request);
    } catch (err) {
      if (!(err instanceof TransportError)) throw err;
      throw this.#explain(err);
    }
  }

  #explain(err: TransportError): ClientError {
    const { socket } = this;
    // connect(2) on a Unix socket: ENOENT when no socket is there, ECONNREFUSED when one was
    // left without a listener, EACCES when a directory on the path or the socket is not ours
    // (https://man7.org/linux/man-pages/man7/unix.7.html, ERRORS)
    const missing = err.kind === 'network' && (err.detail === 'ENOENT' || err.detail === 'ENOTDIR');
    if (err.kind === 'refused' || missing) {
      return new ClientError(
        `the daemon is not running (${START_HINT}); ` +
          (missing ? `there is no ${socket}` : `nothing listens on ${socket}`),
        ErrorCode.Network
      );
    }
    if (err.kind === 'network' && (err.detail === 'EACCES' || err.detail === 'EPERM')) {
      return new ClientError(
        `cannot reach ${socket}: permission denied — run as root`,
        ErrorCode.Authorization
      );
    }
    switch (err.kind) {
      case 'unauthorized':
        return new ClientError(
          `${this.description} refused the call (${err.detail})`,
          ErrorCode.Authorization
        );
      case 'timeout':
        return new ClientError(
          `${this.description} did not answer within ${err.detail}`,
          ErrorCode.Network
        );
      case 'network':
        return new ClientError(
          `cannot reach ${this.description}: ${err.detail}`,
          ErrorCode.Network
        );
      default:
        return new ClientError(
          `unexpected answer from ${this.description} (${err.detail}); is another program ` +
            `listening on ${socket}?`,
          ErrorCode.Network
        );
    }
  }
}

// ---- client ----------------------------------------------------------------------------------

/** The one-line message for an RPC error: the server's message, its details and field. */
export function rpcErrorMessage(error: RpcErrorObject): string {
  let message = error.message || `error ${error.code}`;
  const details = error.data?.details;
  const field = error.data?.field;
  if (details && !message.includes(details)) message += `: ${details}`;
  if (
    field &&
    !new RegExp(`\\b${field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'i').test(message)
  ) {
    message += ` (field "${field}")`;
  }
  return oneLine(message);
}

/** Typed JSON-RPC calls over a transport. */
export class RpcClient {
  readonly transport: Transport;
  #nextId = 1;

  constructor(transport: Transport) {
    this.transport = transport;
  }

  /**
   * Calls a method of the contract (the tunnel's, `auth.*` or `web.*`); an RPC error becomes a
   * `ClientError` with the server's code and field. The result is trusted as the contract's
   * type: the server checks its results against the same schemas in its tests.
   */
  async call<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
    const id = this.#nextId++;
    const response = await this.transport.send({ jsonrpc: '2.0', id, method, params });
    if ('error' in response) {
      const { error } = response;
      throw new RpcCallError(rpcErrorMessage(error), error.code, error.data?.field);
    }
    return response.result as Result<M>;
  }
}

// ---- choosing a mode -------------------------------------------------------------------------

/** What a remote connector gets from the command line. */
export interface RemoteOptions {
  /** `HOST:PORT` of the tunnel's HTTPS listener. */
  tunnel: string;
  /** Path of the Ed25519 private key (PKCS#8 PEM) that signs requests. */
  key: string | undefined;
  /** Paths of PEM roots to trust. */
  rootCa: string[];
  timeoutMs: number;
}

/** Builds the remote transport (HTTPS + request signer): `remoteConnector` of `remote.ts`. */
export type RemoteConnector = (options: RemoteOptions) => Transport | Promise<Transport>;

export interface ConnectOptions {
  /** `--datadir`. */
  dataDir?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  /** `-t/--tunnel`: remote mode. */
  tunnel?: string | undefined;
  key?: string | undefined;
  rootCa?: string[];
  remote?: RemoteConnector | undefined;
  timeoutMs?: number;
}

/** Opens a client: local through the data directory's socket, or remote with `tunnel`. */
export async function connect(options: ConnectOptions): Promise<RpcClient> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (options.tunnel !== undefined) {
    if (!options.remote) {
      throw new CliError('remote mode (--tunnel) needs a RemoteConnector (see remote.ts)');
    }
    const transport = await options.remote({
      tunnel: options.tunnel,
      key: options.key,
      rootCa: options.rootCa ?? [],
      timeoutMs,
    });
    return new RpcClient(transport);
  }
  return new RpcClient(new LocalTransport(resolveDataDir(options.dataDir, options.env), timeoutMs));
}
