// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/protocol: the control plane's wire contract, shared by the server, the CLI and
 * the panel. One zod schema per method for its parameters and its result (`methods`), the types
 * inferred from them, error codes, defaults, the name rules, and the typed dispatcher. No I/O,
 * no native code. The public API; nothing else is imported from outside the package.
 * @module
 */

export {
  isMethodName,
  isPublic,
  type MethodName,
  type MethodSchema,
  type Methods,
  methods,
  type Params,
  type ParsedParams,
  type Result,
} from './contract.ts';
export {
  dbMethods,
  formatPointer,
  MAX_PATCH_OPERATIONS,
  type PatchOperation,
  parsePointer,
  patchOperation,
  REDACTED,
} from './db.ts';
export * from './defaults.ts';
export {
  type DnsRecordInfo,
  type DnsType,
  dnsMethods,
  dnsRecordInfo,
  dnsTypeSchema,
} from './dns.ts';
export {
  ErrorCode,
  type ErrorCodeValue,
  RpcError,
  type RpcErrorObject,
  type RpcId,
  type RpcRequest,
  type RpcResponse,
} from './errors.ts';
export {
  canonicalIp,
  type IPv4Cidr,
  type IPv4Prefix,
  type IPv6Prefix,
  ipv4PrefixContains,
  ipv4PrefixesOverlap,
  ipv4PrefixLast,
  ipv4PrefixMask,
  ipv4ToNumber,
  ipv6PrefixContains,
  ipv6WithIPv4,
  isPublicIPv4,
  isUsableIPv4,
  numberToIPv4,
  type ParsedIp,
  parseIPv4Cidr,
  parseIPv6Prefix,
  parseIp,
} from './ip.ts';
export { parseListen } from './listen.ts';
export { isInterfaceName, MAX_NAME_LENGTH, nameProblem, nameSchema } from './names.ts';
export {
  type DispatcherOptions,
  type Handler,
  paramsError,
  type ResponseHooks,
  type RpcContext,
  RpcDispatcher,
} from './rpc.ts';
export {
  type AddedDevice,
  type DeviceConfig,
  type DeviceInfo,
  type DeviceKind,
  deviceKindSchema,
  type ForwardInfo,
  type PinholeInfo,
  type Protocol,
  type RedirectInfo,
  type StatusInfo,
  type SubnetInfo,
  tunnelMethods,
  type WanInfo,
} from './tunnel.ts';
export {
  type CertificateInfo,
  type GeneratedCertificateResult,
  type KeyInfo,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  passwordSchema,
  type SessionInfo,
  type WebStatus,
  webMethods,
} from './web.ts';
