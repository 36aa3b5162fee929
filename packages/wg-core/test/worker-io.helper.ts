// SPDX-License-Identifier: MIT
/**
 * Helper process of `worker-io.test.ts`. The main thread starts a worker thread that opens a
 * polled `UdpBind` (two sockets and a route watcher, each an addon handle on the worker's own
 * event loop), receives one datagram through it and serves UAPI (`UapiServer.listen`, where Node
 * forbids `process.umask()`) in the directory given as argv[2]; the main thread checks the
 * socket answers, then terminates the worker without closing anything. It prints `served`,
 * `received 1`, `terminated` and `alive` as it goes: a process that crashes (SIGSEGV) never
 * prints the last two.
 *   node --conditions=source --import tsx worker-io.helper.ts DIR
 * @module
 */

import { createSocket } from 'node:dgram';
import { createConnection } from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { UdpBind } from '../src/bind-udp.ts';
import { Device } from '../src/device.ts';
import { UapiServer } from '../src/uapi.ts';

function ask(path: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    let text = '';
    s.on('data', (d) => {
      text += d.toString();
      if (text.endsWith('\n\n')) s.end();
    });
    s.on('close', () => resolve(text));
    s.on('error', reject);
    s.write(request);
  });
}

if (isMainThread) {
  const dir = process.argv[2]!;
  // Node 20 does not apply `--import tsx` in workers: the worker registers tsx itself first.
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const entry = JSON.stringify(import.meta.url);
  const code = `import(${tsx}).then((m) => { m.register(); return import(${entry}); });`;
  const worker = new Worker(code, { eval: true, workerData: { dir } });
  const [port, path] = await new Promise<[number, string]>((resolve, reject) => {
    worker.once('message', (m: [number, string]) => resolve(m));
    worker.once('error', reject);
  });
  const answer = await ask(path, 'get=1\n\n');
  if (answer.includes(`listen_port=${port}`) && answer.endsWith('errno=0\n\n')) {
    console.log('served');
  }
  const received = new Promise<number>((resolve) => worker.once('message', resolve));
  const tx = createSocket('udp4');
  tx.send(Buffer.alloc(64, 1), port, '127.0.0.1', () => tx.close());
  console.log(`received ${await received}`);
  await worker.terminate();
  console.log('terminated');
  await new Promise((resolve) => setTimeout(resolve, 200));
  console.log('alive');
} else {
  const { dir } = workerData as { dir: string };
  const bind = new UdpBind();
  const device = new Device({ bind });
  await device.setListenPort(0);
  await device.up();
  bind.setReceiver((batch) => parentPort!.postMessage(batch.count));
  const server = await UapiServer.listen(device, 'stwk0', { directory: dir });
  parentPort!.postMessage([bind.port, server.path]);
}
