// SPDX-License-Identifier: MIT
/**
 * The inbound path (whitepaper §5.4; kernel `receive.c`, wireguard-go `device/receive.go`).
 *
 * Inbound flow, for a batch of datagrams read from the bind:
 *   1. Classify each datagram by its 4-byte type word and exact size; anything else is
 *      dropped and counted (unknown type, non-zero reserved bytes, wrong size).
 *   2. Handshake messages (initiation, response) are copied into the bounded handshake queue,
 *      drained on a later turn of the event loop: there mac1 is checked before any DH work;
 *      under load mac2 is demanded (else a cookie reply goes back) and a per-IP rate limit
 *      applies. Cookie replies are consumed at once (they never move the endpoint).
 *   3. Transport messages: the receiver index names a keypair (expired ones are refused); then
 *      the whole batch is opened in place in one call to the backend (`aead-batch.ts`); only
 *      after authentication is the counter checked against the replay window, and a keypair
 *      retired meanwhile by an earlier packet of the batch drops the packet.
 *   4. In order per peer: key confirmation (a responder's `next` keypair becomes current), the
 *      endpoint follows the packet's source (roaming), timers; keepalives end here.
 *   5. The plaintext must be one IPv4/IPv6 packet (trimmed to its own length, dropping the
 *      padding) whose source address routes back to this same peer (cryptokey routing);
 *      then the batch, now holding plaintext, is written to the TUN.
 * With a crypto pool (`crypto-pool.ts`), step 3 is split: the keypair is found here and the
 * message copied into the open job being filled; a worker opens the whole job; `completeOpen`
 * then runs the rest of step 3 (the replay window) and steps 4–5 on the main thread, once every
 * earlier job is done (submission order, so each peer's packets arrive in order), and writes
 * the plaintext to the TUN from the job's own memory.
 * @module
 */

import { type AeadScratch, OP_OPEN, STATUS_AUTH_FAILED, STATUS_OK } from './aead-batch.ts';
import type { PacketBatch } from './batch.ts';
import type { Endpoint } from './bind.ts';
import {
  REKEY_ON_RECEIVE_AGE_MS,
  UNDER_LOAD_AFTER_TIME_MS,
  UNDER_LOAD_QUEUE_LENGTH,
} from './constants.ts';
import { AEAD_TAG_SIZE } from './crypto.ts';
import type { CryptoJob, CryptoPool } from './crypto-pool.ts';
import type { Device } from './device.ts';
import type { IndexEntry } from './index-table.ts';
import type { Keypair } from './keypair.ts';
import {
  COOKIE_REPLY_OFFSET_RECEIVER,
  INITIATION_OFFSET_SENDER,
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_COOKIE_REPLY_TYPE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_RESPONSE_TYPE,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  MESSAGE_TRANSPORT_TYPE,
  messageType,
  RESPONSE_OFFSET_SENDER,
  readU32,
  TRANSPORT_OFFSET_COUNTER,
  TRANSPORT_OFFSET_RECEIVER,
} from './messages.ts';
import {
  beginSymmetricSession,
  consumeMessageInitiation,
  consumeMessageResponse,
  type RetiredKeypairs,
  receivedWithKeypair,
} from './noise.ts';
import type { Peer } from './peer.ts';
import {
  sendHandshakeInitiation,
  sendHandshakeResponse,
  sendKeepalive,
  sendStagedPackets,
  sendTo,
} from './send.ts';

const encoder = new TextEncoder();
const retiredScratch: RetiredKeypairs = [];

/** Handles a batch of datagrams. Never throws; every drop is counted in `dev.drops`. */
export function receivePackets(dev: Device, batch: PacketBatch): void {
  if (!dev.isUp) return;
  const pool = dev.activePool;
  const scratch = pool === null ? dev.aeadScratch.acquire(batch.count) : null;
  try {
    receiveBatch(dev, batch, pool, scratch);
  } finally {
    if (scratch !== null) dev.aeadScratch.release(scratch);
  }
  dev.scheduleHandshakes();
}

