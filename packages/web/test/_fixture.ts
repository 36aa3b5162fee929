// SPDX-License-Identifier: MIT
/**
 * Test kit: a dispatcher with stub tunnel methods (subnets, devices, forwards, status) over a
 * tiny in-memory model, a web server that is built but not listening, a settable clock, cheap
 * Argon2 parameters, and helpers to call `/rpc/v0` through `app.request()` the way a browser or
 * the CLI would. The stub's device config carries a planted private key so tests can check it
 * reaches only the config routes.
 * @module
 */

import {
  type DeviceConfig,
  type DeviceInfo,
  type ForwardInfo,
  RpcDispatcher,
  RpcError,
  type StatusInfo,
  type SubnetInfo,
} from '@start-tunnel/tunnel';
import { z } from 'zod';
import {
  type Argon2Params,
  createWebServer,
  hashPassword,
  MemoryWebStore,
  type WebServer,
  type WebServerOptions,
} from '../src/index.ts';

/** Argon2id parameters cheap enough for many tests (production uses RFC 9106 low-memory). */
export const CHEAP_ARGON2: Argon2Params = { memoryKiB: 64, iterations: 1, parallelism: 1 };

/** A device private key planted in the stub's configs: it must appear only in config routes. */
export const PLANTED_DEVICE_KEY = 'cGxhbnRlZC1kZXZpY2UtcHJpdmF0ZS1rZXktMDAwMDA=';
export const PASSWORD = 'correct horse battery';

