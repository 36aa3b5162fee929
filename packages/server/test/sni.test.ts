// SPDX-License-Identifier: MIT
// The SNI proxy end to end on loopback (a random 127.x.y.0/24 and free high ports, no root):
// node:tls clients, two TLS backends behind a PROXY v2 reader (the certificate of
// @start-tunnel/web's generateCertificate), routes by exact name and a fallback, 1 MiB each way,
// a ClientHello trickled byte by byte, and hostile visitors (garbage, slow, oversized, too many).
// The transparent path needs namespaces (test/sni-lab.test.ts); here it is only shown to close
// the visitor rather than fall back to a plain connect, and, as root, the addon's connect from a
// foreign loopback source.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  createServer as createTlsServer,
  type TLSSocket,
  type Server as TlsServer,
  connect as tlsConnect,
} from 'node:tls';
import { generateCertificate } from '@start-tunnel/web';
import { connectTransparent } from '@start-tunnel/wg-core';
import { type SniListener, SniProxy, type SniProxyOptions, type SniRoute } from '../src/sni.ts';

const NET = `127.${randomInt(1, 255)}.${randomInt(0, 256)}`;
const ADDRESS = `${NET}.1`;
const OTHER = `${NET}.2`;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(pred: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

async function freePort(host: string): Promise<number> {
  const s = createServer();
  s.listen(0, host);
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

interface Seen {
  src: string;
  dst: string;
  servername: string;
}

/**
 * A device's TLS service behind a PROXY v2 reader (§2.2 layout, read here independently of the
 * code under test): it greets with its name and what the header said, then echoes.
 */
class Backend {
  readonly name: string;
  readonly seen: Seen[] = [];
  /** TCP connections accepted, header or not. */
  accepted = 0;
  readonly server: Server;
  readonly tls: TlsServer;
  port = 0;
  /** The PROXY header of each connection, by the proxy's address and port. */
  readonly #headers = new Map<string, { src: string; dst: string }>();

  constructor(name: string, key: string, cert: string) {
    this.name = name;
    this.tls = createTlsServer({ key, cert }, (s: TLSSocket) => {
      const header = this.#headers.get(`${s.remoteAddress}:${s.remotePort}`);
      const seen = {
        src: header?.src ?? '-',
        dst: header?.dst ?? '-',
        servername: String(s.servername),
      };
      this.seen.push(seen);
      s.on('error', () => {});
      s.write(`${name} ${seen.src} ${seen.dst} ${seen.servername}\n`);
      s.pipe(s);
    });
    this.tls.on('tlsClientError', () => {});
    this.server = createServer((socket) => {
      this.accepted++;
      socket.on('error', () => {});
      let buf = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length < 16) return;
        if (
          buf.subarray(0, 12).toString('hex') !== '0d0a0d0a000d0a515549540a' ||
          buf[12] !== 0x21
        ) {
          socket.destroy();
          return;
        }
        const length = buf.readUInt16BE(14);
        if (buf.length < 16 + length) return;
        socket.off('data', onData);
        socket.pause();
        let src = '?';
        let dst = '?';
        if (buf[13] === 0x11 && length >= 12) {
          const a = [...buf.subarray(16, 20)].join('.');
          const b = [...buf.subarray(20, 24)].join('.');
          src = `${a}:${buf.readUInt16BE(24)}`;
          dst = `${b}:${buf.readUInt16BE(26)}`;
        }
        const rest = buf.subarray(16 + length);
        if (rest.length > 0) socket.unshift(rest);
        this.#headers.set(`${socket.remoteAddress}:${socket.remotePort}`, { src, dst });
        this.tls.emit('connection', socket);
      };
      socket.on('data', onData);
    });
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as { port: number }).port;
  }

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface Visit {
  text: string;
  error: string | null;
  local: string;
}

let ca = '';

