// SPDX-License-Identifier: MIT
/**
 * The gateway services' methods (StartTunnel 1.5's names and shapes,
 * https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel): each
 * subnet's resolver (`subnet.set-dns`), local DNS records (`dns.*`), what a device may do on
 * its own (`device.set-dns-injection`, `device.set-auto-port-forward`) and the TSIG key it
 * signs its DNS updates with (`device.dns-key`, ours). Every change runs through
 * `Tunnel.change`.
 * @module
 */

import type { RpcDispatcher } from '@start-tunnel/protocol';
import { dropAuto } from './auto.ts';
import {
  addDnsRecord,
  DNS_UPDATE_KEY_NAME,
  dnsUpdateKey,
  removeDnsRecords,
  setDeviceFlag,
  setSubnetDns,
} from './dns.ts';
import { getDevice, parseSubnet } from './model.ts';
import type { Tunnel } from './tunnel.ts';

/** Registers the gateway services' methods on `rpc`. */
export function registerGatewayMethods(rpc: RpcDispatcher, tunnel: Tunnel): void {
  rpc.register('subnet.set-dns', async (p) => {
    const key = await tunnel.change((s) => ({
      state: setSubnetDns(s, p.subnet, p),
      result: parseSubnet(p.subnet).key,
    }));
    const dns = tunnel.state.subnets[key]!.dns;
    return { subnet: key, ...dns, servers: [...dns.servers] };
  });
  rpc.register('device.set-dns-injection', async (p) => {
    const ip = await tunnel.change((s) => {
      const r = setDeviceFlag(s, p.subnet, p.ip, 'allowDnsInjection', p.enabled);
      return { state: r.state, result: r.ip };
    });
    return { ip, allowDnsInjection: p.enabled };
  });
  rpc.register('device.set-auto-port-forward', async (p) => {
    const ip = await tunnel.change((s) => {
      const r = setDeviceFlag(s, p.subnet, p.ip, 'allowAutoPortForward', p.enabled);
      // withdrawn: the device's automatic forwards go at once; manual ones stay
      return { state: p.enabled ? r.state : dropAuto(r.state, r.ip), result: r.ip };
    });
    return { ip, allowAutoPortForward: p.enabled };
  });
  rpc.register('device.dns-key', (p) => {
    const { subnet, device } = getDevice(tunnel.state, p.subnet, p.ip);
    const key = dnsUpdateKey(Buffer.from(device.presharedKey, 'base64'));
    return {
      keyName: DNS_UPDATE_KEY_NAME,
      algorithm: 'hmac-sha256' as const,
      secret: Buffer.from(key).toString('base64'),
      server: subnet.key.split('/')[0]!,
    };
  });

  rpc.register('dns.list', () => tunnel.state.dnsRecords.map((r) => ({ ...r })));
  rpc.register('dns.add', async (p) =>
    tunnel.change((s) => {
      const r = addDnsRecord(s, p, null);
      return { state: r.state, result: { ...r.record } };
    })
  );
  rpc.register('dns.remove', async (p) => {
    const removed = await tunnel.change((s) => {
      const r = removeDnsRecords(s, p.name, p.type);
      return { state: r.state, result: r.removed };
    });
    return { removed };
  });
}
