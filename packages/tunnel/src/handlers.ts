// SPDX-License-Identifier: MIT
/**
 * The JSON-RPC methods of the control plane, with the original's names and parameter shapes
 * (`starttunnel.md` §8): each parses its parameters (zod: types and presence), lets the model
 * check meaning, and runs through `Tunnel.change` when it changes anything.
 * @module
 */

import { z } from 'zod';
import { formatEndpoint, renderConfig } from './config.ts';
import {
  addDevice,
  addForward,
  addSubnet,
  allDevices,
  getDevice,
  getSubnet,
  parseSubnet,
  removeDevice,
  removeForward,
  removeSubnet,
  serverPublicKey,
  setForwardEnabled,
  setForwardLabel,
  setWanOverride,
  subnetNetwork,
} from './model.ts';
import {
  type DeviceInfo,
  ErrorCode,
  type ForwardInfo,
  type Methods,
  type StatusInfo,
  type SubnetInfo,
} from './protocol.ts';
import { type RpcDispatcher, RpcError } from './rpc.ts';
import type { State } from './schema.ts';
import type { Tunnel } from './tunnel.ts';

const text = (what: string) =>
  z.string({ error: (i) => (i.input === undefined ? 'is required' : `must be ${what}`) });
const none = z.object({}).strict();
const protocol = z.enum(['tcp', 'udp', 'both'], { error: 'must be "tcp", "udp" or "both"' });

export const schemas = {
  'subnet.list': none,
  'subnet.add': z.object({ subnet: text('a CIDR string'), name: text('a string') }).strict(),
  'subnet.remove': z.object({ subnet: text('a CIDR string') }).strict(),
  'device.list': z.object({ subnet: text('a CIDR string') }).strict(),
  'device.add': z
    .object({
      subnet: text('a CIDR string'),
      name: text('a string'),
      ip: text('an IPv4 address string').optional(),
      publicKey: text('a base64 key string').optional(),
    })
    .strict(),
  'device.remove': z.object({ subnet: text('a CIDR string'), ip: text('an IPv4 string') }).strict(),
  'device.show-config': z
    .object({
      subnet: text('a CIDR string'),
      ip: text('an IPv4 string'),
      endpoint: text('a HOST or HOST:PORT string').optional(),
    })
    .strict(),
  'port-forward.list': none,
  'port-forward.add': z
    .object({
      source: text('an IP:PORT string'),
      target: text('a DEVICE_IP:PORT string'),
      protocol: protocol.optional(),
      label: text('a string').optional(),
    })
    .strict(),
  'port-forward.remove': z.object({ source: text('an IP:PORT string') }).strict(),
  'port-forward.set-enabled': z
    .object({
      source: text('an IP:PORT string'),
      enabled: z.boolean({ error: 'must be a boolean' }),
    })
    .strict(),
  'port-forward.update-label': z
    .object({ source: text('an IP:PORT string'), label: text('a string').nullable().optional() })
    .strict(),
  'wan.show': none,
  'wan.set': z.object({ ip: text('an IPv4 string') }).strict(),
  'wan.auto': none,
  status: none,
} satisfies Record<keyof Methods, z.ZodType>;

function subnetInfo(state: State, key: string): SubnetInfo {
  const rec = state.subnets[key]!;
  return {
    subnet: key,
    name: rec.name,
    network: subnetNetwork(key),
    devices: Object.keys(rec.devices).length,
  };
}

function forwardInfo(
  state: State,
  source: string,
  counters?: { packets: number; bytes: number } | null
): ForwardInfo {
  const f = state.forwards[source]!;
  return {
    source,
    target: f.target,
    protocol: f.protocol,
    label: f.label,
    enabled: f.enabled,
    packets: counters?.packets ?? 0,
    bytes: counters?.bytes ?? 0,
  };
}

