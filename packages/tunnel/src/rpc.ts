// SPDX-License-Identifier: MIT
/**
 * The JSON-RPC dispatcher: a table of methods, each with a zod schema for its parameters, an
 * optional auth requirement and a handler. `handle()` takes a parsed body (one request or a
 * batch, as rpc-toolkit accepts, `starttunnel.md` §8) and never throws: every failure becomes
 * an error object with a code and, for bad input, the field at fault. Transport (local HTTP,
 * the HTTPS panel) and authentication live elsewhere; they pass an `RpcContext`.
 * @module
 */

import type { z } from 'zod';
import { ErrorCode, type RpcErrorObject, type RpcRequest, type RpcResponse } from './protocol.ts';

/** Who is calling, as established by the transport. */
export interface RpcContext {
  /** `local`: the root cookie on loopback; `session`: a panel login; `key`: a signed request. */
  auth: 'local' | 'session' | 'key' | 'none';
  /** Hashed session id for `session`, key name for `key`. */
  principal?: string;
  /** Address the request came from and the local address it reached (for configs). */
  remoteAddress?: string;
  localAddress?: string;
  userAgent?: string;
  /** Transport-specific extras (the web layer sets cookies through this). */
  extra?: Record<string, unknown>;
}

/** An error a handler throws on purpose: it reaches the caller as is. */
export class RpcError extends Error {
  readonly code: number;
  readonly field: string | undefined;
  readonly details: string | undefined;
  constructor(code: number, message: string, field?: string, details?: string) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.field = field;
    this.details = details;
  }
  toObject(): RpcErrorObject {
    const data: { field?: string; details?: string } = {};
    if (this.field !== undefined) data.field = this.field;
    if (this.details !== undefined) data.details = this.details;
    return Object.keys(data).length
      ? { code: this.code, message: this.message, data }
      : { code: this.code, message: this.message };
  }
}

export interface MethodDef<S extends z.ZodType = z.ZodType> {
  params: S;
  /** False: callable without auth (login). Default true. */
  authenticated?: boolean;
  handler: (params: z.output<S>, ctx: RpcContext) => unknown | Promise<unknown>;
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

export class RpcDispatcher {
  readonly #methods = new Map<string, MethodDef>();
  register<S extends z.ZodType>(name: string, def: MethodDef<S>): this {
    if (this.#methods.has(name)) throw new Error(`Method "${name}" is already registered`);
    this.#methods.set(name, def as unknown as MethodDef);
    return this;
  }

  has(name: string): boolean {
    return this.#methods.has(name);
  }

  /** Method names, sorted (for help and tests). */
  names(): string[] {
    return [...this.#methods.keys()].sort();
  }

  /** Whether a method needs auth (unknown methods do, so they never leak existence). */
  requiresAuth(name: string): boolean {
    return this.#methods.get(name)?.authenticated !== false;
  }

  /** Calls one method; throws RpcError on any failure. */
  async call(method: string, params: unknown, ctx: RpcContext): Promise<unknown> {
    const def = this.#methods.get(method);
    if (!def) throw new RpcError(ErrorCode.MethodNotFound, `Method not found: "${method}"`);
    if (def.authenticated !== false && ctx.auth === 'none') {
      throw new RpcError(ErrorCode.Authorization, 'Unauthorized');
    }
    const parsed = def.params.safeParse(params ?? {});
    if (!parsed.success) throw paramsError(parsed.error);
    try {
      const result = await def.handler(parsed.data, ctx);
      return result === undefined ? null : result;
    } catch (err) {
      if (err instanceof RpcError) throw err;
      throw new RpcError(ErrorCode.Unknown, (err as Error)?.message ?? String(err));
    }
  }

  /** Handles a parsed request body (object or batch array); never throws. */
  async handle(body: unknown, ctx: RpcContext): Promise<RpcResponse | RpcResponse[]> {
    if (Array.isArray(body)) {
      if (body.length === 0) return envelopeError(null, 'Empty batch');
      const out: RpcResponse[] = [];
      // sequential: a batch is an ordered script of changes
      for (const item of body) out.push(await this.#one(item, ctx));
      return out;
    }
    return this.#one(body, ctx);
  }

  async #one(item: unknown, ctx: RpcContext): Promise<RpcResponse> {
    if (typeof item !== 'object' || item === null) {
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

function envelopeError(id: string | number | null, message: string): RpcResponse {
  return { jsonrpc: '2.0', id, error: { code: ErrorCode.InvalidEnvelope, message } };
}
