// SPDX-License-Identifier: MIT
/**
 * The crypto worker pool (wireguard-go `device/channels.go` with the encryption and decryption
 * workers of `send.go`/`receive.go`; kernel `queueing.c`): only the ChaCha20-Poly1305 seal and
 * open of transport data leave the main thread. Routing, nonces, padding, headers, the replay
 * window, key confirmation, roaming, allowed-IPs checks, timers and counters stay on it.
 *
 * The unit of work is a job: one SharedArrayBuffer holding a packet arena of up to 128 packets
 * (a `PacketBatch`), the 32-byte keys they use (one per keypair in the job) and a status byte
 * per packet. The send and receive paths copy packets into the job being filled (the TUN's and
 * the bind's batches are reused once their callbacks return); a job goes to a worker as one
 * message when it is full or at the end of the current event-loop task, never per packet.
 * Jobs complete out of order but are applied in submission order from one device-wide FIFO,
 * as wireguard-go's sequential sender and receiver wait on each locked container in turn: every
 * peer's packets leave and arrive in the order they came.
 *
 * Memory is bounded by JOBS_PER_WORKER jobs per worker. When every job is in flight, new packets
 * are dropped and counted (`cryptoQueueFull`), as the kernel drops when its crypt queue is full:
 * sealing them inline instead would send them ahead of the same peer's batches in flight. A
 * worker that crashes fails its jobs (counted in `cryptoFailed`) and is restarted, at most
 * MAX_RESTARTS times over the pool's life; after that the pool disables itself with an error
 * log and the device runs inline.
 * @module
 */

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type AeadOp, OP_SEAL, STATUS_ERROR } from './aead-batch.ts';
import { IDEAL_BATCH_SIZE, PacketBatch } from './batch.ts';
import { KEY_SIZE } from './crypto.ts';
import type { Keypair } from './keypair.ts';
import type { Logger } from './logger.ts';
import type { Peer } from './peer.ts';

/** Seal (send) or open (receive) every packet of a job. */
export type CryptoOp = AeadOp;
export {
  OP_OPEN,
  OP_SEAL,
  STATUS_AUTH_FAILED,
  STATUS_ERROR,
  STATUS_OK,
} from './aead-batch.ts';

/** Header word 2: the worker must throw on this job (test hook for crash handling). */
export const JOB_FLAG_CRASH = 1;
/** Header word 2: the worker must wait 20 ms before this job (test hook for ordering). */
export const JOB_FLAG_SLOW = 2;

/** Packets per job: wireguard-go's batch size. */
export const JOB_CAPACITY = IDEAL_BATCH_SIZE;
/** The arena: room for 128 slots of 2048 bytes; packets are packed, so a large one just uses more. */
const JOB_ARENA_BYTES = JOB_CAPACITY * 2048;
/**
 * Jobs per worker (≈ 266 KiB each; at most 1,024 packets in flight per worker, the size of the
 * kernel's crypt queue). With 4, two workers on 2 vCPUs often stalled, each waiting behind the
 * other's job at the FIFO head (seal-only 60–105k or 220k pkt/s, run to run); with 8, 200–243k.
 */
export const JOBS_PER_WORKER = 8;
/** Worker restarts before the pool gives up and the device runs inline. */
export const MAX_RESTARTS = 3;
/** Upper bound on the pool size accepted from configuration. */
export const MAX_CRYPTO_WORKERS = 64;

const HEADER_BYTES = 16;
const BATCH_BYTES = PacketBatch.byteLength(JOB_CAPACITY, JOB_ARENA_BYTES / JOB_CAPACITY);
const KEYS_AT = HEADER_BYTES + BATCH_BYTES;
const KEY_OF_AT = KEYS_AT + JOB_CAPACITY * KEY_SIZE;
const STATUS_AT = KEY_OF_AT + 4 * JOB_CAPACITY;
const JOB_BYTES = STATUS_AT + JOB_CAPACITY;

