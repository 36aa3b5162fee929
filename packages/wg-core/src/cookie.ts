// SPDX-License-Identifier: MIT
/**
 * mac1, mac2 and cookie replies (whitepaper §5.4.4, §5.4.7; kernel `cookie.c`, wireguard-go
 * `device/cookie.go`). `CookieChecker` is the device's side: it checks the macs of handshake
 * messages addressed to us and, under load, answers with a cookie bound to the sender's address.
 * `CookieGenerator` is the per-peer side: it adds macs to the handshake messages we send to that
 * peer and consumes the cookies it sends us.
 * @module
 */

import { COOKIE_REFRESH_TIME_MS } from './constants.ts';
import type { Crypto } from './crypto.ts';
import { constantTimeEqual, HASH_SIZE, MAC_SIZE, XAEAD_NONCE_SIZE } from './crypto.ts';
import {
  COOKIE_REPLY_OFFSET_COOKIE,
  COOKIE_REPLY_OFFSET_NONCE,
  COOKIE_REPLY_OFFSET_RECEIVER,
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_COOKIE_REPLY_TYPE,
  writeU32,
} from './messages.ts';

const encoder = new TextEncoder();
const LABEL_MAC1 = encoder.encode('mac1----');
const LABEL_COOKIE = encoder.encode('cookie--');

/** Where a message ends its mac1 and mac2 fields: the last 32 and 16 bytes. */
function macOffsets(msg: Uint8Array): { mac1: number; mac2: number } {
  return { mac1: msg.length - 2 * MAC_SIZE, mac2: msg.length - MAC_SIZE };
}

/** The device's side: checks the macs on messages to us and makes cookie replies. */
export class CookieChecker {
  readonly #crypto: Crypto;
  readonly #now: () => number;
  /** HASH(LABEL_MAC1 ‖ S_pub) of our own key. */
  readonly #mac1Key = new Uint8Array(HASH_SIZE);
  /** HASH(LABEL_COOKIE ‖ S_pub): encrypts the cookies we hand out. */
  readonly #encryptionKey = new Uint8Array(HASH_SIZE);
  /** Random secret the cookies derive from; renewed every COOKIE_REFRESH_TIME. */
  readonly #secret = new Uint8Array(HASH_SIZE);
  #secretSet = Number.NEGATIVE_INFINITY;
  #ready = false;
  readonly #scratch = new Uint8Array(MAC_SIZE);

  constructor(crypto: Crypto, now: () => number) {
    this.#crypto = crypto;
    this.#now = now;
  }

  /** Derives the keys from our public key; `null` disables checking (no key: drop all). */
  init(publicKey: Uint8Array | null): void {
    this.#ready = publicKey !== null;
    if (!publicKey) return;
    this.#crypto.hash(this.#mac1Key, LABEL_MAC1, publicKey);
    this.#crypto.hash(this.#encryptionKey, LABEL_COOKIE, publicKey);
    this.#secretSet = Number.NEGATIVE_INFINITY;
  }

