// SPDX-License-Identifier: MIT
/**
 * The wire contract of the control plane: JSON-RPC method names, their parameters and results,
 * the error codes, and where a local client finds the daemon. The method names and parameter
 * shapes follow StartTunnel's (`starttunnel.md` §2 and §8: dotted subcommand paths, camelCase
 * objects, StartOS ErrorKind numbers), with our additions marked. Shared by the daemon, the CLI
 * and the panel; nothing here does I/O.
 * @module
 */

/** Default data directory (state, lock, local API cookie). */
export const DEFAULT_DATA_DIR = '/var/lib/start-tunnel';
/** Environment variable the CLI reads for the data directory. */
export const DATA_DIR_ENV = 'START_TUNNEL_DATADIR';
/** The local API listens here by default (StartTunnel's `TUNNEL_DEFAULT_LISTEN`). */
export const DEFAULT_API_LISTEN = '127.0.59.60:5960';
export const DEFAULT_INTERFACE = 'wg-start-tunnel';
export const DEFAULT_LISTEN_PORT = 51820;
/** JSON-RPC endpoint path (any path under /rpc/ works in the original; the CLI uses v0). */
export const RPC_PATH = '/rpc/v0';
/** File in the data directory holding the local API secret (0600, new at every daemon start). */
export const COOKIE_FILE = 'auth.cookie';
/** Name of the cookie carrying that secret: `Cookie: local=<contents>`. */
export const LOCAL_COOKIE_NAME = 'local';
/** File in the data directory where the running daemon records its API address (JSON). */
export const DAEMON_FILE = 'daemon.json';
/** A device counts as online when its last handshake is younger than this (3 × REKEY). */
export const ONLINE_WINDOW_MS = 180_000;

/** Contents of `DAEMON_FILE`. */
export interface DaemonInfo {
  pid: number;
  /** `IP:PORT` of the local API. */
  api: string;
  interface: string;
  listenPort: number;
  startedAt: string;
}

/**
 * Error codes: StartOS ErrorKind numbers where the original has one, JSON-RPC 2.0 codes for
 * envelope errors (`starttunnel.md` §8).
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

export interface RpcRequest {
  jsonrpc?: '2.0';
  id?: string | number | null;
  method: string;
  params?: unknown;
}

export interface RpcErrorObject {
  code: number;
  message: string;
  /** `field`: the parameter at fault (dotted path), `details`: the reason. */
  data?: { field?: string; details?: string };
}

export type RpcResponse =
  | { jsonrpc: '2.0'; id: string | number | null; result: unknown }
  | { jsonrpc: '2.0'; id: string | number | null; error: RpcErrorObject };

export type Protocol = 'tcp' | 'udp' | 'both';

// ---- results -------------------------------------------------------------------------------

export interface SubnetInfo {
  /** Canonical key: the gateway (`.1`) address with the prefix, e.g. `10.59.7.1/24`. */
  subnet: string;
  name: string;
  /** Network form, e.g. `10.59.7.0/24`. */
  network: string;
  devices: number;
}

export interface DeviceInfo {
  subnet: string;
  name: string;
  ip: string;
  publicKey: string;
  /** True when the server never held this device's private key (bring your own key). */
  ownKey: boolean;
  /** Last seen `IP:PORT`, or null. */
  endpoint: string | null;
  /** ISO 8601, or null before the first handshake. */
  lastHandshake: string | null;
  rxBytes: number;
  txBytes: number;
  online: boolean;
}

/** `device.add` result. */
export interface AddedDevice {
  subnet: string;
  name: string;
  ip: string;
  publicKey: string;
  ownKey: boolean;
}

/** `device.show-config` result. */
export interface DeviceConfig {
  subnet: string;
  name: string;
  ip: string;
  /** The wg-quick config text (with a placeholder for the private key when `ownKey`). */
  config: string;
  ownKey: boolean;
  /** Suggested file name, `start-tunnel.conf` as in the original. */
  filename: string;
}

export interface ForwardInfo {
  /** `IP:PORT`, `IP:PORT-PORT`, or `PORT`/`PORT-PORT` for the WAN address. */
  source: string;
  /** `DEVICE_IP:PORT` (first port of a range). */
  target: string;
  protocol: Protocol;
  label: string | null;
  enabled: boolean;
  /** Packets and bytes DNATed since the rule was created (0 when disabled or unknown). */
  packets: number;
  bytes: number;
}

export interface WanInfo {
  /** The address in use: the override, else the detected one, else null. */
  address: string | null;
  source: 'override' | 'detected' | 'none';
  override: string | null;
  detected: string | null;
  /** Interfaces treated as WAN (every up, non-loopback, non-tunnel interface). */
  interfaces: string[];
}

export interface StatusInfo {
  version: string;
  interface: string;
  listenPort: number;
  publicKey: string;
  wan: WanInfo;
  subnets: number;
  devices: number;
  online: number;
  forwards: number;
  startedAt: string;
  /** The last nat apply: ok, or its error; drift lists rules the kernel shows differently. */
  nat: { ok: boolean; error: string | null; drift: string[] };
}

// ---- methods -------------------------------------------------------------------------------

/** Every method of the local API with its parameters and result. */
export interface Methods {
  'subnet.list': { params: Record<string, never>; result: SubnetInfo[] };
  /** Upsert: re-adding an existing subnet renames it (the original's "edit"). */
  'subnet.add': { params: { subnet: string; name: string }; result: SubnetInfo };
  'subnet.remove': { params: { subnet: string }; result: null };
  'device.list': { params: { subnet: string }; result: DeviceInfo[] };
  /** An existing `ip` is renamed (keys kept), as in the original. */
  'device.add': {
    params: { subnet: string; name: string; ip?: string; publicKey?: string };
    result: AddedDevice;
  };
  'device.remove': { params: { subnet: string; ip: string }; result: null };
  /** `endpoint` is `HOST` or `HOST:PORT` (ours; the original's `wanAddr`). */
  'device.show-config': {
    params: { subnet: string; ip: string; endpoint?: string };
    result: DeviceConfig;
  };
  'port-forward.list': { params: Record<string, never>; result: ForwardInfo[] };
  'port-forward.add': {
    params: { source: string; target: string; protocol?: Protocol; label?: string };
    result: ForwardInfo;
  };
  'port-forward.remove': { params: { source: string }; result: null };
  'port-forward.set-enabled': {
    params: { source: string; enabled: boolean };
    result: ForwardInfo;
  };
  'port-forward.update-label': {
    params: { source: string; label?: string | null };
    result: ForwardInfo;
  };
  'wan.show': { params: Record<string, never>; result: WanInfo };
  'wan.set': { params: { ip: string }; result: WanInfo };
  'wan.auto': { params: Record<string, never>; result: WanInfo };
  status: { params: Record<string, never>; result: StatusInfo };
}
export type MethodName = keyof Methods;
