// SPDX-License-Identifier: MIT
/**
 * The Linux data plane with WireGuard in its own thread: wg-core's `Device` on a TUN interface,
 * a UDP port and a UAPI socket (`wg show` works) run in a `worker_threads` worker
 * (`dataplane-thread.ts`) with its own event loop, so a busy main thread (JSON-RPC, the panel,
 * Argon2id, fsync) delays no packet. This class is the control plane's side: it implements
 * `@start-tunnel/tunnel`'s `Dataplane` by messages (`dataplane-protocol.ts`), keeps the last
 * peer set, addresses and counters, and runs `ip` and `nft` itself (child processes anyway).
 *
 * A thread that dies is logged and started again with the last private key, peers and
 * addresses (its TUN interface went with it), after a growing delay, at most
 * `restartPolicy.max` times per window; after that the data plane stays down and says why.
 * The threads follow https://nodejs.org/docs/latest-v20.x/api/worker_threads.html.
 * @module
 */

import { rmSync } from 'node:fs';
import {
  applyState,
  type CounterValue,
  type DriftItem,
  type NatState,
  procSysctl,
  readForwardCounters,
} from '@start-tunnel/nat';
import { ipv6PrefixContains, parseIPv6Prefix } from '@start-tunnel/protocol';
import type { Dataplane, Ipv6Routes, PeerSpec, PeerStatus } from '@start-tunnel/tunnel';
import { defaultCryptoWorkers, type Logger, type LogLevel } from '@start-tunnel/wg-core';
import { DataplaneThread, ThreadGone, ThreadTimeout } from './dataplane-client.ts';
import { messageOf, type Ops, parseKeyField, parsePeers } from './dataplane-protocol.ts';
import { syncAddresses, syncProxy6, syncRoutes6, syncTransparent } from './dataplane-system.ts';