function receiveBatch(
  dev: Device,
  batch: PacketBatch,
  pool: CryptoPool | null,
  scratch: AeadScratch | null
): void {
  const data = batch.data;
  const now = dev.now();
  let opening = 0;
  for (let i = 0; i < batch.count; i++) {
    const length = batch.lengths[i]!;
    if (length === 0) continue;
    const off = batch.offsets[i]!;
    batch.lengths[i] = 0;

    // 1. classify
    const type = messageType(data, off, length);
    if (type === MESSAGE_TRANSPORT_TYPE) {
      if (pool !== null) {
        queueOpen(dev, pool, batch, i, off, length, now);
        continue;
      }
      // 3. the keypair by receiver index; opened below with the rest of the batch
      const entry = transportEntry(dev, data, off, now);
      if (entry === null) continue;
      const keypair = entry.keypair!;
      batch.lengths[i] = length;
      scratch!.add(i, entry.peer, keypair, keypair.receiveKey);
      opening++;
      continue;
    }
    if (type === MESSAGE_INITIATION_TYPE || type === MESSAGE_RESPONSE_TYPE) {
      // 2. handshakes wait in the queue (wireguard-go drops when full)
      if (!dev.handshakeQueue.push(data, off, length, batch.endpoints[i] ?? null)) {
        dev.drops.queueFull++;
      }
      continue;
    }
    if (type === MESSAGE_COOKIE_REPLY_TYPE) {
      receiveCookieReply(dev, data.subarray(off, off + length));
      continue;
    }
    dev.drops.malformed++;
  }
  if (opening === 0 || scratch === null) return;

  // 3. one call opens every transport message in place
  const { keys, keyOf, status, peers, keypairs } = scratch;
  dev.aead(OP_OPEN, data, batch.offsets, batch.lengths, batch.count, keys, keyOf, status);

  // 3 (replay window) to 5, in order
  let toTun = 0;
  for (let i = 0; i < batch.count; i++) {
    const keypair = keypairs[i];
    if (keypair === null || keypair === undefined) continue;
    const peer = peers[i]!;
    keypairs[i] = null;
    peers[i] = null;
    const off = batch.offsets[i]!;
    const length = batch.lengths[i]!;
    batch.lengths[i] = 0;
    const st = status[i];
    if (st !== STATUS_OK) {
      if (st === STATUS_AUTH_FAILED) dev.drops.decryptFailed++;
      else dev.drops.cryptoFailed++;
      continue;
    }
    if (dev.indexTable.lookup(keypair.localIndex)?.keypair !== keypair) {
      dev.drops.unknownKeypair++; // retired by an earlier packet of this batch
      continue;
    }
    const plainLength = acceptTransport(
      dev,
      peer,
      keypair,
      data,
      off,
      length,
      batch.endpoints[i],
      now
    );
    if (plainLength > 0) {
      batch.offsets[i] = off + MESSAGE_TRANSPORT_HEADER_SIZE;
      batch.lengths[i] = plainLength;
      toTun++;
    }
  }
  if (toTun > 0) dev.tun?.write(batch);
}

/** Step 3: the live keypair a transport message names, or null (dropped and counted). */
function transportEntry(
  dev: Device,
  data: Uint8Array,
  off: number,
  now: number
): IndexEntry<Peer> | null {
  const entry = dev.indexTable.lookup(readU32(data, off + TRANSPORT_OFFSET_RECEIVER));
  if (!entry?.keypair?.canReceive(now)) {
    dev.drops.unknownKeypair++;
    return null;
  }
  return entry;
}

/**
 * Step 3 with a pool: copies the transport message into the open job being filled, for a worker
 * to open. Dropped and counted when its keypair is unknown or every job is in flight.
 */
function queueOpen(
  dev: Device,
  pool: CryptoPool,
  batch: PacketBatch,
  i: number,
  off: number,
  length: number,
  now: number
): void {
  const entry = transportEntry(dev, batch.data, off, now);
  if (entry === null) return;
  const job = pool.reserve(OP_OPEN, length);
  if (job === null) {
    dev.drops.cryptoQueueFull++;
    return;
  }
  const j = job.add(length, entry.peer, entry.keypair!);
  job.batch.data.set(batch.data.subarray(off, off + length), job.batch.offsets[j]!);
  job.batch.endpoints[j] = batch.endpoints[i] ?? null;
}

/**
 * The rest of step 3 and steps 4–5 for an opened job, on the main thread in submission order
 * (wireguard-go `RoutineSequentialReceiver`); the plaintext goes to the TUN from the job's own
 * memory. A keypair retired meanwhile (peer removed, keys expired or rotated out) drops its
 * packets; a device taken down meanwhile drops the job, as it drops whatever reaches it down.
 */
