// SPDX-License-Identifier: MIT
// The gateway's resolver on loopback addresses of a random 127.x.y.0/24 and a free high port,
// driven by BIND's dig and nsupdate (Debian bind9-dnsutils) and by raw packets: local records,
// NODATA, forwarding to a fake upstream, SERVFAIL on timeout, RFC 2136 UPDATE signed with TSIG,
// refusals, hostile input and reconcile.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  type DnsChange,
  type DnsRecord,
  DnsService,
  type DnsServiceOptions,
  dnsUpdateKey,
} from '../src/dns.ts';
import { encodeRecord, readMessage, writeReply } from '../src/dns-wire.ts';

// one /24 of 127/8 per run, so that concurrent runs on one machine do not meet
const NET = `127.${randomInt(1, 255)}.${randomInt(0, 256)}`;
const A = `${NET}.1`; // a subnet gateway, forwarding to UP
const B = `${NET}.2`; // another, forwarding to SILENT
const UP = `${NET}.3`; // the fake upstream
const SILENT = `${NET}.4`; // an upstream that never answers
const SQUAT = `${NET}.5`; // taken by someone else at first
const LIMITS = `${NET}.6`; // the resolver with small limits
const DEV = `${NET}.10`; // a device allowed to publish
const STRANGER = `${NET}.11`; // a device that is not
let PORT = 0;

/** Bounds a test that waits on sockets or processes: a hang fails instead of stalling the run. */
const HANG = { timeout: 20_000 };

const PSK = randomBytes(32);
const SECRET = Buffer.from(dnsUpdateKey(PSK)).toString('base64');
const KEY = `hmac-sha256:startos-dns-update.:${SECRET}`;

const INITIAL: DnsRecord[] = [
  { name: 'box.local', type: 'A', value: '10.59.0.9', ttl: 60, source: null },
  { name: 'alias.local', type: 'CNAME', value: 'box.local', ttl: 60, source: null },
  { name: 'note.local', type: 'TXT', value: 'hello', ttl: 60, source: null },
];

/** The store as the control plane keeps it: add replaces the same type and value. */
function applyChanges(list: readonly DnsRecord[], source: string, changes: DnsChange[]) {
  let out = [...list];
  const same = (r: DnsRecord, c: { name: string; type: string; value: string }) =>
    r.name === c.name && r.type === c.type && r.value === c.value;
  for (const c of changes) {
    if (c.op === 'add') out = [...out.filter((r) => !same(r, c)), { ...c, source }];
    else if (c.op === 'delete-rr') out = out.filter((r) => !same(r, c));
    else out = out.filter((r) => !(r.name === c.name && (c.type === 'ANY' || r.type === c.type)));
  }
  return out;
}

let records: DnsRecord[] = [...INITIAL];
const calls: { source: string; changes: DnsChange[] }[] = [];
let rejectUpdates = false;
let skewMs = 0;
const lines: string[] = [];

function service(opts: Partial<DnsServiceOptions> = {}): DnsService {
  return new DnsService({
    port: PORT,
    log: (l) => lines.push(l),
    records: () => records,
    authorize: (source) => (source === DEV ? { psk: PSK } : null),
    update: async (source, changes) => {
      if (rejectUpdates) throw new Error('store refused');
      calls.push({ source, changes });
      records = applyChanges(records, source, changes);
    },
    upstreamTimeoutMs: 500,
    now: () => Date.now() + skewMs,
    retryMs: 50,
    ...opts,
  });
}

function run(command: string, args: string[], input = ''): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.stdin.on('error', () => {});
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
    child.stdin.end(input);
  });
}

interface Dug {
  status: string | undefined;
  flags: string[];
  answers: string[];
  out: string;
}

async function dig(server: string, ...args: string[]): Promise<Dug> {
  const { out } = await run('dig', [
    `@${server}`,
    '-p',
    String(PORT),
    '+tries=1',
    '+time=3',
    '+nocookie',
    ...args,
  ]);
  const answers: string[] = [];
  const section = out.split(';; ANSWER SECTION:\n')[1];
  if (section)
    for (const line of section.split('\n')) {
      if (line.trim() === '') break;
      answers.push(line.trim().split(/\s+/).join(' '));
    }
  const flags = /;; flags: ([a-z ]*);/.exec(out)?.[1]?.trim().split(' ') ?? [];
  return { status: /status: ([A-Z]+)/.exec(out)?.[1], flags, answers, out };
}

