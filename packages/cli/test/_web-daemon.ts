// SPDX-License-Identifier: MIT
// Test kit for the real server: `startServer` of @start-tunnel/server on the in-memory data
// plane (its local API on `<dir>/api.sock`, the HTTPS panel with cheap Argon2id and a fixed
// interface table), a free TCP port, a scripted terminal, and a raw HTTPS JSON-RPC call (for
// what the CLI does not do: log in). The one place the CLI's tests start a real server.

import { request } from 'node:https';
import { createServer } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import { type RunningServer, startServer } from '@start-tunnel/server';
import { systemEnv } from '@start-tunnel/tunnel';
import { MemoryDataplane } from '@start-tunnel/tunnel/testing';
import type { AskOptions, Terminal } from '../src/terminal.ts';

/** Argon2id cheap enough for tests (production keeps RFC 9106 low-memory). */
export const CHEAP_ARGON2 = { memoryKiB: 64, iterations: 1, parallelism: 1 };

export const WAN_IP = '203.0.113.7';

function iface(address: string, internal: boolean): NetworkInterfaceInfo {
  return {
    address,
    netmask: internal ? '255.0.0.0' : '255.255.255.0',
    family: 'IPv4',
    mac: '00:00:00:00:00:00',
    internal,
    cidr: `${address}/${internal ? 8 : 24}`,
  };
}

/** The interfaces the panel sees: loopback and two public addresses (not on this machine). */
export const INTERFACES = {
  lo: [iface('127.0.0.1', true)],
  eth0: [iface(WAN_IP, false)],
  eth1: [iface('198.51.100.9', false)],
};

/**
 * Starts the real server in `dir` on the memory data plane; results are checked against the
 * contract. The CLI reaches it with `START_TUNNEL_DATADIR=dir`.
 */
export function startTestServer(dir: string): Promise<RunningServer> {
  return startServer({
    dataDir: dir,
    interface: 'wg-cli-test',
    listenPort: 51820,
    dataplane: new MemoryDataplane(),
    env: systemEnv,
    addresses: () => [
      { name: 'lo', family: 'IPv4', address: '127.0.0.1', internal: true },
      { name: 'eth0', family: 'IPv4', address: WAN_IP, internal: false },
    ],
    log: () => {},
    checkResults: true,
    httpRedirectPort: null,
    gatewayPorts: null,
    web: { argon2: CHEAP_ARGON2, interfaces: () => INTERFACES },
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface ScriptedTerminal extends Terminal {
  /** Every question asked, with `(hidden)` appended for hidden ones. */
  asked: string[];
}

/** A terminal that answers from a script; `stdin` is what `readAll` gives. */
export function scriptedTerminal(
  answers: string[],
  options: { isTTY?: boolean; stdin?: string } = {}
): ScriptedTerminal {
  const queue = [...answers];
  const asked: string[] = [];
  return {
    isTTY: options.isTTY ?? true,
    asked,
    async ask(question: string, o: AskOptions = {}) {
      asked.push(`${question}${o.hidden ? '(hidden)' : ''}`);
      const next = queue.shift();
      if (next === undefined) throw new Error(`unexpected question: ${question}`);
      return next;
    },
    readAll: async () => options.stdin ?? '',
  };
}

/** POSTs one JSON-RPC call over HTTPS trusting `ca`; resolves with status, body and cookies. */
export function httpsRpc(
  url: string,
  ca: string,
  method: string,
  params: unknown,
  headers: Record<string, string> = {}
): Promise<{ status: number; body: Record<string, unknown>; cookies: string[] }> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/rpc/v0`,
      {
        method: 'POST',
        ca,
        agent: false,
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(text) as Record<string, unknown>,
            cookies: res.headers['set-cookie'] ?? [],
          })
        );
      }
    );
    req.on('error', reject);
    req.end(body);
  });
}
