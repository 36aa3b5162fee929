// SPDX-License-Identifier: MIT
/**
 * Panel sessions. A login gets a random token (32 bytes, base64url) carried only in the cookie;
 * the store keeps SHA-256 of it (lowercase base32, the original's session id form,
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/middleware/auth/session.rs#L161-L171),
 * so reading the state file never yields a usable cookie. Unlike the original, whose sessions
 * never expire and whose cookie is neither HttpOnly nor Secure
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/middleware/auth/session.rs#L341-L345),
 * a session ends after `SESSION_IDLE_MS` without a request or `SESSION_ABSOLUTE_MS` after login,
 * whichever comes first, and the cookie is `HttpOnly; Secure; SameSite=Strict`. Its name carries
 * the `__Host-` prefix (RFC 6265bis §4.1.3.2): browsers accept it only with `Secure`, `Path=/` and
 * no `Domain`, so a sibling host cannot set or shadow it.
 * @module
 */

import { createHash, randomBytes } from 'node:crypto';
import { base32Lower } from './encoding.ts';
import type { SessionData, WebStore } from './state.ts';

/** A session ends after 12 hours without a request (a working day with breaks). */
export const SESSION_IDLE_MS = 12 * 3600_000;
/** A session ends 7 days after login however busy it is: then log in again. */
export const SESSION_ABSOLUTE_MS = 7 * 24 * 3600_000;
/** `lastActive` is written at most this often per session (a write per request is waste). */
export const LAST_ACTIVE_RESOLUTION_MS = 60_000;
/** Sessions kept at most; the least recently active go first (bounds the state file). */
export const MAX_SESSIONS = 64;

/** `__Host-` prefixed: Secure, Path=/ and host-only (RFC 6265bis §4.1.3.2). */
export const SESSION_COOKIE = '__Host-session';

/** The session id of a token: lowercase base32 of its SHA-256. */
export function sessionId(token: string): string {
  return base32Lower(new Uint8Array(createHash('sha256').update(token).digest()));
}

/** `Set-Cookie` value for a new session. Max-Age is the absolute lifetime. */
export function sessionCookie(token: string): string {
  const maxAge = Math.floor(SESSION_ABSOLUTE_MS / 1000);
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${maxAge}`;
}

/** `Set-Cookie` value that removes the session cookie. */
export function clearSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0`;
}

export interface SessionInfo {
  id: string;
  loggedIn: string;
  lastActive: string;
  /** When the session ends if it stays idle (the earlier of the idle and absolute limits). */
  expiresAt: string;
  userAgent: string | null;
  remoteAddress: string | null;
  /** True for the session that made the request. */
  current: boolean;
}

/** Why a session is no longer valid, or null while it is. */
function expiry(s: SessionData, now: number): 'idle' | 'absolute' | null {
  if (now - Date.parse(s.loggedIn) >= SESSION_ABSOLUTE_MS) return 'absolute';
  if (now - Date.parse(s.lastActive) >= SESSION_IDLE_MS) return 'idle';
  return null;
}

function expiresAt(s: SessionData): number {
  return Math.min(
    Date.parse(s.loggedIn) + SESSION_ABSOLUTE_MS,
    Date.parse(s.lastActive) + SESSION_IDLE_MS
  );
}

/** Creates, checks and ends sessions on a `WebStore`. */
export class SessionManager {
  readonly #store: WebStore;
  readonly #now: () => number;

  constructor(store: WebStore, now: () => number) {
    this.#store = store;
    this.#now = now;
  }

  /** Starts a session; returns the token (for the cookie only) and its id. */
  async create(
    userAgent: string | null,
    remoteAddress: string | null
  ): Promise<{ token: string; id: string }> {
    const token = randomBytes(32).toString('base64url');
    const id = sessionId(token);
    const now = this.#now();
    const stamp = new Date(now).toISOString();
    await this.#store.update((d) => {
      for (const [key, s] of Object.entries(d.sessions)) {
        if (expiry(s, now) !== null) delete d.sessions[key];
      }
      const live = Object.entries(d.sessions).sort(
        (a, b) => Date.parse(a[1].lastActive) - Date.parse(b[1].lastActive)
      );
      for (let i = 0; i <= live.length - MAX_SESSIONS; i++) delete d.sessions[live[i]![0]];
      d.sessions[id] = {
        loggedIn: stamp,
        lastActive: stamp,
        userAgent: userAgent ? userAgent.slice(0, 256) : null,
        remoteAddress,
      };
    });
    return { token, id };
  }

  /**
   * The session id for a cookie token, or null when unknown or expired (an expired session is
   * deleted). Records activity, writing it at most once per `LAST_ACTIVE_RESOLUTION_MS`.
   */
  async authenticate(token: string): Promise<string | null> {
    if (!/^[A-Za-z0-9_-]{16,128}$/.test(token)) return null;
    const id = sessionId(token);
    const s = this.#store.read().sessions[id];
    if (!s) return null;
    const now = this.#now();
    if (expiry(s, now) !== null) {
      await this.kill([id]);
      return null;
    }
    if (now - Date.parse(s.lastActive) >= LAST_ACTIVE_RESOLUTION_MS) {
      const stamp = new Date(now).toISOString();
      await this.#store.update((d) => {
        const live = d.sessions[id];
        if (live) live.lastActive = stamp;
      });
    }
    return id;
  }

  /** Live sessions, most recently active first. */
  list(currentId: string | undefined): SessionInfo[] {
    const now = this.#now();
    return Object.entries(this.#store.read().sessions)
      .filter(([, s]) => expiry(s, now) === null)
      .sort((a, b) => Date.parse(b[1].lastActive) - Date.parse(a[1].lastActive))
      .map(([id, s]) => ({
        id,
        loggedIn: s.loggedIn,
        lastActive: s.lastActive,
        expiresAt: new Date(expiresAt(s)).toISOString(),
        userAgent: s.userAgent,
        remoteAddress: s.remoteAddress,
        current: id === currentId,
      }));
  }

  /** Ends the given sessions; returns the ids that existed. */
  async kill(ids: readonly string[]): Promise<string[]> {
    const existing = ids.filter((id) => Object.hasOwn(this.#store.read().sessions, id));
    if (existing.length === 0) return [];
    await this.#store.update((d) => {
      for (const id of existing) delete d.sessions[id];
    });
    return existing;
  }

  /** Ends every session except `keep` (after a password change). */
  async killAll(keep?: string): Promise<number> {
    const ids = Object.keys(this.#store.read().sessions).filter((id) => id !== keep);
    return (await this.kill(ids)).length;
  }
}
