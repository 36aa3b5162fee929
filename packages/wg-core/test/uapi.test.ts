// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { keyToHex } from '../src/keys.ts';
import { UapiServer } from '../src/uapi.ts';
import { pair } from './_harness.ts';
import { ip } from './_packets.ts';

/** One request over a fresh connection, as `wg` does it. */
function request(path: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      out += d;
      if (out.endsWith('\n\n')) {
        socket.end();
        resolve(out);
      }
    });
    socket.on('error', reject);
    socket.write(text);
  });
}

const hexKey = (b: number) => b.toString(16).padStart(2, '0').repeat(32);

describe('uapi', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'st-uapi-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('answers get=1 like wireguard-go, with absolute handshake time and counters', async () => {
    const { lab, a, b, peerB } = await pair();
    a.tun.inject(ip('10.59.0.1', '10.59.0.2'));
    lab.settle();
    a.device.setPersistentKeepalive(peerB, 0);
    const server = await UapiServer.listen(a.device, 'stu0', { directory: dir });
    try {
      assert.equal(statSync(server.path).mode & 0o777, 0o600);
      const text = await request(server.path, 'get=1\n\n');
      const lines = text.trimEnd().split('\n');
      const pk = keyToHex(b.device.publicKey!);
      assert.deepEqual(lines, [
        `private_key=${keyToHex(a.device.privateKey!)}`,
        'listen_port=51820',
        `public_key=${pk}`,
        `preshared_key=${'0'.repeat(64)}`,
        'protocol_version=1',
        'endpoint=198.51.100.2:51821',
        `last_handshake_time_sec=${Math.floor(peerB.lastHandshakeTime / 1000)}`,
        `last_handshake_time_nsec=${Math.round((peerB.lastHandshakeTime % 1000) * 1e6)}`,
        `tx_bytes=${peerB.txBytes}`,
        `rx_bytes=${peerB.rxBytes}`,
        'persistent_keepalive_interval=0',
        'allowed_ip=10.59.0.2/32',
        'allowed_ip=fd59::2/128',
        'errno=0',
      ]);
      // epoch seconds, not "seconds ago"
      assert.ok(peerB.lastHandshakeTime > Date.UTC(2025, 0, 1));
      assert.ok(peerB.txBytes > 0 && peerB.rxBytes > 0);
    } finally {
      await server.close();
    }
  });

  it('applies every set key and answers errno=0', async () => {
    const { a } = await pair();
    const server = await UapiServer.listen(a.device, 'stu1', { directory: dir });
    try {
      const set = [
        'set=1',
        `private_key=${hexKey(0x41)}`,
        'listen_port=51900',
        'fwmark=51820',
        'replace_peers=true',
        `public_key=${hexKey(0x09)}`,
        `preshared_key=${hexKey(0x07)}`,
        'endpoint=[2001:db8::5]:51820',
        'persistent_keepalive_interval=25',
        'replace_allowed_ips=true',
        'allowed_ip=10.59.3.0/24',
        'allowed_ip=fd59:3::/64',
        'allowed_ip=10.59.4.0/24',
        'allowed_ip=-10.59.4.0/24',
        'protocol_version=1',
        `public_key=${hexKey(0x0a)}`,
        'endpoint=203.0.113.4:1',
        'allowed_ip=10.59.5.5/32',
        '',
        '',
      ].join('\n');
      assert.equal(await request(server.path, set), 'errno=0\n\n');
      assert.equal(a.device.listenPort, 51900);
      assert.equal(a.device.fwmark, 51820);
      assert.equal(a.device.peerCount, 2);
      const get = await request(server.path, 'get=1\n\n');
      assert.match(get, /fwmark=51820\n/);
      assert.match(get, new RegExp(`public_key=${hexKey(0x09)}\npreshared_key=${hexKey(0x07)}\n`));
      assert.match(get, /endpoint=\[2001:db8::5\]:51820\n/);
      assert.match(
        get,
        /persistent_keepalive_interval=25\nallowed_ip=10\.59\.3\.0\/24\nallowed_ip=fd59:3::\/64\n/
      );
      assert.doesNotMatch(get, /10\.59\.4\.0/);
      assert.match(get, /allowed_ip=10\.59\.5\.5\/32\nerrno=0\n\n$/);
      // keepalive switched on with no session: an initiation went out at once
      assert.ok(a.bind.sent > 0);
    } finally {
      await server.close();
    }
  });

  it('update_only, remove and our own key behave as in wireguard-go', async () => {
    const { a, b } = await pair();
    const server = await UapiServer.listen(a.device, 'stu2', { directory: dir });
    try {
      const own = keyToHex(a.device.publicKey!);
      const r = await request(
        server.path,
        `set=1\npublic_key=${hexKey(0x0b)}\nupdate_only=true\nallowed_ip=10.59.9.0/24\npublic_key=${own}\nallowed_ip=10.59.8.0/24\n\n`
      );
      assert.equal(r, 'errno=0\n\n');
      assert.equal(a.device.peerCount, 1); // neither the update-only newcomer nor ourselves
      const pk = keyToHex(b.device.publicKey!);
      assert.equal(
        await request(server.path, `set=1\npublic_key=${pk}\nremove=true\n\n`),
        'errno=0\n\n'
      );
      assert.equal(a.device.peerCount, 0);
    } finally {
      await server.close();
    }
  });

  it('answers errors with wireguard-go errno values and keeps earlier lines applied', async () => {
    const { a } = await pair();
    const server = await UapiServer.listen(a.device, 'stu3', { directory: dir });
    try {
      const cases: [string, string][] = [
        ['set=1\nbogus=1\n\n', 'errno=-22\n\n'],
        ['set=1\nlisten_port=abc\n\n', 'errno=-22\n\n'],
        ['set=1\nlisten_port=65536\n\n', 'errno=-22\n\n'],
        ['set=1\nnoequals\n\n', 'errno=-71\n\n'],
        ['set=1\nprivate_key=zz\n\n', 'errno=-22\n\n'],
        ['set=1\nreplace_peers=yes\n\n', 'errno=-22\n\n'],
        [`set=1\npublic_key=${hexKey(1)}\nprotocol_version=2\n\n`, 'errno=-22\n\n'],
        [`set=1\npublic_key=${hexKey(1)}\nendpoint=nohost\n\n`, 'errno=-22\n\n'],
        [`set=1\npublic_key=${hexKey(1)}\nallowed_ip=10.0.0.0/33\n\n`, 'errno=-22\n\n'],
        [`set=1\npublic_key=${hexKey(1)}\npersistent_keepalive_interval=-1\n\n`, 'errno=-22\n\n'],
        [`set=1\npublic_key=${hexKey(1)}\nlisten_port=1\n\n`, 'errno=-22\n\n'],
      ];
      for (const [req, want] of cases) {
        assert.equal(await request(server.path, req), want, JSON.stringify(req));
      }
      // the public_key line before the error created the peer (not transactional)
      assert.ok(a.device.getPeer(new Uint8Array(32).fill(1)));
      // the server survives all that
      assert.match(await request(server.path, 'get=1\n\n'), /errno=0\n\n$/);
    } finally {
      await server.close();
    }
  });

  it('serves several operations on one connection, and refuses a second server', async () => {
    const { a } = await pair();
    const server = await UapiServer.listen(a.device, 'stu4', { directory: dir });
    try {
      const both = await new Promise<string>((resolve) => {
        const s = createConnection(server.path);
        let out = '';
        s.setEncoding('utf8');
        s.on('data', (d) => {
          out += d;
        });
        s.on('end', () => resolve(out));
        s.end('set=1\nfwmark=7\n\nget=1\n\n');
      });
      assert.match(both, /^errno=0\n\n[\s\S]*fwmark=7\n[\s\S]*errno=0\n\n$/);
      await assert.rejects(
        UapiServer.listen(a.device, 'stu4', { directory: dir }),
        /another process/
      );
    } finally {
      await server.close();
    }
    // a stale socket file is replaced
    const again = await UapiServer.listen(a.device, 'stu4', { directory: dir });
    await again.close();
  });

  /** Writes `parts` one per event-loop turn, then reads until the server closes. */
  function conversation(path: string, parts: (string | Buffer)[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      let out = '';
      s.setEncoding('utf8');
      s.on('data', (d) => {
        out += d;
      });
      s.on('error', (err: NodeJS.ErrnoException) => {
        // the server may close while we still write: what it said is what counts
        if (err.code === 'EPIPE' || err.code === 'ECONNRESET') resolve(out);
        else reject(err);
      });
      s.on('end', () => resolve(out));
      let i = 0;
      const next = () => {
        if (s.destroyed) return;
        if (i === parts.length) {
          s.end();
          return;
        }
        s.write(parts[i++]!, () => setImmediate(next));
      };
      next();
    });
  }

  it('refuses a line over 4 KiB with errno=-90, even sent a byte at a time, and closes', async () => {
    const { a } = await pair();
    const logged: string[] = [];
    const server = await UapiServer.listen(a.device, 'stu5', {
      directory: dir,
      log: (m) => logged.push(m),
    });
    try {
      const long = `fwmark=${'1'.repeat(4100)}`;
      const parts = ['set=1\n', ...long.slice(0, 300), long.slice(300), '\n\n', 'get=1\n\n'];
      assert.equal(await conversation(server.path, parts), 'errno=-90\n\n');
      assert.equal(a.device.fwmark, 0);
      assert.ok(logged.some((m) => /longer than 4096 bytes/.test(m)));
      // a line of exactly the limit is fine (and its value then fails to parse, as it should)
      const edge = `fwmark=${'1'.repeat(4096 - 7)}`;
      assert.equal(await conversation(server.path, [`set=1\n${edge}\n\n`]), 'errno=-22\n\n');
    } finally {
      await server.close();
    }
  });

  it('refuses requests over the line and byte limits, and serves the next connection', async () => {
    const { a } = await pair();
    const server = await UapiServer.listen(a.device, 'stu6', {
      directory: dir,
      maxRequestLines: 4,
      maxRequestBytes: 200,
    });
    try {
      const lines = (n: number) => 'fwmark=1\n'.repeat(n);
      assert.equal(await conversation(server.path, [`set=1\n${lines(5)}\n`]), 'errno=-90\n\n');
      assert.equal(await conversation(server.path, [`set=1\n${lines(4)}\n`]), 'errno=0\n\n');
      const big = `set=1\nfwmark=${'0'.repeat(100)}\nfwmark=${'0'.repeat(100)}\n\n`;
      assert.equal(await conversation(server.path, [big]), 'errno=-90\n\n');
      await assert.rejects(
        UapiServer.listen(a.device, 'stu7', { directory: dir, maxLineBytes: 0 }),
        /maxLineBytes/
      );
    } finally {
      await server.close();
    }
  });

  it('puts a set back together from chunks split anywhere, multi-byte characters included', async () => {
    const { a } = await pair();
    const server = await UapiServer.listen(a.device, 'stu8', { directory: dir });
    try {
      const text = Buffer.from('set=1\nfwmark=77\n\nget=1\n\n');
      const bytes = [...text].map((b) => Buffer.of(b));
      const out = await conversation(server.path, bytes);
      assert.match(out, /^errno=0\n\n[\s\S]*fwmark=77\n[\s\S]*errno=0\n\n$/);
      // a multi-byte character split across chunks reaches the parser whole
      const bad = Buffer.from('set=1\nfwmark=\u00e9\n\n');
      const split = bad.indexOf(0xc3);
      const logged: string[] = [];
      const s2 = await UapiServer.listen(a.device, 'stu9', {
        directory: dir,
        log: (m) => logged.push(m),
      });
      try {
        const got = await conversation(s2.path, [
          bad.subarray(0, split + 1),
          bad.subarray(split + 1),
        ]);
        assert.equal(got, 'errno=-22\n\n');
        assert.ok(
          logged.some((m) => m.includes('"\u00e9"')),
          logged.join('\n')
        );
      } finally {
        await s2.close();
      }
    } finally {
      await server.close();
    }
  });
});
