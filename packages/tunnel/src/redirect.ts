// SPDX-License-Identifier: MIT
/**
 * The HTTP→HTTPS redirect on port 80 of each public IPv4 the server holds, StartTunnel 1.5's
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel): on by
 * default, the state keeps only the addresses the owner turned off. It and a forward of TCP 80
 * on the same address exclude each other: adding or enabling such a forward is refused while
 * the redirect is on, and turning the redirect on is refused while such a forward exists. When
 * a forward comes to cover port 80 another way (a WAN moved, an address appeared), the redirect
 * yields (`forwarded`) and does not listen. Pure functions; the listener is the server's.
 * @module
 */

import type { RedirectInfo } from '@start-tunnel/protocol';
import { ErrorCode, isPublicIPv4 } from '@start-tunnel/protocol';
import { forwardAddress } from './egress.ts';
import { formatIPv4, parseIPv4 } from './ipv4.ts';
import { invalid, parseSource } from './model.ts';
import type { State } from './schema.ts';
import type { InterfaceAddress } from './wan.ts';

/** The public IPv4s held by the server's non-tunnel interfaces, in order, once each. */
export function publicAddresses(addrs: InterfaceAddress[], tunnelInterface: string): string[] {
  const out: string[] = [];
  for (const a of addrs) {
    if (a.family !== 'IPv4' || a.internal || a.name === tunnelInterface) continue;
    if (isPublicIPv4(a.address) && !out.includes(a.address)) out.push(a.address);
  }
  return out;
}

/** True when the enabled forward `source` takes TCP 80 on `ip` (null address: every address). */
function takes80(state: State, source: string, ip: string): boolean {
  const f = state.forwards[source];
  if (!f?.enabled || f.protocol === 'udp') return false;
  const { first, last } = parseSource(source);
  if (first > 80 || last < 80) return false;
  const address = forwardAddress(state, source);
  return address === null || address === ip;
}

/** The redirect of every public address. */
export function redirects(state: State, publicIps: readonly string[]): RedirectInfo[] {
  return publicIps.map((ip) => ({
    ip,
    enabled: !state.httpRedirects.disabled.includes(ip),
    forwarded: Object.keys(state.forwards).some((source) => takes80(state, source, ip)),
  }));
}

/** The addresses the redirect listens on now. */
export function redirectListeners(state: State, publicIps: readonly string[]): string[] {
  return redirects(state, publicIps)
    .filter((r) => r.enabled && !r.forwarded)
    .map((r) => r.ip);
}

/** Refuses a forward that would take port 80 from an enabled redirect (call after the change). */
export function checkForwardPort80(state: State, source: string, publicIps: readonly string[]) {
  for (const ip of publicIps) {
    if (state.httpRedirects.disabled.includes(ip) || !takes80(state, source, ip)) continue;
    throw invalid(
      'source',
      source,
      `port 80 on ${ip} is used by the HTTP→HTTPS redirect; turn it off first ` +
        `(start-tunnel http-redirect set-enabled ${ip} --no-enabled)`
    );
  }
}

/** `http-redirect.set-enabled`. */
export function setRedirectEnabled(
  state: State,
  ipText: string,
  enabled: boolean,
  publicIps: readonly string[]
): State {
  const n = parseIPv4(ipText.trim());
  if (n === null)
    throw invalid('ip', ipText, 'expected an IPv4 address', ErrorCode.ParseNetAddress);
  const ip = formatIPv4(n);
  if (!publicIps.includes(ip)) {
    const known = publicIps.length ? publicIps.join(', ') : 'none';
    throw invalid('ip', ipText, `is not a public IPv4 of this server (it holds: ${known})`);
  }
  const disabled = state.httpRedirects.disabled.filter((d) => d !== ip);
  if (enabled) {
    const source = Object.keys(state.forwards).find((s) => takes80(state, s, ip));
    if (source !== undefined) {
      throw invalid(
        'ip',
        ipText,
        `port 80 on ${ip} is forwarded (${source}); remove or disable that forward first`
      );
    }
  } else disabled.push(ip);
  disabled.sort();
  if (disabled.join() === state.httpRedirects.disabled.join()) return state;
  return { ...state, httpRedirects: { disabled } };
}
