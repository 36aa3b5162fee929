// SPDX-License-Identifier: MIT
/**
 * The PCP server (RFC 6887) on UDP 5351 of each subnet gateway address: ANNOUNCE, MAP for IPv4
 * forwards and IPv6 pinholes, the PORT_SET option (RFC 7753); NAT-PMP (RFC 6886) requests on the
 * same port are answered "unsupported version" at once, so that clients move on to PCP or UPnP
 * instead of retrying for two minutes. It mirrors StartTunnel's server
 * (https://github.com/Start9Labs/start-technologies/blob/master/shared-libs/crates/start-core/src/net/port_map/server/mod.rs)
 * with RFC 6887's checks added: the PCP client address must be the source (§8.3), mandatory
 * options it does not process are refused (§7.3), a PORT_SET must start at the internal port
 * (RFC 7753 §4).
 *
 * A device only maps its own address: the internal address is always the datagram's source.
 * Every answer is built from the request alone and the host's answers; nothing here throws.
 * @module
 */

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { parseIp } from '@start-tunnel/protocol';
import {
  type Bound,
  type GuardedHost,
  type KeyedQueue,
  MapError,
  type MapErrorCode,
  type MapProtocol,
} from './portmap-host.ts';

/** The PCP (and NAT-PMP) server port (RFC 6887 §19.1). */
export const PCP_PORT = 5351;
/** The longest lifetime granted (seconds); StartTunnel's cap. */
export const PCP_MAX_LIFETIME_SEC = 3600;
/** The largest PORT_SET granted. */
export const PCP_MAX_PORT_SET = 1024;

const PCP_VERSION = 2;
const NATPMP_VERSION = 0;
const RESPONSE_BIT = 0x80;
const OPCODE_ANNOUNCE = 0;
const OPCODE_MAP = 1;
/** RFC 6887 §7.1: the common header. */
const HEADER_SIZE = 24;
/** RFC 6887 §11.1: the header and the 36 bytes of MAP. */
const MAP_SIZE = 60;
/** RFC 6887 §7: no PCP message is longer. */
const MAX_MESSAGE_SIZE = 1100;
/** How long a client should expect the same error (RFC 6887 §7.2); short, since a user may fix it. */
const ERROR_LIFETIME_SEC = 30;
/** RFC 7753 §4. */
const OPTION_PORT_SET = 130;
/** RFC 6887 §7.3: codes 0–127 are mandatory to process. */
const OPTIONAL_OPTIONS_FROM = 128;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** RFC 6887 §7.4. */
export const PcpResult = {
  SUCCESS: 0,
  UNSUPP_VERSION: 1,
  NOT_AUTHORIZED: 2,
  MALFORMED_REQUEST: 3,
  UNSUPP_OPCODE: 4,
  UNSUPP_OPTION: 5,
  MALFORMED_OPTION: 6,
  NETWORK_FAILURE: 7,
  NO_RESOURCES: 8,
  UNSUPP_PROTOCOL: 9,
  USER_EX_QUOTA: 10,
  CANNOT_PROVIDE_EXTERNAL: 11,
  ADDRESS_MISMATCH: 12,
  EXCESSIVE_REMOTE_PEERS: 13,
} as const;

/** RFC 6886 §3.5. */
const NATPMP_UNSUPPORTED_VERSION = 1;

/** What `answerPcp` needs beyond the datagram. */
export interface PcpContext {
  readonly host: GuardedHost;
  /** Seconds since the server started: the epoch of RFC 6887 §8.5 and RFC 6886 §3.6. */
  epoch(): number;
  readonly log: (line: string) => void;
}

