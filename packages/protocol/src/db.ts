// SPDX-License-Identifier: MIT
/**
 * `db.dump` and `db.apply`: the whole state as JSON, read at a JSON Pointer (RFC 6901,
 * https://www.rfc-editor.org/rfc/rfc6901) and changed by a JSON Patch (RFC 6902,
 * https://www.rfc-editor.org/rfc/rfc6902). StartTunnel keeps its state in a JSON document changed
 * by patches and offers `db dump [-p POINTER]` and `db apply EXPR` on it, admin only
 * (https://github.com/Start9Labs/start-os/blob/0d4ddc3451127a6238d6c63b77b14a2866a1426c/core/src/tunnel/db.rs#L88-L120);
 * ours take a patch rather than an expression, and a whole document is the patch `replace ""`
 * (the original also refuses a result that does not fit its model, as we do). Secrets
 * (private keys, preshared keys, the password hash, TLS keys, session ids) are replaced by
 * `REDACTED` in a dump unless `includeSecrets` is asked for, and a patched document may keep
 * `REDACTED` where the current state holds a secret: it stands for the current value.
 * @module
 */

import { z } from 'zod';

/** What a dump shows in place of a secret, and what `db.apply` reads as "keep the current one". */
export const REDACTED = '<redacted>';

/** Most operations in one `db.apply`. */
export const MAX_PATCH_OPERATIONS = 1024;

/** The reference tokens of a JSON Pointer; throws a message saying what is wrong with it. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error('must be empty or start with "/"');
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~(?![01])/.test(token)) throw new Error('has a "~" not followed by 0 or 1');
      return token.replaceAll('~1', '/').replaceAll('~0', '~');
    });
}

/** The JSON Pointer of reference tokens (`~` and `/` escaped). */
export function formatPointer(tokens: readonly string[]): string {
  return tokens.map((t) => `/${t.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

const pointerSchema = z.string({ error: 'must be a JSON Pointer string' }).superRefine((v, ctx) => {
  try {
    parsePointer(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const value = z.json({ error: 'must be a JSON value' });

/** One RFC 6902 operation. */
export const patchOperation = z.discriminatedUnion(
  'op',
  [
    z.strictObject({ op: z.literal('add'), path: pointerSchema, value }),
    z.strictObject({ op: z.literal('remove'), path: pointerSchema }),
    z.strictObject({ op: z.literal('replace'), path: pointerSchema, value }),
    z.strictObject({ op: z.literal('move'), from: pointerSchema, path: pointerSchema }),
    z.strictObject({ op: z.literal('copy'), from: pointerSchema, path: pointerSchema }),
    z.strictObject({ op: z.literal('test'), path: pointerSchema, value }),
  ],
  { error: 'must have op "add", "remove", "replace", "move", "copy" or "test"' }
);
export type PatchOperation = z.infer<typeof patchOperation>;

export const dbMethods = {
  /** The state (or the part at `pointer`), secrets redacted unless `includeSecrets`. */
  'db.dump': {
    params: z.strictObject({
      pointer: pointerSchema.optional(),
      /** Only root on the local socket may ask for secrets. */
      includeSecrets: z.boolean({ error: 'must be a boolean' }).optional(),
    }),
    result: z.strictObject({ value }),
  },
  /** Applies a whole patch or nothing; `changed` is false when the state came out the same. */
  'db.apply': {
    params: z.strictObject({
      patch: z
        .array(patchOperation, { error: 'must be an array of JSON Patch operations' })
        .max(MAX_PATCH_OPERATIONS, `must have at most ${MAX_PATCH_OPERATIONS} operations`),
    }),
    result: z.strictObject({ changed: z.boolean() }),
  },
} as const;
