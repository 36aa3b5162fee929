// SPDX-License-Identifier: MIT
// The ClientHello reader and the PROXY v2 header of the SNI proxy: real ClientHellos captured
// from node:tls, openssl s_client and curl connecting to a plain TCP server, the same hellos cut
// into records of every small size (RFC 8446 §5.1) and fed byte by byte, hand-built hellos for
// each field's limit, a few thousand mutated inputs (never a throw), and the header against the
// byte layout of https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt §2.2.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { parseClientHello, proxyV2Header, scanClientHello } from '../src/sni-hello.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * The first TLS record a client sends to a plain TCP server: read until the record's own
 * length is in (5-byte header, RFC 8446 §5.1), independent of the reader under test.
 */
async function capture(start: (port: number) => () => void): Promise<Buffer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  try {
    const got = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ClientHello in 10 s')), 10_000);
      server.on('connection', (socket) => {
        let buf = Buffer.alloc(0);
        socket.on('error', () => {});
        socket.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
            clearTimeout(timer);
            socket.destroy();
            resolve(buf.subarray(0, 5 + buf.readUInt16BE(3)));
          }
        });
      });
    });
    const stop = start(port);
    try {
      return await got;
    } finally {
      stop();
    }
  } finally {
    server.close();
  }
}

function nodeHello(opts: ConnectionOptions): Promise<Buffer> {
  return capture((port) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
    s.on('error', () => {});
    return () => s.destroy();
  });
}

