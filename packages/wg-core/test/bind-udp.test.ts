// SPDX-License-Identifier: MIT
/**
 * Tests of `bind-udp.ts` (the UDP bind on the native addon's recvmmsg/sendmmsg) on loopback
 * only: endpoint parsing, open(0) and the real port, batch round trips between two binds over
 * 127.0.0.1 and ::1 with the right source endpoints (cached: one object per source),
 * EADDRINUSE on either family, a datagram to a closed port (ICMP unreachable) breaking
 * nothing, oversized datagrams dropped and counted (then room for any), SO_MARK and socket
 * buffers (root only), replies leaving from the local address the peer wrote to (127.0.0.2 on
 * loopback: sticky sources), and a receiver that throws never taking the process down.
 * @module
 */

import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { networkInterfaces } from 'node:os';
import { after, describe, it } from 'node:test';
import { PacketBatch } from '../src/batch.ts';
import type { Endpoint } from '../src/bind.ts';
import { parseUdpEndpoint, UdpBind, UdpEndpoint } from '../src/bind-udp.ts';

const isRoot = process.getuid?.() === 0;
const hasV6Loopback = Object.values(networkInterfaces())
  .flat()
  .some((a) => a?.address === '::1');
const noV6 = hasV6Loopback ? false : 'no ::1 on this machine';

type Got = { data: Buffer; endpoint: Endpoint | null; offset: number; slot: number };

/** Sets a receiver that copies every datagram until `n` arrived; rejects after `ms`. */
function collect(bind: UdpBind, n: number, ms = 5000): Promise<Got[]> {
  const got: Got[] = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`got ${got.length} of ${n} datagrams`)), ms);
    bind.setReceiver((b) => {
      for (let i = 0; i < b.count; i++) {
        if (b.lengths[i] === 0) continue;
        got.push({
          data: Buffer.from(b.packet(i)),
          endpoint: b.endpoints[i] ?? null,
          offset: b.offsets[i]!,
          slot: b.slotStart(i),
        });
      }
      if (got.length >= n) {
        clearTimeout(t);
        resolve(got);
      }
    });
  });
}

function payload(i: number): Uint8Array {
  return new Uint8Array(1 + ((i * 37) % 1400)).fill(i & 0xff);
}