  /** mac1 = MAC(HASH(LABEL_MAC1 ‖ S_pub), msg[0..len−32)); checked before any DH work. */
  checkMAC1(msg: Uint8Array): boolean {
    if (!this.#ready) return false;
    const { mac1 } = macOffsets(msg);
    this.#crypto.mac(this.#scratch, this.#mac1Key, msg.subarray(0, mac1));
    return constantTimeEqual(this.#scratch, msg.subarray(mac1, mac1 + MAC_SIZE));
  }

  /** mac2 = MAC(cookie, msg[0..len−16)) where cookie = MAC(secret, source address). */
  checkMAC2(msg: Uint8Array, source: Uint8Array): boolean {
    if (!this.#ready) return false;
    if (this.#now() - this.#secretSet > COOKIE_REFRESH_TIME_MS) return false;
    const cookie = new Uint8Array(MAC_SIZE);
    this.#crypto.mac(cookie, this.#secret, source);
    const { mac2 } = macOffsets(msg);
    this.#crypto.mac(this.#scratch, cookie, msg.subarray(0, mac2));
    return constantTimeEqual(this.#scratch, msg.subarray(mac2, mac2 + MAC_SIZE));
  }

  /**
   * Writes a cookie reply to `msg` (whose sender index is `receiver`) into `out[0..64)`:
   * the cookie for `source`, sealed with XChaCha20-Poly1305 under a random nonce and with the
   * message's mac1 as associated data.
   */
  createReply(msg: Uint8Array, receiver: number, source: Uint8Array, out: Uint8Array): boolean {
    if (!this.#ready) return false;
    const now = this.#now();
    if (now - this.#secretSet > COOKIE_REFRESH_TIME_MS) {
      this.#crypto.randomBytes(this.#secret);
      this.#secretSet = now;
    }
    const cookie = new Uint8Array(MAC_SIZE);
    this.#crypto.mac(cookie, this.#secret, source);
    out.fill(0, 0, MESSAGE_COOKIE_REPLY_SIZE);
    writeU32(out, 0, MESSAGE_COOKIE_REPLY_TYPE);
    writeU32(out, COOKIE_REPLY_OFFSET_RECEIVER, receiver);
    const nonce = out.subarray(
      COOKIE_REPLY_OFFSET_NONCE,
      COOKIE_REPLY_OFFSET_NONCE + XAEAD_NONCE_SIZE
    );
    this.#crypto.randomBytes(nonce);
    const { mac1 } = macOffsets(msg);
    this.#crypto.xaeadSeal(
      out.subarray(COOKIE_REPLY_OFFSET_COOKIE, MESSAGE_COOKIE_REPLY_SIZE),
      this.#encryptionKey,
      nonce,
      cookie,
      msg.subarray(mac1, mac1 + MAC_SIZE)
    );
    return true;
  }
}

/** The per-peer side: adds macs to our handshake messages and keeps the peer's cookie. */
export class CookieGenerator {
  readonly #crypto: Crypto;
  readonly #now: () => number;
  readonly #mac1Key = new Uint8Array(HASH_SIZE);
  readonly #decryptionKey = new Uint8Array(HASH_SIZE);
  readonly #cookie = new Uint8Array(MAC_SIZE);
  #cookieSet = Number.NEGATIVE_INFINITY;
  readonly #lastMAC1 = new Uint8Array(MAC_SIZE);
  #hasLastMAC1 = false;

  constructor(crypto: Crypto, now: () => number, peerPublicKey: Uint8Array) {
    this.#crypto = crypto;
    this.#now = now;
    crypto.hash(this.#mac1Key, LABEL_MAC1, peerPublicKey);
    crypto.hash(this.#decryptionKey, LABEL_COOKIE, peerPublicKey);
  }

  /** Fills mac1 (always) and mac2 (when a cookie younger than COOKIE_REFRESH_TIME is held). */
  addMacs(msg: Uint8Array): void {
    const { mac1, mac2 } = macOffsets(msg);
    const mac1Out = msg.subarray(mac1, mac1 + MAC_SIZE);
    this.#crypto.mac(mac1Out, this.#mac1Key, msg.subarray(0, mac1));
    this.#lastMAC1.set(mac1Out);
    this.#hasLastMAC1 = true;
    const mac2Out = msg.subarray(mac2, mac2 + MAC_SIZE);
    if (this.#now() - this.#cookieSet > COOKIE_REFRESH_TIME_MS) {
      mac2Out.fill(0);
      return;
    }
    this.#crypto.mac(mac2Out, this.#cookie, msg.subarray(0, mac2));
  }

  /**
   * Takes a cookie reply to the last message we sent. The next retransmission carries mac2;
   * nothing is resent now (whitepaper §5.4.7).
   */
  consumeReply(msg: Uint8Array): boolean {
    if (!this.#hasLastMAC1 || msg.length !== MESSAGE_COOKIE_REPLY_SIZE) return false;
    const cookie = new Uint8Array(MAC_SIZE);
    const ok = this.#crypto.xaeadOpen(
      cookie,
      this.#decryptionKey,
      msg.subarray(COOKIE_REPLY_OFFSET_NONCE, COOKIE_REPLY_OFFSET_NONCE + XAEAD_NONCE_SIZE),
      msg.subarray(COOKIE_REPLY_OFFSET_COOKIE, MESSAGE_COOKIE_REPLY_SIZE),
      this.#lastMAC1
    );
    if (!ok) return false;
    this.#cookie.set(cookie);
    this.#cookieSet = this.#now();
    return true;
  }

  /** True while a fresh cookie is held (tests and stats). */
  hasCookie(): boolean {
    return this.#now() - this.#cookieSet <= COOKIE_REFRESH_TIME_MS;
  }
}
