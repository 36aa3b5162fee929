// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/wg-core: a userspace WireGuard. The public API of the package; nothing else is
 * imported from outside it.
 *
 * @example
 * ```ts
 * import { Device, MemoryBind, MemoryNetwork, MemoryTun, parsePrefix } from '@start-tunnel/wg-core';
 * const net = new MemoryNetwork();
 * const dev = new Device({ tun: new MemoryTun(), bind: new MemoryBind(net, '192.0.2.1') });
 * dev.setPrivateKey(privateKey);
 * const peer = dev.addPeer(peerPublicKey)!;
 * dev.addAllowedIP(peer, parsePrefix('10.59.0.2/32'));
 * await dev.up();
 * ```
 * @module
 */

export type { Prefix } from './allowedips.ts';
export { AllowedIPs, formatPrefix, parsePrefix } from './allowedips.ts';
export { IDEAL_BATCH_SIZE, PacketBatch, TUN_HEADROOM, TUN_TAILROOM } from './batch.ts';
export type { Bind, Endpoint, ReceiveFn } from './bind.ts';
export { formatEndpoint } from './bind.ts';
export type { Datagram, Tap } from './bind-memory.ts';
export { MemoryBind, MemoryNetwork } from './bind-memory.ts';
export type { BindStats, UdpBindOptions, UdpOffloadState } from './bind-udp.ts';
export { parseUdpEndpoint, UdpBind, UdpEndpoint } from './bind-udp.ts';
export type { Clock } from './clock.ts';
export { systemClock } from './clock.ts';
export { FakeClock } from './clock-fake.ts';
export * from './constants.ts';
export type { Crypto, DhPrivateKey } from './crypto.ts';
export { defaultCrypto, nativeCrypto, nativeCryptoAvailable } from './crypto-native.ts';
export { nobleCrypto } from './crypto-noble.ts';
export { nodeCrypto } from './crypto-node.ts';
export type { CryptoPoolOptions } from './crypto-pool.ts';
export { CryptoPool, defaultCryptoWorkers, MAX_CRYPTO_WORKERS } from './crypto-pool.ts';
export type { DeviceEvents, DeviceOptions, DropCounters } from './device.ts';
export { Device } from './device.ts';
export { keysEqual, keyToBase64, keyToHex, parseKeyBase64, parseKeyHex } from './keys.ts';
export { lockFileExclusive } from './lock.ts';
export type { Logger, LogLevel } from './logger.ts';
export { createLogger, silentLogger } from './logger.ts';
export type { TransparentConnectOptions } from './native.ts';
export { connectTransparent } from './native.ts';
export type { PeerStats } from './peer.ts';
export { Peer } from './peer.ts';
export type { TunDevice, TunEvent } from './tun.ts';
export type { LinuxTunOptions, TunOffloadState, TunStats } from './tun-linux.ts';
export { DEFAULT_TUN_MTU, LinuxTun } from './tun-linux.ts';
export { MemoryTun } from './tun-memory.ts';
export type { UapiServerOptions } from './uapi.ts';
export { ipcGet, ipcSet, UapiError, UapiServer } from './uapi.ts';
