// SPDX-License-Identifier: MIT
/**
 * Automatic port forwarding for the devices inside the tunnel: PCP (RFC 6887, with PORT_SET,
 * RFC 7753), NAT-PMP's "unsupported version" (RFC 6886) and UPnP IGD:1 (SSDP and the HTTP/SOAP
 * control endpoint), each on the subnet gateway addresses it is given and on no other — never a
 * wildcard address — as StartTunnel binds its services to the WireGuard interface only
 * (https://github.com/Start9Labs/start-technologies/blob/master/shared-libs/crates/start-core/src/tunnel/forward/pcp.rs).
 * The services only speak the protocols; every change of state goes through the host.
 *
 * Per gateway address: PCP on UDP 5351 (IPv4 and IPv6); for IPv4 also SSDP on UDP 1900 (the
 * gateway's own address and the multicast group joined on it, see `ssdp.ts`) and HTTP on TCP
 * 49001. Each socket binds on its own and, when it cannot, is tried again every 5 s.
 * @module
 */

import { isIPv4 } from 'node:net';
import { type ParsedIp, parseIp } from '@start-tunnel/protocol';
import { bindPcp, PCP_PORT, type PcpSocketContext } from './pcp.ts';
import {
  type Bound,
  endpoint,
  type GuardedHost,
  guardHost,
  HOST_TIMEOUT_MS,
  KeyedQueue,
  type PortMapHost,
  Slot,
} from './portmap-host.ts';
import { igdIdentity } from './portmap-igd.ts';
import { bindSsdp, bindSsdpGroup, SSDP_GROUP, SSDP_PORT, type SsdpContext } from './ssdp.ts';
import {
  bindUpnp,
  UPNP_HTTP_PORT,
  UPNP_MAX_CONNECTIONS,
  UPNP_REQUEST_TIMEOUT_MS,
  type UpnpContext,
} from './upnp.ts';

export {
  MapError,
  type MapErrorCode,
  type MapProtocol,
  type MapRequest,
  type MapResult,
  type PortMapHost,
  type PortMapping,
  type UnmapRequest,
} from './portmap-host.ts';

/** How long a failed bind waits before the next try. */
export const PORT_MAP_RETRY_MS = 5_000;

export interface PortMapperOptions {
  host: PortMapHost;
  /** One line per event worth an operator's attention (binds, mappings made or removed). */
  log: (line: string) => void;
  /** The tunnel's WireGuard public key: the UPnP devices' UUIDs derive from it. */
  serverPublicKey: string;
  /** Ports (tests use high ones); NAT-PMP is answered on the PCP socket. */
  ports?: { pcp?: number; natpmp?: number; ssdp?: number; http?: number };
  /** Milliseconds; the PCP epoch and the UPnP uptime count from construction. */
  now?: () => number;
  /** How long a failed bind waits before the next try (default 5000). */
  retryMs?: number;
  /** Time for an HTTP request to arrive (default 10000). */
  requestTimeoutMs?: number;
  /** Time for the host's `map`/`unmap` to settle before the request fails (default 20000). */
  controlTimeoutMs?: number;
}

/** What one gateway address has bound. */
export interface PortMapListener {
  address: string;
  pcp: boolean;
  /** SSDP unicast and group sockets, HTTP (IPv4 only; false for IPv6). */
  ssdp: boolean;
  ssdpGroup: boolean;
  http: boolean;
}

interface Gateway {
  readonly address: string;
  readonly pcp: Slot;
  readonly ssdp: Slot | null;
  readonly ssdpGroup: Slot | null;
  readonly http: Slot | null;
}

/** 224.0.0.0/4 (RFC 5771) or ff00::/8 (RFC 4291 §2.7): a gateway never has one. */
function isMulticast(ip: ParsedIp): boolean {
  return ip.family === 4 ? (ip.bytes[0]! & 0xf0) === 0xe0 : ip.bytes[0] === 0xff;
}

function slots(g: Gateway): Slot[] {
  return [g.pcp, g.ssdp, g.ssdpGroup, g.http].filter((s): s is Slot => s !== null);
}

/**
 * The automatic port forwarding services on the gateway addresses given to `reconcile`.
 * @example
 * const mapper = new PortMapper({ host, log: console.error, serverPublicKey });
 * await mapper.reconcile([{ address: '10.59.0.1' }, { address: 'fd00:59::1' }]);
 * await mapper.close();
 */
