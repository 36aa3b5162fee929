// SPDX-License-Identifier: MIT
/**
 * Leases of the entries devices open for themselves (PCP, UPnP): in memory only, as in the
 * original (https://github.com/Start9Labs/start-technologies, automatic port forwarding). On
 * start every automatic entry of the state gets one hour; a reaper sleeps until the soonest
 * end and removes the lapsed automatic entries only (never a manual one, never one a device
 * renewed meanwhile), retrying a failed removal after a few seconds.
 * @module
 */

import { type LeaseView, leaseKey, type State, type Tunnel } from '@start-tunnel/tunnel';

/** What an entry gets when it has no lease (after a restart): PCP's longest lifetime. */
export const DEFAULT_LEASE_SECONDS = 3600;
const RETRY_MS = 5000;

/** Every lease key of the automatic entries of `state`. */
export function autoKeys(state: State): string[] {
  const keys: string[] = [];
  for (const [source, f] of Object.entries(state.forwards)) {
    if (f.auto) keys.push(leaseKey('forward', source));
  }
  for (const [source, port] of Object.entries(state.sni)) {
    for (const [host, r] of Object.entries(port.routes)) {
      if (r.auto) keys.push(leaseKey('sni', source, host));
    }
    if (port.fallback?.auto) keys.push(leaseKey('sni', source, null));
  }
  for (const [key, p] of Object.entries(state.pinholes)) {
    if (p.auto) keys.push(leaseKey('pinhole', key));
  }
  return keys;
}

/** `state` without the automatic entry of lease `key` (unchanged when it is not one). */
export function withoutLease(state: State, key: string): State {
  const [kind, a = '', b] = key.split(' ');
  if (kind === 'forward' && state.forwards[a]?.auto) {
    const forwards = { ...state.forwards };
    delete forwards[a];
    return { ...state, forwards };
  }
  if (kind === 'pinhole' && state.pinholes[a]?.auto) {
    const pinholes = { ...state.pinholes };
    delete pinholes[a];
    return { ...state, pinholes };
  }
  const port = kind === 'sni' ? state.sni[a] : undefined;
  if (!port) return state;
  const next = { routes: { ...port.routes }, fallback: port.fallback };
  if (b === '*' && port.fallback?.auto) next.fallback = null;
  else if (b !== undefined && port.routes[b]?.auto) delete next.routes[b];
  else return state;
  const sni = { ...state.sni };
  if (Object.keys(next.routes).length === 0 && next.fallback === null) delete sni[a];
  else sni[a] = next;
  return { ...state, sni };
}

export class Leases implements LeaseView {
  readonly #ends = new Map<string, number>();
  readonly #tunnel: Tunnel;
  readonly #log: (line: string) => void;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(opts: { tunnel: Tunnel; log: (line: string) => void; now?: () => number }) {
    this.#tunnel = opts.tunnel;
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
  }

  /** Gives every automatic entry without a lease the default one, forgets leases of gone entries. */
  adopt(state: State): void {
    const keys = new Set(autoKeys(state));
    for (const key of keys) {
      if (!this.#ends.has(key)) this.#ends.set(key, this.#now() + DEFAULT_LEASE_SECONDS * 1000);
    }
    for (const key of [...this.#ends.keys()]) if (!keys.has(key)) this.#ends.delete(key);
    this.#schedule();
  }

  /** A lease of `seconds` from now; null: permanent (UPnP's lease 0). */
  grant(key: string, seconds: number | null): void {
    if (seconds === null) this.#ends.delete(key);
    else this.#ends.set(key, this.#now() + seconds * 1000);
    this.#schedule();
  }

  drop(key: string): void {
    this.#ends.delete(key);
  }

  expiresAt(key: string): string | null {
    const end = this.#ends.get(key);
    return end === undefined ? null : new Date(end).toISOString();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(delay?: number): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    const soonest = Math.min(...this.#ends.values());
    if (!Number.isFinite(soonest)) return;
    const wait = delay ?? Math.max(0, soonest - this.#now());
    this.#timer = setTimeout(() => void this.#reap(), Math.min(wait, 2 ** 31 - 1));
    this.#timer.unref();
  }

  async #reap(): Promise<void> {
    this.#timer = null;
    const now = this.#now();
    const lapsed = [...this.#ends].filter(([, end]) => end <= now).map(([key]) => key);
    if (lapsed.length === 0) return this.#schedule();
    try {
      await this.#tunnel.change((state) => {
        let next = state;
        for (const key of lapsed) {
          // renewed while we waited: keep it
          if ((this.#ends.get(key) ?? 0) <= now) next = withoutLease(next, key);
        }
        return { state: next, result: null };
      });
      for (const key of lapsed) if ((this.#ends.get(key) ?? 0) <= now) this.#ends.delete(key);
      this.#log(
        `leases: ${lapsed.length} automatic entr${lapsed.length === 1 ? 'y' : 'ies'} expired`
      );
      this.#schedule();
    } catch (err) {
      this.#log(`leases: removing expired entries failed, retrying: ${(err as Error).message}`);
      this.#schedule(RETRY_MS);
    }
  }
}
