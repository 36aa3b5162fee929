// SPDX-License-Identifier: MIT
/**
 * Cryptokey routing (whitepaper §2): the table from allowed-IP prefixes to peers. Outbound, a
 * packet goes to the peer owning the longest prefix that holds its destination; inbound, a
 * decrypted packet is accepted only if its source maps back to the peer that sent it. Mirrors
 * kernel `allowedips.c` and wireguard-go `device/allowedips.go`: one path-compressed binary trie
 * per address family, each node a masked prefix that may carry a peer, and per peer the set of
 * its nodes, for removing a peer and for listing its prefixes (UAPI `get=1`).
 * @module
 */

import { isIPv4, isIPv6 } from 'node:net';
import { formatIPv4, formatIPv6, parseIPv4Into, parseIPv6Into } from './ip.ts';

export interface Prefix {
  family: 4 | 6;
  ip: Uint8Array;
  cidr: number;
}

/** One trie node: a masked prefix, optionally owned by a peer, with two children. */
interface Node<T> {
  /** The prefix bits as big-endian u32 words (1 for IPv4, 4 for IPv6), host bits zero. */
  readonly key: Uint32Array;
  readonly cidr: number;
  parent: Node<T> | null;
  /** Children by the address bit at position `cidr`. */
  readonly child: [Node<T> | null, Node<T> | null];
  owned: boolean;
  peer: T | undefined;
}

/** The address bit at position `bit` (0 = most significant) of big-endian words. */
function bitAt(words: Uint32Array, bit: number): 0 | 1 {
  return ((words[bit >>> 5]! >>> (31 - (bit & 31))) & 1) as 0 | 1;
}

/** The mask of the first `cidr` bits within word `i`. */
function wordMask(cidr: number, i: number): number {
  const bits = cidr - i * 32;
  if (bits >= 32) return 0xffff_ffff;
  if (bits <= 0) return 0;
  return (0xffff_ffff << (32 - bits)) >>> 0;
}

/** Number of leading bits `a` and `b` share, at most `limit`. */
function commonBits(a: Uint32Array, b: Uint32Array, limit: number): number {
  for (let i = 0; i < a.length; i++) {
    const diff = (a[i]! ^ b[i]!) >>> 0;
    if (diff !== 0) return Math.min(limit, i * 32 + Math.clz32(diff));
  }
  return limit;
}

/** True when the first `node.cidr` bits of `address` equal the node's prefix. */
function matches(key: Uint32Array, cidr: number, address: Uint32Array): boolean {
  for (let i = 0; i * 32 < cidr; i++) {
    if ((address[i]! & wordMask(cidr, i)) >>> 0 !== key[i]) return false;
  }
  return true;
}

function readWords(out: Uint32Array, data: Uint8Array, offset: number): void {
  for (let i = 0; i < out.length; i++) {
    const o = offset + i * 4;
    out[i] = ((data[o]! << 24) | (data[o + 1]! << 16) | (data[o + 2]! << 8) | data[o + 3]!) >>> 0;
  }
}

function writeBytes(words: Uint32Array): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    out[i * 4] = w >>> 24;
    out[i * 4 + 1] = (w >>> 16) & 0xff;
    out[i * 4 + 2] = (w >>> 8) & 0xff;
    out[i * 4 + 3] = w & 0xff;
  }
  return out;
}

