// SPDX-License-Identifier: MIT
/**
 * The gateway's resolver: UDP and TCP port 53 on each subnet's gateway addresses (never the
 * wildcard: tunnel clients only), as StartTunnel's per-subnet hickory servers
 * (https://github.com/Start9Labs/start-technologies, projects/start-tunnel). A query for a name
 * the local records hold is answered from them (NODATA when the name is held without that
 * type, so an upstream NXDOMAIN cannot hide it); any other query is forwarded to the subnet's
 * upstreams (`dns-forward.ts`). RFC 2136 UPDATEs from a device allowed to publish, signed with
 * its TSIG key, change the records (`dns-update.ts`).
 *
 * Hostile input is expected on these sockets: nothing here throws out of a callback, malformed
 * queries get FORMERR and responses are never answered, TCP connections are capped and cut
 * when idle, and forwards in flight and queued UPDATEs are bounded (beyond them, a UDP query
 * is dropped). It runs in the control-plane process, never on the data plane's thread.
 * @module
 */

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv4, isIPv6, type Server, type Socket } from 'node:net';
import { canonicalIp } from '@start-tunnel/protocol';
import { Forwarder, parseUpstream, type Upstream } from './dns-forward.ts';
import {
  type DnsChange,
  type DnsRecord,
  dnsUpdateKey,
  planUpdate,
  readTsig,
  signReply,
  type Tsig,
  verifyTsig,
} from './dns-update.ts';
import {
  CLASS,
  ednsSize,
  encodeOpt,
  encodeRecord,
  FormatError,
  HEADER_BYTES,
  type Header,
  LOCAL_TYPES,
  lowerName,
  type Message,
  OPCODE,
  type Question,
  questionOf,
  RCODE,
  readHeader,
  readMessage,
  readQuestions,
  TYPE,
  truncated,
  UDP_PLAIN_BYTES,
  writeReply,
} from './dns-wire.ts';

export type { DnsChange, DnsRecord } from './dns-update.ts';
export { DNS_UPDATE_KEY_NAME, dnsUpdateKey } from './dns-update.ts';

/** The port the resolver listens on. */
export const DNS_PORT = 53;
/** How long a failed bind waits before the next try. */
export const DNS_RETRY_MS = 5_000;
/**
 * How long a forward waits for an upstream: a stub resolver gives up after 5 s (resolv.conf(5)
 * `timeout`), so a later answer has no one waiting (the original waited 30 s).
 */
export const DNS_UPSTREAM_TIMEOUT_MS = 5_000;
/** A TCP connection without a whole message for this long is closed (RFC 7766 §6.2.3). */
export const DNS_TCP_IDLE_TIMEOUT_MS = 10_000;
/** Open TCP connections across all addresses together. */
export const DNS_MAX_TCP_CONNECTIONS = 128;
/** Forwards in flight across all addresses together. */
export const DNS_MAX_INFLIGHT = 256;
/** Queries in progress on one TCP connection before it is read no further (RFC 7766 §6.2.1.1). */
const TCP_PIPELINE = 8;
/** Octets queued for a TCP client that does not read before it is cut. */
const TCP_WRITE_BACKLOG = 256 * 1024;
/** UPDATEs waiting for the ones before them. */
const UPDATE_QUEUE = 16;
/** CNAMEs followed within the local records. */
const CNAME_CHAIN = 8;

/** One subnet's resolver address and the upstreams it forwards to. */
export interface DnsListener {
  /** A subnet gateway address, IPv4 or IPv6. */
  address: string;
  /** `ip:port` or `[v6]:port` (a bare address means port 53). */
  upstreams: string[];
}

export interface DnsServiceOptions {
  /** The UDP and TCP port (default 53; tests use a high port). */
  port?: number;
  /** One line per event worth an operator's attention (bind failures, listening, bad upstreams). */
  log: (line: string) => void;
  /** The local records now (the global store). */
  records: () => readonly DnsRecord[];
  /** The preshared key of a device allowed to publish records from `source`, or null. */
  authorize: (source: string) => { psk: Uint8Array } | null;
  /** Applies an authorized UPDATE's changes; a rejection answers SERVFAIL. */
  update: (source: string, changes: DnsChange[]) => Promise<void>;
  /** How long a forward waits for its upstreams (default 5000). */
  upstreamTimeoutMs?: number;
  /** Milliseconds since the epoch (TSIG time, RFC 8945 §5.2.3); default `Date.now`. */
  now?: () => number;
  /** How long a failed bind waits before the next try (default 5000). */
  retryMs?: number;
  /** Idle time before a TCP connection is cut (default 10000). */
  tcpIdleTimeoutMs?: number;
  /** Open TCP connections allowed (default 128). */
  maxTcpConnections?: number;
  /** Forwards in flight allowed (default 256). */
  maxInflight?: number;
}

