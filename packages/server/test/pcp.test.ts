// SPDX-License-Identifier: MIT
// The PCP server (RFC 6887, PORT_SET of RFC 7753) and NAT-PMP's refusal (RFC 6886) through real
// UDP sockets on a random 127.x.y.0/24 and a free high port, driven by a client written here
// byte by byte from the RFCs; a fake host records what the server asked for.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { answerPcp, PcpResult } from '../src/pcp.ts';
import { MapError, PortMapper } from '../src/portmap.ts';
import { FakePortMapHost } from '../src/portmap-fake.ts';
import { guardHost } from '../src/portmap-host.ts';

const NET = `127.${randomInt(1, 255)}.${randomInt(0, 256)}`;
const GATEWAY = `${NET}.1`;
const DEVICE = `${NET}.2`;
const STRANGER = `${NET}.3`;
const PORT = randomInt(20_000, 60_000);
const EXTERNAL = '203.0.113.7';
let clock = 1_000_000;

const TCP = 6;
const UDP = 17;

/** The 16-byte form of an IPv4 address (RFC 6887 §5). */
function mapped(ipv4: string): number[] {
  return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...ipv4.split('.').map(Number)];
}

interface MapRequestFields {
  version?: number;
  opcode?: number;
  lifetime?: number;
  client?: number[];
  nonce?: Uint8Array;
  protocol?: number;
  internalPort?: number;
  externalPort?: number;
  options?: Uint8Array[];
}

/** RFC 6887 §7.1 header + §11.1 MAP opcode + options. */
function mapRequest(f: MapRequestFields = {}): Uint8Array {
  const options = f.options ?? [];
  const out = new Uint8Array(60 + options.reduce((n, o) => n + o.length, 0));
  const v = new DataView(out.buffer);
  out[0] = f.version ?? 2;
  out[1] = f.opcode ?? 1;
  v.setUint32(4, f.lifetime ?? 7200);
  out.set(f.client ?? mapped(DEVICE), 8);
  out.set(f.nonce ?? new Uint8Array(12), 24);
  out[36] = f.protocol ?? TCP;
  v.setUint16(40, f.internalPort ?? 8080);
  v.setUint16(42, f.externalPort ?? 0);
  out.set(mapped('0.0.0.0'), 44);
  let at = 60;
  for (const o of options) {
    out.set(o, at);
    at += o.length;
  }
  return out;
}

/** RFC 7753 §4: PORT_SET (130), length 5, padded to 8. */
function portSet(size: number, first: number, parity = false): Uint8Array {
  const out = new Uint8Array(12);
  const v = new DataView(out.buffer);
  out[0] = 130;
  v.setUint16(2, 5);
  v.setUint16(4, size);
  v.setUint16(6, first);
  out[8] = parity ? 1 : 0;
  return out;
}

interface Response {
  bytes: Uint8Array;
  version: number;
  opcode: number;
  result: number;
  lifetime: number;
  epoch: number;
}

function parse(bytes: Uint8Array): Response {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    bytes,
    version: bytes[0]!,
    opcode: bytes[1]!,
    result: bytes[3]!,
    lifetime: v.getUint32(4),
    epoch: v.getUint32(8),
  };
}

const clients = new Map<string, Socket>();

async function client(address: string): Promise<Socket> {
  let socket = clients.get(address);
  if (socket) return socket;
  socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket!.bind(0, address, resolve));
  clients.set(address, socket);
  return socket;
}

/** Sends `message` from `from` and waits for one answer, or null after `waitMs`. */
async function exchange(
  message: Uint8Array,
  from = DEVICE,
  waitMs = 2_000
): Promise<Uint8Array | null> {
  const socket = await client(from);
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(null), waitMs);
    const onMessage = (reply: Buffer) => done(new Uint8Array(reply));
    const done = (reply: Uint8Array | null) => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(reply);
    };
    socket.on('message', onMessage);
    socket.send(message, PORT, GATEWAY);
  });
}

async function pcp(message: Uint8Array, from = DEVICE): Promise<Response> {
  const reply = await exchange(message, from);
  assert.ok(reply, 'an answer');
  return parse(reply);
}

const host = new FakePortMapHost({ devices: { [DEVICE]: null }, externalIp: EXTERNAL });
const lines: string[] = [];
let mapper: PortMapper;

before(async () => {
  mapper = new PortMapper({
    host,
    log: (l) => lines.push(l),
    serverPublicKey: 'test-key',
    ports: { pcp: PORT, ssdp: PORT + 1, http: PORT + 1 },
    now: () => clock,
  });
  await mapper.reconcile([{ address: GATEWAY }]);
  assert.equal(mapper.listening()[0]?.pcp, true, lines.join('\n'));
});

