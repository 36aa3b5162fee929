// SPDX-License-Identifier: MIT
/**
 * Scale microbenchmarks of a server daemon in the tunnel lab, with the modern wireguard-go as
 * its one real client:
 * - 10,000 peers (fresh X25519 keys, one /32 each from 10.59.64.0/18) set over the UAPI socket
 *   in one `set=1` request (the cross-platform UAPI of wireguard.com/xplatform, as wireguard-go
 *   `ipc/uapi_unix.go` serves it): time to `errno=0`, RSS before and after, time of one `get=1`;
 * - peers added one request at a time every 250 ms while the client pings every 10 ms and sends
 *   UDP at a steady rate through the tunnel: lost pings and UDP loss of that client;
 * - handshakes per second: initiations from the 10,000 configured peers (`handshake-gen.ts`
 *   in the client namespace), a bounded number in flight, responses counted.
 * @module
 */

import { once } from 'node:events';
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type DhPrivateKey, keyToHex, nodeCrypto } from '@start-tunnel/wg-core';
import { sleep } from '../../../test/_lab.ts';
import { ADDR, type Daemon, type Impl, LISTEN_PORT, rssBytes, type Topology } from './lab.ts';
import { iperfServer, pingTimes, udpTrial } from './measure.ts';

export const SCALE_PEERS = 10_000;

export interface ScaleResult {
  impl: Impl;
  peers: number;
  setMs: number;
  getMs: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssAfterHandshakesBytes: number;
  addUnderLoad: {
    peersAdded: number;
    maxAddMs: number;
    pingsSent: number;
    pingsLost: number;
    udpMbps: number;
    udpLossPercent: number;
  };
  handshakes: {
    perSecond: number;
    responses: number;
    cookies: number;
    lost: number;
    sent: number;
    seconds: number;
  };
}

/** One UAPI exchange: writes `request`, resolves with the answer up to its blank line. */
export async function uapi(sock: string, request: string, timeoutMs = 60_000): Promise<string> {
  const conn = createConnection(sock);
  conn.setEncoding('utf8');
  let answer = '';
  const timer = setTimeout(() => conn.destroy(new Error(`UAPI ${sock} timed out`)), timeoutMs);
  try {
    await once(conn, 'connect');
    conn.write(request);
    for await (const chunk of conn) {
      answer += chunk as string;
      if (answer.includes('\n\n')) break;
    }
  } finally {
    clearTimeout(timer);
    conn.destroy();
  }
  return answer;
}

function ok(answer: string, what: string): void {
  if (!/(^|\n)errno=0\n\n$/.test(answer)) throw new Error(`${what}: ${answer.slice(-200)}`);
}

/** `n` key pairs from random scalars (see `initiation.ts` for why not generatePrivateKey). */
export function peerKeys(n: number): DhPrivateKey[] {
  return Array.from({ length: n }, () => randomKey());
}

function randomKey(): DhPrivateKey {
  const raw = new Uint8Array(32);
  nodeCrypto.randomBytes(raw);
  return nodeCrypto.importPrivateKey(raw);
}

function peerAddress(i: number): string {
  return `10.59.${64 + (i >> 8)}.${i & 255}/32`;
}

function step(impl: Impl, what: string): void {
  console.log(`  scale ${impl}: ${what}`);
}

const GEN = fileURLToPath(new URL('./handshake-gen.ts', import.meta.url));

/** Runs the scale microbenchmarks against a server of `impl` (its client: modern wireguard-go). */
export async function scale(
  topo: Topology,
  impl: Impl,
  keys: readonly DhPrivateKey[],
  seconds: number
): Promise<ScaleResult> {
  const { server, client } = await topo.pair(impl, 'go');
  const iperf = await iperfServer(topo);
  try {
    await sleep(500);
    const rssBeforeBytes = rssBytes(server.pid);
    let body = 'set=1\n';
    keys.forEach((k, i) => {
      body += `public_key=${keyToHex(k.publicKey)}\nallowed_ip=${peerAddress(i)}\n`;
    });
    let t = performance.now();
    ok(await uapi(server.sock, `${body}\n`), `${impl}: set of ${keys.length} peers`);
    const setMs = performance.now() - t;
    step(impl, `set ${keys.length} peers in ${setMs.toFixed(0)} ms`);
    await sleep(500);
    const rssAfterBytes = rssBytes(server.pid);
    t = performance.now();
    const dump = await uapi(server.sock, 'get=1\n\n');
    const getMs = performance.now() - t;
    ok(dump, `${impl}: get`);
    const listed = dump.split('\npublic_key=').length - 1;
    if (listed !== keys.length + 1) throw new Error(`${impl}: get listed ${listed} peers`);

    const addUnderLoad = await addPeersUnderLoad(topo, server, seconds);
    step(impl, `added ${addUnderLoad.peersAdded} peers under load`);
    const handshakes = await handshakeRate(topo, server, keys, seconds);
    await sleep(300);
    const rssAfterHandshakesBytes = rssBytes(server.pid);
    return {
      impl,
      peers: keys.length,
      setMs,
      getMs,
      rssBeforeBytes,
      rssAfterBytes,
      rssAfterHandshakesBytes,
      addUnderLoad,
      handshakes,
    };
  } finally {
    await iperf.stop(1000);
    topo.lab.procs.delete(iperf);
    await topo.stop(client);
    await topo.stop(server);
  }
}

/** The UDP rate of the steady flow beside the pings while peers are added, Mbit/s. */
const STEADY_UDP_MBPS = 100;

async function addPeersUnderLoad(topo: Topology, server: Daemon, seconds: number) {
  const window = Math.max(3, seconds);
  const pingCount = Math.floor(window / 0.01);
  let added = 0;
  let maxAddMs = 0;
  const adder = (async () => {
    await sleep(1000);
    const end = Date.now() + (window - 2) * 1000;
    for (let i = 0; i < 200 && Date.now() < end; i++) {
      const k = randomKey();
      const t = performance.now();
      const answer = await uapi(
        server.sock,
        `set=1\npublic_key=${keyToHex(k.publicKey)}\nallowed_ip=10.59.${128 + (i >> 8)}.${i & 255}/32\n\n`
      );
      ok(answer, 'add one peer');
      maxAddMs = Math.max(maxAddMs, performance.now() - t);
      added++;
      await sleep(250);
    }
  })();
  const [ping, udp] = await Promise.all([
    pingTimes(topo, topo.client, ADDR.server, pingCount, 0.01),
    udpTrial(topo, STEADY_UDP_MBPS, window + 1),
    adder,
  ]);
  return {
    peersAdded: added,
    maxAddMs,
    pingsSent: ping.sent,
    pingsLost: ping.sent - ping.received,
    udpMbps: udp.received,
    udpLossPercent: udp.lossPercent,
  };
}

async function handshakeRate(
  topo: Topology,
  server: Daemon,
  keys: readonly DhPrivateKey[],
  seconds: number
) {
  const pub = (await topo.lab.wg(server.ns, 'show', server.ifname, 'public-key')).trim();
  const file = topo.lab.file('keys', `${keys.map((k) => keyToHex(k.privateKey)).join('\n')}\n`);
  const out = await topo.lab.checkIn(
    topo.client,
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      GEN,
      file,
      ADDR.serverOuter,
      String(LISTEN_PORT),
      pub,
      String(seconds),
      '64',
    ],
    { timeoutMs: (seconds + 60) * 1000 }
  );
  const r = JSON.parse(out.trim().split('\n').pop()!) as {
    perSecond: number;
    responses: number;
    cookies: number;
    lost: number;
    sent: number;
    seconds: number;
  };
  return r;
}