/** A MAP request's fields (RFC 6887 §11.1) and options. */
interface MapFields {
  lifetime: number;
  protocol: number;
  internalPort: number;
  externalPort: number;
  portSet: { size: number; firstInternalPort: number; parity: boolean } | null;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A response header (RFC 6887 §7.2) in a buffer of `size` bytes. */
function header(
  opcode: number,
  result: number,
  lifetime: number,
  epoch: number,
  size = HEADER_SIZE
) {
  const out = new Uint8Array(size);
  const v = view(out);
  out[0] = PCP_VERSION;
  out[1] = RESPONSE_BIT | (opcode & 0x7f);
  out[3] = result;
  v.setUint32(4, lifetime >>> 0);
  v.setUint32(8, epoch >>> 0);
  return out;
}

/**
 * A MAP response (RFC 6887 §11.1): the nonce, protocol and internal port echoed, the assigned
 * external port and address (IPv4 as an IPv4-mapped IPv6 address, RFC 6887 §5), then options.
 */
function mapResponse(
  request: Uint8Array,
  result: number,
  lifetime: number,
  epoch: number,
  external: { port: number; address: Uint8Array | null },
  options: Uint8Array[] = []
): Uint8Array {
  const size = MAP_SIZE + options.reduce((n, o) => n + o.length, 0);
  const out = header(OPCODE_MAP, result, lifetime, epoch, size);
  out.set(request.subarray(24, 37), 24); // nonce, protocol
  out.set(request.subarray(40, 42), 40); // internal port
  view(out).setUint16(42, external.port);
  if (external.address) out.set(external.address, 44);
  let at = MAP_SIZE;
  for (const option of options) {
    out.set(option, at);
    at += option.length;
  }
  return out;
}

/** The 16-byte form of an address (RFC 6887 §5): IPv4 as `::ffff:a.b.c.d`. */
function addressBytes(address: string): Uint8Array | null {
  const ip = parseIp(address);
  if (!ip) return null;
  if (ip.family === 6) return ip.bytes;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(ip.bytes, 12);
  return out;
}

/** RFC 7753 §4: size, first internal port, then the parity bit; padded to 8 bytes. */
function portSetOption(size: number, firstInternalPort: number, parity: boolean): Uint8Array {
  const out = new Uint8Array(12);
  const v = view(out);
  out[0] = OPTION_PORT_SET;
  v.setUint16(2, 5);
  v.setUint16(4, size);
  v.setUint16(6, firstInternalPort);
  out[8] = parity ? 1 : 0;
  return out;
}

/** The options of a MAP request (RFC 6887 §7.3), or the result code that refuses them. */
function parseOptions(message: Uint8Array): MapFields['portSet'] | number {
  const v = view(message);
  let portSet: MapFields['portSet'] = null;
  let at = MAP_SIZE;
  while (at < message.length) {
    if (message.length - at < 4) return PcpResult.MALFORMED_OPTION;
    const code = message[at]!;
    const length = v.getUint16(at + 2);
    const data = at + 4;
    if (data + length > message.length) return PcpResult.MALFORMED_OPTION;
    if (code === OPTION_PORT_SET) {
      // RFC 7753 §4: length 5, at most once, a size of 0 is malformed
      if (length !== 5 || portSet) return PcpResult.MALFORMED_OPTION;
      const size = v.getUint16(data);
      if (size === 0) return PcpResult.MALFORMED_OPTION;
      portSet = {
        size,
        firstInternalPort: v.getUint16(data + 2),
        parity: (message[data + 4]! & 1) === 1,
      };
    } else if (code < OPTIONAL_OPTIONS_FROM) {
      // THIRD_PARTY, PREFER_FAILURE, FILTER and unknown mandatory options are not processed:
      // a device maps only itself, and the host decides the external port
      return PcpResult.UNSUPP_OPTION;
    }
    // options are padded to a multiple of 4; a last option may come without its padding
    at = data + length + ((4 - (length % 4)) % 4);
  }
  return portSet;
}

function pcpResultOf(code: MapErrorCode): number {
  switch (code) {
    case 'NOT_AUTHORIZED':
      return PcpResult.NOT_AUTHORIZED;
    case 'CONFLICT':
    case 'CANNOT_PROVIDE_EXTERNAL':
      return PcpResult.CANNOT_PROVIDE_EXTERNAL;
    default:
      return PcpResult.NO_RESOURCES;
  }
}

/** RFC 6886 §3.5: version 0, the request's opcode + 128, result 1 (Unsupported Version), epoch. */
function natPmpUnsupported(opcode: number, epoch: number): Uint8Array {
  const out = new Uint8Array(8);
  const v = view(out);
  out[0] = NATPMP_VERSION;
  out[1] = RESPONSE_BIT | (opcode & 0x7f);
  v.setUint16(2, NATPMP_UNSUPPORTED_VERSION);
  v.setUint32(4, epoch >>> 0);
  return out;
}

/**
 * The answer to one datagram from `source` (null: stay silent). Silent for what is too short to
 * answer, for responses (R bit set) and for NAT-PMP from a device that may not map.
 * @param message the datagram
 * @param source its source address (the device)
 * @param ctx the host, the epoch and the log
 * @returns the response datagram, or null
 * @example
 * const reply = await answerPcp(datagram, '10.59.0.2', ctx);
 */
export async function answerPcp(
  message: Uint8Array,
  source: string,
  ctx: PcpContext
): Promise<Uint8Array | null> {
  if (message.length < 2 || (message[1]! & RESPONSE_BIT) !== 0) return null;
  const epoch = ctx.epoch();
  const opcode = message[1]! & 0x7f;
  if (message[0] === NATPMP_VERSION) {
    // a NAT-PMP reply is longer than the shortest request: only to devices, not to a spoofed source
    return ctx.host.authorize(source) ? natPmpUnsupported(opcode, epoch) : null;
  }
  if (message.length < HEADER_SIZE) return null;
  if (message[0] !== PCP_VERSION)
    return header(opcode, PcpResult.UNSUPP_VERSION, ERROR_LIFETIME_SEC, epoch);
  if (message.length > MAX_MESSAGE_SIZE) {
    return header(opcode, PcpResult.MALFORMED_REQUEST, ERROR_LIFETIME_SEC, epoch);
  }
  // RFC 6887 §14.1: ANNOUNCE, for anyone; a zero lifetime
  if (opcode === OPCODE_ANNOUNCE) return header(opcode, PcpResult.SUCCESS, 0, epoch);
  if (opcode !== OPCODE_MAP)
    return header(opcode, PcpResult.UNSUPP_OPCODE, ERROR_LIFETIME_SEC, epoch);
  if (message.length < MAP_SIZE) {
    return header(opcode, PcpResult.MALFORMED_REQUEST, ERROR_LIFETIME_SEC, epoch);
  }
  return answerMap(message, source, ctx, epoch);
}

async function answerMap(
  message: Uint8Array,
  source: string,
  ctx: PcpContext,
  epoch: number
): Promise<Uint8Array> {
  const v = view(message);
  const suggested = { port: v.getUint16(42), address: message.slice(44, 60) };
  const refuse = (result: number) =>
    mapResponse(message, result, ERROR_LIFETIME_SEC, epoch, suggested);
  const auth = ctx.host.authorize(source);
  if (!auth) return refuse(PcpResult.NOT_AUTHORIZED);
  const sourceBytes = addressBytes(source);
  // RFC 6887 §8.3: a NAT between client and server would map the wrong host
  if (!sourceBytes?.every((b, i) => b === message[8 + i])) {
    return refuse(PcpResult.ADDRESS_MISMATCH);
  }
  const portSet = parseOptions(message);
  if (typeof portSet === 'number') return refuse(portSet);
  const fields: MapFields = {
    lifetime: v.getUint32(4),
    protocol: message[36]!,
    internalPort: v.getUint16(40),
    externalPort: suggested.port,
    portSet,
  };
  // protocol 0 (all) goes with internal port 0 (all ports), which is not offered
  if (fields.protocol === 0 || fields.internalPort === 0)
    return refuse(PcpResult.MALFORMED_REQUEST);
  if (fields.protocol !== IPPROTO_TCP && fields.protocol !== IPPROTO_UDP) {
    return refuse(PcpResult.UNSUPP_PROTOCOL);
  }
  if (portSet && portSet.firstInternalPort !== fields.internalPort) {
    return refuse(PcpResult.MALFORMED_OPTION);
  }
  // the Suggested External Address is a hint (RFC 6887 §11.3): the source's family decides
  const family: 4 | 6 = source.includes(':') ? 6 : 4;
  const device = family === 6 ? (auth.gua ?? source) : auth.device;
  const protocol: MapProtocol = fields.protocol === IPPROTO_TCP ? 'tcp' : 'udp';
  if (fields.lifetime === 0)
    return deleteMapping(message, ctx, epoch, { device, family, protocol, fields });
  const externalIp = family === 4 ? ctx.host.externalIp(device) : device;
  if (externalIp === null) return refuse(PcpResult.CANNOT_PROVIDE_EXTERNAL);
  const count = portSet ? Math.min(portSet.size, PCP_MAX_PORT_SET) : 1;
  try {
    const granted = await ctx.host.map({
      device,
      family,
      protocol,
      internalPort: fields.internalPort,
      externalPort: fields.externalPort,
      count,
      lifetimeSec: Math.min(fields.lifetime, PCP_MAX_LIFETIME_SEC),
      description: 'PCP',
      via: 'pcp',
    });
    const options = portSet
      ? [portSetOption(granted.count, fields.internalPort, portSet.parity)]
      : [];
    return mapResponse(
      message,
      PcpResult.SUCCESS,
      granted.lifetimeSec,
      epoch,
      { port: granted.externalPort, address: addressBytes(granted.externalIp) },
      options
    );
  } catch (err) {
    return refuse(pcpResultOf((err as MapError).code));
  }
}

/** RFC 6887 §15: lifetime 0 deletes; deleting what is not there succeeds. */
async function deleteMapping(
  message: Uint8Array,
  ctx: PcpContext,
  epoch: number,
  req: { device: string; family: 4 | 6; protocol: MapProtocol; fields: MapFields }
): Promise<Uint8Array> {
  const { fields } = req;
  let result: number = PcpResult.SUCCESS;
  try {
    await ctx.host.unmap({
      device: req.device,
      family: req.family,
      protocol: req.protocol,
      internalPort: fields.internalPort,
      via: 'pcp',
    });
  } catch (err) {
    const code = err instanceof MapError ? err.code : 'NO_RESOURCES';
    if (code !== 'NOT_FOUND') result = pcpResultOf(code);
  }
  const externalIp = req.family === 4 ? ctx.host.externalIp(req.device) : req.device;
  const external = {
    port: fields.externalPort || fields.internalPort,
    address: externalIp ? addressBytes(externalIp) : null,
  };
  const options =
    result === PcpResult.SUCCESS && fields.portSet
      ? [portSetOption(fields.portSet.size, fields.internalPort, fields.portSet.parity)]
      : [];
  const lifetime = result === PcpResult.SUCCESS ? 0 : ERROR_LIFETIME_SEC;
  return mapResponse(message, result, lifetime, epoch, external, options);
}

/** What `bindPcp` needs: `answerPcp`'s context and the per-device queue. */
export interface PcpSocketContext extends PcpContext {
  /** One MAP at a time per device; a datagram that finds its device busy is dropped. */
  readonly queue: KeyedQueue;
}

/**
 * Binds a PCP socket on `address:port` (IPv4 or IPv6, never a wildcard) and answers what
 * arrives there. A device with a MAP in progress has its next datagrams dropped until the
 * answer is sent (clients retransmit, RFC 6887 §8.1.1).
 * @returns the bound socket's handle
 */
export async function bindPcp(
  address: string,
  port: number,
  ctx: PcpSocketContext
): Promise<Bound> {
  const socket: Socket = address.includes(':')
    ? createSocket({ type: 'udp6', ipv6Only: true })
    : createSocket({ type: 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', (err) => ctx.log(`pcp: ${address}: ${err.message}`));
  socket.on('message', (message: Buffer, from: RemoteInfo) => {
    const task = ctx.queue.tryRun(from.address, () => answerPcp(message, from.address, ctx));
    if (!task) return;
    task.then(
      (reply) => {
        if (reply) socket.send(reply, from.port, from.address, () => {});
      },
      (err) => ctx.log(`pcp: ${(err as Error)?.message ?? String(err)}`)
    );
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        try {
          socket.close(() => resolve());
        } catch {
          resolve();
        }
      }),
  };
}