export interface RestartPolicy {
  /** Restarts allowed within `windowMs`; one more failure and the data plane stays down. */
  max: number;
  windowMs: number;
  /** Delay before the first restart, doubled for each recent one, up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  max: 5,
  windowMs: 10 * 60_000,
  baseDelayMs: 250,
  maxDelayMs: 5_000,
};

/** The delay before the next restart given earlier restart times, or null to give up. */
export function restartDelay(
  earlier: readonly number[],
  now: number,
  policy: RestartPolicy
): number | null {
  const recent = earlier.filter((t) => now - t < policy.windowMs).length;
  if (recent >= policy.max) return null;
  return Math.min(policy.baseDelayMs * 2 ** recent, policy.maxDelayMs);
}

export interface LinuxDataplaneOptions {
  /** Interface name (also the UAPI socket's: `/var/run/wireguard/<name>.sock`). */
  interface: string;
  listenPort: number;
  /** Receives the thread's log lines and the restart notices. */
  logger: Logger;
  /** The lines the thread sends: `error` (default), `verbose` or `silent`. */
  logLevel?: LogLevel;
  /** Interface MTU (default: wg-core's 1420). */
  mtu?: number;
  /** Open the UAPI socket for `wg show` (default true). */
  uapi?: boolean;
  /** Crypto worker threads of the device (default: `defaultCryptoWorkers()`, 0 = inline). */
  workers?: number;
  restartPolicy?: Partial<RestartPolicy>;
  /** @internal tests: wg-core's memory TUN and UDP instead of the system's. */
  io?: 'linux' | 'memory';
}

export type ThreadState = 'stopped' | 'running' | 'restarting' | 'failed';

const START_TIMEOUT_MS = 30_000;
const COMMAND_TIMEOUT_MS = 10_000;
const STATUS_TIMEOUT_MS = 2_000;
const STOP_TIMEOUT_MS = 5_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class LinuxDataplane implements Dataplane {
  readonly #opts: LinuxDataplaneOptions;
  readonly #policy: RestartPolicy;
  /** The thread that answers, once started. */
  #worker: DataplaneThread | null = null;
  #privateKey: string | null = null;
  #ifname: string | null = null;
  #uapiPath: string | null = null;
  #peers = new Map<string, PeerSpec>();
  #addresses: string[] | null = null;
  #routes6: string[] | null = null;
  #status = new Map<string, PeerStatus>();
  #restartTimes: number[] = [];
  #restarting: Promise<void> | null = null;
  #failed: string | null = null;
  #stopping = false;
  /** Threads started again after a failure, over this object's life. */
  restarts = 0;

  constructor(opts: LinuxDataplaneOptions) {
    this.#opts = opts;
    this.#policy = { ...DEFAULT_RESTART_POLICY, ...opts.restartPolicy };
  }

  get state(): ThreadState {
    if (this.#failed !== null) return 'failed';
    if (this.#restarting) return 'restarting';
    return this.#worker ? 'running' : 'stopped';
  }

  async start(privateKey: string): Promise<void> {
    if (this.#privateKey !== null) throw new Error('The data plane is already started');
    parseKeyField(privateKey, 'privateKey');
    this.#privateKey = privateKey;
    this.#failed = null;
    try {
      await this.#launch();
    } catch (err) {
      this.#privateKey = null;
      throw err;
    }
  }

  async setPeers(peers: PeerSpec[]): Promise<void> {
    const parsed = parsePeers(peers); // a bad key rejects here, before anything changes
    const specs = parsed.map((p) => p.spec);
    for (let attempt = 0; ; attempt++) {
      const worker = await this.#live();
      try {
        await worker.call('setPeers', { peers: specs }, COMMAND_TIMEOUT_MS);
        break;
      } catch (err) {
        // the thread died under the request: once restarted with the old set, apply again
        if (!(err instanceof ThreadGone) || attempt > 0) throw err;
      }
    }
    this.#peers = new Map(specs.map((p) => [p.publicKey, p]));
    for (const key of [...this.#status.keys()]) if (!this.#peers.has(key)) this.#status.delete(key);
  }

  async setAddresses(cidrs: string[]): Promise<void> {
    this.#addresses = [...cidrs];
    await this.#live();
    await syncAddresses(this.#ifname ?? this.#opts.interface, cidrs);
  }

  async setTransparent(on: boolean): Promise<void> {
    await syncTransparent(on);
  }

  async setIpv6Routes(spec: Ipv6Routes): Promise<void> {
    this.#routes6 = [...spec.routes];
    await this.#live();
    await syncRoutes6(this.#ifname ?? this.#opts.interface, spec.routes);
    const prefixes = spec.prefixes.flatMap((t) => parseIPv6Prefix(t) ?? []);
    const inside = (a: string) => prefixes.some((p) => ipv6PrefixContains(p, a));
    if (spec.proxy.length > 0) await procSysctl().write('net.ipv6.conf.all.proxy_ndp', '1');
    await syncProxy6(spec.proxy, inside);
  }

  async applyNat(state: NatState): Promise<{ drift: readonly DriftItem[] }> {
    const { drift } = await applyState(state);
    return { drift };
  }

  forwardCounters(state: NatState): Promise<(CounterValue | null)[]> {
    return readForwardCounters(state);
  }

  /** One message for every peer's counters; unanswered in 2 s, the old numbers stay. */
  async refreshStatus(): Promise<void> {
    const worker = this.#worker;
    if (!worker || this.#restarting) return;
    let list: Ops['status']['result'];
    try {
      list = await worker.call('status', {}, STATUS_TIMEOUT_MS);
    } catch (err) {
      this.#opts.logger.verbose(`No fresh peer counters: ${messageOf(err)}`);
      return;
    }
    const next = new Map<string, PeerStatus>();
    for (const { publicKey, ...status } of list) {
      if (this.#peers.has(publicKey)) next.set(publicKey, status);
    }
    this.#status = next;
  }

  peerStatus(publicKey: string): PeerStatus | null {
    if (!this.#peers.has(publicKey)) return null;
    const s = this.#status.get(publicKey);
    return s ? { ...s } : { endpoint: null, lastHandshake: 0, rxBytes: 0, txBytes: 0 };
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    try {
      await this.#restarting;
      const worker = this.#worker;
      this.#worker = null;
      if (worker) {
        try {
          await worker.call('stop', {}, STOP_TIMEOUT_MS);
          await worker.terminate();
        } catch (err) {
          worker.abandon(`did not stop: ${messageOf(err)}`);
        }
      }
      this.#removeSocket();
    } finally {
      this.#stopping = false;
      this.#privateKey = null;
      this.#ifname = null;
      this.#peers.clear();
      this.#status.clear();
      this.#addresses = null;
      this.#routes6 = null;
      this.#failed = null;
      this.#restartTimes = [];
    }
  }

  /** @internal test hook: the thread throws an uncaught error, as a bug would; resolves once it died. */
  async crashThread(): Promise<void> {
    try {
      await (await this.#live()).call('crash', {}, COMMAND_TIMEOUT_MS);
    } catch (err) {
      if (!(err instanceof ThreadGone)) throw err;
    }
  }

  /** Starts a thread and brings the interface up in it; the thread answers once this resolves. */
  async #launch(): Promise<void> {
    const worker: DataplaneThread = new DataplaneThread(
      this.#opts.io ?? 'linux',
      this.#opts.logger,
      (code) => this.#onExit(worker, code)
    );
    const o = this.#opts;
    const config = {
      privateKey: this.#privateKey ?? '',
      interface: o.interface,
      listenPort: o.listenPort,
      ...(o.mtu ? { mtu: o.mtu } : {}),
      uapi: o.uapi !== false,
      workers: o.workers ?? defaultCryptoWorkers(),
      logLevel: o.logLevel ?? 'error',
    };
    try {
      const started = await worker.call('start', { config }, START_TIMEOUT_MS);
      this.#ifname = started.interface;
      this.#uapiPath = started.uapiPath;
    } catch (err) {
      if (err instanceof ThreadTimeout) worker.abandon('did not start');
      else await worker.terminate(); // it closed what it opened before it answered
      throw err;
    }
    this.#worker = worker;
  }

  #onExit(worker: DataplaneThread, code: number): void {
    if (worker !== this.#worker) return; // a start that failed, or stop()
    this.#worker = null;
    if (this.#stopping) return;
    this.#opts.logger.error(`The data plane thread exited unexpectedly (code ${code})`);
    this.#restartTimes = this.#restartTimes.filter((t) => Date.now() - t < this.#policy.windowMs);
    this.#restarting ??= this.#restartLoop().finally(() => {
      this.#restarting = null;
    });
  }

  async #restartLoop(): Promise<void> {
    const { logger } = this.#opts;
    const hints = this.#endpointHints();
    for (let attempt = 0; attempt <= this.#policy.max; attempt++) {
      const delay = restartDelay(this.#restartTimes, Date.now(), this.#policy);
      if (delay === null) {
        this.#failed = `it failed ${this.#restartTimes.length + 1} times in ${this.#policy.windowMs / 1000} s`;
        logger.error(`The data plane thread is not restarted again: ${this.#failed}`);
        this.#removeSocket();
        return;
      }
      await sleep(delay);
      if (this.#stopping) return;
      this.#restartTimes.push(Date.now());
      try {
        await this.#launch();
      } catch (err) {
        logger.error(`Cannot restart the data plane thread: ${messageOf(err)}`);
        continue;
      }
      const worker = this.#worker!;
      this.restarts++;
      try {
        const peers = [...this.#peers.values()];
        await worker.call('setPeers', { peers, endpoints: hints }, COMMAND_TIMEOUT_MS);
        if (this.#addresses) await syncAddresses(this.#ifname!, this.#addresses);
        if (this.#routes6) await syncRoutes6(this.#ifname!, this.#routes6);
      } catch (err) {
        logger.error(`The restarted data plane thread is incomplete: ${messageOf(err)}`);
      }
      if (this.#worker !== worker) continue; // it died again while being set up
      logger.error(`The data plane thread was restarted with ${this.#peers.size} peers`);
      return;
    }
    this.#failed = 'it could not be restarted';
    this.#removeSocket();
  }

  /** The peers' last known endpoints, so a restarted thread can greet them at once. */
  #endpointHints(): Record<string, string> {
    const hints: Record<string, string> = {};
    for (const [key, s] of this.#status) if (s.endpoint) hints[key] = s.endpoint;
    return hints;
  }

  /** Removes the UAPI socket file our thread opened (a crashed thread leaves it behind). */
  #removeSocket(): void {
    if (this.#uapiPath) rmSync(this.#uapiPath, { force: true });
    this.#uapiPath = null;
  }

  /** The running thread, after any restart in progress; rejects when there is none. */
  async #live(): Promise<DataplaneThread> {
    if (this.#restarting) await this.#restarting;
    if (this.#worker) return this.#worker;
    if (this.#failed) throw new Error(`The data plane is down: ${this.#failed}`);
    throw new Error('The data plane is not started');
  }
}
