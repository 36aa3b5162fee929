// SPDX-License-Identifier: MIT
/**
 * Receiver indices: random 32-bit numbers we hand out in our messages, mapped back to the
 * handshake or keypair they belong to (kernel `peerlookup.c` index hashtable, wireguard-go
 * `device/indextable.go`).
 * @module
 */

import type { Keypair } from './keypair.ts';

export interface IndexEntry<P> {
  readonly peer: P;
  /** Set while the index names a handshake in progress. */
  handshake: boolean;
  /** Set once the handshake's session began. */
  keypair: Keypair | null;
}

export class IndexTable<P> {
  readonly #table = new Map<number, IndexEntry<P>>();
  readonly #random: () => number;

  /** @param random a source of uniformly random u32 values */
  constructor(random: () => number) {
    this.#random = random;
  }

  /** Allocates a fresh, unused index for a handshake of `peer`. */
  newIndexForHandshake(peer: P): number {
    for (;;) {
      const index = this.#random() >>> 0;
      if (this.#table.has(index)) continue;
      this.#table.set(index, { peer, handshake: true, keypair: null });
      return index;
    }
  }

  /** Re-binds a handshake's index to the keypair derived from it. */
  swapIndexForKeypair(index: number, keypair: Keypair): void {
    const entry = this.#table.get(index);
    if (!entry) return;
    entry.handshake = false;
    entry.keypair = keypair;
  }

  lookup(index: number): IndexEntry<P> | undefined {
    return this.#table.get(index);
  }

  delete(index: number): void {
    this.#table.delete(index);
  }

  get size(): number {
    return this.#table.size;
  }
}
