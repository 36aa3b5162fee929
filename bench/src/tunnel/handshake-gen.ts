// SPDX-License-Identifier: MIT
/**
 * The initiator side of the handshakes-per-second microbenchmark, run inside the client
 * namespace by `scale.ts`:
 *
 *   node --conditions=source --import tsx handshake-gen.ts KEYS HOST PORT SERVER_PUB SECONDS WINDOW
 *
 * KEYS is a file of hex private keys, one per line, each a configured peer of the responder.
 * Every initiation is built before the clock starts (one per key, so no peer initiates twice and
 * none trips wireguard-go's per-peer initiation rate limit, `device/receive.go`); then at most
 * WINDOW stay in flight: each response (type 2) or cookie reply (type 3) for one of our sender
 * indices lets the next one go; an initiation unanswered for a second is counted lost and
 * replaced. Prints one JSON line.
 * @module
 */

import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { nodeCrypto, parseKeyBase64, parseKeyHex } from '@start-tunnel/wg-core';
import { buildInitiation, responder } from './initiation.ts';

const [keysFile, host, port, serverPub, secondsArg, windowArg] = process.argv.slice(2);
const seconds = Number(secondsArg);
const window = Number(windowArg);
const keys = readFileSync(keysFile!, 'utf8').trim().split('\n');

const t0 = performance.now();
const r = responder(nodeCrypto, parseKeyBase64(serverPub!));
const now = Date.now();
const messages = keys.map((hex, i) =>
  buildInitiation(nodeCrypto, r, nodeCrypto.importPrivateKey(parseKeyHex(hex)), 0x10000 + i, now)
);
const precomputeMs = performance.now() - t0;

const sock = dgram.createSocket('udp4');
sock.on('error', () => {});
let nextMsg = 0;
let responses = 0;
let cookies = 0;
let lost = 0;
let other = 0;
const inFlight = new Map<number, number>();
let start = 0;
let deadline = 0;
let finished = false;

function send(): void {
  if (nextMsg >= messages.length || performance.now() >= deadline) return;
  const index = 0x10000 + nextMsg;
  inFlight.set(index, performance.now());
  sock.send(messages[nextMsg++]!, Number(port), host);
}

function done(): void {
  if (finished) return;
  finished = true;
  const elapsed = (performance.now() - start) / 1000;
  clearInterval(sweeper);
  sock.close();
  process.stdout.write(
    `${JSON.stringify({
      precomputeMs: Math.round(precomputeMs),
      sent: nextMsg,
      responses,
      cookies,
      lost,
      other,
      seconds: elapsed,
      perSecond: responses / elapsed,
    })}\n`
  );
}

sock.on('message', (m) => {
  const type = m[0];
  const receiver = m.length >= 12 ? m.readUInt32LE(type === 2 ? 8 : 4) : -1;
  if (!inFlight.delete(receiver)) {
    other++;
    return;
  }
  if (type === 2 && m.length === 92) responses++;
  else if (type === 3 && m.length === 64) cookies++;
  else other++;
  send();
  if (inFlight.size === 0) done();
});

let sweeper: NodeJS.Timeout;
sock.bind(0, () => {
  start = performance.now();
  deadline = start + seconds * 1000;
  sweeper = setInterval(() => {
    const t = performance.now();
    for (const [index, sentAt] of inFlight) {
      if (t - sentAt > 1000) {
        inFlight.delete(index);
        lost++;
        send();
      }
    }
    if (inFlight.size === 0 || t > deadline + 1500) done();
  }, 100);
  for (let i = 0; i < window; i++) send();
});
