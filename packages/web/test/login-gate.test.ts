// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addressCaller,
  aggregateKey,
  LoginGate,
  type LoginGateOptions,
  type LoginOutcome,
} from '../src/throttle.ts';
import { Clock } from './_clock.ts';

const PHC = '$argon2id$stand-in';
const RIGHT = 'correct horse battery';

/** A gate whose checks finish only when the test says so: order is observable, time is not. */
function harness(limits?: LoginGateOptions['limits']) {
  const clock = new Clock();
  const started: { password: string; finish: (ok: boolean) => void; fail: () => void }[] = [];
  const gate = new LoginGate({
    now: clock.now,
    verify: (password) =>
      new Promise<boolean>((resolve, reject) =>
        started.push({ password, finish: resolve, fail: () => reject(new Error('boom')) })
      ),
    ...(limits ? { limits } : {}),
  });
  let finished = 0;
  /** Finishes the running check (correct iff it is `RIGHT`) and lets the gate start the next. */
  const step = async () => {
    const job = started[finished++];
    assert.ok(job, 'a check is running');
    job.finish(job.password === RIGHT);
    await settle();
  };
  return { clock, gate, started, step, finishedCount: () => finished };
}

const settle = () => new Promise<void>((r) => setImmediate(r));

function track(p: Promise<LoginOutcome>): { outcome: LoginOutcome | null } {
  const box: { outcome: LoginOutcome | null } = { outcome: null };
  void p.then((o) => {
    box.outcome = o;
  });
  return box;
}

describe('aggregates', () => {
  it('counts IPv4 by /24 and IPv6 by /48', () => {
    assert.equal(aggregateKey('203.0.113.77'), '203.0.113.0/24');
    assert.equal(aggregateKey('::ffff:203.0.113.77'), '203.0.113.0/24');
    assert.equal(aggregateKey('2001:db8:1:2:3::4'), '2001:db8:1::/48');
    assert.equal(addressCaller('2001:db8:1:2:3::4').key, '2001:db8:1:2::/64');
  });
});