function toolHello(file: string, args: (port: number) => string[]): Promise<Buffer> {
  return capture((port) => {
    const child = spawn(file, args(port), { stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', () => {});
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    return () => {
      clearTimeout(kill);
      child.kill('SIGKILL');
    };
  });
}

/** The handshake message inside a one-record ClientHello. */
function messageOf(record: Uint8Array): Uint8Array {
  assert.equal(record[0], 22);
  return record.subarray(5, 5 + ((record[3]! << 8) | record[4]!));
}

/** The message cut into records of `size` bytes (the last may be shorter). */
function records(message: Uint8Array, size: number, version = 0x0301): Uint8Array {
  const parts: number[] = [];
  for (let at = 0; at < message.length; at += size) {
    const chunk = message.subarray(at, Math.min(message.length, at + size));
    parts.push(22, version >> 8, version & 0xff, chunk.length >> 8, chunk.length & 0xff, ...chunk);
  }
  return Uint8Array.from(parts);
}

const u16 = (n: number) => [n >> 8, n & 0xff];
const ascii = (s: string) => [...Buffer.from(s, 'latin1')];

/** A ClientHello record built field by field (RFC 8446 §4.1.2), each overridable. */
function build(
  opts: {
    sessionId?: number[];
    suites?: number[];
    methods?: number[];
    extensions?: number[][] | null;
    extensionsLength?: number;
    trailing?: number[];
  } = {}
): Uint8Array {
  const sessionId = opts.sessionId ?? Array(32).fill(7);
  const suites = opts.suites ?? [0x13, 0x01, 0x13, 0x02];
  const methods = opts.methods ?? [0];
  const body = [3, 3, ...Array(32).fill(1), sessionId.length, ...sessionId];
  body.push(...u16(suites.length), ...suites, methods.length, ...methods);
  if (opts.extensions !== null) {
    const ext = (opts.extensions ?? [sni('a.example')]).flat();
    body.push(...u16(opts.extensionsLength ?? ext.length), ...ext);
  }
  body.push(...(opts.trailing ?? []));
  const message = [1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff, ...body];
  return records(Uint8Array.from(message), 1 << 14);
}

/** An extension: type, length, data. */
const extension = (type: number, data: number[]) => [...u16(type), ...u16(data.length), ...data];
/** RFC 6066 §3 server_name with host_name entries. */
function sni(...names: string[]): number[] {
  const list = names.flatMap((n) => [0, ...u16(n.length), ...ascii(n)]);
  return extension(0, [...u16(list.length), ...list]);
}

describe('parseClientHello on real ClientHellos', () => {
  it('node:tls (TLS 1.3), the name lower-cased', async () => {
    const hello = await nodeHello({ servername: 'A.Example' });
    assert.deepEqual(parseClientHello(hello), { complete: true, hostname: 'a.example' });
  });

  it('node:tls limited to TLS 1.2', async () => {
    const hello = await nodeHello({ servername: 'b.example', maxVersion: 'TLSv1.2' });
    assert.deepEqual(parseClientHello(hello), { complete: true, hostname: 'b.example' });
  });

  it('node:tls to an IP address sends no server_name', async () => {
    const hello = await nodeHello({});
    assert.deepEqual(parseClientHello(hello), { complete: true, hostname: null });
  });

  it('openssl s_client', async () => {
    const hello = await toolHello('openssl', (port) => [
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-servername',
      'ossl.example',
    ]);
    assert.deepEqual(parseClientHello(hello), { complete: true, hostname: 'ossl.example' });
  });

  it('curl', async () => {
    const hello = await toolHello('curl', (port) => [
      '-sk',
      '--max-time',
      '10',
      '--resolve',
      `curl.example:${port}:127.0.0.1`,
      `https://curl.example:${port}/`,
    ]);
    assert.deepEqual(parseClientHello(hello), { complete: true, hostname: 'curl.example' });
  });

  it('every prefix is incomplete, never an error', async () => {
    const hello = await nodeHello({ servername: 'prefix.example' });
    for (let n = 0; n < hello.length; n++) {
      assert.deepEqual(parseClientHello(hello.subarray(0, n)), {
        complete: false,
        hostname: null,
      });
    }
  });

  it('the ClientHello cut into records of 1..9, 100 and 1000 bytes, whole and by prefix', async () => {
    const hello = await nodeHello({ servername: 'split.example' });
    const message = messageOf(hello);
    for (const size of [1, 2, 3, 4, 5, 6, 7, 8, 9, 100, 1000]) {
      const split = records(message, size, 0x0303);
      assert.deepEqual(parseClientHello(split), { complete: true, hostname: 'split.example' });
      for (let n = 0; n < split.length; n += size === 1 ? 1 : 3) {
        const r = parseClientHello(split.subarray(0, n));
        assert.deepEqual(r, { complete: false, hostname: null }, `size ${size}, prefix ${n}`);
      }
    }
  });

  it('bytes after the ClientHello (a ChangeCipherSpec, early data) are left alone', async () => {
    const hello = await nodeHello({ servername: 'after.example' });
    const more = Buffer.concat([hello, Buffer.from([20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 2, 9, 9])]);
    assert.deepEqual(parseClientHello(more), { complete: true, hostname: 'after.example' });
  });
});

describe('parseClientHello field by field', () => {
  const ok = (hostname: string | null) => ({ complete: true, hostname });
  const error = (r: ReturnType<typeof parseClientHello>) => ('error' in r ? r.error : null);

  it('a hand-built hello reads like a captured one', () => {
    assert.deepEqual(parseClientHello(build()), ok('a.example'));
    assert.deepEqual(
      parseClientHello(build({ extensions: [sni('MiXeD.Example')] })),
      ok('mixed.example')
    );
  });

  it('no extensions at all (TLS 1.2) and extensions without server_name give no name', () => {
    assert.deepEqual(parseClientHello(build({ extensions: null })), ok(null));
    assert.deepEqual(parseClientHello(build({ extensions: [extension(43, [2, 3, 4])] })), ok(null));
    assert.deepEqual(
      parseClientHello(build({ extensions: [extension(10, [0, 2, 0, 29]), sni('late.example')] })),
      ok('late.example')
    );
  });

  it('legacy_session_id, cipher_suites and legacy_compression_methods limits', () => {
    assert.deepEqual(parseClientHello(build({ sessionId: [] })), ok('a.example'));
    assert.match(error(parseClientHello(build({ sessionId: Array(33).fill(0) })))!, /session_id/);
    assert.match(error(parseClientHello(build({ suites: [] })))!, /cipher_suites/);
    assert.match(error(parseClientHello(build({ suites: [0x13, 0x01, 0x13] })))!, /cipher_suites/);
    assert.match(error(parseClientHello(build({ methods: [] })))!, /compression/);
  });

  it('the extensions must end the hello exactly', () => {
    assert.match(error(parseClientHello(build({ trailing: [0] })))!, /extensions/);
    assert.match(error(parseClientHello(build({ extensionsLength: 200 })))!, /extensions/);
    const cut = extension(0, [0, 5, 0, 0, 9]).slice(0, 3);
    assert.match(error(parseClientHello(build({ extensions: [cut] })))!, /extension/);
  });

  it('server_name: one list, one host_name, a DNS name of at most 253 bytes', () => {
    const label = 'a'.repeat(63);
    const longest = `${label}.${label}.${label}.${'b'.repeat(61)}`;
    assert.equal(longest.length, 253);
    assert.deepEqual(parseClientHello(build({ extensions: [sni(longest)] })), ok(longest));
    assert.deepEqual(
      parseClientHello(build({ extensions: [sni('_acme.x-y.example')] })),
      ok('_acme.x-y.example')
    );
    const bad = [
      '',
      `${longest}c`,
      `${'a'.repeat(64)}.example`,
      'a..example',
      '.a.example',
      'a.example.',
      'a b.example',
      'a\u0000.example',
      'é.example',
      '*.example',
      '203.0.113.1:443',
    ];
    for (const name of bad) {
      assert.ok(error(parseClientHello(build({ extensions: [sni(name)] }))), JSON.stringify(name));
    }
    assert.match(
      error(parseClientHello(build({ extensions: [sni('a.example', 'b.example')] })))!,
      /two host_name/
    );
    assert.match(
      error(parseClientHello(build({ extensions: [sni('a.example'), sni('b.example')] })))!,
      /twice/
    );
    assert.match(
      error(parseClientHello(build({ extensions: [extension(0, [0, 0])] })))!,
      /server_name_list/
    );
    assert.match(error(parseClientHello(build({ extensions: [extension(0, [])] })))!, /list/);
    const otherType = [1, 0, 1, 0x61];
    assert.match(
      error(parseClientHello(build({ extensions: [extension(0, [0, 4, ...otherType])] })))!,
      /name_type/
    );
  });

  it('records: type, version, empty and oversized fragments, another type mid-hello', () => {
    const good = build();
    const with_ = (i: number, v: number) => {
      const b = Uint8Array.from(good);
      b[i] = v;
      return b;
    };
    assert.match(error(parseClientHello(with_(0, 23)))!, /not a TLS handshake/);
    assert.match(error(parseClientHello(with_(1, 2)))!, /version/);
    assert.match(error(parseClientHello(with_(2, 5)))!, /version/);
    assert.match(error(parseClientHello(Uint8Array.of(22, 3, 1, 0, 0)))!, /empty/);
    assert.match(error(parseClientHello(Uint8Array.of(22, 3, 1, 0x40, 1)))!, /2\^14/);
    assert.match(error(parseClientHello(with_(5, 2)))!, /not a ClientHello/);
    // already known from the first fragment byte, before the record is whole
    assert.match(error(parseClientHello(with_(5, 2).subarray(0, 6)))!, /not a ClientHello/);
    const split = records(messageOf(good), 10);
    const mixed = Uint8Array.from(split);
    mixed[15] = 23;
    assert.match(error(parseClientHello(mixed))!, /record type changed/);
    assert.match(error(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n')))!, /not a TLS/);
    assert.match(error(parseClientHello(Uint8Array.of(0x80, 0x2e, 1, 3, 1)))!, /not a TLS/);
  });

  it('scanClientHello: the bytes still needed, and a hello over the limit', () => {
    const good = build();
    assert.deepEqual(scanClientHello(good.subarray(0, 3), 1000), {
      complete: false,
      hostname: null,
      need: 5,
    });
    assert.deepEqual(scanClientHello(good.subarray(0, 9), 1000), {
      complete: false,
      hostname: null,
      need: good.length,
    });
    assert.match(
      (scanClientHello(good, good.length - 1) as { error: string }).error,
      /longer than/
    );
    assert.deepEqual(scanClientHello(good, good.length), { complete: true, hostname: 'a.example' });
    // a first record that says the message goes on past the limit: refused before it arrives
    const split = records(messageOf(good), 20);
    assert.match(
      (scanClientHello(split.subarray(0, 25), 60) as { error: string }).error,
      /longer than/
    );
  });
});

describe('parseClientHello on hostile input', () => {
  it('thousands of mutated, cut and random inputs never throw', async () => {
    const seeds = [
      await nodeHello({ servername: 'fuzz.example' }),
      records(messageOf(build()), 7),
      build({ extensions: [sni('x.example'), extension(16, [0, 3, 2, 104, 50])] }),
    ];
    let state = 0x2545f491;
    const rand = (n: number) => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    const outcomes = { complete: 0, incomplete: 0, error: 0 };
    for (let i = 0; i < 6000; i++) {
      const seed = seeds[i % seeds.length]!;
      let b = Uint8Array.from(seed);
      switch (i % 5) {
        case 0: // flip a few bytes
          for (let k = 1 + rand(4); k > 0; k--) b[rand(b.length)] = rand(256);
          break;
        case 1: // cut
          b = b.subarray(0, rand(b.length));
          break;
        case 2: // set a length byte to an extreme
          b[rand(Math.min(b.length, 120))] = [0, 1, 0x7f, 0xff][rand(4)]!;
          break;
        case 3: // insert random bytes
          {
            const at = rand(b.length);
            const extra = Array.from({ length: 1 + rand(8) }, () => rand(256));
            b = Uint8Array.from([...b.subarray(0, at), ...extra, ...b.subarray(at)]);
          }
          break;
        default: // random bytes behind a plausible record header
          b = Uint8Array.from([
            22,
            3,
            1,
            rand(2),
            rand(256),
            ...Array.from({ length: rand(600) }, () => rand(256)),
          ]);
      }
      const r = parseClientHello(b);
      if ('error' in r) {
        assert.equal(typeof r.error, 'string');
        outcomes.error++;
      } else if (r.complete) {
        if (r.hostname !== null) assert.match(r.hostname, /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/);
        outcomes.complete++;
      } else {
        assert.equal(r.hostname, null);
        outcomes.incomplete++;
      }
    }
    // the mutations reach every outcome, so the loop exercised more than the first check
    assert.ok(
      outcomes.complete > 100 && outcomes.incomplete > 100 && outcomes.error > 100,
      JSON.stringify(outcomes)
    );
  });
});

describe('proxyV2Header', () => {
  const SIG = '0d0a0d0a000d0a515549540a';

  it('TCP over IPv4: signature, 0x21, 0x11, length 12, addresses, ports (§2.2)', () => {
    const h = proxyV2Header(
      { address: '198.51.100.7', port: 50123 },
      { address: '203.0.113.1', port: 443 }
    );
    // signature, ver_cmd, fam, len, src_addr, dst_addr, src_port, dst_port
    const fields = [SIG, '21', '11', '000c', 'c6336407', 'cb007101', 'c3cb', '01bb'];
    assert.equal(hex(h), fields.join(''));
  });

  it('TCP over IPv6: 0x21, length 36', () => {
    const h = proxyV2Header(
      { address: '2001:db8::7', port: 1 },
      { address: '2001:db8::1', port: 65535 }
    );
    assert.equal(
      hex(h),
      `${SIG}2121` +
        '0024' +
        '20010db8000000000000000000000007' +
        '20010db8000000000000000000000001' +
        '0001' +
        'ffff'
    );
  });

  it('one IPv4 and one IPv6 address go as IPv6 with ::ffff:a.b.c.d; mapped input counts as IPv4', () => {
    const mixed = proxyV2Header(
      { address: '192.0.2.9', port: 80 },
      { address: '2001:db8::1', port: 443 }
    );
    assert.equal(hex(mixed.subarray(12, 16)), '21210024');
    assert.equal(hex(mixed.subarray(16, 32)), '00000000000000000000ffffc0000209');
    const v4 = proxyV2Header(
      { address: '::ffff:192.0.2.9', port: 80 },
      { address: '192.0.2.1', port: 443 }
    );
    assert.equal(hex(v4.subarray(12)), '2111000c' + 'c0000209' + 'c0000201' + '0050' + '01bb');
  });

  it('refuses what is not an address or a port, naming the field', () => {
    assert.throws(
      () => proxyV2Header({ address: 'a.example', port: 1 }, { address: '192.0.2.1', port: 1 }),
      /Invalid src.address: 'a.example'/
    );
    assert.throws(
      () => proxyV2Header({ address: '192.0.2.1', port: 1 }, { address: '192.0.2.1', port: 65536 }),
      /Invalid dst.port: '65536'/
    );
  });
});