interface Listener {
  readonly address: string;
  /** The upstreams as given, to notice a change. */
  given: string;
  upstreams: Upstream[];
  udp: UdpSocket | null;
  tcp: Server | null;
  retry: NodeJS.Timeout | null;
  failureLogged: boolean;
  readonly sockets: Set<Socket>;
}

type Transport = 'udp' | 'tcp';

/**
 * The resolver on every subnet's gateway addresses.
 * @example
 * const dns = new DnsService({ log: console.error, records: () => store.dnsRecords,
 *   authorize: (ip) => deviceKey(ip), update: (ip, changes) => apply(ip, changes) });
 * await dns.reconcile([{ address: '10.59.0.1', upstreams: ['1.1.1.1:53'] }]);
 * await dns.close();
 */
export class DnsService {
  readonly #port: number;
  readonly #log: (line: string) => void;
  readonly #opts: DnsServiceOptions;
  readonly #now: () => number;
  readonly #retryMs: number;
  readonly #idleMs: number;
  readonly #maxTcp: number;
  readonly #forwarder: Forwarder;
  readonly #listeners = new Map<string, Listener>();
  #tcpOpen = 0;
  #closed = false;
  #queue: Promise<void> = Promise.resolve();
  #updates: Promise<void> = Promise.resolve();
  #updatesWaiting = 0;
  #index: { records: readonly DnsRecord[]; byName: Map<string, DnsRecord[]> } | null = null;

