// SPDX-License-Identifier: MIT
/**
 * Argon2id off the event loop. hash-wasm computes Argon2 synchronously inside WebAssembly, so
 * on the daemon's thread one login (64 MiB, t = 3, p = 4: about 0.3 s) would stop every timer,
 * socket and packet for its whole duration. `Argon2Runner` runs it in one `worker_threads`
 * worker instead, one job at a time (RFC 9106's memory-hard function gains nothing from two at
 * once on a small VPS, and 64 MiB each adds up), behind a bounded queue: a job past the bound is
 * refused with `Argon2BusyError` rather than queued without end.
 *
 * The worker's code is plain JavaScript handed to `new Worker(…, { eval: true })`, so it runs
 * the same from `src/` under tsx (whose hooks Node 20 does not give workers) and from `dist/`;
 * it loads hash-wasm by the URL resolved here. The worker is started on first use, restarted
 * after a crash (the job in flight fails), and unreferenced while idle so it never keeps the
 * process alive.
 * @module
 */

import { Worker } from 'node:worker_threads';

/** Jobs waiting at most (the one running not counted); more are refused. */
export const DEFAULT_MAX_QUEUE = 64;

export interface Argon2HashJob {
  op: 'hash';
  password: string;
  salt: Uint8Array;
  memoryKiB: number;
  iterations: number;
  parallelism: number;
  hashLength: number;
}

export interface Argon2VerifyJob {
  op: 'verify';
  password: string;
  phc: string;
}

export type Argon2Job = Argon2HashJob | Argon2VerifyJob;

/** The queue is full: try again later. */
export class Argon2BusyError extends Error {
  override name = 'Argon2BusyError';
}

const HASH_WASM = import.meta.resolve('hash-wasm');

/** The worker: answers `{ id, ok, value | error, threadId }` for each `{ id, job }`. */
const WORKER_SOURCE = `
const { parentPort, threadId } = require('node:worker_threads');
const lib = import(${JSON.stringify(HASH_WASM)});
async function run(job) {
  const h = await lib;
  if (job.op === 'hash') {
    return h.argon2id({
      password: job.password,
      salt: job.salt,
      parallelism: job.parallelism,
      iterations: job.iterations,
      memorySize: job.memoryKiB,
      hashLength: job.hashLength,
      outputType: 'encoded',
    });
  }
  if (!job.phc.startsWith('$argon2id$')) return false;
  try {
    return await h.argon2Verify({ password: job.password, hash: job.phc });
  } catch {
    return false;
  }
}
parentPort.on('message', ({ id, job }) => {
  run(job).then(
    (value) => parentPort.postMessage({ id, ok: true, value, threadId }),
    (err) => parentPort.postMessage({ id, ok: false, error: String(err && err.message), threadId })
  );
});
`;

interface Pending {
  id: number;
  job: Argon2Job;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface Answer {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
  threadId: number;
}

export interface Argon2RunnerOptions {
  /** Jobs waiting at most (default `DEFAULT_MAX_QUEUE`). */
  maxQueue?: number;
}

/** One worker, one job at a time, a bounded FIFO. */
export class Argon2Runner {
  readonly #maxQueue: number;
  readonly #queue: Pending[] = [];
  #worker: Worker | null = null;
  #running: Pending | null = null;
  #nextId = 1;
  #lastThreadId: number | null = null;

  constructor(options: Argon2RunnerOptions = {}) {
    this.#maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
  }

  /** Jobs waiting plus the one running. */
  get load(): number {
    return this.#queue.length + (this.#running ? 1 : 0);
  }

  /** The worker thread that ran the last job (tests check it is not the main thread, 0). */
  get lastThreadId(): number | null {
    return this.#lastThreadId;
  }

  /** A PHC string for `job`. */
  hash(job: Omit<Argon2HashJob, 'op'>): Promise<string> {
    return this.#submit({ op: 'hash', ...job }) as Promise<string>;
  }

  /** Whether `password` matches the PHC string (false for anything that is not Argon2id). */
  verify(password: string, phc: string): Promise<boolean> {
    return this.#submit({ op: 'verify', password, phc }) as Promise<boolean>;
  }

  /** Stops the worker; jobs waiting or running fail. */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = null;
    const dropped = [...this.#queue.splice(0), ...(this.#running ? [this.#running] : [])];
    this.#running = null;
    for (const p of dropped) p.reject(new Error('The Argon2 worker was closed'));
    await worker?.terminate();
  }

  #submit(job: Argon2Job): Promise<unknown> {
    if (this.#queue.length >= this.#maxQueue) {
      return Promise.reject(new Argon2BusyError('Too many password checks waiting'));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, job, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#running !== null) return;
    const next = this.#queue.shift();
    if (next === undefined) {
      this.#worker?.unref();
      return;
    }
    this.#running = next;
    const worker = this.#ensureWorker();
    worker.ref();
    worker.postMessage({ id: next.id, job: next.job });
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on('message', (answer: Answer) => this.#onAnswer(answer));
    worker.on('error', (err) => this.#onDown(worker, err.message));
    worker.on('exit', (code) => this.#onDown(worker, `exited with code ${code}`));
    this.#worker = worker;
    return worker;
  }

  #onAnswer(answer: Answer): void {
    const job = this.#running;
    if (job === null || job.id !== answer.id) return;
    this.#running = null;
    this.#lastThreadId = answer.threadId;
    if (answer.ok) job.resolve(answer.value);
    else job.reject(new Error(`Argon2 failed: ${answer.error ?? 'unknown error'}`));
    this.#pump();
  }

  #onDown(worker: Worker, why: string): void {
    if (this.#worker !== worker) return;
    this.#worker = null;
    const job = this.#running;
    this.#running = null;
    job?.reject(new Error(`The Argon2 worker stopped: ${why}`));
    this.#pump();
  }
}

let shared: Argon2Runner | null = null;

/** The process-wide runner `hashPassword`, `verifyPassword` and `WebCore` share. */
export function sharedArgon2Runner(): Argon2Runner {
  shared ??= new Argon2Runner();
  return shared;
}
