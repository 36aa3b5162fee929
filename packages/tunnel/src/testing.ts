// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/tunnel/testing: fakes for tests of the tunnel and of what is built on it (as
 * wireguard-go keeps `tun/tuntest` and `conn/bindtest` apart from its main packages): the
 * in-memory data plane and a deterministic model environment.
 * @module
 */

import { randomBytes } from 'node:crypto';
import type { ModelEnv } from './model.ts';
import { publicKeyOf } from './model.ts';

import type { State } from './schema.ts';
import type { StateStore } from './tunnel.ts';

export { MemoryDataplane } from './dataplane-memory.ts';

/** A state store in memory (commits are counted, nothing is written). */
export class MemoryStateStore implements StateStore {
  state: State;
  commits = 0;
  constructor(state: State) {
    this.state = state;
  }
  async commit(state: State): Promise<void> {
    this.state = state;
    this.commits++;
  }
}

/** Deterministic randomness (a counter) and a settable clock; keys are real X25519 keys. */
export function testEnv(start = Date.parse('2026-11-25T00:00:00Z')): ModelEnv & { t: number } {
  let seed = 1;
  const env = {
    t: start,
    now: () => new Date(env.t),
    randomBytes: (n: number) => {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = (seed++ * 37) & 255;
      return out;
    },
    generateKeyPair: () => {
      // deterministic: private key from the counter, public key derived for real
      const priv = Buffer.from(env.randomBytes(32));
      priv[0]! &= 248;
      priv[31] = (priv[31]! & 127) | 64;
      const privateKey = priv.toString('base64');
      return { privateKey, publicKey: publicKeyOf(privateKey) };
    },
  };
  return env;
}

/** A random model environment for tests that need unique keys but no determinism. */
export function randomEnv(): ModelEnv {
  return {
    now: () => new Date(),
    randomBytes: (n) => new Uint8Array(randomBytes(n)),
    generateKeyPair: () => {
      const priv = randomBytes(32);
      priv[0]! &= 248;
      priv[31] = (priv[31]! & 127) | 64;
      const privateKey = priv.toString('base64');
      return { privateKey, publicKey: publicKeyOf(privateKey) };
    },
  };
}
