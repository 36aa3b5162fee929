// SPDX-License-Identifier: MIT
// The five timers, observed from outside: what goes on the wire and when, on a fake clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Datagram } from '../src/bind-memory.ts';
import { FakeClock } from '../src/clock-fake.ts';
import { MAX_TIMER_HANDSHAKES, REKEY_TIMEOUT_JITTER_MAX_MS } from '../src/constants.ts';
import { readU32 } from '../src/messages.ts';
import { Timer } from '../src/timers.ts';
import { pair } from './_harness.ts';
import { ip } from './_packets.ts';

interface Seen {
  at: number;
  from: string;
  type: number;
  length: number;
}

function record(lab: Awaited<ReturnType<typeof pair>>['lab']): Seen[] {
  const seen: Seen[] = [];
  lab.network.tap = (d: Datagram) => {
    seen.push({
      at: lab.clock.now(),
      from: d.from.key,
      type: readU32(d.data, 0),
      length: d.data.length,
    });
    return true;
  };
  return seen;
}

describe('timers', () => {
  it('Timer: mod moves the deadline, del cancels, late mods cost no new schedule', () => {
    const clock = new FakeClock();
    let fired = 0;
    const t = new Timer(clock, () => fired++);
    t.mod(100);
    for (let i = 1; i <= 50; i++) {
      clock.advance(10);
      t.mod(100); // pushed back every 10 ms: never fires
    }
    assert.equal(fired, 0);
    assert.ok(clock.pending <= 1);
    clock.advance(100);
    assert.equal(fired, 1);
    t.mod(50);
    t.del();
    clock.advance(100);
    assert.equal(fired, 1);
    assert.equal(t.pending, false);
  });

  it('passive keepalive: the receiver of data answers with a keepalive after 10 s', async () => {
    const { lab, a, b } = await pair();
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    lab.settle();
    const seen = record(lab);
    const bKey = '198.51.100.2:51821';
    lab.run(9_900);
    assert.equal(seen.filter((s) => s.from === bKey).length, 0);
    lab.run(200);
    const fromB = seen.filter((s) => s.from === bKey);
    assert.equal(fromB.length, 1);
    assert.equal(fromB[0]!.type, 4);
    assert.equal(fromB[0]!.length, 32); // keepalive: header + tag
    // and nothing more while nobody sends data
    lab.run(30_000, 1000);
    assert.equal(seen.filter((s) => s.from === bKey).length, 1);
    assert.equal(b.tun.drain().length, 1);
  });

  it('the initiator rekeys after 120 s of traffic, and no packet is lost across the rekey', async () => {
    const { lab, a, b } = await pair();
    const seen = record(lab);
    // one session first (simultaneous first initiations from both sides are a separate case)
    a.tun.inject(ip('10.59.0.1', '10.59.0.2', 64));
    lab.settle();
    let sentAB = 1;
    let sentBA = 0;
    for (let t = 0; t < 200_000; t += 1_000) {
      a.tun.inject(ip('10.59.0.1', '10.59.0.2', 64));
      sentAB++;
      if (t % 3_000 === 0) {
        b.tun.inject(ip('10.59.0.2', '10.59.0.1', 64));
        sentBA++;
      }
      lab.run(1_000, 250);
    }
    const initiations = seen.filter((s) => s.type === 1);
    assert.equal(initiations[0]!.from, '192.0.2.1:51820');
    assert.equal(initiations[0]!.at, seen[0]!.at);
    // the next one only once the keypair is older than REKEY_AFTER_TIME, from the initiator
    assert.equal(initiations.length, 2);
    assert.equal(initiations[1]!.from, '192.0.2.1:51820');
    const age = initiations[1]!.at - initiations[0]!.at;
    assert.ok(age > 120_000 && age <= 122_000, `rekey after ${age} ms`);
    assert.equal(b.tun.drain().length, sentAB);
    assert.equal(a.tun.drain().length, sentBA);
    assert.equal(a.device.drops.stagedDropped + b.device.drops.stagedDropped, 0);
  });

  it('retries every 5 s plus jitter, then gives up and drops what was staged', async () => {
    const { lab, a, peerB } = await pair();
    // nothing ever arrives: the initiator can only retry
    const times: number[] = [];
    lab.network.tap = (d) => {
      if (readU32(d.data, 0) === 1) times.push(lab.clock.now());
      return false;
    };
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'), ip('10.59.0.1', '10.59.0.2'));
    assert.equal(peerB.staged.length, 2);
    const expired: string[] = [];
    a.device.on('expired', (p) => expired.push(String(p)));
    lab.run(200_000, 50);
    // the first initiation and MAX_TIMER_HANDSHAKES + 1 retries (kernel timers.c counting)
    assert.equal(times.length, MAX_TIMER_HANDSHAKES + 2);
    for (let k = 1; k < times.length; k++) {
      const gap = times[k]! - times[k - 1]!;
      assert.ok(gap >= 5_000 && gap <= 5_000 + REKEY_TIMEOUT_JITTER_MAX_MS + 50, `gap ${gap}`);
    }
    assert.ok(times.at(-1)! - times[0]! < 100_000);
    assert.equal(peerB.staged.length, 0);
    assert.equal(a.device.drops.stagedDropped, 2);
    assert.deepEqual(expired, []);
    // key material is forgotten 540 s after giving up
    lab.run(600_000, 10_000);
    assert.equal(expired.length, 1);
  });

  it('zeroes every key 540 s after the last session was derived', async () => {
    const { lab, a, b, peerB, peerA } = await pair();
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    lab.settle();
    assert.ok(peerB.keypairs.current);
    const expired: string[] = [];
    a.device.on('expired', () => expired.push('a'));
    b.device.on('expired', () => expired.push('b'));
    lab.run(539_000, 1_000);
    assert.ok(peerB.keypairs.current);
    assert.deepEqual(expired, []);
    lab.run(2_000, 100);
    assert.equal(peerB.keypairs.current, null);
    assert.equal(peerA.keypairs.current, null);
    assert.deepEqual(expired.sort(), ['a', 'b']);
    // a new packet simply starts a new handshake
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    lab.settle();
    assert.equal(b.tun.drain().length, 2);
  });

  it('starts a new handshake when data sent gets nothing back for 15 s', async () => {
    const { lab, a } = await pair();
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    lab.settle();
    const seen = record(lab);
    // from now on B is silent (its keepalives are lost)
    lab.network.tap = (d) => {
      seen.push({ at: lab.clock.now(), from: d.from.key, type: readU32(d.data, 0), length: 0 });
      return d.from.key !== '198.51.100.2:51821';
    };
    const t0 = lab.clock.now();
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    lab.run(20_000, 100);
    const init = seen.find((s) => s.type === 1 && s.from === '192.0.2.1:51820');
    assert.ok(init, 'an initiation was sent');
    const after = init.at - t0;
    assert.ok(after >= 15_000 && after <= 15_000 + REKEY_TIMEOUT_JITTER_MAX_MS + 100, `${after}`);
  });

  it('persistent keepalive sends every N s when idle, and one at once when switched on', async () => {
    const { lab, a, peerB } = await pair();
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    lab.settle();
    lab.run(20_000, 1000); // let passive keepalives settle
    const seen = record(lab);
    a.device.setPersistentKeepalive(peerB, 25);
    lab.settle();
    assert.equal(seen.filter((s) => s.from === '192.0.2.1:51820').length, 1);
    lab.run(100_000, 1000);
    const fromA = seen.filter((s) => s.from === '192.0.2.1:51820');
    assert.equal(fromA.length, 5); // at 0, 25, 50, 75, 100 s
    assert.ok(fromA.every((s) => s.type === 4 && s.length === 32));
  });
});