function bitsOf(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

/** Validates an API-edge prefix and returns its masked key words. */
function keyOf(action: string, family: 4 | 6, ip: Uint8Array, cidr: number): Uint32Array {
  if (family !== 4 && family !== 6) {
    throw new TypeError(`Cannot ${action} allowed IP: family "${family}" must be 4 or 6`);
  }
  const size = family === 4 ? 4 : 16;
  if (ip.length !== size) {
    throw new TypeError(
      `Cannot ${action} allowed IP: an IPv${family} address has ${size} bytes, got "${ip.length}"`
    );
  }
  const max = bitsOf(family);
  if (!Number.isInteger(cidr) || cidr < 0 || cidr > max) {
    throw new RangeError(
      `Cannot ${action} allowed IP: prefix length "${cidr}" must be 0..${max} for IPv${family}`
    );
  }
  const key = new Uint32Array(size / 4);
  readWords(key, ip, 0);
  for (let i = 0; i < key.length; i++) key[i] = (key[i]! & wordMask(cidr, i)) >>> 0;
  return key;
}

/**
 * The allowed-IPs table, generic over the peer type. Lookups are longest-prefix match and do not
 * allocate.
 *
 * @example
 * const table = new AllowedIPs<string>();
 * const { family, ip, cidr } = parsePrefix('10.59.0.0/24');
 * table.insert(family, ip, cidr, 'alice');
 * table.lookup(4, Uint8Array.of(10, 59, 0, 7), 0); // 'alice'
 */
export class AllowedIPs<T> {
  #root4: Node<T> | null = null;
  #root6: Node<T> | null = null;
  /** Each peer's nodes, in insertion order (a moved prefix goes to the end of its new owner). */
  #byPeer = new Map<T, Set<Node<T>>>();
  #size = 0;
  /** Scratch for the address being looked up: reused, so lookups allocate nothing. */
  readonly #scratch4 = new Uint32Array(1);
  readonly #scratch6 = new Uint32Array(4);

  /** Number of prefixes in the table (both families). */
  get size(): number {
    return this.#size;
  }

  /**
   * Maps the prefix `ip/cidr` (host bits are ignored) to `peer`. A prefix already in the table
   * moves to `peer`, as `wg set … allowed-ips` does (wireguard-go `AllowedIPs.Insert`).
   */
  insert(family: 4 | 6, ip: Uint8Array, cidr: number, peer: T): void {
    const key = keyOf('insert', family, ip, cidr);
    const node = this.#findOrCreate(family, key, cidr);
    if (node.owned) {
      if (node.peer === peer) return;
      this.#byPeer.get(node.peer as T)?.delete(node);
      this.#dropEmptyPeer(node.peer as T);
    } else {
      node.owned = true;
      this.#size++;
    }
    node.peer = peer;
    let nodes = this.#byPeer.get(peer);
    if (!nodes) {
      nodes = new Set();
      this.#byPeer.set(peer, nodes);
    }
    nodes.add(node);
  }

  /** Removes the prefix `ip/cidr` if `peer` owns it; returns whether anything was removed. */
  remove(family: 4 | 6, ip: Uint8Array, cidr: number, peer: T): boolean {
    const key = keyOf('remove', family, ip, cidr);
    let node = family === 4 ? this.#root4 : this.#root6;
    while (node) {
      const common = commonBits(node.key, key, Math.min(node.cidr, cidr));
      if (common < node.cidr) return false;
      if (node.cidr === cidr) break;
      node = node.child[bitAt(key, node.cidr)];
    }
    if (!node?.owned || node.peer !== peer) return false;
    this.#release(family, node);
    return true;
  }

  /** Removes every prefix of `peer`. */
  removeByPeer(peer: T): void {
    const nodes = this.#byPeer.get(peer);
    if (!nodes) return;
    for (const node of nodes) this.#release(node.key.length === 1 ? 4 : 6, node);
  }

  /**
   * The peer owning the longest prefix that contains the address in
   * `data[offset .. offset + 4 | 16]`, or null. The packet path: never throws, never allocates.
   */
  lookup(family: 4 | 6, data: Uint8Array, offset: number): T | null {
    const address = family === 4 ? this.#scratch4 : this.#scratch6;
    if (offset < 0 || offset + address.length * 4 > data.length) return null;
    readWords(address, data, offset);
    let node = family === 4 ? this.#root4 : this.#root6;
    let found: T | null = null;
    while (node && matches(node.key, node.cidr, address)) {
      if (node.owned) found = node.peer as T;
      if (node.cidr === address.length * 32) break;
      node = node.child[bitAt(address, node.cidr)];
    }
    return found;
  }

  /** The prefixes owned by `peer`, in the order they were given to it. */
  entriesForPeer(peer: T): Prefix[] {
    const out: Prefix[] = [];
    for (const node of this.#byPeer.get(peer) ?? []) {
      out.push({
        family: node.key.length === 1 ? 4 : 6,
        ip: writeBytes(node.key),
        cidr: node.cidr,
      });
    }
    return out;
  }

  /** Empties the table. */
  clear(): void {
    this.#root4 = null;
    this.#root6 = null;
    this.#byPeer.clear();
    this.#size = 0;
  }

  /** Finds the node for exactly `key/cidr`, splitting the path to create it if needed. */
  #findOrCreate(family: 4 | 6, key: Uint32Array, cidr: number): Node<T> {
    let parent: Node<T> | null = null;
    let node = family === 4 ? this.#root4 : this.#root6;
    while (node) {
      const common = commonBits(node.key, key, Math.min(node.cidr, cidr));
      if (common === node.cidr) {
        if (node.cidr === cidr) return node; // exact match
        // node's prefix contains the new one: descend
        const next: Node<T> | null = node.child[bitAt(key, node.cidr)];
        if (!next) return this.#attach(family, node, newNode<T>(key, cidr));
        parent = node;
        node = next;
        continue;
      }
      // The new prefix leaves node's path at bit `common`.
      const created = newNode<T>(key, cidr);
      if (common === cidr) {
        // the new prefix contains node: it goes in between
        created.child[bitAt(node.key, cidr)] = node;
        node.parent = created;
        return this.#attach(family, parent, created);
      }
      // the two diverge: a peerless branch node at `common` holds both
      const fork = newNode<T>(maskKey(key, common), common);
      fork.child[bitAt(key, common)] = created;
      fork.child[bitAt(node.key, common)] = node;
      created.parent = fork;
      node.parent = fork;
      this.#attach(family, parent, fork);
      return created;
    }
    return this.#attach(family, null, newNode<T>(key, cidr));
  }

  /** Hangs `node` below `parent` (or makes it the root) and returns it. */
  #attach(family: 4 | 6, parent: Node<T> | null, node: Node<T>): Node<T> {
    node.parent = parent;
    if (!parent) {
      if (family === 4) this.#root4 = node;
      else this.#root6 = node;
    } else {
      parent.child[bitAt(node.key, parent.cidr)] = node;
    }
    return node;
  }

  /** Takes `node` away from its peer and prunes the trie so no peerless node has < 2 children. */
  #release(family: 4 | 6, node: Node<T>): void {
    const peer = node.peer as T;
    this.#byPeer.get(peer)?.delete(node);
    this.#dropEmptyPeer(peer);
    node.owned = false;
    node.peer = undefined;
    this.#size--;
    let current: Node<T> | null = node;
    while (current && !current.owned) {
      const [left, right] = current.child;
      if (left && right) return; // still a branch point
      const only = left ?? right;
      const parent: Node<T> | null = current.parent;
      if (only) only.parent = parent;
      if (!parent) {
        if (family === 4) this.#root4 = only;
        else this.#root6 = only;
        return;
      }
      parent.child[parent.child[0] === current ? 0 : 1] = only;
      // With one child left the node stays needed; else the parent may now be redundant.
      if (only) return;
      current = parent;
    }
  }

  #dropEmptyPeer(peer: T): void {
    if (this.#byPeer.get(peer)?.size === 0) this.#byPeer.delete(peer);
  }
}