/**
 * The pool size when none is configured: inline (0) on 2 cores or fewer, else `cores - 1` (the
 * main thread keeps a core for the protocol and the I/O), at most 4. bench/README.md
 * (2026-11-25, 2 vCPUs): in memory the pool beats inline even there (encrypt only 133k → 146k
 * pkt/s with 1 worker, 243k with 2), but by taking the second core, which end to end on a 2-core
 * box belongs to the kernel's network stack and the peer, and through the UDP bind 1 worker cost
 * 11 µs of CPU per packet against 8.2 inline. At most 4: OpenSSL 3.0 locks per call, so seals
 * scale sub-linearly across threads of one process (2 workers 215–252k/s, 2 processes 390k/s),
 * and the main thread's own per-packet work caps the rate that more workers could serve.
 */
export function defaultCryptoWorkers(cores: number = availableParallelism()): number {
  return cores > 2 ? Math.min(cores - 1, 4) : 0;
}

function align16(n: number): number {
  return (n + 15) & ~15;
}

/** The views of one job's shared memory, the same on the main thread and in a worker. */
export class JobMemory {
  static readonly byteLength = JOB_BYTES;
  readonly buffer: SharedArrayBuffer;
  /** [op, count, flags, 0]. */
  readonly header: Int32Array;
  /** The arena: packet i at `offsets[i]`, `lengths[i]` bytes (the whole transport message). */
  readonly batch: PacketBatch;
  /** Key k at `k * 32`. */
  readonly keys: Uint8Array;
  /** The key slot of packet i. */
  readonly keyOf: Uint32Array;
  /** The worker's STATUS_* for packet i. */
  readonly status: Uint8Array;

  constructor(buffer: SharedArrayBuffer) {
    if (buffer.byteLength < JOB_BYTES) {
      throw new RangeError(`Cannot map job: ${buffer.byteLength} bytes, expected ${JOB_BYTES}`);
    }
    this.buffer = buffer;
    this.header = new Int32Array(buffer, 0, 4);
    this.batch = new PacketBatch(JOB_CAPACITY, JOB_ARENA_BYTES / JOB_CAPACITY, buffer, 16);
    this.keys = new Uint8Array(buffer, KEYS_AT, JOB_CAPACITY * KEY_SIZE);
    this.keyOf = new Uint32Array(buffer, KEY_OF_AT, JOB_CAPACITY);
    this.status = new Uint8Array(buffer, STATUS_AT, JOB_CAPACITY);
  }
}

const FREE = 0;
const FILLING = 1;
const QUEUED = 2;
const DONE = 3;

/** A job as the main thread sees it: the shared memory plus who each packet belongs to. */
export class CryptoJob extends JobMemory {
  readonly id: number;
  /** The peer of packet i (sender on receive, destination on send). */
  readonly peers: (Peer | null)[] = new Array<Peer | null>(JOB_CAPACITY).fill(null);
  /** The keypair of packet i. */
  readonly keypairs: (Keypair | null)[] = new Array<Keypair | null>(JOB_CAPACITY).fill(null);
  readonly #keyOwners: (Keypair | null)[] = new Array<Keypair | null>(JOB_CAPACITY).fill(null);
  op: CryptoOp = OP_SEAL;
  /** @internal FREE, FILLING, QUEUED or DONE */
  state = FREE;
  /** @internal index of the worker running it */
  worker = -1;
  #keyCount = 0;
  #cursor = 0;

  constructor(id: number) {
    super(new SharedArrayBuffer(JOB_BYTES));
    this.id = id;
  }

  /** Whether a packet of `bytes` bytes still fits. */
  fits(bytes: number): boolean {
    return this.batch.count < JOB_CAPACITY && this.#cursor + align16(bytes) <= JOB_ARENA_BYTES;
  }

  /**
   * Appends a slot of `bytes` bytes (call `fits` first) for a packet of `peer` under `keypair`
   * (its send key for a seal job, its receive key for an open job); returns the slot index. The
   * caller writes the packet at `batch.offsets[i]`.
   */
  add(bytes: number, peer: Peer, keypair: Keypair): number {
    const batch = this.batch;
    const i = batch.count++;
    batch.offsets[i] = this.#cursor;
    batch.lengths[i] = bytes;
    this.#cursor += align16(bytes);
    this.peers[i] = peer;
    this.keypairs[i] = keypair;
    this.keyOf[i] = this.#keyIndex(keypair);
    return i;
  }

