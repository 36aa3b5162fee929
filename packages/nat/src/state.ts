// SPDX-License-Identifier: MIT
/**
 * The desired forwarding state of the VPS and its validation. `NatState` is what the control
 * plane holds (strings as a user types them: `203.0.113.7:443`, `10.59.7.1/24`); `validateState`
 * checks every field, collects every problem with the field's path, and returns `NatConfig`,
 * the parsed form `rules.ts` generates from. Errors follow the house style: sentence case,
 * values quoted, no trailing period. Nothing here does I/O.
 *
 * Semantics that are decided here rather than in the kernel, where the original had faults (its
 * forward script forwards TCP and UDP alike:
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/build/lib/scripts/forward-port#L40-L59):
 * - a forward is TCP, UDP or both (https://github.com/Start9Labs/start-os/issues/3258);
 *   `tcp 443` and `udp 443` do not clash;
 * - a forward without a source address listens on the WAN address and, for a 1:1-NAT VPS whose
 *   public address is on no interface (https://github.com/Start9Labs/start-os/issues/3565),
 *   on any local address a WAN interface receives;
 *   a source address equal to `wan.address` means the same thing;
 * - clashes (overlapping ranges, the WireGuard port, reserved ports) are checked between
 *   enabled forwards only, since a disabled forward holds no port.
 * @module
 */

import {
  ipv6PrefixContains,
  isInterfaceName,
  parseIPv6Prefix,
  parseIp,
} from '@start-tunnel/protocol';
import {
  formatIPv4,
  formatPortRange,
  formatPrefix,
  isSpecialIPv4,
  type PortRange,
  type Prefix,
  parseCidr,
  parseIPv4,
  parsePortRange,
  prefixContains,
  prefixesOverlap,
  prefixLast,
  rangesOverlap,
} from './address.ts';

/** The transport protocols of a forward. */
export type Protocol = 'tcp' | 'udp' | 'both';

export interface WanState {
  /** The WAN interfaces, at least one: visitors arrive on them and subnet egress leaves by them. */
  readonly interfaces: readonly string[];
  /**
   * The public IPv4 address visitors connect to, detected or set by the user. Needed for hairpin
   * (a device or the VPS reaching a forward through it); on a 1:1-NAT VPS it is on no interface.
   */
  readonly address?: string | undefined;
}

export interface WireGuardState {
  /** The tunnel interface, e.g. `wg-start-tunnel`. */
  readonly interface: string;
  /** The UDP port WireGuard listens on; no UDP forward may take it. */
  readonly listenPort: number;
}

export interface SubnetState {
  /** `10.59.7.1/24` (the VPS's address in it, the control plane's key) or `10.59.7.0/24`. */
  readonly cidr: string;
  /**
   * How devices of the subnet reach the internet through the WAN: `masquerade` (the default,
   * the WAN interface's own address), `none`, or an IPv4 address to SNAT to.
   */
  readonly egress?: string | undefined;
  /**
   * The subnet's routed IPv6 prefix (`2001:db8:7::/64`): its devices go out with their own
   * addresses (no NAT for IPv6) and talk to each other; nothing comes in except pinholes.
   */
  readonly ipv6?: string | undefined;
}

/** One device leaving by an address of its own: `ip saddr SOURCE` SNAT to `address`. */
export interface HostEgressState {
  /** The device's IPv4 address. */
  readonly source: string;
  /** The public IPv4 it leaves by. */
  readonly address: string;
}

/** Ports of a device's IPv6 address open to the internet (TCP and UDP). */
export interface PinholeState {
  /** The device's IPv6 address, inside a subnet's `ipv6` prefix. */
  readonly address: string;
  /** `443` or `8000-8100`. */
  readonly ports: string;
  /** The first port on the device when it differs (a remap by DNAT). */
  readonly internalPort?: number | undefined;
  readonly enabled?: boolean | undefined;
}

