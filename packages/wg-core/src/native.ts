// SPDX-License-Identifier: MIT
/**
 * The native addon of wg-core (`native/*.c`, built by node-gyp from `binding.gyp` when
 * `npm ci` runs the package's install script): what Node cannot do from JS on Linux, namely
 * opening a TUN device by name (TUNSETIFF), polling a non-blocking descriptor on the event loop
 * with a whole batch drained per callback, recvmmsg/sendmmsg, SO_MARK and rtnetlink link
 * events, IP_PKTINFO/IPV6_PKTINFO for sticky source addresses, and the interface followed by its
 * descriptor across renames and network namespaces, and TCP connections from a foreign source
 * address (IP_TRANSPARENT) for the server's SNI proxy. This file locates the built module, checks
 * its ABI and types it; `tun-linux.ts` and `bind-udp.ts` are its users.
 * @module
 */

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

declare const ioHandleBrand: unique symbol;
/** An open descriptor owned by the addon (TUN queue, UDP socket or rtnetlink socket). */
export type IoHandle = { readonly [ioHandleBrand]: true };

/**
 * Called once per drained batch: `count` slots filled from 0 (a slot of length 0 is a datagram
 * that did not fit), `dropped` packets lost on the way (too large, transient socket errors),
 * and `fatal`, an errno after which the handle stopped polling (0 = none). EBADFD, EIO, ENXIO
 * or ENODEV on a TUN mean the interface is gone.
 */
export type BatchCallback = (count: number, dropped: number, fatal: number) => void;

/** Link event: kind 0 = changed, 1 = removed, 2 = events were lost (re-read the state). */
export type LinkCallback = (kind: 0 | 1 | 2, flags: number, mtu: number) => void;