export function completeOpen(dev: Device, job: CryptoJob): void {
  if (!dev.isUp) return;
  const batch = job.batch;
  const now = dev.now();
  let toTun = 0;
  for (let i = 0; i < batch.count; i++) {
    const off = batch.offsets[i]!;
    const length = batch.lengths[i]!;
    batch.lengths[i] = 0;
    const status = job.status[i];
    if (status !== STATUS_OK) {
      if (status === STATUS_AUTH_FAILED) dev.drops.decryptFailed++;
      else dev.drops.cryptoFailed++;
      continue;
    }
    const keypair = job.keypairs[i]!;
    if (dev.indexTable.lookup(keypair.localIndex)?.keypair !== keypair) {
      dev.drops.unknownKeypair++;
      continue;
    }
    const plainLength = acceptTransport(
      dev,
      job.peers[i]!,
      keypair,
      batch.data,
      off,
      length,
      batch.endpoints[i],
      now
    );
    if (plainLength > 0) {
      batch.offsets[i] = off + MESSAGE_TRANSPORT_HEADER_SIZE;
      batch.lengths[i] = plainLength;
      toTun++;
    }
  }
  if (toTun > 0) dev.tun?.write(batch);
}

/**
 * Steps 3 (replay window) to 5 for an authenticated transport message at `off`. Returns the
 * plaintext IP packet length (the packet is at `off + 16`), or 0 when dropped or a keepalive.
 */
function acceptTransport(
  dev: Device,
  peer: Peer,
  keypair: Keypair,
  data: Uint8Array,
  off: number,
  length: number,
  endpoint: Endpoint | null | undefined,
  now: number
): number {
  // replay window, only after authentication (whitepaper §5.4.6)
  const lo = readU32(data, off + TRANSPORT_OFFSET_COUNTER);
  const hi = readU32(data, off + TRANSPORT_OFFSET_COUNTER + 4);
  if (!keypair.replay.validateCounter(hi, lo)) {
    dev.drops.replayed++;
    return 0;
  }

  // 4. the packet is authentic
  if (receivedWithKeypair(peer.keypairs, keypair, retiredScratch)) {
    dev.retire(retiredScratch);
    retiredScratch.length = 0;
    handshakeComplete(dev, peer);
    sendStagedPackets(dev, peer);
  }
  keepKeyFreshReceiving(dev, peer, keypair, now);
  const timers = peer.timers;
  timers.anyAuthenticatedPacketTraversal();
  timers.anyAuthenticatedPacketReceived();
  if (endpoint && endpoint !== peer.endpoint) peer.endpoint = endpoint;
  peer.rxBytes += length;

  const plainLength = length - MESSAGE_TRANSPORT_HEADER_SIZE - AEAD_TAG_SIZE;
  if (plainLength === 0) return 0; // keepalive
  timers.dataReceived();

  // 5. one well-formed IP packet from an address this peer may use
  const body = off + MESSAGE_TRANSPORT_HEADER_SIZE;
  const version = data[body]! >> 4;
  let packetLength: number;
  let source: number;
  let family: 4 | 6;
  if (version === 4 && plainLength >= 20) {
    packetLength = (data[body + 2]! << 8) | data[body + 3]!;
    source = body + 12;
    family = 4;
    if (packetLength < 20) packetLength = -1;
  } else if (version === 6 && plainLength >= 40) {
    packetLength = 40 + ((data[body + 4]! << 8) | data[body + 5]!);
    source = body + 8;
    family = 6;
  } else {
    dev.drops.invalidPacket++;
    return 0;
  }
  if (packetLength < 0 || packetLength > plainLength) {
    dev.drops.invalidPacket++;
    return 0;
  }
  if (dev.allowedIPs.lookup(family, data, source) !== peer) {
    dev.drops.notAllowed++;
    return 0;
  }
  return packetLength;
}

/**
 * The initiator of the current session rekeys when its keypair nears REJECT_AFTER_TIME and it
 * is still receiving, once (whitepaper §6.2; wireguard-go `keepKeyFreshReceiving`).
 */
function keepKeyFreshReceiving(dev: Device, peer: Peer, keypair: Keypair, now: number): void {
  if (peer.timers.sentLastMinuteHandshake) return;
  const current = peer.keypairs.current;
  if (keypair !== current || !current.isInitiator) return;
  if (now - current.created > REKEY_ON_RECEIVE_AGE_MS) {
    peer.timers.sentLastMinuteHandshake = true;
    sendHandshakeInitiation(dev, peer, false);
  }
}

