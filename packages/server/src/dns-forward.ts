// SPDX-License-Identifier: MIT
/**
 * Forwarding for the gateway's resolver (`dns.ts`): a query that the local records do not hold
 * goes to every upstream of its subnet at once, over UDP with a fresh ID and source port
 * (RFC 5452 §9.2), and the first matching answer wins; an answer with TC set is asked again
 * over TCP (RFC 7766 §5), and a query that came over TCP goes over TCP. The answer is the
 * upstream's message with the client's ID put back. As StartTunnel's per-subnet forward zone
 * (https://github.com/Start9Labs/start-technologies, projects/start-tunnel), with a bounded
 * number of forwards in flight and a timeout a stub resolver still waits for.
 * @module
 */

import { randomInt } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIPv4, isIPv6, type Socket as TcpSocket, connect as tcpConnect } from 'node:net';
import { canonicalIp } from '@start-tunnel/protocol';
import { lowerName, type Question, readHeader, readQuestions } from './dns-wire.ts';

/** An upstream resolver: a canonical address and a port. */
export interface Upstream {
  address: string;
  port: number;
}

/**
 * An upstream as `subnet.set-dns` keeps it: `ip:port`, `[v6]:port` or a bare address (port 53),
 * or null when it is none of these.
 */
export function parseUpstream(text: string): Upstream | null {
  let host = text;
  let port = '53';
  const bracketed = /^\[([^\]]+)\]:([0-9]{1,5})$/.exec(text);
  const v4 = /^([0-9.]+):([0-9]{1,5})$/.exec(text);
  if (bracketed) [, host = '', port = ''] = bracketed;
  else if (v4) [, host = '', port = ''] = v4;
  const number = Number(port);
  if (!(isIPv4(host) || isIPv6(host)) || number < 1 || number > 65_535) return null;
  const address = canonicalIp(host);
  return address ? { address, port: number } : null;
}

/** What a forward came to: the answer (with the client's ID), a failure, or no room. */
export type ForwardResult = Buffer | 'failed' | 'busy';

export interface ForwarderOptions {
  /** How long to wait for an upstream's answer. */
  timeoutMs: number;
  /** Forwards allowed in flight at once; beyond it `forward` answers 'busy' at once. */
  maxInflight: number;
}

const MAX_TCP_MESSAGE = 65_535;

interface Forward {
  readonly query: Buffer;
  readonly question: Question;
  readonly upstreams: readonly Upstream[];
  readonly done: (result: Buffer | 'failed') => void;
  readonly udp: UdpSocket[];
  readonly tcp: Set<TcpSocket>;
  finished: boolean;
}

/** The forwards in flight of one resolver; `close` ends them all (each answers 'failed'). */
export class Forwarder {
  readonly #timeoutMs: number;
  readonly #maxInflight: number;
  readonly #inflight = new Set<Forward>();

  constructor(opts: ForwarderOptions) {
    this.#timeoutMs = opts.timeoutMs;
    this.#maxInflight = opts.maxInflight;
  }

  /** The forwards in flight now. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /**
   * Sends `query` (the client's message, its question already read) to every upstream and
   * resolves with the first answer to the same question, its ID set back to the client's.
   * Never rejects.
   */
  forward(
    query: Buffer,
    question: Question,
    upstreams: readonly Upstream[],
    overTcp: boolean
  ): Promise<ForwardResult> {
    if (this.#inflight.size >= this.#maxInflight) return Promise.resolve('busy');
    if (upstreams.length === 0) return Promise.resolve('failed');
    const clientId = query.readUInt16BE(0);
    const sent = Buffer.from(query);
    // a fresh ID per forward, so an answer cannot be guessed from the client's (RFC 5452 §9.2)
    sent.writeUInt16BE(randomInt(0x10000), 0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish('failed'), this.#timeoutMs);
      const forward: Forward = {
        query: sent,
        question,
        upstreams,
        udp: [],
        tcp: new Set(),
        finished: false,
        done: (result) => finish(result),
      };
      const finish = (result: Buffer | 'failed') => {
        if (forward.finished) return;
        forward.finished = true;
        clearTimeout(timer);
        this.#inflight.delete(forward);
        for (const socket of forward.udp) socket.close();
        for (const socket of forward.tcp) socket.destroy();
        if (result !== 'failed') result.writeUInt16BE(clientId, 0);
        resolve(result);
      };
      this.#inflight.add(forward);
      try {
        if (overTcp) for (const upstream of upstreams) this.#askTcp(forward, upstream);
        else this.#askUdp(forward);
      } catch {
        finish('failed');
      }
    });
  }

  /** Ends every forward in flight ('failed'). */
  close(): void {
    for (const forward of [...this.#inflight]) forward.done('failed');
  }

  #askUdp(forward: Forward): void {
    for (const family of [4, 6] as const) {
      const targets = forward.upstreams.filter((u) => isIPv4(u.address) === (family === 4));
      if (targets.length === 0) continue;
      // one socket per forward and family: a random source port each time (RFC 5452 §9.2)
      const socket = createSocket(family === 4 ? 'udp4' : 'udp6');
      forward.udp.push(socket);
      socket.on('error', () => {});
      socket.on('message', (reply, from) => {
        const upstream = targets.find(
          (u) => u.port === from.port && u.address === canonicalIp(from.address)
        );
        if (!upstream || forward.finished || !this.#matches(forward, reply)) return;
        // TC: the whole answer only fits over TCP (RFC 7766 §5); other upstreams may still win
        if (readHeader(reply)?.tc) this.#askTcp(forward, upstream);
        else forward.done(Buffer.from(reply));
      });
      for (const upstream of targets)
        socket.send(forward.query, upstream.port, upstream.address, () => {});
    }
  }

  #askTcp(forward: Forward, upstream: Upstream): void {
    const socket = tcpConnect({ host: upstream.address, port: upstream.port });
    forward.tcp.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => forward.tcp.delete(socket));
    const length = Buffer.alloc(2);
    length.writeUInt16BE(forward.query.length);
    socket.write(Buffer.concat([length, forward.query]));
    const chunks: Buffer[] = [];
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received < 2) return;
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      chunks.length = 0;
      chunks.push(all);
      const size = all.readUInt16BE(0);
      if (received < 2 + size) return;
      const reply = Buffer.from(all.subarray(2, 2 + size));
      socket.destroy();
      if (!forward.finished && this.#matches(forward, reply)) forward.done(reply);
    });
  }

  /** An answer to the query sent: the same ID, QR set, and the same question (RFC 5452 §4). */
  #matches(forward: Forward, reply: Buffer): boolean {
    const header = readHeader(reply);
    if (!header?.qr || header.id !== forward.query.readUInt16BE(0)) return false;
    if (reply.length > MAX_TCP_MESSAGE) return false;
    try {
      const [question] = readQuestions(reply, header).questions;
      return (
        header.counts[0] === 1 &&
        question !== undefined &&
        question.type === forward.question.type &&
        question.class === forward.question.class &&
        lowerName(question.name) === lowerName(forward.question.name)
      );
    } catch {
      return false;
    }
  }
}
