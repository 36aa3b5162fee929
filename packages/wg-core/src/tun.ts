// SPDX-License-Identifier: MIT
/**
 * The TUN side of a device (wireguard-go `tun.Device`, kernel `net_device`): batches of IP
 * packets in, batches out. `tun-memory.ts` is the in-memory fake beside it; the Linux device
 * lives in `tun-linux.ts` on the native addon.
 * @module
 */

import type { PacketBatch } from './batch.ts';

export type TunEvent = { type: 'up' } | { type: 'down' } | { type: 'mtu'; mtu: number };

export interface TunDevice {
  readonly name: string;
  /** Current MTU of the interface. */
  mtu(): number;
  /**
   * Delivers packets read from the interface, a batch per call, each IP packet starting
   * `TUN_HEADROOM` bytes into its slot with `TUN_TAILROOM` free bytes behind it, so the send path
   * can encrypt in place. The batch is reused after the callback returns.
   */
  setReceiver(receive: (batch: PacketBatch) => void): void;
  /** Writes packets `0..count` with a non-zero length to the interface; never throws. */
  write(batch: PacketBatch): void;
  /** Link events (up, down, MTU change). */
  setEventHandler(handler: (event: TunEvent) => void): void;
  close(): Promise<void>;
}
