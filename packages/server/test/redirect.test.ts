// SPDX-License-Identifier: MIT
// The HTTP→HTTPS redirect on loopback addresses of a random 127.x.y.0/24 and a free high port,
// driven with raw bytes so that missing, doubled and malformed Host fields can be sent.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HttpRedirect, type HttpRedirectOptions, hostOf, redirectAnswer } from '../src/redirect.ts';

// one /24 of 127/8 per run, so that concurrent runs on one machine do not meet
const NET = `127.${randomInt(1, 255)}.${randomInt(0, 256)}`;
const A = `${NET}.1`;
const B = `${NET}.2`;
const C = `${NET}.3`;
let PORT = 0;

function redirect(opts: Partial<HttpRedirectOptions> = {}): { r: HttpRedirect; lines: string[] } {
  const lines: string[] = [];
  const r = new HttpRedirect({ port: PORT, log: (l) => lines.push(l), retryMs: 50, ...opts });
  return { r, lines };
}

interface Answer {
  status: number;
  head: string;
  headers: Map<string, string>;
  body: string;
}

function parse(text: string): Answer | null {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  const length = Number(headers.get('content-length') ?? 0);
  const body = text.slice(end + 4);
  if (body.length < length) return null;
  return { status: Number(statusLine.split(' ')[1]), head: statusLine, headers, body };
}

async function open(address: string): Promise<Socket> {
  const socket = connect({ host: address, port: PORT });
  socket.setEncoding('latin1');
  await once(socket, 'connect');
  return socket;
}

/** Sends `raw` on `socket` and reads one answer (null when the server closed without one). */
function exchange(socket: Socket, raw: string): Promise<Answer | null> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: string) => {
      text += chunk;
      const a = parse(text);
      if (a) done(a);
    };
    const onClose = () => done(parse(text));
    const done = (a: Answer | null) => {
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(a);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', () => {});
    socket.write(raw, 'latin1');
  });
}

async function request(address: string, raw: string): Promise<Answer> {
  const socket = await open(address);
  try {
    const a = await exchange(socket, raw);
    assert.ok(a, 'an answer');
    return a;
  } finally {
    socket.destroy();
  }
}

function get(target: string, host?: string, method = 'GET'): string {
  return `${method} ${target} HTTP/1.1\r\n${host === undefined ? '' : `Host: ${host}\r\n`}\r\n`;
}

function refused(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port: PORT });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function squat(address: string): Promise<Server> {
  const s = createServer();
  s.listen({ host: address, port: PORT, exclusive: true });
  await once(s, 'listening');
  return s;
}

/** Bounds a test that waits for a close: a hang fails instead of stalling the run. */
const HANG = { timeout: 10_000 };

const closeServer = (s: Server) => new Promise<void>((resolve) => s.close(() => resolve()));

async function until(what: string, test: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await test()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`never: ${what}`);
}

before(async () => {
  // a port free on this /24: bound on A and let go
  const s = createServer();
  s.listen({ host: A, port: 0 });
  await once(s, 'listening');
  PORT = (s.address() as { port: number }).port;
  await closeServer(s);
});