/** A TLS client through the proxy: the backend's greeting line (then it ends), or the error. */
function visit(
  port: number,
  servername: string | null,
  opts: { send?: Buffer; socket?: Duplex } = {}
): Promise<Visit> {
  return new Promise((resolve) => {
    const s = tlsConnect({
      host: ADDRESS,
      port,
      ca,
      ...(servername === null ? { checkServerIdentity: () => undefined } : { servername }),
      ...(opts.socket ? { socket: opts.socket } : {}),
    });
    let text = '';
    let error: string | null = null;
    let local = '';
    s.on('secureConnect', () => {
      local = `${s.localAddress}:${s.localPort}`;
      if (opts.send) s.write(opts.send);
    });
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      text += d;
      const line = text.indexOf('\n');
      if (line >= 0 && text.length - line - 1 >= (opts.send?.length ?? 0)) s.end();
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    s.on('close', () => resolve({ text, error, local }));
    setTimeout(() => s.destroy(new Error('visit timed out')), 20_000).unref();
  });
}

/** A raw TCP connection to the proxy; resolves `closed` when the proxy closes it. */
async function raw(port: number): Promise<{ socket: Socket; closed: () => boolean }> {
  const socket = connect({ host: ADDRESS, port });
  socket.on('error', () => {});
  let closed = false;
  socket.on('close', () => {
    closed = true;
  });
  socket.on('end', () => socket.end());
  await once(socket, 'connect');
  return { socket, closed: () => closed };
}

