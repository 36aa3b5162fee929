// SPDX-License-Identifier: MIT
/**
 * A batch of packets in one preallocated slab: the unit the data path moves. A TUN read fills a
 * batch, the send path encrypts every packet in place and hands the same batch to the bind; a
 * UDP read fills a batch, the receive path decrypts in place and hands it to the TUN. Nothing on
 * the way allocates a buffer per packet (wireguard-go `device/pools.go`, `conn.IdealBatchSize`).
 *
 * Slot `i` spans `[i * slotSize, (i + 1) * slotSize)` of `data`; the packet in it starts at
 * `offsets[i]` (absolute, inside the slot) and is `lengths[i]` bytes long; a length of 0 means
 * "no packet here" (dropped on the way) and consumers skip it.
 * @module
 */

import type { Endpoint } from './bind.ts';

/** Packets per batch, as wireguard-go's IdealBatchSize and the kernel's MAX_STAGED_PACKETS. */
export const IDEAL_BATCH_SIZE = 128;
/** Room kept in front of an IP packet read from the TUN: the 16-byte transport header. */
export const TUN_HEADROOM = 16;
/** Room kept behind it: up to 15 bytes of padding and the 16-byte Poly1305 tag. */
export const TUN_TAILROOM = 32;

export class PacketBatch {
  /** The slab holding every slot. */
  readonly data: Uint8Array;
  readonly slotSize: number;
  readonly capacity: number;
  /** Absolute start of packet i within `data`. */
  readonly offsets: Uint32Array;
  /** Length of packet i; 0 = empty slot. */
  readonly lengths: Uint32Array;
  /** Remote endpoint of packet i (UDP source on receive, destination on send). */
  readonly endpoints: (Endpoint | null)[];
  /** Number of slots in use, `0..capacity`. */
  count = 0;

  /**
   * A batch in its own memory, or, given `memory`, over `PacketBatch.byteLength(capacity,
   * slotSize)` bytes of it from `byteOffset` (a multiple of 4): the slab, then the offsets, then
   * the lengths. Over a SharedArrayBuffer, worker threads see the same packets (`crypto-pool.ts`).
   */
  constructor(
    capacity: number = IDEAL_BATCH_SIZE,
    slotSize = 2048,
    memory?: ArrayBufferLike,
    byteOffset = 0
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Cannot create batch: capacity ${capacity} is not a positive integer`);
    }
    if (!Number.isInteger(slotSize) || slotSize < 64) {
      throw new RangeError(`Cannot create batch: slot size ${slotSize} is below 64 bytes`);
    }
    this.capacity = capacity;
    this.slotSize = slotSize;
    if (memory === undefined) {
      this.data = new Uint8Array(capacity * slotSize);
      this.offsets = new Uint32Array(capacity);
      this.lengths = new Uint32Array(capacity);
    } else {
      const need = PacketBatch.byteLength(capacity, slotSize);
      if (byteOffset % 4 !== 0 || byteOffset < 0 || byteOffset + need > memory.byteLength) {
        throw new RangeError(
          `Cannot create batch: ${need} bytes at offset ${byteOffset} do not fit in ` +
            `${memory.byteLength} bytes of memory`
        );
      }
      const slab = capacity * slotSize;
      const words = byteOffset + align4(slab);
      this.data = new Uint8Array(memory, byteOffset, slab);
      this.offsets = new Uint32Array(memory, words, capacity);
      this.lengths = new Uint32Array(memory, words + 4 * capacity, capacity);
    }
    this.endpoints = new Array<Endpoint | null>(capacity).fill(null);
  }

  /** Bytes a batch occupies in given memory: the slab (padded to 4), offsets and lengths. */
  static byteLength(capacity: number, slotSize: number): number {
    return align4(capacity * slotSize) + 8 * capacity;
  }

  /** Start of slot i. */
  slotStart(i: number): number {
    return i * this.slotSize;
  }

  /** A view of packet i (allocates a view object; for tests and slow paths). */
  packet(i: number): Uint8Array {
    const off = this.offsets[i]!;
    return this.data.subarray(off, off + this.lengths[i]!);
  }

  /** Append a copy of `bytes` at `headroom` into the next slot; false when full or too large. */
  push(bytes: Uint8Array, endpoint: Endpoint | null = null, headroom = 0): boolean {
    if (this.count >= this.capacity || headroom + bytes.length > this.slotSize) return false;
    const i = this.count++;
    const off = i * this.slotSize + headroom;
    this.data.set(bytes, off);
    this.offsets[i] = off;
    this.lengths[i] = bytes.length;
    this.endpoints[i] = endpoint;
    return true;
  }

  reset(): void {
    this.count = 0;
  }
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}
