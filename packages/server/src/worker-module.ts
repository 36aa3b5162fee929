// SPDX-License-Identifier: MIT
/**
 * Starting a `worker_threads` worker on a module of this package, whether the package runs
 * built (`dist/*.js`, production) or from its TypeScript source under tsx (tests:
 * `node --conditions=source --import tsx`). In Node 20 a worker does not get the module hooks
 * that `--import tsx` registered on the main thread (hooks are per thread there:
 * https://nodejs.org/docs/latest-v20.x/api/module.html#customization-hooks), so a source worker
 * first registers tsx through its API (https://tsx.is/dev-api/register-esm) and only then
 * imports its entry. The worker keeps the parent's `execArgv`, `--conditions=source` included.
 * @module
 */

import { Worker, type WorkerOptions } from 'node:worker_threads';

/** `name` beside the module at `base` (an `import.meta.url`): `.ts` under tsx, else `.js`. */
export function siblingModule(base: string, name: string): URL {
  return new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}

/** The code a source worker evaluates: register tsx, then import the entry. */
export function sourceBootstrap(tsxApi: string, entry: URL): string {
  const api = JSON.stringify(tsxApi);
  const href = JSON.stringify(entry.href);
  return `import(${api}).then((tsx) => { tsx.register(); return import(${href}); });`;
}

/**
 * Starts a worker on `entry`. A `.js` entry starts as is; a `.ts` entry needs tsx installed
 * (a dev dependency) and throws a clear error without it.
 */
export function startModuleWorker(entry: URL, options: WorkerOptions = {}): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  let api: string;
  try {
    api = import.meta.resolve('tsx/esm/api');
  } catch {
    throw new Error(`Cannot start a worker on ${entry.pathname}: TypeScript sources need tsx`);
  }
  return new Worker(sourceBootstrap(api, entry), { ...options, eval: true });
}
