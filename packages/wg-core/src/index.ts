// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/wg-core: a userspace WireGuard. The public API of the package; nothing else is
 * imported from outside it.
 * @module
 */

export { IDEAL_BATCH_SIZE, PacketBatch, TUN_HEADROOM, TUN_TAILROOM } from './batch.ts';
export type { Bind, Endpoint, ReceiveFn } from './bind.ts';
export { formatEndpoint } from './bind.ts';
export * from './constants.ts';
export type { Crypto, DhPrivateKey } from './crypto.ts';
export { nobleCrypto } from './crypto-noble.ts';
export { nodeCrypto } from './crypto-node.ts';
export type { Logger, LogLevel } from './logger.ts';
export { createLogger, silentLogger } from './logger.ts';
export type { TunDevice, TunEvent } from './tun.ts';