function handshakeComplete(dev: Device, peer: Peer): void {
  peer.timers.handshakeComplete();
  peer.lastHandshakeTime = dev.wallNow();
  dev.emit('handshake', peer);
}

function receiveCookieReply(dev: Device, message: Uint8Array): void {
  const entry = dev.indexTable.lookup(readU32(message, COOKIE_REPLY_OFFSET_RECEIVER));
  if (!entry?.peer.cookieGenerator.consumeReply(message)) {
    dev.drops.handshakeRejected++;
  }
}

/** wireguard-go `IsUnderLoad`: a long handshake queue, and for a second after it was long. */
function isUnderLoad(dev: Device, now: number): boolean {
  if (dev.handshakeQueue.length >= UNDER_LOAD_QUEUE_LENGTH) {
    dev.underLoadUntil = now + UNDER_LOAD_AFTER_TIME_MS;
    return true;
  }
  return dev.underLoadUntil > now;
}

/** Processes up to `budget` queued handshake messages. Never throws. */
export function processHandshakeQueue(dev: Device, budget: number): void {
  const queue = dev.handshakeQueue;
  for (let n = 0; n < budget && queue.length > 0; n++) {
    const slot = queue.peek();
    const start = slot * MESSAGE_INITIATION_SIZE;
    const message = queue.data.subarray(start, start + queue.lengths[slot]!);
    const endpoint = queue.endpoints[slot] ?? null;
    const underLoad = isUnderLoad(dev, dev.now());
    try {
      processHandshake(dev, message, endpoint, underLoad);
    } catch (err) {
      // the packet path never throws; a bug here must not take the device down
      dev.drops.handshakeRejected++;
      dev.logger.error(`handshake processing failed: ${String(err)}`);
    }
    queue.shift();
  }
}

function processHandshake(
  dev: Device,
  message: Uint8Array,
  endpoint: Endpoint | null,
  underLoad: boolean
): void {
  // mac1 first: cheap, and it proves the sender knows our public key
  if (!dev.cookieChecker.checkMAC1(message)) {
    dev.drops.badMac1++;
    return;
  }
  if (underLoad && endpoint) {
    const source = encoder.encode(endpoint.key);
    if (!dev.cookieChecker.checkMAC2(message, source)) {
      const senderOffset =
        readU32(message, 0) === MESSAGE_INITIATION_TYPE
          ? INITIATION_OFFSET_SENDER
          : RESPONSE_OFFSET_SENDER;
      const reply = dev.handshakeScratch.subarray(0, MESSAGE_COOKIE_REPLY_SIZE);
      if (dev.cookieChecker.createReply(message, readU32(message, senderOffset), source, reply)) {
        sendTo(dev, endpoint, reply);
        dev.cookieRepliesSent++;
      }
      return;
    }
    if (!dev.ratelimiter.allow(endpoint.family, endpoint.address)) {
      dev.drops.ratelimited++;
      return;
    }
  }

  if (readU32(message, 0) === MESSAGE_INITIATION_TYPE) {
    const peer = consumeMessageInitiation(dev, message);
    if (!peer) {
      dev.drops.handshakeRejected++;
      return;
    }
    // authenticated: the reply goes where the initiation came from
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketReceived();
    if (endpoint) peer.endpoint = endpoint;
    peer.rxBytes += message.length;
    if (!sendHandshakeResponse(dev, peer)) dev.drops.handshakeRejected++;
    return;
  }

  const peer = consumeMessageResponse(dev, message);
  if (!peer) {
    dev.drops.handshakeRejected++;
    return;
  }
  if (endpoint) peer.endpoint = endpoint;
  peer.rxBytes += message.length;
  peer.timers.anyAuthenticatedPacketTraversal();
  peer.timers.anyAuthenticatedPacketReceived();
  const session = beginSymmetricSession(dev, peer);
  if (!session) {
    dev.drops.handshakeRejected++;
    return;
  }
  dev.retire(session.retired);
  peer.timers.sessionDerived();
  handshakeComplete(dev, peer);
  // key confirmation: staged data, or else a keepalive, goes out under the new keypair now
  if (peer.staged.length > 0) sendStagedPackets(dev, peer);
  else sendKeepalive(dev, peer);
}
