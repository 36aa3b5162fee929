// SPDX-License-Identifier: MIT
/**
 * Benchmarks of the protocol core (no TUN, no sockets): AEAD per crypto backend, handshakes per
 * second, allowed-IPs lookups, and the in-memory data path (encrypt a batch on one device,
 * decrypt it on another), and the same data path with the crypto worker pool against inline.
 * Every backend is cross-checked for identical output before timing.
 * Run: `npm run bench`. Results go to bench/README.md by hand, with the machine and date.
 * @module
 */

import assert from 'node:assert/strict';
import {
  AllowedIPs,
  type Crypto,
  Device,
  nativeCrypto,
  nativeCryptoAvailable,
  nobleCrypto,
  nodeCrypto,
  PacketBatch,
  parsePrefix,
} from '@start-tunnel/wg-core';
import { bench, section } from './_harness.ts';
import { dataPath, onHandoff } from './data-path.ts';

/** Resolves the pool benchmarks' wait when a device hands a batch on (a crypto job finished). */
let wakeUp: (() => void) | null = null;
function wake(): void {
  const resolve = wakeUp;
  wakeUp = null;
  resolve?.();
}
const nextHandoff = () =>
  new Promise<void>((resolve) => {
    wakeUp = resolve;
  });
onHandoff(wake);
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

const backends: Crypto[] = nativeCryptoAvailable()
  ? [nativeCrypto, nodeCrypto, nobleCrypto]
  : [nodeCrypto, nobleCrypto];

section('AEAD seal (ChaCha20-Poly1305), one packet per call');
{
  const key = new Uint8Array(32).fill(7);
  const nonce = new Uint8Array(12);
  for (const size of [64, 1420]) {
    const pt = new Uint8Array(size).fill(1);
    const outs = backends.map((c) => {
      const out = new Uint8Array(size + 16);
      c.aeadSeal(out, key, nonce, pt, null);
      return Buffer.from(out).toString('hex');
    });
    assert.equal(new Set(outs).size, 1, 'backends disagree');
    for (const c of backends) {
      const out = new Uint8Array(size + 16);
      bench(`seal ${size} B (${c.name})`, () => c.aeadSeal(out, key, nonce, pt, null), 1, size);
    }
  }
}

section('Handshake: initiation + response + both sessions');
for (const c of backends) {
  const a = new Device({ crypto: c });
  const b = new Device({ crypto: c });
  a.setPrivateKey(c.generatePrivateKey().privateKey);
  b.setPrivateKey(c.generatePrivateKey().privateKey);
  const pb = a.addPeer(b.publicKey!)!;
  b.addPeer(a.publicKey!);
  const noise = await import('../../packages/wg-core/src/noise.ts');
  const init = new Uint8Array(148);
  const resp = new Uint8Array(92);
  let t = 0;
  bench(
    `handshake (${c.name})`,
    () => {
      // a fresh timestamp each round: the responder refuses replays
      (a.clock as { wallNow: () => number }).wallNow = () => 1_800_000_000_000 + ++t * 1000;
      noise.createMessageInitiation(a, pb, init);
      const p = noise.consumeMessageInitiation(b, init);
      if (!p) throw new Error('initiation refused');
      p.handshake.lastInitiationConsumed = Number.NEGATIVE_INFINITY;
      noise.createMessageResponse(b, p, resp);
      const q = noise.consumeMessageResponse(a, resp);
      if (!q) throw new Error('response refused');
      a.retire([noise.beginSymmetricSession(a, q)?.keypair ?? null]);
      b.retire([noise.beginSymmetricSession(b, p)?.keypair ?? null]);
    },
    1,
    0,
    c === nobleCrypto ? 1000 : 1500
  );
}