function nsupdate(
  commands: string[],
  opts: { key?: string | null; local?: string; server?: string; tcp?: boolean } = {}
): Promise<{ code: number; out: string }> {
  const script = [
    `server ${opts.server ?? A} ${PORT}`,
    `local ${opts.local ?? DEV}`,
    'zone local.',
    ...commands,
    'send',
    '',
  ].join('\n');
  const key = opts.key === undefined ? KEY : opts.key;
  const args = ['-t', '4', '-r', '0', ...(key ? ['-y', key] : []), ...(opts.tcp ? ['-v'] : [])];
  return run('nsupdate', args, script);
}

/** One UDP exchange with the resolver on `address`: its reply, or null within `waitMs`. */
async function udpAsk(address: string, bytes: Buffer, waitMs = 1_000): Promise<Buffer | null> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => socket.bind(0, DEV, resolve));
    const reply = new Promise<Buffer | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), waitMs);
      socket.once('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    socket.send(bytes, PORT, address);
    return await reply;
  } finally {
    socket.close();
  }
}

/** A query for `name` and `type` in wire form, with ID `id` and optional opcode. */
function query(name: string, type: number, id = 0x1234, opcode = 0): Buffer {
  const labels = name
    .split('.')
    .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE((opcode << 11) | 0x0100, 2);
  header.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(type, 1);
  tail.writeUInt16BE(1, 3);
  return Buffer.concat([header, ...labels, tail]);
}

function rcodeOf(reply: Buffer): number {
  return reply.readUInt16BE(2) & 0xf;
}

async function until(what: string, test: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await test()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`never: ${what}`);
}

/** Resolves when `socket` is closed by the other side (true) or after `waitMs` (false). */
function closedWithin(socket: Socket, waitMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), waitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function tcpOpen(address: string): Promise<Socket> {
  const socket = connect({ host: address, port: PORT, localAddress: DEV });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** The fake upstream: UDP and TCP on UP; counts what it is asked. */
const upstream = {
  udp: null as UdpSocket | null,
  tcp: null as Server | null,
  asked: [] as string[],
};
/** The silent upstream: UDP on SILENT, never answers; counts. */
const silent = { udp: null as UdpSocket | null, asked: 0 };

function upstreamAnswer(bytes: Buffer, overTcp: boolean): Buffer | null {
  const message = readMessage(bytes);
  const question = message.questions[0]!;
  upstream.asked.push(`${overTcp ? 'tcp' : 'udp'} ${question.name} ${message.header.id}`);
  const name = question.name.toLowerCase();
  const zone = { bytes: bytes.subarray(12, message.questionEnd), count: 1 };
  const head = { id: message.header.id, opcode: 0, rd: true, ra: true };
  if (name === 'example.test')
    return writeReply({ ...head, rcode: 0 }, zone, [
      [encodeRecord(question.name, 'A', 30, '192.0.2.1')!],
      [],
      [],
    ]);
  // too big for UDP, says the upstream: the whole answer over TCP (RFC 7766 §5)
  if (name === 'big.test')
    return overTcp
      ? writeReply({ ...head, rcode: 0 }, zone, [
          [encodeRecord(question.name, 'A', 30, '192.0.2.2')!],
          [],
          [],
        ])
      : writeReply({ ...head, rcode: 0, tc: true }, zone, [[], [], []]);
  return writeReply({ ...head, rcode: 3 }, zone, [[], [], []]);
}

let dns: DnsService;

before(async () => {
  const probe = await run('sh', ['-c', 'command -v dig && command -v nsupdate']);
  assert.equal(probe.code, 0, 'dig and nsupdate are needed (apt-get install bind9-dnsutils)');
  // a port free on this /24: bound on A and let go
  const s = createServer();
  s.listen({ host: A, port: 0 });
  await once(s, 'listening');
  PORT = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));

  const udp = createSocket('udp4');
  udp.on('message', (m, from) => {
    try {
      const reply = upstreamAnswer(m, false);
      if (reply) udp.send(reply, from.port, from.address);
    } catch {}
  });
  await new Promise<void>((resolve) => udp.bind(PORT, UP, resolve));
  const tcp = createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', (chunk: Buffer) => {
      const reply = upstreamAnswer(chunk.subarray(2, 2 + chunk.readUInt16BE(0)), true);
      if (!reply) return;
      const length = Buffer.alloc(2);
      length.writeUInt16BE(reply.length);
      socket.end(Buffer.concat([length, reply]));
    });
  });
  tcp.listen({ host: UP, port: PORT });
  await once(tcp, 'listening');
  upstream.udp = udp;
  upstream.tcp = tcp;
  const quiet = createSocket('udp4');
  quiet.on('message', () => silent.asked++);
  await new Promise<void>((resolve) => quiet.bind(PORT, SILENT, resolve));
  silent.udp = quiet;

  dns = service();
  await dns.reconcile([
    { address: A, upstreams: [`${UP}:${PORT}`] },
    { address: B, upstreams: [`${SILENT}:${PORT}`] },
  ]);
  assert.deepEqual(dns.listening().sort(), [A, B].sort());
});

