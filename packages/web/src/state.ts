// SPDX-License-Identifier: MIT
/**
 * The web and auth part of the persistent state: the HTTPS listener settings, the TLS certificate
 * and the root CA that signed it, the password hash, the authorised signing keys and the sessions.
 * It mirrors the original's `webserver`, `password`, `authPubkeys` and `sessions`
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/db.rs#L34-L50) with
 * two changes: the root CA key is kept so renewals re-use the root (the original's
 * `generate_certificate` discards it), and sessions carry a creation time used for absolute expiry
 * (the original's never expire). Everything is plain data (strings, numbers, booleans, null,
 * arrays, records) so the daemon can store it as CBOR or JSON as is. `webDataSchema` checks a
 * stored section when the server loads it, so a damaged file is refused at start, not half-used.
 * @module
 */

import { z } from 'zod';

export interface CertificateData {
  /** The leaf private key, PKCS#8 PEM. Secret: never leaves the server. */
  keyPem: string;
  /** The chain served, leaf first, one PEM certificate per entry. */
  chainPem: string[];
}

export interface RootCaData {
  /** The root private key, PKCS#8 PEM. Secret: never leaves the server. */
  keyPem: string;
  certPem: string;
}

export interface WebserverData {
  enabled: boolean;
  /** `IP:PORT` or `[IPv6]:PORT`, or null before `web set-listen`. */
  listen: string | null;
  certificate: CertificateData | null;
  rootCa: RootCaData | null;
}

export interface KeyData {
  name: string;
  /** ISO 8601. */
  addedAt: string;
}

export interface SessionData {
  /** ISO 8601: login time, the start of the absolute lifetime. */
  loggedIn: string;
  /** ISO 8601: last request seen, persisted at most once per `LAST_ACTIVE_RESOLUTION_MS`. */
  lastActive: string;
  userAgent: string | null;
  /** Source address at login (shown in the session list). */
  remoteAddress: string | null;
}

export interface WebData {
  webserver: WebserverData;
  /** Argon2id PHC string, or null when no password is set. Secret. */
  password: string | null;
  /** Authorised Ed25519 keys, keyed by their canonical PEM SPKI (`signature.ts`). */
  keys: Record<string, KeyData>;
  /** Keyed by the session id: lowercase base32 of SHA-256(token); tokens are never stored. */
  sessions: Record<string, SessionData>;
}

const isoTime = z.iso.datetime();
const pem = z.string().min(1);

/** The stored shape, checked on load (unknown fields are refused: nothing is kept unseen). */
export const webDataSchema = z.strictObject({
  webserver: z.strictObject({
    enabled: z.boolean(),
    listen: z.string().nullable(),
    certificate: z.strictObject({ keyPem: pem, chainPem: z.array(pem).min(1) }).nullable(),
    rootCa: z.strictObject({ keyPem: pem, certPem: pem }).nullable(),
  }),
  password: z.string().startsWith('$argon2id$').nullable(),
  keys: z.record(pem, z.strictObject({ name: z.string(), addedAt: isoTime })),
  sessions: z.record(
    z.string(),
    z.strictObject({
      loggedIn: isoTime,
      lastActive: isoTime,
      userAgent: z.string().nullable(),
      remoteAddress: z.string().nullable(),
    })
  ),
}) satisfies z.ZodType<WebData>;

/** The state of a fresh install: web disabled, nothing set. */
export function emptyWebData(): WebData {
  return {
    webserver: { enabled: false, listen: null, certificate: null, rootCa: null },
    password: null,
    keys: {},
    sessions: {},
  };
}

/**
 * Where the web state lives. The daemon implements it on its state file; `MemoryWebStore`
 * serves tests.
 */
export interface WebStore {
  /** The current state. Callers must treat it as read-only. */
  read(): WebData;
  /**
   * Applies `fn` to a mutable copy (or takes the value it returns) and makes the result current.
   * Resolves only once the change is durable; on rejection the state is unchanged.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: the updater mutates (void) or replaces
  update(fn: (data: WebData) => void | WebData): Promise<void>;
}

/** A `WebStore` in memory, counting its writes (tests assert how often state is written). */
export class MemoryWebStore implements WebStore {
  #data: WebData;
  /** Number of completed `update` calls. */
  writes = 0;

  constructor(initial: WebData = emptyWebData()) {
    this.#data = structuredClone(initial);
  }

  read(): WebData {
    return this.#data;
  }

  // biome-ignore lint/suspicious/noConfusingVoidType: as in WebStore
  async update(fn: (data: WebData) => void | WebData): Promise<void> {
    const draft = structuredClone(this.#data);
    const result = fn(draft);
    this.#data = result ?? draft;
    this.writes++;
  }
}