export class Clock {
  ms = Date.parse('2026-03-01T12:00:00Z');
  now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** The stub's model, for tests that change what the daemon would report (device status). */
export interface StubTunnel {
  devices: Map<string, DeviceInfo>;
  forwards: Map<string, ForwardInfo>;
}

/** Registers stub tunnel methods with the real method names of protocol.ts. */
export function stubTunnel(d: RpcDispatcher): StubTunnel {
  const subnets = new Map<string, string>([['10.59.7.1/24', 'Default Subnet']]);
  const devices = new Map<string, DeviceInfo>();
  const forwards = new Map<string, ForwardInfo>();
  const subnetOf = (s: string) => {
    if (!subnets.has(s)) throw new RpcError(6, `No subnet "${s}"`, 'subnet');
    return s;
  };
  const info = (s: string): SubnetInfo => ({
    subnet: s,
    name: subnets.get(s) ?? '',
    network: s.replace(/\.1\//, '.0/'),
    devices: [...devices.values()].filter((x) => x.subnet === s).length,
  });
  d.register('subnet.list', {
    params: z.object({}),
    handler: () => [...subnets.keys()].map(info),
  });
  d.register('subnet.add', {
    params: z.object({
      subnet: z.string().regex(/^10\.59\.\d+\.1\/24$/, 'invalid subnet'),
      name: z.string().min(1),
    }),
    handler: ({ subnet, name }) => {
      subnets.set(subnet, name);
      return info(subnet);
    },
  });
  d.register('subnet.remove', {
    params: z.object({ subnet: z.string() }),
    handler: ({ subnet }) => {
      subnets.delete(subnet);
      return null;
    },
  });
  d.register('device.list', {
    params: z.object({ subnet: z.string() }),
    handler: ({ subnet }) => [...devices.values()].filter((x) => x.subnet === subnetOf(subnet)),
  });
  d.register('device.add', {
    params: z.object({
      subnet: z.string(),
      name: z.string().min(1),
      ip: z.string().optional(),
      publicKey: z.string().optional(),
    }),
    handler: (p) => {
      const base = subnetOf(p.subnet).split('.').slice(0, 3).join('.');
      const ip = p.ip ?? `${base}.${devices.size + 2}`;
      const dev: DeviceInfo = {
        subnet: p.subnet,
        name: p.name,
        ip,
        publicKey: p.publicKey ?? 'c3R1Yi1wdWJsaWMta2V5LTAwMDAwMDAwMDAwMDAwMDA=',
        ownKey: p.publicKey !== undefined,
        endpoint: null,
        lastHandshake: null,
        rxBytes: 0,
        txBytes: 0,
        online: false,
      };
      devices.set(ip, dev);
      return { subnet: p.subnet, name: p.name, ip, publicKey: dev.publicKey, ownKey: dev.ownKey };
    },
  });
  d.register('device.remove', {
    params: z.object({ subnet: z.string(), ip: z.string() }),
    handler: ({ ip }) => {
      devices.delete(ip);
      return null;
    },
  });
  d.register('device.show-config', {
    params: z.object({ subnet: z.string(), ip: z.string(), endpoint: z.string().optional() }),
    handler: ({ ip, endpoint }): DeviceConfig => {
      const dev = devices.get(ip);
      if (!dev) throw new RpcError(6, `No device "${ip}"`, 'ip');
      return {
        subnet: dev.subnet,
        name: dev.name,
        ip,
        ownKey: dev.ownKey,
        filename: 'start-tunnel.conf',
        config: `# StartTunnel config for ${dev.name}\n\n[Interface]\nAddress = ${ip}/24\nPrivateKey = ${PLANTED_DEVICE_KEY}\n\n[Peer]\nEndpoint = ${endpoint ?? '203.0.113.7'}:51820\n`,
      };
    },
  });
  d.register('port-forward.list', { params: z.object({}), handler: () => [...forwards.values()] });
  d.register('port-forward.add', {
    params: z.object({
      source: z.string(),
      target: z.string(),
      protocol: z.enum(['tcp', 'udp', 'both']).optional(),
      label: z.string().optional(),
    }),
    handler: (p) => {
      const f: ForwardInfo = {
        source: p.source,
        target: p.target,
        protocol: p.protocol ?? 'both',
        label: p.label ?? null,
        enabled: true,
        packets: 0,
        bytes: 0,
      };
      forwards.set(p.source, f);
      return f;
    },
  });
  d.register('port-forward.remove', {
    params: z.object({ source: z.string() }),
    handler: ({ source }) => {
      forwards.delete(source);
      return null;
    },
  });
  d.register('port-forward.set-enabled', {
    params: z.object({ source: z.string(), enabled: z.boolean() }),
    handler: ({ source, enabled }) => {
      const f = forwards.get(source);
      if (!f) throw new RpcError(6, `No forward "${source}"`, 'source');
      f.enabled = enabled;
      return f;
    },
  });
  d.register('status', {
    params: z.object({}),
    handler: (): StatusInfo => ({
      version: '0.1.0',
      interface: 'wg-start-tunnel',
      listenPort: 51820,
      publicKey: 'c2VydmVyLXB1YmxpYy1rZXktMDAwMDAwMDAwMDAwMDA=',
      wan: {
        address: '203.0.113.7',
        source: 'detected',
        override: null,
        detected: '203.0.113.7',
        interfaces: ['eth0'],
      },
      subnets: subnets.size,
      devices: devices.size,
      online: 0,
      forwards: forwards.size,
      startedAt: '2026-03-01T11:00:00.000Z',
      nat: { ok: true, error: null, drift: [] },
    }),
  });
  return { devices, forwards };
}

export interface Kit {
  web: WebServer;
  tunnel: StubTunnel;
  store: MemoryWebStore;
  clock: Clock;
  dispatcher: RpcDispatcher;
  logs: string[];
}

/** A web server with stub tunnel methods, not listening. */
export function kit(options: Partial<WebServerOptions> = {}): Kit {
  const store = new MemoryWebStore();
  const clock = new Clock();
  const dispatcher = new RpcDispatcher();
  const tunnel = stubTunnel(dispatcher);
  const logs: string[] = [];
  const web = createWebServer({
    dispatcher,
    store,
    now: clock.now,
    argon2: CHEAP_ARGON2,
    log: (l) => logs.push(l),
    interfaces: () => ({
      lo: [
        {
          address: '127.0.0.1',
          family: 'IPv4',
          internal: true,
          netmask: '255.0.0.0',
          mac: '00:00:00:00:00:00',
          cidr: '127.0.0.1/8',
        },
      ],
      eth0: [
        {
          address: '203.0.113.7',
          family: 'IPv4',
          internal: false,
          netmask: '255.255.255.0',
          mac: '02:00:00:00:00:01',
          cidr: '203.0.113.7/24',
        },
      ],
      'wg-start-tunnel': [
        {
          address: '10.59.7.1',
          family: 'IPv4',
          internal: false,
          netmask: '255.255.255.0',
          mac: '00:00:00:00:00:00',
          cidr: '10.59.7.1/24',
        },
      ],
    }),
    ...options,
  });
  return { web, tunnel, store, clock, dispatcher, logs };
}

/** Sets the password directly (cheap parameters). */
export async function setPassword(k: Kit, password = PASSWORD): Promise<void> {
  const hash = await hashPassword(password, CHEAP_ARGON2);
  await k.store.update((d) => {
    d.password = hash;
  });
}

export const ORIGIN = 'https://panel.test';
export const ENV = { remoteAddress: '198.51.100.20', localAddress: '203.0.113.7' };

export interface CallOptions {
  cookie?: string;
  headers?: Record<string, string>;
  env?: { remoteAddress?: string; localAddress?: string };
  /** Raw body instead of a JSON-RPC request built from method and params. */
  body?: string;
  path?: string;
}

/** POSTs one JSON-RPC request; returns the response and its parsed body. */
export async function call(
  k: Kit,
  method: string,
  params: unknown = {},
  o: CallOptions = {}
): Promise<{ res: Response; body: RpcBody; text: string }> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(o.cookie ? { cookie: o.cookie } : {}),
    ...o.headers,
  };
  const res = await k.web.app.request(
    `${ORIGIN}${o.path ?? '/rpc/v0'}`,
    {
      method: 'POST',
      headers,
      body: o.body ?? JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    },
    { ...ENV, ...o.env }
  );
  const text = await res.text();
  let body: RpcBody = {};
  try {
    body = JSON.parse(text) as RpcBody;
  } catch {
    // not JSON: tests look at text
  }
  return { res, body, text };
}

export interface RpcBody {
  result?: unknown;
  error?: { code: number; message: string; data?: { field?: string; details?: string } };
}

/** Logs in; returns the `session=…` cookie pair to send back. */
export async function login(
  k: Kit,
  password = PASSWORD,
  env?: CallOptions['env']
): Promise<string> {
  const { res, body } = await call(k, 'auth.login', { password }, env ? { env } : {});
  if (body.error) throw new Error(`login failed: ${body.error.message}`);
  const cookie = res.headers.get('set-cookie') ?? '';
  return cookie.split(';')[0] ?? '';
}

/** GETs a page with an optional cookie. */
export async function get(k: Kit, path: string, cookie?: string): Promise<Response> {
  return k.web.app.request(`${ORIGIN}${path}`, { headers: cookie ? { cookie } : {} }, ENV);
}
