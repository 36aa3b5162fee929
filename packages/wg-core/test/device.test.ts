// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hex, ip } from './_packets.ts';
import { pair } from './_harness.ts';

describe('two in-memory devices', () => {
  it('exchange IPv4 and IPv6 packets both ways after one handshake', async () => {
    const { lab, a, b, peerA, peerB } = await pair();
    const handshakes: string[] = [];
    a.device.on('handshake', () => handshakes.push('a'));
    b.device.on('handshake', () => handshakes.push('b'));

    const p1 = ip('10.59.0.1', '10.59.0.2', 100);
    a.tun.inject(p1);
    lab.settle();
    assert.deepEqual(b.tun.drain().map(hex), [hex(p1)]);
    assert.deepEqual(handshakes.sort(), ['a', 'b']);

    const p2 = ip('fd59::2', 'fd59::1', 300);
    const p3 = ip('10.59.0.2', '10.59.0.1', 1);
    b.tun.inject(p2, p3);
    lab.settle();
    assert.deepEqual(a.tun.drain().map(hex), [hex(p2), hex(p3)]);

    const sa = a.device.stats(peerB);
    const sb = b.device.stats(peerA);
    assert.equal(sa.endpoint, '198.51.100.2:51821');
    assert.equal(sb.endpoint, '192.0.2.1:51820');
    assert.ok(sa.lastHandshakeTime > 0 && sb.lastHandshakeTime > 0);
    assert.equal(sa.txBytes, sb.rxBytes);
    assert.equal(sb.txBytes, sa.rxBytes);
    assert.deepEqual(sa.allowedIPs, ['10.59.0.2/32', 'fd59::2/128']);
  });
});
