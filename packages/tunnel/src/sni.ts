// SPDX-License-Identifier: MIT
/**
 * SNI ports: one public TCP port shared by several TLS services, told apart by the hostname in
 * the ClientHello, TLS never terminated (StartTunnel 1.5's SNI demultiplexing,
 * https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel). A port
 * holds routes by hostname (`a.example`, or `*.example` for one more label) and an optional
 * fallback for the rest. Rules: one port, never a range; a hostname belongs to one device (the
 * same device re-claims it); a port held by a plain forward to the same device becomes an SNI
 * port with that forward as its fallback, any other forward on it is refused. Pure functions.
 * @module
 */

import { ErrorCode } from '@start-tunnel/protocol';
import { effectiveWan, forwardAddress } from './egress.ts';
import { checkName, invalid, type ModelEnv, notFound, parseSource, parseTarget } from './model.ts';
import type { SniPortRecord, SniRouteRecord, State } from './schema.ts';
import { targetIp } from './targets.ts';

/**
 * A hostname as routes key it: lower case, no trailing dot, letters/digits/hyphens in labels of
 * at most 63 (RFC 1123 §2.1), at most 253 in all; `*.` only as the whole first label.
 */
export function parseHostname(text: string, field = 'hostname'): string {
  const h = text.trim().toLowerCase().replace(/\.$/, '');
  const labels = h.split('.');
  const ok =
    h.length > 0 &&
    h.length <= 253 &&
    labels.length >= 2 &&
    labels.every((l, i) => (i === 0 && l === '*') || /^(?!-)[a-z0-9-]{1,63}(?<!-)$/.test(l));
  if (!ok) {
    throw invalid(
      field,
      text,
      'expected a hostname like a.example or *.example',
      ErrorCode.InvalidRequest
    );
  }
  return h;
}

/** The route of `hostname` on a port: exact, then `*.` of its parent, then the fallback. */
export function routeFor(port: SniPortRecord, hostname: string | null): SniRouteRecord | null {
  if (hostname !== null) {
    const h = hostname.toLowerCase().replace(/\.$/, '');
    const exact = port.routes[h];
    if (exact?.enabled) return exact;
    const dot = h.indexOf('.');
    const wild = dot > 0 ? port.routes[`*${h.slice(dot)}`] : undefined;
    if (wild?.enabled) return wild;
  }
  return port.fallback?.enabled ? port.fallback : null;
}

/** Parses an SNI source: one port, optionally with an address. */
function sniSource(text: string): string {
  const src = parseSource(text);
  if (src.first !== src.last)
    throw invalid('source', text, 'SNI routing does not take port ranges');
  return src.key;
}

/** True when an enabled plain forward other than `except` takes TCP `port` where `source` answers. */
function plainForwardOn(state: State, source: string, except: string | null): string | null {
  const { first } = parseSource(source);
  const address = source.includes(':') ? source.split(':')[0]! : null;
  for (const [key, f] of Object.entries(state.forwards)) {
    if (key === except || !f.enabled || f.protocol === 'udp') continue;
    const r = parseSource(key);
    if (first < r.first || first > r.last) continue;
    const theirs = forwardAddress(state, key);
    if (address === null || theirs === null || theirs === address) return key;
  }
  return null;
}

export interface SniAdd {
  source: string;
  target: string;
  /** Hostnames to route; may be empty when only `fallback` is asked. */
  sni: readonly string[];
  fallback?: boolean | undefined;
  label?: string | null | undefined;
  proxyProtocol?: boolean | undefined;
  auto?: boolean | undefined;
}

/**
 * `port-forward.add` with hostnames: routes on an SNI port (created, or converted from a plain
 * forward to the same device). Returns the first route's hostname (null: the fallback).
 */
export function addSniRoutes(
  state: State,
  env: Pick<ModelEnv, 'now'>,
  p: SniAdd
): { state: State; source: string; hostname: string | null } {
  const source = sniSource(p.source);
  const target = parseTarget(state, p.target, 0);
  const ip = targetIp(target);
  const hosts = [...new Set(p.sni.map((h) => parseHostname(h, 'sni')))];
  if (hosts.length === 0 && !p.fallback) throw invalid('sni', '', 'give at least one hostname');
  const label =
    p.label === undefined || p.label === null || p.label === ''
      ? null
      : checkName('label', p.label);
  const port: SniPortRecord = structuredClone(state.sni[source] ?? { routes: {}, fallback: null });
  let forwards = state.forwards;
  const plain = state.forwards[source];
  if (plain !== undefined) {
    // a single-port forward to the same device becomes the fallback (the original's conversion)
    if (targetIp(plain.target) !== ip || plain.protocol === 'udp') {
      throw invalid('source', p.source, `is a port forward to ${plain.target}: remove it first`);
    }
    port.fallback ??= {
      target: plain.target,
      label: plain.label,
      enabled: plain.enabled,
      auto: plain.auto,
      proxyProtocol: false,
      createdAt: plain.createdAt,
    };
    forwards = { ...state.forwards };
    delete forwards[source];
  }
  if (!source.includes(':')) {
    const mine = effectiveWan(state, ip);
    const routes = [...Object.values(port.routes), ...(port.fallback ? [port.fallback] : [])];
    const clash = routes.find((r) => effectiveWan(state, targetIp(r.target)) !== mine);
    if (clash) {
      throw invalid('target', p.target, `leaves by another WAN than ${clash.target} on ${source}`);
    }
  }
  const other = plainForwardOn({ ...state, forwards }, source, null);
  if (other !== null)
    throw invalid('source', p.source, `the port forward ${other} takes this port`);
  const route = (old: SniRouteRecord | null | undefined): SniRouteRecord => ({
    target,
    label: label ?? old?.label ?? null,
    enabled: old?.enabled ?? true,
    auto: p.auto ?? old?.auto ?? false,
    proxyProtocol: p.proxyProtocol ?? old?.proxyProtocol ?? false,
    createdAt: old?.createdAt ?? env.now().toISOString(),
  });
  for (const h of hosts) {
    const old = port.routes[h];
    if (old && targetIp(old.target) !== ip) {
      throw invalid('sni', h, `the hostname is taken by ${old.target} on ${source}`);
    }
    port.routes[h] = route(old);
  }
  if (p.fallback) {
    if (port.fallback && targetIp(port.fallback.target) !== ip) {
      throw invalid('fallback', 'true', `the fallback of ${source} is ${port.fallback.target}'s`);
    }
    port.fallback = route(port.fallback);
  }
  return {
    state: { ...state, forwards, sni: { ...state.sni, [source]: port } },
    source,
    hostname: hosts[0] ?? null,
  };
}

