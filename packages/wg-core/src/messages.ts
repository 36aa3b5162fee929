// SPDX-License-Identifier: MIT
/**
 * Wire formats of the four WireGuard messages (whitepaper §5.4.2–§5.4.6; kernel `messages.h`,
 * wireguard-go `device/noise-protocol.go`). All integers are little-endian. The message type is
 * one byte followed by three reserved zero bytes, read together as one u32: by comparing the
 * whole word, a packet with non-zero reserved bytes is simply an unknown type and is dropped.
 * @module
 */

export const MESSAGE_INITIATION_TYPE = 1;
export const MESSAGE_RESPONSE_TYPE = 2;
export const MESSAGE_COOKIE_REPLY_TYPE = 3;
export const MESSAGE_TRANSPORT_TYPE = 4;

export const MESSAGE_INITIATION_SIZE = 148;
export const MESSAGE_RESPONSE_SIZE = 92;
export const MESSAGE_COOKIE_REPLY_SIZE = 64;
export const MESSAGE_TRANSPORT_HEADER_SIZE = 16;
/** Header plus the Poly1305 tag of an empty payload: a keepalive. */
export const MESSAGE_TRANSPORT_MIN_SIZE = 32;
export const MESSAGE_KEEPALIVE_SIZE = MESSAGE_TRANSPORT_MIN_SIZE;

// Initiation: type(4) sender(4) ephemeral(32) static(32+16) timestamp(12+16) mac1(16) mac2(16)
export const INITIATION_OFFSET_SENDER = 4;
export const INITIATION_OFFSET_EPHEMERAL = 8;
export const INITIATION_OFFSET_STATIC = 40;
export const INITIATION_OFFSET_TIMESTAMP = 88;
export const INITIATION_OFFSET_MAC1 = 116;
export const INITIATION_OFFSET_MAC2 = 132;

// Response: type(4) sender(4) receiver(4) ephemeral(32) empty(0+16) mac1(16) mac2(16)
export const RESPONSE_OFFSET_SENDER = 4;
export const RESPONSE_OFFSET_RECEIVER = 8;
export const RESPONSE_OFFSET_EPHEMERAL = 12;
export const RESPONSE_OFFSET_EMPTY = 44;
export const RESPONSE_OFFSET_MAC1 = 60;
export const RESPONSE_OFFSET_MAC2 = 76;

// Cookie reply: type(4) receiver(4) nonce(24) cookie(16+16)
export const COOKIE_REPLY_OFFSET_RECEIVER = 4;
export const COOKIE_REPLY_OFFSET_NONCE = 8;
export const COOKIE_REPLY_OFFSET_COOKIE = 32;

// Transport: type(4) receiver(4) counter(8) packet(n+16)
export const TRANSPORT_OFFSET_RECEIVER = 4;
export const TRANSPORT_OFFSET_COUNTER = 8;
export const TRANSPORT_OFFSET_CONTENT = 16;

export function readU32(data: Uint8Array, off: number): number {
  return (
    (data[off]! | (data[off + 1]! << 8) | (data[off + 2]! << 16) | (data[off + 3]! << 24)) >>> 0
  );
}

export function writeU32(data: Uint8Array, off: number, value: number): void {
  data[off] = value & 0xff;
  data[off + 1] = (value >>> 8) & 0xff;
  data[off + 2] = (value >>> 16) & 0xff;
  data[off + 3] = (value >>> 24) & 0xff;
}

/**
 * The type of the message at `data[off..off+length)`, or 0 when the word is not one of the four
 * types or the size is wrong for it: exact sizes for types 1–3, at least 32 bytes for type 4
 * (wireguard-go `RoutineReceiveIncoming`).
 */
export function messageType(data: Uint8Array, off: number, length: number): number {
  if (length < 4) return 0;
  const type = readU32(data, off);
  switch (type) {
    case MESSAGE_INITIATION_TYPE:
      return length === MESSAGE_INITIATION_SIZE ? type : 0;
    case MESSAGE_RESPONSE_TYPE:
      return length === MESSAGE_RESPONSE_SIZE ? type : 0;
    case MESSAGE_COOKIE_REPLY_TYPE:
      return length === MESSAGE_COOKIE_REPLY_SIZE ? type : 0;
    case MESSAGE_TRANSPORT_TYPE:
      return length >= MESSAGE_TRANSPORT_MIN_SIZE ? type : 0;
    default:
      return 0;
  }
}
