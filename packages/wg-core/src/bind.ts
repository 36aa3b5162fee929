// SPDX-License-Identifier: MIT
/**
 * The UDP side of a device (wireguard-go `conn.Bind`, kernel `socket.c`): open IPv4 and IPv6
 * sockets on one port, receive batches of datagrams, send batches to endpoints. The protocol
 * core only sees this interface; `bind-memory.ts` is the in-memory fake beside it.
 * @module
 */

import type { PacketBatch } from './batch.ts';

/** A remote UDP address. `key` identifies it exactly (`192.0.2.1:51820`, `[2001:db8::1]:51820`). */
export interface Endpoint {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
  readonly key: string;
}

export type ReceiveFn = (batch: PacketBatch) => void;

export interface Bind {
  /**
   * Opens the sockets on `port` (0 = a random free port) and starts delivering datagrams to the
   * receiver. Resolves to the port actually bound; rejects with EADDRINUSE when taken.
   */
  open(port: number): Promise<number>;
  /** Closes every socket; no receive callback runs afterwards. */
  close(): Promise<void>;
  /**
   * Delivers received datagrams, a batch per call. The batch belongs to the bind and is reused
   * after the callback returns: the receiver must finish with it (or copy) synchronously.
   */
  setReceiver(receive: ReceiveFn): void;
  /** Sends packets `0..count` with a non-zero length to their `endpoints[i]`; never throws. */
  send(batch: PacketBatch): void;
  /** Sets SO_MARK on the sockets (0 = none). */
  setMark(mark: number): void;
  /** Parses `IP:port` / `[IPv6]:port`; throws a TypeError naming the value when malformed. */
  parseEndpoint(text: string): Endpoint;
}

/** Formats an endpoint the way `wg` prints it. */
export function formatEndpoint(address: string, port: number, family: 4 | 6): string {
  return family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}
