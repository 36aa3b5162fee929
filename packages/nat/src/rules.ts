// SPDX-License-Identifier: MIT
/**
 * Pure generation: a validated `NatConfig` becomes every object of the one table we own,
 * `inet start-tunnel`, and the single transaction that replaces it. The layout (README.md has
 * the listing):
 *
 * - `prerouting` (nat, dstnat): packets for the public face jump to `port-forwards`: those a WAN
 *   interface receives for any local address (so a 1:1-NAT VPS works:
 *   https://github.com/Start9Labs/start-os/issues/3565) and those sent to the public address
 *   from anywhere (hairpin from a device).
 * - `output` (nat, -100): the VPS's own connections to the public address jump there too.
 * - `port-forwards`: one DNAT per enabled forward and protocol choice
 *   (https://github.com/Start9Labs/start-os/issues/3258).
 * - `forward` (filter): MSS clamping on the tunnel
 *   (https://github.com/Start9Labs/start-os/issues/3261), no device reaches link-local
 *   addresses (the cloud metadata service), DNAT'd flows towards our subnets go to
 *   `forward-flows`, nothing from outside starts a connection into the tunnel, and traffic
 *   between different subnets is dropped whatever a client's AllowedIPs say (the original
 *   accepts every new flow from the tunnel:
 *   https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/context.rs#L128-L143).
 * - `forward-flows`: accepts and counts the flows of current forwards only, so disabling or
 *   removing a forward also stops its established connections; anything else is dropped.
 * - `input` (filter): the subnets' gateway addresses (IPv4, and the IPv6 prefixes) answer only
 *   the tunnel and the host itself, so the resolver, PCP and UPnP are never reachable from the
 *   internet.
 * - `divert` (filter, mangle priority, only with SNI ports): marks packets of transparent sockets.
 * - `postrouting` (nat, srcnat): masquerade of hairpin and of forwarded connections into the
 *   tunnel (unless the forward keeps the visitor's source), and subnet egress (masquerade or
 *   SNAT) out of the WAN interfaces (https://github.com/Start9Labs/start-os/issues/3234).
 *
 * Every base chain's policy is accept and every drop names our tunnel interface: the table
 * never decides for traffic that is not ours, and it never touches another table (the original's
 * installer disables UFW: https://github.com/Start9Labs/start-os/issues/3485).
 * @module
 */

import { formatIPv4, type PortRange, type Prefix } from './address.ts';
import type {
  Json,
  NftBatch,
  NftChain,
  NftCommand,
  NftCounter,
  NftObject,
  NftRule,
  NftSet,
  NftStatement,
} from './schema.ts';
import {
  type Forward,
  type NatConfig,
  type NatState,
  type Pinhole,
  validateState,
} from './state.ts';

/** The family of our table: one table covers IPv4 NAT and the IPv6 side of isolation. */
export const TABLE_FAMILY = 'inet';
/** The name of our table; the only one this package ever writes. */
export const TABLE_NAME = 'start-tunnel';
/** The named counter of packets dropped between different subnets. */
export const ISOLATION_COUNTER = 'isolation';

/** The value of a named counter. */
export interface CounterValue {
  readonly packets: number;
  readonly bytes: number;
}

const TABLE = { family: TABLE_FAMILY, name: TABLE_NAME } as const;
const IN_TABLE = { family: TABLE_FAMILY, table: TABLE_NAME } as const;

// expression and statement helpers, in the form `nft -j list` prints

const match = (left: Json, right: Json, op = '=='): NftStatement => ({
  match: { op, left, right },
});
const meta = (key: string): Json => ({ meta: { key } });
const payload = (protocol: string, field: string): Json => ({ payload: { protocol, field } });
const ct = (key: string, dir?: 'original' | 'reply'): Json =>
  dir === undefined ? { ct: { key } } : { ct: { key, dir } };