section('Allowed IPs: longest-prefix lookups, 1,000 peers × 4 prefixes');
{
  const table = new AllowedIPs<number>();
  for (let p = 0; p < 1000; p++) {
    for (const cidr of [32, 24, 16]) {
      table.insert(4, Uint8Array.of(10, (p >> 8) & 0xff, p & 0xff, 1), cidr, p);
    }
    table.insert(6, parsePrefix(`fd59::${p.toString(16)}:0/112`).ip, 112, p);
  }
  // addresses inside the table's space (10.x.y.z), so lookups walk deep into the trie
  const addrs = Uint8Array.from({ length: 4096 }, (_, i) =>
    i % 4 === 0 ? 10 : (i * 2654435761) & 0xff
  );
  let i = 0;
  bench('lookup IPv4', () => {
    table.lookup(4, addrs, i);
    i = (i + 4) & 4091;
  });
}

section('Data path in memory: batches of 128 × 1420 B, A encrypts, B decrypts');
for (const c of backends) {
  const { a, b, tunB, fill, batch } = await dataPath(c);
  bench(
    `encrypt + decrypt 1420 B (${c.name})`,
    () => {
      fill();
      a.sendPackets(batch);
    },
    128,
    1420,
    c === nobleCrypto ? 1000 : 2000
  );
  assert.ok(tunB.packets > 0, 'nothing arrived');
  await a.close();
  await b.close();
}

/**
 * Runs `step` (one batch of 128) for `ms`, or until `finished()`, whenever `room()` says the pools
 * can take it, else waits for a finished job; returns the packets per second `delivered()`
 * counted.
 */
async function pump(
  step: () => void,
  room: () => boolean,
  delivered: () => number,
  settle: () => Promise<void>,
  ms: number,
  finished: () => boolean = () => false
): Promise<number> {
  const start = performance.now();
  const from = delivered();
  let steps = 0;
  while (performance.now() - start < ms && !finished()) {
    if (!room()) {
      await nextHandoff();
      continue;
    }
    step();
    // inline, the event loop is not needed, but turns cost the same in every case
    if (++steps % 8 === 0) await nextTurn();
  }
  await settle();
  return ((delivered() - from) * 1000) / (performance.now() - start);
}

/** Packets per second and CPU time (all threads) per packet. */
interface Measure {
  rate: number;
  cpu: number;
}

async function measure(delivered: () => number, run: () => Promise<number>): Promise<Measure> {
  const cpu = process.cpuUsage();
  const from = delivered();
  const rate = await run();
  const used = process.cpuUsage(cpu);
  return { rate, cpu: (used.user + used.system) / Math.max(1, delivered() - from) };
}

type PoolCase = (workers: number, ms: number) => Promise<Measure>;

/** A encrypts and B decrypts, both with `workers`, in one process: two AEADs per packet. */
const bothWays: PoolCase = async (workers, ms) => {
  const { a, b, tunB, fill, batch } = await dataPath(nodeCrypto, workers, workers);
  // B needs a job for each of A's: send only while B could take every job A has in flight
  const room = () => !a.pool || (a.pool.freeJobs > 0 && b.pool!.freeJobs > a.pool.busyJobs);
  const settle = async () => {
    await a.flush();
    await b.flush();
  };
  const step = () => {
    fill();
    a.sendPackets(batch);
  };
  await pump(step, room, () => tunB.packets, settle, 300);
  const rate = await measure(
    () => tunB.packets,
    () => pump(step, room, () => tunB.packets, settle, ms)
  );
  assert.equal(a.drops.cryptoQueueFull + b.drops.cryptoQueueFull + b.drops.replayed, 0);
  await a.close();
  await b.close();
  return rate;
};

/** A encrypts with `workers`; the bind only counts. */
const encryptOnly: PoolCase = async (workers, ms) => {
  const { a, b, bindA, fill, batch } = await dataPath(nodeCrypto, workers, 0);
  bindA.other = () => null;
  const room = () => !a.pool || a.pool.freeJobs > 0;
  const step = () => {
    fill();
    a.sendPackets(batch);
  };
  await pump(
    step,
    room,
    () => bindA.packets,
    () => a.flush(),
    300
  );
  const rate = await measure(
    () => bindA.packets,
    () =>
      pump(
        step,
        room,
        () => bindA.packets,
        () => a.flush(),
        ms
      )
  );
  assert.equal(a.drops.cryptoQueueFull, 0);
  await a.close();
  await b.close();
  return rate;
};

