// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/cli: the `start-tunnel` command line. Public API: `run()` (one command line
 * with injectable I/O) and the client that reaches a daemon. Remote mode (`remote.ts`, which
 * loads the panel's signing code) is not re-exported here: `main.ts` imports it on demand.
 * @module
 */

export {
  type ConnectOptions,
  connect,
  DEFAULT_TIMEOUT_MS,
  HttpTransport,
  type HttpTransportOptions,
  LocalTransport,
  localSocketPath,
  type RemoteConnector,
  type RemoteOptions,
  RpcClient,
  resolveDataDir,
  rpcErrorMessage,
  rpcUrl,
  type Transport,
  TransportError,
  type TransportFailure,
} from './client.ts';
export type { CliIo, GlobalOptions } from './command.ts';
export {
  CliError,
  ClientError,
  exitCodeFor,
  RpcCallError,
  USAGE_EXIT,
  UsageError,
} from './errors.ts';
export { main, ROOT, run, VERSION } from './main.ts';
export { processTerminal, type Terminal } from './terminal.ts';
