// SPDX-License-Identifier: MIT
/**
 * A WireGuard interface in-process (kernel `device.c`, wireguard-go `device/device.go`): our
 * static key, the peers by public key, cryptokey routing, the index table, the handshake queue,
 * and the configuration API the UAPI and the start-tunnel daemon call. Peers are added, changed
 * and removed live; other peers are never touched. The data path lives in `send.ts` and
 * `receive.ts`; the device only wires the TUN and the bind to them, and, with `workers`, owns
 * the crypto pool (`crypto-pool.ts`) their AEAD work moves to.
 * @module
 */

import { EventEmitter } from 'node:events';
import { type AeadBatchFn, AeadScratchPool, aeadBatchOf } from './aead-batch.ts';
import { AllowedIPs, formatPrefix, type Prefix } from './allowedips.ts';
import { IDEAL_BATCH_SIZE, PacketBatch } from './batch.ts';
import type { Bind, Endpoint } from './bind.ts';
import { type Clock, systemClock } from './clock.ts';
import {
  DEFAULT_MTU,
  MAX_PEERS,
  QUEUE_HANDSHAKE_SIZE,
  REJECT_AFTER_MESSAGES,
  REJECT_AFTER_TIME_MS,
  REKEY_AFTER_TIME_MS,
} from './constants.ts';
import { CookieChecker } from './cookie.ts';
import type { Crypto, DhPrivateKey } from './crypto.ts';
import { isZero, KEY_SIZE } from './crypto.ts';
import { defaultCrypto } from './crypto-native.ts';
import { type CryptoJob, CryptoPool, MAX_CRYPTO_WORKERS, OP_SEAL } from './crypto-pool.ts';
import { IndexTable } from './index-table.ts';
import type { Keypair } from './keypair.ts';
import { keysEqual, keyToBase64 } from './keys.ts';
import { type Logger, silentLogger } from './logger.ts';
import { MESSAGE_INITIATION_SIZE, MESSAGE_TRANSPORT_HEADER_SIZE } from './messages.ts';
import { type NoiseDevice, precomputeStaticStatic } from './noise.ts';
import { Peer, type PeerStats } from './peer.ts';
import { Ratelimiter } from './ratelimiter.ts';
import { completeOpen, processHandshakeQueue, receivePackets } from './receive.ts';
import { completeSeal, sendHandshakeInitiation, sendKeepalive, sendPackets } from './send.ts';
import type { TimerActions } from './timers.ts';
import type { TunDevice } from './tun.ts';

export interface DeviceOptions {
  /** Crypto backend; `defaultCrypto()` (native AEAD when available, else node:crypto). */
  crypto?: Crypto;
  clock?: Clock;
  logger?: Logger;
  /** The UDP side; null for a device driven by hand (tests). */
  bind?: Bind | null;
  /** The TUN side; null for a device driven by hand (tests). */
  tun?: TunDevice | null;
  /** Uniform random in [0, 1) for timer jitter. */
  random?: () => number;
  /** MTU used for padding when there is no TUN; default 1420. */
  mtu?: number;
  /** Handshake messages processed per turn of the event loop before yielding. */
  handshakeBudget?: number;
  /** Test hook: the ephemeral keys the handshake uses. */
  generateEphemeral?: () => DhPrivateKey;
  /** Test hook: the source of receiver indices (uniform random u32 by default). */
  randomIndex?: () => number;
  /**
   * Test hook: rekey after this many ms instead of REKEY_AFTER_TIME (120 s), to force rekeys
   * in interop labs. Values at or above REJECT_AFTER_TIME are refused.
   */
  rekeyAfterTimeMs?: number;
  /**
   * Worker threads for the transport AEAD (`crypto-pool.ts`, `defaultCryptoWorkers()`); 0, the
   * default, runs it inline and synchronously. With workers, see `flush()`.
   */
  workers?: number;
}

