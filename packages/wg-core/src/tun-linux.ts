// SPDX-License-Identifier: MIT
/**
 * The Linux TUN device (wireguard-go `tun/tun_linux.go`, without the virtio offloads): a
 * layer-3 interface opened by name through the native addon (`native/tun.c`), read by a
 * uv_poll watcher that drains a batch of packets per event-loop turn into one reusable
 * {@link PacketBatch} (each packet `TUN_HEADROOM` bytes into its slot, `TUN_TAILROOM` free
 * behind it), written a batch per call. Link state comes from rtnetlink (`native/link.c`), as
 * wireguard-go's netlink listener: `up`/`down` follow IFF_RUNNING, `mtu` follows IFLA_MTU, and
 * the interface disappearing (RTM_DELLINK, or a read failing with EBADFD) ends the device with
 * a last `down` event and {@link LinuxTun.removed} set. The descriptor is never read through
 * `fs` or a stream (node-perf.md §1: threadpool starvation and broken packet framing).
 * @module
 */

import { IDEAL_BATCH_SIZE, PacketBatch, TUN_HEADROOM, TUN_TAILROOM } from './batch.ts';
import type { IoHandle, NativeAddon } from './native.ts';
import { loadNative } from './native.ts';
import type { TunDevice, TunEvent } from './tun.ts';

export interface LinuxTunOptions {
  /** MTU to set on the interface (68..65535); default 1420 like wg-quick. */
  mtu?: number;
  /** Packets drained per read batch (1..1024); default `IDEAL_BATCH_SIZE`. */
  batchSize?: number;
}

/** Counters of the device; they only grow. */
export interface TunStats {
  /** Packets read from the interface and delivered (or dropped for want of a receiver). */
  rxPackets: number;
  rxBatches: number;
  /** Packets read but dropped: larger than the slot, read errors, no receiver set. */
  rxDropped: number;
  txPackets: number;
  /** Packets that could not be written (interface down, malformed, device gone). */
  txErrors: number;
}

export const DEFAULT_TUN_MTU = 1420;
const MIN_MTU = 68;
const MAX_MTU = 65535;
const EFAULT = 14;

/** Slot size that fits an `mtu`-byte packet with head and tail room, rounded up to 16. */
function slotSizeFor(mtu: number): number {
  return (TUN_HEADROOM + mtu + TUN_TAILROOM + 15) & ~15;
}

function checkMtu(mtu: unknown): number {
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
    throw new RangeError(`Invalid MTU '${String(mtu)}': expected an integer in 68..65535`);
  }
  return mtu;
}

function checkName(name: unknown): string {
  if (typeof name !== 'string') {
    throw new TypeError(`Invalid interface name '${String(name)}': expected a string`);
  }
  const bytes = Buffer.byteLength(name);
  if (bytes === 0 || bytes > 15) {
    throw new TypeError(`Invalid interface name '${name}': expected 1 to 15 bytes`);
  }
  if (name === '.' || name === '..' || /[/:\s]/.test(name)) {
    throw new TypeError(`Invalid interface name '${name}': '/', ':' and spaces are not allowed`);
  }
  return name;
}

export class LinuxTun implements TunDevice {
  /** The interface name the kernel gave (the requested one unless it held a `%d` template). */
  readonly name: string;
  /** The interface index in the namespace the device was created in. */
  readonly index: number;
  readonly stats: TunStats = {
    rxPackets: 0,
    rxBatches: 0,
    rxDropped: 0,
    txPackets: 0,
    txErrors: 0,
  };
  readonly #addon: NativeAddon;
  readonly #batchSize: number;
  #tun: IoHandle | null;
  #link: IoHandle | null = null;
  #batch: PacketBatch;
  #mtu: number;
  #up: boolean;
  #removed = false;
  #closed = false;
  #receiver: ((batch: PacketBatch) => void) | null = null;
  #onEvent: ((event: TunEvent) => void) | null = null;

