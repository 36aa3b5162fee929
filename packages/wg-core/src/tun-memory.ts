// SPDX-License-Identifier: MIT
/**
 * An in-memory TUN for tests (wireguard-go `tun/tuntest`): `inject()` plays the kernel handing
 * packets to the interface, `written` collects what the device delivered to the kernel.
 * @module
 */

import { IDEAL_BATCH_SIZE, PacketBatch, TUN_HEADROOM, TUN_TAILROOM } from './batch.ts';
import { DEFAULT_MTU } from './constants.ts';
import type { TunDevice, TunEvent } from './tun.ts';

export class MemoryTun implements TunDevice {
  readonly name: string;
  /** Packets the device wrote to the interface, oldest first. */
  readonly written: Uint8Array[] = [];
  #mtu: number;
  #receive: ((batch: PacketBatch) => void) | null = null;
  #events: ((event: TunEvent) => void) | null = null;
  readonly #batch: PacketBatch;
  closed = false;

  constructor(name = 'mem0', mtu = DEFAULT_MTU) {
    this.name = name;
    this.#mtu = mtu;
    this.#batch = new PacketBatch(IDEAL_BATCH_SIZE, 2048);
  }

  mtu(): number {
    return this.#mtu;
  }

  setMtu(mtu: number): void {
    this.#mtu = mtu;
    this.#events?.({ type: 'mtu', mtu });
  }

  setReceiver(receive: (batch: PacketBatch) => void): void {
    this.#receive = receive;
  }

  setEventHandler(handler: (event: TunEvent) => void): void {
    this.#events = handler;
  }

  /** Hands packets to the device as one or more batches, as a TUN read would. */
  inject(...packets: Uint8Array[]): void {
    const batch = this.#batch;
    let k = 0;
    while (k < packets.length) {
      batch.reset();
      while (k < packets.length && batch.count < batch.capacity) {
        const packet = packets[k++]!;
        if (packet.length + TUN_HEADROOM + TUN_TAILROOM > batch.slotSize) continue;
        batch.push(packet, null, TUN_HEADROOM);
      }
      this.#receive?.(batch);
    }
  }

  write(batch: PacketBatch): void {
    for (let i = 0; i < batch.count; i++) {
      if (batch.lengths[i]! > 0) this.written.push(batch.packet(i).slice());
    }
  }

  /** Takes and clears what was written so far. */
  drain(): Uint8Array[] {
    return this.written.splice(0, this.written.length);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
