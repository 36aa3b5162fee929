// SPDX-License-Identifier: MIT
/**
 * The main thread's end of one data-plane thread (`dataplane-thread.ts`): it starts the worker
 * (from `dist/` or, under tsx, from the source), numbers requests, matches replies to them,
 * bounds each by a timeout, forwards the thread's log lines, and rejects what is pending when
 * the thread exits. Restarts and state belong to `LinuxDataplane`.
 * @module
 */

import type { Worker } from 'node:worker_threads';
import type { Logger } from '@start-tunnel/wg-core';
import { isThreadMessage, messageOf, type Op, type Ops } from './dataplane-protocol.ts';
import { siblingModule, startModuleWorker } from './worker-module.ts';

/** The thread exited before it replied. */
export class ThreadGone extends Error {}
/** The thread did not reply in time. */
export class ThreadTimeout extends Error {}

interface Pending {
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class DataplaneThread {
  readonly #worker: Worker;
  readonly #logger: Logger;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #exited = false;

  /** Starts the worker; `onExit` runs once it exited, after pending requests were rejected. */
  constructor(io: 'linux' | 'memory', logger: Logger, onExit: (code: number) => void) {
    this.#logger = logger;
    const entry = siblingModule(import.meta.url, 'dataplane-thread');
    const worker = startModuleWorker(entry, { workerData: { io } });
    worker.on('message', (m: unknown) => this.#onMessage(m));
    worker.on('error', (err) => logger.error(`The data plane thread failed: ${messageOf(err)}`));
    worker.on('exit', (code) => {
      this.#exited = true;
      for (const [id, p] of this.#pending) {
        this.#pending.delete(id);
        clearTimeout(p.timer);
        p.reject(new ThreadGone(`The data plane thread exited (code ${code}) before it answered`));
      }
      onExit(code);
    });
    this.#worker = worker;
  }

  /** Sends one request; resolves with its result, rejects with its error or on timeout. */
  call<O extends Op>(
    op: O,
    params: Ops[O]['params'],
    timeoutMs: number
  ): Promise<Ops[O]['result']> {
    if (this.#exited) return Promise.reject(new ThreadGone('The data plane thread has exited'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ThreadTimeout(`The data plane thread did not answer ${op} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (r: unknown) => void, reject, timer });
      this.#worker.postMessage({ id, op, ...params });
    });
  }

  /** Ends the thread; only once its device is closed (a `stop` reply or a failed `start`). */
  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }

  /**
   * Leaves a thread that does not answer to itself, unreferenced so it does not hold the
   * process open: terminating it while its device is open can crash the whole process.
   */
  abandon(why: string): void {
    this.#logger.error(`The data plane thread ${why}; it is left behind`);
    this.#worker.unref();
  }

  #onMessage(m: unknown): void {
    if (!isThreadMessage(m)) return;
    if (m.type === 'log') {
      this.#logger[m.level](m.message);
      return;
    }
    if (m.type === 'fatal') {
      this.#logger.error(`The data plane thread failed: ${m.message}`);
      return;
    }
    const pending = this.#pending.get(m.id);
    if (!pending) return; // answered after its timeout
    this.#pending.delete(m.id);
    clearTimeout(pending.timer);
    if (m.ok) pending.resolve(m.result);
    else pending.reject(new Error(m.error));
  }
}
