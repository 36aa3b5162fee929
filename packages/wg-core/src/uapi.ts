// SPDX-License-Identifier: MIT
/**
 * The cross-platform userspace API that `wg` and `wg-quick` speak (wireguard.com/xplatform;
 * wireguard-go `device/uapi.go`, `ipc/uapi_unix.go`): `get=1` and `set=1` over a Unix stream
 * socket at `/var/run/wireguard/<ifname>.sock`. A request is key=value lines ended by an empty
 * line; device keys come first, each `public_key=` opens a peer section. Answers end with
 * `errno=N` where N is 0 or a negative errno as wireguard-go gives it. A set is applied line by
 * line, as wireguard-go does: an error stops it, what came before stays applied.
 * @module
 */

import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { formatPrefix, parsePrefix } from './allowedips.ts';
import type { Device } from './device.ts';
import { keyToHex, parseKeyHex } from './keys.ts';
import type { Peer } from './peer.ts';

/** Negative errno values of wireguard-go's `ipc.IpcError*`. */
export const UAPI_EIO = -5;
export const UAPI_EINVAL = -22;
export const UAPI_EPROTO = -71;
export const UAPI_EADDRINUSE = -98;

export class UapiError extends Error {
  readonly errno: number;
  constructor(errno: number, message: string) {
    super(message);
    this.name = 'UapiError';
    this.errno = errno;
  }
}

const invalid = (message: string) => new UapiError(UAPI_EINVAL, message);