export interface ForwardState {
  /** The public side: `443`, `8000-8100`, `203.0.113.7:443` or `203.0.113.7:8000-8100`. */
  readonly source: string;
  /** A device: `10.59.7.2:8443` (the first port for a range) or `10.59.7.2` (the same ports). */
  readonly target: string;
  readonly protocol: Protocol;
  /** Defaults to true; a disabled forward is kept in the state but absent from the kernel. */
  readonly enabled?: boolean | undefined;
  readonly label?: string | undefined;
  /**
   * Keep the visitor's address as the source the device sees. Off by default: the VPS then
   * rewrites it to its tunnel address so a stock client's replies come back through the
   * tunnel; with it on, the device must route replies to the internet through the tunnel.
   */
  readonly keepSource?: boolean | undefined;
}

/** A port of the VPS itself (SSH, the web panel) that no forward may shadow. */
export interface ReservedPort {
  readonly protocol: 'tcp' | 'udp';
  readonly port: number;
  readonly name: string;
}

/** Everything the VPS's forwarding table is generated from. */
export interface NatState {
  readonly wan: WanState;
  readonly wireguard: WireGuardState;
  readonly subnets: readonly SubnetState[];
  readonly forwards: readonly ForwardState[];
  readonly reserved?: readonly ReservedPort[] | undefined;
  /** Devices with a WAN address of their own (their SNAT goes before their subnet's). */
  readonly hostEgress?: readonly HostEgressState[] | undefined;
  readonly pinholes?: readonly PinholeState[] | undefined;
  /**
   * The mark for packets of transparent sockets (the SNI proxy connects to devices from the
   * visitor's address; replies must reach that socket): absent, no such rule.
   */
  readonly transparentMark?: number | undefined;
}

export type Egress =
  | { readonly kind: 'masquerade' }
  | { readonly kind: 'none' }
  | { readonly kind: 'snat'; readonly address: number };

export interface Subnet {
  readonly prefix: Prefix;
  /** The VPS's own address in the subnet, when the CIDR was written with it. */
  readonly gateway: number | null;
  readonly egress: Egress;
  /** Canonical IPv6 prefix text, or null. */
  readonly ipv6: string | null;
}

export interface HostEgress {
  readonly source: number;
  readonly address: number;
}

export interface Pinhole {
  /** Canonical IPv6 address text. */
  readonly address: string;
  readonly ports: PortRange;
  /** First port on the device (equal to `ports.first` when not remapped). */
  readonly internalPort: number;
}

export interface Forward {
  /** Index in `NatState.forwards`. */
  readonly index: number;
  readonly label: string | null;
  readonly protocols: readonly ('tcp' | 'udp')[];
  /** The public address, or null for the WAN address (and any local WAN address). */
  readonly address: number | null;
  readonly ports: PortRange;
  readonly target: number;
  /** The target port of `ports.first`; the range maps one to one from there. */
  readonly targetPort: number;
  readonly keepSource: boolean;
  readonly enabled: boolean;
  /** The name of the forward's nftables counter. */
  readonly counter: string;
}

/** The validated, parsed state. */
export interface NatConfig {
  readonly wanInterfaces: readonly string[];
  readonly wanAddress: number | null;
  readonly tunnel: string;
  readonly listenPort: number;
  /** Sorted by network address. */
  readonly subnets: readonly Subnet[];
  /** Every forward, enabled or not, in state order. */
  readonly forwards: readonly Forward[];
  readonly hostEgress: readonly HostEgress[];
  /** Enabled pinholes only. */
  readonly pinholes: readonly Pinhole[];
  readonly transparentMark: number | null;
}

/** One problem found by `validateState`: the field's path and a sentence about it. */
export interface NatIssue {
  readonly path: string;
  readonly message: string;
}

/** Thrown by `validateState` (and so before anything is applied) with every problem found. */
export class NatStateError extends TypeError {
  readonly issues: readonly NatIssue[];
  constructor(issues: readonly NatIssue[]) {
    super(issues.map((issue) => issue.message).join('\n'));
    this.name = 'NatStateError';
    this.issues = issues;
  }
}

const LABEL_MAX = 100;

