// SPDX-License-Identifier: MIT
/**
 * The Linux TUN device (wireguard-go `tun/tun_linux.go`): a layer-3 interface opened by name
 * through the native addon (`native/tun.c`), read by a uv_poll watcher that drains a batch of
 * packets per event-loop turn into one reusable {@link PacketBatch} (each packet `TUN_HEADROOM`
 * bytes into its slot, `TUN_TAILROOM` free behind it), written a batch per call. With the
 * offloads (default, where the kernel has them: `native/offload.c`) the stack hands over TSO
 * super-packets of up to 64 KiB, cut into MTU-sized packets in C before they reach the batch,
 * and each written batch's TCP segments are coalesced back into super-packets (GRO). Link state comes from rtnetlink (`native/link.c`), as
 * wireguard-go's netlink listener: `up`/`down` follow IFF_RUNNING, `mtu` follows IFLA_MTU.
 *
 * The interface is followed by its descriptor, never by a remembered name
 * (https://www.wireguard.com/netns/): it may be renamed, or moved to another network namespace
 * while this process and its UDP sockets stay in the one they were born in. RTM_DELLINK in our
 * namespace therefore means "destroyed or moved away"; `tunLink` (TUNGETIFF, TUNGETDEVNETNS)
 * tells which. While the interface is away, our rtnetlink sees nothing of it, so its state is
 * read once a second through its namespace (wireguard-go polls the TUN the same way, in
 * `routineHackListener`), until it comes home. The device ends, with a last `down` event and
 * {@link LinuxTun.removed} set, only when the interface is destroyed: TUNGETIFF or a read fails
 * with EBADFD. MTU and up/down changes go through the descriptor's namespace too. The descriptor
 * is never read through `fs` or a stream (threadpool starvation, broken packet framing).
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
  /**
   * Kernel offloads where it has them (`native/offload.c`): virtio-net headers, TSO super-packets
   * split on read, TCP segments coalesced on write (GRO). Default true; false is the portable
   * path, one packet per read and write. An adopted descriptor keeps the mode it was made with.
   */
  offload?: boolean;
}

