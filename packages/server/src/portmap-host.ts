// SPDX-License-Identifier: MIT
/**
 * What the automatic port forwarding services (PCP, UPnP IGD, SSDP) share: the host interface
 * through which every state change goes (`PortMapHost`: the services only do protocol work),
 * its errors (`MapError`), a guard that turns a throwing or ill-typed host answer into a refusal,
 * a bound socket slot that retries a failed bind, and a per-device queue. StartTunnel keeps the
 * same split (`GatewayBackend` in
 * https://github.com/Start9Labs/start-technologies/blob/master/shared-libs/crates/start-core/src/net/port_map/server/mod.rs).
 * @module
 */

import { parseIp } from '@start-tunnel/protocol';

/** The transport a mapping forwards. `both` is one mapping for TCP and UDP together. */
export type MapProtocol = 'tcp' | 'udp' | 'both';

/** A device asks for a mapping to itself. */
export interface MapRequest {
  /** The requester's tunnel IPv4, or its IPv6 address for family 6. */
  device: string;
  /** 4: a forward on a public IPv4; 6: a pinhole to the device's IPv6 address. */
  family: 4 | 6;
  protocol: MapProtocol;
  /** The first port on the device. */
  internalPort: number;
  /** The first external port suggested; 0 = the same as the internal port. */
  externalPort: number;
  /** 1, or a PORT_SET size (RFC 7753) capped at 1024. */
  count: number;
  /** Already capped: PCP ≤ 3600; UPnP 0 = permanent, else ≤ 604800. */
  lifetimeSec: number;
  description: string;
  via: 'pcp' | 'upnp';
}

/** What was granted. */
export interface MapResult {
  /** The public IPv4 (family 4) or the device's IPv6 address (family 6). */
  externalIp: string;
  externalPort: number;
  count: number;
  lifetimeSec: number;
}

export type MapErrorCode =
  | 'NOT_AUTHORIZED'
  | 'NO_RESOURCES'
  | 'CONFLICT'
  | 'CANNOT_PROVIDE_EXTERNAL'
  | 'NOT_FOUND';

/**
 * A refusal from the host, translated into each protocol's own code (PCP result codes,
 * RFC 6887 §7.4; UPnP faults, WANIPConnection:1 §2.4).
 * @example
 * throw new MapError('CONFLICT', 'Port "8080" is forwarded to another device');
 */
export class MapError extends Error {
  readonly code: MapErrorCode;
  constructor(code: MapErrorCode, message: string) {
    super(message);
    this.name = 'MapError';
    this.code = code;
  }
}

/** An automatic IPv4 mapping of one device, one entry per port and transport. */
export interface PortMapping {
  protocol: 'tcp' | 'udp';
  externalPort: number;
  internalPort: number;
  description: string;
  enabled: boolean;
}

/** Removes mappings of one device only. */
export interface UnmapRequest {
  device: string;
  family: 4 | 6;
  protocol: MapProtocol;
  internalPort?: number;
  externalPort?: number;
  via: 'pcp' | 'upnp';
}

/** The state the services read and change; the daemon implements it on the tunnel. */
export interface PortMapHost {
  /**
   * A device allowed to open its own forwards, found by its tunnel IPv4 or its IPv6 (GUA)
   * source address, or null.
   */
  authorize(source: string): { device: string; gua: string | null } | null;
  /** The public IPv4 the device's forwards answer on, or null. */
  externalIp(device: string): string | null;
  /** Adds or renews a mapping; rejects with a `MapError`. */
  map(req: MapRequest): Promise<MapResult>;
  /** Removes the device's own mappings that match; `NOT_FOUND` when there is none. */
  unmap(req: UnmapRequest): Promise<void>;
  /** The device's automatic IPv4 mappings. */
  mappings(device: string): PortMapping[];
}

/** The host as the services call it: never throws where a protocol answer is due. */
export interface GuardedHost {
  authorize(source: string): { device: string; gua: string | null } | null;
  externalIp(device: string): string | null;
  /** A `MapError` for a refusal; any other failure becomes `NO_RESOURCES`. */
  map(req: MapRequest): Promise<MapResult>;
  unmap(req: UnmapRequest): Promise<void>;
  mappings(device: string): PortMapping[];
}

const PORT_MAX = 65_535;

function isPort(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= PORT_MAX;
}

/** Rejects with `NO_RESOURCES` when `promise` has not settled after `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** How long `map` and `unmap` may take before the request is answered with a failure. */
export const HOST_TIMEOUT_MS = 20_000;

/**
 * Wraps `host` so that a throw, an answer of the wrong shape or a `map`/`unmap` that takes
 * longer than `timeoutMs` is logged and refused.
 */
