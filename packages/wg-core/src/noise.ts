// SPDX-License-Identifier: MIT
/**
 * Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard uses it (whitepaper §5.4; kernel `noise.c`,
 * wireguard-go `device/noise-protocol.go`): create and consume the initiation and the response,
 * then derive the transport keypair. Pure computation over the device's keys and the index
 * table; no I/O. The `consume*` functions never throw on bad input: they return null.
 * Variable names follow the paper: `ck` chaining key, `h` hash, `e`/`E` ephemeral, `s`/`S` static.
 * @module
 */

import { HANDSHAKE_INITIATION_RATE_MS } from './constants.ts';
import type { Crypto, DhPrivateKey } from './crypto.ts';
import { AEAD_TAG_SIZE, HASH_SIZE, KEY_SIZE, kdf } from './crypto.ts';
import type { IndexTable } from './index-table.ts';
import { Keypair, type Keypairs } from './keypair.ts';
import {
  INITIATION_OFFSET_EPHEMERAL,
  INITIATION_OFFSET_SENDER,
  INITIATION_OFFSET_STATIC,
  INITIATION_OFFSET_TIMESTAMP,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_RESPONSE_TYPE,
  RESPONSE_OFFSET_EMPTY,
  RESPONSE_OFFSET_EPHEMERAL,
  RESPONSE_OFFSET_RECEIVER,
  RESPONSE_OFFSET_SENDER,
  readU32,
  writeU32,
} from './messages.ts';
import { TAI64N_SIZE, tai64n, tai64nAfter } from './tai64n.ts';

