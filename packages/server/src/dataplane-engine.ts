// SPDX-License-Identifier: MIT
/**
 * What the data-plane thread does with each request, apart from the port and the system: it
 * holds one wg-core `Device` opened through a `DataplaneIo` (TUN, UDP and UAPI socket on Linux,
 * memory fakes in tests) and answers every request with exactly one reply, never a throw. Peers
 * change by difference, after the whole set was checked, as `wg syncconf` does
 * (https://git.zx2c4.com/wireguard-tools/about/src/man/wg.8): a bad key changes nothing.
 * @module
 */

import type { PeerSpec } from '@start-tunnel/tunnel';
import {
  type Device,
  keyToBase64,
  type Logger,
  type Peer,
  parseUdpEndpoint,
} from '@start-tunnel/wg-core';
import {
  messageOf,
  type Ops,
  type ParsedPeer,
  type PeerChanges,
  type PeerStatusEntry,
  parseKeyField,
  parsePeers,
  planPeers,
  type Reply,
  type Request,
  requestHeader,
  type StartConfig,
  type StartResult,
} from './dataplane-protocol.ts';

/** A device brought up by a `DataplaneIo`, with what `close` must release. */
export interface OpenDevice {
  device: Device;
  interface: string;
  uapiPath: string | null;
  close(): Promise<void>;
}

/** Opens the device: on Linux a TUN, a UDP port and the UAPI socket (`dataplane-thread.ts`). */
export interface DataplaneIo {
  open(config: StartConfig, privateKey: Uint8Array, logger: Logger): Promise<OpenDevice>;
}

export class DataplaneEngine {
  readonly #io: DataplaneIo;
  readonly #logger: Logger;
  #open: OpenDevice | null = null;
  #starting = false;
  /** The peers as last set, by public key, to diff against. */
  readonly #peers = new Map<string, PeerSpec>();

  constructor(io: DataplaneIo, logger: Logger) {
    this.#io = io;
    this.#logger = logger;
  }

  /** The open device (tests). */
  get device(): Device | null {
    return this.#open?.device ?? null;
  }

  /** Answers one request; never throws (a failure is an error reply). */
  async handle(request: unknown): Promise<Reply> {
    const header = requestHeader(request);
    if (!header) return { type: 'reply', id: -1, ok: false, error: 'Malformed request' };
    try {
      const result = await this.#dispatch(request as Request);
      return { type: 'reply', id: header.id, ok: true, result };
    } catch (err) {
      return { type: 'reply', id: header.id, ok: false, error: messageOf(err) };
    }
  }

  async #dispatch(request: Request): Promise<Ops[Request['op']]['result']> {
    switch (request.op) {
      case 'start':
        return this.#start(request.config);
      case 'setPeers':
        return this.#setPeers(request.peers, request.endpoints ?? {});
      case 'status':
        return this.#status();
      case 'stop':
        await this.close();
        return null;
      case 'crash':
        // the thread entry acts on it; here it only needs an answer
        return null;
    }
  }

  async #start(config: StartConfig): Promise<StartResult> {
    if (this.#open || this.#starting) throw new Error('The data plane is already started');
    const key = parseKeyField(config?.privateKey, 'privateKey');
    this.#starting = true;
    try {
      this.#open = await this.#io.open(config, key, this.#logger);
    } finally {
      this.#starting = false;
    }
    return { interface: this.#open.interface, uapiPath: this.#open.uapiPath };
  }

  #setPeers(peers: unknown, endpoints: Record<string, string>): PeerChanges {
    const device = this.#open?.device;
    if (!device) throw new Error('The data plane is not started');
    const wanted = parsePeers(peers);
    const own = device.publicKey;
    const self = own ? wanted.findIndex((p) => p.spec.publicKey === keyToBase64(own)) : -1;
    if (self >= 0) {
      throw new TypeError(`Invalid peers[${self}].publicKey: the interface's own public key`);
    }
    const plan = planPeers(this.#peers, wanted);
    for (const key of plan.remove) {
      device.removePeer(parseKeyField(key, 'publicKey'));
      this.#peers.delete(key);
    }
    for (const p of plan.add) {
      const peer = this.#apply(device, p);
      const hint = endpoints[p.spec.publicKey];
      if (peer && hint && !peer.endpoint) this.#greet(device, peer, hint);
    }
    for (const p of plan.change) this.#apply(device, p);
    return { added: plan.add.length, changed: plan.change.length, removed: plan.remove.length };
  }

  /** Adds or updates one peer: its preshared key and its allowed IPs (IPv4, and IPv6 if any). */
  #apply(device: Device, p: ParsedPeer): Peer | null {
    const peer = device.getPeer(p.publicKey) ?? device.addPeer(p.publicKey);
    if (!peer) return null;
    device.setPresharedKey(peer, p.presharedKey);
    device.clearAllowedIPs(peer);
    device.addAllowedIP(peer, p.allowedIp);
    if (p.allowedIp6) device.addAllowedIP(peer, p.allowedIp6);
    this.#peers.set(p.spec.publicKey, p.spec);
    return peer;
  }

  /** Sets a last known endpoint and sends a keepalive there, which starts a handshake. */
  #greet(device: Device, peer: Peer, endpoint: string): void {
    try {
      device.setEndpoint(peer, parseUdpEndpoint(endpoint));
      device.sendKeepaliveNow(peer);
    } catch (err) {
      this.#logger.verbose(`Cannot greet a peer at its last endpoint: ${messageOf(err)}`);
    }
  }

  #status(): PeerStatusEntry[] {
    const device = this.#open?.device;
    if (!device) throw new Error('The data plane is not started');
    const out: PeerStatusEntry[] = [];
    for (const peer of device.peers()) {
      const s = device.stats(peer);
      out.push({
        publicKey: s.publicKey,
        endpoint: s.endpoint,
        lastHandshake: s.lastHandshakeTime,
        rxBytes: s.rxBytes,
        txBytes: s.txBytes,
      });
    }
    return out;
  }

  /** Closes the UAPI socket, the device and the TUN; safe to call twice. */
  async close(): Promise<void> {
    const open = this.#open;
    this.#open = null;
    this.#peers.clear();
    if (open) await open.close();
  }
}
