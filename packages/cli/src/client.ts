// SPDX-License-Identifier: MIT
/**
 * How the command line reaches a daemon. The local mode mirrors StartTunnel's root CLI
 * (`starttunnel.md` §7 "Local"): find the data directory (`--datadir`, else
 * `START_TUNNEL_DATADIR`, else `/var/lib/start-tunnel`), read the API address the running daemon
 * recorded in `daemon.json` and the secret in `auth.cookie`, and POST JSON-RPC to
 * `http://<api>/rpc/v0` with `Cookie: local=<secret>`. Every way this can fail becomes one
 * sentence saying what to do (start the daemon, run as root, check `--datadir`).
 *
 * Commands only see `RpcClient.call`, which speaks through a `Transport`. The remote mode
 * (`-t/--tunnel HOST:PORT --key FILE --root-ca FILE`: HTTPS with a signed request) plugs in as a
 * `RemoteConnector` that returns another `Transport` — `remote.ts`, an `HttpTransport` on an
 * `https:` URL with the request signer as its `headers` hook — without touching any command.
 * @module
 */

import { readFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import {
  COOKIE_FILE,
  DAEMON_FILE,
  DATA_DIR_ENV,
  type DaemonInfo,
  DEFAULT_DATA_DIR,
  ErrorCode,
  LOCAL_COOKIE_NAME,
  parseListen,
  RPC_PATH,
  type RpcErrorObject,
  type RpcRequest,
  type RpcResponse,
} from '@start-tunnel/tunnel';
import { CliError, ClientError, oneLine, RpcCallError } from './errors.ts';
import type { AllMethods, AnyMethodName } from './web-methods.ts';

/** How long a call may take before it is given up (a change waits for its nft apply). */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Largest answer read from a daemon. */
const MAX_RESPONSE_BYTES = 16 << 20;

const START_HINT = 'start it with `start-tunnel daemon` or `systemctl start start-tunneld`';

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
  /** Where requests go, for messages (`the daemon at 127.0.59.60:5960`). */
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
  /** `http://IP:PORT/rpc/v0` or `https://HOST:PORT/rpc/v0`. */
  url: string;
  description: string;
  /** Extra headers for a body: the local cookie, or (remote mode) the request signature. */
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
        const onResponse = (res: IncomingMessage) => {
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
        };
        const options = { method: 'POST', headers, agent: false as const };
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

/** What the local mode reads from the data directory. */
export interface LocalEndpoint {
  dataDir: string;
  daemon: DaemonInfo;
  secret: string;
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

async function readDataFile(dataDir: string, name: string): Promise<string> {
  const path = join(dataDir, name);
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new ClientError(
        `the daemon is not running (no ${path}); ${START_HINT}`,
        ErrorCode.Network
      );
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ClientError(
        `cannot read ${path}: permission denied — run as root`,
        ErrorCode.Authorization
      );
    }
    throw new ClientError(
      `cannot read ${path}: ${code ?? (err as Error).message}`,
      ErrorCode.Unknown
    );
  }
}

/** Reads `daemon.json` and `auth.cookie` from a data directory, with one-line errors. */
export async function readLocalEndpoint(dataDir: string): Promise<LocalEndpoint> {
  const infoPath = join(dataDir, DAEMON_FILE);
  const text = await readDataFile(dataDir, DAEMON_FILE);
  let info: unknown;
  try {
    info = JSON.parse(text);
  } catch {
    throw new ClientError(`invalid ${infoPath}: not JSON`, ErrorCode.Deserialization);
  }
  const api = (info as Partial<DaemonInfo> | null)?.api;
  if (typeof api !== 'string') {
    throw new ClientError(`invalid ${infoPath}: no "api" address`, ErrorCode.Deserialization);
  }
  try {
    parseListen(api);
  } catch {
    throw new ClientError(
      `invalid ${infoPath}: "api" is "${api}", expected IP:PORT`,
      ErrorCode.Deserialization
    );
  }
  const secret = (await readDataFile(dataDir, COOKIE_FILE)).trim();
  if (secret === '') {
    throw new ClientError(`${join(dataDir, COOKIE_FILE)} is empty`, ErrorCode.Authorization);
  }
  return { dataDir, daemon: info as DaemonInfo, secret };
}

/** The URL of the JSON-RPC endpoint for an `IP:PORT` (IPv6 in brackets). */
export function rpcUrl(scheme: 'http' | 'https', address: string): string {
  const { host, port } = parseListen(address);
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${RPC_PATH}`;
}

/** The local daemon through its cookie; transport failures become local advice. */
export class LocalTransport implements Transport {
  readonly description: string;
  readonly endpoint: LocalEndpoint;
  readonly #http: HttpTransport;

  constructor(endpoint: LocalEndpoint, timeoutMs?: number) {
    this.endpoint = endpoint;
    this.description = `the daemon at ${endpoint.daemon.api}`;
    const cookie = `${LOCAL_COOKIE_NAME}=${endpoint.secret}`;
    this.#http = new HttpTransport({
      url: rpcUrl('http', endpoint.daemon.api),
      description: this.description,
      headers: () => ({ cookie }),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
  }

  async send(request: RpcRequest): Promise<RpcResponse> {
    try {
      return await this.#http.send(request);
    } catch (err) {
      if (!(err instanceof TransportError)) throw err;
      const { dataDir, daemon } = this.endpoint;
      const infoPath = join(dataDir, DAEMON_FILE);
      switch (err.kind) {
        case 'refused':
          throw new ClientError(
            `the daemon is not running (nothing answers on ${daemon.api}, the address in ` +
              `${infoPath}); ${START_HINT}`,
            ErrorCode.Network
          );
        case 'unauthorized':
          throw new ClientError(
            `the daemon at ${daemon.api} refused the local cookie from ` +
              `${join(dataDir, COOKIE_FILE)} (${err.detail}); is ${dataDir} the data ` +
              'directory of the running daemon?',
            ErrorCode.Authorization
          );
        case 'timeout':
          throw new ClientError(
            `${this.description} did not answer within ${err.detail}`,
            ErrorCode.Network
          );
        case 'network':
          throw new ClientError(
            `cannot reach ${this.description}: ${err.detail}`,
            ErrorCode.Network
          );
        default:
          throw new ClientError(
            `unexpected answer from ${this.description} (${err.detail}); is ${infoPath} current?`,
            ErrorCode.Network
          );
      }
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
   * Calls a method (the tunnel's, or `auth.*`/`web.*` of the panel); an RPC error becomes a
   * `ClientError` with the server's code and field.
   */
  async call<M extends AnyMethodName>(
    method: M,
    params: AllMethods[M]['params']
  ): Promise<AllMethods[M]['result']> {
    const id = this.#nextId++;
    const response = await this.transport.send({ jsonrpc: '2.0', id, method, params });
    if ('error' in response) {
      const { error } = response;
      throw new RpcCallError(rpcErrorMessage(error), error.code, error.data?.field);
    }
    return response.result as AllMethods[M]['result'];
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

/** Opens a client: local through the data directory, or remote with `tunnel`. */
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
  const endpoint = await readLocalEndpoint(resolveDataDir(options.dataDir, options.env));
  return new RpcClient(new LocalTransport(endpoint, timeoutMs));
}
