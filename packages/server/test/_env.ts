// SPDX-License-Identifier: MIT
// Test helpers: a deterministic model environment, a temp data dir, and a daemon on the
// in-memory data plane reached through its real local API.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  COOKIE_FILE,
  type InterfaceAddress,
  MemoryDataplane,
  type ModelEnv,
  type RunningDaemon,
  startDaemon,
} from '../src/index.ts';

/** Deterministic randomness (a counter) and a settable clock; keys are real X25519 keys. */
export function testEnv(start = Date.parse('2026-11-25T00:00:00Z')): ModelEnv & { t: number } {
  let seed = 1;
  const env = {
    t: start,
    now: () => new Date(env.t),
    randomBytes: (n: number) => {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = (seed++ * 37) & 255;
      return out;
    },
    generateKeyPair: () => {
      // deterministic: private key from the counter, public key derived for real
      const priv = Buffer.from(env.randomBytes(32));
      priv[0]! &= 248;
      priv[31] = (priv[31]! & 127) | 64;
      const privateKey = priv.toString('base64');
      return { privateKey, publicKey: derive(privateKey) };
    },
  };
  return env;
}

import { publicKeyOf as derive } from '../src/index.ts';

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'st-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const WAN_ADDRS: InterfaceAddress[] = [
  { name: 'lo', family: 'IPv4', address: '127.0.0.1', internal: true },
  { name: 'eth0', family: 'IPv4', address: '10.0.0.5', internal: false },
  { name: 'eth0', family: 'IPv4', address: '203.0.113.7', internal: false },
];

export interface TestDaemon {
  daemon: RunningDaemon;
  dataplane: MemoryDataplane;
  env: ReturnType<typeof testEnv>;
  dir: string;
  call(
    method: string,
    params?: unknown
  ): Promise<{
    result?: unknown;
    error?: { code: number; message: string; data?: { field?: string } };
  }>;
  stop(): Promise<void>;
}

/** A daemon on the memory data plane with its local API on 127.0.0.1 (random port). */
export async function testDaemon(addrs: InterfaceAddress[] = WAN_ADDRS): Promise<TestDaemon> {
  const { dir, cleanup } = tempDir();
  const dataplane = new MemoryDataplane();
  const env = testEnv();
  const daemon = await startDaemon({
    dataDir: dir,
    interface: 'wg-test',
    listenPort: 51820,
    apiListen: '127.0.0.1:0',
    dataplane,
    env,
    addresses: () => addrs,
    log: () => {},
  });
  const cookie = readFileSync(join(dir, COOKIE_FILE), 'utf8').trim();
  const url = `http://${daemon.api.address}/rpc/v0`;
  return {
    daemon,
    dataplane,
    env,
    dir,
    async call(method, params) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: `local=${cookie}` },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      });
      return (await res.json()) as never;
    },
    async stop() {
      await daemon.stop();
      cleanup();
    },
  };
}
