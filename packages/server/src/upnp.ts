// SPDX-License-Identifier: MIT
/**
 * The UPnP Internet Gateway Device's HTTP side on TCP 49001 of each IPv4 subnet gateway: the
 * description documents and the SOAP control endpoint of WANIPConnection:1 (UPnP IGD:1,
 * WANIPConnection:1 §2.4; AddAnyPortMapping of WANIPConnection:2 §2.5.16) and
 * WANCommonInterfaceConfig:1's GetCommonLinkProperties, as StartTunnel serves them
 * (https://github.com/Start9Labs/start-technologies/blob/master/shared-libs/crates/start-core/src/net/port_map/server/igd.rs).
 *
 * A device maps only itself: NewInternalClient is ignored, the internal client is the TCP peer.
 * Everything but GetExternalIPAddress (and the documents needed to find it) answers only devices
 * allowed to forward (606). Every request needs a Host header that is an IP literal (else 403:
 * a browser on a rebound DNS name cannot drive the gateway), a mutating action a SOAPAction
 * header (else 403: a plain cross-site form cannot send one). Bodies are bounded (16 KiB), a
 * request must arrive within 10 s, the host answer within 20 s (`guardHost`); connections are capped.
 * @module
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { parseIp } from '@start-tunnel/protocol';
import type {
  Bound,
  GuardedHost,
  KeyedQueue,
  MapError,
  MapErrorCode,
  MapResult,
  PortMapping,
} from './portmap-host.ts';
import {
  CONTROL_PATH,
  type IgdIdentity,
  parseSoap,
  ROOT_DESC_PATH,
  rootDescription,
  SERVER_HEADER,
  type SoapCall,
  soapFault,
  soapResponse,
  WAN_COMMON_SCPD,
  WAN_COMMON_SCPD_PATH,
  WANIP_SCPD,
  WANIP_SCPD_PATH,
} from './portmap-igd.ts';

/** The HTTP port of the descriptions and the control endpoint (StartTunnel's). */
export const UPNP_HTTP_PORT = 49001;
/** The longest lease granted (seconds); 0 is permanent (WANIPConnection:1 §2.2.24). */
export const UPNP_MAX_LEASE_SEC = 604_800;
export const UPNP_MAX_BODY_BYTES = 16 * 1024;
export const UPNP_REQUEST_TIMEOUT_MS = 10_000;
export const UPNP_MAX_CONNECTIONS = 64;
const MAX_HEADER_BYTES = 8 * 1024;
const KEEP_ALIVE_TIMEOUT_MS = 2_000;
const IDLE_TIMEOUT_MS = 30_000;
/** miniupnpd's bound on descriptions. */
const MAX_DESCRIPTION_LENGTH = 64;
const MUTATING = new Set(['AddPortMapping', 'AddAnyPortMapping', 'DeletePortMapping']);

/** What the HTTP side needs. */
export interface UpnpContext {
  readonly host: GuardedHost;
  readonly identity: IgdIdentity;
  /** Seconds since the server started (GetStatusInfo's uptime). */
  epoch(): number;
  readonly log: (line: string) => void;
  /** Mutations of one device, one at a time. */
  readonly queue: KeyedQueue;
  /** Open connections across every gateway's server. */
  readonly connections: { open: number };
  readonly maxConnections: number;
  readonly requestTimeoutMs: number;
}

/** A control answer: an action response (200) or a fault (500). */
export type ControlAnswer = { status: 200 | 500; body: string };

const ok = (action: string, args: readonly (readonly [string, string | number])[] = []) =>
  ({ status: 200, body: soapResponse(action, args) }) as const;
const fault = (code: number) => ({ status: 500, body: soapFault(code) }) as const;

function faultOf(code: MapErrorCode): number {
  switch (code) {
    case 'CONFLICT':
      return 718;
    case 'NOT_AUTHORIZED':
      return 606;
    case 'NOT_FOUND':
      return 714;
    default:
      return 501;
  }
}

/** A port argument: 0–65535 in decimal, or null. */
function port(value: string | undefined): number | null {
  if (value === undefined || !/^[0-9]{1,5}$/.test(value)) return null;
  const n = Number(value);
  return n <= 65_535 ? n : null;
}

