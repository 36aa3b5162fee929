// SPDX-License-Identifier: MIT
/**
 * The data-plane thread: the entry of the `worker_threads` worker that `LinuxDataplane`
 * (`dataplane-linux.ts`) starts. WireGuard runs here on the worker's own event loop — the TUN
 * and UDP pollers of wg-core's addon (context-aware, on the calling thread's libuv loop), the
 * crypto, the timers and the UAPI socket for `wg show` — so nothing the control plane does on
 * the main thread (JSON-RPC, the panel, Argon2id, fsync) delays a packet. Requests arrive one at
 * a time in order and each gets one reply (`dataplane-protocol.ts`); `DataplaneEngine` holds the
 * logic, this file only the port and the system.
 *
 * `workerData.io` is `'linux'` (the default) or `'memory'`: wg-core's in-memory TUN and UDP, so
 * the protocol, restarts and errors can be tested without root.
 * @module
 */

import { parentPort, workerData } from 'node:worker_threads';
import type { Logger, LogLevel } from '@start-tunnel/wg-core';
import { DataplaneEngine } from './dataplane-engine.ts';
import { linuxIo, memoryIo } from './dataplane-io.ts';
import {
  messageOf,
  requestHeader,
  type StartConfig,
  type ThreadMessage,
} from './dataplane-protocol.ts';

/** How long a crashing thread may take to close its device before it exits anyway. */
const CLOSE_ON_CRASH_MS = 3000;

/**
 * Node refuses `process.umask(mask)` in a worker (ERR_WORKER_UNSUPPORTED_OPERATION:
 * https://nodejs.org/docs/latest-v20.x/api/process.html#processumaskmask), and wg-core's
 * `UapiServer.listen` sets 0o077 around `listen()` before its `chmod 0600`. Here a set keeps
 * the process's mask when that already denies write to group and others (nobody else can
 * connect to the socket before the chmod: connecting needs write permission, unix(7)) and
 * fails otherwise, so the socket is never briefly open to other users.
 */
function tolerateUmask(): void {
  const read = process.umask.bind(process) as () => number;
  const umask = (mask?: string | number): number => {
    const current = read();
    if (mask !== undefined && (current & 0o022) !== 0o022) {
      throw new Error(`the process umask ${current.toString(8)} lets others open the socket`);
    }
    return current;
  };
  process.umask = umask as typeof process.umask;
}

/** A logger that sends its lines to the main thread, up to `level()`. */
function portLogger(send: (m: ThreadMessage) => void, level: () => LogLevel): Logger {
  return {
    verbose: (message) => {
      if (level() === 'verbose') send({ type: 'log', level: 'verbose', message });
    },
    error: (message) => {
      if (level() !== 'silent') send({ type: 'log', level: 'error', message });
    },
  };
}

function main(): void {
  const port = parentPort;
  if (!port) throw new Error('dataplane-thread.ts runs only as a worker (see dataplane-linux.ts)');
  tolerateUmask();
  let level: LogLevel = 'error';
  const send = (m: ThreadMessage) => port.postMessage(m);
  const logger = portLogger(send, () => level);
  const io = (workerData as { io?: string } | null)?.io === 'memory' ? memoryIo : linuxIo;
  const engine = new DataplaneEngine(io, logger);
  // A worker that ends with the addon's descriptors still polled brings the whole process
  // down (seen with wg-core's addon: SIGSEGV on terminate), so an uncaught error here closes
  // the device first and only then ends the thread, whose exit the main thread sees.
  let dying = false;
  process.on('uncaughtException', (err) => {
    if (dying) return;
    dying = true;
    send({ type: 'fatal', message: messageOf(err) });
    const exit = () => process.exit(1);
    setTimeout(exit, CLOSE_ON_CRASH_MS).unref();
    engine.close().then(exit, exit);
  });
  let chain = Promise.resolve();
  port.on('message', (request: unknown) => {
    // one request at a time, in arrival order
    chain = chain.then(async () => {
      const header = requestHeader(request);
      if (header?.op === 'crash') {
        // no reply, and no later request handled: the thread dies as a bug would kill it
        await new Promise(() => {
          setImmediate(() => {
            throw new Error('Crash requested (test hook)');
          });
        });
      }
      if (header?.op === 'start') {
        level = (request as { config?: StartConfig }).config?.logLevel ?? 'error';
      }
      send(await engine.handle(request));
      if (header?.op === 'stop') port.close(); // nothing else keeps the thread alive: it exits
    });
  });
}

main();
