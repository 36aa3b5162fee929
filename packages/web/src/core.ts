// SPDX-License-Identifier: MIT
/**
 * What the auth methods, the HTTP app and the HTTPS listener share: the store, the clock, the
 * session manager, the login gate (password checks in the Argon2 worker, throttled and ordered),
 * the signature verifier (and its nonce cache), the password hashing parameters, the rate-limited
 * refusal log, and the hooks through which a settings change reaches the live listener. One
 * `WebCore` per daemon; tests build their own with a fake clock.
 * @module
 */

import { createServer } from 'node:net';
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';
import { performance } from 'node:perf_hooks';
import { DEFAULT_INTERFACE, parseListen } from '@start-tunnel/protocol';
import { type Argon2Runner, sharedArgon2Runner } from './argon2-worker.ts';
import { pemBlocks } from './encoding.ts';
import { type Argon2Params, hashPassword, RFC9106_LOW_MEMORY, verifyPassword } from './password.ts';
import { SessionManager } from './session.ts';
import { SignatureVerifier, signatureContext } from './signature.ts';
import type { WebStore } from './state.ts';
import {
  addressCaller,
  type BucketParams,
  type GateLimits,
  LoginGate,
  type LoginOutcome,
} from './throttle.ts';
import { canonicalIp, certificateSubjects } from './tls.ts';

/** Refusal log lines: a burst of 10, then one every 6 s; the rest are counted, not written. */
export const REFUSAL_LOG: BucketParams = Object.freeze({ burst: 10, refillMs: 6_000 });
/** Longest remote address and message a refusal line carries. */
const MAX_LOGGED_REMOTE = 64;
const MAX_LOGGED_MESSAGE = 300;

/**
 * Text from a request made safe for a log line: control characters (`\p{Cc}`, which includes
 * ESC and CR/LF), line and paragraph separators and the bidirectional overrides (Unicode TR #9)
 * become `\u{…}`, and the text is cut at `max` characters.
 */
