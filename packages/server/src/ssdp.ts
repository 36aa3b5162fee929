// SPDX-License-Identifier: MIT
/**
 * The SSDP responder of the tunnel's Internet Gateway Device (UPnP Device Architecture 1.1 §1.3):
 * it answers an M-SEARCH whose ST is `ssdp:all`, `upnp:rootdevice` or names the
 * InternetGatewayDevice, a WANConnectionDevice or WANIPConnection, with the LOCATION of
 * `/rootDesc.xml` on the subnet's gateway address, as StartTunnel's responder does
 * (https://github.com/Start9Labs/start-technologies/blob/master/shared-libs/crates/start-core/src/tunnel/forward/igd.rs).
 *
 * Binding: nothing listens on 0.0.0.0:1900. Each IPv4 gateway gets two sockets on the SSDP port:
 * - one bound to the multicast group 239.255.255.250 (SO_REUSEADDR, so that the gateways' group
 *   sockets and another responder on the host can share it) that joins the group on the
 *   gateway's address. Linux delivers a group datagram to every socket bound to the group and
 *   port, whatever interface it came in on, so each datagram is answered by one socket only: the
 *   one whose gateway shares the longest prefix with the sender;
 * - one bound to the gateway's own address, for unicast M-SEARCH (UDA 1.1 §1.3.2).
 * Only devices allowed to forward are answered (a response is longer than a request: no
 * reflection for a spoofed source). Nothing here throws.
 * @module
 */

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { ipv4ToNumber } from '@start-tunnel/protocol';
import type { Bound, GuardedHost } from './portmap-host.ts';
import {
  IGD_DEVICE,
  type IgdIdentity,
  ROOT_DESC_PATH,
  SERVER_HEADER,
  WAN_CONNECTION_DEVICE,
  WANIP_SERVICE,
} from './portmap-igd.ts';

/** The SSDP port (UDA 1.1 §1.1.2). */
export const SSDP_PORT = 1900;
/** The SSDP multicast group (UDA 1.1 §1.1.2). */
export const SSDP_GROUP = '239.255.255.250';
/** An M-SEARCH longer than this is not read. */
const MAX_SEARCH_BYTES = 2048;
/** UDA 1.1 §1.2.2: how long a response may be cached (StartTunnel's value). */
const MAX_AGE_SEC = 1800;

/** One response's search target and unique service name. */
export interface SearchAnswer {
  st: string;
  usn: string;
}

/**
 * The ST of an M-SEARCH request (UDA 1.1 §1.3.2), or null when it is not one: the request line
 * `M-SEARCH * HTTP/1.1`, `MAN: "ssdp:discover"` and one ST.
 * @example
 * parseMSearch('M-SEARCH * HTTP/1.1\r\nMAN: "ssdp:discover"\r\nST: ssdp:all\r\n\r\n'); // 'ssdp:all'
 */
export function parseMSearch(text: string): string | null {
  const lines = text.split(/\r?\n/);
  if (lines[0]?.trim() !== 'M-SEARCH * HTTP/1.1') return null;
  let man: string | null = null;
  let st: string | null = null;
  for (const line of lines.slice(1)) {
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'man') man = value;
    else if (name === 'st') {
      if (st !== null) return null;
      st = value;
    }
  }
  if (man !== '"ssdp:discover"' || !st) return null;
  return st;
}

/**
 * What to answer a search target with: nothing when it does not concern the gateway.
 * @example
 * searchAnswer('upnp:rootdevice', identity); // { st: 'upnp:rootdevice', usn: 'uuid:…::upnp:rootdevice' }
 */
export function searchAnswer(st: string, identity: IgdIdentity): SearchAnswer | null {
  const of = (uuid: string, type: string) => ({ st: type, usn: `uuid:${uuid}::${type}` });
  if (st === 'ssdp:all' || st.includes('InternetGatewayDevice'))
    return of(identity.root, IGD_DEVICE);
  if (st === 'upnp:rootdevice') return of(identity.root, 'upnp:rootdevice');
  if (st.includes('WANConnectionDevice')) return of(identity.connection, WAN_CONNECTION_DEVICE);
  if (st.includes('WANIPConnection')) return of(identity.connection, WANIP_SERVICE);
  return null;
}