  /**
   * Creates (or attaches to) the TUN interface `name`, sets its MTU and starts reading. Needs
   * CAP_NET_ADMIN; rejects with the errno as `code` (EPERM, EBUSY ...).
   */
  static async create(name: string, opts: LinuxTunOptions = {}): Promise<LinuxTun> {
    checkName(name);
    const mtu = checkMtu(opts.mtu ?? DEFAULT_TUN_MTU);
    const batchSize = opts.batchSize ?? IDEAL_BATCH_SIZE;
    const addon = loadNative();
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > addon.IO_MAX_BATCH) {
      throw new RangeError(`Invalid batch size '${batchSize}': expected an integer in 1..1024`);
    }
    const [handle, actual, index] = addon.tunOpen(name);
    try {
      addon.ifSetMtu(actual, mtu);
      const readBack = addon.ifGetMtu(actual);
      const running = (addon.ifGetFlags(actual) & addon.IFF_RUNNING) !== 0;
      return new LinuxTun(addon, handle, actual, index, readBack, running, batchSize);
    } catch (err) {
      addon.ioClose(handle);
      throw err;
    }
  }

  private constructor(
    addon: NativeAddon,
    handle: IoHandle,
    name: string,
    index: number,
    mtu: number,
    up: boolean,
    batchSize: number
  ) {
    this.#addon = addon;
    this.#tun = handle;
    this.name = name;
    this.index = index;
    this.#mtu = mtu;
    this.#up = up;
    this.#batchSize = batchSize;
    this.#batch = new PacketBatch(batchSize, slotSizeFor(mtu));
    try {
      this.#link = addon.linkWatch(index, this.#onLink);
      this.#startReading();
    } catch (err) {
      this.#shutdown();
      throw err;
    }
  }

  mtu(): number {
    return this.#mtu;
  }

  /** True once the interface has disappeared; the device is then closed for good. */
  get removed(): boolean {
    return this.#removed;
  }

  /** Whether the link is running (administratively up with carrier). */
  isUp(): boolean {
    return this.#up;
  }

  /** The batch reads are delivered in (replaced by a larger one when the MTU grows). */
  get readBatch(): PacketBatch {
    return this.#batch;
  }

  /** Sets the MTU (SIOCSIFMTU) and reads it back; emits an `mtu` event when it changed. */
  setMtu(mtu: number): void {
    checkMtu(mtu);
    this.#assertOpen('set the MTU');
    this.#addon.ifSetMtu(this.name, mtu);
    this.#mtuChanged(this.#addon.ifGetMtu(this.name));
  }

  /** Brings the link administratively up or down (SIOCSIFFLAGS); events follow from rtnetlink. */
  setUp(up: boolean): void {
    this.#assertOpen(up ? 'bring up' : 'bring down');
    this.#addon.ifSetUp(this.name, up);
  }

  setReceiver(receive: (batch: PacketBatch) => void): void {
    this.#receiver = receive;
  }

  setEventHandler(handler: (event: TunEvent) => void): void {
    this.#onEvent = handler;
  }

  write(batch: PacketBatch): void {
    const lengths = batch.lengths;
    const count = Math.min(batch.count, batch.capacity);
    let attempted = 0;
    for (let i = 0; i < count; i++) if (lengths[i] !== 0) attempted++;
    if (attempted === 0) return;
    const tun = this.#tun;
    if (tun === null) {
      this.stats.txErrors += attempted;
      return;
    }
    const written = this.#addon.tunWrite(tun, batch.data, batch.offsets, lengths, count);
    this.stats.txPackets += written;
    this.stats.txErrors += attempted - written;
  }

  /** Closes the descriptor; a TUN interface that is not persistent disappears with it. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#shutdown();
  }

  #assertOpen(what: string): void {
    if (this.#closed || this.#removed) {
      const state = this.#removed ? 'was removed' : 'is closed';
      throw Object.assign(new Error(`Cannot ${what} '${this.name}': the device ${state}`), {
        code: 'EBADF',
      });
    }
  }

  #startReading(): void {
    if (this.#tun === null) return;
    const b = this.#batch;
    this.#addon.ioStart(
      this.#tun,
      this.#onBatch,
      b.data,
      b.slotSize,
      TUN_HEADROOM,
      TUN_TAILROOM,
      b.capacity,
      b.offsets,
      b.lengths,
      null
    );
  }

  readonly #onBatch = (count: number, dropped: number, fatal: number): void => {
    const stats = this.stats;
    stats.rxDropped += dropped;
    if (count > 0) {
      const batch = this.#batch;
      batch.count = count;
      stats.rxPackets += count;
      stats.rxBatches++;
      const receive = this.#receiver;
      if (receive !== null) receive(batch);
      else stats.rxDropped += count;
    }
    if (fatal === 0 || this.#tun === null) return;
    if (fatal === EFAULT) {
      // The slab was detached (transferred away): read into a fresh batch.
      this.#batch = new PacketBatch(this.#batchSize, this.#batch.slotSize);
      this.#startReading();
      return;
    }
    this.#gone();
  };

  readonly #onLink = (kind: 0 | 1 | 2, flags: number, mtu: number): void => {
    if (this.#tun === null) return;
    if (kind === 1) {
      this.#gone();
      return;
    }
    if (kind === 2) {
      try {
        flags = this.#addon.ifGetFlags(this.name);
        mtu = this.#addon.ifGetMtu(this.name);
      } catch {
        this.#gone();
        return;
      }
    }
    if (mtu > 0) this.#mtuChanged(mtu);
    const up = (flags & this.#addon.IFF_RUNNING) !== 0;
    if (up !== this.#up) {
      this.#up = up;
      this.#emit(up ? { type: 'up' } : { type: 'down' });
    }
  };

  #mtuChanged(mtu: number): void {
    if (mtu === this.#mtu) return;
    this.#mtu = mtu;
    if (slotSizeFor(mtu) > this.#batch.slotSize) {
      this.#batch = new PacketBatch(this.#batchSize, slotSizeFor(mtu));
      this.#startReading();
    }
    this.#emit({ type: 'mtu', mtu });
  }

  /** The interface is gone: release everything and say `down` one last time. */
  #gone(): void {
    if (this.#removed || this.#closed) return;
    this.#removed = true;
    this.#up = false;
    this.#shutdown();
    this.#emit({ type: 'down' });
  }

  #shutdown(): void {
    if (this.#link !== null) this.#addon.ioClose(this.#link);
    if (this.#tun !== null) this.#addon.ioClose(this.#tun);
    this.#link = null;
    this.#tun = null;
  }

  #emit(event: TunEvent): void {
    this.#onEvent?.(event);
  }
}
