// SPDX-License-Identifier: MIT
/**
 * Test kit: a dispatcher with the real tunnel methods (`@start-tunnel/tunnel`'s handlers and
 * controller over an in-memory state and data plane), a web server that is built but not
 * listening, a settable clock, cheap Argon2 parameters, and helpers to call `/rpc/v0` through
 * `app.request()` the way a browser or the CLI would. The first device added gets a planted
 * private key so tests can check it reaches only the config routes. Results are checked
 * against the contract.
 * @module
 */

import { RpcDispatcher } from '@start-tunnel/protocol';
import {
  type InterfaceAddress,
  initialState,
  newSubnet,
  publicKeyOf,
  registerGatewayMethods,
  registerTunnelMethods,
  Tunnel,
} from '@start-tunnel/tunnel';
import { MemoryDataplane, MemoryStateStore, testEnv } from '@start-tunnel/tunnel/testing';
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

/** A device private key planted in the first device: it must appear only in config routes. */
export const PLANTED_DEVICE_KEY = 'cGxhbnRlZC1kZXZpY2UtcHJpdmF0ZS1rZXktMDAwMDA=';
export const PASSWORD = 'correct horse battery';

export class Clock {
  ms = Date.parse('2026-03-01T12:00:00Z');
  now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

const WAN: InterfaceAddress[] = [
  { name: 'eth0', family: 'IPv4', address: '203.0.113.7', internal: false },
];

/** The real tunnel behind the kit, for tests that change what it reports (device status). */
export interface KitTunnel {
  tunnel: Tunnel;
  dataplane: MemoryDataplane;
  /** Lease ends of automatic entries by `leaseKey` (the server keeps them; tests set them). */
  leases: Map<string, string>;
}

/** Registers the real tunnel methods on an in-memory state with the subnet 10.59.7.1/24. */
export function realTunnel(d: RpcDispatcher, clock: Clock): KitTunnel {
  const env = testEnv(clock.ms);
  env.now = () => new Date(clock.ms);
  const state = { ...initialState(env) };
  state.subnets = {
    '10.59.7.1/24': newSubnet('Default Subnet'),
  };
  const keyPair = env.generateKeyPair;
  let planted = false;
  env.generateKeyPair = () => {
    if (planted) return keyPair();
    planted = true;
    const real = keyPair();
    return { ...real, privateKey: PLANTED_DEVICE_KEY, publicKey: publicFromPlanted() };
  };
  const dataplane = new MemoryDataplane();
  const leases = new Map<string, string>();
  const tunnel = new Tunnel({
    store: new MemoryStateStore(state),
    dataplane,
    env,
    addresses: () => WAN,
    interface: 'wg-start-tunnel',
    listenPort: 51820,
    log: () => {},
    // as if the host had an IPv6 default route: `subnet.set-ipv6` refuses a prefix without one
    ipv6DefaultRoute: () => true,
    leases: { expiresAt: (key) => leases.get(key) ?? null },
  });
  registerTunnelMethods(d, tunnel, '0.1.0');
  registerGatewayMethods(d, tunnel);
  return { tunnel, dataplane, leases };
}

function publicFromPlanted(): string {
  return publicKeyOf(PLANTED_DEVICE_KEY);
}

export interface Kit {
  web: WebServer;
  tunnel: KitTunnel;
  store: MemoryWebStore;
  clock: Clock;
  dispatcher: RpcDispatcher;
  logs: string[];
}

/** A web server with the real tunnel methods, not listening. */
export function kit(options: Partial<WebServerOptions> = {}): Kit {
  const store = new MemoryWebStore();
  const clock = new Clock();
  const dispatcher = new RpcDispatcher({ checkResults: true });
  const tunnel = realTunnel(dispatcher, clock);
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