/** Quotes a value for a message: strings JSON-escaped, anything else in double quotes. */
function quote(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return `"${String(value)}"`;
  const text = JSON.stringify(value) ?? String(value);
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text);
}

/** At most `LABEL_MAX` characters and no control characters. */
function isPlainText(text: string): boolean {
  if (text.length > LABEL_MAX) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return false;
  }
  return true;
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function protocolsOf(protocol: Protocol): readonly ('tcp' | 'udp')[] {
  return protocol === 'both' ? ['tcp', 'udp'] : [protocol];
}

/** Collects issues while the fields are read. */
class Checker {
  readonly issues: NatIssue[] = [];

  invalid(path: string, value: unknown, reason: string): void {
    this.issues.push({ path, message: `Invalid ${path} ${quote(value)}: ${reason}` });
  }

  missing(path: string, reason: string): void {
    this.issues.push({ path, message: `Missing ${path}: ${reason}` });
  }

  interfaceName(path: string, value: unknown): string | null {
    if (value === undefined) {
      this.missing(path, 'an interface name is required');
      return null;
    }
    if (typeof value !== 'string' || !isInterfaceName(value)) {
      this.invalid(path, value, 'expected 1 to 15 letters, digits, "_", "=", "+", "." or "-"');
      return null;
    }
    return value;
  }

  /**
   * A unicast IPv4 address outside every subnet (a public-facing address). `shown` is the
   * field's whole value for the message, when the address is only part of it.
   */
  outsideAddress(
    path: string,
    value: unknown,
    subnets: readonly Subnet[],
    shown: unknown = value
  ): number | null {
    const address = typeof value === 'string' ? parseIPv4(value) : null;
    if (address === null) {
      this.invalid(path, shown, 'expected an IPv4 address like "203.0.113.7"');
      return null;
    }
    if (isSpecialIPv4(address)) {
      this.invalid(path, shown, 'not a unicast address (loopback, link-local or multicast)');
      return null;
    }
    const inside = subnets.find((subnet) => prefixContains(subnet.prefix, address));
    if (inside !== undefined) {
      this.invalid(path, shown, `inside the tunnel subnet "${formatSubnet(inside)}"`);
      return null;
    }
    return address;
  }

  optionalBoolean(path: string, value: unknown, fallback: boolean): boolean {
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') {
      this.invalid(path, value, 'expected true or false');
      return fallback;
    }
    return value;
  }

  array(path: string, value: unknown, what: string): readonly unknown[] {
    if (Array.isArray(value)) return value;
    if (value === undefined) this.missing(path, `a list of ${what} is required`);
    else this.invalid(path, value, `expected a list of ${what}`);
    return [];
  }

  record(path: string, value: unknown): Record<string, unknown> {
    if (isRecord(value)) return value;
    if (value === undefined) this.missing(path, 'an object is required');
    else this.invalid(path, value, 'expected an object');
    return {};
  }
}

function formatSubnet(subnet: Subnet): string {
  return formatPrefix(subnet.prefix);
}

/** The counter name of a forward: `fwd-<protocol>-<address|wan>-<ports>`. */
function counterName(protocol: Protocol, address: number | null, ports: PortRange): string {
  const where = address === null ? 'wan' : formatIPv4(address);
  return `fwd-${protocol}-${where}-${formatPortRange(ports)}`;
}

