// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { base32Lower } from '../src/encoding.ts';
import {
  clearSessionCookie,
  LAST_ACTIVE_RESOLUTION_MS,
  MAX_SESSIONS,
  SESSION_ABSOLUTE_MS,
  SESSION_COOKIE,
  SESSION_IDLE_MS,
  SessionManager,
  sessionCookie,
  sessionId,
} from '../src/session.ts';
import { MemoryWebStore } from '../src/state.ts';
import { Clock } from './_clock.ts';

function setup() {
  const store = new MemoryWebStore();
  const clock = new Clock();
  return { store, clock, sessions: new SessionManager(store, clock.now) };
}

describe('sessions', () => {
  it('stores only the SHA-256 of the token, in lowercase base32', async () => {
    const { store, sessions } = setup();
    const { token, id } = await sessions.create('UA/1', '198.51.100.1');
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    const expected = base32Lower(new Uint8Array(createHash('sha256').update(token).digest()));
    assert.equal(id, expected);
    assert.equal(sessionId(token), expected);
    const stored = JSON.stringify(store.read());
    assert.equal(stored.includes(token), false);
    assert.deepEqual(Object.keys(store.read().sessions), [id]);
  });

  it('authenticates a live token and refuses unknown or malformed ones', async () => {
    const { sessions } = setup();
    const { token, id } = await sessions.create(null, null);
    assert.equal(await sessions.authenticate(token), id);
    // change a character in the middle: the last one also carries 2 unused bits
    const other = token[10] === 'A' ? 'B' : 'A';
    assert.equal(
      await sessions.authenticate(`${token.slice(0, 10)}${other}${token.slice(11)}`),
      null
    );
    assert.equal(await sessions.authenticate('short'), null);
    assert.equal(await sessions.authenticate('a;b=c'), null);
  });

  it('expires after the idle limit, and activity keeps it alive', async () => {
    const { sessions, clock } = setup();
    const { token, id } = await sessions.create(null, null);
    clock.advance(SESSION_IDLE_MS - 1000);
    assert.equal(await sessions.authenticate(token), id, 'just inside the idle limit');
    clock.advance(SESSION_IDLE_MS - 1000);
    assert.equal(await sessions.authenticate(token), id, 'the last request restarted the clock');
    clock.advance(SESSION_IDLE_MS);
    assert.equal(await sessions.authenticate(token), null, 'idle too long');
    assert.deepEqual(sessions.list(undefined), []);
  });

  it('expires after the absolute limit however busy', async () => {
    const { sessions, clock, store } = setup();
    const { token, id } = await sessions.create(null, null);
    for (let t = 0; t < SESSION_ABSOLUTE_MS - 3600_000; t += 3600_000) {
      clock.advance(3600_000);
      assert.equal(await sessions.authenticate(token), id);
    }
    clock.advance(3600_000);
    assert.equal(await sessions.authenticate(token), null);
    assert.equal(Object.keys(store.read().sessions).length, 0, 'the expired session is deleted');
  });

  it('writes lastActive at most once a minute', async () => {
    const { sessions, clock, store } = setup();
    const { token } = await sessions.create(null, null);
    const before = store.writes;
    for (let i = 0; i < 30; i++) {
      clock.advance(1000);
      await sessions.authenticate(token);
    }
    assert.equal(store.writes, before, '30 requests in 30 s: no write');
    clock.advance(LAST_ACTIVE_RESOLUTION_MS);
    await sessions.authenticate(token);
    assert.equal(store.writes, before + 1);
  });

  it('lists, kills and keeps at most MAX_SESSIONS', async () => {
    const { sessions, clock } = setup();
    const a = await sessions.create('A', null);
    clock.advance(1000);
    const b = await sessions.create('B', null);
    const list = sessions.list(b.id);
    assert.deepEqual(
      list.map((s) => [s.userAgent, s.current]),
      [
        ['B', true],
        ['A', false],
      ]
    );
    assert.equal(list[0]?.expiresAt, new Date(clock.ms + SESSION_IDLE_MS).toISOString());
    assert.deepEqual(await sessions.kill([a.id, 'nope']), [a.id]);
    assert.equal(await sessions.authenticate(a.token), null);
    for (let i = 0; i < MAX_SESSIONS + 5; i++) {
      clock.advance(1000);
      await sessions.create(`ua${i}`, null);
    }
    assert.equal(sessions.list(undefined).length, MAX_SESSIONS);
    assert.equal(await sessions.authenticate(b.token), null, 'the oldest went first');
    assert.equal(await sessions.killAll(), MAX_SESSIONS);
  });

  it('cookie attributes: __Host- prefix, HttpOnly, Secure, SameSite=Strict, Path=/, Max-Age', () => {
    const c = sessionCookie('tok');
    assert.equal(
      c,
      `__Host-session=tok; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${SESSION_ABSOLUTE_MS / 1000}`
    );
    assert.match(clearSessionCookie(), /^__Host-session=; .*Max-Age=0$/);
    // RFC 6265bis §4.1.3.2: a __Host- cookie must be Secure, have Path=/ and no Domain
    for (const cookie of [c, clearSessionCookie()]) {
      const attrs = cookie.split('; ').slice(1);
      assert.ok(cookie.startsWith(`${SESSION_COOKIE}=`));
      assert.ok(attrs.includes('Secure') && attrs.includes('Path=/'));
      assert.ok(!attrs.some((a) => /^domain=/i.test(a)));
    }
  });
});