  /** The key slot of `keypair`, copying its key in when new (consecutive packets share one). */
  #keyIndex(keypair: Keypair): number {
    const owners = this.#keyOwners;
    for (let k = this.#keyCount - 1; k >= 0 && k >= this.#keyCount - 8; k--) {
      if (owners[k] === keypair) return k;
    }
    const k = this.#keyCount++;
    owners[k] = keypair;
    this.keys.set(this.op === OP_SEAL ? keypair.sendKey : keypair.receiveKey, k * KEY_SIZE);
    return k;
  }

  /** Marks every packet failed (the worker crashed or the pool is gone). */
  fail(): void {
    this.status.fill(STATUS_ERROR, 0, this.batch.count);
  }

  /** Forgets the packets and wipes the keys. */
  reset(): void {
    const n = this.batch.count;
    this.keys.fill(0, 0, this.#keyCount * KEY_SIZE);
    this.#keyOwners.fill(null, 0, this.#keyCount);
    this.peers.fill(null, 0, n);
    this.keypairs.fill(null, 0, n);
    this.batch.endpoints.fill(null, 0, n);
    this.batch.count = 0;
    this.#keyCount = 0;
    this.#cursor = 0;
    this.state = FREE;
    this.worker = -1;
  }
}

export interface CryptoPoolOptions {
  /** Worker threads, 1..MAX_CRYPTO_WORKERS. */
  workers: number;
  /** Jobs per worker (memory bound: ≈ 266 KiB each); JOBS_PER_WORKER by default. */
  jobsPerWorker?: number;
  logger: Logger;
  /** Applies a finished job on the main thread, in submission order. Must not throw. */
  complete: (job: CryptoJob) => void;
}

interface WorkerSlot {
  readonly thread: Worker;
  readonly index: number;
  outstanding: number;
  dead: boolean;
}

const SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(SOURCE ? './crypto-worker.ts' : './crypto-worker.js', import.meta.url);

/** Starts one worker over the jobs' memory, from dist/ or, under tsx, from the source. */
function startWorker(buffers: SharedArrayBuffer[]): Worker {
  const workerData = { buffers };
  if (!SOURCE) return new Worker(WORKER_URL, { workerData });
  // Under tsx (tests, `npm run bench`) a worker inherits `--import tsx` in its execArgv but
  // Node 20 does not apply the hooks there: the worker registers tsx itself first.
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const entry = JSON.stringify(WORKER_URL.href);
  const code = `import(${tsx}).then((m) => { m.register(); return import(${entry}); });`;
  return new Worker(code, { eval: true, workerData });
}

export class CryptoPool {
  readonly size: number;
  readonly jobs: readonly CryptoJob[];
  readonly #free: CryptoJob[];
  /** Submitted jobs, oldest first: a ring over `jobs.length` entries. */
  readonly #fifo: (CryptoJob | null)[];
  #head = 0;
  #length = 0;
  #sealing: CryptoJob | null = null;
  #opening: CryptoJob | null = null;
  #scheduled = false;
  readonly #workers: WorkerSlot[] = [];
  readonly #buffers: SharedArrayBuffer[];
  readonly #logger: Logger;
  readonly #complete: (job: CryptoJob) => void;
  #active = true;
  #closed = false;
  #draining = false;
  #restarts = 0;
  #waiters: (() => void)[] = [];
  /**
   * Jobs and packets handed to workers, and jobs that finished while an earlier one was still
   * running (they waited in the FIFO: completion out of order, delivery in order).
   */
  readonly stats = { jobs: 0, packets: 0, outOfOrder: 0 };
  /** @internal test hook: the next job submitted makes its worker throw */
  crashNextJob = false;
  /** @internal test hook: jobs of at least this many packets make their worker wait first */
  slowJobsFrom = Number.POSITIVE_INFINITY;

