// SPDX-License-Identifier: MIT
/**
 * Protocol limits and timer values, with the names of the whitepaper (§6.1), the kernel's
 * `messages.h` and wireguard-go's `device/constants.go`. Times are in milliseconds.
 *
 * Deviation: send counters are JS numbers, exact to 2^53. REKEY_AFTER_MESSAGES (2^60) and
 * REJECT_AFTER_MESSAGES (≈2^64) are kept at their spec values for comparisons; a sender cannot
 * reach 2^53 messages in practice (≈285 years at 1M packets/s). Received counters are full u64
 * (two u32 halves) and are checked exactly against REJECT_AFTER_MESSAGES in `replay.ts`.
 * @module
 */

/** Whitepaper §6.1: initiate a new handshake after this many messages on one keypair. */
export const REKEY_AFTER_MESSAGES = 2 ** 60;
/** 2^64 − 2^13 − 1 (kernel: U64_MAX − COUNTER_WINDOW_SIZE − 1), as two u32 halves for exact checks. */
export const REJECT_AFTER_MESSAGES_HI = 0xffff_ffff;
export const REJECT_AFTER_MESSAGES_LO = 0xffff_dfff;
/** The same limit as a (rounded) number, for the send side. */
export const REJECT_AFTER_MESSAGES = 2 ** 64 - 2 ** 13 - 1;

export const REKEY_AFTER_TIME_MS = 120_000;
export const REJECT_AFTER_TIME_MS = 180_000;
export const REKEY_ATTEMPT_TIME_MS = 90_000;
export const REKEY_TIMEOUT_MS = 5_000;
/** Jitter added to handshake retransmissions: 0..333 ms (kernel HZ/3). */
export const REKEY_TIMEOUT_JITTER_MAX_MS = 334;
export const KEEPALIVE_TIMEOUT_MS = 10_000;
export const COOKIE_REFRESH_TIME_MS = 120_000;
/** Initiations consumed from one peer at most this often (50 per second). */
export const HANDSHAKE_INITIATION_RATE_MS = 20;
/** REKEY_ATTEMPT_TIME / REKEY_TIMEOUT = 18 retransmissions before giving up. */
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME_MS / REKEY_TIMEOUT_MS;
/** Keys are zeroed when nothing new was derived for 3 × REJECT_AFTER_TIME. */
export const ZERO_KEY_MATERIAL_MS = REJECT_AFTER_TIME_MS * 3;
/** Initiator rekeys on receive when its keypair is older than REJECT − KEEPALIVE − REKEY_TIMEOUT. */
export const REKEY_ON_RECEIVE_AGE_MS =
  REJECT_AFTER_TIME_MS - KEEPALIVE_TIMEOUT_MS - REKEY_TIMEOUT_MS;

/** Plaintext is padded to a multiple of this, never beyond the MTU (whitepaper §5.4.6). */
export const PADDING_MULTIPLE = 16;
/** Packets staged per peer while waiting for a session; the oldest is dropped past this. */
export const MAX_STAGED_PACKETS = 128;
/** Bounded handshake queue; "under load" once it holds QUEUE_HANDSHAKE_SIZE / 8 messages. */
export const QUEUE_HANDSHAKE_SIZE = 1024;
export const UNDER_LOAD_QUEUE_LENGTH = QUEUE_HANDSHAKE_SIZE / 8;
/** Once under load, stay so for this long (wireguard-go UnderLoadAfterTime). */
export const UNDER_LOAD_AFTER_TIME_MS = 1_000;
export const MAX_PEERS = 1 << 16;
export const DEFAULT_MTU = 1420;
/** The largest packet any batch slot must hold: 65535-byte UDP payload. */
export const MAX_SEGMENT_SIZE = 65_535;
