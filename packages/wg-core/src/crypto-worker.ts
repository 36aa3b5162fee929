// SPDX-License-Identifier: MIT
/**
 * A crypto worker thread of the pool in `crypto-pool.ts` (wireguard-go `RoutineEncryption` and
 * `RoutineDecryption`, kernel `wg_packet_encrypt_worker`/`wg_packet_decrypt_worker`). For each
 * job id it receives, it seals or opens every transport message of that job in place, in one call
 * to the batch AEAD of `aead-batch.ts` (native on Node's OpenSSL when available, else node:crypto
 * a packet at a time), which writes a status per packet, and answers with the id. It knows nothing of the protocol: the key is the job's key slot named per
 * packet, the nonce is 4 zero bytes and the 8 counter bytes of the packet's own header, and a
 * sealed packet arrives already padded, with its header written.
 * @module
 */

import { parentPort, workerData } from 'node:worker_threads';
import { aeadBatchOf } from './aead-batch.ts';
import { defaultCrypto } from './crypto-native.ts';
import { JOB_FLAG_CRASH, JOB_FLAG_SLOW, JobMemory } from './crypto-pool.ts';

/** The whole job in one call: native (a C loop on Node's OpenSSL) when available. */
const aead = aeadBatchOf(defaultCrypto());
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function run(job: JobMemory): void {
  const { header, batch, keys, keyOf, status } = job;
  if (header[2] === JOB_FLAG_CRASH) throw new Error('crash requested by the test hook');
  if (header[2] === JOB_FLAG_SLOW) Atomics.wait(sleeper, 0, 0, 20);
  const count = header[1]!;
  aead(header[0]!, batch.data, batch.offsets, batch.lengths, count, keys, keyOf, status);
}

const port = parentPort;
if (port !== null) {
  const buffers = (workerData as { buffers: SharedArrayBuffer[] }).buffers;
  const jobs = buffers.map((b) => new JobMemory(b));
  port.on('message', (id: unknown) => {
    const job = typeof id === 'number' ? jobs[id] : undefined;
    if (job === undefined) return;
    run(job);
    port.postMessage(id);
  });
}