after(async () => {
  await dns?.close();
  upstream.udp?.close();
  upstream.tcp?.close();
  silent.udp?.close();
});

describe('queries', HANG, () => {
  it('answers a record it holds, whatever the case of the name, over UDP and TCP', async () => {
    const asked = upstream.asked.length;
    for (const extra of [[], ['+tcp']]) {
      const r = await dig(A, 'BoX.LoCaL', 'A', ...extra);
      assert.equal(r.status, 'NOERROR', r.out);
      assert.deepEqual(r.answers, ['BoX.LoCaL. 60 IN A 10.59.0.9'], r.out);
      assert.ok(r.flags.includes('aa'), r.out);
    }
    assert.equal(upstream.asked.length, asked, 'a held name is never forwarded');
  });

  it('answers NODATA for a held name without that type, not the upstream NXDOMAIN', async () => {
    const asked = upstream.asked.length;
    const r = await dig(A, 'box.local', 'AAAA');
    assert.equal(r.status, 'NOERROR', r.out);
    assert.deepEqual(r.answers, [], r.out);
    // type 65 (HTTPS), which a phone asks for every name: held, so NODATA too
    const https = await dig(A, 'box.local', 'TYPE65');
    assert.equal(https.status, 'NOERROR', https.out);
    assert.deepEqual(https.answers, []);
    assert.equal(upstream.asked.length, asked);
  });

  it('follows a CNAME within the local records, and answers TXT', async () => {
    const r = await dig(A, 'alias.local', 'A');
    assert.deepEqual(r.answers, [
      'alias.local. 60 IN CNAME box.local.',
      'box.local. 60 IN A 10.59.0.9',
    ]);
    const txt = await dig(A, 'note.local', 'TXT');
    assert.deepEqual(txt.answers, ['note.local. 60 IN TXT "hello"']);
  });

  it('forwards other names to the upstream and keeps the ID and question', async () => {
    const reply = await udpAsk(A, query('Example.Test', 1, 0xbeef));
    assert.ok(reply, 'a reply');
    assert.equal(reply.readUInt16BE(0), 0xbeef);
    const message = readMessage(reply);
    assert.equal(message.questions[0]?.name, 'Example.Test');
    assert.equal(message.sections[0].length, 1);
    const [, , id] = upstream.asked.at(-1)!.split(' ');
    assert.notEqual(Number(id), 0xbeef, 'the upstream sees a fresh ID');
    const r = await dig(A, 'example.test', 'A');
    assert.deepEqual(r.answers, ['example.test. 30 IN A 192.0.2.1'], r.out);
    const nx = await dig(A, 'nothing.test', 'A');
    assert.equal(nx.status, 'NXDOMAIN', nx.out);
  });

  it('asks again over TCP when the upstream truncates, and over TCP for a TCP query', async () => {
    const r = await dig(A, 'big.test', 'A');
    assert.deepEqual(r.answers, ['big.test. 30 IN A 192.0.2.2'], r.out);
    assert.deepEqual(
      upstream.asked.slice(-2).map((l) => l.split(' ').slice(0, 2).join(' ')),
      ['udp big.test', 'tcp big.test']
    );
    const overTcp = await dig(A, 'example.test', 'A', '+tcp');
    assert.deepEqual(overTcp.answers, ['example.test. 30 IN A 192.0.2.1'], overTcp.out);
    assert.match(upstream.asked.at(-1)!, /^tcp example\.test/);
  });

  it('answers SERVFAIL when the upstream does not answer in time', async () => {
    const asked = silent.asked;
    const r = await dig(B, 'example.test', 'A');
    assert.equal(r.status, 'SERVFAIL', r.out);
    assert.equal(silent.asked, asked + 1);
  });
});