const encoder = new TextEncoder();
/** Whitepaper §5.4: the protocol name and the identifier (the Noise prologue). */
export const CONSTRUCTION = encoder.encode('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
export const IDENTIFIER = encoder.encode('WireGuard v1 zx2c4 Jason@zx2c4.com');

/** Handshake AEADs always use counter 0: a zero 12-byte nonce. */
const ZERO_NONCE = new Uint8Array(12);
const EMPTY = new Uint8Array(0);

export const HandshakeState = {
  zeroed: 0,
  initiationCreated: 1,
  initiationConsumed: 2,
  responseCreated: 3,
  responseConsumed: 4,
} as const;
export type HandshakeState = (typeof HandshakeState)[keyof typeof HandshakeState];

/** C0 = HASH(CONSTRUCTION) and H0 = HASH(C0 ‖ IDENTIFIER), computed once per backend. */
const initialCache = new WeakMap<Crypto, { ck: Uint8Array; h: Uint8Array }>();
export function initialChainKeyAndHash(crypto: Crypto): { ck: Uint8Array; h: Uint8Array } {
  let v = initialCache.get(crypto);
  if (!v) {
    const ck = new Uint8Array(HASH_SIZE);
    const h = new Uint8Array(HASH_SIZE);
    crypto.hash(ck, CONSTRUCTION);
    crypto.hash(h, ck, IDENTIFIER);
    v = { ck, h };
    initialCache.set(crypto, v);
  }
  return v;
}

/** Per-peer handshake state (wireguard-go `Handshake`). */
export class Handshake {
  state: HandshakeState = HandshakeState.zeroed;
  readonly hash = new Uint8Array(HASH_SIZE);
  readonly chainKey = new Uint8Array(HASH_SIZE);
  /** All zeros when the peer has no preshared key (whitepaper §5.4: psk defaults to 0^32). */
  readonly presharedKey = new Uint8Array(KEY_SIZE);
  readonly remoteStatic: Uint8Array;
  readonly remoteEphemeral = new Uint8Array(KEY_SIZE);
  /** DH(s_local, S_remote), recomputed when the local key changes. */
  readonly precomputedStaticStatic = new Uint8Array(KEY_SIZE);
  /** False when there is no local key or the static-static DH is zero: no handshake possible. */
  staticStaticValid = false;
  localEphemeral: DhPrivateKey | null = null;
  localIndex = 0;
  remoteIndex = 0;
  /** Greatest TAI64N seen in an initiation from this peer (replay protection). */
  readonly lastTimestamp = new Uint8Array(TAI64N_SIZE);
  /** Monotonic ms of the last consumed initiation (flood protection); -Infinity = never. */
  lastInitiationConsumed = Number.NEGATIVE_INFINITY;

  constructor(remoteStatic: Uint8Array) {
    this.remoteStatic = Uint8Array.from(remoteStatic);
  }

  /** Forgets the handshake in progress (keys of finished sessions live in keypairs). */
  clear(): void {
    this.hash.fill(0);
    this.chainKey.fill(0);
    this.remoteEphemeral.fill(0);
    this.localEphemeral = null;
    this.localIndex = 0;
    this.remoteIndex = 0;
    this.state = HandshakeState.zeroed;
  }
}

export interface NoisePeer {
  readonly handshake: Handshake;
  readonly keypairs: Keypairs;
}

/** What the handshake needs from its device. */
export interface NoiseDevice<P extends NoisePeer> {
  readonly crypto: Crypto;
  readonly staticIdentity: DhPrivateKey | null;
  readonly indexTable: IndexTable<P>;
  lookupPeer(publicKey: Uint8Array): P | undefined;
  /** Monotonic ms. */
  now(): number;
  /** Unix ms, for TAI64N. */
  wallNow(): number;
  /** A fresh ephemeral key (tests inject fixed ones for golden messages). */
  generateEphemeral(): DhPrivateKey;
}

/** Recomputes DH(s_local, S_remote); a zero result leaves the peer unable to handshake. */
export function precomputeStaticStatic(
  crypto: Crypto,
  local: DhPrivateKey | null,
  handshake: Handshake
): void {
  handshake.staticStaticValid =
    local !== null && crypto.dh(handshake.precomputedStaticStatic, local, handshake.remoteStatic);
}

function mixHash(crypto: Crypto, h: Uint8Array, data: Uint8Array): void {
  crypto.hash(h, h, data);
}

/**
 * Writes an initiation for `peer` into `msg[0..148)` without mac1/mac2 (the cookie generator
 * adds them). Returns false when no initiation can be made (no local key, zero static DH).
 */
export function createMessageInitiation<P extends NoisePeer>(
  dev: NoiseDevice<P>,
  peer: P,
  msg: Uint8Array
): boolean {
  const { crypto } = dev;
  const hs = peer.handshake;
  const s = dev.staticIdentity;
  if (!s || !hs.staticStaticValid) return false;
  const init = initialChainKeyAndHash(crypto);
  const ck = Uint8Array.from(init.ck);
  const h = Uint8Array.from(init.h);
  const key = new Uint8Array(KEY_SIZE);
  const dh = new Uint8Array(KEY_SIZE);
  mixHash(crypto, h, hs.remoteStatic);

  // create ephemeral key
  const e = dev.generateEphemeral();
  msg.fill(0, 0, MESSAGE_INITIATION_SIZE);
  writeU32(msg, 0, MESSAGE_INITIATION_TYPE);
  msg.set(e.publicKey, INITIATION_OFFSET_EPHEMERAL);
  kdf(crypto, ck, e.publicKey, ck);
  mixHash(crypto, h, e.publicKey);

  // encrypt static key
  if (!crypto.dh(dh, e, hs.remoteStatic)) return false;
  kdf(crypto, ck, dh, ck, key);
  const encStatic = msg.subarray(INITIATION_OFFSET_STATIC, INITIATION_OFFSET_STATIC + 48);
  crypto.aeadSeal(encStatic, key, ZERO_NONCE, s.publicKey, h);
  mixHash(crypto, h, encStatic);

  // encrypt timestamp, keyed by the precomputed static-static DH
  kdf(crypto, ck, hs.precomputedStaticStatic, ck, key);
  const stamp = new Uint8Array(TAI64N_SIZE);
  tai64n(stamp, dev.wallNow());
  const encStamp = msg.subarray(INITIATION_OFFSET_TIMESTAMP, INITIATION_OFFSET_TIMESTAMP + 28);
  crypto.aeadSeal(encStamp, key, ZERO_NONCE, stamp, h);
  mixHash(crypto, h, encStamp);

  // assign index
  if (hs.localIndex !== 0) dev.indexTable.delete(hs.localIndex);
  hs.localIndex = dev.indexTable.newIndexForHandshake(peer);
  writeU32(msg, INITIATION_OFFSET_SENDER, hs.localIndex);

  hs.hash.set(h);
  hs.chainKey.set(ck);
  hs.localEphemeral = e;
  hs.state = HandshakeState.initiationCreated;
  key.fill(0);
  dh.fill(0);
  return true;
}

/**
 * Consumes an initiation (mac1 already checked). Returns the peer it came from, with its
 * handshake advanced to `initiationConsumed`, or null: unknown static key, failed decryption,
 * replayed timestamp, or an initiation flood (more than one per 20 ms per peer).
 */
export function consumeMessageInitiation<P extends NoisePeer>(
  dev: NoiseDevice<P>,
  msg: Uint8Array
): P | null {
  const { crypto } = dev;
  const s = dev.staticIdentity;
  if (!s || msg.length !== MESSAGE_INITIATION_SIZE) return null;
  const init = initialChainKeyAndHash(crypto);
  const ck = Uint8Array.from(init.ck);
  const h = Uint8Array.from(init.h);
  const key = new Uint8Array(KEY_SIZE);
  const dh = new Uint8Array(KEY_SIZE);
  mixHash(crypto, h, s.publicKey);

  const E = msg.subarray(INITIATION_OFFSET_EPHEMERAL, INITIATION_OFFSET_EPHEMERAL + KEY_SIZE);
  kdf(crypto, ck, E, ck);
  mixHash(crypto, h, E);

  // decrypt static key
  if (!crypto.dh(dh, s, E)) return null;
  kdf(crypto, ck, dh, ck, key);
  const encStatic = msg.subarray(INITIATION_OFFSET_STATIC, INITIATION_OFFSET_STATIC + 48);
  const remoteStatic = new Uint8Array(KEY_SIZE);
  if (!crypto.aeadOpen(remoteStatic, key, ZERO_NONCE, encStatic, h)) return null;
  mixHash(crypto, h, encStatic);

  // lookup peer
  const peer = dev.lookupPeer(remoteStatic);
  if (!peer) return null;
  const hs = peer.handshake;
  if (!hs.staticStaticValid) return null;

  // decrypt timestamp
  kdf(crypto, ck, hs.precomputedStaticStatic, ck, key);
  const encStamp = msg.subarray(INITIATION_OFFSET_TIMESTAMP, INITIATION_OFFSET_TIMESTAMP + 28);
  const stamp = new Uint8Array(TAI64N_SIZE);
  if (!crypto.aeadOpen(stamp, key, ZERO_NONCE, encStamp, h)) return null;
  mixHash(crypto, h, encStamp);

  // protect against replay & flood (whitepaper §5.1)
  const now = dev.now();
  if (!tai64nAfter(stamp, hs.lastTimestamp)) return null;
  if (now - hs.lastInitiationConsumed < HANDSHAKE_INITIATION_RATE_MS) return null;

  // commit: only now does the peer's state change
  hs.hash.set(h);
  hs.chainKey.set(ck);
  hs.remoteIndex = readU32(msg, INITIATION_OFFSET_SENDER);
  hs.remoteEphemeral.set(E);
  hs.lastTimestamp.set(stamp);
  hs.lastInitiationConsumed = now;
  hs.state = HandshakeState.initiationConsumed;
  key.fill(0);
  dh.fill(0);
  return peer;
}

/** Writes the response to a consumed initiation into `msg[0..92)` without macs. */
export function createMessageResponse<P extends NoisePeer>(
  dev: NoiseDevice<P>,
  peer: P,
  msg: Uint8Array
): boolean {
  const { crypto } = dev;
  const hs = peer.handshake;
  if (hs.state !== HandshakeState.initiationConsumed) return false;
  const ck = Uint8Array.from(hs.chainKey);
  const h = Uint8Array.from(hs.hash);
  const dh = new Uint8Array(KEY_SIZE);
  const tau = new Uint8Array(KEY_SIZE);
  const key = new Uint8Array(KEY_SIZE);

  msg.fill(0, 0, MESSAGE_RESPONSE_SIZE);
  writeU32(msg, 0, MESSAGE_RESPONSE_TYPE);
  writeU32(msg, RESPONSE_OFFSET_RECEIVER, hs.remoteIndex);

  // create ephemeral key
  const e = dev.generateEphemeral();
  msg.set(e.publicKey, RESPONSE_OFFSET_EPHEMERAL);
  kdf(crypto, ck, e.publicKey, ck);
  mixHash(crypto, h, e.publicKey);

  // DH(e_r, E_i), DH(e_r, S_i)
  if (!crypto.dh(dh, e, hs.remoteEphemeral)) return false;
  kdf(crypto, ck, dh, ck);
  if (!crypto.dh(dh, e, hs.remoteStatic)) return false;
  kdf(crypto, ck, dh, ck);

  // add preshared key (psk position 2)
  kdf(crypto, ck, hs.presharedKey, ck, tau, key);
  mixHash(crypto, h, tau);

  // authenticate the transcript with an empty payload
  const empty = msg.subarray(RESPONSE_OFFSET_EMPTY, RESPONSE_OFFSET_EMPTY + AEAD_TAG_SIZE);
  crypto.aeadSeal(empty, key, ZERO_NONCE, EMPTY, h);
  mixHash(crypto, h, empty);

  // assign index
  if (hs.localIndex !== 0) dev.indexTable.delete(hs.localIndex);
  hs.localIndex = dev.indexTable.newIndexForHandshake(peer);
  writeU32(msg, RESPONSE_OFFSET_SENDER, hs.localIndex);

  hs.hash.set(h);
  hs.chainKey.set(ck);
  hs.localEphemeral = e;
  hs.state = HandshakeState.responseCreated;
  dh.fill(0);
  tau.fill(0);
  key.fill(0);
  return true;
}

/**
 * Consumes a response (mac1 already checked) to an initiation we sent. Returns the peer with its
 * handshake at `responseConsumed`, or null.
 */
export function consumeMessageResponse<P extends NoisePeer>(
  dev: NoiseDevice<P>,
  msg: Uint8Array
): P | null {
  const { crypto } = dev;
  const s = dev.staticIdentity;
  if (!s || msg.length !== MESSAGE_RESPONSE_SIZE) return null;
  const entry = dev.indexTable.lookup(readU32(msg, RESPONSE_OFFSET_RECEIVER));
  if (!entry?.handshake) return null;
  const peer = entry.peer;
  const hs = peer.handshake;
  const e = hs.localEphemeral;
  if (hs.state !== HandshakeState.initiationCreated || !e) return null;

  const ck = Uint8Array.from(hs.chainKey);
  const h = Uint8Array.from(hs.hash);
  const dh = new Uint8Array(KEY_SIZE);
  const tau = new Uint8Array(KEY_SIZE);
  const key = new Uint8Array(KEY_SIZE);

  const E = msg.subarray(RESPONSE_OFFSET_EPHEMERAL, RESPONSE_OFFSET_EPHEMERAL + KEY_SIZE);
  kdf(crypto, ck, E, ck);
  mixHash(crypto, h, E);
  if (!crypto.dh(dh, e, E)) return null;
  kdf(crypto, ck, dh, ck);
  if (!crypto.dh(dh, s, E)) return null;
  kdf(crypto, ck, dh, ck);

  kdf(crypto, ck, hs.presharedKey, ck, tau, key);
  mixHash(crypto, h, tau);

  const empty = msg.subarray(RESPONSE_OFFSET_EMPTY, RESPONSE_OFFSET_EMPTY + AEAD_TAG_SIZE);
  if (!crypto.aeadOpen(EMPTY, key, ZERO_NONCE, empty, h)) return null;
  mixHash(crypto, h, empty);

  hs.hash.set(h);
  hs.chainKey.set(ck);
  hs.remoteIndex = readU32(msg, RESPONSE_OFFSET_SENDER);
  hs.state = HandshakeState.responseConsumed;
  dh.fill(0);
  tau.fill(0);
  key.fill(0);
  return peer;
}

/** The keypair a `beginSymmetricSession` retired, for the caller to unindex. */
export type RetiredKeypairs = (Keypair | null)[];

/**
 * Derives the transport keys from a finished handshake (whitepaper §5.4.5: (T_send, T_recv) =
 * KDF2(C, ε), swapped for the responder), zeroes the handshake, binds our index to the new
 * keypair and rotates previous/current/next (wireguard-go `BeginSymmetricSession`): the
 * initiator starts sending with it at once; the responder parks it in `next` until the first
 * packet from the initiator confirms it. Returns the new keypair and the ones it displaced.
 */
export function beginSymmetricSession<P extends NoisePeer>(
  dev: NoiseDevice<P>,
  peer: P
): { keypair: Keypair; retired: RetiredKeypairs } | null {
  const hs = peer.handshake;
  let isInitiator: boolean;
  if (hs.state === HandshakeState.responseConsumed) isInitiator = true;
  else if (hs.state === HandshakeState.responseCreated) isInitiator = false;
  else return null;

  const t1 = new Uint8Array(KEY_SIZE);
  const t2 = new Uint8Array(KEY_SIZE);
  kdf(dev.crypto, hs.chainKey, EMPTY, t1, t2);
  const keypair = isInitiator
    ? new Keypair(t1, t2, true, dev.now(), hs.localIndex, hs.remoteIndex)
    : new Keypair(t2, t1, false, dev.now(), hs.localIndex, hs.remoteIndex);
  dev.indexTable.swapIndexForKeypair(hs.localIndex, keypair);

  // zero the handshake; its index now belongs to the keypair
  hs.hash.fill(0);
  hs.chainKey.fill(0);
  hs.localEphemeral = null;
  hs.localIndex = 0;
  hs.state = HandshakeState.zeroed;

  const kp = peer.keypairs;
  const retired: RetiredKeypairs = [];
  if (isInitiator) {
    if (kp.next) {
      retired.push(kp.current, kp.previous);
      kp.previous = kp.next;
      kp.next = null;
    } else {
      retired.push(kp.previous);
      kp.previous = kp.current;
    }
    kp.current = keypair;
  } else {
    retired.push(kp.next, kp.previous);
    kp.next = keypair;
    kp.previous = null;
  }
  return { keypair, retired };
}

/**
 * Called after authenticating a transport packet under `keypair`: when it is the responder's
 * `next`, the initiator has confirmed it; it becomes current. Returns true in that case, the
 * moment the responder's handshake is complete. Returns the displaced keypair via `retired`.
 */
export function receivedWithKeypair(
  keypairs: Keypairs,
  keypair: Keypair,
  retired: RetiredKeypairs
): boolean {
  if (keypairs.next !== keypair) return false;
  retired.push(keypairs.previous);
  keypairs.previous = keypairs.current;
  keypairs.current = keypair;
  keypairs.next = null;
  return true;
}