describe('redirectAnswer', () => {
  const cases: [string, string | undefined, string, string][] = [
    ['IPv4 host', '203.0.113.7', '/x?y=1', 'https://203.0.113.7/x?y=1'],
    ['port stripped', 'example.com:80', '/a/b?c=d&e', 'https://example.com/a/b?c=d&e'],
    ['IPv6 literal', '[2001:db8::1]:80', '/p', 'https://[2001:db8::1]/p'],
    ['IPv6 without port', '[2001:db8::1]', '/', 'https://[2001:db8::1]/'],
    ['trailing dot', 'example.com.', '/', 'https://example.com./'],
    ['empty port', 'example.com:', '/', 'https://example.com/'],
    ['path kept as sent', 'h.test', '/%2e%2e/a//b?q=%20#f', 'https://h.test/%2e%2e/a//b?q=%20#f'],
    ['absolute-form target', 'ignored.test', 'http://t.test:80/p?q', 'https://t.test/p?q'],
    ['absolute-form, no path', 'ignored.test', 'http://t.test?q', 'https://t.test/?q'],
  ];
  for (const [name, host, target, location] of cases) {
    it(name, () => {
      assert.deepEqual(redirectAnswer(host === undefined ? [] : [host], target), { location });
    });
  }

  it('refuses a missing, doubled or invalid Host and odd targets', () => {
    assert.deepEqual(redirectAnswer(undefined, '/'), { reason: 'Host header required' });
    assert.deepEqual(redirectAnswer([], '/'), { reason: 'Host header required' });
    assert.deepEqual(redirectAnswer(['a.test', 'b.test'], '/'), {
      reason: 'Only one Host header allowed',
    });
    assert.deepEqual(redirectAnswer(['a.test'], '*'), { reason: 'Invalid request target' });
    assert.deepEqual(redirectAnswer(['a.test'], 'a.test:443'), {
      reason: 'Invalid request target',
    });
    assert.deepEqual(redirectAnswer(['a.test'], 'http://u@b.test/'), {
      reason: 'Invalid request target',
    });
    assert.deepEqual(redirectAnswer(['a.test'], '/\u0100'), { reason: 'Invalid request target' });
  });

  it('takes a host only when it is a name or an IP literal', () => {
    const good = ['a', 'a-b.c', 'xn--bcher-kva.example', '192.0.2.1', '[::1]:443', 'A.TEST:65535'];
    for (const value of good) assert.notEqual(hostOf(value), null, value);
    const bad = [
      '',
      'a b',
      'a\tb',
      'a\u0000',
      'user@a.test',
      'a.test:99999',
      'a.test:80:80',
      'a.test:x',
      '-a.test',
      'a-.test',
      'a..test',
      '.',
      'a_b.test',
      '1.2.3',
      '256.1.1.1',
      '[2001:db8::1',
      '[fe80::1%eth0]',
      '[192.0.2.1]',
      '2001:db8::1',
      'é.test',
      `${'a'.repeat(63)}.${'b'.repeat(64)}`,
      `${'a.'.repeat(127)}ab`,
    ];
    for (const value of bad) assert.equal(hostOf(value), null, JSON.stringify(value));
    assert.equal(
      hostOf(`${'a'.repeat(63)}.${'b'.repeat(63)}`),
      `${'a'.repeat(63)}.${'b'.repeat(63)}`
    );
  });
});