function checkSubnets(check: Checker, value: unknown): Subnet[] {
  const subnets: Subnet[] = [];
  const list = check.array('subnets', value, 'subnets');
  // Egress addresses are checked once every prefix is known.
  const pending: { path: string; value: unknown; index: number }[] = [];
  list.forEach((item, i) => {
    const path = `subnets[${i}]`;
    const record = check.record(path, item);
    const cidrText = record['cidr'];
    const parsed = typeof cidrText === 'string' ? parseCidr(cidrText) : null;
    if (cidrText === undefined) {
      check.missing(`${path}.cidr`, 'a subnet like "10.59.7.1/24" is required');
      return;
    }
    if (parsed === null) {
      check.invalid(`${path}.cidr`, cidrText, 'expected a subnet like "10.59.7.1/24"');
      return;
    }
    const { host, prefix } = parsed;
    if (prefix.length < 8 || prefix.length > 30) {
      check.invalid(`${path}.cidr`, cidrText, 'the prefix length must be from 8 to 30');
      return;
    }
    if (isSpecialIPv4(prefix.network)) {
      check.invalid(`${path}.cidr`, cidrText, 'not a unicast range');
      return;
    }
    if (host === prefixLast(prefix)) {
      check.invalid(`${path}.cidr`, cidrText, 'the address is the broadcast address');
      return;
    }
    const clash = subnets.find((other) => prefixesOverlap(other.prefix, prefix));
    if (clash !== undefined) {
      check.invalid(`${path}.cidr`, cidrText, `overlaps the subnet "${formatSubnet(clash)}"`);
      return;
    }
    const gateway = host === prefix.network ? null : host;
    const ipv6 = checkIpv6Prefix(check, `${path}.ipv6`, record['ipv6']);
    let egress: Egress = { kind: 'masquerade' };
    const egressText = record['egress'];
    if (egressText === 'none') egress = { kind: 'none' };
    else if (egressText !== undefined && egressText !== 'masquerade') {
      pending.push({ path: `${path}.egress`, value: egressText, index: subnets.length });
    }
    subnets.push({ prefix, gateway, egress, ipv6 });
  });
  for (const item of pending) {
    if (typeof item.value !== 'string' || parseIPv4(item.value) === null) {
      check.invalid(item.path, item.value, 'expected "masquerade", "none" or an IPv4 address');
      continue;
    }
    const address = check.outsideAddress(item.path, item.value, subnets);
    const subnet = subnets[item.index];
    if (address !== null && subnet !== undefined) {
      subnets[item.index] = { ...subnet, egress: { kind: 'snat', address } };
    }
  }
  return subnets.sort((a, b) => a.prefix.network - b.prefix.network);
}

/** An optional IPv6 prefix: canonical `network/length` text, or null. */
function checkIpv6Prefix(check: Checker, path: string, value: unknown): string | null {
  if (value === undefined) return null;
  const prefix = typeof value === 'string' ? parseIPv6Prefix(value) : null;
  if (prefix === null || prefix.length < 8) {
    check.invalid(path, value, 'expected an IPv6 prefix like "2001:db8:7::/64"');
    return null;
  }
  return `${prefix.network}/${prefix.length}`;
}

function checkHostEgress(check: Checker, value: unknown, subnets: readonly Subnet[]): HostEgress[] {
  if (value === undefined) return [];
  const out: HostEgress[] = [];
  check.array('hostEgress', value, 'device egress entries').forEach((item, i) => {
    const path = `hostEgress[${i}]`;
    const record = check.record(path, item);
    const source = typeof record['source'] === 'string' ? parseIPv4(record['source']) : null;
    if (source === null || !subnets.some((s) => prefixContains(s.prefix, source))) {
      check.invalid(
        `${path}.source`,
        record['source'],
        'expected a device address inside a subnet'
      );
      return;
    }
    const address = check.outsideAddress(`${path}.address`, record['address'], subnets);
    if (address !== null) out.push({ source, address });
  });
  return out;
}