function getPort(state: State, text: string): [string, SniPortRecord] {
  const source = parseSource(text).key;
  const port = state.sni[source];
  if (!port) throw notFound('source', text, 'SNI port');
  return [source, port];
}

/**
 * Removes one hostname's route, the fallback (`hostname` ''), or every route and the fallback
 * (no `hostname`).
 */
export function removeSni(state: State, text: string, hostname?: string): State {
  const [source, port] = getPort(state, text);
  const sni = { ...state.sni };
  if (hostname === undefined) {
    delete sni[source];
    return { ...state, sni };
  }
  if (hostname === '') {
    if (!port.fallback) throw notFound('hostname', hostname, `fallback on ${source}:`);
    if (Object.keys(port.routes).length === 0) delete sni[source];
    else sni[source] = { ...port, fallback: null };
    return { ...state, sni };
  }
  const h = parseHostname(hostname);
  if (!port.routes[h]) throw notFound('hostname', hostname, `SNI route on ${source} for`);
  const routes = { ...port.routes };
  delete routes[h];
  if (Object.keys(routes).length === 0 && port.fallback === null) delete sni[source];
  else sni[source] = { ...port, routes };
  return { ...state, sni };
}

/** Changes one route (`hostname`) or, with `hostname` null, the fallback. */
export function updateSni(
  state: State,
  text: string,
  hostname: string | undefined,
  change: { enabled?: boolean; label?: string | null | undefined }
): { state: State; source: string; hostname: string | null } {
  const [source, port] = getPort(state, text);
  if (hostname === undefined) {
    throw invalid('hostname', '', 'is required to change a route of an SNI port');
  }
  const h = hostname === '' ? null : parseHostname(hostname);
  const old = h === null ? port.fallback : port.routes[h];
  if (!old) throw notFound('hostname', hostname, `SNI route on ${source} for`);
  const next: SniRouteRecord = { ...old };
  if (change.enabled !== undefined) next.enabled = change.enabled;
  if ('label' in change) {
    const l = change.label;
    next.label = l === undefined || l === null || l === '' ? null : checkName('label', l);
  }
  const updated: SniPortRecord =
    h === null ? { ...port, fallback: next } : { ...port, routes: { ...port.routes, [h]: next } };
  return { state: { ...state, sni: { ...state.sni, [source]: updated } }, source, hostname: h };
}

/** Refuses a plain forward that would take a port an SNI port listens on. */
export function checkNotSni(state: State, source: string): void {
  // one source is one table's: an SNI port's source takes no plain forward, not even UDP
  if (state.sni[source] && state.forwards[source]) {
    throw invalid('source', source, 'is an SNI port: add a hostname route, or use another port');
  }
  const f = state.forwards[source];
  if (!f?.enabled || f.protocol === 'udp') return;
  const r = parseSource(source);
  const mine = forwardAddress(state, source);
  for (const key of Object.keys(state.sni)) {
    const port = parseSource(key).first;
    if (port < r.first || port > r.last) continue;
    const theirs = key.includes(':') ? key.split(':')[0]! : sniAddress(state, key);
    if (mine === null || theirs === null || mine === theirs) {
      throw invalid(
        'source',
        source,
        `port ${port} is an SNI port (${key}): add a hostname route instead`
      );
    }
  }
}

/**
 * The address an SNI port listens on: its own, else its routes' WAN (they share one), else null
 * for the server's default WAN address.
 */
export function sniAddress(state: State, source: string): string | null {
  if (source.includes(':')) return source.split(':')[0]!;
  const port = state.sni[source];
  if (!port) return null;
  const first = Object.values(port.routes)[0] ?? port.fallback;
  if (!first) return null;
  for (const rec of Object.values(state.subnets)) {
    const d = rec.devices[targetIp(first.target)];
    if (d) return d.wanIp ?? rec.wanIp;
  }
  return null;
}
