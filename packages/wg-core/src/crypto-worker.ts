// SPDX-License-Identifier: MIT
/**
 * A crypto worker thread of the pool in `crypto-pool.ts` (wireguard-go `RoutineEncryption` and
 * `RoutineDecryption`, kernel `wg_packet_encrypt_worker`/`wg_packet_decrypt_worker`). For each
 * job id it receives, it seals or opens every transport message of that job in place with
 * node:crypto ChaCha20-Poly1305, exactly as `crypto-node.ts` does, writes a status per packet and
 * answers with the id. It knows nothing of the protocol: the key is the job's key slot named per
 * packet, the nonce is 4 zero bytes and the 8 counter bytes of the packet's own header, and a
 * sealed packet arrives already padded, with its header written.
 * @module
 */

import { createCipheriv, createDecipheriv } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { AEAD_NONCE_SIZE, AEAD_TAG_SIZE, KEY_SIZE } from './crypto.ts';
import {
  JOB_FLAG_CRASH,
  JobMemory,
  OP_SEAL,
  STATUS_AUTH_FAILED,
  STATUS_ERROR,
  STATUS_OK,
} from './crypto-pool.ts';
import { MESSAGE_TRANSPORT_HEADER_SIZE, TRANSPORT_OFFSET_COUNTER } from './messages.ts';

const AEAD = 'chacha20-poly1305';
const OPTIONS = { authTagLength: AEAD_TAG_SIZE } as const;
const HEADER = MESSAGE_TRANSPORT_HEADER_SIZE;

interface WorkerJob {
  readonly memory: JobMemory;
  /** A view per key slot, made once. */
  readonly keys: Uint8Array[];
}

const nonce = new Uint8Array(AEAD_NONCE_SIZE);

function mapJob(buffer: SharedArrayBuffer): WorkerJob {
  const memory = new JobMemory(buffer);
  const keys: Uint8Array[] = [];
  for (let k = 0; k < memory.keyOf.length; k++) {
    keys.push(memory.keys.subarray(k * KEY_SIZE, (k + 1) * KEY_SIZE));
  }
  return { memory, keys };
}

/** Seals the padded plaintext behind the header; the tag lands in the last 16 bytes. */
function seal(data: Uint8Array, key: Uint8Array, off: number, length: number): number {
  const body = off + HEADER;
  const n = length - HEADER - AEAD_TAG_SIZE;
  const cipher = createCipheriv(AEAD, key, nonce, OPTIONS);
  const out = cipher.update(data.subarray(body, body + n));
  cipher.final();
  data.set(out, body);
  data.set(cipher.getAuthTag(), body + n);
  return STATUS_OK;
}

/** Opens the message in place; the plaintext is written only when the tag verifies. */
function open(data: Uint8Array, key: Uint8Array, off: number, length: number): number {
  const body = off + HEADER;
  const end = off + length;
  const decipher = createDecipheriv(AEAD, key, nonce, OPTIONS);
  decipher.setAuthTag(data.subarray(end - AEAD_TAG_SIZE, end));
  const out = decipher.update(data.subarray(body, end - AEAD_TAG_SIZE));
  try {
    decipher.final();
  } catch {
    return STATUS_AUTH_FAILED;
  }
  data.set(out, body);
  return STATUS_OK;
}

function run(job: WorkerJob): void {
  const { header, batch, keyOf, status } = job.memory;
  if (header[2] === JOB_FLAG_CRASH) throw new Error('crash requested by the test hook');
  const sealing = header[0] === OP_SEAL;
  const count = header[1]!;
  const data = batch.data;
  for (let i = 0; i < count; i++) {
    const off = batch.offsets[i]!;
    const length = batch.lengths[i]!;
    if (length < HEADER + AEAD_TAG_SIZE) {
      status[i] = STATUS_ERROR;
      continue;
    }
    const counter = off + TRANSPORT_OFFSET_COUNTER;
    for (let k = 0; k < 8; k++) nonce[4 + k] = data[counter + k]!;
    const key = job.keys[keyOf[i]!]!;
    try {
      status[i] = sealing ? seal(data, key, off, length) : open(data, key, off, length);
    } catch {
      status[i] = STATUS_ERROR;
    }
  }
}

const port = parentPort;
if (port !== null) {
  const buffers = (workerData as { buffers: SharedArrayBuffer[] }).buffers;
  const jobs = buffers.map(mapJob);
  port.on('message', (id: unknown) => {
    const job = typeof id === 'number' ? jobs[id] : undefined;
    if (job === undefined) return;
    run(job);
    port.postMessage(id);
  });
}
