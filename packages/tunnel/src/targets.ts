// SPDX-License-Identifier: MIT
/**
 * What reaches a device from outside, across every table that names a target: port forwards
 * and the routes of SNI ports. Removing a device, demoting it or switching off its automatic
 * forwards filters them all here, so no table keeps a route to a device that is gone (the
 * original garbage-collects forwards, SNI routes and fallbacks together:
 * https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel).
 * @module
 */

import type { ForwardRecord, SniPortRecord, SniRouteRecord, State } from './schema.ts';

/** The device address of a `DEVICE_IP:PORT` target. */
export function targetIp(target: string): string {
  return target.split(':')[0] ?? '';
}

/**
 * Keeps only the forwards and SNI routes for which `keep(ip, entry)` holds; an SNI port left
 * with no route and no fallback goes too.
 */
export function filterTargets(
  state: State,
  keep: (ip: string, entry: ForwardRecord | SniRouteRecord) => boolean
): State {
  const forwards: State['forwards'] = {};
  for (const [source, f] of Object.entries(state.forwards)) {
    if (keep(targetIp(f.target), f)) forwards[source] = f;
  }
  const sni: State['sni'] = {};
  for (const [source, port] of Object.entries(state.sni)) {
    const routes: SniPortRecord['routes'] = {};
    for (const [host, r] of Object.entries(port.routes)) {
      if (keep(targetIp(r.target), r)) routes[host] = r;
    }
    const fallback =
      port.fallback && keep(targetIp(port.fallback.target), port.fallback) ? port.fallback : null;
    if (Object.keys(routes).length > 0 || fallback !== null) sni[source] = { routes, fallback };
  }
  return { ...state, forwards, sni };
}