describe('SniProxy on loopback', () => {
  const backends: Record<string, Backend> = {};
  let hello: Buffer = Buffer.alloc(0);

  before(async () => {
    const made = await generateCertificate(['a.example', 'b.example', 'c.example'], null);
    ca = made.rootCa.certPem;
    for (const name of ['a', 'b', 'c']) {
      backends[name] = new Backend(
        name,
        made.certificate.keyPem,
        made.certificate.chainPem.join('')
      );
      await backends[name].start();
    }
    // one real ClientHello for the raw tests
    const s = createServer();
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
    const port = (s.address() as { port: number }).port;
    const c = tlsConnect({ host: '127.0.0.1', port, servername: 'a.example' });
    c.on('error', () => {});
    const [socket] = (await once(s, 'connection')) as [Socket];
    const [first] = (await once(socket, 'data')) as [Buffer];
    hello = first;
    assert.equal(hello.length, 5 + hello.readUInt16BE(3), 'one whole record in the first read');
    c.destroy();
    socket.destroy();
    s.close();
  });

  after(async () => {
    for (const b of Object.values(backends)) await b.close();
  });

  function table(fallback: string | null = null): SniListener['route'] {
    return (name: string | null): SniRoute | null => {
      const target =
        name === 'a.example'
          ? backends.a!.target
          : name === 'b.example'
            ? backends.b!.target
            : fallback;
      return target === null ? null : { target, proxyProtocol: true };
    };
  }

  async function proxy(
    opts: Partial<SniProxyOptions> = {},
    route = table()
  ): Promise<{ sni: SniProxy; port: number; lines: string[] }> {
    const lines: string[] = [];
    const sni = new SniProxy({ log: (l) => lines.push(l), retryMs: 50, ...opts });
    const port = await freePort(ADDRESS);
    await sni.reconcile([{ address: ADDRESS, port, route }]);
    assert.deepEqual(sni.listening(), [`${ADDRESS}:${port}`], lines.join('\n'));
    return { sni, port, lines };
  }

  it('routes a.example and b.example to their backends with the visitor in a PROXY v2 header', async () => {
    const { sni, port } = await proxy();
    try {
      const a = await visit(port, 'a.example');
      assert.equal(a.error, null);
      assert.equal(a.text, `a ${a.local} ${ADDRESS}:${port} a.example\n`);
      const b = await visit(port, 'B.EXAMPLE');
      // routed case-insensitively; the bytes go on verbatim, so the backend reads the capitals
      assert.equal(b.text, `b ${b.local} ${ADDRESS}:${port} B.EXAMPLE\n`);
      assert.notEqual(a.local, b.local);
    } finally {
      await sni.close();
    }
  });

  it('closes an unknown name without a fallback; a new route applies without rebinding', async () => {
    const { sni, port, lines } = await proxy();
    try {
      const before = backends.c!.accepted + backends.a!.accepted + backends.b!.accepted;
      const unknown = await visit(port, 'c.example');
      assert.equal(unknown.text, '');
      assert.notEqual(unknown.error, null);
      const none = await visit(port, null);
      assert.equal(none.text, '');
      assert.equal(backends.c!.accepted + backends.a!.accepted + backends.b!.accepted, before);
      assert.ok(
        lines.some((l) => l.includes("no route for 'c.example'")),
        lines.join('\n')
      );

      await sni.reconcile([{ address: ADDRESS, port, route: table(backends.c!.target) }]);
      const fallback = await visit(port, 'c.example');
      assert.match(fallback.text, /^c .* c\.example\n$/);
      const nameless = await visit(port, null);
      assert.match(nameless.text, /^c .* undefined\n$|^c .* false\n$/);
      assert.equal(lines.filter((l) => l.includes('listening on')).length, 1, lines.join('\n'));
    } finally {
      await sni.close();
    }
  });

  it('relays 1 MiB each way, then both sides end', async () => {
    const { sni, port } = await proxy();
    try {
      const data = randomBytes(1 << 20);
      const r = await visit(port, 'a.example', { send: data });
      assert.equal(r.error, null);
      const greeting = r.text.indexOf('\n') + 1;
      assert.equal(r.text.slice(0, 2), 'a ');
      assert.ok(Buffer.from(r.text.slice(greeting), 'latin1').equals(data), 'echo differs');
      assert.ok(await waitFor(() => sni.openConnections === 0), 'connection left open');
    } finally {
      await sni.close();
    }
  });

  it('reads a ClientHello that arrives one byte per TCP segment', async () => {
    const { sni, port } = await proxy();
    try {
      const wire = connect({ host: ADDRESS, port });
      wire.setNoDelay(true);
      let first = true;
      let writes = 0;
      const socket = new Duplex({
        read() {},
        write(chunk: Buffer, _encoding, done) {
          if (!first) {
            wire.write(chunk, () => done());
            return;
          }
          first = false;
          void (async () => {
            for (const byte of chunk) {
              wire.write(Buffer.of(byte));
              writes++;
              await sleep(1);
            }
            done();
          })();
        },
        final(done) {
          wire.end();
          done();
        },
      });
      wire.on('data', (d) => socket.push(d));
      wire.on('end', () => socket.push(null));
      wire.on('error', (err) => socket.destroy(err));
      wire.on('close', () => socket.destroy());
      const r = await visit(port, 'b.example', { socket });
      assert.ok(writes > 200, `the hello went in ${writes} writes`);
      assert.match(r.text, /^b .* b\.example\n$/);
    } finally {
      await sni.close();
    }
  });

  it('closes garbage, an early end, a slow, an oversized and a too-large hello; serves after', async () => {
    const { sni, port, lines } = await proxy({ helloTimeoutMs: 300 });
    try {
      const before = backends.a!.accepted;
      const garbage = await raw(port);
      garbage.socket.write('GET / HTTP/1.1\r\nHost: a.example\r\n\r\n');
      const early = await raw(port);
      early.socket.end(hello.subarray(0, 40));
      const slow = await raw(port);
      let i = 0;
      const drip = setInterval(() => {
        if (!slow.closed() && i < hello.length) slow.socket.write(hello.subarray(i, ++i));
      }, 50);
      const huge = await raw(port);
      huge.socket.write(Buffer.from([22, 3, 1, 0x40, 0, 1, 0xff, 0xff, 0xff]));
      const endless = await raw(port);
      // a ClientHello that says it is 16 MiB long, in records of 4000 bytes
      endless.socket.write(
        Buffer.concat([Buffer.from([22, 3, 1, 0x0f, 0xa0, 1, 0xff, 0xff, 0xff]), randomBytes(3996)])
      );
      const all = [garbage, early, slow, huge, endless];
      const closed = await waitFor(() => all.every((c) => c.closed()));
      clearInterval(drip);
      assert.ok(closed, `still open: ${all.map((c) => c.closed()).join(' ')}`);
      assert.ok(i < hello.length, 'the slow hello was cut before its end');
      assert.equal(backends.a!.accepted, before);
      for (const why of ['not a TLS handshake', 'ended before', 'in time', 'longer than']) {
        assert.ok(
          lines.some((l) => l.includes(why)),
          `${why}:\n${lines.join('\n')}`
        );
      }
      assert.match((await visit(port, 'a.example')).text, /^a /);
    } finally {
      await sni.close();
    }
    const small = await proxy({ maxHello: 300 });
    try {
      assert.equal((await visit(small.port, 'a.example')).text, '');
      assert.ok(
        small.lines.some((l) => l.includes('longer than 300')),
        small.lines.join('\n')
      );
    } finally {
      await small.sni.close();
    }
  });

  it('keeps at most maxConnections open across its ports', async () => {
    const { sni, port } = await proxy({ maxConnections: 4, helloTimeoutMs: 60_000 });
    const conns: Awaited<ReturnType<typeof raw>>[] = [];
    try {
      for (let n = 0; n < 10; n++) conns.push(await raw(port));
      assert.ok(await waitFor(() => conns.filter((c) => c.closed()).length === 6));
      assert.deepEqual(
        conns.map((c) => c.closed()),
        [false, false, false, false, true, true, true, true, true, true]
      );
      assert.equal(sni.openConnections, 4);
      for (const c of conns) c.socket.destroy();
      assert.ok(await waitFor(() => sni.openConnections === 0));
      assert.match((await visit(port, 'a.example')).text, /^a /);
    } finally {
      for (const c of conns) c.socket.destroy();
      await sni.close();
    }
  });

  it('closes the visitor when the route throws, the target is invalid or does not answer', async () => {
    const dead = await freePort('127.0.0.1');
    const route = (name: string | null): SniRoute | null => {
      if (name === 'a.example') throw new Error('boom');
      if (name === 'b.example') return { target: 'nowhere:1', proxyProtocol: true };
      return { target: `127.0.0.1:${dead}`, proxyProtocol: true };
    };
    const { sni, port, lines } = await proxy({}, route);
    try {
      for (const name of ['a.example', 'b.example', 'c.example']) {
        const r = await visit(port, name);
        assert.equal(r.text, '', name);
        assert.notEqual(r.error, null, name);
      }
      assert.ok(
        lines.some((l) => l.includes('threw: boom')),
        lines.join('\n')
      );
      assert.ok(
        lines.some((l) => l.includes("invalid target 'nowhere:1'")),
        lines.join('\n')
      );
      assert.ok(
        lines.some((l) => l.includes('ECONNREFUSED')),
        lines.join('\n')
      );
      assert.ok(await waitFor(() => sni.openConnections === 0));
    } finally {
      await sni.close();
    }
  });

  it('transparent routes never fall back to a plain connect', async () => {
    // on one host the visitor's own address and port are taken by its socket (and without root
    // IP_TRANSPARENT is refused), so the transparent connect fails: the visitor must be closed
    const route = (): SniRoute => ({ target: backends.a!.target, proxyProtocol: false });
    const { sni, port, lines } = await proxy({}, route);
    try {
      const before = backends.a!.accepted;
      const r = await visit(port, 'a.example');
      assert.equal(r.text, '');
      assert.equal(backends.a!.accepted, before);
      assert.ok(
        lines.some((l) => /cannot reach .* \((EADDRINUSE|EPERM|ERR_WG_NATIVE)\)/.test(l)),
        lines.join('\n')
      );
    } finally {
      await sni.close();
    }
  });

  it('retries a busy port until it is free; a removed listener closes its connections', async () => {
    const port = await freePort(OTHER);
    const squatter = createServer();
    squatter.listen(port, OTHER);
    await once(squatter, 'listening');
    const lines: string[] = [];
    const sni = new SniProxy({ log: (l) => lines.push(l), retryMs: 50, helloTimeoutMs: 60_000 });
    try {
      const listener = { address: OTHER, port, route: table() };
      await sni.reconcile([listener, { address: '::1', port, route: table() }]);
      assert.deepEqual(sni.listening(), []);
      await sleep(200);
      assert.equal(lines.filter((l) => l.includes('cannot listen')).length, 1, lines.join('\n'));
      assert.ok(lines.some((l) => l.includes("address '::1' is not an IPv4 address")));
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
      assert.ok(await waitFor(() => sni.listening().length === 1), lines.join('\n'));
      const idle = connect({ host: OTHER, port });
      idle.on('error', () => {});
      await once(idle, 'connect');
      assert.ok(await waitFor(() => sni.openConnections === 1));
      await sni.reconcile([]);
      assert.deepEqual(sni.listening(), []);
      assert.ok(await waitFor(() => idle.destroyed || idle.readableEnded));
      assert.equal(sni.openConnections, 0);
    } finally {
      squatter.close();
      await sni.close();
    }
    await sni.reconcile([{ address: OTHER, port, route: table() }]);
    assert.deepEqual(sni.listening(), [], 'reconcile after close() binds nothing');
  });
});

