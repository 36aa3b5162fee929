// SPDX-License-Identifier: MIT
/**
 * The outbound path (whitepaper §5.4.6; kernel `send.c`, wireguard-go `device/send.go`).
 *
 * Outbound flow, for a batch of IP packets read from the TUN:
 *   1. Validate each packet's IP header and route it by destination through the allowed-IPs
 *      trie to a peer (no match: drop and count).
 *   2. A peer without a usable session gets the packet staged (copied, at most 128, oldest
 *      dropped first) and a handshake initiation.
 *   3. Nonce assignment, in order per peer: the next counter of the current keypair.
 *   4. Encryption in place: the transport header goes into the 16 bytes of headroom in front
 *      of the packet, the plaintext is zero-padded to a multiple of 16 (never past the MTU),
 *      and then the whole batch is sealed where it lies in one call to the backend
 *      (`aead-batch.ts`: a C loop on Node's OpenSSL for the native backend), each tag landing
 *      in its slot's tailroom.
 *   5. Transmission: the same batch goes to the bind, each slot addressed to its peer's endpoint;
 *      then the timers and the key freshness checks run.
 * Steps 1–3 and 5 are sequential. With a crypto pool (`crypto-pool.ts`), step 4 is split: the
 * header and the zero padding are written here while each packet is copied into the job being
 * filled, a worker seals the whole job, and `completeSeal` runs step 5 for it on the main thread
 * once every earlier job is done (submission order, so each peer's packets leave in order). The
 * key freshness check still follows the nonce assignment, as in wireguard-go.
 *
 * Handshake initiations, responses, cookie replies and keepalives leave through the device's
 * one-slot control batch.
 * @module
 */

import { type AeadScratch, OP_SEAL, STATUS_OK } from './aead-batch.ts';
import { PacketBatch } from './batch.ts';
import type { Endpoint } from './bind.ts';
import { MAX_STAGED_PACKETS, PADDING_MULTIPLE, REKEY_TIMEOUT_MS } from './constants.ts';
import { AEAD_TAG_SIZE } from './crypto.ts';
import type { CryptoJob, CryptoPool } from './crypto-pool.ts';
import type { Device } from './device.ts';
import type { Keypair } from './keypair.ts';
import {
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  MESSAGE_TRANSPORT_TYPE,
  writeU32,
} from './messages.ts';
import { beginSymmetricSession, createMessageInitiation, createMessageResponse } from './noise.ts';
import type { Peer } from './peer.ts';

/**
 * Zero bytes to add so the plaintext is a multiple of 16 but no larger than the MTU (kernel
 * `calculate_skb_padding`, wireguard-go `calculatePaddingSize`).
 */
export function paddingSize(length: number, mtu: number): number {
  let last = length;
  if (mtu > 0 && last > mtu) last %= mtu;
  let padded = (last + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1);
  if (mtu > 0 && padded > mtu) padded = mtu;
  return Math.max(0, padded - last);
}

/** Step 3: takes the keypair's next counter and writes the transport header at `header`. */
function writeTransportHeader(data: Uint8Array, header: number, keypair: Keypair): void {
  const counter = keypair.sendNonce++;
  writeU32(data, header, MESSAGE_TRANSPORT_TYPE);
  writeU32(data, header + 4, keypair.remoteIndex);
  writeU32(data, header + 8, counter >>> 0);
  writeU32(data, header + 12, Math.floor(counter / 0x1_0000_0000));
}

/**
 * Steps 3–4 up to the seal: zero-pads the IP packet at `data[off..off+length)` and writes the
 * transport header at `off − 16` (taking the nonce). Returns the message length it will have
 * once sealed, or 0 when it does not fit before `end`.
 */
