// SPDX-License-Identifier: MIT
/**
 * The controller: owns the store and the data plane and turns every change into
 *   1. a new state computed by the pure model (bad input throws here; nothing changed),
 *   2. the nat rules checked against it (a clash throws here; nothing changed),
 *   3. the state committed durably (write, fsync, rename, fsync dir),
 *   4. the data plane brought to it by difference (only changed peers, addresses and rules),
 *   5. the acknowledgement.
 * If step 4 fails, the previous state is committed and re-applied, and the error returned: no
 * half-applied change survives. Changes run one at a time, in arrival order. On start the data
 * plane is rebuilt from the stored state (reconcile), whatever a crash left behind.
 * @module
 */

import { type NatState, NatStateError, validateState } from '@start-tunnel/nat';
import {
  ErrorCode,
  ONLINE_WINDOW_MS,
  RpcError,
  TRANSPARENT_MARK,
  type WanInfo,
} from '@start-tunnel/protocol';
import { hosts6, parsePinholeKey } from './addr6.ts';
import type { Dataplane, Ipv6Routes, PeerSpec } from './dataplane.ts';
import { deviceEgress, effectiveWan } from './egress.ts';
import type { LeaseView } from './info.ts';
import { allDevices, type ModelEnv, serverPublicKey } from './model.ts';
import { publicAddresses } from './redirect.ts';
import type { State } from './schema.ts';
import { type AddressSource, onLinkPrefixes, wanInfo } from './wan.ts';

/** Where the state lives: `Store` (the durable file), or memory in tests. */
export interface StateStore {
  readonly state: State;
  /** Makes `state` current; resolves once it is durable. */
  commit(state: State): Promise<void>;
}

export interface TunnelOptions {
  store: StateStore;
  dataplane: Dataplane;
  env: ModelEnv;
  addresses: AddressSource;
  interface: string;
  listenPort: number;
  log: (line: string) => void;
  /**
   * Ports of the VPS's own services that `state` claims (the panel's HTTPS port while it is
   * enabled): forwards may not shadow them. A pure function of the state, so a change that moves
   * the panel is checked against the forwards in the same step.
   */
  reserved?: (state: State) => ReservedPort[];
  /** True when the host has an IPv6 default route (`set-ipv6` needs one); `/proc` by default. */
  ipv6DefaultRoute?: () => boolean;
  /** Called after a state was applied (and after the WAN picture changed): listeners follow. */
  onApplied?: (state: State) => void;
  /** When automatic entries' leases end (the server keeps them), for the lists. */
  leases?: LeaseView;
}

export interface ReservedPort {
  protocol: 'tcp' | 'udp';
  port: number;
  name: string;
}

/** Ports on the VPS itself that forwards may not take (losing SSH to a forward locks you out). */
const BASE_RESERVED = [{ protocol: 'tcp' as const, port: 22, name: 'SSH' }];

