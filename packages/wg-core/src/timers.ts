// SPDX-License-Identifier: MIT
/**
 * The five per-peer timers of the kernel's `timers.c` (ported by wireguard-go `device/timers.go`),
 * on an injected clock:
 * - retransmitHandshake: re-send an initiation 5 s (+ jitter) after sending one, until
 *   MAX_TIMER_HANDSHAKES retries; then give up, drop staged packets, schedule key zeroing.
 * - sendKeepalive: after receiving data, answer with a keepalive within 10 s unless we sent
 *   something authenticated meanwhile (passive keepalive).
 * - newHandshake: after sending data, expect something back within 15 s (+ jitter); if nothing
 *   authenticated arrives, start a new handshake.
 * - zeroKeyMaterial: 540 s after the last session was derived, forget every key.
 * - persistentKeepalive: send a keepalive when nothing authenticated went either way for N s.
 *
 * `Timer` is lazy: re-arming it later (as every packet does) only moves a deadline; the
 * scheduled callback notices and sleeps again. No timer object is made per packet.
 * @module
 */

import type { Clock } from './clock.ts';
import {
  KEEPALIVE_TIMEOUT_MS,
  MAX_TIMER_HANDSHAKES,
  REKEY_TIMEOUT_JITTER_MAX_MS,
  REKEY_TIMEOUT_MS,
  ZERO_KEY_MATERIAL_MS,
} from './constants.ts';

/** A one-shot timer that can be moved (`mod`) and cancelled (`del`) cheaply and often. */
export class Timer {
  readonly #clock: Clock;
  readonly #fn: () => void;
  #deadline = -1;
  #handle: unknown = null;
  #scheduledFor = 0;

  constructor(clock: Clock, fn: () => void) {
    this.#clock = clock;
    this.#fn = fn;
  }

  /** (Re)arms the timer to fire `ms` from now. */
  mod(ms: number): void {
    const deadline = this.#clock.now() + ms;
    this.#deadline = deadline;
    if (this.#handle !== null && this.#scheduledFor <= deadline) return;
    if (this.#handle !== null) this.#clock.clearTimer(this.#handle);
    this.#schedule(deadline);
  }

  /** Cancels the timer (the scheduled callback, if any, finds nothing to do). */
  del(): void {
    this.#deadline = -1;
  }

  get pending(): boolean {
    return this.#deadline >= 0;
  }

  /** Cancels and releases the scheduled callback (peer removal, device down). */
  stop(): void {
    this.#deadline = -1;
    if (this.#handle !== null) this.#clock.clearTimer(this.#handle);
    this.#handle = null;
  }

  #schedule(deadline: number): void {
    this.#scheduledFor = deadline;
    this.#handle = this.#clock.setTimer(this.#fire, Math.max(0, deadline - this.#clock.now()));
  }

  readonly #fire = (): void => {
    this.#handle = null;
    if (this.#deadline < 0) return;
    if (this.#clock.now() < this.#deadline) {
      this.#schedule(this.#deadline);
      return;
    }
    this.#deadline = -1;
    this.#fn();
  };
}

/** What the timers do when they expire; the device implements it. */
export interface TimerActions<P> {
  sendHandshakeInitiation(peer: P, isRetry: boolean): void;
  sendKeepalive(peer: P): void;
  /** Gave up on the handshake: drop the packets staged for it. */
  handshakeGaveUp(peer: P): void;
  zeroKeyMaterial(peer: P): void;
  /** Forget the cached local source address (sticky sockets), if any. */
  clearSource(peer: P): void;
}

export class PeerTimers<P> {
  readonly retransmitHandshake: Timer;
  readonly sendKeepalive: Timer;
  readonly newHandshake: Timer;
  readonly zeroKeyMaterial: Timer;
  readonly persistentKeepalive: Timer;
  handshakeAttempts = 0;
  needAnotherKeepalive = false;
  sentLastMinuteHandshake = false;
  /** Seconds; 0 = off. */
  persistentKeepaliveInterval = 0;
  readonly #random: () => number;

  constructor(clock: Clock, random: () => number, peer: P, actions: TimerActions<P>) {
    this.#random = random;
    this.retransmitHandshake = new Timer(clock, () => {
      if (this.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
        // gave up: no more retries; stop answering with keepalives, drop what waited for a
        // session, and forget keys in 540 s unless something new comes
        this.sendKeepalive.del();
        actions.handshakeGaveUp(peer);
        if (!this.zeroKeyMaterial.pending) this.zeroKeyMaterial.mod(ZERO_KEY_MATERIAL_MS);
        return;
      }
      this.handshakeAttempts++;
      actions.clearSource(peer);
      actions.sendHandshakeInitiation(peer, true);
    });
    this.sendKeepalive = new Timer(clock, () => {
      actions.sendKeepalive(peer);
      if (this.needAnotherKeepalive) {
        this.needAnotherKeepalive = false;
        this.sendKeepalive.mod(KEEPALIVE_TIMEOUT_MS);
      }
    });
    this.newHandshake = new Timer(clock, () => {
      // we sent data 15 s ago and heard nothing authenticated back
      actions.clearSource(peer);
      actions.sendHandshakeInitiation(peer, false);
    });
    this.zeroKeyMaterial = new Timer(clock, () => actions.zeroKeyMaterial(peer));
    this.persistentKeepalive = new Timer(clock, () => {
      if (this.persistentKeepaliveInterval > 0) actions.sendKeepalive(peer);
    });
  }

  #jitter(): number {
    return Math.floor(this.#random() * REKEY_TIMEOUT_JITTER_MAX_MS);
  }

  /** Should be called after an authenticated data packet is sent. */
  dataSent(): void {
    if (!this.newHandshake.pending) {
      this.newHandshake.mod(KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS + this.#jitter());
    }
  }

  /** Should be called after an authenticated data packet is received. */
  dataReceived(): void {
    if (!this.sendKeepalive.pending) this.sendKeepalive.mod(KEEPALIVE_TIMEOUT_MS);
    else this.needAnotherKeepalive = true;
  }

  /** Should be called after any type of authenticated packet is sent: keepalive, data, handshake. */
  anyAuthenticatedPacketSent(): void {
    this.sendKeepalive.del();
  }

  /** Should be called after any type of authenticated packet is received. */
  anyAuthenticatedPacketReceived(): void {
    this.newHandshake.del();
  }

  /** Should be called after a handshake initiation message is sent. */
  handshakeInitiated(): void {
    this.retransmitHandshake.mod(REKEY_TIMEOUT_MS + this.#jitter());
  }

  /**
   * Should be called after a handshake response is consumed (initiator) or the first packet
   * under a new keypair arrives (responder).
   */
  handshakeComplete(): void {
    this.retransmitHandshake.del();
    this.handshakeAttempts = 0;
    this.sentLastMinuteHandshake = false;
  }

  /** Should be called after a new session's keys are derived. */
  sessionDerived(): void {
    this.zeroKeyMaterial.mod(ZERO_KEY_MATERIAL_MS);
  }

  /** Should be called before any authenticated packet is sent or after one is received. */
  anyAuthenticatedPacketTraversal(): void {
    if (this.persistentKeepaliveInterval > 0) {
      this.persistentKeepalive.mod(this.persistentKeepaliveInterval * 1000);
    }
  }

  stop(): void {
    this.retransmitHandshake.stop();
    this.sendKeepalive.stop();
    this.newHandshake.stop();
    this.zeroKeyMaterial.stop();
    this.persistentKeepalive.stop();
    this.handshakeAttempts = 0;
    this.needAnotherKeepalive = false;
    this.sentLastMinuteHandshake = false;
  }
}
