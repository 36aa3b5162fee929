// SPDX-License-Identifier: MIT
/**
 * Test helpers that need nothing but the module under test: a settable clock and cheap Argon2id
 * parameters (production uses RFC 9106 low-memory).
 * @module
 */

import type { Argon2Params } from '../src/password.ts';

export const CHEAP_ARGON2: Argon2Params = { memoryKiB: 64, iterations: 1, parallelism: 1 };

export class Clock {
  ms = Date.parse('2026-03-01T12:00:00Z');
  now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}
