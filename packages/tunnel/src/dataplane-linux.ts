// SPDX-License-Identifier: MIT
/**
 * The real data plane: wg-core's `Device` in this process on a `LinuxTun` named
 * `wg-start-tunnel` and a `UdpBind` on the listen port, interface addresses through iproute2
 * (`ip -j addr`), nat through `@start-tunnel/nat`. A UAPI socket is opened as well, so
 * `wg show wg-start-tunnel` works for diagnostics (changes made through it are overwritten by
 * the next reconcile: the state store is the authority).
 * @module
 */

import {
  applyState,
  type CounterValue,
  type DriftItem,
  type NatState,
  readForwardCounters,
} from '@start-tunnel/nat';
import {
  Device,
  LinuxTun,
  type Logger,
  parseKeyBase64,
  parsePrefix,
  UapiServer,
  UdpBind,
} from '@start-tunnel/wg-core';
import { execa } from 'execa';
import type { Dataplane, PeerSpec, PeerStatus } from './dataplane.ts';

export interface LinuxDataplaneOptions {
  interface: string;
  listenPort: number;
  logger: Logger;
  /** Interface MTU (default: wg-core's 1420). */
  mtu?: number;
  /** Open the UAPI socket for `wg show` (default true). */
  uapi?: boolean;
}

interface IpAddrInfo {
  family?: string;
  local?: string;
  prefixlen?: number;
}

/** Runs `ip` with a bounded time; rejects with the command's stderr. */
async function ip(args: string[]): Promise<string> {
  const r = await execa('ip', args, { reject: false, timeout: 10_000 });
  if (r.exitCode !== 0) {
    const why = (r.stderr || r.stdout || r.shortMessage || '').toString().trim();
    throw new Error(`ip ${args.join(' ')} failed: ${why}`);
  }
  return r.stdout.toString();
}

export class LinuxDataplane implements Dataplane {
  readonly #opts: LinuxDataplaneOptions;
  #tun: LinuxTun | null = null;
  #device: Device | null = null;
  #uapi: UapiServer | null = null;
  /** Peers as last set, by public key, to diff against. */
  #peers = new Map<string, PeerSpec>();

  constructor(opts: LinuxDataplaneOptions) {
    this.#opts = opts;
  }

  async start(privateKey: string): Promise<void> {
    const { logger } = this.#opts;
    const name = this.#opts.interface;
    let tun: LinuxTun;
    try {
      tun = await LinuxTun.create(name, this.#opts.mtu ? { mtu: this.#opts.mtu } : {});
    } catch (err) {
      throw new Error(`Cannot create the TUN interface "${name}": ${(err as Error).message}`);
    }
    const device = new Device({ tun, bind: new UdpBind(), logger });
    this.#tun = tun;
    this.#device = device;
    device.setPrivateKey(parseKeyBase64(privateKey));
    await device.setListenPort(this.#opts.listenPort);
    tun.setEventHandler((event) => {
      if (event.type === 'up') {
        device.up().catch((err) => logger.error(`Cannot bring ${name} up: ${String(err)}`));
      } else if (event.type === 'down') {
        device.down().catch(() => {});
      }
    });
    tun.setUp(true);
    try {
      await device.up();
    } catch (err) {
      await this.stop();
      throw new Error(
        `Cannot open UDP port ${this.#opts.listenPort} for WireGuard: ${(err as Error).message}`
      );
    }
    if (this.#opts.uapi !== false) {
      try {
        this.#uapi = await UapiServer.listen(device, tun.name, {
          log: (m) => logger.verbose(m),
        });
      } catch (err) {
        logger.error(`No UAPI socket (wg show will not work): ${(err as Error).message}`);
      }
    }
  }

  async setPeers(peers: PeerSpec[]): Promise<void> {
    const device = this.#device;
    if (!device) throw new Error('The data plane is not started');
    const wanted = new Map(peers.map((p) => [p.publicKey, p]));
    for (const [key] of this.#peers) {
      if (!wanted.has(key)) {
        device.removePeer(parseKeyBase64(key));
        this.#peers.delete(key);
      }
    }
    for (const spec of peers) {
      const old = this.#peers.get(spec.publicKey);
      if (old && old.presharedKey === spec.presharedKey && old.allowedIp === spec.allowedIp) {
        continue; // unchanged: not touched
      }
      const key = parseKeyBase64(spec.publicKey);
      const peer = device.getPeer(key) ?? device.addPeer(key);
      if (!peer) throw new Error(`Cannot add peer ${spec.publicKey}`);
      device.setPresharedKey(peer, parseKeyBase64(spec.presharedKey));
      device.clearAllowedIPs(peer);
      device.addAllowedIP(peer, parsePrefix(spec.allowedIp));
      this.#peers.set(spec.publicKey, spec);
    }
  }

  async setAddresses(cidrs: string[]): Promise<void> {
    const name = this.#opts.interface;
    const out = JSON.parse(await ip(['-j', 'addr', 'show', 'dev', name])) as {
      addr_info?: IpAddrInfo[];
    }[];
    const have = new Set<string>();
    for (const link of out) {
      for (const a of link.addr_info ?? []) {
        if (a.family === 'inet' && a.local) have.add(`${a.local}/${a.prefixlen}`);
      }
    }
    const want = new Set(cidrs);
    for (const c of have) if (!want.has(c)) await ip(['addr', 'del', c, 'dev', name]);
    for (const c of want) if (!have.has(c)) await ip(['addr', 'add', c, 'dev', name]);
  }

  async applyNat(state: NatState): Promise<{ drift: readonly DriftItem[] }> {
    const { drift } = await applyState(state);
    return { drift };
  }

  forwardCounters(state: NatState): Promise<(CounterValue | null)[]> {
    return readForwardCounters(state);
  }

  async refreshStatus(): Promise<void> {}

  peerStatus(publicKey: string): PeerStatus | null {
    const device = this.#device;
    if (!device) return null;
    const peer = device.getPeer(parseKeyBase64(publicKey));
    if (!peer) return null;
    const s = device.stats(peer);
    return {
      endpoint: s.endpoint,
      lastHandshake: s.lastHandshakeTime,
      rxBytes: s.rxBytes,
      txBytes: s.txBytes,
    };
  }

  async stop(): Promise<void> {
    await this.#uapi?.close().catch(() => {});
    this.#uapi = null;
    await this.#device?.close().catch(() => {});
    this.#device = null;
    await this.#tun?.close().catch(() => {});
    this.#tun = null;
    this.#peers.clear();
  }
}
