// SPDX-License-Identifier: MIT
/**
 * The data-plane thread without root: the message protocol and the peer difference (pure), the
 * engine over wg-core's memory TUN and UDP, and `LinuxDataplane` driving a real worker thread
 * (started from the TypeScript source through tsx) in memory mode — replies, errors as messages,
 * a crash noticed and the thread restarted with the last peers, bounded restarts — and, with the
 * Linux I/O, the start error for a TUN that cannot be created.
 * @module
 */

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import type { PeerSpec } from '@start-tunnel/tunnel';
import type { Logger } from '@start-tunnel/wg-core';
import { DataplaneEngine } from '../src/dataplane-engine.ts';
import { memoryIo } from '../src/dataplane-io.ts';
import { DEFAULT_RESTART_POLICY, LinuxDataplane, restartDelay } from '../src/dataplane-linux.ts';
import {
  isThreadMessage,
  parsePeers,
  planPeers,
  requestHeader,
} from '../src/dataplane-protocol.ts';
import { parseAddresses } from '../src/dataplane-system.ts';
import { siblingModule, sourceBootstrap } from '../src/worker-module.ts';

function keyPair(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const d = privateKey.export({ format: 'jwk' }).d!;
  const x = publicKey.export({ format: 'jwk' }).x!;
  return {
    privateKey: Buffer.from(d, 'base64url').toString('base64'),
    publicKey: Buffer.from(x, 'base64url').toString('base64'),
  };
}

const psk = () => Buffer.alloc(32, 7).toString('base64');
const peer = (n: number): PeerSpec => ({
  publicKey: keyPair().publicKey,
  presharedKey: psk(),
  allowedIp: `10.59.7.${n}/32`,
});

class RecordingLogger implements Logger {
  readonly lines: string[] = [];
  verbose(m: string): void {
    this.lines.push(`verbose: ${m}`);
  }
  error(m: string): void {
    this.lines.push(`error: ${m}`);
  }
}

const config = (privateKey: string) => ({
  privateKey,
  interface: 'mem0',
  listenPort: 51820,
  uapi: false,
  workers: 0,
  logLevel: 'error' as const,
});