const fibType = (flag: 'saddr' | 'daddr'): Json => ({ fib: { result: 'type', flags: [flag] } });
const prefix = (p: Prefix): Json => ({ prefix: { addr: formatIPv4(p.network), len: p.length } });
const ports = (range: PortRange): Json =>
  range.first === range.last ? range.first : { range: [range.first, range.last] };
/** A single value stays a value; more become an anonymous set. */
const oneOrSet = (values: readonly Json[]): Json =>
  values.length === 1 ? values[0]! : { set: values };

const ACCEPT: NftStatement = { accept: null };
const DROP: NftStatement = { drop: null };
const MASQUERADE: NftStatement = { masquerade: null };
const jump = (target: string): NftStatement => ({ jump: { target } });
const counter = (name: string): NftStatement => ({ counter: name });
const CT_DNAT = match(ct('status'), 'dnat', 'in');
const IPV4_ONLY = match(meta('nfproto'), 'ipv4');
const prefix6 = (text: string): Json => {
  const [addr = '', len = '128'] = text.split('/');
  return { prefix: { addr, len: Number(len) } };
};

/** A pinhole's DNAT when it remaps ports: one port, or a range through a map. */
function pinholeDnat(p: Pinhole): NftStatement {
  const { first, last } = p.ports;
  if (first === last) return { dnat: { family: 'ip6', addr: p.address, port: p.internalPort } };
  const pairs: Json[] = [];
  for (let port = first; port <= last; port++) {
    pairs.push([port, { concat: [p.address, p.internalPort + port - first] }]);
  }
  const key = payload('th', 'dport');
  return { dnat: { family: 'ip6', addr: { map: { key, data: { set: pairs } } } } };
}

function chain(name: string, base?: Pick<NftChain, 'type' | 'hook' | 'prio'>): NftChain {
  return base === undefined
    ? { ...IN_TABLE, name }
    : { ...IN_TABLE, name, ...base, policy: 'accept' };
}

/** The statements matching a forward's public side for one protocol or both. */
function dnatMatch(forward: Forward): NftStatement[] {
  const expr: NftStatement[] = [];
  if (forward.address !== null)
    expr.push(match(payload('ip', 'daddr'), formatIPv4(forward.address)));
  const [only] = forward.protocols;
  if (forward.protocols.length === 1 && only !== undefined) {
    expr.push(match(payload(only, 'dport'), ports(forward.ports)));
  } else {
    expr.push(match(meta('l4proto'), { set: ['tcp', 'udp'] }));
    expr.push(match(payload('th', 'dport'), ports(forward.ports)));
  }
  return expr;
}

/** `dnat ip to`: one port, the same ports of a range, or an offset range through a map. */
function dnatStatement(forward: Forward): NftStatement {
  const target = formatIPv4(forward.target);
  const { first, last } = forward.ports;
  if (first === last) return { dnat: { family: 'ip', addr: target, port: forward.targetPort } };
  if (forward.targetPort === first) return { dnat: { family: 'ip', addr: target } };
  const [only] = forward.protocols;
  const key = payload(forward.protocols.length === 1 && only !== undefined ? only : 'th', 'dport');
  const pairs: Json[] = [];
  for (let port = first; port <= last; port++) {
    pairs.push([port, { concat: [target, forward.targetPort + port - first] }]);
  }
  return { dnat: { family: 'ip', addr: { map: { key, data: { set: pairs } } } } };
}

/**
 * The conntrack match of a forward's flows, in both directions: the original destination port
 * (and address, when explicit) and the device address and port the replies come from. One
 * protocol per rule, because nft types `ct proto-dst` only from a single `meta l4proto`.
 */
