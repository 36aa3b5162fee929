// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Argon2BusyError, Argon2Runner } from '../src/argon2-worker.ts';
import {
  hashPassword,
  RFC9106_LOW_MEMORY,
  randomPassword,
  verifyPassword,
} from '../src/password.ts';
import { CHEAP_ARGON2 } from './_clock.ts';

describe('password', () => {
  it('hashes with the RFC 9106 low-memory parameters by default (PHC string)', async () => {
    const phc = await hashPassword('hunter2 hunter2');
    // $argon2id$v=19$m=65536,t=3,p=4$<16-byte salt: 22 chars>$<32-byte tag: 43 chars>
    assert.match(phc, /^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.deepEqual(RFC9106_LOW_MEMORY, { memoryKiB: 65536, iterations: 3, parallelism: 4 });
    assert.equal(await verifyPassword('hunter2 hunter2', phc), true);
    assert.equal(await verifyPassword('hunter2 hunter3', phc), false);
  });

  it('salts every hash', async () => {
    const a = await hashPassword('same', CHEAP_ARGON2);
    const b = await hashPassword('same', CHEAP_ARGON2);
    assert.notEqual(a, b);
    assert.equal(await verifyPassword('same', a), true);
    assert.equal(await verifyPassword('same', b), true);
  });

  it('treats Unicode normal forms alike', async () => {
    const phc = await hashPassword('caf\u00e9', CHEAP_ARGON2);
    assert.equal(await verifyPassword('cafe\u0301', phc), true);
  });

  it('refuses malformed and non-argon2id hashes', async () => {
    assert.equal(await verifyPassword('x', 'not a hash'), false);
    assert.equal(await verifyPassword('x', '$argon2id$v=19$m=64,t=1,p=1$AAAA$BBBB'), false);
    assert.equal(await verifyPassword('x', '$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA'), false);
  });

  it('makes random passwords like the original reset-password: 26 base32 characters', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const p = randomPassword();
      assert.match(p, /^[a-z2-7]{26}$/);
      seen.add(p);
    }
    assert.equal(seen.size, 50);
  });
});

describe('the Argon2 worker', () => {
  it('hashes and verifies in another thread while the event loop keeps turning', async () => {
    const runner = new Argon2Runner();
    try {
      const params = { memoryKiB: 32768, iterations: 2, parallelism: 1 };
      // warm up: the worker and hash-wasm's WebAssembly are loaded before counting
      await hashPassword('warm up', CHEAP_ARGON2, runner);
      let turns = 0;
      let counting = true;
      const spin = () => {
        turns++;
        if (counting) setImmediate(spin);
      };
      setImmediate(spin);
      const phc = await hashPassword('hunter2 hunter2', params, runner);
      const ok = await verifyPassword('hunter2 hunter2', phc, runner);
      counting = false;
      assert.equal(ok, true);
      assert.notEqual(runner.lastThreadId, 0, 'ran in a worker thread');
      assert.notEqual(runner.lastThreadId, null);
      // On the event loop the 32 MiB hash would run without yielding once: no turn at all.
      assert.ok(turns > 1, `the event loop turned ${turns} times during two hashes`);
    } finally {
      await runner.close();
    }
  });

  it('bounds its queue: past it a job is refused at once, the others complete', async () => {
    const runner = new Argon2Runner({ maxQueue: 2 });
    try {
      const phc = await hashPassword('pw', CHEAP_ARGON2, runner);
      const jobs = [1, 2, 3].map(() => verifyPassword('pw', phc, runner));
      await assert.rejects(verifyPassword('pw', phc, runner), Argon2BusyError);
      assert.deepEqual(await Promise.all(jobs), [true, true, true]);
    } finally {
      await runner.close();
    }
  });

  it('a job that fails rejects, and the next one is served', async () => {
    const runner = new Argon2Runner();
    try {
      const phc = await hashPassword('pw', CHEAP_ARGON2, runner);
      const huge = { memoryKiB: 4 * 1024 * 1024, iterations: 1, parallelism: 1 }; // 4 GiB
      await assert.rejects(hashPassword('pw', huge, runner), /Argon2|worker/);
      assert.equal(await verifyPassword('pw', phc, runner), true);
    } finally {
      await runner.close();
    }
  });
});
