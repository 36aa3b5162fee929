// SPDX-License-Identifier: MIT
/**
 * The gateway services on the tunnel's side, assembled on the tunnel's state: each subnet's
 * resolver (`dns.ts`), automatic forwarding by PCP and UPnP (`portmap.ts`) with their leases
 * (`leases.ts`), all bound to the subnets' gateway addresses only (nat's input chain keeps
 * the internet away from them too); and on the public side the SNI ports (`sni.ts`). `follow(state)` makes every listener match the state after
 * each applied change; nothing here runs on the data plane's thread.
 * @module
 */

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import {
  AutoMapError,
  applyDnsChanges,
  autoMapper,
  autoMappings,
  checkForwardPort80,
  checkNotSni,
  dnsInjector,
  effectiveWan,
  hosts6,
  leaseKey,
  mapAuto,
  parseSource,
  routeFor,
  type State,
  sniAddress,
  type Tunnel,
  unmapAuto,
} from '@start-tunnel/tunnel';
import { type DnsListener, DnsService } from './dns.ts';
import type { Leases } from './leases.ts';
import {
  MapError,
  type MapRequest,
  type MapResult,
  type PortMapHost,
  PortMapper,
  type UnmapRequest,
} from './portmap.ts';
import { type SniListener, SniProxy } from './sni.ts';

/** The server's own resolvers (systemd-resolved's real upstreams first), loopback dropped. */
export function systemResolvers(
  read: (path: string) => string | null = (p) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return null;
    }
  }
): string[] {
  for (const path of ['/run/systemd/resolve/resolv.conf', '/etc/resolv.conf']) {
    const text = read(path);
    if (text === null) continue;
    const out: string[] = [];
    for (const line of text.split('\n')) {
      const m = /^\s*nameserver\s+(\S+)/.exec(line);
      const ip = m?.[1]?.split('%')[0];
      if (!ip || isIP(ip) === 0 || ip.startsWith('127.') || ip === '::1') continue;
      const upstream = isIP(ip) === 6 ? `[${ip}]:53` : `${ip}:53`;
      if (!out.includes(upstream)) out.push(upstream);
    }
    if (out.length > 0) return out;
  }
  return [];
}

/** Each subnet's resolver addresses and upstreams in `state`. */
export function dnsListeners(state: State, resolvers: () => string[]): DnsListener[] {
  const out: DnsListener[] = [];
  const v6 = hosts6(state);
  for (const [key, rec] of Object.entries(state.subnets)) {
    const upstreams =
      rec.dns.mode === 'custom'
        ? rec.dns.servers
        : rec.dns.mode === 'device' && rec.dns.deviceIp !== null
          ? [`${rec.dns.deviceIp}:53`]
          : resolvers();
    if (upstreams.length === 0) continue;
    out.push({ address: key.split('/')[0]!, upstreams });
    const gw6 = v6.find((h) => h.subnet === key && h.ip === null);
    if (gw6) out.push({ address: gw6.address, upstreams });
  }
  return out;
}

/**
 * The SNI ports of `state` as listeners: each on its own address, its routes' WAN, or the
 * server's default WAN address (`fallback`); routes read the newest state on every connection.
 */
export function sniListeners(
  state: State,
  current: () => State,
  fallback: string | null
): SniListener[] {
  const out: SniListener[] = [];
  for (const source of Object.keys(state.sni)) {
    const address = sniAddress(state, source) ?? fallback;
    if (address === null) continue;
    out.push({
      address,
      port: parseSource(source).first,
      route: (hostname) => {
        const port = current().sni[source];
        const r = port ? routeFor(port, hostname) : null;
        return r ? { target: r.target, proxyProtocol: r.proxyProtocol } : null;
      },
    });
  }
  return out;
}

/** Every gateway address of `state`: IPv4 and, with a prefix, IPv6. */
export function gatewayAddresses(state: State): string[] {
  return [
    ...Object.keys(state.subnets).map((k) => k.split('/')[0]!),
    ...hosts6(state).flatMap((h) => (h.ip === null ? [h.address] : [])),
  ];
}

export interface GatewayOptions {
  tunnel: Tunnel;
  log: (line: string) => void;
  leases: Leases;
  /** Ports (tests use high ones). */
  ports?: { dns?: number; pcp?: number; ssdp?: number; http?: number };
  resolvers?: () => string[];
}

export class GatewayServices {
  readonly dns: DnsService;
  readonly portmap: PortMapper;
  readonly sni: SniProxy;
  readonly #opts: GatewayOptions;
  readonly #resolvers: () => string[];