function flowMatch(forward: Forward, protocol: 'tcp' | 'udp'): NftStatement[] {
  const replyPorts = {
    first: forward.targetPort,
    last: forward.targetPort + forward.ports.last - forward.ports.first,
  };
  const expr = [match(meta('l4proto'), protocol)];
  if (forward.address !== null) {
    expr.push(match(ct('ip daddr', 'original'), formatIPv4(forward.address)));
  }
  expr.push(
    match(ct('proto-dst', 'original'), ports(forward.ports)),
    match(ct('ip saddr', 'reply'), formatIPv4(forward.target)),
    match(ct('proto-src', 'reply'), ports(replyPorts))
  );
  return expr;
}

/** The rules of the table, chain by chain, in order. */
function tableRules(config: NatConfig, enabled: readonly Forward[]): NftRule[] {
  const rules: NftRule[] = [];
  const add = (chainName: string, ...expr: NftStatement[]) =>
    rules.push({ ...IN_TABLE, chain: chainName, expr });
  const tunnel = config.tunnel;
  const wans = oneOrSet(config.wanInterfaces);
  const iifTunnel = match(meta('iifname'), tunnel);
  const oifTunnel = match(meta('oifname'), tunnel);

  // addresses the public face answers on wherever a packet comes from (hairpin)
  const publicAddresses = new Set<number>();
  if (config.wanAddress !== null) publicAddresses.add(config.wanAddress);
  for (const forward of enabled) if (forward.address !== null) publicAddresses.add(forward.address);
  const publicList = [...publicAddresses].sort((a, b) => a - b).map(formatIPv4);

  add(
    'prerouting',
    match(meta('iifname'), wans),
    match(fibType('daddr'), 'local'),
    jump('port-forwards')
  );
  if (publicList.length > 0) {
    add('prerouting', match(payload('ip', 'daddr'), oneOrSet(publicList)), jump('port-forwards'));
    add('output', match(payload('ip', 'daddr'), oneOrSet(publicList)), jump('port-forwards'));
  }

  // IPv6 pinholes that remap ports: DNAT on the way in (the device's address stays the same)
  const remapped = config.pinholes.filter((p) => p.internalPort !== p.ports.first);
  for (const p of remapped) {
    add(
      'prerouting',
      match(meta('iifname'), wans),
      match(payload('ip6', 'daddr'), p.address),
      match(meta('l4proto'), { set: ['tcp', 'udp'] }),
      match(payload('th', 'dport'), ports(p.ports)),
      pinholeDnat(p)
    );
  }

  // forwards with an explicit address first, so they win over the WAN-wide ones
  const ordered = [
    ...enabled.filter((f) => f.address !== null),
    ...enabled.filter((f) => f.address === null),
  ];
  for (const forward of ordered)
    add('port-forwards', ...dnatMatch(forward), dnatStatement(forward));

  // forward: MSS clamping first, as it is not a verdict
  const synOnly = match({ '&': [payload('tcp', 'flags'), ['syn', 'rst']] }, 'syn');
  const clamp: NftStatement = {
    mangle: {
      key: { 'tcp option': { name: 'maxseg', field: 'size' } },
      value: { rt: { key: 'mtu' } },
    },
  };
  add('forward', iifTunnel, synOnly, clamp);
  add('forward', oifTunnel, synOnly, clamp);
  add(
    'forward',
    iifTunnel,
    match(payload('ip', 'daddr'), prefix({ network: 0xa9fe0000, length: 16 })),
    DROP
  );
  add('forward', CT_DNAT, match(ct('ip saddr', 'reply'), '@subnets'), jump('forward-flows'));
  const fromOutside = match(meta('iifname'), tunnel, '!=');
  add(
    'forward',
    oifTunnel,
    fromOutside,
    match(ct('state'), ['established', 'related'], 'in'),
    ACCEPT
  );
  // IPv6 pinholes: new flows to the open ports of one device (after a remap's DNAT, its ports)
  for (const p of config.pinholes) {
    const internal = { first: p.internalPort, last: p.internalPort + p.ports.last - p.ports.first };
    add(
      'forward',
      oifTunnel,
      fromOutside,
      ...(p.internalPort !== p.ports.first ? [CT_DNAT] : []),
      match(payload('ip6', 'daddr'), p.address),
      match(meta('l4proto'), { set: ['tcp', 'udp'] }),
      match(payload('th', 'dport'), ports(internal)),
      ACCEPT
    );
  }
  add('forward', oifTunnel, fromOutside, DROP);
  for (const subnet of config.subnets) {
    const inside = prefix(subnet.prefix);
    add(
      'forward',
      iifTunnel,
      oifTunnel,
      match(payload('ip', 'saddr'), inside),
      match(payload('ip', 'daddr'), inside),
      ACCEPT
    );
    if (subnet.ipv6 !== null) {
      const inside6 = prefix6(subnet.ipv6);
      add(
        'forward',
        iifTunnel,
        oifTunnel,
        match(payload('ip6', 'saddr'), inside6),
        match(payload('ip6', 'daddr'), inside6),
        ACCEPT
      );
    }
  }
  add('forward', iifTunnel, oifTunnel, counter(ISOLATION_COUNTER), DROP);
  for (const subnet of config.subnets) {
    if (subnet.egress.kind !== 'none') continue;
    add(
      'forward',
      iifTunnel,
      match(meta('oifname'), wans),
      match(payload('ip', 'saddr'), prefix(subnet.prefix)),
      DROP
    );
    if (subnet.ipv6 !== null) {
      add(
        'forward',
        iifTunnel,
        match(meta('oifname'), wans),
        match(payload('ip6', 'saddr'), prefix6(subnet.ipv6)),
        DROP
      );
    }
  }

  // input: the gateway addresses (DNS, PCP, UPnP, the panel if bound there) answer the tunnel
  // and the host itself only
  const outsider = match(meta('iifname'), { set: [tunnel, 'lo'] }, '!=');
  const gateways = config.subnets.flatMap((s) =>
    s.gateway === null ? [] : [formatIPv4(s.gateway)]
  );
  if (gateways.length > 0)
    add('input', outsider, match(payload('ip', 'daddr'), oneOrSet(gateways)), DROP);
  for (const subnet of config.subnets) {
    if (subnet.ipv6 !== null) {
      add('input', outsider, match(payload('ip6', 'daddr'), prefix6(subnet.ipv6)), DROP);
    }
  }
  // divert: replies to the SNI proxy's transparent sockets (from the visitor's address) are
  // delivered locally (https://docs.kernel.org/networking/tproxy.html)
  if (config.transparentMark !== null) {
    add('divert', match(meta('l4proto'), 'tcp'), match({ socket: { key: 'transparent' } }, 1), {
      mangle: { key: meta('mark'), value: config.transparentMark },
    });
  }

  // forward-flows: ICMP errors about a flow (PMTU) pass, then one rule per forward and protocol
  add('forward-flows', match(ct('state'), 'related', 'in'), ACCEPT);
  for (const forward of enabled) {
    for (const protocol of forward.protocols) {
      add('forward-flows', ...flowMatch(forward, protocol), counter(forward.counter), ACCEPT);
    }
  }
  add('forward-flows', DROP);

  // postrouting: hairpin always masquerades (a device or the VPS would get replies from the
  // wrong address), visitors unless their forward keeps the source
  add('postrouting', oifTunnel, CT_DNAT, match(payload('ip', 'saddr'), '@subnets'), MASQUERADE);
  add('postrouting', oifTunnel, CT_DNAT, IPV4_ONLY, match(fibType('saddr'), 'local'), MASQUERADE);
  for (const forward of enabled) {
    if (!forward.keepSource) continue;
    for (const protocol of forward.protocols) {
      add('postrouting', oifTunnel, CT_DNAT, ...flowMatch(forward, protocol), ACCEPT);
    }
  }
  // IPv4 only: a pinhole's remapped IPv6 flow keeps the visitor's address
  add('postrouting', oifTunnel, CT_DNAT, IPV4_ONLY, MASQUERADE);
  for (const egress of config.hostEgress) {
    const to: NftStatement = { snat: { family: 'ip', addr: formatIPv4(egress.address) } };
    add(
      'postrouting',
      match(meta('oifname'), wans),
      match(payload('ip', 'saddr'), formatIPv4(egress.source)),
      to
    );
  }
  for (const subnet of config.subnets) {
    const from = match(payload('ip', 'saddr'), prefix(subnet.prefix));
    if (subnet.egress.kind === 'masquerade')
      add('postrouting', match(meta('oifname'), wans), from, MASQUERADE);
    if (subnet.egress.kind === 'snat') {
      const to: NftStatement = { snat: { family: 'ip', addr: formatIPv4(subnet.egress.address) } };
      add('postrouting', match(meta('oifname'), wans), from, to);
    }
  }
  return rules;
}