function prepareTransport(
  keypair: Keypair,
  data: Uint8Array,
  off: number,
  length: number,
  end: number,
  mtu: number
): number {
  const padded = length + paddingSize(length, mtu);
  if (off + padded + AEAD_TAG_SIZE > end) return 0;
  if (padded > length) data.fill(0, off + length, off + padded);
  writeTransportHeader(data, off - MESSAGE_TRANSPORT_HEADER_SIZE, keypair);
  return MESSAGE_TRANSPORT_HEADER_SIZE + padded + AEAD_TAG_SIZE;
}

/**
 * Seals one IP packet in place as a transport message whose header goes to `off − 16`
 * (keepalives, staged packets). Returns the message length, or 0 when it does not fit.
 */
function sealTransport(
  dev: Device,
  keypair: Keypair,
  data: Uint8Array,
  off: number,
  length: number,
  end: number
): number {
  const wire = prepareTransport(keypair, data, off, length, end, dev.mtu);
  if (wire === 0) return 0;
  const padded = wire - MESSAGE_TRANSPORT_HEADER_SIZE - AEAD_TAG_SIZE;
  const header = off - MESSAGE_TRANSPORT_HEADER_SIZE;
  // nonce = 4 zero bytes ‖ the counter as just written (whitepaper §5.4.6)
  const nonce = dev.nonce;
  for (let k = 0; k < 8; k++) nonce[4 + k] = data[header + 8 + k]!;
  dev.crypto.aeadSeal(
    data.subarray(off, off + padded + AEAD_TAG_SIZE),
    keypair.sendKey,
    nonce,
    data.subarray(off, off + padded),
    null
  );
  return wire;
}

/**
 * Steps 3–4 with a pool: copies the IP packet `src[off..off+length)` into the seal job being
 * filled, zero-pads it and writes its header (taking the nonce now, in order); a worker seals
 * it. False when every job is in flight: the packet is dropped and counted.
 */
function queueSeal(
  dev: Device,
  pool: CryptoPool,
  peer: Peer,
  keypair: Keypair,
  src: Uint8Array,
  off: number,
  length: number
): boolean {
  const padded = length + paddingSize(length, dev.mtu);
  const wire = MESSAGE_TRANSPORT_HEADER_SIZE + padded + AEAD_TAG_SIZE;
  const job = pool.reserve(OP_SEAL, wire);
  if (job === null) {
    dev.drops.cryptoQueueFull++;
    return false;
  }
  const i = job.add(wire, peer, keypair);
  const data = job.batch.data;
  const header = job.batch.offsets[i]!;
  const body = header + MESSAGE_TRANSPORT_HEADER_SIZE;
  data.set(src.subarray(off, off + length), body);
  data.fill(0, body + length, body + padded);
  writeTransportHeader(data, header, keypair);
  return true;
}

/**
 * Step 5 for a sealed job, on the main thread in submission order (wireguard-go
 * `RoutineSequentialSender`): to the bind from the job's own memory, then the timers. A peer
 * removed meanwhile sends nothing; a device taken down meanwhile drops the job, as it drops
 * whatever reaches it while down.
 */
export function completeSeal(dev: Device, job: CryptoJob): void {
  if (!dev.isUp) return;
  const batch = job.batch;
  let sent = 0;
  for (let i = 0; i < batch.count; i++) {
    const peer = job.peers[i]!;
    if (job.status[i] !== STATUS_OK) {
      batch.lengths[i] = 0;
      dev.drops.cryptoFailed++;
      continue;
    }
    const endpoint = peer.live ? peer.endpoint : null;
    if (endpoint === null) {
      batch.lengths[i] = 0;
      if (peer.live) dev.drops.noEndpoint++;
      else dev.drops.noRoute++;
      continue;
    }
    batch.endpoints[i] = endpoint;
    peer.txBytes += batch.lengths[i]!;
    const timers = peer.timers;
    timers.anyAuthenticatedPacketTraversal();
    timers.anyAuthenticatedPacketSent();
    timers.dataSent();
    sent++;
  }
  if (sent > 0) dev.bind?.send(batch);
}