/**
 * The response to an M-SEARCH (UDA 1.1 §1.3.3).
 * @param location the URL of the root description
 * @param bootId BOOTID.UPNP.ORG: changes when the server restarts
 */
export function searchResponse(location: string, answer: SearchAnswer, bootId: number): string {
  return (
    'HTTP/1.1 200 OK\r\n' +
    `CACHE-CONTROL: max-age=${MAX_AGE_SEC}\r\n` +
    'EXT:\r\n' +
    `LOCATION: ${location}\r\n` +
    `SERVER: ${SERVER_HEADER}\r\n` +
    `ST: ${answer.st}\r\n` +
    `USN: ${answer.usn}\r\n` +
    `BOOTID.UPNP.ORG: ${bootId}\r\n` +
    'CONFIGID.UPNP.ORG: 1\r\n' +
    '\r\n'
  );
}

/**
 * Of `gateways` (IPv4), the one sharing the longest prefix with `source`: the gateway of the
 * device's subnet. Null when `source` is not IPv4 or there is no gateway.
 */
export function closestGateway(source: string, gateways: readonly string[]): string | null {
  const s = ipv4ToNumber(source);
  if (s === null) return null;
  let best: string | null = null;
  let bestLength = -1;
  for (const gateway of gateways) {
    const g = ipv4ToNumber(gateway);
    if (g === null) continue;
    const length = Math.clz32((s ^ g) >>> 0);
    if (length > bestLength) {
      best = gateway;
      bestLength = length;
    }
  }
  return best;
}

/** What the SSDP sockets need. */
export interface SsdpContext {
  readonly host: GuardedHost;
  readonly identity: IgdIdentity;
  /** The HTTP port of the descriptions. */
  readonly httpPort: number;
  readonly bootId: number;
  readonly log: (line: string) => void;
  /** The gateways whose group socket is bound now (for `closestGateway`). */
  groupGateways(): string[];
}

/** The response to send to `from` for a datagram, or null. */
function answer(
  message: Buffer,
  from: RemoteInfo,
  gateway: string,
  ctx: SsdpContext
): string | null {
  if (message.length > MAX_SEARCH_BYTES) return null;
  const st = parseMSearch(message.toString('latin1'));
  if (st === null) return null;
  const found = searchAnswer(st, ctx.identity);
  if (!found || !ctx.host.authorize(from.address)) return null;
  const location = `http://${gateway}:${ctx.httpPort}${ROOT_DESC_PATH}`;
  return searchResponse(location, found, ctx.bootId);
}

function open(socket: Socket, address: string, port: number, exclusive: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port, exclusive }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function handle(socket: Socket, address: string, ctx: SsdpContext): Bound {
  socket.on('error', (err) => ctx.log(`ssdp: ${address}: ${err.message}`));
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

/**
 * Binds `gateway:port` (unicast M-SEARCH) and answers with that gateway's LOCATION.
 * @example
 * const bound = await bindSsdp('10.59.0.1', SSDP_PORT, ctx);
 */
export async function bindSsdp(gateway: string, port: number, ctx: SsdpContext): Promise<Bound> {
  const socket = createSocket({ type: 'udp4' });
  await open(socket, gateway, port, true);
  socket.on('message', (message: Buffer, from: RemoteInfo) => {
    const reply = answer(message, from, gateway, ctx);
    if (reply) socket.send(reply, from.port, from.address, () => {});
  });
  return handle(socket, gateway, ctx);
}

/**
 * Binds the SSDP group on `port` (shared, SO_REUSEADDR), joins it on `gateway`'s interface and
 * answers the datagrams whose sender is closest to `gateway`.
 * @example
 * const bound = await bindSsdpGroup('10.59.0.1', SSDP_PORT, ctx);
 */
export async function bindSsdpGroup(
  gateway: string,
  port: number,
  ctx: SsdpContext
): Promise<Bound> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  await open(socket, SSDP_GROUP, port, false);
  try {
    socket.addMembership(SSDP_GROUP, gateway);
  } catch (err) {
    socket.close();
    throw err;
  }
  socket.on('message', (message: Buffer, from: RemoteInfo) => {
    if (closestGateway(from.address, ctx.groupGateways()) !== gateway) return;
    const reply = answer(message, from, gateway, ctx);
    if (reply) socket.send(reply, from.port, from.address, () => {});
  });
  return handle(socket, `${SSDP_GROUP} on ${gateway}`, ctx);
}
