// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/nat: the desired forwarding state of the VPS (port forwards, subnet egress,
 * subnet isolation) as one nftables table of our own, `inet start-tunnel`, replaced atomically.
 * The public API of the package; nothing else is imported from outside it.
 * @module
 */

export type { PortRange, Prefix } from './address.ts';
export type { ApplyOptions, ApplyResult, NatOptions } from './apply.ts';
export {
  applyState,
  checkDrift,
  readCounters,
  readForwardCounters,
  readTable,
  teardown,
} from './apply.ts';
export type { DriftItem } from './drift.ts';
export { compareTable } from './drift.ts';
export type { ExecaNftOptions, NftErrorCode, NftResult, NftRunner } from './nft.ts';
export { execaNftRunner, NftError } from './nft.ts';
export type { NftCall } from './nft-fake.ts';
export { RecordingNftRunner } from './nft-fake.ts';
export { normalizeExpr } from './normalize.ts';
export type { CounterValue } from './rules.ts';
export { buildRuleset, ISOLATION_COUNTER, TABLE_FAMILY, TABLE_NAME } from './rules.ts';
export type * from './schema.ts';
export type {
  Egress,
  Forward,
  ForwardState,
  HostEgress,
  HostEgressState,
  NatConfig,
  NatIssue,
  NatState,
  Pinhole,
  PinholeState,
  Protocol,
  ReservedPort,
  Subnet,
  SubnetState,
  WanState,
  WireGuardState,
} from './state.ts';
export { NatStateError, validateState } from './state.ts';
export type { Sysctl } from './sysctl.ts';
export { FORWARDING_SYSCTLS, forwardingSysctls, procSysctl } from './sysctl.ts';
