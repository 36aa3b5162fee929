// SPDX-License-Identifier: MIT
/**
 * What a name may be. Names of subnets, devices, forwards and keys end up in configs (a device's
 * name opens its wg-quick file), terminals and the panel, so they may hold no character that
 * starts a line or reorders text: no control character (`\p{Cc}`, C1's NEL U+0085 included,
 * which Apple's WireGuard parser treats as a line break), no line or paragraph separator
 * (U+2028, U+2029), no bidirectional override or isolate (U+202A–U+202E, U+2066–U+2069; the
 * "Trojan Source" trick, CVE-2021-42574).
 * @module
 */

import { z } from 'zod';

/** Longest name or label kept, in characters (code points). */
export const MAX_NAME_LENGTH = 64;

const FORBIDDEN = /[\p{Cc}\p{Zl}\p{Zp}\u202a-\u202e\u2066-\u2069]/u;

/** Why `text` (already trimmed) is not a valid name, or null when it is. */
export function nameProblem(text: string): string | null {
  if (text.length === 0) return 'must not be empty';
  if ([...text].length > MAX_NAME_LENGTH) return `longer than ${MAX_NAME_LENGTH} characters`;
  if (FORBIDDEN.test(text)) {
    return 'must not contain control characters, line breaks or bidirectional overrides';
  }
  return null;
}

/** A name as RPC parameters carry it: trimmed, then checked. */
export const nameSchema = z
  .string({ error: (i) => (i.input === undefined ? 'is required' : 'must be a string') })
  .trim()
  .superRefine((text, ctx) => {
    const problem = nameProblem(text);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/**
 * A network interface name: what wg-quick accepts (`[a-zA-Z0-9_=+.-]{1,15}`, see
 * https://git.zx2c4.com/wireguard-tools/tree/src/wg-quick/linux.bash), and not `.` or `..`,
 * which the kernel refuses (`dev_valid_name` in net/core/dev.c).
 */
export function isInterfaceName(text: string): boolean {
  return /^[A-Za-z0-9_=+.-]{1,15}$/.test(text) && text !== '.' && text !== '..';
}