export class Tunnel {
  readonly opts: TunnelOptions;
  readonly startedAt = new Date();
  #queue: Promise<unknown> = Promise.resolve();
  #lastWan = '';
  #nat: { ok: boolean; error: string | null; drift: string[] } = {
    ok: false,
    error: 'not applied yet',
    drift: [],
  };

  constructor(opts: TunnelOptions) {
    this.opts = opts;
  }

  get state(): State {
    return this.opts.store.state;
  }

  get publicKey(): string {
    return serverPublicKey(this.state);
  }

  get natStatus(): { ok: boolean; error: string | null; drift: string[] } {
    return this.#nat;
  }

  /** Starts the data plane and reconciles it with the stored state. */
  async start(): Promise<void> {
    await this.opts.dataplane.start(this.state.server.privateKey);
    await this.#apply(this.state, true);
  }

  async stop(): Promise<void> {
    await this.#queue.catch(() => {});
    await this.opts.dataplane.stop();
  }

  /** The WAN picture of `state` now: its override (`wan set`, `--wan-ip`), else detection. */
  wan(state: State = this.state): WanInfo {
    return wanInfo(this.opts.addresses(), this.opts.interface, state.wan.override);
  }

  /**
   * Runs one change: `fn` computes the next state from the current one (throwing on bad
   * input), then it is checked, committed, applied, and its result returned.
   */
  change<T>(fn: (state: State) => { state: State; result: T }): Promise<T> {
    const run = this.#queue.then(async () => {
      const old = this.state;
      const { state, result } = fn(old);
      if (state === old) return result;
      // checked even without a WAN interface, so a clash is refused now, not at the next boot
      const wan = this.wan(state);
      this.#checkNat(
        this.#natStateOn(state, wan, wan.interfaces.length ? wan.interfaces : ['wan'])
      );
      await this.opts.store.commit(state);
      try {
        await this.#apply(state, false, old);
      } catch (err) {
        this.opts.log(`Applying a change failed, rolling back: ${(err as Error).message}`);
        await this.opts.store.commit(old);
        await this.#apply(old, true).catch((e) =>
          this.opts.log(`Rollback could not re-apply the previous state: ${(e as Error).message}`)
        );
        throw new RpcError(
          ErrorCode.Unknown,
          `The change could not be applied and was undone: ${(err as Error).message}`
        );
      }
      return result;
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Re-applies nat when the WAN picture changed (address added or removed, DHCP). */
  async refreshWan(): Promise<void> {
    if (JSON.stringify(this.wan()) === this.#lastWan) return;
    const run = this.#queue.then(async () => {
      await this.#applyNat(this.state);
      this.opts.onApplied?.(this.state);
    });
    this.#queue = run.catch(() => {});
    await run.catch((err) => this.opts.log(`Re-applying nat for a new WAN failed: ${String(err)}`));
  }

  /** The nat state of `state`, or null when there is no WAN interface to apply it on. */
  natState(state: State, wan: WanInfo = this.wan(state)): NatState | null {
    return wan.interfaces.length === 0 ? null : this.#natStateOn(state, wan, wan.interfaces);
  }

  /** The ports of the VPS's own services that `state` claims, SSH first. */
  reservedPorts(state: State): ReservedPort[] {
    return [...BASE_RESERVED, ...(this.opts.reserved?.(state) ?? [])];
  }

  /** The public IPv4s the host holds now (the HTTP redirect's addresses). */
  publicIps(): string[] {
    return publicAddresses(this.opts.addresses(), this.opts.interface);
  }

  #natStateOn(state: State, wan: WanInfo, interfaces: string[]): NatState {
    const w = wan.address;
    return {
      wan: w ? { interfaces, address: w } : { interfaces },
      wireguard: { interface: this.opts.interface, listenPort: this.opts.listenPort },
      subnets: Object.entries(state.subnets).map(([cidr, rec]) => ({
        cidr,
        ...(rec.wanIp !== null ? { egress: rec.wanIp } : {}),
        ...(rec.ipv6 !== null ? { ipv6: rec.ipv6 } : {}),
      })),
      // a forward written without an address answers where its target leaves
      forwards: Object.entries(state.forwards).map(([source, f]) => {
        const wanIp = source.includes(':') ? null : effectiveWan(state, f.target.split(':')[0]!);
        return {
          source: wanIp === null ? source : `${wanIp}:${source}`,
          target: f.target,
          protocol: f.protocol,
          enabled: f.enabled,
          ...(f.label !== null ? { label: f.label } : {}),
        };
      }),
      reserved: [...BASE_RESERVED, ...(this.opts.reserved?.(state) ?? [])],
      hostEgress: deviceEgress(state),
      ...(Object.keys(state.sni).length > 0 ? { transparentMark: TRANSPARENT_MARK } : {}),
      pinholes: Object.entries(state.pinholes).map(([key, p]) => {
        const k = parsePinholeKey(key)!;
        const last = k.port + p.count - 1;
        return {
          address: k.gua,
          ports: last === k.port ? `${k.port}` : `${k.port}-${last}`,
          ...(p.internalPort !== null ? { internalPort: p.internalPort } : {}),
          enabled: p.enabled,
        };
      }),
    };
  }

  /** The IPv6 routes and NDP proxy entries of `state` on this host. */
  ipv6Routes(state: State): Ipv6Routes {
    const addrs = this.opts.addresses();
    const onLink = onLinkPrefixes(addrs, this.opts.interface);
    const hosts = hosts6(state);
    const prefixes = Object.values(state.subnets).flatMap((s) => (s.ipv6 === null ? [] : [s.ipv6]));
    return {
      routes: hosts.filter((h) => h.ip !== null).map((h) => `${h.address}/128`),
      proxy: hosts.flatMap((h) =>
        onLink.filter((l) => l.contains(h.address)).map((l) => ({ address: h.address, dev: l.dev }))
      ),
      prefixes,
    };
  }

  #checkNat(nat: NatState): void {
    try {
      validateState(nat);
    } catch (err) {
      if (!(err instanceof NatStateError)) throw err;
      const issue = err.issues[0];
      // nat paths look like forwards[2].source: the caller knows the field, not the index
      const field = issue?.path.replace(/^forwards\[\d+\]\./, '') ?? 'params';
      const message = (issue?.message ?? err.message).replace(/forwards\[\d+\]\./g, '');
      throw new RpcError(ErrorCode.InvalidRequest, message, field, message);
    }
  }

  async #apply(state: State, full: boolean, old?: State): Promise<void> {
    const { dataplane } = this.opts;
    const addresses = [
      ...Object.keys(state.subnets),
      ...hosts6(state).flatMap((h) => (h.ip === null ? [`${h.address}/128`] : [])),
    ];
    const v6 = (s: State) =>
      Object.values(s.subnets)
        .map((r) => r.ipv6)
        .join();
    if (full || !old || !sameKeys(old.subnets, state.subnets) || v6(old) !== v6(state)) {
      await dataplane.setAddresses(addresses);
    }
    await dataplane.setPeers(peersOf(state));
    const sni = (s: State) => Object.keys(s.sni).length > 0;
    if (full || !old || sni(old) !== sni(state)) await dataplane.setTransparent(sni(state));
    const routes = this.ipv6Routes(state);
    if (full || !old || JSON.stringify(this.ipv6Routes(old)) !== JSON.stringify(routes)) {
      await dataplane.setIpv6Routes(routes);
    }
    const addrs = this.opts.addresses(); // one snapshot for both states
    const natOf = (s: State) =>
      JSON.stringify(this.natState(s, wanInfo(addrs, this.opts.interface, s.wan.override)));
    const natNow = natOf(state);
    const natBefore = old ? natOf(old) : '';
    if (full || natNow !== natBefore) await this.#applyNat(state);
    this.opts.onApplied?.(state);
  }

  async #applyNat(state: State): Promise<void> {
    const wan = this.wan(state);
    this.#lastWan = JSON.stringify(wan);
    const nat = this.natState(state, wan);
    if (!nat) {
      this.#nat = { ok: false, error: 'no WAN interface: forwards and egress are off', drift: [] };
      return;
    }
    try {
      const { drift } = await this.opts.dataplane.applyNat(nat);
      this.#nat = { ok: true, error: null, drift: drift.map((d) => d.message) };
    } catch (err) {
      this.#nat = { ok: false, error: (err as Error).message, drift: [] };
      throw err;
    }
  }

  /** Live status of one device, by its public key. */
  deviceStatus(publicKey: string): {
    endpoint: string | null;
    lastHandshake: string | null;
    rxBytes: number;
    txBytes: number;
    online: boolean;
  } {
    const s = this.opts.dataplane.peerStatus(publicKey);
    if (!s) return { endpoint: null, lastHandshake: null, rxBytes: 0, txBytes: 0, online: false };
    const now = this.opts.env.now().getTime();
    return {
      endpoint: s.endpoint,
      lastHandshake: s.lastHandshake > 0 ? new Date(s.lastHandshake).toISOString() : null,
      rxBytes: s.rxBytes,
      txBytes: s.txBytes,
      online: s.lastHandshake > 0 && now - s.lastHandshake < ONLINE_WINDOW_MS,
    };
  }
}

function sameKeys(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i]);
}

/** Every device as a peer: its key, its PSK, its /32 and, with IPv6, its /128. */
export function peersOf(state: State): PeerSpec[] {
  const v6 = new Map(hosts6(state).map((h) => [`${h.subnet} ${h.ip}`, h.address]));
  return allDevices(state).map(({ subnet, ip, device }) => {
    const gua = v6.get(`${subnet} ${ip}`);
    return {
      publicKey: device.publicKey,
      presharedKey: device.presharedKey,
      allowedIp: `${ip}/32`,
      ...(gua !== undefined ? { allowedIp6: `${gua}/128` } : {}),
    };
  });
}