/** The answer to `get=1`, without the trailing `errno=0` line. */
export function ipcGet(device: Device): string {
  const lines: string[] = [];
  const sk = device.privateKey;
  if (sk) lines.push(`private_key=${keyToHex(sk)}`);
  if (device.listenPort !== 0) lines.push(`listen_port=${device.listenPort}`);
  if (device.fwmark !== 0) lines.push(`fwmark=${device.fwmark}`);
  for (const peer of device.peers()) {
    lines.push(`public_key=${keyToHex(peer.publicKey)}`);
    lines.push(`preshared_key=${keyToHex(peer.handshake.presharedKey)}`);
    lines.push('protocol_version=1');
    if (peer.endpoint) lines.push(`endpoint=${peer.endpoint.key}`);
    // absolute Unix time, as the kernel and wireguard-go report it (not elapsed time)
    const ms = peer.lastHandshakeTime;
    lines.push(`last_handshake_time_sec=${Math.floor(ms / 1000)}`);
    lines.push(`last_handshake_time_nsec=${Math.round((ms % 1000) * 1e6)}`);
    lines.push(`tx_bytes=${peer.txBytes}`);
    lines.push(`rx_bytes=${peer.rxBytes}`);
    lines.push(`persistent_keepalive_interval=${peer.persistentKeepaliveInterval}`);
    for (const prefix of device.allowedIPsOf(peer))
      lines.push(`allowed_ip=${formatPrefix(prefix)}`);
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

function parseUint(value: string, max: number, key: string): number {
  if (!/^\d{1,10}$/.test(value) || Number(value) > max) {
    throw invalid(`Cannot parse ${key} "${value}": expected an integer 0..${max}`);
  }
  return Number(value);
}

function parseTrue(value: string, key: string): void {
  if (value !== 'true') throw invalid(`Cannot parse ${key} "${value}": only "true" is valid`);
}

/** State of the peer section being applied. */
interface PeerSection {
  peer: Peer | null;
  /** The peer did not exist before this section. */
  created: boolean;
  updateOnly: boolean;
  /** Our own public key: every key of the section is ignored (wireguard-go "dummy" peer). */
  dummy: boolean;
  keepaliveTurnedOn: boolean;
}

/** Ends a peer section: update_only drops a peer this section created. */
function closeSection(device: Device, section: PeerSection | null): void {
  if (!section?.peer) return;
  if (section.updateOnly && section.created) {
    device.removePeer(section.peer.publicKey);
    return;
  }
  // wireguard-go `pkaOn`: a keepalive (or, with no session, a handshake) right away
  if (section.keepaliveTurnedOn) device.sendKeepaliveNow(section.peer);
}

/**
 * Applies the lines of a `set=1` request (without the `set=1` line and the empty line).
 * Throws a UapiError at the first bad line; lines before it stay applied.
 */
export async function ipcSet(device: Device, lines: Iterable<string>): Promise<void> {
  let section: PeerSection | null = null;
  try {
    for (const line of lines) {
      const eq = line.indexOf('=');
      if (eq < 0) throw new UapiError(UAPI_EPROTO, `Cannot parse line "${line}": no "="`);
      const key = line.slice(0, eq);
      const value = line.slice(eq + 1);

      if (key === 'public_key') {
        closeSection(device, section);
        const publicKey = parseKeyHex(value, 'public_key');
        const existed = device.getPeer(publicKey) !== undefined;
        const own = device.publicKey;
        const dummy = own !== null && keyToHex(own) === value;
        section = {
          peer: null,
          created: false,
          updateOnly: false,
          dummy,
          keepaliveTurnedOn: false,
        };
        if (!dummy) {
          section.peer = device.addPeer(publicKey);
          section.created = !existed;
        }
        continue;
      }
      if (section === null) {
        await setDeviceKey(device, key, value);
        continue;
      }
      if (section.dummy) continue;
      setPeerKey(device, section, key, value);
    }
    closeSection(device, section);
  } catch (err) {
    if (err instanceof UapiError) throw err;
    if (err instanceof TypeError || err instanceof RangeError) throw invalid(err.message);
    throw new UapiError(UAPI_EIO, String(err));
  }
}

async function setDeviceKey(device: Device, key: string, value: string): Promise<void> {
  switch (key) {
    case 'private_key':
      device.setPrivateKey(parseKeyHex(value, 'private_key'));
      return;
    case 'listen_port': {
      const port = parseUint(value, 65535, key);
      try {
        await device.setListenPort(port);
      } catch (err) {
        throw new UapiError(UAPI_EADDRINUSE, `Cannot listen on port ${port}: ${String(err)}`);
      }
      return;
    }
    case 'fwmark': {
      const mark = parseUint(value, 0xffff_ffff, key);
      try {
        device.setFwmark(mark);
      } catch (err) {
        throw new UapiError(UAPI_EADDRINUSE, `Cannot set fwmark ${mark}: ${String(err)}`);
      }
      return;
    }
    case 'replace_peers':
      parseTrue(value, key);
      device.removeAllPeers();
      return;
    default:
      throw invalid(`Cannot set "${key}": not a device key`);
  }
}

function setPeerKey(device: Device, section: PeerSection, key: string, value: string): void {
  const peer = section.peer;
  if (!peer) return;
  switch (key) {
    case 'update_only':
      parseTrue(value, key);
      section.updateOnly = true;
      return;
    case 'remove':
      parseTrue(value, key);
      device.removePeer(peer.publicKey);
      section.peer = null;
      return;
    case 'preshared_key':
      device.setPresharedKey(peer, parseKeyHex(value, 'preshared_key'));
      return;
    case 'endpoint': {
      if (!device.bind) throw invalid('Cannot set endpoint: the device has no UDP bind');
      device.setEndpoint(peer, device.bind.parseEndpoint(value));
      return;
    }
    case 'persistent_keepalive_interval': {
      const seconds = parseUint(value, 65535, key);
      const was = peer.persistentKeepaliveInterval;
      peer.timers.persistentKeepaliveInterval = seconds;
      if (seconds === 0) peer.timers.persistentKeepalive.del();
      // turned on: one keepalive at the end of the section, once the endpoint is known
      if (was === 0 && seconds > 0) section.keepaliveTurnedOn = true;
      return;
    }
    case 'replace_allowed_ips':
      parseTrue(value, key);
      device.clearAllowedIPs(peer);
      return;
    case 'allowed_ip': {
      if (value.startsWith('-')) {
        device.removeAllowedIP(peer, parsePrefix(value.slice(1)));
      } else {
        device.addAllowedIP(peer, parsePrefix(value));
      }
      return;
    }
    case 'protocol_version':
      if (value !== '1') throw invalid(`Cannot set protocol_version "${value}": only 1 exists`);
      return;
    default:
      throw invalid(`Cannot set "${key}": not a peer key`);
  }
}

/** Limits of one UAPI connection; see {@link UapiServerOptions}. */
export interface UapiLimits {
  maxLineBytes: number;
  maxRequestBytes: number;
  maxRequestLines: number;
}

/**
 * Default limits. A line of `wg` is at most a key and a 64-digit value or an endpoint; a peer
 * section takes a handful of lines plus one per allowed IP, so a whole `wg setconf` of thousands
 * of peers fits with room to spare.
 */
export const UAPI_DEFAULT_LIMITS: Readonly<UapiLimits> = {
  maxLineBytes: 4096,
  maxRequestBytes: 16 << 20,
  maxRequestLines: 262_144,
};

/** -EMSGSIZE: the answer to a line or request over the limits (`wg` prints "Message too long"). */
export const UAPI_EMSGSIZE = -90;

/**
 * Serves one connection: any number of `get=1` / `set=1` operations in sequence, as
 * wireguard-go does (`wg` sends one and closes). Input is split into lines in one pass over each
 * chunk (the bytes of an unfinished line are kept aside, never scanned twice); a line, or a
 * request, over the limits is answered with `errno=-90` and the connection is closed.
 */
function serve(device: Device, socket: Socket, log: (m: string) => void, limits: UapiLimits) {
  let partial: Buffer[] = [];
  let partialBytes = 0;
  let op: 'get' | 'set' | null = null;
  let lines: string[] = [];
  let requestBytes = 0;
  let refused = false;
  let chain = Promise.resolve();
  socket.on('error', () => socket.destroy());

  const finish = (kind: 'get' | 'set', body: string[]) => {
    chain = chain.then(async () => {
      if (socket.destroyed) return;
      if (kind === 'get') {
        socket.write(`${ipcGet(device)}errno=0\n\n`);
        return;
      }
      try {
        await ipcSet(device, body);
        socket.write('errno=0\n\n');
      } catch (err) {
        const errno = err instanceof UapiError ? err.errno : UAPI_EIO;
        log(`UAPI set failed: ${err instanceof Error ? err.message : String(err)}`);
        socket.write(`errno=${errno}\n\n`);
      }
    });
  };

  const refuse = (why: string) => {
    refused = true;
    partial = [];
    lines = [];
    log(`UAPI: request refused: ${why}`);
    chain = chain.then(() => {
      socket.end(`errno=${UAPI_EMSGSIZE}\n\n`);
    });
  };

  /** One complete line; false once the connection is refused or closed. */
  const onLine = (line: string): boolean => {
    if (op === null) {
      if (line === 'get=1') op = 'get';
      else if (line === 'set=1') op = 'set';
      else if (line === '') return true;
      else {
        log(`UAPI: unknown operation "${line.slice(0, 40)}"`);
        refused = true;
        socket.end(`errno=${UAPI_EINVAL}\n\n`);
        return false;
      }
      lines = [];
      requestBytes = line.length + 1;
      return true;
    }
    if (line === '') {
      finish(op, lines);
      op = null;
      lines = [];
      return true;
    }
    if (op === 'set') {
      if (lines.length >= limits.maxRequestLines) {
        refuse(`more than ${limits.maxRequestLines} lines`);
        return false;
      }
      lines.push(line);
    }
    return true;
  };

  socket.on('data', (chunk: Buffer) => {
    if (refused) return;
    let from = 0;
    while (from < chunk.length) {
      const nl = chunk.indexOf(10, from);
      const end = nl < 0 ? chunk.length : nl;
      const piece = end - from;
      if (partialBytes + piece > limits.maxLineBytes) {
        refuse(`a line longer than ${limits.maxLineBytes} bytes`);
        return;
      }
      if (op !== null) {
        requestBytes += piece + (nl < 0 ? 0 : 1);
        if (requestBytes > limits.maxRequestBytes) {
          refuse(`more than ${limits.maxRequestBytes} bytes`);
          return;
        }
      }
      if (nl < 0) {
        partial.push(chunk.subarray(from));
        partialBytes += piece;
        return;
      }
      let line: string;
      if (partialBytes === 0) {
        line = chunk.toString('utf8', from, nl);
      } else {
        partial.push(chunk.subarray(from, nl));
        line = Buffer.concat(partial, partialBytes + piece).toString('utf8');
        partial = [];
        partialBytes = 0;
      }
      from = nl + 1;
      if (!onLine(line)) return;
    }
  });
  socket.on('end', () => {
    chain.then(() => socket.end());
  });
}

export interface UapiServerOptions {
  /** Directory of the sockets; `/var/run/wireguard` by default. */
  directory?: string;
  /**
   * An already listening Unix socket to serve (wireguard-go's `WG_UAPI_FD`): nothing is created,
   * and `<directory>/<ifname>.sock` is only the path watched and removed on close.
   */
  fd?: number;
  log?: (message: string) => void;
  /** Longest line accepted, in bytes; default 4096. */
  maxLineBytes?: number;
  /** Largest `set=1` request (its lines and newlines), in bytes; default 16 MiB. */
  maxRequestBytes?: number;
  /** Most lines in one `set=1` request; default 262144. */
  maxRequestLines?: number;
}

/** The UAPI listener of one interface. */
export class UapiServer {
  readonly path: string;
  readonly #server: Server;

  private constructor(path: string, server: Server) {
    this.path = path;
    this.#server = server;
  }

  /**
   * Listens on `<directory>/<ifname>.sock` (directory 0755, socket 0600). A stale socket (nobody
   * accepting) is replaced; a live one means the interface is in use: rejects with EADDRINUSE.
   */
  static async listen(
    device: Device,
    ifname: string,
    options: UapiServerOptions = {}
  ): Promise<UapiServer> {
    if (!/^[A-Za-z0-9_.=+-]{1,15}$/.test(ifname)) {
      throw new TypeError(`Cannot use interface name "${ifname}": 1..15 letters, digits or _.=+-`);
    }
    const directory = options.directory ?? '/var/run/wireguard';
    const log = options.log ?? (() => {});
    const limits: UapiLimits = {
      maxLineBytes: limit(options.maxLineBytes, UAPI_DEFAULT_LIMITS.maxLineBytes, 'maxLineBytes'),
      maxRequestBytes: limit(
        options.maxRequestBytes,
        UAPI_DEFAULT_LIMITS.maxRequestBytes,
        'maxRequestBytes'
      ),
      maxRequestLines: limit(
        options.maxRequestLines,
        UAPI_DEFAULT_LIMITS.maxRequestLines,
        'maxRequestLines'
      ),
    };
    const path = `${directory}/${ifname}.sock`;
    if (options.fd !== undefined) {
      const fd = options.fd;
      if (!Number.isInteger(fd) || fd < 0) {
        throw new RangeError(`Invalid UAPI descriptor '${String(fd)}': expected an integer >= 0`);
      }
      const server = createServer((socket) => serve(device, socket, log, limits));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ fd }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return new UapiServer(path, server);
    }
    mkdirSync(directory, { recursive: true, mode: 0o755 });
    if (await isLive(path)) {
      const err = new Error(`Cannot listen on ${path}: another process serves this interface`);
      (err as Error & { code: string }).code = 'EADDRINUSE';
      throw err;
    }
    try {
      unlinkSync(path);
    } catch {}
    const server = createServer((socket) => serve(device, socket, log, limits));
    // A socket file gets its mode from the umask, and worker threads may not change it (Node
    // forbids process.umask() there; wireguard-go sets umask 077 around listen). So the socket
    // is bound in a fresh 0700 directory beside its final path, made 0600 there, then renamed
    // into place: no one else can reach it before its mode is right.
    const privateDir = mkdtempSync(join(directory, `.${ifname}-`));
    const temp = join(privateDir, 'uapi.sock');
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(temp, () => {
          server.off('error', reject);
          resolve();
        });
      });
      chmodSync(temp, 0o600);
      renameSync(temp, path);
    } catch (err) {
      server.close();
      throw err;
    } finally {
      rmSync(privateDir, { recursive: true, force: true });
    }
    return new UapiServer(path, server);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {}
  }
}

function limit(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Invalid ${name} '${String(value)}': expected a positive integer`);
  }
  return value;
}

function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
