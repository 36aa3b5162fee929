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
  isPublicIPv4,
  type RpcDispatcher,
  RpcError,
  type StatusInfo,
} from '@start-tunnel/protocol';
import { deviceIpv6 } from './addr6.ts';
import { formatEndpoint, renderConfig } from './config.ts';
import { checkForwardWan, effectiveWan, setDeviceWan, setSubnetWan } from './egress.ts';
import { addedDevice, forwardInfo, sniInfo, sniInfos, subnetInfo } from './info.ts';
import { addPinhole, pinholeInfo, removePinhole, setSubnetIpv6, updatePinhole } from './ipv6.ts';
import {
  addDevice,
  addForward,
  addSubnet,
  allDevices,
  getDevice,
  getSubnet,
  isInbound,
  parseSource,
  parseSubnet,
  removeDevice,
  removeForward,
  removeSubnet,
  serverPublicKey,
  setDeviceKind,
  setForwardEnabled,
  setForwardLabel,
  setWanOverride,
} from './model.ts';
import { checkForwardPort80, redirects, setRedirectEnabled } from './redirect.ts';
import type { State } from './schema.ts';
import { addSniRoutes, checkNotSni, removeSni, updateSni } from './sni.ts';
import type { Tunnel } from './tunnel.ts';
import { onLinkPrefixes, systemIpv6DefaultRoute } from './wan.ts';