describe('RFC 2136 UPDATE', HANG, () => {
  it('adds and deletes records signed with the device key', async () => {
    const before = calls.length;
    const added = await nsupdate([
      'update add new.local. 300 A 10.59.0.20',
      'update add new.local. 300 TXT "v=1 x"',
    ]);
    assert.equal(added.code, 0, added.out);
    assert.deepEqual(calls.slice(before), [
      {
        source: DEV,
        changes: [
          { op: 'add', name: 'new.local', type: 'A', value: '10.59.0.20', ttl: 300 },
          { op: 'add', name: 'new.local', type: 'TXT', value: 'v=1 x', ttl: 300 },
        ],
      },
    ]);
    assert.deepEqual((await dig(A, 'new.local', 'A')).answers, ['new.local. 300 IN A 10.59.0.20']);

    const deleted = await nsupdate([
      'update delete new.local. TXT "v=1 x"',
      'update delete new.local. A',
      'update delete gone.local.',
    ]);
    assert.equal(deleted.code, 0, deleted.out);
    assert.deepEqual(calls.at(-1)?.changes, [
      { op: 'delete-rr', name: 'new.local', type: 'TXT', value: 'v=1 x' },
      { op: 'delete-rrset', name: 'new.local', type: 'A' },
      { op: 'delete-rrset', name: 'gone.local', type: 'ANY' },
    ]);
    // no longer held: forwarded, and the upstream knows no such name
    assert.equal((await dig(A, 'new.local', 'A')).status, 'NXDOMAIN');
  });

  it('works over TCP, with a signed reply nsupdate checks', async () => {
    const r = await nsupdate(['update add tcp.local. 60 AAAA 2001:DB8:0::1'], { tcp: true });
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(calls.at(-1)?.changes, [
      { op: 'add', name: 'tcp.local', type: 'AAAA', value: '2001:db8::1', ttl: 60 },
    ]);
  });

  const refusals: [string, () => Promise<{ code: number; out: string }>, RegExp][] = [
    [
      'a wrong key (NOTAUTH, BADSIG)',
      () =>
        nsupdate(['update add evil.local. 60 A 192.0.2.66'], {
          key: `hmac-sha256:startos-dns-update.:${randomBytes(32).toString('base64')}`,
        }),
      /update failed: NOTAUTH\(BADSIG\)/,
    ],
    [
      'another key name (NOTAUTH, BADKEY)',
      () =>
        nsupdate(['update add evil.local. 60 A 192.0.2.66'], {
          key: `hmac-sha256:another-key.:${SECRET}`,
        }),
      /update failed: NOTAUTH\(BADKEY\)/,
    ],
    [
      'a device not allowed to publish (REFUSED)',
      () => nsupdate(['update add evil.local. 60 A 192.0.2.66'], { local: STRANGER }),
      /update failed: REFUSED/,
    ],
    [
      'an unsigned update (REFUSED)',
      () => nsupdate(['update add evil.local. 60 A 192.0.2.66'], { key: null }),
      /update failed: REFUSED/,
    ],
    [
      'a type the resolver does not hold (REFUSED)',
      () => nsupdate(['update add evil.local. 60 MX 10 mail.evil.local.']),
      /update failed: REFUSED/,
    ],
    [
      'a failed prerequisite (YXDOMAIN)',
      () => nsupdate(['prereq nxdomain box.local.', 'update add box.local. 60 A 192.0.2.66']),
      /update failed: YXDOMAIN/,
    ],
  ];
  for (const [name, attempt, output] of refusals) {
    it(`refuses ${name} and changes nothing`, async () => {
      const before = { calls: calls.length, records };
      const r = await attempt();
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, output);
      assert.equal(calls.length, before.calls);
      assert.equal(records, before.records);
    });
  }

  it('refuses a signature outside the 300 s window (NOTAUTH, BADTIME) and changes nothing', async () => {
    const before = calls.length;
    skewMs = 1_000_000;
    try {
      const r = await nsupdate(['update add late.local. 60 A 192.0.2.7']);
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, /update failed: NOTAUTH\(BADTIME\)/);
    } finally {
      skewMs = 0;
    }
    assert.equal(calls.length, before);
  });

  it('answers SERVFAIL when the store rejects the change', async () => {
    rejectUpdates = true;
    try {
      const r = await nsupdate(['update add fail.local. 60 A 192.0.2.8']);
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, /SERVFAIL/);
    } finally {
      rejectUpdates = false;
    }
    assert.match(lines.join('\n'), /update from .* failed: store refused/);
  });

  it('applies a prerequisite that holds', async () => {
    const r = await nsupdate([
      'prereq yxrrset box.local. A 10.59.0.9',
      'update add box.local. 60 A 10.59.0.10',
    ]);
    assert.equal(r.code, 0, r.out);
    const answers = (await dig(A, 'box.local', 'A')).answers.sort();
    assert.deepEqual(answers, ['box.local. 60 IN A 10.59.0.10', 'box.local. 60 IN A 10.59.0.9']);
    records = records.filter((r) => r.value !== '10.59.0.10');
  });
});