/** Registers every control-plane method on `rpc`. */
export function registerTunnelMethods(rpc: RpcDispatcher, tunnel: Tunnel, version: string): void {
  const { env } = tunnel.opts;

  rpc.register('subnet.list', {
    params: schemas['subnet.list'],
    handler: () => Object.keys(tunnel.state.subnets).map((k) => subnetInfo(tunnel.state, k)),
  });
  rpc.register('subnet.add', {
    params: schemas['subnet.add'],
    handler: async (p) => {
      const key = await tunnel.change((s) => ({
        state: addSubnet(s, p.subnet, p.name),
        result: parseSubnet(p.subnet).key,
      }));
      return subnetInfo(tunnel.state, key);
    },
  });
  rpc.register('subnet.remove', {
    params: schemas['subnet.remove'],
    handler: async (p) => {
      await tunnel.change((s) => ({ state: removeSubnet(s, p.subnet), result: null }));
      return null;
    },
  });

  rpc.register('device.list', {
    params: schemas['device.list'],
    handler: (p): DeviceInfo[] => {
      // validates the subnet and that it exists (an empty list would hide a typo)
      const [{ key }, rec] = getSubnet(tunnel.state, p.subnet);
      return Object.entries(rec.devices).map(([ip, d]) => ({
        subnet: key,
        name: d.name,
        ip,
        publicKey: d.publicKey,
        ownKey: d.privateKey === null,
        ...tunnel.deviceStatus(d.publicKey),
      }));
    },
  });
  rpc.register('device.add', {
    params: schemas['device.add'],
    handler: async (p) =>
      tunnel.change((s) => {
        const r = addDevice(s, env, p);
        return {
          state: r.state,
          result: {
            subnet: r.subnet,
            name: r.device.name,
            ip: r.ip,
            publicKey: r.device.publicKey,
            ownKey: r.device.privateKey === null,
          },
        };
      }),
  });
  rpc.register('device.remove', {
    params: schemas['device.remove'],
    handler: async (p) => {
      await tunnel.change((s) => ({ state: removeDevice(s, p.subnet, p.ip), result: null }));
      return null;
    },
  });
  rpc.register('device.show-config', {
    params: schemas['device.show-config'],
    handler: (p) => {
      const { subnet, ip, device } = getDevice(tunnel.state, p.subnet, p.ip);
      const port = tunnel.opts.listenPort;
      let endpoint: string | null;
      if (p.endpoint !== undefined) {
        endpoint = formatEndpoint(p.endpoint, port);
        if (endpoint === null) {
          throw new RpcError(
            ErrorCode.ParseNetAddress,
            `Invalid endpoint "${p.endpoint}": expected HOST or HOST:PORT`,
            'endpoint',
            'expected HOST or HOST:PORT'
          );
        }
      } else {
        const wan = tunnel.wan().address;
        if (!wan) {
          throw new RpcError(
            ErrorCode.NotFound,
            'No public address is known for this server: pass an endpoint (HOST[:PORT]) or set ' +
              'one with `start-tunnel wan set <IP>`',
            'endpoint',
            'no WAN address'
          );
        }
        endpoint = `${wan}:${port}`;
      }
      return {
        subnet: subnet.key,
        name: device.name,
        ip,
        ownKey: device.privateKey === null,
        filename: 'start-tunnel.conf',
        config: renderConfig({
          subnet,
          ip,
          device,
          serverPublicKey: serverPublicKey(tunnel.state),
          endpoint,
        }),
      };
    },
  });

  rpc.register('port-forward.list', {
    params: schemas['port-forward.list'],
    handler: async () => {
      const state = tunnel.state;
      const sources = Object.keys(state.forwards);
      let counters: ({ packets: number; bytes: number } | null)[] = [];
      const nat = tunnel.natState(state);
      if (nat && tunnel.natStatus.ok) {
        counters = await tunnel.opts.dataplane.forwardCounters(nat).catch(() => []);
      }
      return sources.map((s, i) => forwardInfo(state, s, counters[i]));
    },
  });
  rpc.register('port-forward.add', {
    params: schemas['port-forward.add'],
    handler: async (p) => {
      const source = await tunnel.change((s) => {
        const r = addForward(s, env, p);
        return { state: r.state, result: r.source };
      });
      return forwardInfo(tunnel.state, source);
    },
  });
  rpc.register('port-forward.remove', {
    params: schemas['port-forward.remove'],
    handler: async (p) => {
      await tunnel.change((s) => ({ state: removeForward(s, p.source), result: null }));
      return null;
    },
  });
  rpc.register('port-forward.set-enabled', {
    params: schemas['port-forward.set-enabled'],
    handler: async (p) => {
      const source = await tunnel.change((s) => {
        const r = setForwardEnabled(s, p.source, p.enabled);
        return { state: r.state, result: r.source };
      });
      return forwardInfo(tunnel.state, source);
    },
  });
  rpc.register('port-forward.update-label', {
    params: schemas['port-forward.update-label'],
    handler: async (p) => {
      const source = await tunnel.change((s) => {
        const r = setForwardLabel(s, p.source, p.label);
        return { state: r.state, result: r.source };
      });
      return forwardInfo(tunnel.state, source);
    },
  });

  rpc.register('wan.show', { params: schemas['wan.show'], handler: () => tunnel.wan() });
  rpc.register('wan.set', {
    params: schemas['wan.set'],
    handler: async (p) => {
      await tunnel.change((s) => ({ state: setWanOverride(s, p.ip), result: null }));
      return tunnel.wan();
    },
  });
  rpc.register('wan.auto', {
    params: schemas['wan.auto'],
    handler: async () => {
      await tunnel.change((s) => ({ state: setWanOverride(s, null), result: null }));
      return tunnel.wan();
    },
  });

  rpc.register('status', {
    params: schemas.status,
    handler: (): StatusInfo => {
      const state = tunnel.state;
      const devices = allDevices(state);
      return {
        version,
        interface: tunnel.opts.interface,
        listenPort: tunnel.opts.listenPort,
        publicKey: serverPublicKey(state),
        wan: tunnel.wan(),
        subnets: Object.keys(state.subnets).length,
        devices: devices.length,
        online: devices.filter((d) => tunnel.deviceStatus(d.device.publicKey).online).length,
        forwards: Object.keys(state.forwards).length,
        startedAt: tunnel.startedAt.toISOString(),
        nat: tunnel.natStatus,
      };
    },
  });
}