/** The keypair to send with, or null when a handshake is needed first. */
function sendingKeypair(dev: Device, peer: Peer): Keypair | null {
  const kp = peer.keypairs.current;
  return kp?.canSend(dev.now()) ? kp : null;
}

/** Copies a packet into the peer's staging queue, dropping the oldest past the limit. */
function stagePacket(dev: Device, peer: Peer, data: Uint8Array, off: number, length: number) {
  if (peer.staged.length >= MAX_STAGED_PACKETS) {
    peer.staged.shift();
    dev.drops.stagedDropped++;
  }
  peer.staged.push(data.slice(off, off + length));
}

/** After sending under `keypair`: rekey when it is old or has carried too much (§6.2). */
function keepKeyFreshSending(dev: Device, peer: Peer, keypair: Keypair): void {
  if (keypair.needsRekeyAfterSend(dev.now(), dev.rekeyAfterTimeMs)) {
    sendHandshakeInitiation(dev, peer, false);
  }
}

/** Sends a batch of IP packets read from the TUN. Never throws; drops are counted. */
export function sendPackets(dev: Device, batch: PacketBatch): void {
  if (!dev.isUp) return;
  const pool = dev.activePool;
  const scratch = pool === null ? dev.aeadScratch.acquire(batch.count) : null;
  try {
    sendBatch(dev, batch, pool, scratch);
  } finally {
    if (scratch !== null) dev.aeadScratch.release(scratch);
  }
  const touched = dev.touchedPeers;
  for (let k = 0; k < touched.length; k++) {
    const peer = touched[k]!;
    const kp = peer.keypairs.current;
    if (kp) keepKeyFreshSending(dev, peer, kp);
  }
  touched.length = 0;
}

function sendBatch(
  dev: Device,
  batch: PacketBatch,
  pool: CryptoPool | null,
  scratch: AeadScratch | null
): void {
  const data = batch.data;
  const mtu = dev.mtu;
  let sealing = 0;
  dev.batchMark++;
  let lastPeer: Peer | null = null;
  for (let i = 0; i < batch.count; i++) {
    const length = batch.lengths[i]!;
    if (length === 0) continue;
    const off = batch.offsets[i]!;
    batch.lengths[i] = 0;

    // 1. route by destination
    const version = data[off]! >> 4;
    let peer: Peer | null = null;
    if (version === 4 && length >= 20) peer = dev.allowedIPs.lookup(4, data, off + 16);
    else if (version === 6 && length >= 40) peer = dev.allowedIPs.lookup(6, data, off + 24);
    else {
      dev.drops.invalidPacket++;
      continue;
    }
    if (!peer) {
      dev.drops.noRoute++;
      continue;
    }
    if (peer.staged.length > 0 && peer !== lastPeer) sendStagedPackets(dev, peer);
    lastPeer = peer;

    // 2. stage when there is no session (or it is spent)
    const keypair = sendingKeypair(dev, peer);
    const endpoint = peer.endpoint;
    if (!keypair || !endpoint) {
      if (!endpoint) {
        dev.drops.noEndpoint++;
        continue;
      }
      stagePacket(dev, peer, data, off, length);
      sendHandshakeInitiation(dev, peer, false);
      continue;
    }

    // 3 + 4. nonce, header and padding here; the seal by a worker, or below for the batch
    if (pool !== null) {
      if (queueSeal(dev, pool, peer, keypair, data, off, length)) touch(dev, peer);
      continue;
    }
    const slotEnd = batch.slotStart(i) + batch.slotSize;
    if (off < batch.slotStart(i) + MESSAGE_TRANSPORT_HEADER_SIZE) {
      dev.drops.tooLarge++;
      continue;
    }
    const wire = prepareTransport(keypair, data, off, length, slotEnd, mtu);
    if (wire === 0) {
      dev.drops.tooLarge++;
      continue;
    }
    batch.offsets[i] = off - MESSAGE_TRANSPORT_HEADER_SIZE;
    batch.lengths[i] = wire;
    batch.endpoints[i] = endpoint;
    scratch!.add(i, peer, keypair, keypair.sendKey);
    touch(dev, peer);
    sealing++;
  }
  if (sealing === 0 || scratch === null) return;

  // 4. one call seals every prepared packet in place
  const { keys, keyOf, status, peers, keypairs } = scratch;
  dev.aead(OP_SEAL, data, batch.offsets, batch.lengths, batch.count, keys, keyOf, status);

  // 5. transmit, counting and timing per packet
  let sent = 0;
  for (let i = 0; i < batch.count; i++) {
    const peer = peers[i];
    if (peer === null || peer === undefined) continue;
    peers[i] = null;
    keypairs[i] = null;
    if (status[i] !== STATUS_OK) {
      batch.lengths[i] = 0;
      dev.drops.cryptoFailed++;
      continue;
    }
    peer.txBytes += batch.lengths[i]!;
    const timers = peer.timers;
    timers.anyAuthenticatedPacketTraversal();
    timers.anyAuthenticatedPacketSent();
    timers.dataSent();
    sent++;
  }
  if (sent > 0) dev.bind?.send(batch);
}

