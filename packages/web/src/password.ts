// SPDX-License-Identifier: MIT
/**
 * Password hashing: Argon2id with the RFC 9106 §4 second recommended ("low-memory") parameter set,
 * as the original's `Config::rfc9106_low_mem()`
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/auth.rs#L239-L255): m
 * = 64 MiB, t = 3, p = 4, a 32-byte tag and a 16-byte random salt, stored as a PHC string
 * (`$argon2id$v=19$m=65536,t=3,p=4$salt$tag`). Hashing runs in hash-wasm's WebAssembly build, so
 * it works on every architecture Node runs on (riscv64 included) without a native addon, and it
 * runs in a worker thread (`argon2-worker.ts`), never on the event loop.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { type Argon2Runner, sharedArgon2Runner } from './argon2-worker.ts';
import { base32Lower } from './encoding.ts';

export interface Argon2Params {
  /** Memory in KiB. */
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

/** RFC 9106 §4, second recommended option (the "low-memory" one). */
export const RFC9106_LOW_MEMORY: Argon2Params = Object.freeze({
  memoryKiB: 65536,
  iterations: 3,
  parallelism: 4,
});

/** Tag and salt lengths of RFC 9106 §4. */
export const HASH_LENGTH = 32;
export const SALT_LENGTH = 16;

/** Longest password accepted: bounds the work an unauthenticated login can ask for. */
export const MAX_PASSWORD_LENGTH = 1024;
/** Shortest password `auth.set-password` accepts. */
export const MIN_PASSWORD_LENGTH = 8;

/** Hashes a password into a PHC string, in the Argon2 worker. */
export async function hashPassword(
  password: string,
  params: Argon2Params = RFC9106_LOW_MEMORY,
  runner: Argon2Runner = sharedArgon2Runner()
): Promise<string> {
  return runner.hash({
    password: password.normalize('NFC'),
    salt: new Uint8Array(randomBytes(SALT_LENGTH)),
    parallelism: params.parallelism,
    iterations: params.iterations,
    memoryKiB: params.memoryKiB,
    hashLength: HASH_LENGTH,
  });
}

/**
 * Checks a password against a stored PHC string, in the Argon2 worker. The parameters come from
 * the string, so hashes made with other parameters (tests, or older settings) still verify. A
 * malformed hash is false. Rejects (`Argon2BusyError`) when the worker's queue is full.
 */
export async function verifyPassword(
  password: string,
  phc: string,
  runner: Argon2Runner = sharedArgon2Runner()
): Promise<boolean> {
  if (!phc.startsWith('$argon2id$')) return false;
  return runner.verify(password.normalize('NFC'), phc);
}

/**
 * A new random password in the form of the original's `auth reset-password`: 16 random bytes as
 * lowercase base32 without padding, 26 characters
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/auth.rs#L287-L294).
 */
export function randomPassword(): string {
  return base32Lower(new Uint8Array(randomBytes(16)));
}
