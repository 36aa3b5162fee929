// SPDX-License-Identifier: MIT
/**
 * wireguard-ts against stock wireguard-go under stress, in network namespaces:
 * - a forced rekey (ours rekeys every 3 s, a test-only setting) while pings flow: no loss, and
 *   the handshake time keeps moving;
 * - a flood of initiations carrying a valid mac1 (so they pass the cheap check and reach the
 *   handshake queue) from a stranger namespace: ours answers with cookie replies instead of
 *   doing DH work, and the established tunnel keeps carrying traffic.
 * Topology: ns A (ours, 192.0.2.1) — ns B (wireguard-go, 192.0.2.2) — ns S (stranger,
 * 192.0.2.66), one bridge in its own namespace; tunnel 10.59.30.0/24.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Bg, Lab, labSkip, requireBuilt, SOCK_DIR, takeLock, waitFor } from './_lab.ts';

const skip = labSkip(['ip', 'wg', 'wireguard-go', 'ping']);
const tag = process.pid.toString(36);
const NS = { a: `strk-a-${tag}`, b: `strk-b-${tag}`, s: `strk-s-${tag}`, br: `strk-br-${tag}` };
const IF = { ours: `strka${tag}`.slice(0, 15), b: `strkb${tag}`.slice(0, 15) };

/** Sends `count` initiations with valid mac1 for `publicKey` and counts cookie replies. */
const FLOOD = `
import dgram from 'node:dgram';
import { blake2s } from '@noble/hashes/blake2.js';
import { randomFillSync } from 'node:crypto';
const [host, port, pub, count, seconds] = process.argv.slice(1);
const key = blake2s(new Uint8Array([...Buffer.from('mac1----'), ...Buffer.from(pub, 'base64')]));
const s = dgram.createSocket('udp4');
let replies = 0, sent = 0;
s.on('message', (m) => { if (m.length === 64 && m[0] === 3) replies++; });
s.on('error', () => {});
s.bind(0, () => {
  const end = Date.now() + Number(seconds) * 1000;
  const burst = () => {
    for (let k = 0; k < 64 && sent < Number(count) && Date.now() < end; k++) {
      const msg = new Uint8Array(148);
      randomFillSync(msg, 4, 112);
      msg[0] = 1;
      msg.set(blake2s(msg.subarray(0, 116), { key, dkLen: 16 }), 116);
      s.send(msg, Number(port), host);
      sent++;
    }
    if (sent < Number(count) && Date.now() < end) setTimeout(burst, 1);
    else setTimeout(() => { console.log(JSON.stringify({ sent, replies })); process.exit(0); }, 1500);
  };
  burst();
});
`;

