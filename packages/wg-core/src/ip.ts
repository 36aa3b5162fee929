// SPDX-License-Identifier: MIT
/**
 * IP address text and bytes, shared by cryptokey routing (`allowedips.ts`) and the UDP bind
 * (`bind-udp.ts`). Parsing expects text that `node:net` already validated (`isIPv4`/`isIPv6`,
 * no zone); formatting follows glibc `inet_ntop`, which is what `wg show` prints.
 * @module
 */

/** Parses dotted-quad text into 4 bytes at `out[offset]`. */
export function parseIPv4Into(text: string, out: Uint8Array, offset: number): void {
  const parts = text.split('.');
  for (let i = 0; i < 4; i++) out[offset + i] = Number(parts[i]);
}

/** Parses IPv6 text into 16 bytes at `out[offset]`. */
export function parseIPv6Into(text: string, out: Uint8Array, offset: number): void {
  let hex = text;
  // A trailing dotted quad stands for the last two groups (RFC 4291 §2.2, form 3).
  if (hex.includes('.')) {
    const colon = hex.lastIndexOf(':');
    const quad = new Uint8Array(4);
    parseIPv4Into(hex.slice(colon + 1), quad, 0);
    const high = ((quad[0]! << 8) | quad[1]!).toString(16);
    const low = ((quad[2]! << 8) | quad[3]!).toString(16);
    hex = `${hex.slice(0, colon + 1)}${high}:${low}`;
  }
  const [head = '', tail] = hex.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [
    ...left,
    ...new Array<string>(8 - left.length - right.length).fill('0'),
    ...right,
  ];
  for (let i = 0; i < 8; i++) {
    const word = Number.parseInt(groups[i]!, 16);
    out[offset + i * 2] = word >>> 8;
    out[offset + i * 2 + 1] = word & 0xff;
  }
}

/** Dotted quad of the 4 bytes at `b[offset]`. */
export function formatIPv4(b: Uint8Array, offset = 0): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

/**
 * IPv6 text as glibc inet_ntop prints it: lowercase hex without leading zeros, the longest run
 * of at least two zero groups as `::`, IPv4-mapped/compatible addresses ending in a dotted quad.
 */
export function formatIPv6(b: Uint8Array, offset = 0): string {
  const ip = offset === 0 && b.length === 16 ? b : b.subarray(offset, offset + 16);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((ip[i]! << 8) | ip[i + 1]!);
  // The longest run of two or more zero groups becomes "::" (the first, on a tie).
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestLength < 2) bestStart = -1;
  // ::a.b.c.d (IPv4-compatible) and ::ffff:a.b.c.d (IPv4-mapped) end in a dotted quad.
  const dotted = bestStart === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff));
  const last = dotted ? 6 : 8;
  let out = '';
  for (let i = 0; i < last; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLength - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += words[i]!.toString(16);
  }
  if (dotted) {
    if (!out.endsWith(':')) out += ':';
    out += `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`;
  }
  return out;
}