export function logSafe(text: string, max: number): string {
  const clean = text.replace(
    /[\p{Cc}\p{Zl}\p{Zp}\u202a-\u202e\u2066-\u2069]/gu,
    (c) => `\\u{${c.codePointAt(0)?.toString(16)}}`
  );
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

export interface WebCoreOptions {
  store: WebStore;
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
  /** Argon2id parameters for new hashes (default RFC 9106 low-memory; tests pass cheaper ones). */
  argon2?: Argon2Params;
  log?: (line: string) => void;
  /** Interface table (default `os.networkInterfaces`). */
  interfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  /** The WireGuard interface, left out of `web.get-available-ips`. */
  tunnelInterface?: string;
  /** Limits of the login gate (default `GATE_LIMITS`). */
  gate?: Partial<GateLimits>;
  /** The Argon2 worker (default: the process-wide one). */
  argon2Runner?: Argon2Runner;
  /**
   * When this daemon started (ms): signed requests with an earlier timestamp are refused, since
   * the nonces seen before it are forgotten. Default: the process start with the system clock;
   * with an injected `now`, no limit unless given.
   */
  startedAt?: number;
}

export class WebCore {
  readonly store: WebStore;
  readonly now: () => number;
  readonly argon2: Argon2Params;
  readonly log: (line: string) => void;
  readonly sessions: SessionManager;
  readonly gate: LoginGate;
  readonly verifier: SignatureVerifier;
  readonly startedAt: number;
  readonly #runner: Argon2Runner;
  readonly #interfaces: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  readonly #tunnelInterface: string;
  #hosts: { key: string; hosts: string[]; leafDer: Uint8Array | null } | null = null;
  #refusalTokens: number = REFUSAL_LOG.burst;
  #refusalAt = 0;
  #refusalsDropped = 0;

  /**
   * Brings the listener in line with the stored settings; set by the web server. Rejects with
   * the reason when the address cannot be bound.
   */
  apply: () => Promise<void> = async () => {};
  /** The `IP:PORT` the listener holds now, or null (set by the web server). */
  bound: () => string | null = () => null;

  constructor(options: WebCoreOptions) {
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.argon2 = options.argon2 ?? RFC9106_LOW_MEMORY;
    this.log = options.log ?? (() => {});
    this.sessions = new SessionManager(this.store, this.now);
    this.#runner = options.argon2Runner ?? sharedArgon2Runner();
    this.gate = new LoginGate({
      now: this.now,
      verify: (password, phc) => verifyPassword(password, phc, this.#runner),
      ...(options.gate ? { limits: options.gate } : {}),
    });
    this.startedAt =
      options.startedAt ??
      (options.now === undefined ? performance.timeOrigin : Number.NEGATIVE_INFINITY);
    this.verifier = new SignatureVerifier(this.now, undefined, this.startedAt);
    this.#interfaces = options.interfaces ?? networkInterfaces;
    this.#tunnelInterface = options.tunnelInterface ?? DEFAULT_INTERFACE;
  }

  /** The name of an authorised key, by canonical PEM. */
  keyName(pem: string): string | undefined {
    const keys = this.store.read().keys;
    return Object.hasOwn(keys, pem) ? keys[pem]?.name : undefined;
  }

  /**
   * Checks the panel password for a login from `address` (the socket's, never a header's): in
   * the Argon2 worker, in the login gate's order, or refused at once when the address (IPv6 by
   * /64) is over its limits. `trusted` puts the check first (e.g. the browser still holds a
   * valid session). Never throws; on `ok: true` the caller starts the session.
   */
  async checkLogin(
    address: string,
    password: string,
    options: { trusted?: boolean } = {}
  ): Promise<LoginOutcome> {
    const phc = this.store.read().password;
    if (phc === null) return { ok: false, reason: 'no-password' };
    return this.gate.check(addressCaller(address, options.trusted ?? false), password, phc);
  }

  /**
   * Re-authentication (`currentPassword` from a panel session): the same check, first in line,
   * with its own allowance per `who` (the session id, or the key name).
   */
  async checkPassword(password: string, who: string): Promise<LoginOutcome> {
    const phc = this.store.read().password;
    if (phc === null) return { ok: false, reason: 'no-password' };
    const key = `session:${who}`;
    return this.gate.check({ key, aggregate: key, trusted: true }, password, phc);
  }

  /** A PHC string for a new password, with this core's parameters, in the Argon2 worker. */
  hashPassword(password: string): Promise<string> {
    return hashPassword(password, this.argon2, this.#runner);
  }

  /**
   * Writes one line about a refused request, at most `REFUSAL_LOG` lines a minute; the text is
   * made safe by `logSafe` (the message may quote the request). Suppressed lines are counted in
   * the next one written.
   */
  logRefusal(remote: string, message: string): void {
    const now = this.now();
    if (now > this.#refusalAt) {
      const gained = (now - this.#refusalAt) / REFUSAL_LOG.refillMs;
      this.#refusalTokens = Math.min(REFUSAL_LOG.burst, this.#refusalTokens + gained);
      this.#refusalAt = now;
    }
    if (this.#refusalTokens < 1) {
      this.#refusalsDropped++;
      return;
    }
    this.#refusalTokens -= 1;
    const dropped = this.#refusalsDropped;
    this.#refusalsDropped = 0;
    const more = dropped > 0 ? ` (${dropped} earlier refusals not logged)` : '';
    this.log(
      `web: refused request from ${logSafe(remote || 'unknown', MAX_LOGGED_REMOTE)}: ` +
        `${logSafe(message, MAX_LOGGED_MESSAGE)}${more}`
    );
  }

  /**
   * Verifies a signed request (see `SignatureVerifier.verify`) against this server's contexts.
   * Pass the DER of the certificate the connection presented (`tlsSocket.getCertificate().raw`)
   * when there is one; otherwise the stored leaf is assumed. Throws `SignatureError`.
   */
  verifySigned(
    header: string,
    body: Uint8Array,
    presentedCertificate?: Uint8Array
  ): { name: string; key: string } {
    return this.verifier.verify(header, body, {
      contexts: this.signatureContexts(presentedCertificate),
      keyName: (pem) => this.keyName(pem),
    });
  }

  /**
   * The context strings a signature may be made under: `signatureContext(host, certificate)`
   * for each host a client may have addressed (every name and address of the current
   * certificate, the listen host and the listen `IP:PORT`, IPv6 bare and in brackets), where
   * the certificate is the one presented on the connection (default: the stored leaf). A
   * wildcard listen address (`0.0.0.0`, `::`) names no server and is left out. Empty when no
   * certificate is known.
   */
  signatureContexts(presentedCertificate?: Uint8Array): string[] {
    const { hosts, leafDer } = this.#signatureHosts();
    const certificate = presentedCertificate ?? leafDer;
    if (certificate === null) return [];
    const out: string[] = [];
    for (const host of hosts) {
      try {
        out.push(signatureContext(host, certificate));
      } catch {
        // a host too long for a context cannot be signed for either
      }
    }
    return out;
  }

  #signatureHosts(): { hosts: string[]; leafDer: Uint8Array | null } {
    const web = this.store.read().webserver;
    const leaf = web.certificate?.chainPem[0] ?? '';
    const key = `${web.listen ?? ''}\n${leaf}`;
    if (this.#hosts?.key === key) return this.#hosts;
    const out = new Set<string>();
    const addIp = (ip: string) => {
      out.add(ip);
      if (ip.includes(':')) out.add(`[${ip}]`);
    };
    if (web.listen) {
      try {
        const host = canonicalIp(parseListen(web.listen).host);
        if (host && host !== '0.0.0.0' && host !== '::') {
          out.add(web.listen);
          addIp(host);
        }
      } catch {
        // a malformed stored address only removes itself from the list
      }
    }
    let leafDer: Uint8Array | null = null;
    if (leaf) {
      try {
        const s = certificateSubjects(leaf);
        s.ips.forEach(addIp);
        for (const d of s.dns) out.add(d);
        leafDer = pemBlocks(leaf).find((b) => b.label === 'CERTIFICATE')?.der ?? null;
      } catch {
        // an unreadable certificate only removes its names from the list
      }
    }
    this.#hosts = { key, hosts: [...out], leafDer };
    return this.#hosts;
  }

  /** Every address on every interface but the tunnel's (the original's list, §2). */
  availableIps(): string[] {
    const out: string[] = [];
    for (const [name, addrs] of Object.entries(this.#interfaces())) {
      if (name === this.#tunnelInterface) continue;
      for (const a of addrs ?? []) out.push(a.address);
    }
    return out;
  }

  /** Binds `host:port` for a moment to prove it can be; rejects with the system's reason. */
  async testBind(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(err.code ?? err.message))
      );
      probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
    });
  }
}
