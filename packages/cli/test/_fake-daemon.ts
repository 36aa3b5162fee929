// SPDX-License-Identifier: MIT
// Test kit: a fake daemon (the real RpcDispatcher of @start-tunnel/protocol with the contract's
// schemas, stub handlers that record every call and answer canned results) serving JSON-RPC on
// `api.sock` in a temp data directory, as the server does, and an in-process runner for the CLI.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  API_SOCKET,
  dnsMethods,
  type Handler,
  type MethodName,
  type Result,
  RpcDispatcher,
  tunnelMethods,
} from '@start-tunnel/protocol';
import { type CliIo, run } from '../src/index.ts';

export const KEY_A = 'hF6k2ZcP0n0sN1mWZ8oVn2uT1lS6a9rY5dJ3bX7cE0Q=';
export const KEY_B = 'Vb0x9H2m1c8gZ3q4w5e6r7t8y9u0i1o2p3a4s5d6f7g=';
export const SERVER_KEY = 'sRv3rK3yAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

export const CONFIG_TEXT = [
  '# StartTunnel config for phone',
  '',
  '[Interface]',
  'Address = 10.59.7.2/24',
  `PrivateKey = ${KEY_B}`,
  '',
  '[Peer]',
  `PublicKey = ${SERVER_KEY}`,
  `PresharedKey = ${KEY_A}`,
  'AllowedIPs = 10.59.7.0/24',
  'Endpoint = 203.0.113.5:51820',
  'PersistentKeepalive = 25',
  '',
].join('\n');

/** The methods of the tunnel the fake answers: the tunnel's and the gateway's DNS. */
const fakeMethods = { ...tunnelMethods, ...dnsMethods };
export type TunnelMethodName = keyof typeof fakeMethods;

/** A canned result for every tunnel method (a daemon with one subnet, two devices). */
export function cannedResults(): { [M in TunnelMethodName]: Result<M> } {
  const wan = {
    address: '203.0.113.5',
    source: 'detected' as const,
    override: null,
    detected: '203.0.113.5',
    interfaces: ['eth0'],
  };
  const noV6 = {
    wanIp: null,
    ipv6: null,
    gatewayIpv6: null,
    dns: { mode: 'default' as const, deviceIp: null, servers: [] },
  };
  const home = {
    ...noV6,
    subnet: '10.59.7.1/24',
    name: 'Home',
    network: '10.59.7.0/24',
    devices: 0,
  };
  const added = {
    subnet: '10.59.7.1/24',
    name: 'phone',
    ip: '10.59.7.2',
    publicKey: KEY_A,
    ownKey: false,
    kind: 'client' as const,
    ipv6: null,
    allowDnsInjection: false,
    allowAutoPortForward: false,
  };
  const pinhole = {
    gua: '2001:db8:7::a3b:702',
    externalPort: 443,
    internalPort: 443,
    count: 1,
    label: 'web',
    enabled: true,
    subnet: '10.59.7.1/24',
    ip: '10.59.7.2',
    name: 'phone',
    auto: false,
  };
  const manual = {
    kind: 'dnat' as const,
    hostname: null,
    auto: false,
    expiresAt: null,
    proxyProtocol: false,
  };
  return {
    'subnet.list': [
      { ...home, devices: 2 },
      { ...noV6, subnet: '10.59.9.1/24', name: 'Lab', network: '10.59.9.0/24', devices: 0 },
    ],
    'subnet.add': home,
    'subnet.remove': null,
    'subnet.set-wan': { ...home, wanIp: '198.51.100.7' },
    'subnet.set-ipv6': {
      ...home,
      ipv6: '2001:db8:7::/64',
      gatewayIpv6: '2001:db8:7::a3b:701',
      warnings: [],
    },
    'device.list': [
      {
        subnet: '10.59.7.1/24',
        name: 'phone',
        ip: '10.59.7.2',
        publicKey: KEY_A,
        ownKey: false,
        kind: 'client',
        wanIp: null,
        effectiveWanIp: '203.0.113.5',
        ipv6: null,
        allowDnsInjection: false,
        allowAutoPortForward: false,
        endpoint: '198.51.100.20:41234',
        lastHandshake: '2026-11-25T11:59:18.000Z',
        rxBytes: 1536,
        txBytes: 3 * 1024 * 1024,
        online: true,
      },
      {
        subnet: '10.59.7.1/24',
        name: 'nas',
        ip: '10.59.7.10',
        publicKey: KEY_B,
        ownKey: true,
        kind: 'server',
        wanIp: '198.51.100.7',
        effectiveWanIp: '198.51.100.7',
        ipv6: null,
        allowDnsInjection: true,
        allowAutoPortForward: true,
        endpoint: null,
        lastHandshake: null,
        rxBytes: 0,
        txBytes: 0,
        online: false,
      },
    ],
    'device.add': added,
    'device.set-kind': {
      ...added,
      kind: 'server',
      allowDnsInjection: true,
      allowAutoPortForward: true,
    },
    'device.set-wan': added,
    'device.remove': null,
    'device.show-config': {
      subnet: '10.59.7.1/24',
      name: 'phone',
      ip: '10.59.7.2',
      config: CONFIG_TEXT,
      ownKey: false,
      filename: 'start-tunnel.conf',
    },
    'port-forward.list': [
      {
        source: '203.0.113.5:443',
        target: '10.59.7.2:443',
        externalIp: '203.0.113.5',
        ...manual,
        protocol: 'both',
        label: 'web',
        enabled: true,
        packets: 12,
        bytes: 2048,
      },
      {
        source: '203.0.113.5:27015-27030',
        target: '10.59.7.10:27015',
        externalIp: '203.0.113.5',
        ...manual,
        protocol: 'udp',
        label: null,
        enabled: false,
        packets: 0,
        bytes: 0,
      },
    ],
    'port-forward.add': {
      source: '203.0.113.5:8080',
      target: '10.59.7.2:80',
      externalIp: '203.0.113.5',
      ...manual,
      protocol: 'tcp',
      label: 'web',
      enabled: true,
      packets: 0,
      bytes: 0,
    },
    'port-forward.remove': null,
    'port-forward.set-enabled': {
      source: '203.0.113.5:8080',
      target: '10.59.7.2:80',
      externalIp: '203.0.113.5',
      ...manual,
      protocol: 'both',
      label: null,
      enabled: false,
      packets: 0,
      bytes: 0,
    },
    'port-forward.update-label': {
      source: '203.0.113.5:8080',
      target: '10.59.7.2:80',
      externalIp: '203.0.113.5',
      ...manual,
      protocol: 'both',
      label: 'web server',
      enabled: true,
      packets: 0,
      bytes: 0,
    },
    'pinhole.list': [pinhole, { ...pinhole, externalPort: 8443, internalPort: 443, label: null }],
    'pinhole.add': pinhole,
    'pinhole.remove': null,
    'pinhole.set-enabled': { ...pinhole, enabled: false },
    'pinhole.update-label': { ...pinhole, label: 'web server' },
    'http-redirect.list': [
      { ip: '203.0.113.5', enabled: true, forwarded: false },
      { ip: '198.51.100.7', enabled: false, forwarded: true },
    ],
    'http-redirect.set-enabled': { ip: '203.0.113.5', enabled: false, forwarded: false },
    'subnet.set-dns': {
      subnet: '10.59.7.1/24',
      mode: 'custom',
      deviceIp: null,
      servers: ['9.9.9.9:53', '[2620:fe::fe]:53'],
    },
    'device.set-dns-injection': { ip: '10.59.7.10', allowDnsInjection: true },
    'device.set-auto-port-forward': { ip: '10.59.7.10', allowAutoPortForward: false },
    'device.dns-key': {
      keyName: 'startos-dns-update.',
      algorithm: 'hmac-sha256',
      secret: KEY_A,
      server: '10.59.7.1',
    },
    'dns.list': [
      { name: 'nas.home.arpa', type: 'A', value: '10.59.7.10', ttl: 300, source: null },
      {
        name: 'start9.local',
        type: 'AAAA',
        value: '2001:db8:7::a3b:70a',
        ttl: 60,
        source: '10.59.7.10',
      },
    ],
    'dns.add': { name: 'nas.home.arpa', type: 'A', value: '10.59.7.10', ttl: 300, source: null },
    'dns.remove': { removed: 1 },
    'wan.show': wan,
    'wan.set': { ...wan, address: '198.51.100.7', source: 'override', override: '198.51.100.7' },
    'wan.auto': wan,
    status: {
      version: '0.1.0',
      interface: 'wg-start-tunnel',
      listenPort: 51820,
      publicKey: SERVER_KEY,
      wan,
      subnets: 2,
      devices: 2,
      online: 1,
      forwards: 2,
      startedAt: '2026-11-25T09:55:00.000Z',
      nat: { ok: true, error: null, drift: [] },
    },
  };
}