function protocolOf(value: string | undefined): 'tcp' | 'udp' | null {
  const p = value?.toUpperCase();
  return p === 'TCP' ? 'tcp' : p === 'UDP' ? 'udp' : null;
}

/** A description as a label: no control or bidirectional formatting characters, bounded. */
function descriptionOf(value: string | undefined): string {
  const clean = (value ?? '')
    .replace(/[\p{Cc}\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, ' ')
    .trim();
  return clean === '' ? 'UPnP' : [...clean].slice(0, MAX_DESCRIPTION_LENGTH).join('');
}

function entryArgs(m: PortMapping, device: string): [string, string | number][] {
  return [
    ['NewInternalPort', m.internalPort],
    ['NewInternalClient', device],
    ['NewEnabled', 1],
    ['NewPortMappingDescription', m.description],
    // leases are the host's; StartTunnel reports 0
    ['NewLeaseDuration', 0],
  ];
}

/**
 * The answer to one control request from `source`.
 * @param call the parsed SOAP request
 * @param source the TCP peer's address
 * @example
 * await answerControl({ action: 'GetExternalIPAddress', args: new Map() }, '10.59.0.2', ctx);
 */
export async function answerControl(
  call: SoapCall,
  source: string,
  ctx: UpnpContext
): Promise<ControlAnswer> {
  const { action, args } = call;
  const auth = ctx.host.authorize(source);
  if (action === 'GetExternalIPAddress') {
    const ip = ctx.host.externalIp(auth?.device ?? source);
    return ip ? ok(action, [['NewExternalIPAddress', ip]]) : fault(501);
  }
  const known = [
    'GetStatusInfo',
    'GetConnectionTypeInfo',
    'GetNATRSIPStatus',
    'GetCommonLinkProperties',
    'GetSpecificPortMappingEntry',
    'GetGenericPortMappingEntry',
    ...MUTATING,
  ];
  if (!known.includes(action)) return fault(401);
  if (!auth) return fault(606);
  const device = auth.device;
  switch (action) {
    case 'GetStatusInfo':
      return ok(action, [
        ['NewConnectionStatus', 'Connected'],
        ['NewLastConnectionError', 'ERROR_NONE'],
        ['NewUptime', ctx.epoch()],
      ]);
    case 'GetConnectionTypeInfo':
      return ok(action, [
        ['NewConnectionType', 'IP_Routed'],
        ['NewPossibleConnectionTypes', 'IP_Routed'],
      ]);
    case 'GetNATRSIPStatus':
      return ok(action, [
        ['NewRSIPAvailable', 0],
        ['NewNATEnabled', 1],
      ]);
    case 'GetCommonLinkProperties':
      // the link's rates are not known: 0 (WANCommonInterfaceConfig:1 §2.2.3)
      return ok(action, [
        ['NewWANAccessType', 'Ethernet'],
        ['NewLayer1UpstreamMaxBitRate', 0],
        ['NewLayer1DownstreamMaxBitRate', 0],
        ['NewPhysicalLinkStatus', 'Up'],
      ]);
    case 'GetGenericPortMappingEntry': {
      const index = args.get('NewPortMappingIndex');
      if (index === undefined || !/^[0-9]{1,5}$/.test(index)) return fault(402);
      const m = ctx.host.mappings(device).filter((e) => e.enabled)[Number(index)];
      if (!m) return fault(713);
      return ok(action, [
        ['NewRemoteHost', ''],
        ['NewExternalPort', m.externalPort],
        ['NewProtocol', m.protocol.toUpperCase()],
        ...entryArgs(m, device),
      ]);
    }
    case 'GetSpecificPortMappingEntry': {
      const key = mappingKey(args);
      if (typeof key === 'number') return fault(key);
      const m = find(ctx.host.mappings(device), key, true);
      return m ? ok(action, entryArgs(m, device)) : fault(714);
    }
    case 'DeletePortMapping':
      return ctx.queue.run(device, () => deleteMapping(args, device, ctx));
    default:
      return ctx.queue.run(device, () => addMapping(action, args, device, ctx));
  }
}

/** NewRemoteHost, NewExternalPort, NewProtocol; a remote host is never in an entry (714). */
function mappingKey(
  args: ReadonlyMap<string, string>
): { port: number; protocol: 'tcp' | 'udp' } | number {
  const externalPort = port(args.get('NewExternalPort'));
  const protocol = protocolOf(args.get('NewProtocol'));
  if (externalPort === null || protocol === null) return 402;
  if ((args.get('NewRemoteHost') ?? '') !== '') return 714;
  return { port: externalPort, protocol };
}

function find(
  list: PortMapping[],
  key: { port: number; protocol: 'tcp' | 'udp' },
  enabledOnly: boolean
): PortMapping | undefined {
  return list.find(
    (m) => m.externalPort === key.port && m.protocol === key.protocol && (m.enabled || !enabledOnly)
  );
}

async function deleteMapping(
  args: ReadonlyMap<string, string>,
  device: string,
  ctx: UpnpContext
): Promise<ControlAnswer> {
  const key = mappingKey(args);
  if (typeof key === 'number') return fault(key);
  // owner-scoped: another device's mapping is "no such entry", never revealed
  if (!find(ctx.host.mappings(device), key, false)) return fault(714);
  const request = { device, family: 4 as const, protocol: key.protocol, externalPort: key.port };
  try {
    await ctx.host.unmap({ ...request, via: 'upnp' });
  } catch (err) {
    return fault(faultOf((err as MapError).code));
  }
  return ok('DeletePortMapping');
}

/** AddPortMapping (WANIPConnection:1 §2.4.16) and AddAnyPortMapping (WANIPConnection:2 §2.5.16). */
async function addMapping(
  action: string,
  args: ReadonlyMap<string, string>,
  device: string,
  ctx: UpnpContext
): Promise<ControlAnswer> {
  const any = action === 'AddAnyPortMapping';
  const externalPort = port(args.get('NewExternalPort'));
  const internalPort = port(args.get('NewInternalPort'));
  const protocol = protocolOf(args.get('NewProtocol'));
  const lease = args.get('NewLeaseDuration') ?? '0';
  const enabled = (args.get('NewEnabled') ?? '1').toLowerCase();
  if (externalPort === null || !internalPort || protocol === null) return fault(402);
  if (!/^[0-9]{1,10}$/.test(lease) || Number(lease) > 0xffff_ffff) return fault(402);
  // a disabled mapping cannot be made: the host makes working ones
  if (!['1', 'true', 'yes'].includes(enabled)) return fault(402);
  // only the wildcard remote host (WANIPConnection:1 §2.2.22)
  if ((args.get('NewRemoteHost') ?? '') !== '') return fault(726);
  if (externalPort === 0 && !any) return fault(716);
  let granted: MapResult;
  try {
    granted = await ctx.host.map({
      device,
      family: 4,
      protocol,
      internalPort,
      externalPort: externalPort || internalPort,
      count: 1,
      lifetimeSec: Math.min(Number(lease), UPNP_MAX_LEASE_SEC),
      description: descriptionOf(args.get('NewPortMappingDescription')),
      via: 'upnp',
    });
  } catch (err) {
    return fault(faultOf((err as MapError).code));
  }
  if (!any && granted.externalPort !== externalPort) {
    // AddPortMapping names its port: another one is no answer
    await ctx.host
      .unmap({ device, family: 4, protocol, externalPort: granted.externalPort, via: 'upnp' })
      .catch(() => {});
    return fault(718);
  }
  return any ? ok(action, [['NewReservedPort', granted.externalPort]]) : ok(action);
}

/**
 * Whether a Host field value is an IP literal with an optional port (RFC 3986 §3.2.2): the
 * DNS rebinding defence.
 */
export function isIpLiteralHost(value: string): boolean {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[0-9.]+)(?::([0-9]{1,5}))?$/.exec(value);
  if (!match) return false;
  if (match[2] !== undefined && Number(match[2]) > 65_535) return false;
  return parseIp(match[1]!) !== null;
}