  constructor(opts: DnsServiceOptions) {
    this.#opts = opts;
    this.#port = opts.port ?? DNS_PORT;
    // a throwing logger must not break the queue of steps or reach a socket callback
    this.#log = (line) => {
      try {
        opts.log(line);
      } catch {}
    };
    this.#now = opts.now ?? Date.now;
    this.#retryMs = opts.retryMs ?? DNS_RETRY_MS;
    this.#idleMs = opts.tcpIdleTimeoutMs ?? DNS_TCP_IDLE_TIMEOUT_MS;
    this.#maxTcp = opts.maxTcpConnections ?? DNS_MAX_TCP_CONNECTIONS;
    this.#forwarder = new Forwarder({
      timeoutMs: opts.upstreamTimeoutMs ?? DNS_UPSTREAM_TIMEOUT_MS,
      maxInflight: opts.maxInflight ?? DNS_MAX_INFLIGHT,
    });
  }

  /**
   * Makes the set of addresses listened on exactly those of `listeners` (UDP and TCP on each),
   * with their upstreams: new ones are bound, removed ones closed with their connections, and
   * a kept one takes its new upstreams in place. A bind failure is logged once per address and
   * tried again every `retryMs` until it succeeds or the address is removed. An upstream that
   * is one of the resolver's own addresses is skipped (a forwarding loop). Never rejects; does
   * nothing after `close()`.
   */
  reconcile(listeners: readonly DnsListener[]): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const wanted = new Map<string, readonly string[]>();
    for (const { address: text, upstreams } of listeners) {
      const address = isIPv4(text) || isIPv6(text) ? canonicalIp(text) : null;
      if (address) wanted.set(address, upstreams);
      else this.#log(`dns: ignoring "${text}": not an IP address`);
    }
    return this.#enqueue(async () => {
      const removed = [...this.#listeners.values()].filter((l) => !wanted.has(l.address));
      await Promise.all(removed.map((l) => this.#stop(l)));
      const added: Listener[] = [];
      for (const [address, texts] of wanted) {
        const given = texts.join(' ');
        let listener = this.#listeners.get(address);
        if (listener?.given === given) continue;
        // problems are logged when an address or its upstreams change, not on every reconcile
        const upstreams = this.#upstreams(address, texts, (u) => wanted.has(u.address));
        if (listener) {
          listener.upstreams = upstreams;
          listener.given = given;
          continue;
        }
        listener = {
          address,
          given,
          upstreams,
          udp: null,
          tcp: null,
          retry: null,
          failureLogged: false,
          sockets: new Set(),
        };
        this.#listeners.set(address, listener);
        added.push(listener);
      }
      await Promise.all(added.map((l) => this.#bind(l)));
    });
  }

  /** The addresses bound now (not those waiting for a retry). */
  listening(): string[] {
    return [...this.#listeners.values()].filter((l) => l.udp).map((l) => l.address);
  }

  /** Closes every socket and connection, ends the forwards in flight; final. */
  close(): Promise<void> {
    this.#closed = true;
    this.#forwarder.close();
    return this.#enqueue(async () => {
      await Promise.all([...this.#listeners.values()].map((l) => this.#stop(l)));
    });
  }

  /** The upstreams of `address` that parse and are not this resolver (a forwarding loop). */
  #upstreams(
    address: string,
    texts: readonly string[],
    isOwn: (upstream: Upstream) => boolean
  ): Upstream[] {
    const out: Upstream[] = [];
    for (const text of texts) {
      const upstream = parseUpstream(text);
      if (!upstream) this.#log(`dns: ${address}: ignoring upstream "${text}": not IP[:PORT]`);
      else if (upstream.port === this.#port && isOwn(upstream))
        this.#log(`dns: ${address}: ignoring upstream "${text}": it is this resolver`);
      else out.push(upstream);
    }
    return out;
  }

  /** Runs `step` after the steps before it; a failure is logged, never passed on. */
  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(async () => {
      try {
        await step();
      } catch (err) {
        this.#log(`dns: ${(err as Error).message}`);
      }
    });
    return this.#queue;
  }

  async #bind(listener: Listener): Promise<void> {
    listener.retry = null;
    if (this.#closed || this.#listeners.get(listener.address) !== listener) return;
    const udp = createSocket({ type: isIPv4(listener.address) ? 'udp4' : 'udp6' });
    const tcp = createServer({ pauseOnConnect: false }, (socket) => this.#accept(listener, socket));
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address: listener.address, port: this.#port, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: listener.address, port: this.#port, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      try {
        udp.close();
      } catch {}
      tcp.close();
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (!listener.failureLogged) {
        this.#log(
          `dns: cannot listen on ${endpoint(listener.address, this.#port)} (${code}); ` +
            `trying again every ${this.#retryMs} ms`
        );
        listener.failureLogged = true;
      }
      listener.retry = setTimeout(
        () => void this.#enqueue(() => this.#bind(listener)),
        this.#retryMs
      );
      return;
    }
    // a bound socket reports later errors here instead of crashing the process
    udp.on('error', (err) => this.#log(`dns: ${listener.address}: ${err.message}`));
    tcp.on('error', (err) => this.#log(`dns: ${listener.address}: ${err.message}`));
    udp.on('message', (bytes, from) => this.#receiveUdp(listener, udp, bytes, from));
    listener.udp = udp;
    listener.tcp = tcp;
    this.#log(`dns: listening on ${endpoint(listener.address, this.#port)} (UDP and TCP)`);
  }

  async #stop(listener: Listener): Promise<void> {
    if (listener.retry) clearTimeout(listener.retry);
    listener.retry = null;
    this.#listeners.delete(listener.address);
    const { udp, tcp } = listener;
    listener.udp = null;
    listener.tcp = null;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (tcp) {
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const socket of listener.sockets) socket.destroy();
      await closed;
    }
  }

  #receiveUdp(
    listener: Listener,
    udp: UdpSocket,
    bytes: Buffer,
    from: { address: string; port: number }
  ): void {
    this.#handle(listener, bytes, from.address, 'udp').then(
      (reply) => {
        if (!reply || listener.udp !== udp) return;
        try {
          udp.send(reply, from.port, from.address, () => {});
        } catch {}
      },
      () => {}
    );
  }

  /** One TCP connection: length-prefixed messages (RFC 1035 §4.2.2), pipelined (RFC 7766 §6.2.1.1). */
  #accept(listener: Listener, socket: Socket): void {
    socket.on('error', () => {});
    if (this.#tcpOpen >= this.#maxTcp || listener.tcp === null) {
      socket.destroy();
      return;
    }
    this.#tcpOpen++;
    listener.sockets.add(socket);
    let idle = setTimeout(() => socket.destroy(), this.#idleMs);
    const rearm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => socket.destroy(), this.#idleMs);
    };
    socket.once('close', () => {
      clearTimeout(idle);
      this.#tcpOpen--;
      listener.sockets.delete(socket);
    });
    const source = socket.remoteAddress ?? '';
    // the length first, then one buffer of that length: a slow sender costs no copying, and a
    // connection holds at most one message (64 KiB)
    const prefix = Buffer.alloc(2);
    let body: Buffer | null = null;
    let filled = 0;
    let pending = 0;
    const dispatch = (message: Buffer) => {
      rearm();
      if (++pending >= TCP_PIPELINE) socket.pause();
      this.#handle(listener, message, source, 'tcp').then(
        (reply) => {
          pending--;
          if (socket.destroyed) return;
          if (reply) {
            const length = Buffer.alloc(2);
            length.writeUInt16BE(reply.length);
            socket.write(Buffer.concat([length, reply]));
            if (socket.writableLength > TCP_WRITE_BACKLOG) socket.destroy();
          }
          rearm();
          if (pending < TCP_PIPELINE && socket.isPaused()) socket.resume();
        },
        () => socket.destroy()
      );
    };
    socket.on('data', (chunk: Buffer) => {
      let at = 0;
      while (at < chunk.length && !socket.destroyed) {
        if (!body) {
          prefix[filled++] = chunk[at++]!;
          if (filled < 2) continue;
          filled = 0;
          const length = prefix.readUInt16BE(0);
          // shorter than a header: no DNS message, and no way to find the next one
          if (length < HEADER_BYTES) {
            socket.destroy();
            return;
          }
          body = Buffer.allocUnsafe(length);
          continue;
        }
        const n = Math.min(body.length - filled, chunk.length - at);
        chunk.copy(body, filled, at, at + n);
        filled += n;
        at += n;
        if (filled < body.length) continue;
        const message = body;
        body = null;
        filled = 0;
        dispatch(message);
      }
    });
  }

  /** The reply to one message, or null to send none. Never rejects. */
  async #handle(
    listener: Listener,
    bytes: Buffer,
    source: string,
    transport: Transport
  ): Promise<Buffer | null> {
    try {
      const header = readHeader(bytes);
      // never answer a response, or what has no header to answer with (RFC 1035 §4.1.1)
      if (!header || header.qr) return null;
      let message: Message;
      try {
        message = readMessage(bytes);
      } catch (err) {
        if (err instanceof FormatError) return bare(header, RCODE.FORMERR);
        throw err;
      }
      if (header.opcode === OPCODE.QUERY) return await this.#query(listener, message, transport);
      if (header.opcode === OPCODE.UPDATE) return await this.#update(message, source);
      return bare(header, RCODE.NOTIMP);
    } catch (err) {
      this.#log(`dns: ${(err as Error).message}`);
      return null;
    }
  }

  async #query(listener: Listener, message: Message, transport: Transport): Promise<Buffer | null> {
    const { header } = message;
    // one question per query (RFC 9619)
    const question = message.questions[0];
    if (message.questions.length !== 1 || !question) return bare(header, RCODE.FORMERR);
    const edns = ednsSize(message);
    const limit = transport === 'tcp' ? 65_535 : (edns ?? UDP_PLAIN_BYTES);
    const additionals = edns === null ? [] : [encodeOpt()];
    const local = this.#answerLocally(question);
    if (local) {
      const reply = writeReply(
        {
          id: header.id,
          opcode: OPCODE.QUERY,
          rcode: RCODE.NOERROR,
          aa: true,
          rd: header.rd,
          ra: true,
        },
        questionOf(message),
        [local, [], additionals]
      );
      return reply.length > limit ? truncated(reply, message.questionEnd) : reply;
    }
    const answer = await this.#forwarder.forward(
      message.bytes,
      question,
      listener.upstreams,
      transport === 'tcp'
    );
    // no room: a UDP query is dropped (the client asks again), a TCP one is told
    if (answer === 'busy' && transport === 'udp') return null;
    if (answer === 'busy' || answer === 'failed')
      return writeReply(
        { id: header.id, opcode: OPCODE.QUERY, rcode: RCODE.SERVFAIL, rd: header.rd, ra: true },
        questionOf(message),
        [[], [], additionals]
      );
    if (answer.length <= limit) return answer;
    const end = answerQuestionEnd(answer);
    return end === null ? null : truncated(answer, end);
  }

  /** The answer records for `question` when the local records hold its name, else null. */
  #answerLocally(question: Question): Buffer[] | null {
    if (question.class !== CLASS.IN && question.class !== CLASS.ANY) return null;
    const index = this.#recordIndex();
    let name = lowerName(question.name);
    if (!index.has(name)) return null;
    const answers: Buffer[] = [];
    // the first owner is spelled as asked (RFC 4343 §4.1), the records' targets as held
    const push = (record: DnsRecord, owner: string) => {
      const encoded = encodeRecord(owner, record.type, record.ttl, record.value);
      if (encoded) answers.push(encoded);
    };
    const seen = new Set<string>();
    // a CNAME is followed within the local records (RFC 1034 §4.3.2 step 3a)
    for (let step = 0; step < CNAME_CHAIN && !seen.has(name); step++) {
      seen.add(name);
      const held = index.get(name) ?? [];
      const matching = held.filter(
        (r) => question.type === TYPE.ANY || LOCAL_TYPES[r.type] === question.type
      );
      const owner = step === 0 ? question.name : name;
      if (matching.length > 0) {
        for (const record of matching) push(record, owner);
        break;
      }
      const cname = held.find((r) => r.type === 'CNAME');
      if (!cname) break;
      push(cname, owner);
      name = lowerName(cname.value);
    }
    // held but not of this type: NODATA, NOERROR with no answer (RFC 2308 §2.2)
    return answers;
  }

  /** The records by name, rebuilt when `records()` returns another array. */
  #recordIndex(): Map<string, DnsRecord[]> {
    let records: readonly DnsRecord[];
    try {
      records = this.#opts.records();
    } catch (err) {
      this.#log(`dns: records: ${(err as Error).message}`);
      records = [];
    }
    if (this.#index?.records === records) return this.#index.byName;
    const byName = new Map<string, DnsRecord[]>();
    for (const record of records) {
      const name = lowerName(record.name);
      const list = byName.get(name);
      if (list) list.push(record);
      else byName.set(name, [record]);
    }
    this.#index = { records, byName };
    return byName;
  }

  /**
   * An UPDATE (RFC 2136 §3): REFUSED unless the source may publish and the message carries a
   * TSIG; a TSIG that does not verify is NOTAUTH with its TSIG error (RFC 8945 §5.2), unsigned
   * for BADKEY and BADSIG. Past that every reply is signed, and UPDATEs are applied one at a
   * time, each planned against the records its predecessors left.
   */
  async #update(message: Message, source: string): Promise<Buffer | null> {
    const { header } = message;
    const zone = questionOf(message);
    const reply = (rcode: number) =>
      writeReply({ id: header.id, opcode: OPCODE.UPDATE, rcode, rd: false }, zone, [[], [], []]);
    let tsig: Tsig | null;
    try {
      tsig = readTsig(message);
    } catch (err) {
      if (err instanceof FormatError) return reply(RCODE.FORMERR);
      throw err;
    }
    let grant: { psk: Uint8Array } | null = null;
    try {
      grant = this.#opts.authorize(source);
    } catch (err) {
      this.#log(`dns: authorize: ${(err as Error).message}`);
    }
    // RFC 2136 §3.3: a source that may not update, or an unsigned update, is refused
    if (!grant || !tsig) return reply(RCODE.REFUSED);
    const key = dnsUpdateKey(grant.psk);
    const nowS = (): number => Math.floor(this.#now() / 1000);
    const error = verifyTsig(message, tsig, key, nowS());
    if (error === RCODE.FORMERR) return reply(RCODE.FORMERR);
    if (error !== 0) {
      const signedBy = error === RCODE.BADTIME ? key : null;
      return signReply(reply(RCODE.NOTAUTH), signedBy, tsig, error, nowS());
    }
    if (this.#updatesWaiting >= UPDATE_QUEUE)
      return signReply(reply(RCODE.SERVFAIL), key, tsig, 0, nowS());
    this.#updatesWaiting++;
    const done = this.#updates.then(() => this.#apply(message, source));
    this.#updates = done.then(
      () => {},
      () => {}
    );
    const rcode = await done.finally(() => this.#updatesWaiting--);
    return signReply(reply(rcode), key, tsig, 0, nowS());
  }

  async #apply(message: Message, source: string): Promise<number> {
    // an UPDATE still queued when the resolver closed is not applied
    if (this.#closed) return RCODE.SERVFAIL;
    let records: readonly DnsRecord[];
    try {
      records = this.#opts.records();
    } catch {
      return RCODE.SERVFAIL;
    }
    const plan = planUpdate(message, records);
    if (plan.rcode !== RCODE.NOERROR || plan.changes.length === 0) return plan.rcode;
    try {
      await this.#opts.update(source, plan.changes);
      return RCODE.NOERROR;
    } catch (err) {
      this.#log(`dns: update from ${source} failed: ${(err as Error).message}`);
      return RCODE.SERVFAIL;
    }
  }
}

/** A reply with no question: to a message whose question could not be read (RFC 1035 §4.1.1). */
function bare(header: Header, rcode: number): Buffer {
  return writeReply(
    { id: header.id, opcode: header.opcode, rcode, rd: header.rd },
    { bytes: Buffer.alloc(0), count: 0 },
    [[], [], []]
  );
}

/** Where an upstream answer's question section ends, or null when it cannot be read. */
function answerQuestionEnd(answer: Buffer): number | null {
  const header = readHeader(answer);
  try {
    return header ? readQuestions(answer, header).questionEnd : null;
  } catch {
    return null;
  }
}

function endpoint(address: string, port: number): string {
  return isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}