function checkPinholes(check: Checker, value: unknown, subnets: readonly Subnet[]): Pinhole[] {
  if (value === undefined) return [];
  const out: Pinhole[] = [];
  check.array('pinholes', value, 'pinholes').forEach((item, i) => {
    const path = `pinholes[${i}]`;
    const record = check.record(path, item);
    const address = typeof record['address'] === 'string' ? parseIp(record['address']) : null;
    const inside = subnets.some(
      (s) => s.ipv6 !== null && address?.family === 6 && ipv6Within(s.ipv6, address.canonical)
    );
    if (address?.family !== 6 || !inside) {
      check.invalid(
        `${path}.address`,
        record['address'],
        "expected a device's IPv6 address inside a subnet's prefix"
      );
      return;
    }
    const ports = typeof record['ports'] === 'string' ? parsePortRange(record['ports']) : null;
    if (ports === null) {
      check.invalid(`${path}.ports`, record['ports'], 'expected a port or range from 1 to 65535');
      return;
    }
    const internal = record['internalPort'];
    if (
      internal !== undefined &&
      (!isPort(internal) || internal + ports.last - ports.first > 65535)
    ) {
      check.invalid(
        `${path}.internalPort`,
        internal,
        'expected a port whose range stays within 65535'
      );
      return;
    }
    const enabled = check.optionalBoolean(`${path}.enabled`, record['enabled'], true);
    if (!enabled) return;
    const clash = out.find((p) => p.address === address.canonical && rangesOverlap(p.ports, ports));
    if (clash !== undefined) {
      check.invalid(
        `${path}.ports`,
        record['ports'],
        `overlaps another pinhole of ${clash.address}`
      );
      return;
    }
    out.push({
      address: address.canonical,
      ports,
      internalPort: isPort(internal) ? internal : ports.first,
    });
  });
  return out;
}

/** True when the IPv6 `address` lies inside the prefix `prefixText`. */
function ipv6Within(prefixText: string, address: string): boolean {
  const prefix = parseIPv6Prefix(prefixText);
  return prefix !== null && ipv6PrefixContains(prefix, address);
}

function describeForward(forward: Forward, source: unknown): string {
  const protocol = forward.protocols.length === 2 ? 'tcp+udp' : forward.protocols[0];
  const label = forward.label === null ? '' : `${quote(forward.label)}, `;
  return `forwards[${forward.index}] (${label}${protocol} ${String(source)})`;
}

interface ForwardContext {
  readonly subnets: readonly Subnet[];
  readonly wanAddress: number | null;
}

function checkForward(check: Checker, item: unknown, index: number, ctx: ForwardContext) {
  const path = `forwards[${index}]`;
  const record = check.record(path, item);
  let ok = true;

  const protocol = record['protocol'];
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'both') {
    if (protocol === undefined)
      check.missing(`${path}.protocol`, 'expected "tcp", "udp" or "both"');
    else check.invalid(`${path}.protocol`, protocol, 'expected "tcp", "udp" or "both"');
    ok = false;
  }

  // source: [address:]port[-port]
  const source = record['source'];
  let address: number | null = null;
  let ports: PortRange | null = null;
  if (source === undefined) {
    check.missing(`${path}.source`, 'a public port like "443" or "203.0.113.7:443" is required');
  } else if (typeof source !== 'string') {
    check.invalid(`${path}.source`, source, 'expected a port like "443" or "203.0.113.7:443"');
  } else {
    const colon = source.lastIndexOf(':');
    const portText = colon < 0 ? source : source.slice(colon + 1);
    ports = parsePortRange(portText);
    if (ports === null) {
      check.invalid(
        `${path}.source`,
        source,
        `the port "${portText}" is not a port or range from 1 to 65535`
      );
    }
    if (colon >= 0) {
      const parsed = check.outsideAddress(
        `${path}.source`,
        source.slice(0, colon),
        ctx.subnets,
        source
      );
      if (parsed === null) ports = null;
      else address = parsed === ctx.wanAddress ? null : parsed;
    }
  }
  if (ports === null) ok = false;

  // target: address[:port]
  const target = record['target'];
  let targetAddress: number | null = null;
  let targetPort: number | null = null;
  if (target === undefined) {
    check.missing(`${path}.target`, 'a device address like "10.59.7.2:443" is required');
  } else if (typeof target !== 'string') {
    check.invalid(`${path}.target`, target, 'expected a device address like "10.59.7.2:443"');
  } else {
    const colon = target.indexOf(':');
    const addressText = colon < 0 ? target : target.slice(0, colon);
    targetAddress = parseIPv4(addressText);
    const portRange = colon < 0 ? null : parsePortRange(target.slice(colon + 1));
    if (targetAddress === null) {
      check.invalid(`${path}.target`, target, 'expected a device address like "10.59.7.2:443"');
    } else if (colon >= 0 && (portRange === null || portRange.first !== portRange.last)) {
      check.invalid(`${path}.target`, target, 'the port must be one port from 1 to 65535');
      targetAddress = null;
    } else {
      targetAddress = checkTargetAddress(check, `${path}.target`, target, targetAddress, ctx);
      targetPort = portRange === null ? (ports?.first ?? null) : portRange.first;
    }
    if (targetAddress !== null && targetPort !== null && ports !== null) {
      const lastPort = targetPort + (ports.last - ports.first);
      if (lastPort > 65535) {
        check.invalid(
          `${path}.target`,
          target,
          `the source range "${formatPortRange(ports)}" needs target ports up to ${lastPort}`
        );
        targetAddress = null;
      }
    }
  }
  if (targetAddress === null || targetPort === null) ok = false;

  const enabled = check.optionalBoolean(`${path}.enabled`, record['enabled'], true);
  const keepSource = check.optionalBoolean(`${path}.keepSource`, record['keepSource'], false);
  const label = record['label'];
  if (label !== undefined && (typeof label !== 'string' || !isPlainText(label))) {
    check.invalid(`${path}.label`, label, `expected text of at most ${LABEL_MAX} characters`);
    ok = false;
  }
  if (!ok || ports === null || targetAddress === null || targetPort === null) return null;
  const checkedProtocol = protocol as Protocol;
  return {
    index,
    label: typeof label === 'string' ? label : null,
    protocols: protocolsOf(checkedProtocol),
    address,
    ports,
    target: targetAddress,
    targetPort,
    keepSource,
    enabled,
    counter: counterName(checkedProtocol, address, ports),
  } satisfies Forward;
}