/** The fixed "now" of the in-process runs: 42 s after phone's last handshake. */
export const NOW = Date.parse('2026-11-25T12:00:00.000Z');

export interface Call {
  method: string;
  params: unknown;
}

type Stub = (params: unknown) => unknown;

export interface FakeDaemon {
  dir: string;
  /** The local API socket (`<dir>/api.sock`). */
  socket: string;
  /** The dispatcher, for tests that register more methods (the panel's). */
  dispatcher: RpcDispatcher;
  calls: Call[];
  /** Replace a method's handler (e.g. to throw an RpcError). */
  handle(method: MethodName, handler: Stub): void;
  /** Environment that points the CLI at this daemon. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'st-cli-'));
}

/** Serves a dispatcher's JSON-RPC on a Unix socket, as the server's local API does (root: `local`). */
export async function serveSocket(path: string, dispatcher: RpcDispatcher): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.statusCode = 400;
        res.end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}');
        return;
      }
      const answer = await dispatcher.handle(body, { auth: 'local' });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  chmodSync(path, 0o600);
  return server;
}

/** Starts a fake daemon on `api.sock` in a fresh data directory (0700, as the server keeps it). */
export async function fakeDaemon(): Promise<FakeDaemon> {
  const dir = tempDir();
  const socket = join(dir, API_SOCKET);
  const results = cannedResults();
  const overrides = new Map<string, Stub>();
  const calls: Call[] = [];
  const dispatcher = new RpcDispatcher({ checkResults: true });
  for (const name of Object.keys(fakeMethods) as TunnelMethodName[]) {
    const handler = (params: unknown) => {
      calls.push({ method: name, params });
      const override = overrides.get(name);
      return override ? override(params) : results[name];
    };
    dispatcher.register(name, handler as Handler<typeof name>);
  }
  const server = await serveSocket(socket, dispatcher);
  return {
    dir,
    socket,
    dispatcher,
    calls,
    handle: (method, handler) => overrides.set(method, handler),
    env: { START_TUNNEL_DATADIR: dir },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with captured output. */
export async function cli(
  argv: string[],
  env: Record<string, string | undefined> = {},
  extra: Partial<CliIo> = {}
): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env,
    now: () => NOW,
    ...extra,
  });
  return { code, stdout, stderr };
}

/** One line on stderr, nothing on stdout. */
export function isOneLineError(o: Outcome): boolean {
  return o.stdout === '' && /^start-tunnel: [^\n]+\n$/.test(o.stderr);
}