describe('hostile input', HANG, () => {
  it('answers FORMERR to what it cannot read and drops what has no header or is a response', async () => {
    const short = await udpAsk(A, Buffer.from([0x12, 0x34, 0x01]), 300);
    assert.equal(short, null);
    const cut = query('box.local', 1, 0x4321).subarray(0, 20);
    const formerr = await udpAsk(A, cut);
    assert.ok(formerr);
    assert.equal(formerr.readUInt16BE(0), 0x4321);
    assert.equal(rcodeOf(formerr), 1);
    // a name that points at itself (RFC 1035 §4.1.4 pointers only go backwards)
    const loop = Buffer.concat([
      query('a', 1).subarray(0, 12),
      Buffer.from([0xc0, 12, 0, 1, 0, 1]),
    ]);
    assert.equal(rcodeOf((await udpAsk(A, loop))!), 1);
    const response = query('box.local', 1);
    response.writeUInt16BE(response.readUInt16BE(2) | 0x8000, 2);
    assert.equal(await udpAsk(A, response, 300), null);
    // opcode STATUS (2): not implemented (RFC 1035 §4.1.1)
    assert.equal(rcodeOf((await udpAsk(A, query('box.local', 1, 7, 2)))!), 4);
  });

  it('survives a burst of garbage and still answers', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, DEV, resolve));
    for (let i = 0; i < 300; i++) {
      const junk = randomBytes(randomInt(0, 600));
      // half of them look like queries, with random counts and sections
      if (i % 2 === 0 && junk.length >= 4) junk.writeUInt16BE(junk.readUInt16BE(2) & 0x7fff, 2);
      socket.send(junk, PORT, A);
    }
    socket.close();
    const r = await dig(A, 'box.local', 'A');
    assert.deepEqual(r.answers, ['box.local. 60 IN A 10.59.0.9'], r.out);
  });

  it('closes a TCP connection with a length shorter than a header', async () => {
    const socket = await tcpOpen(A);
    socket.write(Buffer.from([0, 5, 1, 2, 3, 4, 5]));
    assert.equal(await closedWithin(socket, 5_000), true);
  });

  describe('limits', () => {
    let small: DnsService;
    before(async () => {
      small = service({ tcpIdleTimeoutMs: 300, maxTcpConnections: 2, maxInflight: 2 });
      await small.reconcile([{ address: LIMITS, upstreams: [`${SILENT}:${PORT}`] }]);
      assert.deepEqual(small.listening(), [LIMITS]);
    });
    after(() => small.close());

    it('cuts a TCP client that announces a big message and sends it slowly', async () => {
      const socket = await tcpOpen(LIMITS);
      socket.write(Buffer.from([0xff, 0xff, 0, 0, 0]));
      assert.equal(await closedWithin(socket, 5_000), true);
    });

    it('refuses TCP connections beyond the cap', async () => {
      const held = [await tcpOpen(LIMITS), await tcpOpen(LIMITS)];
      const extra = await tcpOpen(LIMITS);
      assert.equal(await closedWithin(extra, 5_000), true);
      for (const s of held) s.destroy();
    });

    it('keeps at most maxInflight forwards and drops the UDP queries beyond', async () => {
      const asked = silent.asked;
      const replies = await Promise.all(
        Array.from({ length: 6 }, (_, i) => udpAsk(LIMITS, query(`x${i}.test`, 1, i), 2_000))
      );
      const answered = replies.filter((r) => r !== null);
      assert.equal(answered.length, 2, 'two SERVFAILs, four dropped');
      for (const r of answered) assert.equal(rcodeOf(r), 2);
      assert.equal(silent.asked - asked, 2);
      // local answers do not wait for forwards
      assert.ok(await udpAsk(LIMITS, query('box.local', 1)));
    });
  });
});