export class PortMapper {
  readonly #log: (line: string) => void;
  readonly #host: GuardedHost;
  readonly #ports: { pcp: number; ssdp: number; http: number };
  readonly #retryMs: number;
  readonly #gateways = new Map<string, Gateway>();
  readonly #pcp: PcpSocketContext;
  readonly #ssdp: SsdpContext;
  readonly #upnp: UpnpContext;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(opts: PortMapperOptions) {
    // a throwing logger must not reach a socket callback
    this.#log = (line) => {
      try {
        opts.log(line);
      } catch {}
    };
    this.#host = guardHost(opts.host, this.#log, opts.controlTimeoutMs ?? HOST_TIMEOUT_MS);
    if (opts.ports?.natpmp !== undefined && opts.ports.natpmp !== (opts.ports.pcp ?? PCP_PORT)) {
      this.#log('port-map: NAT-PMP is answered on the PCP port; ports.natpmp is ignored');
    }
    this.#ports = {
      pcp: opts.ports?.pcp ?? PCP_PORT,
      ssdp: opts.ports?.ssdp ?? SSDP_PORT,
      http: opts.ports?.http ?? UPNP_HTTP_PORT,
    };
    this.#retryMs = opts.retryMs ?? PORT_MAP_RETRY_MS;
    const now = opts.now ?? Date.now;
    const startedAt = now();
    const epoch = () => Math.max(0, Math.floor((now() - startedAt) / 1000)) >>> 0;
    const identity = igdIdentity(opts.serverPublicKey);
    const perDevice = new KeyedQueue();
    this.#pcp = { host: this.#host, epoch, log: this.#log, queue: new KeyedQueue() };
    this.#ssdp = {
      host: this.#host,
      identity,
      httpPort: this.#ports.http,
      bootId: Math.floor(startedAt / 1000) >>> 0,
      log: this.#log,
      groupGateways: () =>
        [...this.#gateways.values()].filter((g) => g.ssdpGroup?.bound).map((g) => g.address),
    };
    this.#upnp = {
      host: this.#host,
      identity,
      epoch,
      log: this.#log,
      queue: perDevice,
      connections: { open: 0 },
      maxConnections: UPNP_MAX_CONNECTIONS,
      requestTimeoutMs: opts.requestTimeoutMs ?? UPNP_REQUEST_TIMEOUT_MS,
    };
  }

  /**
   * Makes the set of gateway addresses served exactly `listeners`: binds the new ones, closes
   * the removed ones. Never rejects; does nothing after `close()`.
   * @param listeners subnet gateway addresses, IPv4 or IPv6 (others are logged and skipped)
   */
  reconcile(listeners: readonly { address: string }[]): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const wanted = new Set<string>();
    for (const { address } of listeners) {
      const ip = parseIp(address);
      if (ip && !ip.bytes.every((b) => b === 0) && !isMulticast(ip)) wanted.add(ip.canonical);
      else this.#log(`port-map: ignoring "${address}": not a unicast IP address`);
    }
    return this.#enqueue(async () => {
      const removed = [...this.#gateways.values()].filter((g) => !wanted.has(g.address));
      for (const g of removed) this.#gateways.delete(g.address);
      await Promise.all(removed.flatMap(slots).map((s) => s.stop()));
      const added: Gateway[] = [];
      for (const address of wanted) {
        if (this.#gateways.has(address)) continue;
        const g = this.#gateway(address);
        this.#gateways.set(address, g);
        added.push(g);
      }
      await Promise.all(added.flatMap(slots).map((s) => s.start()));
    });
  }

  /** What each gateway address has bound now. */
  listening(): PortMapListener[] {
    return [...this.#gateways.values()].map((g) => ({
      address: g.address,
      pcp: g.pcp.bound,
      ssdp: g.ssdp?.bound ?? false,
      ssdpGroup: g.ssdpGroup?.bound ?? false,
      http: g.http?.bound ?? false,
    }));
  }

  /** Closes every socket and connection and cancels the retries; final. Never rejects. */
  close(): Promise<void> {
    this.#closed = true;
    return this.#enqueue(async () => {
      const all = [...this.#gateways.values()];
      this.#gateways.clear();
      await Promise.all(all.flatMap(slots).map((s) => s.stop()));
    });
  }

  #gateway(address: string): Gateway {
    const slot = (label: string, open: () => Promise<Bound>) =>
      new Slot(label, open, this.#log, this.#retryMs);
    const { pcp, ssdp, http } = this.#ports;
    const v4 = isIPv4(address);
    return {
      address,
      pcp: slot(`pcp ${endpoint(address, pcp)}`, () => bindPcp(address, pcp, this.#pcp)),
      ssdp: v4
        ? slot(`ssdp ${endpoint(address, ssdp)}`, () => bindSsdp(address, ssdp, this.#ssdp))
        : null,
      ssdpGroup: v4
        ? slot(`ssdp ${SSDP_GROUP}:${ssdp} on ${address}`, () =>
            bindSsdpGroup(address, ssdp, this.#ssdp)
          )
        : null,
      http: v4
        ? slot(`upnp ${endpoint(address, http)}`, () => bindUpnp(address, http, this.#upnp))
        : null,
    };
  }

  /** Runs `step` after the steps before it; a failure is logged, never passed on. */
  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(async () => {
      try {
        await step();
      } catch (err) {
        this.#log(`port-map: ${(err as Error)?.message ?? String(err)}`);
      }
    });
    return this.#queue;
  }
}