export interface NativeAddon {
  /** 3 for this layout; 0 for the stand-in built on other systems. */
  readonly ABI: number;
  /**
   * Whether Node's own OpenSSL ChaCha20-Poly1305 was found at run time (`native/aead.c`); the
   * aead* functions throw ENOSYS otherwise.
   */
  readonly AEAD: boolean;
  /**
   * Bytes per slot in an address array: remote family (4/6, 0 none), a flag, port (BE), 16
   * address bytes, then the local source: family, 3 zeros, ifindex (host order), 16 bytes.
   */
  readonly ADDR_RECORD_SIZE: number;
  /** Largest batch one call drains or sends. */
  readonly IO_MAX_BATCH: number;
  readonly IFF_UP: number;
  readonly IFF_RUNNING: number;
  /**
   * Opens /dev/net/tun as `name` (IFF_TUN | IFF_NO_PI, non-blocking; with `offload`, also
   * IFF_VNET_HDR and TUNSETOFFLOAD TSO4/TSO6/CSUM where the kernel has them): handle, name,
   * ifindex, offload bits (1 virtio headers, 2 TSO on).
   */
  tunOpen(name: string, offload?: boolean): [IoHandle, string, number, number];
  /**
   * Adopts an open TUN descriptor (WG_TUN_FD): made non-blocking; handle, name, ifindex, offload
   * bits (virtio headers when it was made with IFF_VNET_HDR).
   */
  tunAdopt(fd: number): [IoHandle, string, number, number];
  /**
   * GRO on writes on or off (virtio-header devices); [offload bits & 1, super-packets read and
   * split, segments written coalesced].
   */
  tunOffload(tun: IoHandle, gro: boolean): [number, number, number];
  /**
   * The interface of a TUN handle as it is now, wherever it moved: name, ifindex (in its
   * namespace), MTU, IFF_* flags, and whether it is in this process's namespace. Throws with
   * code EBADFD once the interface was destroyed.
   */
  tunLink(tun: IoHandle): [string, number, number, number, boolean];
  /** SIOCSIFMTU on the interface of a TUN handle, wherever it is. */
  tunSetMtu(tun: IoHandle, mtu: number): void;
  /** Sets or clears IFF_UP on the interface of a TUN handle, wherever it is. */
  tunSetUp(tun: IoHandle, up: boolean): void;
  ifGetMtu(name: string): number;
  ifSetMtu(name: string, mtu: number): void;
  ifGetFlags(name: string): number;
  ifSetUp(name: string, up: boolean): void;
  /** IPv4 and IPv6-only sockets on one port (0 = random); null for a family the kernel lacks. */
  udpOpen(port: number, bufferBytes: number): [IoHandle | null, IoHandle | null, number];
  sockSetMark(socket: IoHandle, mark: number): void;
  sockGetMark(socket: IoHandle): number;
  /** [SO_RCVBUF, SO_SNDBUF] as the kernel reports them. */
  sockGetBufs(socket: IoHandle): [number, number];
  /** Watches rtnetlink link events of `ifindex` (does not keep the process alive). */
  linkWatch(ifindex: number, cb: LinkCallback): IoHandle;
  /** Calls `cb` after IPv4/IPv6 address or route changes in this namespace (unref'd). */
  routeWatch(cb: () => void): IoHandle;
  /**
   * Starts (or re-targets) the readable watcher of a TUN or UDP handle: each callback fills
   * slot i of `slab` at `i * slotSize + headroom` (at most `slotSize - headroom - tailroom`
   * bytes), `offsets[i]`, `lengths[i]` and, for UDP, the source address record i in `addrs`.
   */
  ioStart(
    handle: IoHandle,
    cb: BatchCallback,
    slab: Uint8Array,
    slotSize: number,
    headroom: number,
    tailroom: number,
    max: number,
    offsets: Uint32Array,
    lengths: Uint32Array,
    addrs: Uint8Array | null
  ): void;
  ioStop(handle: IoHandle): void;
  /** Stops the watcher and closes the descriptor; no callback runs afterwards. */
  ioClose(handle: IoHandle): void;
  /** The descriptor, -1 once closed. */
  ioFd(handle: IoHandle): number;
  /** write() per packet with a non-zero length; returns how many were written whole. */
  tunWrite(
    tun: IoHandle,
    slab: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number
  ): number;
  /**
   * sendmmsg() of the packets whose address record has this socket's family; returns how many
   * were sent. Failures (unreachable, full buffer) are skipped, never thrown.
   */
  udpSend(
    socket: IoHandle,
    slab: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    addrs: Uint8Array,
    count: number
  ): number;
  /**
   * Seals (op 1) or opens (op 2) in place the transport message of each slot `i < count` with a
   * non-zero length (header, body, tag; nonce from the header's counter) under the 32-byte key
   * at `keys[32 * keyOf[i]]`; `status[i]` = 0 ok, 1 tag mismatch, 2 error. Returns how many
   * succeeded.
   */
  aeadBatch(
    op: number,
    slab: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
    keys: Uint8Array,
    keyOf: Uint32Array,
    status: Uint8Array
  ): number;
  /** ChaCha20-Poly1305 seal into `out` (ciphertext ‖ tag; may start where `plaintext` does). */
  aeadSeal(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    ad: Uint8Array | null,
    out: Uint8Array
  ): boolean;
  /** Opens into `out`; false (and `out` zeroed) when the tag does not verify. */
  aeadOpen(
    key: Uint8Array,
    nonce: Uint8Array,
    ciphertext: Uint8Array,
    ad: Uint8Array | null,
    out: Uint8Array
  ): boolean;
  /**
   * Asks for UDP_SEGMENT (send) and UDP_GRO (receive) on a UDP socket, each only where the
   * kernel has it: [gso on, gro on, messages sent with several datagrams, datagrams received
   * holding several].
   */
  udpOffload(socket: IoHandle, gso: boolean, gro: boolean): [boolean, boolean, number, number];
  /** flock(fd, LOCK_EX | LOCK_NB): true when taken, false when held elsewhere. */
  fileLock?(fd: number): boolean;
  /**
   * A TCP connect from a source address this host need not hold (`native/transparent.c`:
   * IP_TRANSPARENT, SO_MARK when `mark` is not 0), run in libuv's thread pool: the connected
   * non-blocking descriptor, or a rejection with `code` (ETIMEDOUT, EPERM, ECONNREFUSED …).
   * Missing from addons built before it.
   */
  transparentConnect?(
    sourceAddress: string,
    sourcePort: number,
    targetAddress: string,
    targetPort: number,
    mark: number,
    timeoutMs: number
  ): Promise<number>;
}