/** Remembers that `peer` sent in the current batch (once per batch, no allocation). */
function touch(dev: Device, peer: Peer): void {
  if (peer.batchMark === dev.batchMark) return;
  peer.batchMark = dev.batchMark;
  dev.touchedPeers.push(peer);
}

/**
 * Sends what waited for a session, when there is one now (after a handshake completes, or
 * before newer packets of the same peer). Otherwise starts a handshake.
 */
export function sendStagedPackets(dev: Device, peer: Peer): void {
  if (peer.staged.length === 0 || !dev.isUp) return;
  const endpoint = peer.endpoint;
  const keypair = sendingKeypair(dev, peer);
  if (!keypair || !endpoint) {
    if (endpoint) sendHandshakeInitiation(dev, peer, false);
    return;
  }
  const pool = dev.activePool;
  if (pool !== null) {
    // into the seal job being filled, behind whatever of this peer is already there
    while (peer.staged.length > 0) {
      const packet = peer.staged.shift()!;
      queueSeal(dev, pool, peer, keypair, packet, 0, packet.length);
    }
    keepKeyFreshSending(dev, peer, keypair);
    return;
  }
  // slots must hold the largest staged packet plus header, padding and tag
  let largest = 0;
  for (const p of peer.staged) largest = Math.max(largest, p.length);
  const need = MESSAGE_TRANSPORT_HEADER_SIZE + largest + PADDING_MULTIPLE + AEAD_TAG_SIZE;
  if (need > dev.stagingBatch.slotSize) {
    dev.stagingBatch = new PacketBatch(dev.stagingBatch.capacity, Math.min(need, 65_600));
  }
  const batch = dev.stagingBatch;
  while (peer.staged.length > 0) {
    batch.reset();
    while (batch.count < batch.capacity && peer.staged.length > 0) {
      const packet = peer.staged.shift()!;
      const i = batch.count;
      if (!batch.push(packet, endpoint, MESSAGE_TRANSPORT_HEADER_SIZE)) {
        dev.drops.tooLarge++;
        continue;
      }
      const off = batch.offsets[i]!;
      const wire = sealTransport(
        dev,
        keypair,
        batch.data,
        off,
        packet.length,
        batch.slotStart(i) + batch.slotSize
      );
      if (wire === 0) {
        batch.lengths[i] = 0;
        dev.drops.tooLarge++;
        continue;
      }
      batch.offsets[i] = off - MESSAGE_TRANSPORT_HEADER_SIZE;
      batch.lengths[i] = wire;
      peer.txBytes += wire;
      peer.timers.anyAuthenticatedPacketTraversal();
      peer.timers.anyAuthenticatedPacketSent();
      peer.timers.dataSent();
    }
    dev.bind?.send(batch);
  }
  keepKeyFreshSending(dev, peer, keypair);
}