after(async () => {
  await mapper.close();
  for (const socket of clients.values()) socket.close();
});

describe('PCP MAP over UDP', () => {
  it('maps an IPv4 port set to the requester, capped lifetime, nonce echoed', async () => {
    host.calls.length = 0;
    clock += 42_000;
    const nonce = randomBytes(12);
    const r = await pcp(
      mapRequest({
        nonce,
        lifetime: 7200,
        internalPort: 8000,
        externalPort: 9000,
        options: [portSet(16, 8000, true)],
      })
    );
    assert.equal(r.version, 2);
    assert.equal(r.opcode, 0x81);
    assert.equal(r.result, PcpResult.SUCCESS);
    assert.equal(r.lifetime, 3600);
    assert.equal(r.epoch, 42);
    assert.deepEqual([...r.bytes.subarray(24, 36)], [...nonce]);
    assert.equal(r.bytes[36], TCP);
    const v = new DataView(r.bytes.buffer, r.bytes.byteOffset);
    assert.equal(v.getUint16(40), 8000);
    assert.equal(v.getUint16(42), 9000);
    assert.deepEqual([...r.bytes.subarray(44, 60)], mapped(EXTERNAL));
    // the PORT_SET option with the granted size, the first internal port and the parity bit
    assert.equal(r.bytes.length, 72);
    assert.deepEqual([...r.bytes.subarray(60, 69)], [130, 0, 0, 5, 0, 16, 0x1f, 0x40, 1]);
    assert.deepEqual(host.changes, [
      {
        method: 'map',
        req: {
          device: DEVICE,
          family: 4,
          protocol: 'tcp',
          internalPort: 8000,
          externalPort: 9000,
          count: 16,
          lifetimeSec: 3600,
          description: 'PCP',
          via: 'pcp',
        },
      },
    ]);
  });

  it('caps a PORT_SET at 1024 and reports the granted size', async () => {
    host.calls.length = 0;
    const r = await pcp(
      mapRequest({ protocol: UDP, internalPort: 20000, options: [portSet(5000, 20000)] })
    );
    assert.equal(r.result, PcpResult.SUCCESS);
    assert.deepEqual([...r.bytes.subarray(64, 66)], [0x04, 0x00]);
    const call = host.changes[0];
    assert.ok(call?.method === 'map');
    assert.equal(call.req.count, 1024);
    assert.equal(call.req.protocol, 'udp');
  });

  it('deletes with lifetime 0, and deleting again still succeeds', async () => {
    host.calls.length = 0;
    const first = await pcp(mapRequest({ lifetime: 0, internalPort: 8000 }));
    assert.equal(first.result, PcpResult.SUCCESS);
    assert.equal(first.lifetime, 0);
    const again = await pcp(mapRequest({ lifetime: 0, internalPort: 8000 }));
    assert.equal(again.result, PcpResult.SUCCESS);
    assert.deepEqual(
      host.changes.map((c) => c.method === 'unmap' && c.req),
      [
        { device: DEVICE, family: 4, protocol: 'tcp', internalPort: 8000, via: 'pcp' },
        { device: DEVICE, family: 4, protocol: 'tcp', internalPort: 8000, via: 'pcp' },
      ]
    );
    assert.equal(host.entries.filter((e) => e.internalPort === 8000).length, 0);
  });

  it('refuses a device not allowed to forward (NOT_AUTHORIZED), asking nothing of the host', async () => {
    host.calls.length = 0;
    const r = await pcp(mapRequest({ client: mapped(STRANGER) }), STRANGER);
    assert.equal(r.result, PcpResult.NOT_AUTHORIZED);
    assert.equal(r.bytes.length, 60);
    assert.deepEqual(host.changes, []);
  });

  it('answers malformed requests with their result codes', async () => {
    host.calls.length = 0;
    const cases: [string, Uint8Array, number][] = [
      [
        'PORT_SET of size 0',
        mapRequest({ options: [portSet(0, 8080)] }),
        PcpResult.MALFORMED_OPTION,
      ],
      [
        'PORT_SET not at the internal port',
        mapRequest({ options: [portSet(4, 8081)] }),
        PcpResult.MALFORMED_OPTION,
      ],
      ['internal port 0', mapRequest({ internalPort: 0 }), PcpResult.MALFORMED_REQUEST],
      ['protocol 0', mapRequest({ protocol: 0 }), PcpResult.MALFORMED_REQUEST],
      ['protocol 132', mapRequest({ protocol: 132 }), PcpResult.UNSUPP_PROTOCOL],
      ['version 1', mapRequest({ version: 1 }), PcpResult.UNSUPP_VERSION],
      ['PEER', mapRequest({ opcode: 2 }).slice(0, 60), PcpResult.UNSUPP_OPCODE],
      ['MAP shorter than 60', mapRequest().slice(0, 56), PcpResult.MALFORMED_REQUEST],
      [
        'another client address',
        mapRequest({ client: mapped('10.0.0.9') }),
        PcpResult.ADDRESS_MISMATCH,
      ],
      [
        'THIRD_PARTY',
        mapRequest({ options: [Uint8Array.of(1, 0, 0, 16, ...mapped(STRANGER))] }),
        PcpResult.UNSUPP_OPTION,
      ],
      [
        'option past the end',
        mapRequest({ options: [Uint8Array.of(130, 0, 0, 40, 0, 1, 0, 0)] }),
        PcpResult.MALFORMED_OPTION,
      ],
    ];
    for (const [name, message, result] of cases) {
      const r = await pcp(message);
      assert.equal(r.result, result, name);
      assert.equal(r.version, 2, name);
      assert.equal(r.lifetime, 30, name);
    }
    assert.deepEqual(host.changes, []);
  });

  it('ignores an unknown optional option', async () => {
    const r = await pcp(mapRequest({ options: [Uint8Array.of(200, 0, 0, 4, 1, 2, 3, 4)] }));
    assert.equal(r.result, PcpResult.SUCCESS);
  });

  it('translates the host refusals (CONFLICT, NO_RESOURCES, no external address)', async () => {
    host.failWith = new MapError('CONFLICT', 'Port "80" is the HTTP redirect');
    assert.equal(
      (await pcp(mapRequest({ internalPort: 80 }))).result,
      PcpResult.CANNOT_PROVIDE_EXTERNAL
    );
    host.failWith = new Error('nft failed');
    assert.equal((await pcp(mapRequest())).result, PcpResult.NO_RESOURCES);
    host.failWith = null;
    host.externalIpOf = null;
    assert.equal((await pcp(mapRequest())).result, PcpResult.CANNOT_PROVIDE_EXTERNAL);
    host.externalIpOf = EXTERNAL;
    assert.ok(lines.some((l) => l.includes('nft failed')));
  });

  it('answers ANNOUNCE for anyone, with a zero lifetime', async () => {
    const r = await pcp(mapRequest({ opcode: 0 }).slice(0, 24), STRANGER);
    assert.equal(r.opcode, 0x80);
    assert.equal(r.result, PcpResult.SUCCESS);
    assert.equal(r.lifetime, 0);
    assert.equal(r.bytes.length, 24);
  });
});

