// SPDX-License-Identifier: MIT
/**
 * An in-memory `PortMapHost` for tests: it records every call and keeps a small mapping table
 * (one entry per device, transport and external port, conflicts between devices refused), so
 * that a real client (upnpc, a PCP client) can add, list and delete.
 * @module
 */

import {
  MapError,
  type MapRequest,
  type MapResult,
  type PortMapHost,
  type PortMapping,
  type UnmapRequest,
} from './portmap-host.ts';

interface Entry {
  device: string;
  family: 4 | 6;
  protocol: 'tcp' | 'udp';
  externalPort: number;
  internalPort: number;
  description: string;
  enabled: boolean;
}

/** A recorded call. */
export type FakeCall =
  | { method: 'map'; req: MapRequest }
  | { method: 'unmap'; req: UnmapRequest }
  | { method: 'authorize'; source: string };

/**
 * @example
 * const host = new FakePortMapHost({ devices: { '10.59.0.2': null }, externalIp: '203.0.113.7' });
 */
export class FakePortMapHost implements PortMapHost {
  readonly calls: FakeCall[] = [];
  readonly entries: Entry[] = [];
  /** Device (tunnel IPv4) → its IPv6 address or null. */
  devices: Map<string, string | null>;
  externalIpOf: string | null;
  /** When set, `map` rejects with it (once per call). */
  failWith: Error | null = null;

  constructor(opts: { devices: Record<string, string | null>; externalIp: string | null }) {
    this.devices = new Map(Object.entries(opts.devices));
    this.externalIpOf = opts.externalIp;
  }

  /** The `map` and `unmap` calls, in order. */
  get changes(): FakeCall[] {
    return this.calls.filter((c) => c.method !== 'authorize');
  }

  authorize(source: string): { device: string; gua: string | null } | null {
    this.calls.push({ method: 'authorize', source });
    for (const [device, gua] of this.devices) {
      if (source === device || (gua !== null && source === gua)) return { device, gua };
    }
    return null;
  }

  /** The same public address for every device (and for a stranger asking). */
  externalIp(_device: string): string | null {
    return this.externalIpOf;
  }

  async map(req: MapRequest): Promise<MapResult> {
    this.calls.push({ method: 'map', req });
    if (this.failWith) throw this.failWith;
    const externalPort = req.externalPort || req.internalPort;
    const protocols: ('tcp' | 'udp')[] = req.protocol === 'both' ? ['tcp', 'udp'] : [req.protocol];
    for (let i = 0; i < req.count; i++) {
      for (const protocol of protocols) {
        const taken = this.#find(req.family, protocol, externalPort + i);
        if (taken && taken.device !== req.device) {
          throw new MapError('CONFLICT', `Port "${externalPort + i}" is mapped to another device`);
        }
      }
    }
    for (let i = 0; i < req.count; i++) {
      for (const protocol of protocols) {
        const old = this.#find(req.family, protocol, externalPort + i);
        if (old) this.entries.splice(this.entries.indexOf(old), 1);
        this.entries.push({
          device: req.device,
          family: req.family,
          protocol,
          externalPort: externalPort + i,
          internalPort: req.internalPort + i,
          description: req.description,
          enabled: true,
        });
      }
    }
    const externalIp = req.family === 6 ? req.device : this.externalIpOf;
    if (externalIp === null) throw new MapError('CANNOT_PROVIDE_EXTERNAL', 'No external address');
    return { externalIp, externalPort, count: req.count, lifetimeSec: req.lifetimeSec };
  }

  async unmap(req: UnmapRequest): Promise<void> {
    this.calls.push({ method: 'unmap', req });
    const matches = this.entries.filter(
      (e) =>
        e.device === req.device &&
        e.family === req.family &&
        (req.protocol === 'both' || e.protocol === req.protocol) &&
        (req.internalPort === undefined || e.internalPort === req.internalPort) &&
        (req.externalPort === undefined || e.externalPort === req.externalPort)
    );
    if (matches.length === 0) throw new MapError('NOT_FOUND', 'No such mapping');
    for (const e of matches) this.entries.splice(this.entries.indexOf(e), 1);
  }

  mappings(device: string): PortMapping[] {
    return this.entries
      .filter((e) => e.device === device && e.family === 4)
      .map(({ protocol, externalPort, internalPort, description, enabled }) => ({
        protocol,
        externalPort,
        internalPort,
        description,
        enabled,
      }));
  }

  #find(family: 4 | 6, protocol: 'tcp' | 'udp', externalPort: number): Entry | undefined {
    return this.entries.find(
      (e) => e.family === family && e.protocol === protocol && e.externalPort === externalPort
    );
  }
}