/** Sends one datagram from the control batch to the peer's endpoint. */
function sendControl(dev: Device, peer: Peer, message: Uint8Array): boolean {
  const endpoint = peer.endpoint;
  if (!endpoint || !dev.bind) return false;
  const batch = dev.controlBatch;
  batch.reset();
  batch.push(message, endpoint);
  dev.bind.send(batch);
  peer.txBytes += message.length;
  return true;
}

/**
 * Sends a keepalive (an empty transport message), or, with no usable session, starts a
 * handshake instead: what a keepalive needs first is a session (wireguard-go stages an empty
 * packet and lets `SendStagedPackets` decide).
 */
export function sendKeepalive(dev: Device, peer: Peer): void {
  if (!dev.isUp) return;
  const keypair = sendingKeypair(dev, peer);
  if (!keypair || peer.staged.length > 0) {
    if (peer.staged.length > 0) sendStagedPackets(dev, peer);
    else sendHandshakeInitiation(dev, peer, false);
    return;
  }
  const message = dev.keepaliveScratch;
  const wire = sealTransport(
    dev,
    keypair,
    message,
    MESSAGE_TRANSPORT_HEADER_SIZE,
    0,
    message.length
  );
  if (!sendControl(dev, peer, message.subarray(0, wire))) {
    dev.drops.noEndpoint++;
    return;
  }
  peer.timers.anyAuthenticatedPacketTraversal();
  peer.timers.anyAuthenticatedPacketSent();
  keepKeyFreshSending(dev, peer, keypair);
}

/**
 * Sends a handshake initiation, at most one per REKEY_TIMEOUT (whitepaper §6.4). `isRetry`
 * comes only from the retransmit timer; anything else starts a new round of attempts.
 */
export function sendHandshakeInitiation(dev: Device, peer: Peer, isRetry: boolean): void {
  if (!dev.isUp) return;
  if (!isRetry) peer.timers.handshakeAttempts = 0;
  const now = dev.now();
  if (now - peer.lastSentHandshake < REKEY_TIMEOUT_MS) return;
  const message = dev.handshakeScratch.subarray(0, MESSAGE_INITIATION_SIZE);
  if (!createMessageInitiation(dev, peer, message)) {
    dev.logger.verbose(`${peer}: cannot create handshake initiation (no private key?)`);
    return;
  }
  peer.lastSentHandshake = now;
  peer.cookieGenerator.addMacs(message);
  peer.timers.anyAuthenticatedPacketTraversal();
  peer.timers.anyAuthenticatedPacketSent();
  if (!sendControl(dev, peer, message)) {
    dev.logger.verbose(`${peer}: no endpoint to send the handshake initiation to`);
  }
  peer.timers.handshakeInitiated();
}

/** Answers a consumed initiation and derives the responder's (unconfirmed) keypair. */
export function sendHandshakeResponse(dev: Device, peer: Peer): boolean {
  const message = dev.handshakeScratch.subarray(0, MESSAGE_RESPONSE_SIZE);
  if (!createMessageResponse(dev, peer, message)) return false;
  peer.cookieGenerator.addMacs(message);
  const session = beginSymmetricSession(dev, peer);
  if (!session) return false;
  dev.retire(session.retired);
  peer.timers.sessionDerived();
  peer.timers.anyAuthenticatedPacketTraversal();
  peer.timers.anyAuthenticatedPacketSent();
  peer.lastSentHandshake = dev.now();
  sendControl(dev, peer, message);
  return true;
}

/** Sends one datagram to an endpoint that is not (yet) a peer's: cookie replies. */
export function sendTo(dev: Device, endpoint: Endpoint, message: Uint8Array): void {
  if (!dev.bind) return;
  const batch = dev.controlBatch;
  batch.reset();
  batch.push(message, endpoint);
  dev.bind.send(batch);
}