function checkTargetAddress(
  check: Checker,
  path: string,
  value: string,
  address: number,
  ctx: ForwardContext
): number | null {
  const subnet = ctx.subnets.find((s) => prefixContains(s.prefix, address));
  if (subnet === undefined) {
    const known = ctx.subnets.map((s) => `"${formatSubnet(s)}"`).join(', ');
    check.invalid(path, value, `outside every subnet (${known === '' ? 'there are none' : known})`);
    return null;
  }
  if (address === subnet.prefix.network || address === prefixLast(subnet.prefix)) {
    check.invalid(path, value, `the network or broadcast address of "${formatSubnet(subnet)}"`);
    return null;
  }
  if (address === subnet.gateway) {
    check.invalid(path, value, 'the address of the VPS itself, not of a device');
    return null;
  }
  return address;
}

function checkReserved(check: Checker, value: unknown): ReservedPort[] {
  if (value === undefined) return [];
  const reserved: ReservedPort[] = [];
  check.array('reserved', value, 'reserved ports').forEach((item, i) => {
    const path = `reserved[${i}]`;
    const record = check.record(path, item);
    const { protocol, port, name } = record;
    if (protocol !== 'tcp' && protocol !== 'udp') {
      check.invalid(`${path}.protocol`, protocol, 'expected "tcp" or "udp"');
    } else if (!isPort(port)) {
      check.invalid(`${path}.port`, port, 'expected an integer from 1 to 65535');
    } else if (typeof name !== 'string' || name === '') {
      check.invalid(`${path}.name`, name, 'expected a name like "ssh"');
    } else reserved.push({ protocol, port, name });
  });
  return reserved;
}

