// SPDX-License-Identifier: MIT
/**
 * An in-memory data plane for unit tests: it keeps what it was told (peers, addresses, the last
 * nat state), counts how often each peer was touched, and can be made to fail on demand.
 * @module
 */

import type { CounterValue, DriftItem, NatState } from '@start-tunnel/nat';
import { validateState } from '@start-tunnel/nat';
import type { Dataplane, Ipv6Routes, PeerSpec, PeerStatus } from './dataplane.ts';

export class MemoryDataplane implements Dataplane {
  started: string | null = null;
  peers = new Map<string, PeerSpec>();
  /** How many times each public key was added or changed. */
  touches = new Map<string, number>();
  addresses: string[] = [];
  transparent = false;
  ipv6: Ipv6Routes = { routes: [], proxy: [], prefixes: [] };
  nat: NatState | null = null;
  natApplies = 0;
  /** Set to make the next applyNat reject with this error. */
  failNat: Error | null = null;
  status = new Map<string, PeerStatus>();

  async start(privateKey: string): Promise<void> {
    this.started = privateKey;
  }

  async setPeers(peers: PeerSpec[]): Promise<void> {
    const wanted = new Map(peers.map((p) => [p.publicKey, p]));
    for (const key of [...this.peers.keys()]) if (!wanted.has(key)) this.peers.delete(key);
    for (const p of peers) {
      const old = this.peers.get(p.publicKey);
      if (
        old &&
        old.presharedKey === p.presharedKey &&
        old.allowedIp === p.allowedIp &&
        old.allowedIp6 === p.allowedIp6
      ) {
        continue;
      }
      this.peers.set(p.publicKey, p);
      this.touches.set(p.publicKey, (this.touches.get(p.publicKey) ?? 0) + 1);
    }
  }

  async setAddresses(cidrs: string[]): Promise<void> {
    this.addresses = [...cidrs].sort();
  }

  async setTransparent(on: boolean): Promise<void> {
    this.transparent = on;
  }

  async setIpv6Routes(spec: Ipv6Routes): Promise<void> {
    this.ipv6 = {
      routes: [...spec.routes].sort(),
      proxy: [...spec.proxy],
      prefixes: [...spec.prefixes],
    };
  }

  async applyNat(state: NatState): Promise<{ drift: readonly DriftItem[] }> {
    validateState(state);
    if (this.failNat) {
      const err = this.failNat;
      this.failNat = null;
      throw err;
    }
    this.nat = state;
    this.natApplies++;
    return { drift: [] };
  }

  async forwardCounters(state: NatState): Promise<(CounterValue | null)[]> {
    return state.forwards.map(() => ({ packets: 0, bytes: 0 }));
  }

  async refreshStatus(): Promise<void> {}

  peerStatus(publicKey: string): PeerStatus | null {
    if (!this.peers.has(publicKey)) return null;
    return (
      this.status.get(publicKey) ?? { endpoint: null, lastHandshake: 0, rxBytes: 0, txBytes: 0 }
    );
  }

  async stop(): Promise<void> {
    this.started = null;
  }
}
