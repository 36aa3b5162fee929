// SPDX-License-Identifier: MIT
/**
 * Where things are and how big they may be: shared by the server, which serves them, and the
 * CLI, which finds them. Nothing here does I/O.
 * @module
 */

/** Default data directory (state, lock, the local API socket), mode 0700, root's. */
export const DEFAULT_DATA_DIR = '/var/lib/start-tunnel';
/** Environment variable the CLI and the daemon read for the data directory. */
export const DATA_DIR_ENV = 'START_TUNNEL_DATADIR';
/**
 * The local API's Unix socket, inside the data directory: only root can reach it (the
 * directory is 0700), and no other process can take its place while the daemon is down, as it
 * could a TCP port.
 */
export const API_SOCKET = 'api.sock';
/** The original's local API address (`TUNNEL_DEFAULT_LISTEN`); we no longer listen there. */
export const LEGACY_API_LISTEN = '127.0.59.60:5960';
export const DEFAULT_INTERFACE = 'wg-start-tunnel';
export const DEFAULT_LISTEN_PORT = 51820;
/** JSON-RPC endpoint path (any path under /rpc/ works, as in the original; clients use v0). */
export const RPC_PATH = '/rpc/v0';
/** A device counts as online when its last handshake is younger than this (3 × REKEY). */
export const ONLINE_WINDOW_MS = 180_000;

/** Largest request body an authenticated caller may send. */
export const MAX_BODY_BYTES = 1 << 20;
/** Largest body without authentication: one `auth.login` object fits with room to spare. */
export const MAX_UNAUTHENTICATED_BODY_BYTES = 4096;
/** Most requests in one batch. */
export const MAX_BATCH = 64;
/** Most open connections on the HTTPS listener. */
export const MAX_CONNECTIONS = 256;

/**
 * The SNI proxy connects to devices from the visitor's own address (IP_TRANSPARENT); packets of
 * such sockets carry this mark and are routed by this table to local delivery, the values the
 * original uses (https://github.com/Start9Labs/start-technologies, SNI demultiplexing).
 */
export const TRANSPARENT_MARK = 0x540001;
export const TRANSPARENT_TABLE = 1344;
/** Priority of the `ip rule` sending marked packets to that table. */
export const TRANSPARENT_RULE_PRIORITY = 49;