/** Why packets were dropped; every drop on the data path is counted in one of these. */
export interface DropCounters {
  /** Wrong size, unknown type, non-zero reserved bytes. */
  malformed: number;
  /** Handshake message with a bad mac1. */
  badMac1: number;
  /** Handshake message that failed to authenticate, replayed, or flooded. */
  handshakeRejected: number;
  /** Handshake message refused by the per-IP rate limit under load. */
  ratelimited: number;
  /** Handshake queue full. */
  queueFull: number;
  /** Transport packet for an unknown receiver index or an expired keypair. */
  unknownKeypair: number;
  /** Transport packet failing authentication. */
  decryptFailed: number;
  /** Counter already seen, too old for the window, or at the reject limit. */
  replayed: number;
  /** Decrypted packet that is not a well-formed IPv4/IPv6 packet. */
  invalidPacket: number;
  /** Inner source address not in the sending peer's allowed IPs. */
  notAllowed: number;
  /** Outbound packet whose destination no peer's allowed IPs cover. */
  noRoute: number;
  /** Outbound packet for a peer with no endpoint yet. */
  noEndpoint: number;
  /** Staged packets dropped: queue full, or the handshake gave up. */
  stagedDropped: number;
  /** Packet too large for its slot. */
  tooLarge: number;
  /** Transport packet dropped because every crypto job was in flight (crypto pool only). */
  cryptoQueueFull: number;
  /** Transport packet lost to a crypto worker that failed or crashed (crypto pool only). */
  cryptoFailed: number;
}

export interface DeviceEvents {
  handshake: [peer: Peer];
  expired: [peer: Peer];
}

function newCounters(): DropCounters {
  return {
    malformed: 0,
    badMac1: 0,
    handshakeRejected: 0,
    ratelimited: 0,
    queueFull: 0,
    unknownKeypair: 0,
    decryptFailed: 0,
    replayed: 0,
    invalidPacket: 0,
    notAllowed: 0,
    noRoute: 0,
    noEndpoint: 0,
    stagedDropped: 0,
    tooLarge: 0,
    cryptoQueueFull: 0,
    cryptoFailed: 0,
  };
}

/** The bounded queue of handshake messages waiting for the (costly) DH work. */
export class HandshakeQueue {
  readonly data = new Uint8Array(QUEUE_HANDSHAKE_SIZE * MESSAGE_INITIATION_SIZE);
  readonly lengths = new Uint16Array(QUEUE_HANDSHAKE_SIZE);
  readonly endpoints: (Endpoint | null)[] = new Array(QUEUE_HANDSHAKE_SIZE).fill(null);
  head = 0;
  length = 0;

  push(src: Uint8Array, off: number, len: number, endpoint: Endpoint | null): boolean {
    if (this.length >= QUEUE_HANDSHAKE_SIZE) return false;
    const slot = (this.head + this.length) % QUEUE_HANDSHAKE_SIZE;
    this.data.set(src.subarray(off, off + len), slot * MESSAGE_INITIATION_SIZE);
    this.lengths[slot] = len;
    this.endpoints[slot] = endpoint;
    this.length++;
    return true;
  }

  /** Slot index of the oldest message; call `shift()` when done with it. */
  peek(): number {
    return this.head;
  }

  shift(): void {
    this.endpoints[this.head] = null;
    this.head = (this.head + 1) % QUEUE_HANDSHAKE_SIZE;
    this.length--;
  }

  clear(): void {
    this.endpoints.fill(null);
    this.head = 0;
    this.length = 0;
  }
}