/** The SOAPAction field's action name (`"service#Action"`, UDA 1.0 §3.2.1), or null. */
function soapActionOf(value: string | undefined): string | null {
  if (value === undefined) return null;
  const hash = value.lastIndexOf('#');
  return hash < 0 ? null : value.slice(hash + 1).replace(/"\s*$/, '');
}

function send(res: ServerResponse, status: number, body: string, close = false): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'content-type': body.startsWith('<?xml')
      ? 'text/xml; charset="utf-8"'
      : 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    server: SERVER_HEADER,
    ext: '',
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

/** Reads at most `limit` bytes of body; null when it is longer or the request aborts. */
function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      resolve(null);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(null));
    req.on('aborted', () => resolve(null));
  });
}

async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: UpnpContext,
  documents: Readonly<Record<string, string>>
) {
  const hosts = req.headersDistinct['host'];
  if (hosts?.length !== 1 || !isIpLiteralHost(hosts[0]!)) {
    send(res, 403, 'Host must be an IP address\n', true);
    return;
  }
  const path = (req.url ?? '').split('?')[0];
  if (path !== undefined && Object.hasOwn(documents, path)) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, 'Method not allowed\n', true);
    } else send(res, 200, documents[path]!);
    return;
  }
  if (path !== CONTROL_PATH) {
    send(res, 404, 'Not found\n', true);
    return;
  }
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    send(res, 405, 'Method not allowed\n', true);
    return;
  }
  const body = await readBody(req, UPNP_MAX_BODY_BYTES);
  if (body === null) {
    send(res, 413, 'Body too large\n', true);
    return;
  }
  const call = parseSoap(body);
  const header = req.headersDistinct['soapaction'];
  const named = header?.length === 1 ? soapActionOf(header[0]!) : null;
  if (!call || (named !== null && named !== call.action) || (header && named === null)) {
    send(res, 500, soapFault(401));
    return;
  }
  if (MUTATING.has(call.action) && named === null) {
    send(res, 403, 'SOAPAction header required\n', true);
    return;
  }
  const source = req.socket.remoteAddress ?? '';
  const answer = await answerControl(call, source, ctx);
  send(res, answer.status, answer.body);
}

