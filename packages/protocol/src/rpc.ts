// SPDX-License-Identifier: MIT
/**
 * The JSON-RPC dispatcher (https://www.jsonrpc.org/specification): a handler per method of the
 * contract, registered by name so that a handler taking the wrong parameters or returning the
 * wrong shape does not compile. `handle()` takes a parsed body (one request or a batch of at
 * most `MAX_BATCH`) and never throws: every failure becomes an error object with a code and,
 * for bad input, the field at fault. Transports (the local socket, the HTTPS panel) establish
 * who is calling and pass it as an `RpcContext`.
 * @module
 */

import type { z } from 'zod';
import {
  isMethodName,
  type MethodName,
  type MethodSchema,
  methods,
  type ParsedParams,
  type Result,
} from './contract.ts';
import { MAX_BATCH } from './defaults.ts';
import { ErrorCode, RpcError, type RpcId, type RpcRequest, type RpcResponse } from './errors.ts';

/** What the HTTP layer lets a handler do to the response. */
export interface ResponseHooks {
  /** Adds a `Set-Cookie` header. */
  setCookie(value: string): void;
  /** Seconds for a `Retry-After` header (a throttled login sets it). */
  retryAfter?: number;
}

/** Who is calling, as established by the transport. */
export interface RpcContext {
  /** `local`: root on the Unix socket; `session`: a panel login; `key`: a signed request. */
  auth: 'local' | 'session' | 'key' | 'none';
  /** Hashed session id for `session`, key name for `key`. */
  principal?: string;
  /** Address the request came from and the local address it reached. */
  remoteAddress?: string;
  localAddress?: string;
  userAgent?: string;
  /** Present on HTTP transports that can set cookies (the panel). */
  response?: ResponseHooks;
}

export type Handler<M extends MethodName> = (
  params: ParsedParams<M>,
  ctx: RpcContext
) => Result<M> | Promise<Result<M>>;

export interface DispatcherOptions {
  /** Check every result against the contract (tests turn this on; a mismatch is an error). */
  checkResults?: boolean;
  /** Most requests in a batch (default `MAX_BATCH`). */
  maxBatch?: number;
}

/** Formats a zod issue path as `a.b[0].c`. */
function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || 'params';
}

/** Converts a failed parse into an InvalidParams error naming the first field at fault. */
export function paramsError(error: z.ZodError): RpcError {
  const issue = error.issues[0];
  const field = issue ? fieldPath(issue.path) : 'params';
  const reason = issue ? issue.message : 'invalid';
  return new RpcError(ErrorCode.InvalidParams, `Invalid ${field}: ${reason}`, field, reason);
}

function envelopeError(id: RpcId, message: string): RpcResponse {
  return { jsonrpc: '2.0', id, error: { code: ErrorCode.InvalidEnvelope, message } };
}

export class RpcDispatcher {
  // biome-ignore lint/suspicious/noExplicitAny: handlers are typed at register()
  readonly #handlers = new Map<MethodName, Handler<any>>();
  readonly #checkResults: boolean;
  readonly #maxBatch: number;

  constructor(options: DispatcherOptions = {}) {
    this.#checkResults = options.checkResults ?? false;
    this.#maxBatch = options.maxBatch ?? MAX_BATCH;
  }

  register<M extends MethodName>(name: M, handler: Handler<M>): this {
    if (this.#handlers.has(name)) throw new Error(`Method "${name}" is already registered`);
    this.#handlers.set(name, handler);
    return this;
  }

  has(name: string): boolean {
    return isMethodName(name) && this.#handlers.has(name);
  }

  /** Method names, sorted (for help and tests). */
  names(): MethodName[] {
    return [...this.#handlers.keys()].sort();
  }

  /** Calls one method; throws RpcError on any failure. */
  async call<M extends MethodName>(method: M, params: unknown, ctx: RpcContext): Promise<Result<M>>;
  async call(method: string, params: unknown, ctx: RpcContext): Promise<unknown>;
  async call(method: string, params: unknown, ctx: RpcContext): Promise<unknown> {
    const schema = isMethodName(method) ? (methods[method] as MethodSchema) : undefined;
    const handler = isMethodName(method) ? this.#handlers.get(method) : undefined;
    // unknown methods need auth too, so their existence is never revealed to a stranger
    if (ctx.auth === 'none' && schema?.public !== true) {
      throw new RpcError(ErrorCode.Authorization, 'Unauthorized');
    }
    if (!schema || !handler) {
      throw new RpcError(ErrorCode.MethodNotFound, `Method not found: "${String(method)}"`);
    }
    const parsed = schema.params.safeParse(params ?? {});
    if (!parsed.success) throw paramsError(parsed.error);
    let result: unknown;
    try {
      result = await handler(parsed.data, ctx);
    } catch (err) {
      if (err instanceof RpcError) throw err;
      throw new RpcError(ErrorCode.Unknown, (err as Error)?.message ?? String(err));
    }
    if (result === undefined) result = null;
    if (this.#checkResults) {
      const checked = schema.result.safeParse(result);
      if (!checked.success) {
        const issue = checked.error.issues[0];
        throw new RpcError(
          ErrorCode.Unknown,
          `Result of ${method} breaks the contract at ${fieldPath(issue?.path ?? [])}: ${issue?.message}`
        );
      }
    }
    return result;
  }

  /** Handles a parsed request body (object or batch array); never throws. */
  async handle(body: unknown, ctx: RpcContext): Promise<RpcResponse | RpcResponse[]> {
    if (!Array.isArray(body)) return this.#one(body, ctx);
    if (body.length === 0) return envelopeError(null, 'Empty batch');
    if (body.length > this.#maxBatch) {
      return envelopeError(null, `Batch too large: at most ${this.#maxBatch} requests`);
    }
    const out: RpcResponse[] = [];
    // sequential: a batch is an ordered script of changes
    for (const item of body) out.push(await this.#one(item, ctx));
    return out;
  }

  async #one(item: unknown, ctx: RpcContext): Promise<RpcResponse> {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      return envelopeError(null, 'Request must be a JSON object');
    }
    const req = item as Partial<RpcRequest>;
    const id = typeof req.id === 'string' || typeof req.id === 'number' ? req.id : null;
    if (typeof req.method !== 'string') return envelopeError(id, 'Missing "method"');
    try {
      const result = await this.call(req.method, req.params, ctx);
      return { jsonrpc: '2.0', id, result };
    } catch (err) {
      const e =
        err instanceof RpcError ? err : new RpcError(ErrorCode.Unknown, String(err ?? 'error'));
      return { jsonrpc: '2.0', id, error: e.toObject() };
    }
  }
}