describe('LoginGate', () => {
  for (const [where, owner] of [
    ['the same /24 as the attackers', '203.0.113.200'],
    ['another /24', '198.51.100.7'],
  ] as const) {
    it(`75 wrong logins from 15 addresses, then the owner from ${where}: the owner is next`, async () => {
      const h = harness();
      const attack: { outcome: LoginOutcome | null }[] = [];
      for (let a = 1; a <= 15; a++) {
        for (let i = 0; i < 5; i++)
          attack.push(track(h.gate.check(addressCaller(`203.0.113.${a}`), 'guess', PHC)));
      }
      await settle();
      const throttled = attack.filter(
        (t) => t.outcome?.ok === false && t.outcome.reason === 'throttled'
      );
      assert.equal(throttled.length, 45, 'three of five per address are refused at once');
      assert.equal(h.started.length, 1, 'one check runs at a time');
      assert.ok(h.gate.waiting <= 29, 'the rest wait, bounded');
      const mine = track(h.gate.check(addressCaller(owner), RIGHT, PHC));
      await h.step(); // the attacker's check that was already running
      assert.equal(h.started.length, 2);
      assert.equal(h.started[1]?.password, RIGHT, "the owner's check runs right after it");
      await h.step();
      assert.deepEqual(mine.outcome, { ok: true });
      while (h.finishedCount() < h.started.length) await h.step();
      assert.ok(
        attack.every((t) => t.outcome !== null && !t.outcome.ok),
        'every guess failed'
      );
    });
  }

  it('never refuses an address that has not been failing (no global lockout)', async () => {
    // The review's M1: with one global bucket, a dozen failing addresses locked the owner out.
    const h = harness();
    for (let round = 0; round < 20; round++) {
      const guesses = [];
      for (let a = 1; a <= 20; a++) {
        guesses.push(track(h.gate.check(addressCaller(`192.0.2.${a}`), 'guess', PHC)));
      }
      await settle();
      while (h.finishedCount() < h.started.length) await h.step();
      h.clock.advance(1_000);
    }
    const refusedGuesses = h.started.length < 400;
    assert.ok(refusedGuesses, 'failing addresses were throttled');
    const owner = track(h.gate.check(addressCaller(`198.51.100.${7}`), RIGHT, PHC));
    await settle();
    assert.equal(h.started.at(-1)?.password, RIGHT);
    await h.step();
    assert.deepEqual(owner.outcome, { ok: true });
  });

  it('allows a burst per address, then one attempt per refill; a success starts afresh', async () => {
    const h = harness({ perCaller: { burst: 2, refillMs: 10_000 } });
    const who = addressCaller('192.0.2.1');
    for (let i = 0; i < 2; i++) {
      const t = track(h.gate.check(who, 'guess', PHC));
      await settle();
      await h.step();
      assert.deepEqual(t.outcome, { ok: false, reason: 'incorrect' });
    }
    assert.deepEqual(await h.gate.check(who, RIGHT, PHC), {
      ok: false,
      reason: 'throttled',
      retryAfterSeconds: 10,
    });
    h.clock.advance(10_000);
    const right = track(h.gate.check(who, RIGHT, PHC));
    await settle();
    await h.step();
    assert.deepEqual(right.outcome, { ok: true });
    const again = track(h.gate.check(who, 'guess', PHC));
    await settle();
    assert.equal(h.started.length, 4, 'a fresh allowance after the success');
    await h.step();
    assert.deepEqual(again.outcome, { ok: false, reason: 'incorrect' });
  });

  it('counts IPv6 per /64: other hosts of the /64 share the allowance', async () => {
    const h = harness({ perCaller: { burst: 1, refillMs: 60_000 } });
    const first = track(h.gate.check(addressCaller('2001:db8:0:1::1'), 'guess', PHC));
    await settle();
    await h.step();
    assert.equal(first.outcome?.ok, false);
    const sibling = await h.gate.check(addressCaller('2001:db8:0:1::99'), 'guess', PHC);
    assert.equal(sibling.ok === false && sibling.reason, 'throttled');
    const neighbour = track(h.gate.check(addressCaller('2001:db8:0:2::1'), 'guess', PHC));
    await settle();
    assert.equal(h.started.length, 2, 'another /64 is counted apart');
    await h.step();
    assert.equal(neighbour.outcome?.ok, false);
  });

  it('a full queue takes a better-ranked check in place of the worst waiting one', async () => {
    const h = harness({ queue: 2 });
    // two addresses fail once, so their next checks rank behind a fresh address
    for (const a of ['192.0.2.1', '192.0.2.2']) {
      track(h.gate.check(addressCaller(a), 'guess', PHC));
      await settle();
      await h.step();
    }
    const running = track(h.gate.check(addressCaller('192.0.2.3'), 'guess', PHC));
    const w1 = track(h.gate.check(addressCaller('192.0.2.1'), 'guess', PHC));
    const w2 = track(h.gate.check(addressCaller('192.0.2.2'), 'guess', PHC));
    await settle();
    assert.equal(h.gate.waiting, 2);
    const owner = track(h.gate.check(addressCaller('198.51.100.7'), RIGHT, PHC));
    await settle();
    const displaced = [w1, w2].filter(
      (t) => t.outcome?.ok === false && t.outcome.reason === 'busy'
    );
    assert.equal(displaced.length, 1, 'one failing check made room');
    await h.step();
    assert.equal(h.started.at(-1)?.password, RIGHT);
    await h.step();
    assert.deepEqual(owner.outcome, { ok: true });
    assert.equal(running.outcome?.ok, false);
    // a fresh check that ranks no better than everything waiting is told the server is busy
    const h2 = harness({ queue: 1 });
    track(h2.gate.check(addressCaller('192.0.2.10'), 'guess', PHC));
    track(h2.gate.check(addressCaller('192.0.2.11'), 'guess', PHC));
    await settle();
    const h2Owner = h2.gate.check(addressCaller('192.0.2.12'), 'guess', PHC);
    // equal rank, newer: it displaces the older one rather than waiting behind it
    await settle();
    h2.started[0]?.finish(false);
    await settle();
    assert.equal(h2.started.length, 2);
    h2.started[1]?.finish(false);
    assert.deepEqual(await h2Owner, { ok: false, reason: 'incorrect' });
  });

  it('the owner (a recent login from the address, or a vouched caller) goes first', async () => {
    const h = harness();
    const home = addressCaller('192.0.2.50');
    const first = track(h.gate.check(home, RIGHT, PHC));
    await settle();
    await h.step();
    assert.deepEqual(first.outcome, { ok: true });
    track(h.gate.check(addressCaller('192.0.2.60'), 'guess', PHC)); // runs
    track(h.gate.check(addressCaller('192.0.2.61'), 'guess', PHC)); // waits
    track(h.gate.check(home, RIGHT, PHC)); // waits, but is trusted
    track(h.gate.check(addressCaller('192.0.2.62'), 'guess', PHC)); // newest
    await settle();
    await h.step();
    assert.equal(h.started.at(-1)?.password, RIGHT);
    const vouched = { key: 'session:abc', aggregate: 'session:abc', trusted: true };
    track(h.gate.check(vouched, RIGHT, PHC));
    await h.step();
    assert.equal(h.started.at(-1)?.password, RIGHT, 'a vouched caller also goes first');
  });

  it('a check that fails to run (worker down) is busy, not incorrect', async () => {
    const h = harness({ perCaller: { burst: 1, refillMs: 60_000 } });
    const t = track(h.gate.check(addressCaller('192.0.2.1'), RIGHT, PHC));
    await settle();
    h.started[0]?.fail();
    await settle();
    assert.equal(t.outcome?.ok === false && t.outcome.reason, 'busy');
  });
});
