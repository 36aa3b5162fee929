// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/tunnel: the control plane. Public API.
 * @module
 */

export {
  LocalApi,
  type LocalApiOptions,
  newLocalSecret,
  parseListen,
  readCookie,
  secretsEqual,
} from './api.ts';
export type { DaemonOptions } from './daemon.ts';
export * from './protocol.ts';
export { type MethodDef, paramsError, type RpcContext, RpcDispatcher, RpcError } from './rpc.ts';