describe('NAT-PMP', () => {
  it('answers a version-0 request "unsupported version" at once (RFC 6886 §3.5)', async () => {
    clock += 5_000;
    const reply = await exchange(Uint8Array.of(0, 0));
    assert.ok(reply);
    const v = new DataView(reply.buffer, reply.byteOffset);
    assert.equal(reply.length, 8);
    assert.equal(reply[0], 0);
    assert.equal(reply[1], 128);
    assert.equal(v.getUint16(2), 1);
    assert.equal(v.getUint32(4), 47);
    // a mapping request (opcode 2: TCP) gets opcode 130
    const map = await exchange(Uint8Array.of(0, 2, 0, 0, 0x1f, 0x90, 0x1f, 0x90, 0, 0, 0x0e, 0x10));
    assert.equal(map?.[1], 130);
  });

  it('stays silent to a device not allowed to forward', async () => {
    assert.equal(await exchange(Uint8Array.of(0, 0), STRANGER, 300), null);
  });
});

describe('hostile datagrams', () => {
  it('drops garbage, responses and short packets, and keeps answering', async () => {
    const socket = await client(DEVICE);
    for (let i = 0; i < 300; i++) socket.send(randomBytes(randomInt(0, 1200)), PORT, GATEWAY);
    socket.send(Uint8Array.of(2, 0x81, ...new Array(58).fill(0)), PORT, GATEWAY);
    socket.send(Uint8Array.of(2, 1, 0, 0), PORT, GATEWAY);
    socket.send(new Uint8Array(2000).fill(2), PORT, GATEWAY);
    // the garbage's answers (if any) arrive first; then an ANNOUNCE is answered as usual
    await new Promise((resolve) => setTimeout(resolve, 200));
    const r = await pcp(mapRequest({ opcode: 0 }).slice(0, 24));
    assert.equal(r.result, PcpResult.SUCCESS);
    assert.equal(mapper.listening()[0]?.pcp, true);
  });

  it('a host that throws is a refusal, not a crash', async () => {
    const broken = guardHost(
      {
        authorize: () => {
          throw new Error('db gone');
        },
        externalIp: () => EXTERNAL,
        map: async () => {
          throw new Error('never');
        },
        unmap: async () => {},
        mappings: () => [],
      },
      () => {}
    );
    const ctx = { host: broken, epoch: () => 0, log: () => {} };
    const reply = await answerPcp(mapRequest(), DEVICE, ctx);
    assert.equal(reply?.[3], PcpResult.NOT_AUTHORIZED);
  });
});

