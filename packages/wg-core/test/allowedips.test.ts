// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AllowedIPs, formatPrefix, type Prefix, parsePrefix } from '../src/allowedips.ts';

interface Peer {
  name: string;
}
const peer = (name: string): Peer => ({ name });

function v4(table: AllowedIPs<Peer>, text: string, p: Peer): void {
  const { family, ip, cidr } = parsePrefix(text);
  table.insert(family, ip, cidr, p);
}

/** Looks an address up the way the data path does: inside a larger packet buffer. */
function find(table: AllowedIPs<Peer>, address: string): Peer | null {
  const { family, ip } = parsePrefix(address);
  const packet = new Uint8Array(40).fill(0xa5);
  packet.set(ip, 8);
  return table.lookup(family, packet, 8);
}

/** Builds an IPv6 address from four u32 words, as the kernel selftest writes them. */
function words6(a: number, b: number, c: number, d: number): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  for (const [i, w] of [a, b, c, d].entries()) view.setUint32(i * 4, w);
  return out;
}

describe('parsePrefix / formatPrefix', () => {
  // Expected text from Python: socket.inet_ntop (glibc, what `wg show` uses) over
  // ipaddress.ip_network(text, strict=False).
  const cases: [string, string][] = [
    ['10.59.0.0/24', '10.59.0.0/24'],
    ['10.59.0.9/24', '10.59.0.0/24'],
    ['192.0.2.1', '192.0.2.1/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['255.255.255.255/31', '255.255.255.254/31'],
    [' 10.0.0.1/8 ', '10.0.0.0/8'],
    ['fd00::2/128', 'fd00::2/128'],
    ['fd00:0:0:0:0:0:0:2', 'fd00::2/128'],
    ['FD00::0002', 'fd00::2/128'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1/128'],
    ['2001:db8::/32', '2001:db8::/32'],
    ['2001:db8:1:2:3:4:5:6/48', '2001:db8:1::/48'],
    ['::/0', '::/0'],
    ['::1', '::1/128'],
    ['::', '::/128'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1/128'],
    ['::ffff:c000:201', '::ffff:192.0.2.1/128'],
    ['::192.0.2.1', '::192.0.2.1/128'],
    ['::1:2', '::0.1.0.2/128'],
    ['1:0:2:0:0:0:0:0', '1:0:2::/128'],
    ['0:0:1::', '0:0:1::/128'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3/128'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1/128'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221/128'],
    ['1::', '1::/128'],
    ['fe80::1/10', 'fe80::/10'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127'],
  ];
  for (const [text, expected] of cases) {
    it(`"${text}" -> ${expected}`, () => {
      const p = parsePrefix(text);
      assert.equal(formatPrefix(p), expected);
      assert.deepEqual(parsePrefix(expected), p);
    });
  }

  it('returns masked bytes', () => {
    assert.deepEqual(parsePrefix('10.59.0.9/24'), {
      family: 4,
      ip: Uint8Array.of(10, 59, 0, 0),
      cidr: 24,
    });
    assert.equal(
      Buffer.from(parsePrefix('2001:db8:1:2:3:4:5:6/49').ip).toString('hex'),
      '20010db8000100000000000000000000'
    );
  });

  const bad: [string, string][] = [
    ['10.0.0.0/33', 'prefix length must be 0..32'],
    ['fd00::/129', 'prefix length must be 0..128'],
    ['10.0.0.0/', 'prefix length must be a decimal number'],
    ['10.0.0.0/-1', 'prefix length must be a decimal number'],
    ['10.0.0.0/8/8', 'prefix length must be a decimal number'],
    ['10.0.0.256/8', '"10.0.0.256" is not an IPv4 or IPv6 address'],
    ['010.0.0.1', '"010.0.0.1" is not an IPv4 or IPv6 address'],
    ['fe80::1%eth0/64', '"fe80::1%eth0" is not an IPv4 or IPv6 address'],
    ['1:2:3:4:5:6:7:8:9', '"1:2:3:4:5:6:7:8:9" is not an IPv4 or IPv6 address'],
    ['example.com', '"example.com" is not an IPv4 or IPv6 address'],
    ['', '"" is not an IPv4 or IPv6 address'],
  ];
  for (const [text, reason] of bad) {
    it(`rejects "${text}"`, () => {
      assert.throws(() => parsePrefix(text), {
        name: 'TypeError',
        message: `Cannot parse allowed IP "${text}": ${reason}`,
      });
    });
  }
});

describe('AllowedIPs', () => {
  // The cases of kernel selftest/allowedips.c, as wireguard-go device/allowedips_test.go ports
  // them (TestTrieIPv4), rewritten as tables.
  it('routes IPv4 by longest prefix (kernel selftest)', () => {
    const [a, b, c, d, e, g, h] = ['a', 'b', 'c', 'd', 'e', 'g', 'h'].map(peer) as [
      Peer,
      Peer,
      Peer,
      Peer,
      Peer,
      Peer,
      Peer,
    ];
    const table = new AllowedIPs<Peer>();
    const inserts: [Peer, string][] = [
      [a, '192.168.4.0/24'],
      [b, '192.168.4.4/32'],
      [c, '192.168.0.0/16'],
      [d, '192.95.5.64/27'],
      [c, '192.95.5.65/27'], // same /27 as d's: moves it to c
      [e, '0.0.0.0/0'],
      [g, '64.15.112.0/20'],
      [h, '64.15.123.211/25'],
      [a, '10.0.0.0/25'],
      [b, '10.0.0.128/25'],
      [a, '10.1.0.0/30'],
      [b, '10.1.0.4/30'],
      [c, '10.1.0.8/29'],
      [d, '10.1.0.16/29'],
    ];
    for (const [p, text] of inserts) v4(table, text, p);
    assert.equal(table.size, 13);
    const lookups: [Peer, string][] = [
      [a, '192.168.4.20'],
      [a, '192.168.4.0'],
      [b, '192.168.4.4'],
      [c, '192.168.200.182'],
      [c, '192.95.5.68'],
      [e, '192.95.5.96'],
      [g, '64.15.116.26'],
      [g, '64.15.127.3'],
      [h, '64.15.123.211'],
      [a, '10.0.0.127'],
      [b, '10.0.0.128'],
      [a, '10.1.0.3'],
      [b, '10.1.0.4'],
      [c, '10.1.0.15'],
      [d, '10.1.0.16'],
      [e, '10.1.0.24'],
    ];
    for (const [p, address] of lookups) assert.equal(find(table, address), p, address);
    assert.deepEqual(
      table.entriesForPeer(d).map(formatPrefix),
      ['10.1.0.16/29'],
      'd lost 192.95.5.64/27 to c'
    );

    const hosts = ['1.0.0.0', '64.0.0.0', '128.0.0.0', '192.0.0.0', '255.0.0.0'];
    for (const host of hosts) v4(table, `${host}/32`, a);
    for (const host of hosts) assert.equal(find(table, host), a, host);
    table.removeByPeer(a);
    for (const host of hosts) assert.equal(find(table, host), e, host);
    assert.equal(find(table, '192.168.4.20'), c);
    assert.deepEqual(table.entriesForPeer(a), []);

    for (const p of [a, b, c, d, e, g, h]) table.removeByPeer(p);
    assert.equal(table.size, 0);
    assert.equal(find(table, '192.168.4.4'), null);

    v4(table, '192.168.0.0/16', a);
    v4(table, '192.168.0.0/24', a);
    table.removeByPeer(a);
    assert.equal(find(table, '192.168.0.1'), null);
    assert.equal(table.size, 0);
  });

  // TestTrieIPv6 of the same sources.
  it('routes IPv6 by longest prefix (kernel selftest)', () => {
    const [a, b, c, d, e, f, g, h] = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map(peer) as [
      Peer,
      Peer,
      Peer,
      Peer,
      Peer,
      Peer,
      Peer,
      Peer,
    ];
    const table = new AllowedIPs<Peer>();
    const inserts: [Peer, [number, number, number, number], number][] = [
      [d, [0x26075300, 0x60006b00, 0, 0xc05f0543], 128],
      [c, [0x26075300, 0x60006b00, 0, 0], 64],
      [e, [0, 0, 0, 0], 0],
      [f, [0, 0, 0, 0], 0], // ::/0 moves from e to f
      [g, [0x24046800, 0, 0, 0], 32],
      [h, [0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef], 64],
      [a, [0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef], 128],
      [c, [0x24446800, 0x40e40800, 0xdeaebeef, 0xdefbeef], 128],
      [b, [0x24446800, 0xf0e40800, 0xeeaebeef, 0], 98],
    ];
    for (const [p, w, cidr] of inserts) table.insert(6, words6(...w), cidr, p);
    assert.equal(table.size, 8);
    assert.deepEqual(table.entriesForPeer(e), []);
    const lookups: [Peer, [number, number, number, number]][] = [
      [d, [0x26075300, 0x60006b00, 0, 0xc05f0543]],
      [c, [0x26075300, 0x60006b00, 0, 0xc02e01ee]],
      [f, [0x26075300, 0x60006b01, 0, 0]],
      [g, [0x24046800, 0x40040806, 0, 0x1006]],
      [g, [0x24046800, 0x40040806, 0x1234, 0x5678]],
      [f, [0x240467ff, 0x40040806, 0x1234, 0x5678]],
      [f, [0x24046801, 0x40040806, 0x1234, 0x5678]],
      [h, [0x24046800, 0x40040800, 0x1234, 0x5678]],
      [h, [0x24046800, 0x40040800, 0, 0]],
      [h, [0x24046800, 0x40040800, 0x10101010, 0x10101010]],
      [a, [0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef]],
      [b, [0x24446800, 0xf0e40800, 0xeeaebeef, 0x0fffffff]],
    ];
    for (const [p, w] of lookups) {
      assert.equal(table.lookup(6, words6(...w), 0), p, w.map((x) => x.toString(16)).join(':'));
    }
  });

  it('keeps the families apart', () => {
    const table = new AllowedIPs<Peer>();
    const four = peer('four');
    const six = peer('six');
    v4(table, '0.0.0.0/0', four);
    v4(table, '::/0', six);
    assert.equal(find(table, '10.0.0.1'), four);
    assert.equal(find(table, '::ffff:10.0.0.1'), six);
    assert.equal(find(table, '2001:db8::1'), six);
    table.removeByPeer(six);
    assert.equal(find(table, '2001:db8::1'), null);
    assert.equal(find(table, '10.0.0.1'), four);
  });

  it('handles /32 and /128 at the edges of the address space', () => {
    const table = new AllowedIPs<Peer>();
    const lowest = peer('lowest');
    const highest = peer('highest');
    v4(table, '0.0.0.0/32', lowest);
    v4(table, '255.255.255.255/32', highest);
    v4(table, '::/128', lowest);
    v4(table, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128', highest);
    assert.equal(find(table, '0.0.0.0'), lowest);
    assert.equal(find(table, '0.0.0.1'), null);
    assert.equal(find(table, '255.255.255.255'), highest);
    assert.equal(find(table, '255.255.255.254'), null);
    assert.equal(find(table, '::'), lowest);
    assert.equal(find(table, '::1'), null);
    assert.equal(find(table, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), highest);
    assert.equal(find(table, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe'), null);
  });

  it('removes a prefix only for its owner, and only that exact prefix', () => {
    const table = new AllowedIPs<Peer>();
    const a = peer('a');
    const b = peer('b');
    v4(table, '10.0.0.0/8', a);
    v4(table, '10.1.0.0/16', b);
    v4(table, '10.1.2.0/24', a);
    const remove = (text: string, p: Peer): boolean => {
      const { family, ip, cidr } = parsePrefix(text);
      return table.remove(family, ip, cidr, p);
    };
    assert.equal(remove('10.1.0.0/16', a), false, 'not a’s');
    assert.equal(remove('10.1.0.0/17', b), false, 'no such prefix');
    assert.equal(remove('10.0.0.0/7', a), false, 'no such prefix');
    assert.equal(remove('fd00::/8', a), false, 'empty family');
    assert.equal(find(table, '10.1.9.9'), b);
    assert.equal(remove('10.1.0.0/16', b), true);
    assert.equal(remove('10.1.0.0/16', b), false, 'already gone');
    assert.equal(find(table, '10.1.9.9'), a);
    assert.equal(find(table, '10.1.2.3'), a);
    assert.equal(table.size, 2);
    assert.deepEqual(table.entriesForPeer(b), []);
    assert.equal(remove('10.0.0.0/8', a), true);
    assert.equal(find(table, '10.1.9.9'), null);
    assert.equal(find(table, '10.1.2.3'), a);
    assert.equal(remove('10.1.2.0/24', a), true);
    assert.equal(table.size, 0);
  });

  it('moves a prefix on re-insert and lists entries per peer', () => {
    const table = new AllowedIPs<Peer>();
    const a = peer('a');
    const b = peer('b');
    for (const text of ['10.59.0.2/32', 'fd00::2/128', '10.59.1.0/24']) v4(table, text, a);
    v4(table, '10.59.0.0/16', b);
    assert.deepEqual(table.entriesForPeer(a).map(formatPrefix), [
      '10.59.0.2/32',
      'fd00::2/128',
      '10.59.1.0/24',
    ]);
    v4(table, '10.59.0.2/32', a); // same owner: nothing changes
    assert.equal(table.size, 4);
    v4(table, '10.59.0.2/32', b); // moves
    assert.equal(table.size, 4);
    assert.equal(find(table, '10.59.0.2'), b);
    assert.deepEqual(table.entriesForPeer(a).map(formatPrefix), ['fd00::2/128', '10.59.1.0/24']);
    assert.deepEqual(table.entriesForPeer(b).map(formatPrefix), ['10.59.0.0/16', '10.59.0.2/32']);
    // Host bits given to insert are masked off.
    v4(table, '10.59.1.77/24', b);
    assert.deepEqual(table.entriesForPeer(b).at(-1), {
      family: 4,
      ip: Uint8Array.of(10, 59, 1, 0),
      cidr: 24,
    });
    assert.equal(find(table, '10.59.1.1'), b);
    table.clear();
    assert.equal(table.size, 0);
    assert.equal(find(table, '10.59.1.1'), null);
    assert.deepEqual(table.entriesForPeer(b), []);
  });

  it('returns null for an address that does not fit in the buffer', () => {
    const table = new AllowedIPs<Peer>();
    v4(table, '0.0.0.0/0', peer('any'));
    v4(table, '::/0', peer('any6'));
    assert.equal(table.lookup(4, new Uint8Array(3), 0), null);
    assert.equal(table.lookup(4, new Uint8Array(8), 5), null);
    assert.equal(table.lookup(6, new Uint8Array(20), 8), null);
    assert.equal(table.lookup(4, new Uint8Array(8), -1), null);
    assert.notEqual(table.lookup(4, new Uint8Array(8), 4), null);
  });

  it('rejects bad input at the API edge', () => {
    const table = new AllowedIPs<Peer>();
    assert.throws(() => table.insert(4, new Uint8Array(16), 8, peer('x')), {
      name: 'TypeError',
      message: 'Cannot insert allowed IP: an IPv4 address has 4 bytes, got "16"',
    });
    assert.throws(() => table.insert(6, new Uint8Array(16), 129, peer('x')), {
      name: 'RangeError',
      message: 'Cannot insert allowed IP: prefix length "129" must be 0..128 for IPv6',
    });
    assert.throws(() => table.remove(4, new Uint8Array(4), 1.5, peer('x')), RangeError);
    assert.equal(table.size, 0);
  });

  // Model-based test in the manner of kernel selftest/allowedips.c (randomized against a
  // "horrible" list router) and wireguard-go allowedips_rand_test.go.
  it('agrees with a naive longest-prefix list router on random tables', () => {
    const random = xorshift(0x9e3779b9);
    const int = (n: number): number => Math.floor(random() * n);
    const peers = Array.from({ length: 100 }, (_, i) => peer(`p${i}`));
    const table = new AllowedIPs<Peer>();
    const naive = new NaiveRouter();

    // Addresses drawn from a few small pools so prefixes nest and collide.
    const pool4 = Array.from({ length: 12 }, () => randomBytes(random, 4));
    const pool6 = Array.from({ length: 12 }, () => randomBytes(random, 16));
    const randomPrefix = (): Prefix => {
      const family = random() < 0.5 ? 4 : 6;
      const bits = family === 4 ? 32 : 128;
      const ip = Uint8Array.from((family === 4 ? pool4 : pool6)[int(12)]!);
      // perturb a few trailing bytes
      for (let i = int(3); i > 0; i--) ip[ip.length - 1 - int(ip.length / 2)] = int(256);
      const r = random();
      const cidr =
        r < 0.02
          ? 0
          : r < 0.3
            ? bits
            : r < 0.6
              ? bits - int(bits / 4)
              : r < 0.9
                ? bits / 2 + int(bits / 2)
                : int(bits + 1);
      return { family, ip, cidr };
    };
    const inserted: { prefix: Prefix; peer: Peer }[] = [];
    for (const p of peers) {
      for (let i = 0; i < 250; i++) {
        const prefix = randomPrefix();
        table.insert(prefix.family, prefix.ip, prefix.cidr, p);
        naive.insert(prefix, p);
        inserted.push({ prefix, peer: p });
      }
    }
    assert.equal(table.size, naive.size);
    assert.ok(table.size > 10_000, `only ${table.size} distinct prefixes`);

    const randomAddress = (): { family: 4 | 6; ip: Uint8Array } => {
      if (random() < 0.7) {
        // near an inserted prefix: keep its bits, randomize a tail
        const { prefix } = inserted[int(inserted.length)]!;
        const ip = Uint8Array.from(prefix.ip);
        for (let i = int(4); i > 0; i--) ip[int(ip.length)] = int(256);
        return { family: prefix.family, ip };
      }
      const family = random() < 0.5 ? 4 : 6;
      return { family, ip: randomBytes(random, family === 4 ? 4 : 16) };
    };
    /** Compares `rounds` lookups; returns how many distinct answers (peers or null) came back. */
    const compare = (rounds: number): number => {
      const answers = new Set<Peer | null>();
      for (let i = 0; i < rounds; i++) {
        const { family, ip } = randomAddress();
        const expected = naive.lookup(family, ip);
        assert.equal(table.lookup(family, ip, 0), expected, `${family} ${hex(ip)}`);
        answers.add(expected);
      }
      return answers.size;
    };
    // Many different owners must answer, or the comparison proves little.
    const answers = compare(2500);
    assert.ok(answers > 80, `only ${answers} distinct answers`);
    for (const p of peers.slice(0, 5)) {
      assert.deepEqual(
        table.entriesForPeer(p).map(prefixId).sort(),
        naive.entriesForPeer(p).sort()
      );
    }

    // Random removes: right owner, wrong owner, and whole peers.
    let removed = 0;
    for (let i = 0; i < 8000; i++) {
      const { prefix } = inserted[int(inserted.length)]!;
      const owner = random() < 0.8 ? naive.owner(prefix) : peers[int(peers.length)]!;
      if (!owner) continue;
      const expected = naive.remove(prefix, owner);
      assert.equal(table.remove(prefix.family, prefix.ip, prefix.cidr, owner), expected);
      if (expected) removed++;
    }
    assert.ok(removed > 2000, `only ${removed} removed`);
    for (const p of peers.slice(0, 30)) {
      table.removeByPeer(p);
      naive.removeByPeer(p);
    }
    assert.equal(table.size, naive.size);
    assert.ok(compare(2500) > 50);

    for (const p of peers) table.removeByPeer(p);
    assert.equal(table.size, 0);
    for (let i = 0; i < 200; i++) {
      const { family, ip } = randomAddress();
      assert.equal(table.lookup(family, ip, 0), null);
    }
  });
});

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A tiny deterministic PRNG (Marsaglia xorshift32) returning floats in [0, 1). */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

function randomBytes(random: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
}

interface NaiveEntry {
  family: 4 | 6;
  ip: Uint8Array;
  cidr: number;
  peer: Peer;
}

/**
 * The kernel selftest's "horrible" router: every prefix in a list sorted longest first; the first
 * one that holds the address wins. Obviously right, and slow.
 */
class NaiveRouter {
  readonly #entries = new Map<string, NaiveEntry>();
  #sorted: NaiveEntry[] | null = null;

  get size(): number {
    return this.#entries.size;
  }

  insert(p: Prefix, peer: Peer): void {
    this.#entries.set(prefixId(p), { family: p.family, ip: masked(p), cidr: p.cidr, peer });
    this.#sorted = null;
  }

  owner(p: Prefix): Peer | undefined {
    return this.#entries.get(prefixId(p))?.peer;
  }

  remove(p: Prefix, peer: Peer): boolean {
    if (this.owner(p) !== peer) return false;
    this.#sorted = null;
    return this.#entries.delete(prefixId(p));
  }

  removeByPeer(peer: Peer): void {
    for (const [id, e] of this.#entries) if (e.peer === peer) this.#entries.delete(id);
    this.#sorted = null;
  }

  entriesForPeer(peer: Peer): string[] {
    return [...this.#entries].filter(([, e]) => e.peer === peer).map(([id]) => id);
  }

  lookup(family: 4 | 6, ip: Uint8Array): Peer | null {
    this.#sorted ??= [...this.#entries.values()].sort((x, y) => y.cidr - x.cidr);
    for (const e of this.#sorted) {
      if (e.family === family && within(ip, e.ip, e.cidr)) return e.peer;
    }
    return null;
  }
}

/** An id for a prefix that does not go through the code under test. */
function prefixId(p: Prefix): string {
  return `${p.family}/${hex(masked(p))}/${p.cidr}`;
}

/** True when the first `cidr` bits of `ip` equal those of the (masked) `prefix`. */
function within(ip: Uint8Array, prefix: Uint8Array, cidr: number): boolean {
  for (let i = 0; i * 8 < cidr; i++) {
    const bits = Math.min(8, cidr - i * 8);
    if ((ip[i]! & ((0xff << (8 - bits)) & 0xff)) !== prefix[i]) return false;
  }
  return true;
}

function masked(p: Prefix): Uint8Array {
  return Uint8Array.from(p.ip, (byte, i) => {
    const bits = Math.max(0, Math.min(8, p.cidr - i * 8));
    return byte & ((0xff << (8 - bits)) & 0xff);
  });
}
