// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/tunnel: the control plane — the state store, the subnets/devices/forwards
 * model, the JSON-RPC methods, the local API and the daemon that drives wg-core and nat.
 * The package's public API; nothing else is imported from outside it.
 * @module
 */

export {
  LocalApi,
  type LocalApiOptions,
  MAX_BODY_BYTES,
  newLocalSecret,
  parseListen,
  readCookie,
  secretsEqual,
} from './api.ts';
export { formatEndpoint, PRIVATE_KEY_PLACEHOLDER, renderConfig } from './config.ts';
export {
  checkDaemonOptions,
  type DaemonContext,
  type DaemonExtension,
  type DaemonOptions,
  type RunningDaemon,
  runDaemon,
  startDaemon,
  tunnelVersion,
} from './daemon.ts';
export type { Dataplane, PeerSpec, PeerStatus } from './dataplane.ts';
export { LinuxDataplane, type LinuxDataplaneOptions } from './dataplane-linux.ts';
export { MemoryDataplane } from './dataplane-memory.ts';
export { registerTunnelMethods, schemas } from './handlers.ts';
export { isPublicIPv4, parseIPv4 } from './ipv4.ts';
export {
  initialState,
  MAX_NAME_LENGTH,
  type ModelEnv,
  parseSource,
  parseSubnet,
  publicKeyOf,
  systemEnv,
} from './model.ts';
export * from './protocol.ts';
export { type MethodDef, paramsError, type RpcContext, RpcDispatcher, RpcError } from './rpc.ts';
export {
  type DeviceRecord,
  type ForwardRecord,
  migrate,
  SCHEMA_VERSION,
  SchemaError,
  type State,
  type SubnetRecord,
} from './schema.ts';
export { LOCK_FILE, STATE_FILE, Store, StoreError } from './store.ts';
export { peersOf, Tunnel, type TunnelOptions } from './tunnel.ts';
export {
  type AddressSource,
  detectWanAddress,
  type InterfaceAddress,
  systemAddresses,
  wanInfo,
  wanInterfaces,
} from './wan.ts';