  constructor(opts: GatewayOptions) {
    this.#opts = opts;
    const { tunnel, log } = opts;
    this.#resolvers = opts.resolvers ?? (() => systemResolvers());
    this.dns = new DnsService({
      log,
      ...(opts.ports?.dns !== undefined ? { port: opts.ports.dns } : {}),
      records: () => tunnel.state.dnsRecords,
      authorize: (source) => {
        const d = dnsInjector(tunnel.state, source);
        return d ? { psk: new Uint8Array(Buffer.from(d.presharedKey, 'base64')) } : null;
      },
      update: async (source, changes) => {
        await tunnel.change((s) => ({ state: applyDnsChanges(s, source, changes), result: null }));
      },
    });
    this.sni = new SniProxy({ log });
    this.portmap = new PortMapper({
      host: this.#host(),
      log,
      serverPublicKey: tunnel.publicKey,
      ports: {
        ...(opts.ports?.pcp !== undefined ? { pcp: opts.ports.pcp } : {}),
        ...(opts.ports?.ssdp !== undefined ? { ssdp: opts.ports.ssdp } : {}),
        ...(opts.ports?.http !== undefined ? { http: opts.ports.http } : {}),
      },
    });
  }

  /** Every listener follows `state` (and the leases its automatic entries). */
  follow(state: State): void {
    this.#opts.leases.adopt(state);
    void this.dns.reconcile(dnsListeners(state, this.#resolvers));
    void this.portmap.reconcile(gatewayAddresses(state).map((address) => ({ address })));
    const { tunnel } = this.#opts;
    void this.sni.reconcile(sniListeners(state, () => tunnel.state, tunnel.wan().address));
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.dns.close(), this.portmap.close(), this.sni.close()]);
  }

  #host(): PortMapHost {
    const { tunnel, leases } = this.#opts;
    return {
      authorize: (source) => {
        const who = autoMapper(tunnel.state, source);
        return who ? { device: who.ip, gua: who.gua } : null;
      },
      externalIp: (device) => effectiveWan(tunnel.state, device) ?? tunnel.wan().address,
      map: async (req: MapRequest): Promise<MapResult> => {
        let key: string;
        try {
          key = await tunnel.change((s) => {
            const r = mapAuto(s, tunnel.opts.env, req);
            if (req.family === 4) {
              // the redirect's port 80 and SNI ports are not the device's to take
              checkForwardPort80(r.state, r.key, tunnel.publicIps());
              checkNotSni(r.state, r.key);
            }
            return { state: r.state, result: r.key };
          });
        } catch (err) {
          throw asMapError(err);
        }
        const kind = req.family === 6 ? 'pinhole' : 'forward';
        leases.grant(leaseKey(kind, key), req.lifetimeSec === 0 ? null : req.lifetimeSec);
        const external = req.externalPort === 0 ? req.internalPort : req.externalPort;
        const externalIp =
          req.family === 6
            ? (autoMapper(tunnel.state, req.device)?.gua ?? req.device)
            : (effectiveWan(tunnel.state, req.device) ?? tunnel.wan().address ?? '');
        if (req.family === 4 && externalIp === '') {
          throw new MapError('CANNOT_PROVIDE_EXTERNAL', 'this server knows no public address');
        }
        return {
          externalIp,
          externalPort: external,
          count: req.count,
          lifetimeSec: req.lifetimeSec,
        };
      },
      unmap: async (req: UnmapRequest): Promise<void> => {
        try {
          await tunnel.change((s) => ({ state: unmapAuto(s, req), result: null }));
        } catch (err) {
          throw asMapError(err);
        }
      },
      mappings: (device) =>
        autoMappings(tunnel.state, device).flatMap(({ source, record }) => {
          const { first, last } = parseSource(source);
          const internal = Number(record.target.split(':')[1]);
          const protocols =
            record.protocol === 'both' ? (['tcp', 'udp'] as const) : [record.protocol];
          const out = [];
          for (let port = first; port <= last; port++) {
            for (const protocol of protocols) {
              out.push({
                protocol,
                externalPort: port,
                internalPort: internal + port - first,
                description: record.label ?? '',
                enabled: record.enabled,
              });
            }
          }
          return out;
        }),
    };
  }
}

/** The model's refusals in the words of PCP and UPnP. */
function asMapError(err: unknown): MapError {
  if (err instanceof MapError) return err;
  if (err instanceof AutoMapError) return new MapError(err.code, err.message);
  // anything the nat check or the redirect refuses: the ports are not available
  return new MapError('CONFLICT', err instanceof Error ? err.message : String(err));
}