/** Registers every control-plane method on `rpc`. */
export function registerTunnelMethods(rpc: RpcDispatcher, tunnel: Tunnel, version: string): void {
  const { env } = tunnel.opts;
  const hasIpv6Route = tunnel.opts.ipv6DefaultRoute ?? systemIpv6DefaultRoute;

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
  rpc.register('subnet.set-wan', async (p) => {
    const key = await tunnel.change((s) => ({
      state: setSubnetWan(s, p.subnet, p.wanIp),
      result: parseSubnet(p.subnet).key,
    }));
    return subnetInfo(tunnel.state, key);
  });
  rpc.register('subnet.set-ipv6', async (p) => {
    const { key, warnings } = await tunnel.change((s) => {
      const onLink = onLinkPrefixes(tunnel.opts.addresses(), tunnel.opts.interface);
      const host = { hasDefaultRoute: hasIpv6Route(), onLink: onLink.map((l) => l.prefix) };
      const r = setSubnetIpv6(s, p.subnet, p.prefix, host);
      return { state: r.state, result: { key: parseSubnet(p.subnet).key, warnings: r.warnings } };
    });
    for (const w of warnings) tunnel.opts.log(`subnet ${key}: ${w}`);
    return { ...subnetInfo(tunnel.state, key), warnings };
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
      kind: d.kind,
      wanIp: d.wanIp,
      effectiveWanIp: effectiveWan(tunnel.state, ip),
      ipv6: deviceIpv6(tunnel.state, key, ip),
      allowDnsInjection: d.allowDnsInjection,
      allowAutoPortForward: d.allowAutoPortForward,
      ...tunnel.deviceStatus(d.publicKey),
    }));
  });
  rpc.register('device.add', async (p) =>
    tunnel.change((s) => {
      const r = addDevice(s, env, p);
      return { state: r.state, result: addedDevice(r.state, r.subnet, r.ip) };
    })
  );
  rpc.register('device.set-kind', async (p) =>
    tunnel.change((s) => {
      const found = getDevice(s, p.subnet, p.ip);
      const next = setDeviceKind(s, p.subnet, p.ip, p.kind);
      return { state: next, result: addedDevice(next, found.subnet.key, found.ip) };
    })
  );
  rpc.register('device.set-wan', async (p) =>
    tunnel.change((s) => {
      const found = getDevice(s, p.subnet, p.ip);
      const next = setDeviceWan(s, p.subnet, p.ip, p.wanIp);
      return { state: next, result: addedDevice(next, found.subnet.key, found.ip) };
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
      // where the device leaves is where it should connect; a private WAN (a cloud that NATs
      // at its edge) needs the public name or address given explicitly
      const wan = effectiveWan(tunnel.state, ip) ?? tunnel.wan().address;
      if (!wan) {
        throw new RpcError(
          ErrorCode.NotFound,
          'No public address is known for this server: pass an endpoint (HOST[:PORT]) or set ' +
            'one with `start-tunnel wan set <IP>`',
          'endpoint',
          'no WAN address'
        );
      }
      if (!isPublicIPv4(wan)) {
        throw new RpcError(
          ErrorCode.InvalidRequest,
          `The WAN address ${wan} of this device is not public (the provider NATs it at its ` +
            'edge): pass the public endpoint (IP or DNS name) with --endpoint',
          'endpoint',
          'the WAN address is not public'
        );
      }
      endpoint = `${wan}:${port}`;
    }
    const gua = deviceIpv6(tunnel.state, subnet.key, ip);
    const prefix = tunnel.state.subnets[subnet.key]!.ipv6;
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
        ipv6: gua !== null && prefix !== null ? `${gua}/${prefix.split('/')[1]}` : null,
        inbound: isInbound(tunnel.state, subnet.key, ip),
      }),
    };
  });

  const leases = tunnel.opts.leases;
  /** The SNI port of `source` when it is one (plain forwards and SNI ports share sources). */
  const sniPort = (state: State, source: string) => {
    try {
      const key = parseSource(source).key;
      return state.sni[key] ? key : null;
    } catch {
      return null;
    }
  };

  rpc.register('port-forward.list', async () => {
    const state = tunnel.state;
    const sources = Object.keys(state.forwards);
    let counters: ({ packets: number; bytes: number } | null)[] = [];
    const nat = tunnel.natState(state);
    if (nat && tunnel.natStatus.ok) {
      counters = await tunnel.opts.dataplane.forwardCounters(nat).catch(() => []);
    }
    return [
      ...sources.map((s, i) => forwardInfo(state, s, counters[i], leases)),
      ...sniInfos(state, leases),
    ];
  });
  rpc.register('port-forward.add', async (p) => {
    if ((p.sni?.length ?? 0) > 0 || p.fallback) {
      if (p.protocol !== undefined && p.protocol !== 'tcp') {
        throw new RpcError(
          ErrorCode.InvalidRequest,
          'Invalid protocol: SNI routes are TCP',
          'protocol'
        );
      }
      const r = await tunnel.change((s) => {
        const added = addSniRoutes(s, env, { ...p, sni: p.sni ?? [] });
        const port = parseSource(added.source).first;
        const reserved = tunnel
          .reservedPorts(added.state)
          .find((x) => x.protocol === 'tcp' && x.port === port);
        if (reserved || port === 80) {
          const why = reserved
            ? `the reserved port of ${reserved.name}`
            : "the HTTP→HTTPS redirect's port";
          throw new RpcError(
            ErrorCode.InvalidRequest,
            `Invalid source "${p.source}": ${why}`,
            'source'
          );
        }
        return { state: added.state, result: added };
      });
      return sniInfo(tunnel.state, r.source, r.hostname, leases);
    }
    const source = await tunnel.change((s) => {
      const r = addForward(s, env, p);
      checkForwardWan(r.state, r.source);
      checkForwardPort80(r.state, r.source, tunnel.publicIps());
      checkNotSni(r.state, r.source);
      return { state: r.state, result: r.source };
    });
    return forwardInfo(tunnel.state, source, null, leases);
  });
  rpc.register('port-forward.remove', async (p) => {
    await tunnel.change((s) => ({
      state: sniPort(s, p.source) ? removeSni(s, p.source, p.hostname) : removeForward(s, p.source),
      result: null,
    }));
    return null;
  });
  rpc.register('port-forward.set-enabled', async (p) => {
    if (sniPort(tunnel.state, p.source)) {
      const r = await tunnel.change((s) => {
        const u = updateSni(s, p.source, p.hostname, { enabled: p.enabled });
        return { state: u.state, result: u };
      });
      return sniInfo(tunnel.state, r.source, r.hostname, leases);
    }
    const source = await tunnel.change((s) => {
      const r = setForwardEnabled(s, p.source, p.enabled);
      if (p.enabled) {
        checkForwardPort80(r.state, r.source, tunnel.publicIps());
        checkNotSni(r.state, r.source);
      }
      return { state: r.state, result: r.source };
    });
    return forwardInfo(tunnel.state, source, null, leases);
  });
  rpc.register('port-forward.update-label', async (p) => {
    if (sniPort(tunnel.state, p.source)) {
      const r = await tunnel.change((s) => {
        const u = updateSni(s, p.source, p.hostname, { label: p.label ?? null });
        return { state: u.state, result: u };
      });
      return sniInfo(tunnel.state, r.source, r.hostname, leases);
    }
    const source = await tunnel.change((s) => {
      const r = setForwardLabel(s, p.source, p.label);
      return { state: r.state, result: r.source };
    });
    return forwardInfo(tunnel.state, source, null, leases);
  });

  rpc.register('pinhole.list', () =>
    Object.keys(tunnel.state.pinholes).map((k) => pinholeInfo(tunnel.state, k))
  );
  rpc.register('pinhole.add', async (p) => {
    const key = await tunnel.change((s) => {
      const r = addPinhole(s, env, p);
      return { state: r.state, result: r.key };
    });
    return pinholeInfo(tunnel.state, key);
  });
  rpc.register('pinhole.remove', async (p) => {
    await tunnel.change((s) => ({
      state: removePinhole(s, p.gua, p.externalPort),
      result: null,
    }));
    return null;
  });
  rpc.register('pinhole.set-enabled', async (p) => {
    const key = await tunnel.change((s) => {
      const r = updatePinhole(s, p.gua, p.externalPort, { enabled: p.enabled });
      return { state: r.state, result: r.key };
    });
    return pinholeInfo(tunnel.state, key);
  });
  rpc.register('pinhole.update-label', async (p) => {
    const key = await tunnel.change((s) => {
      const r = updatePinhole(s, p.gua, p.externalPort, { label: p.label ?? null });
      return { state: r.state, result: r.key };
    });
    return pinholeInfo(tunnel.state, key);
  });

  rpc.register('http-redirect.list', () => redirects(tunnel.state, tunnel.publicIps()));
  rpc.register('http-redirect.set-enabled', async (p) => {
    const ips = tunnel.publicIps();
    const ip = await tunnel.change((s) => {
      const next = setRedirectEnabled(s, p.ip, p.enabled, ips);
      return { state: next, result: p.ip.trim() };
    });
    const info = redirects(tunnel.state, ips).find((r) => r.ip === ip);
    if (!info) throw new RpcError(ErrorCode.NotFound, `No public address "${p.ip}"`, 'ip');
    return info;
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
