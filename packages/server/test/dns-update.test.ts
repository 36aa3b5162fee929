// SPDX-License-Identifier: MIT
// The resolver's wire reading and UPDATE planning on hand-made messages: the device key, the
// record frame with empty RDATA (RFC 2136 §2.5.2), truncation at every length, compression,
// and the FORMERR / REFUSED cases of RFC 2136 §3.4.1.3.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DnsRecord, dnsUpdateKey, planUpdate } from '../src/dns-update.ts';
import { FormatError, readMessage } from '../src/dns-wire.ts';

const IN = 1;
const NONE = 254;
const ANY = 255;
const [A, CNAME, SOA, TXT, AAAA, MX] = [1, 5, 6, 16, 28, 15];

function name(text: string): Buffer {
  const labels = text === '' ? [] : text.split('.');
  return Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])),
    Buffer.from([0]),
  ]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function rr(owner: Buffer, type: number, klass: number, ttl: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(klass, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([owner, fixed, rdata]);
}

/** An UPDATE for zone `local.` with these prerequisite and update records. */
function update(prerequisites: Buffer[], updates: Buffer[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(0x2a2a, 0);
  header.writeUInt16BE(5 << 11, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(prerequisites.length, 6);
  header.writeUInt16BE(updates.length, 8);
  return Buffer.concat([header, name('local'), u16(SOA), u16(IN), ...prerequisites, ...updates]);
}

const HELD: DnsRecord[] = [
  { name: 'box.local', type: 'A', value: '10.59.0.9', ttl: 60, source: null },
];

describe('dnsUpdateKey', () => {
  it('is HKDF-SHA256 of the PSK with info startos-dns-update-v1', () => {
    // python3: prk = hmac(b'\0'*32, psk, sha256); okm = hmac(prk, info + b'\x01', sha256)
    const psk = Uint8Array.from({ length: 32 }, (_, i) => i);
    assert.equal(
      Buffer.from(dnsUpdateKey(psk)).toString('hex'),
      '132ebf0ff55ed1f56db2e5bc7f62d7172dc92f3d2a5e7ae6ef422b63173c4823'
    );
  });

  it('takes only a 32-byte key', () => {
    assert.throws(() => dnsUpdateKey(new Uint8Array(31)), /32 bytes, not 31/);
  });
});

describe('readMessage', () => {
  it('frames an RDLENGTH 0 delete followed by another record (RFC 2136 §2.5.2)', () => {
    const message = readMessage(
      update(
        [],
        [
          rr(name('a.local'), A, ANY, 0, Buffer.alloc(0)),
          rr(name('b.local'), A, NONE, 0, Buffer.from([192, 0, 2, 1])),
        ]
      )
    );
    const [first, second] = message.sections[1];
    assert.equal(first?.name, 'a.local');
    assert.equal(first?.rdlength, 0);
    assert.equal(second?.name, 'b.local');
    assert.equal(second?.rdlength, 4);
    assert.deepEqual(planUpdate(message, []).changes, [
      { op: 'delete-rrset', name: 'a.local', type: 'A' },
      { op: 'delete-rr', name: 'b.local', type: 'A', value: '192.0.2.1' },
    ]);
  });

  it('throws only FormatError for every truncation and for trailing octets', () => {
    const whole = update(
      [rr(name('box.local'), A, ANY, 0, Buffer.alloc(0))],
      [rr(name('n.local'), TXT, IN, 60, Buffer.from('\x02hi\x03you'))]
    );
    readMessage(whole);
    for (let length = 0; length < whole.length; length++)
      assert.throws(() => readMessage(whole.subarray(0, length)), FormatError, `length ${length}`);
    assert.throws(() => readMessage(Buffer.concat([whole, Buffer.from([0])])), FormatError);
  });
});

describe('planUpdate', () => {
  const plan = (updates: Buffer[], prerequisites: Buffer[] = []) =>
    planUpdate(readMessage(update(prerequisites, updates)), HELD);

  it('reads adds of the four held types, with a compressed CNAME target and joined TXT', () => {
    // the CNAME target points at the zone name, at offset 12 (RFC 1035 §4.1.4)
    const target = Buffer.concat([Buffer.from([3]), Buffer.from('www'), Buffer.from([0xc0, 12])]);
    const result = plan([
      rr(name('Web.Local'), CNAME, IN, 120, target),
      rr(name('t.local'), TXT, IN, 60, Buffer.from('\x02hi\x04 you')),
      rr(name('v6.local'), AAAA, IN, 60, Buffer.from('20010db8000000000000000000000001', 'hex')),
      rr(name('big.local'), A, IN, 0x80000000, Buffer.from([192, 0, 2, 3])),
    ]);
    assert.equal(result.rcode, 0);
    assert.deepEqual(result.changes, [
      { op: 'add', name: 'web.local', type: 'CNAME', value: 'www.local', ttl: 120 },
      { op: 'add', name: 't.local', type: 'TXT', value: 'hi you', ttl: 60 },
      { op: 'add', name: 'v6.local', type: 'AAAA', value: '2001:db8::1', ttl: 60 },
      // a TTL with the top bit set is 0 (RFC 2181 §8)
      { op: 'add', name: 'big.local', type: 'A', value: '192.0.2.3', ttl: 0 },
    ]);
  });

  const cases: [string, Buffer[], Buffer[], number][] = [
    ['an add of type ANY', [rr(name('x.local'), ANY, IN, 0, Buffer.alloc(0))], [], 1],
    ['a delete with a TTL', [rr(name('x.local'), A, ANY, 5, Buffer.alloc(0))], [], 1],
    ['a delete with data', [rr(name('x.local'), A, ANY, 0, Buffer.from([1, 2, 3, 4]))], [], 1],
    ['an A of 3 octets', [rr(name('x.local'), A, IN, 60, Buffer.from([1, 2, 3]))], [], 1],
    ['a TXT that is not UTF-8', [rr(name('x.local'), TXT, IN, 60, Buffer.from([1, 0xff]))], [], 1],
    ['class CH', [rr(name('x.local'), A, 3, 60, Buffer.from([1, 2, 3, 4]))], [], 1],
    ['an MX', [rr(name('x.local'), MX, IN, 60, Buffer.concat([u16(10), name('m')]))], [], 5],
    ['a name with a space', [rr(name('a b.local'), A, IN, 60, Buffer.from([1, 2, 3, 4]))], [], 5],
    ['a wildcard', [rr(name('*.local'), A, IN, 60, Buffer.from([1, 2, 3, 4]))], [], 5],
    // prerequisites (RFC 2136 §3.2)
    ['a held name required absent', [], [rr(name('box.local'), ANY, NONE, 0, Buffer.alloc(0))], 6],
    ['a missing RRset required', [], [rr(name('box.local'), AAAA, ANY, 0, Buffer.alloc(0))], 8],
    ['a missing name required', [], [rr(name('no.local'), ANY, ANY, 0, Buffer.alloc(0))], 3],
    [
      'an RRset of other values',
      [],
      [rr(name('box.local'), A, IN, 0, Buffer.from([10, 59, 0, 8]))],
      8,
    ],
  ];
  for (const [what, updates, prerequisites, rcode] of cases) {
    it(`answers ${rcode} to ${what}, with no changes`, () => {
      assert.deepEqual(plan(updates, prerequisites), { rcode, changes: [] });
    });
  }

  it('holds prerequisites that are met', () => {
    const result = plan(
      [rr(name('box.local'), A, NONE, 0, Buffer.from([10, 59, 0, 9]))],
      [
        rr(name('box.local'), A, IN, 0, Buffer.from([10, 59, 0, 9])),
        rr(name('box.local'), ANY, ANY, 0, Buffer.alloc(0)),
        rr(name('free.local'), ANY, NONE, 0, Buffer.alloc(0)),
      ]
    );
    assert.deepEqual(result, {
      rcode: 0,
      changes: [{ op: 'delete-rr', name: 'box.local', type: 'A', value: '10.59.0.9' }],
    });
  });

  it('wants one zone of type SOA', () => {
    const message = update([], []);
    message.writeUInt16BE(2, 4);
    assert.throws(() => readMessage(message), FormatError);
    const notSoa = update([], []);
    notSoa.writeUInt16BE(A, 12 + name('local').length);
    assert.deepEqual(planUpdate(readMessage(notSoa), []), { rcode: 1, changes: [] });
  });
});