describe('PCP MAP for IPv6', () => {
  it('maps a pinhole on the requester own address', async (t) => {
    const v6host = new FakePortMapHost({ devices: { [DEVICE]: '::1' }, externalIp: EXTERNAL });
    const v6 = new PortMapper({
      host: v6host,
      log: () => {},
      serverPublicKey: 'k',
      ports: { pcp: PORT },
    });
    await v6.reconcile([{ address: '::1' }]);
    if (!v6.listening()[0]?.pcp) {
      await v6.close();
      t.skip('::1 cannot be bound here');
      return;
    }
    const socket = createSocket({ type: 'udp6', ipv6Only: true });
    await new Promise<void>((resolve) => socket.bind(0, '::1', resolve));
    const loopback = [...new Array(15).fill(0), 1];
    const request = mapRequest({ client: loopback, internalPort: 443, externalPort: 80 });
    const reply = await new Promise<Uint8Array>((resolve) => {
      socket.once('message', (m) => resolve(new Uint8Array(m)));
      socket.send(request, PORT, '::1');
    });
    socket.close();
    await v6.close();
    assert.equal(reply[3], PcpResult.SUCCESS);
    assert.deepEqual([...reply.subarray(44, 60)], loopback);
    const call = v6host.changes[0];
    assert.ok(call?.method === 'map');
    assert.equal(call.req.family, 6);
    assert.equal(call.req.device, '::1');
    assert.equal(call.req.externalPort, 80);
    assert.equal(call.req.internalPort, 443);
  });
});

describe('PortMapper.reconcile', () => {
  const P = PORT + 3;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function squat(address: string, port: number): Promise<Socket> {
    const s = createSocket('udp4');
    await new Promise<void>((resolve) => s.bind({ address, port, exclusive: true }, resolve));
    return s;
  }

  it('retries a busy address until it is free, and lets go of removed ones', async () => {
    const log: string[] = [];
    const a = `${NET}.11`;
    const b = `${NET}.12`;
    const squatter = await squat(a, P);
    const m = new PortMapper({
      host,
      log: (l) => log.push(l),
      serverPublicKey: 'k',
      ports: { pcp: P, ssdp: P + 1, http: P + 2 },
      retryMs: 50,
    });
    try {
      await m.reconcile([
        { address: a },
        { address: b },
        { address: 'gateway' },
        { address: '0.0.0.0' },
      ]);
      assert.deepEqual(
        m.listening().map((l) => [l.address, l.pcp]),
        [
          [a, false],
          [b, true],
        ]
      );
      assert.ok(log.some((l) => l.includes(`cannot bind pcp ${a}:${P} (EADDRINUSE)`)));
      assert.ok(log.some((l) => l.includes('ignoring "gateway"')));
      assert.ok(log.some((l) => l.includes('ignoring "0.0.0.0"')));
      await new Promise<void>((resolve) => squatter.close(resolve));
      for (let i = 0; i < 100 && !m.listening()[0]?.pcp; i++) await sleep(50);
      assert.equal(m.listening()[0]?.pcp, true);
      assert.equal(log.filter((l) => l.includes('cannot bind pcp')).length, 1);
      await m.reconcile([{ address: b }]);
      assert.deepEqual(
        m.listening().map((l) => l.address),
        [b]
      );
      // a's port is free again
      await new Promise<void>((resolve) => squat(a, P).then((s) => s.close(resolve)));
    } finally {
      await m.close();
    }
    assert.deepEqual(m.listening(), []);
    await m.reconcile([{ address: a }]);
    assert.deepEqual(m.listening(), []);
    await new Promise<void>((resolve) => squat(b, P).then((s) => s.close(resolve)));
  });
});

describe('a host that never answers', () => {
  it('is a NO_RESOURCES after the timeout, and the device can ask again', async () => {
    const log: string[] = [];
    const stuck = guardHost(
      {
        authorize: (s) => (s === DEVICE ? { device: DEVICE, gua: null } : null),
        externalIp: () => EXTERNAL,
        map: () => new Promise(() => {}),
        unmap: () => new Promise(() => {}),
        mappings: () => [],
      },
      (l) => log.push(l),
      100
    );
    const ctx = { host: stuck, epoch: () => 0, log: () => {} };
    assert.equal((await answerPcp(mapRequest(), DEVICE, ctx))?.[3], PcpResult.NO_RESOURCES);
    assert.equal(
      (await answerPcp(mapRequest({ lifetime: 0 }), DEVICE, ctx))?.[3],
      PcpResult.NO_RESOURCES
    );
    assert.ok(log.some((l) => l.includes('no answer within 100 ms')));
  });
});