/** The TUN offloads in use, and how often they were. */
export interface TunOffloadState {
  /** Packets carry a virtio-net header (IFF_VNET_HDR). */
  vnet: boolean;
  /** The stack may send TSO super-packets and partial checksums (TUNSETOFFLOAD). */
  tso: boolean;
  /** Super-packets read and split. */
  tsoSplit: number;
  /** Segments written coalesced into super-packets. */
  groMerged: number;
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
/** The errno of a TUN whose interface was destroyed (EBADFD), and of a closed handle (EBADF). */
const EBADFD = 77;
const EBADF = 9;
/** How often the state of an interface in another namespace is read. */
const AWAY_POLL_MS = 1000;

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
  #name: string;
  #index: number;
  /** TUNSETOFFLOAD succeeded: the stack may send TSO super-packets. */
  #tso = false;
  /** The interface is in another namespace (or we are not sure where): polled, not watched. */
  #away: NodeJS.Timeout | null = null;

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
    const [handle, , , bits] = addon.tunOpen(name, opts.offload ?? true);
    return LinuxTun.#wrap(addon, handle, mtu, batchSize, bits);
  }

  /**
   * Takes over an open TUN descriptor (IFF_TUN | IFF_NO_PI), as wireguard-go does with
   * `WG_TUN_FD`: a supervisor created the interface, or a parent passed it on. The MTU is set
   * only when `opts.mtu` is given; the descriptor is owned (and closed) by the device from now.
   */
  static async adopt(fd: number, opts: LinuxTunOptions = {}): Promise<LinuxTun> {
    if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) {
      throw new RangeError(`Invalid descriptor '${String(fd)}': expected a non-negative integer`);
    }
    const mtu = opts.mtu === undefined ? null : checkMtu(opts.mtu);
    const batchSize = opts.batchSize ?? IDEAL_BATCH_SIZE;
    const addon = loadNative();
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > addon.IO_MAX_BATCH) {
      throw new RangeError(`Invalid batch size '${batchSize}': expected an integer in 1..1024`);
    }
    const [handle, , , bits] = addon.tunAdopt(fd);
    return LinuxTun.#wrap(addon, handle, mtu, batchSize, bits);
  }

  static #wrap(
    addon: NativeAddon,
    handle: IoHandle,
    mtu: number | null,
    batchSize: number,
    bits: number
  ): LinuxTun {
    try {
      if (mtu !== null) addon.tunSetMtu(handle, mtu);
      const [name, index, readBack, flags, home] = addon.tunLink(handle);
      const running = (flags & addon.IFF_RUNNING) !== 0;
      const tun = new LinuxTun(addon, handle, name, index, readBack, running, batchSize);
      tun.#tso = (bits & 2) !== 0;
      if (!home) tun.#goAway();
      return tun;
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
    this.#name = name;
    this.#index = index;
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

  /** The interface name now (it follows renames, in whichever namespace the interface is). */
  get name(): string {
    return this.#name;
  }

  /** The interface index now, in the namespace the interface is in. */
  get index(): number {
    return this.#index;
  }

  /** The offloads in use (all false on the portable path). */
  get offloads(): TunOffloadState {
    const tun = this.#tun;
    if (tun === null) return { vnet: false, tso: false, tsoSplit: 0, groMerged: 0 };
    const [vnet, tsoSplit, groMerged] = this.#addon.tunOffload(tun, true);
    return { vnet: vnet !== 0, tso: this.#tso, tsoSplit, groMerged };
  }

  /** Whether the interface is in another network namespace than this process. */
  get away(): boolean {
    return this.#away !== null;
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

  /**
   * Sets the MTU (SIOCSIFMTU, through the descriptor: wherever the interface is, whatever its
   * name) and reads it back; emits an `mtu` event when it changed.
   */
  setMtu(mtu: number): void {
    checkMtu(mtu);
    this.#assertOpen('set the MTU');
    this.#addon.tunSetMtu(this.#tun!, mtu);
    this.#refresh();
  }

  /** Brings the link administratively up or down (SIOCSIFFLAGS, through the descriptor). */
  setUp(up: boolean): void {
    this.#assertOpen(up ? 'bring up' : 'bring down');
    this.#addon.tunSetUp(this.#tun!, up);
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
      if (receive === null) {
        stats.rxDropped += count;
      } else {
        // called from a uv_poll callback: a throw would be fatal to the process (see bind-udp.ts)
        try {
          receive(batch);
        } catch {
          stats.rxDropped += count;
        }
      }
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

  readonly #onLink = (kind: 0 | 1 | 2, _flags: number, _mtu: number): void => {
    // Changed, removed (destroyed or moved away) or events lost: read the state as it is now.
    if (this.#tun === null) return;
    if (kind === 1) this.#goAway(); // until tunLink says where the interface went
    this.#refresh();
  };

  /** Reads name, index, MTU, flags and namespace from the descriptor and acts on changes. */
  #refresh(): void {
    const tun = this.#tun;
    if (tun === null) return;
    let info: [string, number, number, number, boolean];
    try {
      info = this.#addon.tunLink(tun);
    } catch (err) {
      const errno = -((err as { errno?: number }).errno ?? 0);
      if (errno === EBADFD || errno === EBADF) this.#gone();
      // anything else (a rename or a move in between the calls): ask again on the next poll
      else this.#goAway();
      return;
    }
    const [name, index, mtu, flags, home] = info;
    this.#name = name;
    if (home && (this.#away !== null || index !== this.#index)) {
      this.#index = index;
      this.#comeHome();
    }
    this.#index = index;
    if (!home) this.#goAway();
    if (mtu > 0) this.#mtuChanged(mtu);
    const up = (flags & this.#addon.IFF_RUNNING) !== 0;
    if (up !== this.#up) {
      this.#up = up;
      this.#emit(up ? { type: 'up' } : { type: 'down' });
    }
  }

  /** Stops watching rtnetlink here and reads the state once a second instead. */
  #goAway(): void {
    if (this.#away !== null || this.#tun === null) return;
    if (this.#link !== null) this.#addon.ioClose(this.#link);
    this.#link = null;
    this.#away = setInterval(() => this.#refresh(), AWAY_POLL_MS);
    this.#away.unref();
  }

  /** Back in our namespace (maybe with a new index): watch rtnetlink again. */
  #comeHome(): void {
    if (this.#away !== null) clearInterval(this.#away);
    this.#away = null;
    if (this.#link !== null) this.#addon.ioClose(this.#link);
    this.#link = null;
    try {
      this.#link = this.#addon.linkWatch(this.#index, this.#onLink);
    } catch {
      this.#goAway();
    }
  }

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
    if (this.#away !== null) clearInterval(this.#away);
    this.#away = null;
    if (this.#link !== null) this.#addon.ioClose(this.#link);
    if (this.#tun !== null) this.#addon.ioClose(this.#tun);
    this.#link = null;
    this.#tun = null;
  }

  #emit(event: TunEvent): void {
    this.#onEvent?.(event);
  }
}
