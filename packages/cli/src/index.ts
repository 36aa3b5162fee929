// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/cli: the `start-tunnel` command line. Public API: `run()` (one command line
 * with injectable I/O) and the client that reaches a daemon.
 * @module
 */

export {
  type ConnectOptions,
  connect,
  DEFAULT_TIMEOUT_MS,
  HttpTransport,
  type HttpTransportOptions,
  type LocalEndpoint,
  LocalTransport,
  type RemoteConnector,
  type RemoteOptions,
  RpcClient,
  readLocalEndpoint,
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
export { parseTunnelAddress, RemoteTransport, remoteConnector } from './remote.ts';
export { processTerminal, type Terminal } from './terminal.ts';
export { type WebExtensionOptions, webExtension } from './web-extension.ts';
export type { AllMethods, AnyMethodName } from './web-methods.ts';
export { webSectionStore } from './web-store.ts';
