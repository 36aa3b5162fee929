// SPDX-License-Identifier: MIT
/**
 * A peer: its static key, handshake, keypairs, endpoint, staged packets, timers and counters
 * (kernel `peer.c`, wireguard-go `device/peer.go`). The device owns the logic; a Peer is the
 * state it works on plus the read-only view the rest of the project embeds.
 * @module
 */

import type { Endpoint } from './bind.ts';
import type { Clock } from './clock.ts';
import { CookieGenerator } from './cookie.ts';
import type { Crypto } from './crypto.ts';
import { Keypairs } from './keypair.ts';
import { keyToBase64 } from './keys.ts';
import { Handshake, type NoisePeer } from './noise.ts';
import { PeerTimers, type TimerActions } from './timers.ts';

/** A snapshot of what `wg show` prints for a peer. */
export interface PeerStats {
  publicKey: string;
  hasPresharedKey: boolean;
  endpoint: string | null;
  /** Unix ms of the last completed handshake; 0 = never. */
  lastHandshakeTime: number;
  rxBytes: number;
  txBytes: number;
  persistentKeepaliveInterval: number;
  allowedIPs: string[];
}

export class Peer implements NoisePeer {
  readonly publicKey: Uint8Array;
  readonly handshake: Handshake;
  readonly keypairs = new Keypairs();
  readonly cookieGenerator: CookieGenerator;
  readonly timers: PeerTimers<Peer>;
  /** Where we send; updated from every authenticated packet (roaming). */
  endpoint: Endpoint | null = null;
  rxBytes = 0;
  txBytes = 0;
  /** Unix ms of the last completed handshake; 0 = never. */
  lastHandshakeTime = 0;
  /** Monotonic ms of the last initiation we sent; initiations go out once per REKEY_TIMEOUT. */
  lastSentHandshake = Number.NEGATIVE_INFINITY;
  /** IP packets waiting for a session, oldest first (at most MAX_STAGED_PACKETS). */
  readonly staged: Uint8Array[] = [];
  /** @internal the device batch this peer last sent in */
  batchMark = -1;
  /** False once removed from its device: late timer callbacks then do nothing. */
  live = true;

  constructor(
    crypto: Crypto,
    clock: Clock,
    random: () => number,
    publicKey: Uint8Array,
    actions: TimerActions<Peer>
  ) {
    this.publicKey = Uint8Array.from(publicKey);
    this.handshake = new Handshake(this.publicKey);
    this.cookieGenerator = new CookieGenerator(crypto, () => clock.now(), this.publicKey);
    this.timers = new PeerTimers<Peer>(clock, random, this, actions);
  }

  get persistentKeepaliveInterval(): number {
    return this.timers.persistentKeepaliveInterval;
  }

  /** The peer's public key in base64, as `wg` prints it. */
  toString(): string {
    return keyToBase64(this.publicKey);
  }
}