  /** Starts the workers; throws when a worker cannot be created. */
  constructor(options: CryptoPoolOptions) {
    const { workers } = options;
    if (!Number.isInteger(workers) || workers < 1 || workers > MAX_CRYPTO_WORKERS) {
      throw new RangeError(
        `Cannot start crypto pool: workers ${workers} is not an integer in 1..${MAX_CRYPTO_WORKERS}`
      );
    }
    const perWorker = options.jobsPerWorker ?? JOBS_PER_WORKER;
    if (!Number.isInteger(perWorker) || perWorker < 1 || perWorker > 64) {
      throw new RangeError(
        `Cannot start crypto pool: jobsPerWorker ${perWorker} is not an integer in 1..64`
      );
    }
    this.size = workers;
    this.#logger = options.logger;
    this.#complete = options.complete;
    const jobs: CryptoJob[] = [];
    for (let i = 0; i < workers * perWorker; i++) jobs.push(new CryptoJob(i));
    this.jobs = jobs;
    this.#free = jobs.slice().reverse();
    this.#fifo = new Array<CryptoJob | null>(jobs.length).fill(null);
    this.#buffers = jobs.map((j) => j.buffer);
    try {
      for (let w = 0; w < workers; w++) this.#workers.push(this.#start(w));
    } catch (err) {
      for (const slot of this.#workers) void slot.thread.terminate();
      throw err;
    }
  }

  /** False once the pool was closed or disabled itself: the device then runs inline. */
  get active(): boolean {
    return this.#active;
  }

  /** Jobs being filled or in flight. */
  get busyJobs(): number {
    return this.jobs.length - this.#free.length;
  }

  /** Jobs free to fill. */
  get freeJobs(): number {
    return this.#free.length;
  }

  /** Worker restarts so far. */
  get restarts(): number {
    return this.#restarts;
  }

  /** @internal the worker threads (tests) */
  get threads(): Worker[] {
    return this.#workers.map((s) => s.thread);
  }

  /**
   * The job being filled for `op` with room for `bytes` more bytes (a full one is submitted and
   * a new one started), or null when every job is in flight or the pool is inactive.
   */
  reserve(op: CryptoOp, bytes: number): CryptoJob | null {
    let job = op === OP_SEAL ? this.#sealing : this.#opening;
    if (job !== null) {
      if (job.fits(bytes)) return job;
      this.#submit(job);
    }
    if (!this.#active) return null;
    job = this.#free.pop() ?? null;
    if (job === null) return null;
    job.op = op;
    job.state = FILLING;
    if (!job.fits(bytes)) {
      job.reset();
      this.#free.push(job);
      return null;
    }
    if (op === OP_SEAL) this.#sealing = job;
    else this.#opening = job;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#submitFilling);
    }
    return job;
  }

  /** Sends the jobs being filled to the workers now (else at the end of the current task). */
  submit(): void {
    if (this.#sealing !== null) this.#submit(this.#sealing);
    if (this.#opening !== null) this.#submit(this.#opening);
  }

  readonly #submitFilling = (): void => {
    this.#scheduled = false;
    if (!this.#closed) this.submit();
  };

  /** Resolves once no job is being filled or in flight (jobs it causes included). */
  flush(): Promise<void> {
    this.submit();
    if (this.#closed || this.#length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Terminates the workers; jobs in flight are dropped (the device is closing). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#active = false;
    this.#sealing = this.#opening = null;
    this.#fifo.fill(null);
    this.#length = 0;
    this.#resolveWaiters();
    const threads = this.#workers.filter((s) => !s.dead).map((s) => s.thread);
    for (const slot of this.#workers) slot.dead = true;
    await Promise.all(threads.map((t) => t.terminate()));
    for (const job of this.jobs) job.reset();
  }

  #start(index: number): WorkerSlot {
    const thread = startWorker(this.#buffers);
    const slot: WorkerSlot = { thread, index, outstanding: 0, dead: false };
    thread.on('message', (id: unknown) => this.#onMessage(slot, id));
    thread.on('error', (err: Error) => this.#onDown(slot, `failed: ${err.message}`));
    thread.on('exit', (code: number) => this.#onDown(slot, `exited with code ${code}`));
    thread.unref();
    return slot;
  }

  #submit(job: CryptoJob): void {
    if (this.#sealing === job) this.#sealing = null;
    if (this.#opening === job) this.#opening = null;
    if (job.batch.count === 0) {
      job.reset();
      this.#free.push(job);
      return;
    }
    const header = job.header;
    header[0] = job.op;
    header[1] = job.batch.count;
    const slow = job.batch.count >= this.slowJobsFrom ? JOB_FLAG_SLOW : 0;
    header[2] = this.crashNextJob ? JOB_FLAG_CRASH : slow;
    this.crashNextJob = false;
    this.#fifo[(this.#head + this.#length) % this.#fifo.length] = job;
    this.#length++;
    if (!this.#active) {
      // disabled while it was filling: nothing will run it
      job.fail();
      job.state = DONE;
      return;
    }
    let best = this.#workers[0]!;
    for (const slot of this.#workers) if (slot.outstanding < best.outstanding) best = slot;
    job.state = QUEUED;
    job.worker = best.index;
    this.stats.jobs++;
    this.stats.packets += job.batch.count;
    if (best.outstanding++ === 0) best.thread.ref();
    best.thread.postMessage(job.id);
  }

  #onMessage(slot: WorkerSlot, id: unknown): void {
    if (slot.dead || typeof id !== 'number') return;
    const job = this.jobs[id];
    if (!job || job.state !== QUEUED || job.worker !== slot.index) return;
    job.state = DONE;
    if (this.#fifo[this.#head] !== job) this.stats.outOfOrder++;
    if (--slot.outstanding === 0) {
      slot.thread.unref();
      if (!this.#active) this.#retire(slot);
    }
    this.#drain();
  }

  /** Applies finished jobs from the head of the FIFO, in order, until one is still running. */
  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#length > 0 && !this.#closed) {
        const job = this.#fifo[this.#head]!;
        if (job.state !== DONE) break;
        this.#fifo[this.#head] = null;
        this.#head = (this.#head + 1) % this.#fifo.length;
        this.#length--;
        try {
          this.#complete(job);
        } catch (err) {
          this.#logger.error(`Crypto job completion failed: ${String(err)}`);
        }
        job.reset();
        this.#free.push(job);
      }
    } finally {
      this.#draining = false;
    }
    if (this.#length === 0 && this.#sealing === null && this.#opening === null) {
      this.#resolveWaiters();
    }
  }

  #resolveWaiters(): void {
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** A worker died: its jobs are failed, and it is restarted, or the pool disabled. */
  #onDown(slot: WorkerSlot, why: string): void {
    if (slot.dead || this.#closed) return;
    this.#retire(slot);
    // an 'error' or 'exit' means the thread runs no more JS: its jobs' memory is ours again
    for (let k = 0; k < this.#length; k++) {
      const job = this.#fifo[(this.#head + k) % this.#fifo.length]!;
      if (job.state === QUEUED && job.worker === slot.index) {
        job.fail();
        job.state = DONE;
      }
    }
    slot.outstanding = 0;
    if (this.#active && this.#restarts < MAX_RESTARTS) {
      this.#restarts++;
      this.#logger.error(
        `Crypto worker ${slot.index} ${why}; its batches were dropped, restarting it ` +
          `(${this.#restarts} of ${MAX_RESTARTS})`
      );
      try {
        this.#workers[slot.index] = this.#start(slot.index);
      } catch (err) {
        this.#disable(`cannot restart crypto worker ${slot.index}: ${String(err)}`);
      }
    } else if (this.#active) {
      this.#disable(`crypto worker ${slot.index} ${why} after ${MAX_RESTARTS} restarts`);
    }
    this.#drain();
  }

  /**
   * Stops handing out jobs: the device runs inline from now on. Jobs being filled fail; jobs
   * running on healthy workers finish (their memory must not be reused under a running thread),
   * and each worker is terminated once idle.
   */
  #disable(why: string): void {
    this.#active = false;
    this.#logger.error(`${why}: the crypto pool is disabled, running inline`);
    this.submit();
    for (const slot of this.#workers) if (slot.outstanding === 0) this.#retire(slot);
  }

  #retire(slot: WorkerSlot): void {
    if (slot.dead) return;
    slot.dead = true;
    slot.thread.unref();
    slot.thread.terminate().catch(() => {});
  }
}