export function guardHost(
  host: PortMapHost,
  log: (line: string) => void,
  timeoutMs = HOST_TIMEOUT_MS
): GuardedHost {
  const failed = (what: string, err: unknown) =>
    log(`port-map: host ${what} failed: ${(err as Error)?.message ?? String(err)}`);
  const refusal = (err: unknown): MapError => {
    if (err instanceof MapError) return err;
    failed('map', err);
    return new MapError('NO_RESOURCES', 'The mapping could not be made');
  };
  return {
    authorize(source) {
      try {
        const found = host.authorize(source);
        if (!found || typeof found.device !== 'string') return null;
        return { device: found.device, gua: typeof found.gua === 'string' ? found.gua : null };
      } catch (err) {
        failed('authorize', err);
        return null;
      }
    },
    externalIp(device) {
      try {
        const ip = host.externalIp(device);
        return typeof ip === 'string' && parseIp(ip)?.family === 4 ? ip : null;
      } catch (err) {
        failed('externalIp', err);
        return null;
      }
    },
    async map(req) {
      let result: MapResult;
      try {
        result = await within(
          Promise.resolve().then(() => host.map(req)),
          timeoutMs
        );
      } catch (err) {
        throw refusal(err);
      }
      const ip = typeof result?.externalIp === 'string' ? parseIp(result.externalIp) : null;
      if (
        ip?.family !== req.family ||
        !isPort(result.externalPort) ||
        !Number.isInteger(result.count) ||
        result.count < 1 ||
        result.externalPort + result.count - 1 > PORT_MAX ||
        !Number.isInteger(result.lifetimeSec) ||
        result.lifetimeSec < 0
      ) {
        throw refusal(new Error('map returned an invalid result'));
      }
      return { ...result, externalIp: ip.canonical };
    },
    async unmap(req) {
      try {
        await within(
          Promise.resolve().then(() => host.unmap(req)),
          timeoutMs
        );
      } catch (err) {
        throw refusal(err);
      }
    },
    mappings(device) {
      try {
        const list = host.mappings(device);
        if (!Array.isArray(list)) return [];
        return list.filter(
          (m) =>
            (m?.protocol === 'tcp' || m?.protocol === 'udp') &&
            isPort(m.externalPort) &&
            isPort(m.internalPort)
        );
      } catch (err) {
        failed('mappings', err);
        return [];
      }
    },
  };
}

/** Something bound (a socket, a server) that can be let go. */
export interface Bound {
  close(): Promise<void>;
}

/**
 * One bind that is tried again every `retryMs` until it succeeds or the slot is stopped; the
 * first failure is logged, later ones only when the reason changes.
 */
export class Slot {
  readonly #label: string;
  readonly #open: () => Promise<Bound>;
  readonly #log: (line: string) => void;
  readonly #retryMs: number;
  #bound: Bound | null = null;
  #retry: NodeJS.Timeout | null = null;
  #pending: Promise<void> = Promise.resolve();
  #lastFailure: string | null = null;
  #stopped = false;

  constructor(
    label: string,
    open: () => Promise<Bound>,
    log: (line: string) => void,
    retryMs: number
  ) {
    this.#label = label;
    this.#open = open;
    this.#log = log;
    this.#retryMs = retryMs;
  }

  /** Whether the bind has succeeded (and the slot is not stopped). */
  get bound(): boolean {
    return this.#bound !== null;
  }

  /** Tries to bind once; a failure schedules the retries. Never rejects. */
  start(): Promise<void> {
    this.#pending = this.#pending.then(() => this.#attempt());
    return this.#pending;
  }

  /** Cancels the retries and closes what is bound; final. Never rejects. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    await this.#pending;
    const bound = this.#bound;
    this.#bound = null;
    if (bound) await bound.close().catch(() => {});
  }

  async #attempt(): Promise<void> {
    this.#retry = null;
    if (this.#stopped || this.#bound) return;
    let bound: Bound;
    try {
      bound = await this.#open();
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.message ?? String(err);
      if (reason !== this.#lastFailure) {
        this.#log(
          `port-map: cannot bind ${this.#label} (${reason}); trying again every ${this.#retryMs} ms`
        );
        this.#lastFailure = reason;
      }
      if (!this.#stopped) {
        this.#retry = setTimeout(() => void this.start(), this.#retryMs);
      }
      return;
    }
    if (this.#stopped) {
      await bound.close().catch(() => {});
      return;
    }
    this.#bound = bound;
    this.#lastFailure = null;
    this.#log(`port-map: listening on ${this.#label}`);
  }
}

/**
 * Runs one task at a time per key (a device's mutations in the order they came); `tryRun`
 * refuses instead of queueing when the key is busy (a datagram that will be sent again).
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => {},
      () => {}
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** `task`'s promise, or null when a task for `key` is still running. */
  tryRun<T>(key: string, task: () => Promise<T>): Promise<T> | null {
    if (this.#tails.has(key)) return null;
    return this.run(key, task);
  }

  /** How many keys have a task running or waiting. */
  get size(): number {
    return this.#tails.size;
  }
}

/** `host:port` with brackets for IPv6. */
export function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