describe('simultaneous initiation', () => {
  it('recovers when both sides initiate at the same instant (one retransmission later)', async () => {
    const { lab, a, b } = await pair();
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    b.tun.inject(ip('10.59.0.2', '10.59.0.1'));
    lab.run(10_000, 100);
    assert.equal(a.tun.drain().length, 1);
    assert.equal(b.tun.drain().length, 1);
  });
});

describe('rekey override (test hook)', () => {
  it('rekeys at the configured interval and refuses values past REJECT_AFTER_TIME', async () => {
    const { Device } = await import('../src/device.ts');
    assert.throws(() => new Device({ rekeyAfterTimeMs: 180_000 }), /rekeyAfterTimeMs/);
    const { Lab } = await import('./_harness.ts');
    const lab = new Lab();
    const a = await lab.node('192.0.2.1', 51820, { rekeyAfterTimeMs: 5_000 });
    const b = await lab.node('198.51.100.2', 51821);
    lab.connect(a, b, ['10.59.0.2/32']);
    lab.connect(b, a, ['10.59.0.1/32']);
    let initiations = 0;
    lab.network.tap = (d) => {
      if (readU32(d.data, 0) === 1) initiations++;
      return true;
    };
    let sent = 0;
    for (let t = 0; t < 21_000; t += 500) {
      a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
      sent++;
      lab.run(500, 100);
    }
    // at 0 s, then at the first packet after the keypair is older than 5 s: 5.5, 11, 16.5 s
    assert.equal(initiations, 4);
    assert.equal(b.tun.drain().length, sent);
  });
});
