// SPDX-License-Identifier: MIT
/**
 * The messages between the control plane and the data-plane thread (`dataplane-thread.ts`):
 * requests carry an `id` and an `op`, the thread answers each with one reply naming the same
 * `id` (a result, or an error as a message: nothing is thrown across the port), and sends log
 * lines in between. Payloads are plain data, copied by the structured clone algorithm
 * (https://nodejs.org/docs/latest-v20.x/api/worker_threads.html#portpostmessagevalue-transferlist).
 * Also here, pure and I/O-free: the peer-set checks and the difference `setPeers` applies, as
 * `wg syncconf` applies one (https://git.zx2c4.com/wireguard-tools/about/src/man/wg.8).
 * @module
 */

import type { PeerSpec, PeerStatus } from '@start-tunnel/tunnel';
import { type LogLevel, type Prefix, parseKeyBase64, parsePrefix } from '@start-tunnel/wg-core';

/** What the thread needs to bring the interface up. */
export interface StartConfig {
  privateKey: string;
  interface: string;
  listenPort: number;
  /** Interface MTU; wg-core's default when absent. */
  mtu?: number;
  /** Open the UAPI socket (`wg show`). */
  uapi: boolean;
  /** Crypto worker threads of the device (0 = inline). */
  workers: number;
  /** The lines the thread sends back: it drops finer ones itself. */
  logLevel: LogLevel;
}

export interface StartResult {
  /** The interface name the kernel gave. */
  interface: string;
  /** The UAPI socket path, null when none was opened. */
  uapiPath: string | null;
}

export interface PeerChanges {
  added: number;
  changed: number;
  removed: number;
}

export interface PeerStatusEntry extends PeerStatus {
  publicKey: string;
}

/** Each operation's parameters and result. */
export interface Ops {
  start: { params: { config: StartConfig }; result: StartResult };
  /**
   * `endpoints` (public key → `host:port`) is a hint for peers the device does not hold yet:
   * after a restart, the thread greets them there so sessions come back without waiting for
   * the peer's own retry.
   */
  setPeers: {
    params: { peers: PeerSpec[]; endpoints?: Record<string, string> };
    result: PeerChanges;
  };
  status: { params: Record<string, never>; result: PeerStatusEntry[] };
  stop: { params: Record<string, never>; result: null };
  /** Test hook: the thread throws an uncaught error without replying and handles nothing more. */
  crash: { params: Record<string, never>; result: null };
}

export type Op = keyof Ops;

export type Request = { [O in Op]: { id: number; op: O } & Ops[O]['params'] }[Op];

export type Reply =
  | { type: 'reply'; id: number; ok: true; result: unknown }
  | { type: 'reply'; id: number; ok: false; error: string };

export interface LogLine {
  type: 'log';
  level: 'verbose' | 'error';
  message: string;
}

/** The thread hit an uncaught error: it closes its device and exits (the exit follows). */
export interface FatalLine {
  type: 'fatal';
  message: string;
}

export type ThreadMessage = Reply | LogLine | FatalLine;

const OPS: ReadonlySet<string> = new Set<Op>(['start', 'setPeers', 'status', 'stop', 'crash']);

/** The request's id and op when `value` looks like a request, else null. */
export function requestHeader(value: unknown): { id: number; op: Op } | null {
  if (typeof value !== 'object' || value === null) return null;
  const { id, op } = value as { id?: unknown; op?: unknown };
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) return null;
  if (typeof op !== 'string' || !OPS.has(op)) return null;
  return { id, op: op as Op };
}

/** True for a message the thread sends (a reply or a log line). */
export function isThreadMessage(value: unknown): value is ThreadMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Partial<Reply> & Partial<LogLine>;
  if (m.type === 'log' || m.type === 'fatal') return typeof m.message === 'string';
  return m.type === 'reply' && typeof m.id === 'number' && typeof m.ok === 'boolean';
}

/** One peer, checked and parsed. */
export interface ParsedPeer {
  spec: PeerSpec;
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  allowedIp: Prefix;
  allowedIp6: Prefix | null;
}

/**
 * Parses a 32-byte base64 key; the error names the field and never echoes the value (it may be
 * a secret pasted in the wrong place).
 */
export function parseKeyField(text: unknown, field: string): Uint8Array {
  try {
    return parseKeyBase64(text as string);
  } catch {
    throw new TypeError(`Invalid ${field}: not a 32-byte base64 key`);
  }
}

/** Checks a whole peer set before anything is applied; throws naming the first bad field. */
export function parsePeers(peers: unknown): ParsedPeer[] {
  if (!Array.isArray(peers)) throw new TypeError('Invalid peers: expected an array');
  const seen = new Map<string, number>();
  return peers.map((value: unknown, i): ParsedPeer => {
    const at = `peers[${i}]`;
    if (typeof value !== 'object' || value === null) {
      throw new TypeError(`Invalid ${at}: expected an object`);
    }
    const spec = value as PeerSpec;
    const publicKey = parseKeyField(spec.publicKey, `${at}.publicKey`);
    const first = seen.get(spec.publicKey);
    if (first !== undefined) {
      throw new TypeError(`Invalid ${at}.publicKey: the same key as peers[${first}]`);
    }
    seen.set(spec.publicKey, i);
    const presharedKey =
      spec.presharedKey === '' ? null : parseKeyField(spec.presharedKey, `${at}.presharedKey`);
    let allowedIp: Prefix;
    try {
      allowedIp = parsePrefix(spec.allowedIp);
    } catch (err) {
      throw new TypeError(`Invalid ${at}.allowedIp: ${(err as Error).message}`);
    }
    let allowedIp6: Prefix | null = null;
    if (spec.allowedIp6 !== undefined) {
      try {
        allowedIp6 = parsePrefix(spec.allowedIp6);
      } catch (err) {
        throw new TypeError(`Invalid ${at}.allowedIp6: ${(err as Error).message}`);
      }
    }
    const copy: PeerSpec = {
      publicKey: spec.publicKey,
      presharedKey: spec.presharedKey,
      allowedIp: spec.allowedIp,
      ...(spec.allowedIp6 !== undefined ? { allowedIp6: spec.allowedIp6 } : {}),
    };
    return { spec: copy, publicKey, presharedKey, allowedIp, allowedIp6 };
  });
}

/** What turns the peer set `current` into `wanted`: keys to remove, peers to add or change. */
export function planPeers(
  current: ReadonlyMap<string, PeerSpec>,
  wanted: readonly ParsedPeer[]
): { remove: string[]; add: ParsedPeer[]; change: ParsedPeer[] } {
  const keep = new Set(wanted.map((p) => p.spec.publicKey));
  const remove = [...current.keys()].filter((key) => !keep.has(key));
  const add: ParsedPeer[] = [];
  const change: ParsedPeer[] = [];
  for (const p of wanted) {
    const old = current.get(p.spec.publicKey);
    if (!old) add.push(p);
    else if (
      old.presharedKey !== p.spec.presharedKey ||
      old.allowedIp !== p.spec.allowedIp ||
      old.allowedIp6 !== p.spec.allowedIp6
    ) {
      change.push(p);
    }
  }
  return { remove, add, change };
}

/** Error text of anything thrown. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
