// SPDX-License-Identifier: MIT
// Test helpers: minimal IPv4/IPv6 packets (header fields the device reads; no checksums needed).
import { isIP } from 'node:net';

function v4bytes(address: string): number[] {
  return address.split('.').map(Number);
}

function v6bytes(address: string): number[] {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups =
    tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const n = Number.parseInt(g || '0', 16);
    return [n >> 8, n & 0xff];
  });
}

/** An IPv4 packet (protocol 17) from `src` to `dst` carrying `payload`. */
export function ipv4(src: string, dst: string, payload: Uint8Array | number = 8): Uint8Array {
  const body = typeof payload === 'number' ? new Uint8Array(payload).fill(0xab) : payload;
  const p = new Uint8Array(20 + body.length);
  p[0] = 0x45;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[8] = 64;
  p[9] = 17;
  p.set(v4bytes(src), 12);
  p.set(v4bytes(dst), 16);
  p.set(body, 20);
  return p;
}

/** An IPv6 packet (next header 17) from `src` to `dst` carrying `payload`. */
export function ipv6(src: string, dst: string, payload: Uint8Array | number = 8): Uint8Array {
  const body = typeof payload === 'number' ? new Uint8Array(payload).fill(0xcd) : payload;
  const p = new Uint8Array(40 + body.length);
  p[0] = 0x60;
  p[4] = body.length >> 8;
  p[5] = body.length & 0xff;
  p[6] = 17;
  p[7] = 64;
  p.set(v6bytes(src), 8);
  p.set(v6bytes(dst), 24);
  p.set(body, 40);
  return p;
}

export function ip(src: string, dst: string, payload: Uint8Array | number = 8): Uint8Array {
  return isIP(src) === 6 ? ipv6(src, dst, payload) : ipv4(src, dst, payload);
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