function newNode<T>(key: Uint32Array, cidr: number): Node<T> {
  return { key, cidr, parent: null, child: [null, null], owned: false, peer: undefined };
}

function maskKey(key: Uint32Array, cidr: number): Uint32Array {
  const out = new Uint32Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = (key[i]! & wordMask(cidr, i)) >>> 0;
  return out;
}

/**
 * Parses an allowed-IP prefix as `wg` and wg-quick accept it: `10.59.0.0/24`, `fd00::2/128`, or a
 * bare address (a /32 or /128). Host bits below the prefix length are cleared, as the kernel
 * does on insert.
 *
 * @throws {TypeError} naming the text and what is wrong with it
 * @example
 * parsePrefix('10.59.0.9/24'); // { family: 4, ip: Uint8Array [10, 59, 0, 0], cidr: 24 }
 */
export function parsePrefix(text: string): Prefix {
  const fail = (reason: string): never => {
    throw new TypeError(`Cannot parse allowed IP "${text}": ${reason}`);
  };
  if (typeof text !== 'string') fail('expected a string');
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const address = slash < 0 ? trimmed : trimmed.slice(0, slash);
  let family: 4 | 6;
  let ip: Uint8Array;
  if (isIPv4(address)) {
    family = 4;
    ip = new Uint8Array(4);
    parseIPv4Into(address, ip, 0);
  } else if (isIPv6(address) && !address.includes('%')) {
    family = 6;
    ip = new Uint8Array(16);
    parseIPv6Into(address, ip, 0);
  } else {
    return fail(`"${address}" is not an IPv4 or IPv6 address`);
  }
  const max = bitsOf(family);
  let cidr = max;
  if (slash >= 0) {
    const digits = trimmed.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(digits)) fail('prefix length must be a decimal number');
    cidr = Number(digits);
    if (cidr > max) fail(`prefix length must be 0..${max}`);
  }
  return { family, ip: writeBytes(keyOf('parse', family, ip, cidr)), cidr };
}

/**
 * Formats a prefix canonically, as `wg show` prints allowed IPs: dotted quad for IPv4; for IPv6
 * lowercase hex without leading zeros, the longest run of at least two zero groups compressed to
 * `::`, and IPv4-mapped/compatible addresses ending in a dotted quad (glibc inet_ntop).
 *
 * @example
 * formatPrefix(parsePrefix('fd00:0:0:0:0:0:0:2')); // 'fd00::2/128'
 */
export function formatPrefix(p: Prefix): string {
  const key = keyOf('format', p.family, p.ip, p.cidr);
  const ip = writeBytes(key);
  const text = p.family === 4 ? formatIPv4(ip) : formatIPv6(ip);
  return `${text}/${p.cidr}`;
}