export class Device extends EventEmitter<DeviceEvents> implements NoiseDevice<Peer> {
  readonly crypto: Crypto;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly bind: Bind | null;
  readonly tun: TunDevice | null;
  readonly random: () => number;
  readonly indexTable: IndexTable<Peer>;
  readonly allowedIPs = new AllowedIPs<Peer>();
  readonly cookieChecker: CookieChecker;
  readonly ratelimiter: Ratelimiter;
  readonly drops: DropCounters = newCounters();
  /** Cookie replies sent while under load. */
  cookieRepliesSent = 0;
  /** @internal handshake messages waiting for processing */
  readonly handshakeQueue = new HandshakeQueue();
  /** @internal monotonic ms until which the device counts as under load */
  underLoadUntil = Number.NEGATIVE_INFINITY;
  /** @internal a one-slot batch for handshakes, cookie replies and keepalives */
  readonly controlBatch = new PacketBatch(1, 256);
  /** @internal the batch staged packets are flushed through (grows with the MTU) */
  stagingBatch: PacketBatch;
  /** @internal room for one handshake message being built */
  readonly handshakeScratch = new Uint8Array(MESSAGE_INITIATION_SIZE);
  /** @internal room for one keepalive (header + tag) */
  readonly keepaliveScratch = new Uint8Array(MESSAGE_TRANSPORT_HEADER_SIZE + 16);
  /** @internal peers that sent in the batch being processed */
  readonly touchedPeers: Peer[] = [];
  /** @internal increments per batch; see `Peer.batchMark` */
  batchMark = 0;
  /** @internal 12-byte AEAD nonce scratch (4 zero bytes ‖ u64 counter) */
  readonly nonce = new Uint8Array(12);
  /** @internal the transport AEAD a batch per call, and its per-batch scratch */
  readonly aead: AeadBatchFn;
  readonly aeadScratch = new AeadScratchPool();
  readonly handshakeBudget: number;
  /** REKEY_AFTER_TIME, or the test override. */
  readonly rekeyAfterTimeMs: number;
  /** The crypto worker pool; null when the AEAD runs inline. */
  readonly pool: CryptoPool | null = null;
  readonly #peers = new Map<string, Peer>();
  readonly #generateEphemeral: (() => DhPrivateKey) | undefined;
  readonly #mtu: number;
  #identity: DhPrivateKey | null = null;
  #listenPort = 0;
  #fwmark = 0;
  #up = false;
  #drainScheduled = false;
  readonly #actions: TimerActions<Peer>;

