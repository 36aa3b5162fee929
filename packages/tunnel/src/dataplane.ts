// SPDX-License-Identifier: MIT
/**
 * The data plane as the control plane sees it: a desired set of peers, interface addresses and nat
 * state, which the implementation brings the system to by difference, touching only what changed
 * (the original bounced the whole interface with wg-quick on every device change,
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/wg.rs#L40-L66). The
 * Linux one (`@start-tunnel/server`'s `LinuxDataplane`) runs wg-core in a thread of its own on a
 * real TUN interface and UDP socket, sets addresses with iproute2 and nat with
 * `@start-tunnel/nat`; `MemoryDataplane` (dataplane-memory.ts) records for unit tests.
 * @module
 */

import type { CounterValue, DriftItem, NatState } from '@start-tunnel/nat';

/** One device as a WireGuard peer of the server. */
export interface PeerSpec {
  publicKey: string;
  presharedKey: string;
  /** The device's address as a /32, the only source it may use (anti-spoofing). */
  allowedIp: string;
  /** Its IPv6 address as a /128 when its subnet has a prefix. */
  allowedIp6?: string | undefined;
}

/** The IPv6 side of the host: routes to devices and NDP proxy entries on WAN interfaces. */
export interface Ipv6Routes {
  /** Device addresses (`2001:db8:7::a3b:702/128`) routed into the tunnel interface. */
  routes: string[];
  /** Addresses answered for by NDP proxy on a WAN interface (prefixes on-link there). */
  proxy: { address: string; dev: string }[];
  /** Every prefix the tunnel manages: proxy entries inside them that are not wanted go. */
  prefixes: string[];
}

export interface PeerStatus {
  endpoint: string | null;
  /** Unix ms, 0 before the first handshake. */
  lastHandshake: number;
  rxBytes: number;
  txBytes: number;
}

export interface Dataplane {
  /** Brings up the interface with this private key and port. */
  start(privateKey: string): Promise<void>;
  /**
   * Makes the peer set exactly `peers` (adds, updates, removes by difference). Resolves once the
   * WireGuard device holds them; rejects (changing nothing) when a key cannot be parsed.
   */
  setPeers(peers: PeerSpec[]): Promise<void>;
  /**
   * Makes the interface addresses exactly `cidrs` (gateway form, e.g. `10.59.7.1/24`, and the
   * server's IPv6 address in each prefixed subnet as a /128).
   */
  setAddresses(cidrs: string[]): Promise<void>;
  /**
   * Routes packets of transparent sockets (marked `TRANSPARENT_MARK`) to local delivery while
   * SNI ports exist (`ip rule` + a `local` route in `TRANSPARENT_TABLE`), or removes that.
   */
  setTransparent(on: boolean): Promise<void>;
  /** Makes the IPv6 routes to devices and the NDP proxy entries exactly these. */
  setIpv6Routes(spec: Ipv6Routes): Promise<void>;
  /** Applies the nat state (null: nothing to apply, e.g. no WAN interface). */
  applyNat(state: NatState): Promise<{ drift: readonly DriftItem[] }>;
  /** Counters of each forward of `state`, by index. */
  forwardCounters(state: NatState): Promise<(CounterValue | null)[]>;
  /**
   * Fetches fresh peer counters from the WireGuard device (which may run in another thread), so
   * that `peerStatus` answers with them; cheap enough to call per request.
   */
  refreshStatus(): Promise<void>;
  /** The last fetched status of one peer (see `refreshStatus`), or null when it is not a peer. */
  peerStatus(publicKey: string): PeerStatus | null;
  stop(): Promise<void>;
}