describe('HttpRedirect', () => {
  let r: HttpRedirect;
  before(async () => {
    ({ r } = redirect());
    await r.reconcile([A]);
    assert.deepEqual(r.listening(), [A]);
  });
  after(async () => {
    await r.close();
  });

  it('redirects to https with the path and query as requested', async () => {
    const a = await request(A, get('/x?y=1', '203.0.113.7'));
    assert.equal(a.head, 'HTTP/1.1 307 Temporary Redirect');
    assert.equal(a.headers.get('location'), 'https://203.0.113.7/x?y=1');
    assert.equal(a.headers.get('content-length'), '0');
    assert.equal(a.body, '');
  });

  it('strips the port of the Host and keeps IPv6 literals bracketed', async () => {
    const named = await request(A, get('/', 'example.com:80'));
    assert.equal(named.headers.get('location'), 'https://example.com/');
    const v6 = await request(A, get('/a?b', '[2001:db8::1]:80'));
    assert.equal(v6.status, 307);
    assert.equal(v6.headers.get('location'), 'https://[2001:db8::1]/a?b');
  });

  it('answers 400 and closes for a missing Host', HANG, async () => {
    for (const raw of [get('/', undefined), 'GET / HTTP/1.0\r\n\r\n']) {
      const socket = await open(A);
      const a = await exchange(socket, raw);
      assert.equal(a?.status, 400);
      assert.equal(a.body, 'Host header required\n');
      assert.equal(a.headers.get('connection'), 'close');
      if (!socket.destroyed) await once(socket, 'close');
    }
  });

  it('answers 400 for a garbage or doubled Host', async () => {
    for (const host of ['a b', 'user@a.test', 'x'.repeat(256), '[::1', 'a.test:http']) {
      const a = await request(A, get('/', host));
      assert.equal(a.status, 400, host);
      assert.equal(a.body, 'Invalid Host header\n');
      assert.equal(a.headers.get('connection'), 'close');
    }
    const doubled = await request(A, 'GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n');
    assert.equal(doubled.status, 400);
  });

  it(
    'keeps the method: a POST gets 307 too, its body unread and the connection closed',
    HANG,
    async () => {
      const socket = await open(A);
      const a = await exchange(
        socket,
        'POST /form HTTP/1.1\r\nHost: h.test\r\nContent-Length: 1000000\r\n\r\nabc'
      );
      assert.equal(a?.status, 307);
      assert.equal(a.headers.get('location'), 'https://h.test/form');
      assert.equal(a.headers.get('connection'), 'close');
      if (!socket.destroyed) await once(socket, 'close');
      for (const method of ['PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
        const b = await request(A, get('/m', 'h.test', method));
        assert.equal(b.status, 307, method);
      }
    }
  );

  it('keeps a bodiless connection alive for the next request', async () => {
    const socket = await open(A);
    try {
      assert.equal((await exchange(socket, get('/1', 'h.test')))?.status, 307);
      const second = await exchange(socket, get('/2', 'h.test'));
      assert.equal(second?.headers.get('location'), 'https://h.test/2');
    } finally {
      socket.destroy();
    }
  });

  it('survives garbage, oversized headers and CONNECT', async () => {
    const garbage = await request(A, 'not http at all\r\n\r\n');
    assert.equal(garbage.status, 400);
    const big = await request(
      A,
      `GET / HTTP/1.1\r\nHost: h.test\r\nX: ${'a'.repeat(9000)}\r\n\r\n`
    );
    assert.equal(big.status, 431);
    const socket = await open(A);
    assert.equal(
      await exchange(socket, 'CONNECT h.test:443 HTTP/1.1\r\nHost: h.test\r\n\r\n'),
      null
    );
    socket.destroy();
    assert.equal((await request(A, get('/', 'h.test'))).status, 307);
  });
});

describe('HttpRedirect listeners', () => {
  it('reconcile opens new addresses and closes removed ones', HANG, async () => {
    const { r } = redirect();
    try {
      await r.reconcile([A, B]);
      assert.deepEqual(r.listening().sort(), [A, B].sort());
      const kept = await open(B);
      await r.reconcile([B, C]);
      assert.deepEqual(r.listening().sort(), [B, C].sort());
      assert.ok(await refused(A), 'the removed address refuses connections');
      assert.equal((await request(C, get('/', 'h.test'))).status, 307);
      assert.equal((await exchange(kept, get('/', 'h.test')))?.status, 307);
      kept.destroy();
      await r.reconcile([]);
      assert.deepEqual(r.listening(), []);
      assert.ok(await refused(B));
      assert.ok(await refused(C));
    } finally {
      await r.close();
    }
  });

  it('closes the connections of a removed address', HANG, async () => {
    const { r } = redirect();
    try {
      await r.reconcile([A]);
      const socket = await open(A);
      socket.on('error', () => {});
      await r.reconcile([]);
      if (!socket.destroyed) await once(socket, 'close');
    } finally {
      await r.close();
    }
  });

  it('logs a busy address once, retries it and binds once it is freed', HANG, async () => {
    const squatter = await squat(B);
    const { r, lines } = redirect();
    try {
      await r.reconcile([A, B, 'not-an-address']);
      assert.deepEqual(r.listening(), [A]);
      await new Promise((resolve) => setTimeout(resolve, 300)); // several retries
      const failures = lines.filter((l) => l.includes(`cannot listen on ${B}:${PORT}`));
      assert.equal(failures.length, 1, lines.join('\n'));
      assert.match(failures[0]!, /EADDRINUSE/);
      assert.ok(lines.some((l) => l.includes('"not-an-address": not an IP address')));
      await closeServer(squatter);
      await until('B is bound', () => r.listening().includes(B));
      assert.equal((await request(B, get('/', 'h.test'))).status, 307);
    } finally {
      await r.close();
      if (squatter.listening) await closeServer(squatter);
    }
  });

  it('goes on when the logger throws', HANG, async () => {
    const squatter = await squat(B);
    const { r } = redirect({
      log: () => {
        throw new Error('log failed');
      },
    });
    try {
      await r.reconcile([A, B, 'not-an-address']);
      assert.deepEqual(r.listening(), [A]);
      await r.reconcile([A, C]);
      assert.deepEqual(r.listening().sort(), [A, C].sort());
      assert.equal((await request(C, get('/', 'h.test'))).status, 307);
    } finally {
      await r.close();
      await closeServer(squatter);
    }
  });

  it('stops retrying an address once it is removed, and after close()', HANG, async () => {
    const squatter = await squat(B);
    const { r } = redirect();
    try {
      await r.reconcile([B, C]);
      await r.reconcile([C]);
      await closeServer(squatter);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(r.listening(), [C]);
      assert.ok(await refused(B));
      const again = await squat(B);
      await r.reconcile([B, C]);
      await r.close();
      await closeServer(again);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(r.listening(), []);
      assert.ok(await refused(B));
      await r.reconcile([A]);
      assert.deepEqual(r.listening(), [], 'reconcile after close() does nothing');
      assert.ok(await refused(A));
    } finally {
      await r.close();
      if (squatter.listening) await closeServer(squatter);
    }
  });

  it('caps open connections across all addresses', HANG, async () => {
    const { r } = redirect({ maxConnections: 2 });
    const sockets: Socket[] = [];
    try {
      await r.reconcile([A, B]);
      for (const address of [A, B]) {
        const s = await open(address);
        sockets.push(s);
        assert.equal((await exchange(s, get('/', 'h.test')))?.status, 307);
      }
      const third = await open(A);
      sockets.push(third);
      assert.equal(await exchange(third, get('/', 'h.test')), null, 'the third is cut');
      sockets[0]!.destroy();
      await until('a slot is free again', async () => {
        const s = await open(B);
        sockets.push(s);
        return (await exchange(s, get('/', 'h.test')))?.status === 307;
      });
    } finally {
      for (const s of sockets) s.destroy();
      await r.close();
    }
  });

  // the timeout bounds a hang: with Node's defaults (or ours, 10 s) the cut would come too late
  it('cuts off a client that never finishes its headers, or sends nothing', {
    timeout: 5_000,
  }, async () => {
    const { r } = redirect({ headersTimeoutMs: 200 });
    try {
      await r.reconcile([A]);
      const slow = await open(A);
      const silent = await open(A);
      const answer = exchange(slow, 'GET / HTTP/1.1\r\nHost: h.test\r\nX-Slow: 1\r\n');
      const nothing = exchange(silent, '');
      assert.equal((await answer)?.status, 408);
      assert.equal((await nothing)?.status, 408);
      if (!slow.destroyed) await once(slow, 'close');
      if (!silent.destroyed) await once(silent, 'close');
    } finally {
      await r.close();
    }
  });

  it('close() leaves nothing open: a process holding listeners, clients and a retry exits', async () => {
    const squatter = await squat(C);
    try {
      const module = fileURLToPath(new URL('../src/redirect.ts', import.meta.url));
      const script = `
        import { connect } from 'node:net';
        import { once } from 'node:events';
        import { HttpRedirect } from ${JSON.stringify(module)};
        const r = new HttpRedirect({ port: ${PORT}, log: () => {}, retryMs: 50 });
        await r.reconcile([${JSON.stringify(A)}, ${JSON.stringify(B)}, ${JSON.stringify(C)}]);
        if (r.listening().length !== 2) throw new Error('not listening: ' + r.listening());
        const idle = connect(${PORT}, ${JSON.stringify(A)});
        idle.setEncoding('latin1');
        await once(idle, 'connect');
        idle.write('GET / HTTP/1.1\\r\\nHost: h.test\\r\\n\\r\\n');
        await once(idle, 'data');
        const slow = connect(${PORT}, ${JSON.stringify(B)});
        await once(slow, 'connect');
        slow.write('GET / HTTP/1.1\\r\\nHost: h.test\\r\\n');
        for (const s of [idle, slow]) s.on('error', () => {});
        await r.close();
        console.log('closed');
      `;
      const child = spawn(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', '--input-type=module', '--eval', script],
        { stdio: ['ignore', 'pipe', 'pipe'] }
      );
      let output = '';
      child.stdout.on('data', (d) => {
        output += d;
      });
      child.stderr.on('data', (d) => {
        output += d;
      });
      // the bound is for a hang only: a clean child exits as soon as close() returns
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const [code, signal] = await once(child, 'exit');
      clearTimeout(killer);
      assert.equal(signal, null, `still running 10 s after close():\n${output}`);
      assert.equal(code, 0, output);
      assert.match(output, /closed/);
    } finally {
      await closeServer(squatter);
    }
  });
});