  constructor(options: DeviceOptions = {}) {
    super();
    this.crypto = options.crypto ?? defaultCrypto();
    this.aead = aeadBatchOf(this.crypto);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.bind = options.bind ?? null;
    this.tun = options.tun ?? null;
    this.random = options.random ?? Math.random;
    this.#mtu = options.mtu ?? DEFAULT_MTU;
    this.handshakeBudget = options.handshakeBudget ?? 16;
    const rekey = options.rekeyAfterTimeMs ?? REKEY_AFTER_TIME_MS;
    if (!(rekey > 0 && rekey < REJECT_AFTER_TIME_MS)) {
      throw new RangeError(`Cannot use rekeyAfterTimeMs ${rekey}: must be 0 < ms < 180000`);
    }
    this.rekeyAfterTimeMs = rekey;
    const workers = options.workers ?? 0;
    if (!Number.isInteger(workers) || workers < 0 || workers > MAX_CRYPTO_WORKERS) {
      throw new RangeError(
        `Cannot use workers ${workers}: must be an integer 0..${MAX_CRYPTO_WORKERS}`
      );
    }
    if (workers > 0) {
      try {
        this.pool = new CryptoPool({ workers, logger: this.logger, complete: this.#complete });
      } catch (err) {
        this.logger.error(`Cannot start ${workers} crypto workers, running inline: ${String(err)}`);
      }
    }
    this.#generateEphemeral = options.generateEphemeral;
    const u32 = new Uint32Array(1);
    const u32Bytes = new Uint8Array(u32.buffer);
    this.indexTable = new IndexTable<Peer>(
      options.randomIndex ??
        (() => {
          this.crypto.randomBytes(u32Bytes);
          return u32[0]!;
        })
    );
    this.cookieChecker = new CookieChecker(this.crypto, () => this.clock.now());
    this.ratelimiter = new Ratelimiter(() => this.clock.now());
    this.stagingBatch = new PacketBatch(IDEAL_BATCH_SIZE, 2048);
    this.#actions = {
      sendHandshakeInitiation: (peer, isRetry) => {
        if (peer.live) sendHandshakeInitiation(this, peer, isRetry);
      },
      sendKeepalive: (peer) => {
        if (peer.live) sendKeepalive(this, peer);
      },
      handshakeGaveUp: (peer) => {
        this.logger.verbose(`${peer}: handshake did not complete after 90 s, giving up`);
        this.drops.stagedDropped += peer.staged.length;
        peer.staged.length = 0;
      },
      zeroKeyMaterial: (peer) => {
        this.logger.verbose(`${peer}: removing all keys, since no new keys were derived for 540 s`);
        this.#zeroAndFlush(peer);
        this.emit('expired', peer);
      },
      clearSource: () => {},
    };
    this.tun?.setReceiver((batch) => sendPackets(this, batch));
    this.bind?.setReceiver((batch) => receivePackets(this, batch));
  }

  // ---- NoiseDevice -------------------------------------------------------------------------

  get staticIdentity(): DhPrivateKey | null {
    return this.#identity;
  }

  lookupPeer(publicKey: Uint8Array): Peer | undefined {
    return this.#peers.get(keyToBase64(publicKey));
  }

  now(): number {
    return this.clock.now();
  }

  wallNow(): number {
    return this.clock.wallNow();
  }

  generateEphemeral(): DhPrivateKey {
    return this.#generateEphemeral ? this.#generateEphemeral() : this.crypto.generatePrivateKey();
  }

  // ---- identity and sockets ------------------------------------------------------------------

  get privateKey(): Uint8Array | null {
    return this.#identity ? this.#identity.privateKey : null;
  }

  get publicKey(): Uint8Array | null {
    return this.#identity ? this.#identity.publicKey : null;
  }

  /**
   * Sets our static private key (null or all zeros removes it). A peer with our own new public
   * key is removed; every static-static DH is recomputed and current sessions are expired
   * (wireguard-go `SetPrivateKey`).
   */
  setPrivateKey(key: Uint8Array | null): void {
    if (key !== null && key.length !== KEY_SIZE) {
      throw new TypeError(`Cannot set private key: expected 32 bytes, got ${key.length}`);
    }
    const identity = key === null || isZero(key) ? null : this.crypto.importPrivateKey(key);
    if (identity && this.#identity && keysEqual(identity.privateKey, this.#identity.privateKey)) {
      return;
    }
    if (identity) {
      const self = this.lookupPeer(identity.publicKey);
      if (self) this.removePeer(self.publicKey);
    }
    this.#identity = identity;
    this.cookieChecker.init(identity ? identity.publicKey : null);
    for (const peer of this.#peers.values()) {
      precomputeStaticStatic(this.crypto, identity, peer.handshake);
      this.#expireCurrentKeypairs(peer);
    }
  }

  get listenPort(): number {
    return this.#listenPort;
  }

  /** Sets the UDP port (0 = random); rebinds at once when the device is up. */
  async setListenPort(port: number): Promise<void> {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`Cannot set listen port ${port}: must be an integer 0..65535`);
    }
    if (this.#up && this.bind && port !== this.#listenPort) {
      await this.bind.close();
      this.#listenPort = await this.bind.open(port);
      this.bind.setMark(this.#fwmark);
      return;
    }
    this.#listenPort = port;
  }

  get fwmark(): number {
    return this.#fwmark;
  }