/** Reports enabled forwards that take the WireGuard port, a reserved port or another's ports. */
function checkClashes(
  check: Checker,
  forwards: readonly Forward[],
  sources: readonly unknown[],
  listenPort: number | null,
  reserved: readonly ReservedPort[]
): void {
  const takes = (forward: Forward, protocol: 'tcp' | 'udp', port: number) =>
    forward.protocols.includes(protocol) &&
    rangesOverlap(forward.ports, { first: port, last: port });
  const taken: Forward[] = [];
  for (const forward of forwards) {
    if (!forward.enabled) continue;
    const path = `forwards[${forward.index}].source`;
    const source = sources[forward.index];
    // WireGuard listens on every address, so the port clashes whatever the forward's address.
    if (listenPort !== null && takes(forward, 'udp', listenPort)) {
      check.invalid(path, source, `clashes with the WireGuard listen port ${listenPort}/udp`);
      continue;
    }
    const port = reserved.find((r) => takes(forward, r.protocol, r.port));
    if (port !== undefined) {
      const what = `the reserved port ${port.port}/${port.protocol} (${quote(port.name)})`;
      check.invalid(path, source, `clashes with ${what}`);
      continue;
    }
    const other = taken.find(
      (t) =>
        t.address === forward.address &&
        t.protocols.some((p) => forward.protocols.includes(p)) &&
        rangesOverlap(t.ports, forward.ports)
    );
    if (other !== undefined) {
      check.invalid(path, source, `clashes with ${describeForward(other, sources[other.index])}`);
      continue;
    }
    taken.push(forward);
  }
}

/**
 * Checks every field of `state` and returns its parsed form.
 * @throws {NatStateError} listing every problem, each naming its field
 */
export function validateState(state: NatState): NatConfig {
  const check = new Checker();
  const root = check.record('state', state as unknown);
  const wan = check.record('wan', root['wan']);
  const wireguard = check.record('wireguard', root['wireguard']);

  const tunnel = check.interfaceName('wireguard.interface', wireguard['interface']);
  const portValue = wireguard['listenPort'];
  const listenPort = isPort(portValue) ? portValue : null;
  if (listenPort === null) {
    if (portValue === undefined) check.missing('wireguard.listenPort', 'a UDP port is required');
    else check.invalid('wireguard.listenPort', portValue, 'expected an integer from 1 to 65535');
  }

  const wanInterfaces: string[] = [];
  const names = check.array('wan.interfaces', wan['interfaces'], 'interface names');
  if (Array.isArray(wan['interfaces']) && names.length === 0) {
    check.missing('wan.interfaces', 'at least one WAN interface is required');
  }
  names.forEach((value, i) => {
    const name = check.interfaceName(`wan.interfaces[${i}]`, value);
    if (name === null) return;
    if (name === tunnel) {
      check.invalid(`wan.interfaces[${i}]`, name, 'the WireGuard interface cannot be a WAN');
    } else if (wanInterfaces.includes(name)) {
      check.invalid(`wan.interfaces[${i}]`, name, 'listed twice');
    } else wanInterfaces.push(name);
  });

  const subnets = checkSubnets(check, root['subnets']);
  const wanAddress =
    wan['address'] === undefined
      ? null
      : check.outsideAddress('wan.address', wan['address'], subnets);

  const reserved = checkReserved(check, root['reserved']);

  const sources: unknown[] = [];
  const forwards: Forward[] = [];
  check.array('forwards', root['forwards'], 'forwards').forEach((item, i) => {
    sources.push(isRecord(item) ? item['source'] : undefined);
    const forward = checkForward(check, item, i, { subnets, wanAddress });
    if (forward !== null) forwards.push(forward);
  });
  checkClashes(check, forwards, sources, listenPort, reserved);
  const hostEgress = checkHostEgress(check, root['hostEgress'], subnets);
  const pinholes = checkPinholes(check, root['pinholes'], subnets);

  if (check.issues.length > 0 || tunnel === null || listenPort === null) {
    throw new NatStateError(check.issues);
  }
  const markValue = root['transparentMark'];
  let transparentMark: number | null = null;
  if (markValue !== undefined) {
    if (
      typeof markValue !== 'number' ||
      !Number.isInteger(markValue) ||
      markValue < 1 ||
      markValue > 0xffffffff
    ) {
      check.invalid('transparentMark', markValue, 'expected a 32-bit mark from 1');
    } else transparentMark = markValue;
  }
  if (check.issues.length > 0) throw new NatStateError(check.issues);
  return {
    wanInterfaces,
    wanAddress,
    tunnel,
    listenPort,
    subnets,
    forwards,
    hostEgress,
    pinholes,
    transparentMark,
  };
}
