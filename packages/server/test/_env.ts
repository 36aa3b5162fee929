// SPDX-License-Identifier: MIT
// Test kit: a server on the in-memory data plane, reached through its real local Unix socket.
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InterfaceAddress } from '@start-tunnel/tunnel';
import { MemoryDataplane, testEnv } from '@start-tunnel/tunnel/testing';
import { type RunningServer, type ServerOptions, startServer } from '../src/index.ts';

export { testEnv };

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'st-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const WAN_ADDRS: InterfaceAddress[] = [
  { name: 'lo', family: 'IPv4', address: '127.0.0.1', internal: true },
  { name: 'eth0', family: 'IPv4', address: '10.0.0.5', internal: false },
  { name: 'eth0', family: 'IPv4', address: '203.0.113.7', internal: false },
];

/** Cheap Argon2 so tests do not spend seconds hashing. */
export const TEST_ARGON2 = { memoryKiB: 64, iterations: 1, parallelism: 1 };

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request over a Unix socket. */
export function socketRequest(
  socketPath: string,
  init: { method?: string; path?: string; headers?: Record<string, string>; body?: string }
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method: init.method ?? 'POST',
        path: init.path ?? '/rpc/v0',
        headers: { host: 'localhost', ...init.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          })
        );
        res.on('error', reject);
      }
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

export interface CallReply {
  result?: unknown;
  error?: { code: number; message: string; data?: { field?: string } };
}

export interface TestServer {
  server: RunningServer;
  dataplane: MemoryDataplane;
  env: ReturnType<typeof testEnv>;
  dir: string;
  call(method: string, params?: unknown): Promise<CallReply>;
  stop(): Promise<void>;
}

/** Calls a method on a server's local socket. */
export async function callSocket(
  socket: string,
  method: string,
  params?: unknown
): Promise<CallReply> {
  const r = await socketRequest(socket, {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return JSON.parse(r.body) as CallReply;
}

/** A server on the memory data plane; results are checked against the contract. */
export async function testServer(
  addrs: InterfaceAddress[] = WAN_ADDRS,
  extra: Partial<ServerOptions> = {}
): Promise<TestServer> {
  const { dir, cleanup } = tempDir();
  const dataplane = new MemoryDataplane();
  const env = testEnv();
  const server = await startServer({
    dataDir: dir,
    interface: 'wg-test',
    listenPort: 51820,
    dataplane,
    env,
    addresses: () => addrs,
    log: () => {},
    checkResults: true,
    web: { argon2: TEST_ARGON2 },
    httpRedirectPort: null, // the fake addresses are not the host's: nothing to bind
    gatewayPorts: null,
    ...extra,
  });
  return {
    server,
    dataplane,
    env,
    dir,
    call: (method, params) => callSocket(server.socket, method, params),
    async stop() {
      await server.stop();
      cleanup();
    },
  };
}
