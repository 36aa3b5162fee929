// SPDX-License-Identifier: MIT
/**
 * Sticky source addresses, against ours (`wireguard-ts`) and, side by side, Debian's
 * wireguard-go: a multi-homed host `h` (two addresses on one interface per family: 192.0.2.1 and
 * 192.0.2.3, 2001:db8:1::3 and 2001:db8:1::100) runs the daemon under test; a stock wireguard-go
 * in `p` writes to the address the kernel would NOT pick for replies (192.0.2.3, the secondary
 * one; 2001:db8:1::100, the one with the shorter common prefix, RFC 6724 rule 8). Its `wg show`
 * must keep that exact address as our endpoint: an answer from the other address would move it
 * (and a NAT or firewall would drop it). Then that address is removed and another added: the
 * host keeps the tunnel working by answering from an address it still has (the kernel's
 * drivers/net/wireguard/socket.c forgets a source that is no longer local). Inside 10.59.61.0/24.
 * Debian's wireguard-go v0.0.20220316 keeps sending from the removed address (its sendmmsg fails
 * with EINVAL) and loses the tunnel there: for the reference that last step is reported, not
 * asserted.
 * @module
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type KeyPair, Lab, labSkip, requireBuilt, takeLock, wireguardGoVersion } from './_lab.ts';
import { endpointOf, KINDS, pingsWithin } from './_wg-lab.ts';

const skip = labSkip(['wg', 'wireguard-go', 'ping']);
const TAG = String(process.pid % 100_000);
const H = {
  v4: '192.0.2.1',
  v4b: '192.0.2.3',
  v4c: '192.0.2.4',
  v6: '2001:db8:1::3',
  v6b: '2001:db8:1::100',
};
const P = { v4: '192.0.2.2', v6: '2001:db8:1::2' };
const IN = { h: '10.59.61.1', p: '10.59.61.2' };

for (const kind of KINDS) {
  const k = kind === 'ours' ? 'o' : 'g';
  const NS = { h: `sts${k}h-${TAG}`, p: `sts${k}p-${TAG}` };
  const IF = { dut: `sts${k}${TAG}`, peer: `sts${k}p${TAG}` };

  describe(`${kind === 'ours' ? 'wireguard-ts' : wireguardGoVersion()}: sticky source addresses`, {
    skip,
  }, () => {
    let lab: Lab;
    let release: () => void = () => {};
    let dutKey: KeyPair;
    let peerKey: KeyPair;

    /** Points the peer at `addr` (restarting nothing), then has it write until a reply comes. */
    async function peerWritesTo(endpoint: string) {
      await lab.wg(NS.p, 'set', IF.peer, 'peer', dutKey.publicKey, 'endpoint', endpoint);
      return pingsWithin(lab, NS.p, IN.h);
    }

    before(
      async () => {
        requireBuilt();
        release = await takeLock();
        lab = new Lab(`sts${k}`);
        for (const ns of Object.values(NS)) await lab.addNamespace(ns);
        await lab.veth(NS.h, 'v0', NS.p, 'v0');
        for (const a of [`${H.v4}/24`, `${H.v4b}/24`, `${H.v6}/64`, `${H.v6b}/64`]) {
          await lab.addr(NS.h, 'v0', a);
        }
        await lab.addr(NS.p, 'v0', `${P.v4}/24`);
        await lab.addr(NS.p, 'v0', `${P.v6}/64`);
        dutKey = await lab.genkey();
        peerKey = await lab.genkey();
        await lab.daemon(kind, NS.h, IF.dut);
        await lab.setconf(
          NS.h,
          IF.dut,
          `[Interface]\nPrivateKey = ${dutKey.privateKey}\nListenPort = 51820\n\n[Peer]\n` +
            `PublicKey = ${peerKey.publicKey}\nAllowedIPs = ${IN.p}/32\n`
        );
        await lab.addr(NS.h, IF.dut, `${IN.h}/24`);
        await lab.ip('-n', NS.h, 'link', 'set', IF.dut, 'up');
        await lab.daemon('wireguard-go', NS.p, IF.peer);
        await lab.setconf(
          NS.p,
          IF.peer,
          `[Interface]\nPrivateKey = ${peerKey.privateKey}\nListenPort = 51821\n\n[Peer]\n` +
            `PublicKey = ${dutKey.publicKey}\nAllowedIPs = ${IN.h}/32\n`
        );
        await lab.addr(NS.p, IF.peer, `${IN.p}/24`);
        await lab.ip('-n', NS.p, 'link', 'set', IF.peer, 'up');
      },
      { timeout: 120_000 }
    );

    after(
      async () => {
        try {
          const problems = (await lab?.cleanup()) ?? [];
          assert.deepEqual(problems, [], 'lab cleanup');
        } finally {
          release();
        }
      },
      { timeout: 60_000 }
    );

    // IPv6 first: some wireguard-go releases corrupt IPv6 sends after an IPv4 one
    it('answers over IPv6 from the address the peer wrote to', { timeout: 60_000 }, async () => {
      assert.ok(await peerWritesTo(`[${H.v6b}]:51820`), 'ping from p');
      assert.ok(await pingsWithin(lab, NS.h, IN.p), 'and from h');
      assert.equal(await endpointOf(lab, NS.p, IF.peer, dutKey.publicKey), `[${H.v6b}]:51820`);
      assert.equal(await endpointOf(lab, NS.h, IF.dut, peerKey.publicKey), `[${P.v6}]:51821`);
    });

    it('answers over IPv4 from the address the peer wrote to', { timeout: 60_000 }, async (t) => {
      assert.ok(await peerWritesTo(`${H.v4b}:51820`), 'ping from p');
      assert.ok(await pingsWithin(lab, NS.h, IN.p), 'and from h');
      const seen = await endpointOf(lab, NS.p, IF.peer, dutKey.publicKey);
      if (kind === 'wireguard-go' && seen !== `${H.v4b}:51820`) {
        // the reference, not ours: Debian 13's wireguard-go (0.0.20231211, which calls itself
        // v0.0.20230223) answers IPv4 from the kernel's choice once it has sent IPv6; reported,
        // as the removal step below is
        t.diagnostic(`reference ${wireguardGoVersion()}: the peer sees ${seen}`);
        return;
      }
      assert.equal(seen, `${H.v4b}:51820`);
      assert.equal(await endpointOf(lab, NS.h, IF.dut, peerKey.publicKey), `${P.v4}:51821`);
    });

    it('keeps the tunnel when that address is removed and another added', {
      timeout: 60_000,
    }, async (t) => {
      await lab.ip('-n', NS.h, 'addr', 'del', `${H.v4b}/24`, 'dev', 'v0');
      await lab.addr(NS.h, 'v0', `${H.v4c}/24`);
      // h writes: its remembered source is gone, so the answer leaves from one it has
      const recovered = await pingsWithin(lab, NS.h, IN.p);
      if (kind === 'wireguard-go') {
        t.diagnostic(
          `reference ${wireguardGoVersion()}: recovered after the removal: ${recovered}`
        );
        console.log(`reference wireguard-go recovered after the address removal: ${recovered}`);
        return;
      }
      assert.ok(recovered, 'ping from h after the address went away');
      const seen = await endpointOf(lab, NS.p, IF.peer, dutKey.publicKey);
      assert.notEqual(seen, `${H.v4b}:51820`);
      assert.ok(await pingsWithin(lab, NS.p, IN.h), 'and from p, to where h answered from');
    });
  });
}
