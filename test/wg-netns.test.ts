// SPDX-License-Identifier: MIT
/**
 * The birthplace namespace (https://www.wireguard.com/netns/), run against ours (`wireguard-ts`)
 * and, side by side, Debian's wireguard-go: the daemon starts in namespace `a`, where its UDP
 * socket stays, while its interface moves to `b`, then to `c`, then is renamed there. The peer is
 * a stock wireguard-go in `p`, joined to `a` by a veth (outer 192.0.2.0/24, 2001:db8:1::/64;
 * inside 10.59.60.0/24, fd59:60::/64). Tunnel MTU 34000 over a 1500-byte path (the outer datagrams
 * are fragmented), so every read and receive buffer must follow the MTU.
 *
 * Steps: handshake and ping from `b` over IPv6 outer, a 30000-byte ping and a TCP iperf3 run;
 * the move to `c` and pings over IPv4 outer; the peer roams to a new port and we follow; a source
 * outside the peer's allowed IPs is dropped (crypto-key routing); a rename keeps it running; and
 * `ip netns del c` (the interface destroyed) ends the daemon and removes its UAPI socket. IPv6
 * outer comes before IPv4 because some wireguard-go releases corrupt IPv6 sends after an IPv4
 * one (see `wg-interop.test.ts`).
 * @module
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type Bg,
  type KeyPair,
  Lab,
  labSkip,
  requireBuilt,
  SOCK_DIR,
  takeLock,
  waitFor,
  wireguardGoVersion,
} from './_lab.ts';
import { endpointOf, KINDS, pingSized, pingsWithin } from './_wg-lab.ts';

const skip = labSkip(['wg', 'wireguard-go', 'iperf3', 'ping']);
const TAG = String(process.pid % 100_000);
const MTU = 34_000;
const OUT = { a4: '192.0.2.1', p4: '192.0.2.2', a6: '2001:db8:1::1', p6: '2001:db8:1::2' };
const IN = {
  a4: '10.59.60.1',
  p4: '10.59.60.2',
  x4: '10.59.60.9',
  a6: 'fd59:60::1',
  p6: 'fd59:60::2',
};

for (const kind of KINDS) {
  const k = kind === 'ours' ? 'o' : 'g';
  const NS = {
    a: `stn${k}a-${TAG}`,
    b: `stn${k}b-${TAG}`,
    c: `stn${k}c-${TAG}`,
    p: `stn${k}p-${TAG}`,
  };
  const IF = { dut: `stn${k}${TAG}`, renamed: `stn${k}r${TAG}`, peer: `stn${k}p${TAG}` };

  describe(`${kind === 'ours' ? 'wireguard-ts' : wireguardGoVersion()}: interface moved between namespaces`, {
    skip,
  }, () => {
    let lab: Lab;
    let release: () => void = () => {};
    let dut: Bg;
    let dutKey: KeyPair;
    let peerKey: KeyPair;

    /** Addresses, MTU and up on the interface in its new namespace. */
    async function settle(ns: string, ifname: string) {
      await lab.ip('-n', ns, 'link', 'set', ifname, 'mtu', String(MTU));
      await lab.addr(ns, ifname, `${IN.a4}/24`);
      await lab.addr(ns, ifname, `${IN.a6}/64`);
      await lab.ip('-n', ns, 'link', 'set', ifname, 'up');
    }

    before(
      async () => {
        requireBuilt();
        release = await takeLock();
        lab = new Lab(`stn${k}`);
        for (const ns of Object.values(NS)) await lab.addNamespace(ns);
        await lab.veth(NS.a, 'v0', NS.p, 'v0');
        await lab.addr(NS.a, 'v0', `${OUT.a4}/24`);
        await lab.addr(NS.a, 'v0', `${OUT.a6}/64`);
        await lab.addr(NS.p, 'v0', `${OUT.p4}/24`);
        await lab.addr(NS.p, 'v0', `${OUT.p6}/64`);
        dutKey = await lab.genkey();
        peerKey = await lab.genkey();
        dut = await lab.daemon(kind, NS.a, IF.dut);
        await lab.setconf(
          NS.a,
          IF.dut,
          `[Interface]\nPrivateKey = ${dutKey.privateKey}\nListenPort = 51820\n\n[Peer]\n` +
            `PublicKey = ${peerKey.publicKey}\nAllowedIPs = ${IN.p4}/32, ${IN.p6}/128\n`
        );
        await lab.daemon('wireguard-go', NS.p, IF.peer);
        await lab.setconf(
          NS.p,
          IF.peer,
          `[Interface]\nPrivateKey = ${peerKey.privateKey}\nListenPort = 51821\n\n[Peer]\n` +
            `PublicKey = ${dutKey.publicKey}\nAllowedIPs = 10.59.60.0/24, fd59:60::/64\n` +
            `Endpoint = [${OUT.a6}]:51820\n`
        );
        await lab.ip('-n', NS.p, 'link', 'set', IF.peer, 'mtu', String(MTU));
        await lab.addr(NS.p, IF.peer, `${IN.p4}/24`);
        await lab.addr(NS.p, IF.peer, `${IN.p6}/64`);
        await lab.addr(NS.p, IF.peer, `${IN.x4}/32`);
        await lab.ip('-n', NS.p, 'link', 'set', IF.peer, 'up');
      },
      { timeout: 120_000 }
    );

    after(
      async () => {
        if (dut?.exited && dut.exitCode !== 0) console.error(`${dut.name}:\n${dut.tail()}`);
        try {
          const problems = (await lab?.cleanup()) ?? [];
          assert.deepEqual(problems, [], 'lab cleanup');
        } finally {
          release();
        }
      },
      { timeout: 60_000 }
    );

    it('keeps running when its interface moves to b; pings, a 30000-byte ping and iperf3 over IPv6 outer', {
      timeout: 90_000,
    }, async () => {
      await lab.ip('-n', NS.a, 'link', 'set', IF.dut, 'netns', NS.b);
      await settle(NS.b, IF.dut);
      assert.equal(dut.exited, false, 'the daemon is still running');
      // the peer writes first: ours has no endpoint for it until then
      assert.ok(await pingsWithin(lab, NS.p, IN.a4), `ping from p to b\n${dut.tail()}`);
      assert.ok(
        await pingsWithin(lab, NS.b, IN.p4),
        `ping from b through the tunnel\n${dut.tail()}`
      );
      assert.ok(await pingsWithin(lab, NS.b, IN.p6), 'IPv6 inside');
      assert.equal(await endpointOf(lab, NS.a, IF.dut, peerKey.publicKey), `[${OUT.p6}]:51821`);
      assert.equal(
        await pingSized(lab, NS.b, IN.p4, 30_000),
        3,
        'a 30000-byte ping needs MTU 34000'
      );
      const iperf = await lab.iperf(NS.p, NS.b, IN.p4, 5360, 1);
      assert.ok(iperf.bytes > 0);
      console.log(`${kind}: iperf3 b -> p through the moved interface: ${iperf.mbps} Mbit/s`);
      // the UDP socket stayed in a: nothing listens on 51820 in b
      const ss = await lab.checkIn(NS.b, 'ss', ['-Hnul', 'sport = :51820']);
      assert.equal(ss.trim(), '');
    });

    it('follows it on to c, over IPv4 outer; the peer roams to a new port and we follow', {
      timeout: 90_000,
    }, async () => {
      await lab.ip('-n', NS.b, 'link', 'set', IF.dut, 'netns', NS.c);
      await settle(NS.c, IF.dut);
      await lab.wg(NS.p, 'set', IF.peer, 'peer', dutKey.publicKey, 'endpoint', `${OUT.a4}:51820`);
      assert.ok(await pingsWithin(lab, NS.p, IN.a4), `ping from p to c\n${dut.tail()}`);
      assert.equal(await endpointOf(lab, NS.a, IF.dut, peerKey.publicKey), `${OUT.p4}:51821`);
      assert.equal(await pingSized(lab, NS.c, IN.p4, 30_000), 3);
      await lab.wg(NS.p, 'set', IF.peer, 'listen-port', '51829');
      assert.ok(await pingsWithin(lab, NS.p, IN.a4));
      assert.equal(await endpointOf(lab, NS.a, IF.dut, peerKey.publicKey), `${OUT.p4}:51829`);
      assert.ok(await pingsWithin(lab, NS.c, IN.p6), 'and back from c');
    });

    it('drops a source outside the peer allowed IPs (crypto-key routing), wherever it lives', {
      timeout: 60_000,
    }, async () => {
      assert.ok(await pingsWithin(lab, NS.p, IN.a4));
      assert.equal(await pingSized(lab, NS.p, IN.a4, 56, 3, ['-I', IN.x4]), 0);
      assert.equal(await pingSized(lab, NS.p, IN.a4, 56, 3, ['-I', IN.p4]), 3);
    });

    it('survives a rename in c, and ends when c is deleted (the interface destroyed)', {
      timeout: 60_000,
    }, async () => {
      await lab.ip('-n', NS.c, 'link', 'set', IF.dut, 'down');
      await lab.ip('-n', NS.c, 'link', 'set', IF.dut, 'name', IF.renamed);
      await lab.ip('-n', NS.c, 'link', 'set', IF.renamed, 'up');
      assert.ok(await pingsWithin(lab, NS.c, IN.p4), `ping after the rename\n${dut.tail()}`);
      assert.equal(dut.exited, false);
      // the UAPI socket keeps the name it was born with, as wireguard-go's
      const dump = await lab.dump(NS.a, IF.dut);
      assert.equal(dump.publicKey, dutKey.publicKey);
      await lab.ip('netns', 'del', NS.c);
      lab.namespaces.splice(lab.namespaces.indexOf(NS.c), 1);
      assert.ok(await waitFor(() => dut.exited, 15_000), 'the daemon exits with its interface');
      assert.ok(
        await waitFor(() => !existsSync(join(SOCK_DIR, `${IF.dut}.sock`)), 5000),
        'and removes its UAPI socket'
      );
    });
  });
}
