// SPDX-License-Identifier: MIT
/**
 * What the auth methods, the HTTP app and the HTTPS listener share: the store, the clock, the
 * session manager, the login throttle, the signature verifier (and its nonce cache), the
 * password hashing parameters, and the hooks through which a settings change reaches the live
 * listener. One `WebCore` per daemon; tests build their own with a fake clock.
 * @module
 */

import { createServer } from 'node:net';
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';
import { DEFAULT_INTERFACE, parseListen, type RpcContext } from '@start-tunnel/tunnel';
import { type Argon2Params, RFC9106_LOW_MEMORY } from './password.ts';
import { SessionManager } from './session.ts';
import { SignatureVerifier } from './signature.ts';
import type { WebStore } from './state.ts';
import { type BucketParams, GLOBAL, LoginThrottle, PER_ADDRESS } from './throttle.ts';
import { canonicalIp, certificateSubjects } from './tls.ts';

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
  throttle?: { perAddress?: BucketParams; global?: BucketParams };
}

/** Per-request extras the HTTP layer hands handlers through `RpcContext.extra.web`. */
export interface WebRequestExtra {
  /** Adds a `Set-Cookie` header to the response. */
  setCookie(value: string): void;
  /** Seconds for a `Retry-After` header (set by a throttled login). */
  retryAfter?: number;
}

export function webExtra(ctx: RpcContext): WebRequestExtra | undefined {
  const extra = ctx.extra?.['web'];
  return typeof extra === 'object' && extra !== null ? (extra as WebRequestExtra) : undefined;
}

export class WebCore {
  readonly store: WebStore;
  readonly now: () => number;
  readonly argon2: Argon2Params;
  readonly log: (line: string) => void;
  readonly sessions: SessionManager;
  readonly throttle: LoginThrottle;
  readonly verifier: SignatureVerifier;
  readonly #interfaces: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  readonly #tunnelInterface: string;
  #contexts: { key: string; list: string[] } | null = null;

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
    this.throttle = new LoginThrottle(
      this.now,
      options.throttle?.perAddress ?? PER_ADDRESS,
      options.throttle?.global ?? GLOBAL
    );
    this.verifier = new SignatureVerifier(this.now);
    this.#interfaces = options.interfaces ?? networkInterfaces;
    this.#tunnelInterface = options.tunnelInterface ?? DEFAULT_INTERFACE;
  }

  /** The name of an authorised key, by canonical PEM. */
  keyName(pem: string): string | undefined {
    const keys = this.store.read().keys;
    return Object.hasOwn(keys, pem) ? keys[pem]?.name : undefined;
  }

  /**
   * The context strings a signature may be made under: every name and address of the current
   * certificate, the listen host, and the listen `IP:PORT` the original accepts
   * (`starttunnel.md` §7). IPv6 counts bare and in brackets.
   */
  signatureContexts(): string[] {
    const web = this.store.read().webserver;
    const leaf = web.certificate?.chainPem[0] ?? '';
    const key = `${web.listen ?? ''}\n${leaf}`;
    if (this.#contexts?.key === key) return this.#contexts.list;
    const out = new Set<string>();
    const addIp = (ip: string) => {
      out.add(ip);
      if (ip.includes(':')) out.add(`[${ip}]`);
    };
    if (web.listen) {
      out.add(web.listen);
      try {
        const host = canonicalIp(parseListen(web.listen).host);
        if (host) addIp(host);
      } catch {
        // a malformed stored address only removes itself from the list
      }
    }
    if (leaf) {
      try {
        const s = certificateSubjects(leaf);
        s.ips.forEach(addIp);
        for (const d of s.dns) out.add(d);
      } catch {
        // an unreadable certificate only removes its names from the list
      }
    }
    this.#contexts = { key, list: [...out] };
    return this.#contexts.list;
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