/**
 * Every object of our table, in the order `nft -j list table` prints them: counters, the
 * `subnets` set, chains, then rules chain by chain. `counters` seeds the named counters (so an
 * apply does not reset them); missing ones start at zero.
 */
export function tableObjects(
  config: NatConfig,
  counters: ReadonlyMap<string, CounterValue> = new Map()
): NftObject[] {
  const enabled = config.forwards.filter((forward) => forward.enabled);
  const objects: NftObject[] = [];
  const counterObject = (name: string): NftCounter => {
    const value = counters.get(name);
    return { ...IN_TABLE, name, packets: value?.packets ?? 0, bytes: value?.bytes ?? 0 };
  };
  objects.push({ counter: counterObject(ISOLATION_COUNTER) });
  for (const forward of enabled) objects.push({ counter: counterObject(forward.counter) });

  const set: NftSet = {
    ...IN_TABLE,
    name: 'subnets',
    type: 'ipv4_addr',
    flags: ['interval'],
    ...(config.subnets.length > 0 ? { elem: config.subnets.map((s) => prefix(s.prefix)) } : {}),
  };
  objects.push({ set });

  objects.push(
    { chain: chain('prerouting', { type: 'nat', hook: 'prerouting', prio: -100 }) },
    { chain: chain('output', { type: 'nat', hook: 'output', prio: -100 }) },
    { chain: chain('port-forwards') },
    { chain: chain('forward', { type: 'filter', hook: 'forward', prio: 0 }) },
    { chain: chain('input', { type: 'filter', hook: 'input', prio: 0 }) },
    ...(config.transparentMark !== null
      ? [{ chain: chain('divert', { type: 'filter', hook: 'prerouting', prio: -150 }) }]
      : []),
    { chain: chain('forward-flows') },
    { chain: chain('postrouting', { type: 'nat', hook: 'postrouting', prio: 100 }) }
  );
  for (const rule of tableRules(config, enabled)) objects.push({ rule });
  return objects;
}

/**
 * The one transaction that replaces our table: `add table` (so the delete also works when the
 * table does not exist yet), `delete table`, then the whole table. nft applies a batch all or
 * nothing, so the kernel never holds half a ruleset.
 */
export function applyBatch(
  config: NatConfig,
  counters?: ReadonlyMap<string, CounterValue>
): NftBatch {
  const commands: NftCommand[] = [
    { add: { table: TABLE } },
    { delete: { table: TABLE } },
    { add: { table: TABLE } },
  ];
  for (const object of tableObjects(config, counters)) commands.push({ add: object });
  return { nftables: commands };
}

/** The transaction that removes our table and nothing else; a no-op when it does not exist. */
export function teardownBatch(): NftBatch {
  return { nftables: [{ add: { table: TABLE } }, { delete: { table: TABLE } }] };
}

/**
 * The transaction `applyState` would run for `state`: validation and generation, no I/O.
 * @throws {NatStateError} on bad input
 */
export function buildRuleset(
  state: NatState,
  counters?: ReadonlyMap<string, CounterValue>
): NftBatch {
  return applyBatch(validateState(state), counters);
}