/** Size of one address record (mirrors `ADDR_RECORD_SIZE` in `native/wgcore.h`). */
export const ADDR_RECORD_SIZE = 44;
/** Offsets in a record (`native/wgcore.h`): the send flag, and the local source. */
export const REC_FLAG = 1;
export const REC_SRC_FAMILY = 20;
export const REC_SRC_IFINDEX = 24;
export const REC_SRC_ADDR = 28;
const ABI = 3;

const ADDON_PATHS = ['../build/Release/wg_core.node', '../build/Debug/wg_core.node'];

let loaded: NativeAddon | undefined;

/**
 * The addon, loaded on first use so that importing the package never needs it. Throws an Error
 * with code `ERR_WG_NATIVE` when it is missing, was built for another ABI or this is not Linux.
 */
export function loadNative(): NativeAddon {
  if (loaded) return loaded;
  if (process.platform !== 'linux') {
    throw nativeError(`The TUN and UDP devices need Linux, not '${process.platform}'`);
  }
  const found = ADDON_PATHS.map((p) => fileURLToPath(new URL(p, import.meta.url))).find((p) =>
    existsSync(p)
  );
  if (!found) {
    throw nativeError(
      "Cannot find the native addon 'build/Release/wg_core.node': run npm ci at the repository " +
        'root (or npm run install in packages/wg-core)'
    );
  }
  const require = createRequire(import.meta.url);
  const addon = require(found) as NativeAddon;
  if (addon.ABI !== ABI || addon.ADDR_RECORD_SIZE !== ADDR_RECORD_SIZE) {
    throw nativeError(
      `The native addon '${found}' is stale (ABI ${String(addon.ABI)}): rebuild it ` +
        'with npm run install in packages/wg-core'
    );
  }
  loaded = addon;
  return addon;
}

function nativeError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ERR_WG_NATIVE' });
}

/** Where a transparent connection comes from and goes to (one address family). */
export interface TransparentConnectOptions {
  /** The foreign source: the visitor's own address and port. */
  source: { address: string; port: number };
  /** The address and port to connect to. */
  target: { address: string; port: number };
  /** SO_MARK for the socket (0 = none, the default). */
  mark?: number;
  /** How long the connect may take (default 5000, at most 120000). */
  timeoutMs?: number;
}

/**
 * Opens a TCP connection from `source`, an address this host does not need to hold (ip(7)
 * IP_TRANSPARENT, ipv6(7) IPV6_TRANSPARENT; needs CAP_NET_ADMIN), to `target`. The replies reach
 * the socket only if the kernel routes them to this host and hands them to it
 * (https://docs.kernel.org/networking/tproxy.html): an nft `socket transparent 1` rule in
 * prerouting that sets a mark, and a policy rule sending that mark to a table with
 * `local 0.0.0.0/0 dev lo`. The blocking connect runs in libuv's thread pool.
 * @param opts source, target, mark and timeout
 * @returns the connected non-blocking descriptor, owned by the caller: wrap it with
 * `new net.Socket({ fd, readable: true, writable: true })`
 * @throws (rejects) an Error with `code` `ERR_WG_NATIVE` without the addon, else the errno code
 * of the failed step (`ETIMEDOUT`, `ECONNREFUSED`, `EPERM`, `EADDRINUSE` …)
 * @example
 * const fd = await connectTransparent({
 *   source: { address: '198.51.100.7', port: 50_123 },
 *   target: { address: '10.59.0.2', port: 443 },
 *   mark: 0x540001,
 * });
 * const socket = new net.Socket({ fd, readable: true, writable: true });
 */
export async function connectTransparent(opts: TransparentConnectOptions): Promise<number> {
  const addon = loadNative();
  if (!addon.transparentConnect) {
    throw nativeError(
      'The native addon has no transparentConnect: rebuild it with npm run install in ' +
        'packages/wg-core'
    );
  }
  return addon.transparentConnect(
    opts.source.address,
    opts.source.port,
    opts.target.address,
    opts.target.port,
    opts.mark ?? 0,
    opts.timeoutMs ?? 5_000
  );
}