  setFwmark(mark: number): void {
    if (!Number.isInteger(mark) || mark < 0 || mark > 0xffff_ffff) {
      throw new RangeError(`Cannot set fwmark ${mark}: must be an integer 0..4294967295`);
    }
    this.#fwmark = mark;
    if (this.#up) this.bind?.setMark(mark);
  }

  get mtu(): number {
    return this.tun ? this.tun.mtu() : this.#mtu;
  }

  get isUp(): boolean {
    return this.#up;
  }

  /** Opens the bind on the listen port and starts the peers. */
  async up(): Promise<void> {
    if (this.#up) return;
    if (this.bind) {
      this.#listenPort = await this.bind.open(this.#listenPort);
      this.bind.setMark(this.#fwmark);
    }
    this.#up = true;
    for (const peer of this.#peers.values()) {
      if (peer.timers.persistentKeepaliveInterval > 0) sendKeepalive(this, peer);
    }
  }

  /** Stops every peer (keys zeroed, staged packets dropped) and closes the bind. */
  async down(): Promise<void> {
    if (!this.#up) return;
    this.#up = false;
    for (const peer of this.#peers.values()) this.#stopPeer(peer);
    this.handshakeQueue.clear();
    await this.bind?.close();
  }

  /** Down, then forget every peer; closes the TUN and terminates the crypto workers. */
  async close(): Promise<void> {
    await this.down();
    this.removeAllPeers();
    this.ratelimiter.close();
    await this.pool?.close();
    await this.tun?.close();
  }

  /** Resolves once nothing (nor what it caused) is in the crypto pool; at once when inline. */
  flush(): Promise<void> {
    return this.pool ? this.pool.flush() : Promise.resolve();
  }

  // ---- peers ---------------------------------------------------------------------------------

  get peerCount(): number {
    return this.#peers.size;
  }

  peers(): IterableIterator<Peer> {
    return this.#peers.values();
  }

  getPeer(publicKey: Uint8Array): Peer | undefined {
    return this.lookupPeer(publicKey);
  }

  /**
   * Returns the peer with `publicKey`, creating it when absent. Returns null for our own public
   * key (wireguard-go ignores such a peer). Throws past MAX_PEERS.
   */
  addPeer(publicKey: Uint8Array): Peer | null {
    if (publicKey.length !== KEY_SIZE) {
      throw new TypeError(`Cannot add peer: public key must be 32 bytes, got ${publicKey.length}`);
    }
    if (this.#identity && keysEqual(publicKey, this.#identity.publicKey)) return null;
    const existing = this.lookupPeer(publicKey);
    if (existing) return existing;
    if (this.#peers.size >= MAX_PEERS) {
      throw new RangeError(`Cannot add peer: the device already has ${MAX_PEERS} peers`);
    }
    const peer = new Peer(this.crypto, this.clock, this.random, publicKey, this.#actions);
    precomputeStaticStatic(this.crypto, this.#identity, peer.handshake);
    this.#peers.set(keyToBase64(peer.publicKey), peer);
    return peer;
  }

  /** Removes a peer: its routes, indices, keys, timers and staged packets. */
  removePeer(publicKey: Uint8Array): boolean {
    const peer = this.lookupPeer(publicKey);
    if (!peer) return false;
    peer.live = false;
    this.#stopPeer(peer);
    this.allowedIPs.removeByPeer(peer);
    this.#peers.delete(keyToBase64(peer.publicKey));
    return true;
  }

  removeAllPeers(): void {
    for (const peer of [...this.#peers.values()]) this.removePeer(peer.publicKey);
  }

  /** Sets or clears (null / all zeros) the peer's preshared key. */
  setPresharedKey(peer: Peer, key: Uint8Array | null): void {
    if (key !== null && key.length !== KEY_SIZE) {
      throw new TypeError(`Cannot set preshared key: expected 32 bytes, got ${key.length}`);
    }
    peer.handshake.presharedKey.fill(0);
    if (key) peer.handshake.presharedKey.set(key);
  }

  setEndpoint(peer: Peer, endpoint: Endpoint | null): void {
    peer.endpoint = endpoint;
  }

  /**
   * Sets the persistent keepalive interval in seconds (0 = off). Turning it on sends one
   * keepalive at once (which starts a handshake when there is no session), as wireguard-go does.
   */
  setPersistentKeepalive(peer: Peer, seconds: number): void {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 65535) {
      throw new RangeError(`Cannot set persistent keepalive ${seconds}: must be 0..65535 seconds`);
    }
    const was = peer.timers.persistentKeepaliveInterval;
    peer.timers.persistentKeepaliveInterval = seconds;
    if (seconds === 0) peer.timers.persistentKeepalive.del();
    else if (was === 0 && this.#up) sendKeepalive(this, peer);
  }

  /** Sends a keepalive now (or starts a handshake when there is no session); no-op when down. */
  sendKeepaliveNow(peer: Peer): void {
    if (this.#up && peer.live) sendKeepalive(this, peer);
  }

  /** Routes `prefix` to `peer` (an existing route to another peer moves). */
  addAllowedIP(peer: Peer, prefix: Prefix): void {
    this.allowedIPs.insert(prefix.family, prefix.ip, prefix.cidr, peer);
  }

  removeAllowedIP(peer: Peer, prefix: Prefix): boolean {
    return this.allowedIPs.remove(prefix.family, prefix.ip, prefix.cidr, peer);
  }

  clearAllowedIPs(peer: Peer): void {
    this.allowedIPs.removeByPeer(peer);
  }

  allowedIPsOf(peer: Peer): Prefix[] {
    return this.allowedIPs.entriesForPeer(peer);
  }

  stats(peer: Peer): PeerStats {
    return {
      publicKey: keyToBase64(peer.publicKey),
      hasPresharedKey: !isZero(peer.handshake.presharedKey),
      endpoint: peer.endpoint ? peer.endpoint.key : null,
      lastHandshakeTime: peer.lastHandshakeTime,
      rxBytes: peer.rxBytes,
      txBytes: peer.txBytes,
      persistentKeepaliveInterval: peer.timers.persistentKeepaliveInterval,
      allowedIPs: this.allowedIPs.entriesForPeer(peer).map(formatPrefix),
    };
  }

  // ---- data path entry points ----------------------------------------------------------------

  /** Routes, encrypts and sends a batch of IP packets (what the TUN delivers). */
  sendPackets(batch: PacketBatch): void {
    sendPackets(this, batch);
  }

  /** Handles a batch of datagrams (what the bind delivers); plaintext goes to the TUN. */
  receivePackets(batch: PacketBatch): void {
    receivePackets(this, batch);
  }

  /** @internal The crypto pool while it takes jobs; null when the AEAD runs inline. */
  get activePool(): CryptoPool | null {
    return this.pool?.active ? this.pool : null;
  }

  /** A finished crypto job, in submission order: step 5 of the send or the receive path. */
  readonly #complete = (job: CryptoJob): void => {
    try {
      if (job.op === OP_SEAL) completeSeal(this, job);
      else completeOpen(this, job);
    } catch (err) {
      // the packet path never throws; a bug here must not take the device down
      this.drops.cryptoFailed += job.batch.count;
      this.logger.error(`Crypto job completion failed: ${String(err)}`);
    }
  };

  /** @internal Arranges for the handshake queue to be drained on a later turn. */
  scheduleHandshakes(): void {
    if (this.#drainScheduled || this.handshakeQueue.length === 0) return;
    this.#drainScheduled = true;
    this.clock.setTimer(this.#drain, 0);
  }

  readonly #drain = (): void => {
    this.#drainScheduled = false;
    processHandshakeQueue(this, this.handshakeBudget);
    this.scheduleHandshakes();
  };

  // ---- internals -----------------------------------------------------------------------------

  /** @internal Drops a keypair's index. */
  retire(keypairs: (Keypair | null)[]): void {
    for (const kp of keypairs) {
      if (!kp) continue;
      this.indexTable.delete(kp.localIndex);
      kp.zero();
    }
  }

  #stopPeer(peer: Peer): void {
    peer.timers.stop();
    this.#zeroAndFlush(peer);
  }

  /** Forgets every key and handshake of the peer and drops its staged packets. */
  #zeroAndFlush(peer: Peer): void {
    const kp = peer.keypairs;
    this.retire([kp.previous, kp.current, kp.next]);
    kp.previous = kp.current = kp.next = null;
    if (peer.handshake.localIndex !== 0) this.indexTable.delete(peer.handshake.localIndex);
    peer.handshake.clear();
    this.drops.stagedDropped += peer.staged.length;
    peer.staged.length = 0;
  }

  /** Makes the current session unusable for sending (key change); the next packet rekeys. */
  #expireCurrentKeypairs(peer: Peer): void {
    if (peer.handshake.localIndex !== 0) this.indexTable.delete(peer.handshake.localIndex);
    peer.handshake.clear();
    peer.lastSentHandshake = Number.NEGATIVE_INFINITY;
    if (peer.keypairs.current) peer.keypairs.current.sendNonce = REJECT_AFTER_MESSAGES;
    if (peer.keypairs.next) peer.keypairs.next.sendNonce = REJECT_AFTER_MESSAGES;
  }
}