describe('dataplane protocol (pure)', () => {
  it('accepts only well-formed requests and thread messages', () => {
    assert.deepEqual(requestHeader({ id: 3, op: 'status' }), { id: 3, op: 'status' });
    assert.equal(requestHeader({ id: 3, op: 'reboot' }), null);
    assert.equal(requestHeader({ id: '3', op: 'status' }), null);
    assert.equal(requestHeader(null), null);
    assert.equal(isThreadMessage({ type: 'reply', id: 1, ok: true, result: null }), true);
    assert.equal(isThreadMessage({ type: 'log', level: 'error', message: 'x' }), true);
    assert.equal(isThreadMessage({ type: 'reply', id: 1 }), false);
  });

  it('names the bad field and never echoes a rejected key', () => {
    const secret = 'not-a-key-but-maybe-a-secret';
    const good = peer(2);
    assert.throws(
      () => parsePeers([good, { ...peer(3), presharedKey: secret }]),
      (err: Error) =>
        err.message === 'Invalid peers[1].presharedKey: not a 32-byte base64 key' &&
        !err.message.includes(secret)
    );
    assert.throws(
      () => parsePeers([good, good]),
      /peers\[1\]\.publicKey: the same key as peers\[0\]/
    );
    assert.throws(
      () => parsePeers([{ ...good, allowedIp: '10.59.7.300/32' }]),
      /peers\[0\]\.allowedIp/
    );
    assert.throws(() => parsePeers('x'), /Invalid peers: expected an array/);
  });

  it('plans the difference: removed, added, changed, untouched', () => {
    const [a, b, c] = [peer(2), peer(3), peer(4)];
    const current = new Map([a, b].map((p) => [p.publicKey, p]));
    const plan = planPeers(current, parsePeers([{ ...b, allowedIp: '10.59.7.9/32' }, c]));
    assert.deepEqual(plan.remove, [a.publicKey]);
    assert.deepEqual(
      plan.add.map((p) => p.spec.publicKey),
      [c.publicKey]
    );
    assert.deepEqual(
      plan.change.map((p) => p.spec.publicKey),
      [b.publicKey]
    );
    assert.deepEqual(planPeers(current, parsePeers([a, b])), { remove: [], add: [], change: [] });
  });

  it('restarts after a growing delay and gives up past the window budget', () => {
    const p = { ...DEFAULT_RESTART_POLICY, max: 3, windowMs: 1000, baseDelayMs: 100 };
    assert.equal(restartDelay([], 5000, p), 100);
    assert.equal(restartDelay([4500], 5000, p), 200);
    assert.equal(restartDelay([4100, 4500, 4900], 5000, p), null);
    assert.equal(restartDelay([1000, 2000, 4900], 5000, p), 200); // old ones left the window
  });

  it('reads IPv4 addresses from ip -j addr', () => {
    const json = JSON.stringify([
      { addr_info: [{ family: 'inet', local: '10.59.7.1', prefixlen: 24 }, { family: 'inet6' }] },
    ]);
    assert.deepEqual(parseAddresses(json), ['10.59.7.1/24']);
  });

  it('starts source workers through tsx and built ones as they are', () => {
    assert.equal(siblingModule('file:///a/src/x.ts', 'y').href, 'file:///a/src/y.ts');
    assert.equal(siblingModule('file:///a/dist/x.js', 'y').href, 'file:///a/dist/y.js');
    const code = sourceBootstrap('file:///tsx/api.mjs', new URL('file:///a/src/y.ts'));
    assert.match(
      code,
      /import\("file:\/\/\/tsx\/api\.mjs"\)\.then\(\(tsx\) => \{ tsx\.register\(\)/
    );
  });
});

describe('dataplane engine over memory I/O', () => {
  it('answers every request with one reply; errors are messages', async () => {
    const logger = new RecordingLogger();
    const engine = new DataplaneEngine(memoryIo, logger);
    const me = keyPair();
    const early = await engine.handle({ id: 1, op: 'setPeers', peers: [] });
    assert.deepEqual(early, {
      type: 'reply',
      id: 1,
      ok: false,
      error: 'The data plane is not started',
    });
    const badKey = await engine.handle({ id: 2, op: 'start', config: config('nope') });
    assert.equal(badKey.ok, false);
    assert.equal(await engine.handle({ id: 3, op: 'nope' }).then((r) => r.id), -1);
    const started = await engine.handle({ id: 4, op: 'start', config: config(me.privateKey) });
    assert.deepEqual(started, {
      type: 'reply',
      id: 4,
      ok: true,
      result: { interface: 'mem0', uapiPath: null },
    });
    const again = await engine.handle({ id: 5, op: 'start', config: config(me.privateKey) });
    assert.deepEqual(again.ok ? null : again.error, 'The data plane is already started');

    const [a, b] = [peer(2), peer(3)];
    const set = await engine.handle({ id: 6, op: 'setPeers', peers: [a, b] });
    assert.deepEqual(set.ok && set.result, { added: 2, changed: 0, removed: 0 });
    // one bad key: rejected, nothing changes (b stays, c is not added)
    const c = peer(4);
    const bad = await engine.handle({
      id: 7,
      op: 'setPeers',
      peers: [c, { ...a, publicKey: 'x' }],
    });
    assert.equal(bad.ok, false);
    assert.equal(engine.device!.peerCount, 2);
    const self = await engine.handle({
      id: 8,
      op: 'setPeers',
      peers: [{ ...c, publicKey: me.publicKey }],
    });
    assert.match(
      self.ok ? '' : self.error,
      /peers\[0\]\.publicKey: the interface's own public key/
    );
    const moved = await engine.handle({
      id: 9,
      op: 'setPeers',
      peers: [{ ...b, allowedIp: '10.59.7.30/32' }, c],
    });
    assert.deepEqual(moved.ok && moved.result, { added: 1, changed: 1, removed: 1 });
    const status = await engine.handle({ id: 10, op: 'status' });
    assert.ok(status.ok);
    const keys = (status.result as { publicKey: string }[]).map((s) => s.publicKey).sort();
    assert.deepEqual(keys, [b.publicKey, c.publicKey].sort());
    const dev = engine.device!;
    assert.deepEqual(dev.stats(dev.getPeer(Buffer.from(b.publicKey, 'base64'))!).allowedIPs, [
      '10.59.7.30/32',
    ]);
    assert.deepEqual(await engine.handle({ id: 11, op: 'stop' }), {
      type: 'reply',
      id: 11,
      ok: true,
      result: null,
    });
    assert.equal(engine.device, null);
  });
});

describe('LinuxDataplane with its thread', () => {
  it('drives a memory device in a worker; a crash restarts it with the last peers', {
    timeout: 60_000,
  }, async () => {
    const logger = new RecordingLogger();
    const dp = new LinuxDataplane({
      interface: 'mem0',
      listenPort: 51820,
      logger,
      uapi: false,
      workers: 0,
      io: 'memory',
      restartPolicy: { baseDelayMs: 10, max: 2 },
    });
    await assert.rejects(dp.setPeers([]), /The data plane is not started/);
    await dp.start(keyPair().privateKey);
    await assert.rejects(dp.start(keyPair().privateKey), /already started/);
    const [a, b] = [peer(2), peer(3)];
    await dp.setPeers([a, b]);
    await assert.rejects(dp.setPeers([a, { ...b, presharedKey: 'bad' }]), {
      message: 'Invalid peers[1].presharedKey: not a 32-byte base64 key',
    });
    assert.equal(dp.peerStatus(keyPair().publicKey), null);
    assert.deepEqual(dp.peerStatus(a.publicKey), {
      endpoint: null,
      lastHandshake: 0,
      rxBytes: 0,
      txBytes: 0,
    });
    await dp.refreshStatus();
    assert.equal(dp.peerStatus(b.publicKey)?.rxBytes, 0);
    assert.equal(dp.state, 'running');

    await dp.crashThread();
    // setPeers waits for the restart, which reapplies [a, b] first, then applies [b]
    await dp.setPeers([b]);
    assert.equal(dp.restarts, 1);
    assert.ok(
      logger.lines.some((l) => l.includes('exited unexpectedly')),
      logger.lines.join('\n')
    );
    assert.ok(
      logger.lines.some((l) => l.includes('restarted with 2 peers')),
      logger.lines.join('\n')
    );
    assert.equal(dp.peerStatus(a.publicKey), null);
    assert.notEqual(dp.peerStatus(b.publicKey), null);

    // past the budget (2 restarts) it stays down and says so
    await dp.crashThread();
    await dp.setPeers([b]);
    await dp.crashThread();
    await assert.rejects(dp.setPeers([b]), /The data plane is down: it failed 3 times/);
    assert.equal(dp.state, 'failed');
    assert.equal(dp.restarts, 2);
    await dp.refreshStatus(); // keeps the old numbers, does not throw
    assert.notEqual(dp.peerStatus(b.publicKey), null);
    await dp.stop();
    assert.equal(dp.state, 'stopped');
    assert.equal(dp.peerStatus(b.publicKey), null);
  });

  it('reports a TUN that cannot be created and leaves no thread behind', {
    timeout: 30_000,
  }, async () => {
    const dp = new LinuxDataplane({
      interface: 'no/slash',
      listenPort: 51820,
      logger: new RecordingLogger(),
      uapi: false,
      workers: 0,
    });
    await assert.rejects(
      dp.start(keyPair().privateKey),
      /^Error: Cannot create the TUN interface "no\/slash": /
    );
    assert.equal(dp.state, 'stopped');
    await assert.rejects(dp.start('bad'), /Invalid privateKey: not a 32-byte base64 key/);
    await dp.stop();
  });
});
