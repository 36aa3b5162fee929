// SPDX-License-Identifier: MIT
/**
 * TAI64N timestamps for handshake initiations (whitepaper §5.4.2): 12 bytes, a big-endian u64 of
 * TAI seconds (2^62 + 10 + unix seconds, the "external TAI64 label" with the 10 s 1972 offset)
 * followed by a big-endian u32 of nanoseconds. The responder keeps the greatest stamp seen per
 * peer and accepts only strictly greater ones, which stops replayed initiations. Mirrors
 * wireguard-go `tai64n/tai64n.go` (including its whitening) and kernel `noise.c` tai64n_now().
 * @module
 */

export const TAI64N_SIZE = 12;

/** 2^62 + 10 as the high word of the seconds label; the +10 goes into the low word. */
const LABEL_HI = 0x4000_0000;
const LABEL_LO = 10;
const TWO_32 = 2 ** 32;
/**
 * Whitening: the low 24 bits of the nanoseconds are cleared (≈16.8 ms resolution), as
 * wireguard-go does, so an initiation does not reveal the sender's fine clock. The kernel rounds
 * down to a power of two at most 1 s / INITIATIONS_PER_SECOND instead; both are compatible, since
 * only one initiator's own stamps are ever compared.
 */
const WHITEN_MASK = ~0xff_ffff;

/**
 * Writes the TAI64N label of `unixMs` (milliseconds since the Unix epoch, wall clock, never
 * a monotonic clock: peers compare stamps across restarts) into `out[offset..offset + 12]`.
 *
 * @param out destination, at least `offset + 12` bytes
 * @param unixMs wall-clock time in milliseconds, e.g. `Date.now()`
 * @param offset where to write in `out` (default 0)
 * @example
 * const stamp = new Uint8Array(TAI64N_SIZE);
 * tai64n(stamp, Date.now());
 */
export function tai64n(out: Uint8Array, unixMs: number, offset = 0): void {
  if (!Number.isFinite(unixMs)) {
    throw new TypeError(`Cannot encode TAI64N timestamp "${unixMs}": time must be finite`);
  }
  if (!Number.isInteger(offset) || offset < 0 || offset + TAI64N_SIZE > out.length) {
    throw new RangeError(
      `Cannot encode TAI64N timestamp at offset "${offset}": needs ${TAI64N_SIZE} bytes in a buffer of ${out.length}`
    );
  }
  const seconds = Math.floor(unixMs / 1000);
  const fraction = unixMs - seconds * 1000; // [0, 1000) ms, also for times before 1970
  const nanos = Math.min(Math.floor(fraction * 1e6), 999_999_999);
  // Seconds may exceed 32 bits: split 10 + seconds into u32 halves and add the 2^62 label.
  const total = LABEL_LO + seconds;
  const hi = Math.floor(total / TWO_32);
  const lo = total - hi * TWO_32;
  const view = new DataView(out.buffer, out.byteOffset + offset, TAI64N_SIZE);
  view.setUint32(0, (LABEL_HI + hi) >>> 0);
  view.setUint32(4, lo);
  view.setUint32(8, (nanos & WHITEN_MASK) >>> 0);
}

/**
 * True when timestamp `a` is strictly later than `b`: an unsigned bytewise comparison of the
 * 12 bytes, which is the numeric order of big-endian labels (wireguard-go `Timestamp.After`).
 */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < TAI64N_SIZE; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return false;
}