/**
 * B decrypts with `workers` what A sealed beforehand: 64 batches replayed in a loop, restored
 * before each use (inline decryption works in place) and with B's replay window reset at
 * each pass.
 */
const decryptOnly: PoolCase = async (workers, ms) => {
  const { a, b, bindA, tunB, pa, fill, batch } = await dataPath(nodeCrypto, 0, workers);
  const corpus: {
    batch: PacketBatch;
    data: Uint8Array;
    offsets: Uint32Array;
    lengths: Uint32Array;
  }[] = [];
  bindA.other = () => null;
  bindA.tap = (sealed) => {
    const copy = new PacketBatch(128, 2048);
    for (let i = 0; i < sealed.count; i++) copy.push(sealed.packet(i), bindA.self);
    corpus.push({
      batch: copy,
      data: copy.data.slice(),
      offsets: copy.offsets.slice(),
      lengths: copy.lengths.slice(),
    });
  };
  for (let k = 0; k < 64; k++) {
    fill();
    a.sendPackets(batch);
  }
  bindA.tap = null;
  let next = 0;
  const room = () => !b.pool || b.pool.freeJobs > 0;
  const finished = () => next >= corpus.length;
  const step = () => {
    const c = corpus[next++]!;
    c.batch.data.set(c.data);
    c.batch.offsets.set(c.offsets);
    c.batch.lengths.set(c.lengths);
    b.receivePackets(c.batch);
  };
  const run = async (until: number) => {
    const start = performance.now();
    const from = tunB.packets;
    while (performance.now() < until) {
      const left = until - performance.now();
      await pump(
        step,
        room,
        () => tunB.packets,
        () => b.flush(),
        left,
        finished
      );
      if (!finished()) continue;
      await b.flush();
      pa.keypairs.current?.replay.reset();
      next = 0;
    }
    return ((tunB.packets - from) * 1000) / (performance.now() - start);
  };
  await run(performance.now() + 300);
  const rate = await measure(
    () => tunB.packets,
    () => run(performance.now() + ms)
  );
  assert.equal(b.drops.cryptoQueueFull + b.drops.replayed, 0);
  await a.close();
  await b.close();
  return rate;
};

section('Crypto pool vs inline, 1420 B: packets/s delivered, CPU µs/packet (median of 3 runs)');
{
  const cases: [string, PoolCase][] = [
    ['encrypt + decrypt (A and B each with the pool)', bothWays],
    ['encrypt only', encryptOnly],
    ['decrypt only', decryptOnly],
  ];
  for (const [name, run] of cases) {
    const sizes = [0, 1, 2];
    const runs: Measure[][] = sizes.map(() => []);
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < sizes.length; k++) runs[k]!.push(await run(sizes[k]!, 1500));
    }
    for (let k = 0; k < sizes.length; k++) {
      const rates = runs[k]!.map((m) => m.rate).sort((x, y) => x - y);
      const cpu = runs[k]!.map((m) => m.cpu).sort((x, y) => x - y)[1]!;
      const median = rates[1]!;
      const label = sizes[k] === 0 ? 'inline' : `${sizes[k]} worker${sizes[k] === 1 ? '' : 's'}`;
      const spread = rates.map((r) => `${(r / 1e3).toFixed(0)}k`).join('/');
      console.log(
        `${`${name}, ${label}`.padEnd(52)} ${`${(median / 1e3).toFixed(1)}k`.padStart(8)} pkt/s` +
          `  ${((median * 1420 * 8) / 1e6).toFixed(0)} Mbit/s  ${cpu.toFixed(1)} µs CPU/pkt` +
          `  (${spread})`
      );
    }
  }
}