describe('reconcile', HANG, () => {
  it('closes a removed address and binds an added one', async () => {
    await dns.reconcile([{ address: B, upstreams: [`${SILENT}:${PORT}`] }]);
    assert.deepEqual(dns.listening(), [B]);
    assert.equal(await udpAsk(A, query('box.local', 1), 300), null);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: A, port: PORT });
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    });
    assert.equal(refused, true);
    await dns.reconcile([
      { address: A, upstreams: [`${UP}:${PORT}`] },
      { address: B, upstreams: [`${SILENT}:${PORT}`] },
    ]);
    assert.deepEqual((await dig(A, 'box.local', 'A')).answers, ['box.local. 60 IN A 10.59.0.9']);
  });

  it('takes new upstreams for a kept address, and skips itself as one', async () => {
    await dns.reconcile([
      { address: A, upstreams: [`${UP}:${PORT}`] },
      { address: B, upstreams: [`${UP}:${PORT}`, `${A}:${PORT}`, 'nonsense'] },
    ]);
    assert.deepEqual((await dig(B, 'example.test', 'A')).answers, [
      'example.test. 30 IN A 192.0.2.1',
    ]);
    assert.match(
      lines.join('\n'),
      new RegExp(`ignoring upstream "${A}:${PORT}": it is this resolver`)
    );
    assert.match(lines.join('\n'), /ignoring upstream "nonsense"/);
    await dns.reconcile([
      { address: A, upstreams: [`${UP}:${PORT}`] },
      { address: B, upstreams: [`${SILENT}:${PORT}`] },
    ]);
    assert.equal((await dig(B, 'example.test', 'A')).status, 'SERVFAIL');
  });

  it('logs an address it cannot bind and binds it once free', async () => {
    const squatter = createSocket('udp4');
    await new Promise<void>((resolve) => squatter.bind(PORT, SQUAT, resolve));
    await dns.reconcile([
      { address: A, upstreams: [`${UP}:${PORT}`] },
      { address: SQUAT, upstreams: [] },
    ]);
    assert.deepEqual(dns.listening(), [A]);
    assert.match(
      lines.join('\n'),
      new RegExp(`cannot listen on ${SQUAT}:${PORT} \\(EADDRINUSE\\)`)
    );
    squatter.close();
    await until('bound after the squatter left', () => dns.listening().includes(SQUAT));
    assert.deepEqual((await dig(SQUAT, 'box.local', 'A')).answers, [
      'box.local. 60 IN A 10.59.0.9',
    ]);
    // no upstreams: what is not held is SERVFAIL
    assert.equal((await dig(SQUAT, 'example.test', 'A')).status, 'SERVFAIL');
  });

  it('does nothing after close', async () => {
    const lone = service();
    await lone.close();
    await lone.reconcile([{ address: SQUAT, upstreams: [] }]);
    assert.deepEqual(lone.listening(), []);
  });
});
