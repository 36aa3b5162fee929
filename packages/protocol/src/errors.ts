// SPDX-License-Identifier: MIT
/**
 * Error codes and the JSON-RPC 2.0 envelope (https://www.jsonrpc.org/specification). Codes are
 * StartOS `ErrorKind` numbers where the original StartTunnel has one
 * (https://github.com/Start9Labs/start-os/blob/master/core/models/src/errors.rs), JSON-RPC codes
 * for envelope errors. An `RpcError` is what a handler throws on purpose: it reaches the caller
 * as is, with the parameter at fault in `data.field`.
 * @module
 */

export const ErrorCode = {
  Unknown: 1,
  NotFound: 6,
  IncorrectPassword: 7,
  Network: 9,
  Deserialization: 12,
  InvalidSignature: 31,
  Authorization: 34,
  RateLimited: 37,
  InvalidRequest: 38,
  ParseNetAddress: 41,
  OpenSsl: 49,
  PasswordHashGeneration: 50,
  /** JSON-RPC 2.0 */
  ParseError: -32700,
  InvalidEnvelope: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface RpcErrorObject {
  code: number;
  message: string;
  /** `field`: the parameter at fault (dotted path), `details`: the reason. */
  data?: { field?: string; details?: string };
}

export type RpcId = string | number | null;

export interface RpcRequest {
  jsonrpc?: '2.0';
  id?: RpcId;
  method: string;
  params?: unknown;
}

export type RpcResponse =
  | { jsonrpc: '2.0'; id: RpcId; result: unknown }
  | { jsonrpc: '2.0'; id: RpcId; error: RpcErrorObject };

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