describe('SniProxy options', () => {
  it('refuses a limit that is not a positive integer, naming it', () => {
    const log = () => {};
    assert.throws(() => new SniProxy({ log, maxHello: 8 }), /Invalid maxHello: '8'/);
    assert.throws(() => new SniProxy({ log, helloTimeoutMs: 0 }), /Invalid helloTimeoutMs/);
    assert.throws(() => new SniProxy({ log, maxConnections: 1.5 }), /Invalid maxConnections/);
    assert.throws(() => new SniProxy({ log, connectTimeoutMs: 120_001 }), /connectTimeoutMs/);
    assert.throws(() => new SniProxy({ log, mark: -1 }), /Invalid mark: '-1'/);
    assert.doesNotThrow(() => new SniProxy({ log, mark: 0, maxHello: 9 }));
  });
});

describe('connectTransparent on loopback', {
  skip: process.getuid?.() !== 0 ? 'needs root (IP_TRANSPARENT)' : false,
}, () => {
  it('connects from a source address and port given by the caller', async () => {
    const server = createServer((c) => c.end(`${c.remoteAddress}:${c.remotePort}`));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    try {
      const source = { address: `${NET}.9`, port: await freePort(`${NET}.9`) };
      const fd = await connectTransparent({
        source,
        target: { address: '127.0.0.1', port },
        mark: 0x540001,
      });
      const socket = new Socket({ fd, readable: true, writable: true });
      let text = '';
      socket.setEncoding('utf8').on('data', (d: string) => {
        text += d;
      });
      await once(socket, 'end');
      socket.destroy();
      assert.equal(text, `${source.address}:${source.port}`);
      await assert.rejects(
        connectTransparent({
          source: { address: `${NET}.9`, port: 0 },
          target: { address: '127.0.0.1', port: await freePort('127.0.0.1') },
        }),
        { code: 'ECONNREFUSED' }
      );
      await assert.rejects(
        connectTransparent({
          source: { address: '::1', port: 0 },
          target: { address: '127.0.0.1', port },
        }),
        /two IP addresses of one family/
      );
    } finally {
      server.close();
    }
  });
});