/** A port nothing listens on right now (bound, then released). */
async function closedPort(type: 'udp4' | 'udp6'): Promise<number> {
  const s = createSocket(type);
  s.bind(0, type === 'udp4' ? '127.0.0.1' : '::1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  return port;
}

const binds: UdpBind[] = [];
const sockets: Socket[] = [];
function newBind(opts?: ConstructorParameters<typeof UdpBind>[0]): UdpBind {
  const b = new UdpBind(opts);
  binds.push(b);
  return b;
}

after(async () => {
  for (const b of binds) await b.close();
  for (const s of sockets) s.close();
});

describe('parseUdpEndpoint', () => {
  it('parses IPv4 and bracketed IPv6, canonical text in key', () => {
    const a = parseUdpEndpoint('192.0.2.1:51820');
    assert.deepEqual([a.family, a.address, a.port, a.key], [4, '192.0.2.1', 51820, a.key]);
    assert.equal(a.key, '192.0.2.1:51820');
    const b = parseUdpEndpoint('[2001:DB8:0:0:0:0:0:1]:1');
    assert.deepEqual(
      [b.family, b.address, b.port, b.key],
      [6, '2001:db8::1', 1, '[2001:db8::1]:1']
    );
    assert.equal(parseUdpEndpoint('[::]:65535').key, '[::]:65535');
    assert.equal(parseUdpEndpoint('[2001:db8:0:1:0:0:0:1]:9').address, '2001:db8:0:1::1');
    assert.equal(parseUdpEndpoint('[2001:db8::1:0:0:1]:9').address, '2001:db8::1:0:0:1');
    assert.equal(parseUdpEndpoint('[64:ff9b::192.0.2.33]:9').address, '64:ff9b::c000:221');
  });

  it('maps IPv4-mapped IPv6 to the IPv4 endpoint', () => {
    const e = parseUdpEndpoint('[::ffff:192.0.2.7]:51820');
    assert.deepEqual([e.family, e.key], [4, '192.0.2.7:51820']);
  });

  it('rejects malformed text with a TypeError naming the value and the reason', () => {
    const cases: [string, RegExp][] = [
      ['192.0.2.1', /'192\.0\.2\.1': expected IP:port/],
      ['192.0.2.1:', /port '' is not an integer/],
      ['192.0.2.1:65536', /port '65536'/],
      ['192.0.2.1:+1', /port '\+1'/],
      ['192.0.2.256:1', /'192\.0\.2\.256' is not an IPv4 address/],
      ['host.example:51820', /is not an IPv4 address/],
      ['2001:db8::1:51820', /needs brackets/],
      ['[2001:db8::1]51820', /expected ':' and a port after ']'/],
      ['[2001:db8::1:51820', /missing ']'/],
      ['[fe80::1%eth0]:1', /zone ids are not supported/],
      ['[192.0.2.1]:1', /'192\.0\.2\.1' is not an IPv6 address/],
      ['', /expected IP:port/],
    ];
    for (const [text, reason] of cases) {
      assert.throws(
        () => parseUdpEndpoint(text),
        (err: unknown) =>
          err instanceof TypeError &&
          err.message.startsWith(`Invalid endpoint '${text}': `) &&
          reason.test(err.message),
        text
      );
    }
  });
});

describe('UdpBind', () => {
  it('open(0) binds a real port on both families and sends and receives IPv4 batches', async () => {
    const a = newBind();
    const b = newBind();
    const pa = await a.open(0);
    const pb = await b.open(0);
    assert.ok(pa > 0 && pa < 65536 && pa === a.port);
    assert.ok(pb > 0 && pb !== pa);
    const n = 40;
    const tx = new PacketBatch(n, 2048);
    const dst = a.parseEndpoint(`127.0.0.1:${pb}`);
    for (let i = 0; i < n; i++) assert.ok(tx.push(payload(i), dst, 16));
    const arriving = collect(b, n);
    a.send(tx);
    const got = await arriving;
    assert.equal(a.stats.txPackets, n);
    assert.equal(a.stats.txErrors, 0);
    assert.equal(got.length, n);
    got.forEach((g, i) => {
      assert.deepEqual(new Uint8Array(g.data), payload(i), `datagram ${i}`);
      assert.equal(g.offset, g.slot, 'received datagrams start at their slot');
      assert.equal(g.endpoint?.key, `127.0.0.1:${pa}`);
      assert.equal(g.endpoint, got[0]!.endpoint, 'one Endpoint object per source');
    });
    const src = got[0]!.endpoint as UdpEndpoint;
    assert.deepEqual([src.family, src.address, src.port], [4, '127.0.0.1', pa]);
    // the endpoint of a datagram carries the local address it came to (sticky source)
    assert.equal(src.sourceAddress, '127.0.0.1');
    assert.ok(src.sourceIfindex > 0, 'the loopback interface index');
    const parsed = b.parseEndpoint(`127.0.0.1:${pa}`);
    assert.equal(parsed.key, src.key);
    assert.equal((parsed as UdpEndpoint).sourceAddress, null, 'a parsed endpoint has no source');
    assert.equal(b.parseEndpoint(`127.0.0.1:${pa}`), parsed, 'parseEndpoint reuses the cached one');
    assert.ok(b.stats.rxBatches >= 1 && b.stats.rxBatches < n, 'datagrams arrive in batches');

    // Reply to the endpoint exactly as received.
    const reply = new PacketBatch(1, 256);
    reply.push(new Uint8Array([1, 2, 3]), src);
    const back = collect(a, 1);
    b.send(reply);
    const [r] = await back;
    assert.deepEqual([...r!.data], [1, 2, 3]);
    assert.equal(r!.endpoint?.key, `127.0.0.1:${pb}`);
  });

  it('sends and receives over IPv6 (::1), mixed with IPv4 in one batch', {
    skip: noV6,
  }, async () => {
    const a = newBind();
    const b = newBind();
    const pa = await a.open(0);
    const pb = await b.open(0);
    const v4 = a.parseEndpoint(`127.0.0.1:${pb}`);
    const v6 = a.parseEndpoint(`[::1]:${pb}`);
    const tx = new PacketBatch(8, 2048);
    for (let i = 0; i < 8; i++) tx.push(payload(i), i % 2 === 0 ? v6 : v4);
    const arriving = collect(b, 8);
    a.send(tx);
    const got = await arriving;
    const from6 = got.filter((g) => g.endpoint?.family === 6);
    const from4 = got.filter((g) => g.endpoint?.family === 4);
    assert.equal(from6.length, 4);
    assert.equal(from4.length, 4);
    for (const g of from6) assert.equal(g.endpoint?.key, `[::1]:${pa}`);
    assert.deepEqual(
      from6.map((g) => g.data[0]),
      [0, 2, 4, 6]
    );
    assert.deepEqual(
      from4.map((g) => g.data[0]),
      [1, 3, 5, 7]
    );
    assert.ok(from6[0]!.endpoint instanceof UdpEndpoint);
    assert.equal(from6[0]!.endpoint, from6[3]!.endpoint);
  });

  it('rejects with EADDRINUSE when the port is taken on IPv4 or IPv6, leaking nothing', async () => {
    const a = newBind();
    const port = await a.open(0);
    const c = newBind();
    await assert.rejects(c.open(port), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'EADDRINUSE');
      assert.match(err.message, new RegExp(`port ${port}`));
      return true;
    });
    assert.equal(c.port, 0);
    if (hasV6Loopback) {
      const s6 = createSocket({ type: 'udp6', ipv6Only: true });
      sockets.push(s6);
      s6.bind(0, '::');
      await once(s6, 'listening');
      const taken = s6.address().port;
      await assert.rejects(c.open(taken), { code: 'EADDRINUSE' });
      // The IPv4 socket bound before the IPv6 one failed must have been closed again.
      const s4 = createSocket('udp4');
      sockets.push(s4);
      s4.bind(taken, '0.0.0.0');
      await once(s4, 'listening');
    }
    assert.ok((await c.open(0)) > 0, 'still usable after a failed open');
    await assert.rejects(c.open(0), { code: 'ERR_BIND_OPEN' });
    await assert.rejects(c.open(70000), RangeError);
  });

  it('survives datagrams to closed ports (ICMP unreachable) and keeps working', async () => {
    const a = newBind();
    const b = newBind();
    await a.open(0);
    const pb = await b.open(0);
    const tx = new PacketBatch(4, 256);
    tx.push(new Uint8Array(20), a.parseEndpoint(`127.0.0.1:${await closedPort('udp4')}`));
    if (hasV6Loopback) {
      tx.push(new Uint8Array(20), a.parseEndpoint(`[::1]:${await closedPort('udp6')}`));
    }
    a.send(tx);
    a.send(tx);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const ok = new PacketBatch(1, 256);
    ok.push(new Uint8Array([42]), a.parseEndpoint(`127.0.0.1:${pb}`));
    const arriving = collect(b, 1);
    a.send(ok);
    const [g] = await arriving;
    assert.deepEqual([...g!.data], [42]);
    // And the bind that drew the ICMP errors still receives.
    const back = collect(a, 1);
    const reply = new PacketBatch(1, 256);
    reply.push(new Uint8Array([43]), g!.endpoint);
    b.send(reply);
    assert.deepEqual([...(await back)[0]!.data], [43]);
  });

  it('drops and counts datagrams larger than a slot, and unsendable packets', async () => {
    const a = newBind();
    const b = newBind({ slotSize: 256, batchSize: 4 });
    await a.open(0);
    const pb = await b.open(0);
    const dst = a.parseEndpoint(`127.0.0.1:${pb}`);
    const tx = new PacketBatch(4, 2048);
    tx.push(new Uint8Array(1000).fill(9), dst);
    tx.push(new Uint8Array(256).fill(8), dst);
    const arriving = collect(b, 1);
    a.send(tx);
    const [g] = await arriving;
    assert.equal(g!.data.length, 256);
    assert.equal(b.stats.rxDropped, 1);

    const odd = new PacketBatch(4, 256);
    odd.push(new Uint8Array(10), null); // no endpoint
    odd.push(new Uint8Array(0), dst); // empty slot: skipped, not an error
    const foreign: Endpoint = {
      family: 4,
      address: '127.0.0.1',
      port: pb,
      key: `127.0.0.1:${pb}`,
    };
    odd.push(new Uint8Array([7]), foreign); // made elsewhere: still sent
    const errors = a.stats.txErrors;
    const sent = a.stats.txPackets;
    const more = collect(b, 1);
    a.send(odd);
    assert.deepEqual([...(await more)[0]!.data], [7]);
    assert.equal(a.stats.txErrors, errors + 1);
    assert.equal(a.stats.txPackets, sent + 1);
  });

  it('stops receiving on close and counts sends after it', async () => {
    const a = newBind();
    const b = newBind();
    await a.open(0);
    const pb = await b.open(0);
    let calls = 0;
    b.setReceiver(() => calls++);
    await b.close();
    assert.equal(b.port, 0);
    const tx = new PacketBatch(1, 256);
    tx.push(new Uint8Array(8), a.parseEndpoint(`127.0.0.1:${pb}`));
    a.send(tx);
    b.send(tx);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(calls, 0);
    assert.equal(b.stats.txErrors, 1);
  });

  it('validates its options and the fwmark', () => {
    assert.throws(() => new UdpBind({ batchSize: 0 }), RangeError);
    assert.throws(() => new UdpBind({ slotSize: 32 }), RangeError);
    assert.throws(() => new UdpBind({ endpointCacheSize: 1000 }), /power of two/);
    assert.throws(() => new UdpBind().setMark(-1), RangeError);
    assert.throws(() => new UdpBind().setMark(2 ** 32), RangeError);
  });

  it('sets SO_MARK on its sockets and enlarges their buffers', {
    skip: !isRoot && 'needs root (CAP_NET_ADMIN)',
  }, async () => {
    const a = newBind();
    a.setMark(0x5157);
    await a.open(0);
    assert.equal(a.getMark(), 0x5157, 'a mark set before open is applied on open');
    a.setMark(0xca6c);
    assert.equal(a.getMark(), 0xca6c);
    a.setMark(0);
    assert.equal(a.getMark(), 0);
    const bufs = a.socketBuffers();
    assert.ok(bufs !== null);
    // The kernel reports twice the value set; 7 MiB forced past net.core.rmem_max as root.
    assert.ok(bufs.receive >= 7 << 20 && bufs.send >= 7 << 20, JSON.stringify(bufs));
  });

  it('replies from the local address the peer wrote to (sticky source), per endpoint', async () => {
    const a = newBind();
    const b = newBind();
    const pa = await a.open(0);
    const pb = await b.open(0);
    // every address of 127.0.0.0/8 is local: b writes to a's 127.0.0.2, then to 127.0.0.1
    const tx = new PacketBatch(2, 256);
    tx.push(Uint8Array.of(1), b.parseEndpoint(`127.0.0.2:${pa}`));
    tx.push(Uint8Array.of(2), b.parseEndpoint(`127.0.0.1:${pa}`));
    const arriving = collect(a, 2);
    b.send(tx);
    const got = await arriving;
    const to2 = got.find((g) => g.data[0] === 1)!.endpoint as UdpEndpoint;
    const to1 = got.find((g) => g.data[0] === 2)!.endpoint as UdpEndpoint;
    assert.equal(to2.key, `127.0.0.1:${pb}`);
    assert.equal(to2.sourceAddress, '127.0.0.2');
    assert.equal(to1.sourceAddress, '127.0.0.1');
    assert.notEqual(to1, to2, 'one endpoint per (remote, local) pair');
    // one batch answering both: each reply from the address its datagram came to
    const replies = new PacketBatch(2, 256);
    replies.push(Uint8Array.of(3), to2);
    replies.push(Uint8Array.of(4), to1);
    const back = collect(b, 2);
    a.send(replies);
    const answers = await back;
    const from2 = answers.find((g) => g.data[0] === 3)!.endpoint!;
    const from1 = answers.find((g) => g.data[0] === 4)!.endpoint!;
    assert.equal(from2.key, `127.0.0.2:${pa}`, 'the reply came from 127.0.0.2');
    assert.equal(from1.key, `127.0.0.1:${pa}`);
    assert.equal(a.stats.sourcesRefused, 0);
  });

  it('grows its slots after a datagram too large for them, and on request', async () => {
    const a = newBind();
    const b = newBind({ slotSize: 1024 });
    await a.open(0);
    const pb = await b.open(0);
    const dst = a.parseEndpoint(`127.0.0.1:${pb}`);
    const big = new Uint8Array(30_000).fill(7);
    const first = new PacketBatch(1, 32_768);
    first.push(big, dst);
    let batches = 0;
    b.setReceiver(() => batches++);
    a.send(first);
    for (let i = 0; i < 100 && b.stats.rxDropped === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(b.stats.rxDropped, 1, 'the first one did not fit and was counted');
    const arriving = collect(b, 1);
    a.send(first);
    const [got] = await arriving;
    assert.equal(got!.data.length, 30_000, 'the next one fits');
    assert.throws(() => b.setMaxDatagramSize(70_000), RangeError);
    const c = newBind({ slotSize: 1024 });
    c.setMaxDatagramSize(34_032);
    const pc = await c.open(0);
    const third = collect(c, 1);
    const tx = new PacketBatch(1, 40_000);
    tx.push(new Uint8Array(34_032).fill(1), a.parseEndpoint(`127.0.0.1:${pc}`));
    a.send(tx);
    assert.equal((await third)[0]!.data.length, 34_032);
    assert.equal(c.stats.rxDropped, 0);
  });

  it('survives a receiver that throws: counted, and the next batch is delivered', async () => {
    const a = newBind();
    const b = newBind();
    await a.open(0);
    const pb = await b.open(0);
    let thrown = 0;
    b.setReceiver(() => {
      thrown++;
      throw new Error('a receiver bug');
    });
    const tx = new PacketBatch(1, 256);
    tx.push(Uint8Array.of(9), a.parseEndpoint(`127.0.0.1:${pb}`));
    a.send(tx);
    for (let i = 0; i < 100 && thrown === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(thrown, 1);
    assert.equal(b.stats.rxReceiverErrors, 1);
    const arriving = collect(b, 1);
    a.send(tx);
    assert.deepEqual([...(await arriving)[0]!.data], [9]);
  });
});