function createUpnpServer(ctx: UpnpContext, sockets: Set<Socket>): Server {
  const documents = {
    [ROOT_DESC_PATH]: rootDescription(ctx.identity),
    [WANIP_SCPD_PATH]: WANIP_SCPD,
    [WAN_COMMON_SCPD_PATH]: WAN_COMMON_SCPD,
  };
  const server = createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: ctx.requestTimeoutMs,
      requestTimeout: ctx.requestTimeoutMs,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      connectionsCheckingInterval: Math.min(1_000, Math.max(10, ctx.requestTimeoutMs / 4)),
      // a missing Host gets our 403, not Node's 400
      requireHostHeader: false,
    },
    (req, res) => {
      handleRequest(req, res, ctx, documents).catch((err) => {
        ctx.log(`upnp: ${(err as Error)?.message ?? String(err)}`);
        res.destroy();
      });
    }
  );
  server.setTimeout(IDLE_TIMEOUT_MS);
  server.on('connection', (socket: Socket) => {
    if (ctx.connections.open >= ctx.maxConnections) {
      socket.destroy();
      return;
    }
    ctx.connections.open++;
    sockets.add(socket);
    socket.once('close', () => {
      ctx.connections.open--;
      sockets.delete(socket);
    });
  });
  return server;
}

/**
 * Listens on `gateway:port` (IPv4) for the descriptions and the control endpoint.
 * @example
 * const bound = await bindUpnp('10.59.0.1', UPNP_HTTP_PORT, ctx);
 */
export async function bindUpnp(gateway: string, port: number, ctx: UpnpContext): Promise<Bound> {
  const sockets = new Set<Socket>();
  const server = createUpnpServer(ctx, sockets);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: gateway, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => ctx.log(`upnp: ${gateway}: ${err.message}`));
  return {
    close: () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      return closed;
    },
  };
}