describe('wireguard-ts under rekey and flood', { skip }, () => {
  const l = new Lab('strk');
  let release: (() => void) | null = null;
  let oursPub = '';
  let ours: Bg;

  before(async () => {
    requireBuilt();
    release = await takeLock();
    for (const ns of Object.values(NS)) await l.addNamespace(ns);
    await l.ip('-n', NS.br, 'link', 'add', 'br0', 'type', 'bridge');
    await l.ip('-n', NS.br, 'link', 'set', 'br0', 'up');
    for (const [ns, addr] of [
      [NS.a, '192.0.2.1/24'],
      [NS.b, '192.0.2.2/24'],
      [NS.s, '192.0.2.66/24'],
    ] as const) {
      const port = `p-${ns.slice(5, 6)}`;
      await l.veth(ns, 'eth0', NS.br, port);
      await l.ip('-n', NS.br, 'link', 'set', port, 'master', 'br0');
      await l.addr(ns, 'eth0', addr);
    }
    const ka = await l.genkey();
    const kb = await l.genkey();
    oursPub = ka.publicKey;
    ours = await l.daemon('ours', NS.a, IF.ours, { WIREGUARD_TS_TEST_REKEY_AFTER_SECONDS: '3' });
    await l.daemon('wireguard-go', NS.b, IF.b);
    await l.setconf(
      NS.a,
      IF.ours,
      `[Interface]\nPrivateKey = ${ka.privateKey}\nListenPort = 51820\n\n[Peer]\nPublicKey = ${kb.publicKey}\nAllowedIPs = 10.59.30.2/32\nEndpoint = 192.0.2.2:51821\n`
    );
    await l.setconf(
      NS.b,
      IF.b,
      `[Interface]\nPrivateKey = ${kb.privateKey}\nListenPort = 51821\n\n[Peer]\nPublicKey = ${ka.publicKey}\nAllowedIPs = 10.59.30.1/32\n`
    );
    await l.addr(NS.a, IF.ours, '10.59.30.1/24');
    await l.addr(NS.b, IF.b, '10.59.30.2/24');
    await l.ip('-n', NS.a, 'link', 'set', IF.ours, 'up');
    await l.ip('-n', NS.b, 'link', 'set', IF.b, 'up');
  });

  after(async () => {
    const problems = await l.cleanup();
    release?.();
    assert.deepEqual(problems, []);
  });

  it('rekeys every 3 s with pings flowing and loses none', async () => {
    const first = await l.ping(NS.a, '10.59.30.2', { count: 3 });
    assert.equal(first.received, 3, first.output);
    const handshakes = new Set<number>();
    const watch = setInterval(async () => {
      try {
        const d = await l.dump(NS.a, IF.ours);
        if (d.peers[0]) handshakes.add(d.peers[0].latestHandshake);
      } catch {}
    }, 500);
    // 10 s of pings at 20 per second: spans three rekeys on our side
    const r = await l.ping(NS.a, '10.59.30.2', { count: 200, interval: 0.05, wait: 2 });
    clearInterval(watch);
    assert.equal(r.received, r.sent, r.output);
    assert.ok(r.sent === 200);
    assert.ok(handshakes.size >= 3, `handshake times seen: ${[...handshakes].join(', ')}`);
  });

  it('answers a flood of valid-mac1 initiations with cookie replies; the tunnel keeps working', async (t) => {
    const flood = l.spawnIn(NS.s, 'flood', process.execPath, [
      '--input-type=module',
      '-e',
      FLOOD,
      '192.0.2.1',
      '51820',
      oursPub,
      '30000',
      '4',
    ]);
    const during = await l.ping(NS.a, '10.59.30.2', { count: 30, interval: 0.1, wait: 2 });
    const line = await flood.line((x) => x.startsWith('{'), 15_000);
    assert.ok(line, `flood gave no result:\n${flood.tail()}`);
    const { sent, replies } = JSON.parse(line) as { sent: number; replies: number };
    t.diagnostic(
      `flood: ${sent} initiations sent, ${replies} cookie replies; pings during flood ${during.received}/${during.sent}`
    );
    assert.ok(sent > 1000, `only ${sent} sent`);
    assert.ok(replies > 0, 'no cookie reply under load');
    // the tunnel carried traffic during the flood and carries all of it afterwards
    assert.ok(during.received >= during.sent * 0.8, during.output);
    const afterwards = await l.ping(NS.a, '10.59.30.2', { count: 5 });
    assert.equal(afterwards.received, 5, afterwards.output);
    const back = await l.ping(NS.b, '10.59.30.1', { count: 5 });
    assert.equal(back.received, 5, back.output);
  });

  it('exits cleanly when its UAPI socket is deleted, and on SIGTERM', async () => {
    const sock = join(SOCK_DIR, `${IF.ours}.sock`);
    assert.ok(existsSync(sock));
    rmSync(sock);
    assert.ok(await waitFor(() => ours.exited, 5000), 'still running after its socket was deleted');
    assert.equal(ours.exitCode, 0);
    // the interface went with it
    const gone = await l.exec(NS.a, 'ip', ['link', 'show', IF.ours]);
    assert.notEqual(gone.code, 0);

    const again = await l.daemon('ours', NS.a, IF.ours);
    assert.ok(existsSync(sock));
    again.child.kill('SIGTERM');
    assert.ok(await waitFor(() => again.exited, 5000), 'still running after SIGTERM');
    assert.equal(again.exitCode, 0);
    assert.equal(existsSync(sock), false);
  });
});
