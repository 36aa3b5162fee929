// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/tunnel: the control plane as a library — the state store, the subnets/devices/
 * forwards model, the controller that drives a data plane, and the JSON-RPC handlers. The
 * process around it (listeners, signals, the Linux data plane) is `@start-tunnel/server`'s.
 * The package's public API; fakes live in `@start-tunnel/tunnel/testing`.
 * @module
 */

export { hosts6 } from './addr6.ts';
export {
  type AutoMap,
  AutoMapError,
  autoMapper,
  autoMappings,
  mapAuto,
  unmapAuto,
} from './auto.ts';
export { formatEndpoint, PRIVATE_KEY_PLACEHOLDER, renderConfig } from './config.ts';
export type { Dataplane, Ipv6Routes, PeerSpec, PeerStatus } from './dataplane.ts';
export { patchState, redactState, registerDbMethods } from './db.ts';
export { checkState } from './db-check.ts';
export {
  applyDnsChanges,
  DNS_UPDATE_KEY_NAME,
  type DnsChange,
  dnsInjector,
  dnsUpdateKey,
} from './dns.ts';
export { effectiveWan } from './egress.ts';
export { registerTunnelMethods } from './handlers.ts';
export { registerGatewayMethods } from './handlers-gateway.ts';
export { type LeaseView, leaseKey } from './info.ts';
export { isPublicIPv4, parseIPv4 } from './ipv4.ts';
export {
  getSubnet,
  initialState,
  type ModelEnv,
  newSubnet,
  parseSource,
  parseSubnet,
  publicKeyOf,
  setWanOverride,
  systemEnv,
} from './model.ts';
export {
  checkForwardPort80,
  publicAddresses,
  redirectListeners,
  redirects,
} from './redirect.ts';
export {
  type DeviceRecord,
  type DnsRecordEntry,
  type ForwardRecord,
  migrate,
  type PinholeRecord,
  SCHEMA_VERSION,
  SchemaError,
  type SniPortRecord,
  type SniRouteRecord,
  type State,
  type SubnetRecord,
} from './schema.ts';
export { checkNotSni, routeFor, sniAddress } from './sni.ts';
export { LOCK_FILE, STATE_FILE, Store, StoreError } from './store.ts';
export {
  peersOf,
  type ReservedPort,
  type StateStore,
  Tunnel,
  type TunnelOptions,
} from './tunnel.ts';
export {
  type AddressSource,
  detectWanAddress,
  type InterfaceAddress,
  systemAddresses,
  wanInfo,
  wanInterfaces,
} from './wan.ts';
