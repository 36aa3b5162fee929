// SPDX-License-Identifier: MIT
/**
 * The JSON-RPC methods of the control plane, with the original's names and parameter shapes
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/api.rs#L19-L189,
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/auth.rs#L127-L184 and
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/web.rs#L95-L177): each
 * parses its parameters (zod: types and presence), lets the model check meaning, and runs through
 * `Tunnel.change` when it changes anything.
 * @module
 */

import {
  type DeviceInfo,
  ErrorCode,
  type ForwardInfo,
  type RpcDispatcher,
  RpcError,
  type StatusInfo,
  type SubnetInfo,
} from '@start-tunnel/protocol';
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
import type { State } from './schema.ts';
import type { Tunnel } from './tunnel.ts';

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

  rpc.register('subnet.list', () =>
    Object.keys(tunnel.state.subnets).map((k) => subnetInfo(tunnel.state, k))
  );
  rpc.register('subnet.add', async (p) => {
    const key = await tunnel.change((s) => ({
      state: addSubnet(s, p.subnet, p.name),
      result: parseSubnet(p.subnet).key,
    }));
    return subnetInfo(tunnel.state, key);
  });
  rpc.register('subnet.remove', async (p) => {
    await tunnel.change((s) => ({ state: removeSubnet(s, p.subnet), result: null }));
    return null;
  });

  rpc.register('device.list', async (p): Promise<DeviceInfo[]> => {
    // validates the subnet and that it exists (an empty list would hide a typo)
    getSubnet(tunnel.state, p.subnet);
    await tunnel.opts.dataplane.refreshStatus();
    const [{ key }, rec] = getSubnet(tunnel.state, p.subnet);
    return Object.entries(rec.devices).map(([ip, d]) => ({
      subnet: key,
      name: d.name,
      ip,
      publicKey: d.publicKey,
      ownKey: d.privateKey === null,
      ...tunnel.deviceStatus(d.publicKey),
    }));
  });
  rpc.register('device.add', async (p) =>
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
    })
  );
  rpc.register('device.remove', async (p) => {
    await tunnel.change((s) => ({ state: removeDevice(s, p.subnet, p.ip), result: null }));
    return null;
  });
  rpc.register('device.show-config', (p) => {
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
  });

  rpc.register('port-forward.list', async () => {
    const state = tunnel.state;
    const sources = Object.keys(state.forwards);
    let counters: ({ packets: number; bytes: number } | null)[] = [];
    const nat = tunnel.natState(state);
    if (nat && tunnel.natStatus.ok) {
      counters = await tunnel.opts.dataplane.forwardCounters(nat).catch(() => []);
    }
    return sources.map((s, i) => forwardInfo(state, s, counters[i]));
  });
  rpc.register('port-forward.add', async (p) => {
    const source = await tunnel.change((s) => {
      const r = addForward(s, env, p);
      return { state: r.state, result: r.source };
    });
    return forwardInfo(tunnel.state, source);
  });
  rpc.register('port-forward.remove', async (p) => {
    await tunnel.change((s) => ({ state: removeForward(s, p.source), result: null }));
    return null;
  });
  rpc.register('port-forward.set-enabled', async (p) => {
    const source = await tunnel.change((s) => {
      const r = setForwardEnabled(s, p.source, p.enabled);
      return { state: r.state, result: r.source };
    });
    return forwardInfo(tunnel.state, source);
  });
  rpc.register('port-forward.update-label', async (p) => {
    const source = await tunnel.change((s) => {
      const r = setForwardLabel(s, p.source, p.label);
      return { state: r.state, result: r.source };
    });
    return forwardInfo(tunnel.state, source);
  });

  rpc.register('wan.show', () => tunnel.wan());
  rpc.register('wan.set', async (p) => {
    await tunnel.change((s) => ({ state: setWanOverride(s, p.ip), result: null }));
    return tunnel.wan();
  });
  rpc.register('wan.auto', async () => {
    await tunnel.change((s) => ({ state: setWanOverride(s, null), result: null }));
    return tunnel.wan();
  });

  rpc.register('status', async (): Promise<StatusInfo> => {
    await tunnel.opts.dataplane.refreshStatus();
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
  });
}
