// SPDX-License-Identifier: MIT
/**
 * Transport keypairs and the previous/current/next rotation (whitepaper §5.4.7, §6;
 * wireguard-go `device/keypair.go`, kernel `noise.c` keypair handling).
 * @module
 */

import {
  REJECT_AFTER_MESSAGES,
  REJECT_AFTER_TIME_MS,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME_MS,
} from './constants.ts';
import { ReplayFilter } from './replay.ts';

export class Keypair {
  readonly sendKey: Uint8Array;
  readonly receiveKey: Uint8Array;
  /** Next counter to send; a number, exact to 2^53 (see constants.ts). */
  sendNonce = 0;
  readonly replay = new ReplayFilter();
  /** @internal the batch scratch (`aead-batch.ts`) that holds this key, and its slot there */
  aeadMark = 0;
  /** @internal */
  aeadSlot = 0;
  readonly isInitiator: boolean;
  /** Monotonic ms when the keypair was derived. */
  readonly created: number;
  readonly localIndex: number;
  readonly remoteIndex: number;

  constructor(
    sendKey: Uint8Array,
    receiveKey: Uint8Array,
    isInitiator: boolean,
    created: number,
    localIndex: number,
    remoteIndex: number
  ) {
    this.sendKey = sendKey;
    this.receiveKey = receiveKey;
    this.isInitiator = isInitiator;
    this.created = created;
    this.localIndex = localIndex;
    this.remoteIndex = remoteIndex;
  }

  /** Usable for sending: younger than REJECT_AFTER_TIME and below REJECT_AFTER_MESSAGES. */
  canSend(now: number): boolean {
    return now - this.created < REJECT_AFTER_TIME_MS && this.sendNonce < REJECT_AFTER_MESSAGES;
  }

  /** Received data on a keypair older than REJECT_AFTER_TIME is dropped. */
  canReceive(now: number): boolean {
    return now - this.created < REJECT_AFTER_TIME_MS;
  }

  /**
   * After sending: time to start a new handshake? Past REKEY_AFTER_MESSAGES, or (only for the
   * initiator of this session, to avoid duelling handshakes) older than REKEY_AFTER_TIME.
   */
  needsRekeyAfterSend(now: number, rekeyAfterTimeMs = REKEY_AFTER_TIME_MS): boolean {
    return (
      this.sendNonce > REKEY_AFTER_MESSAGES ||
      (this.isInitiator && now - this.created > rekeyAfterTimeMs)
    );
  }

  /** Overwrites the keys; JS cannot promise the bytes are gone, but we do not keep them around. */
  zero(): void {
    this.sendKey.fill(0);
    this.receiveKey.fill(0);
  }
}

export class Keypairs {
  previous: Keypair | null = null;
  current: Keypair | null = null;
  /** The responder's new keypair, unused for sending until the initiator confirms it. */
  next: Keypair | null = null;
}
