// SPDX-License-Identifier: MIT
/**
 * `start-tunnel db dump [-p POINTER] [--include-secrets]` and `db apply [PATCH] [--file FILE]`:
 * the daemon's state as one JSON document, as StartTunnel's `db dump -p` / `db apply`
 * (https://github.com/Start9Labs/start-os/blob/0d4ddc3451127a6238d6c63b77b14a2866a1426c/core/src/tunnel/db.rs#L88-L120).
 * Methods `db.dump {pointer?, includeSecrets?}` and `db.apply {patch}`. `apply` takes an RFC 6902
 * JSON Patch (https://www.rfc-editor.org/rfc/rfc6902) where the original takes an expression; a
 * JSON object instead of an array is a whole new document (the patch `replace ""`), so a dump,
 * edited, goes back as it is: `<redacted>` keeps the current secret.
 * @module
 */

import { readFile } from 'node:fs/promises';
import type { PatchOperation } from '@start-tunnel/protocol';
import { type Context, group, leaf, optional } from '../command.ts';
import { CliError, UsageError } from '../errors.ts';
import { clean } from '../format.ts';

const dump = leaf('dump', {
  description: 'Print the state (or the part at a JSON Pointer) as JSON, secrets redacted',
  details:
    'The document the daemon keeps: server, wan, subnets (by gateway address, with their ' +
    'devices by IP), forwards (by source) and web (the panel). Private keys, preshared keys, ' +
    'the password hash, TLS keys and session ids read "<redacted>" unless --include-secrets, ' +
    "which only root on the server itself may use. A JSON Pointer (RFC 6901) picks a part: '/' " +
    'inside a key is written ~1, e.g. /subnets/10.59.7.1~124. The text output is indented JSON; ' +
    'with --format json one line.',
  args: {
    pointer: {
      type: 'string',
      alias: ['p'],
      valueHint: 'POINTER',
      description: 'the part to print, e.g. /forwards (default: all of it)',
    },
    'include-secrets': {
      type: 'boolean',
      description: 'print keys and hashes too (root on the server only)',
    },
  },
  examples: [
    'start-tunnel db dump',
    'start-tunnel db dump -p /forwards',
    "start-tunnel db dump -p '/subnets/10.59.7.1~124/devices' --format json",
    'start-tunnel db dump --include-secrets > backup.json   # keep it safe',
  ],
  async run(args, ctx) {
    const pointer = optional(args.pointer);
    const r = await (await ctx.client()).call('db.dump', {
      ...(pointer !== undefined ? { pointer } : {}),
      ...(args['include-secrets'] === true ? { includeSecrets: true } : {}),
    });
    ctx.emit(r.value, () => JSON.stringify(r.value, null, 2));
  },
});

/** The patch a text stands for: an array is a patch, an object a whole document. */
export function patchOf(text: string, where: string): PatchOperation[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`invalid ${where}: not JSON (${clean((err as Error).message)})`);
  }
  if (Array.isArray(value)) return value as PatchOperation[];
  if (typeof value === 'object' && value !== null) {
    return [{ op: 'replace', path: '', value } as PatchOperation];
  }
  throw new UsageError(
    `invalid ${where}: expected a JSON Patch (an array of operations) or a whole state (an object)`
  );
}

async function patchText(ctx: Context, inline: string | undefined, file: string | undefined) {
  if (inline !== undefined && inline !== '-') {
    if (file !== undefined) throw new UsageError('give PATCH or --file, not both');
    return { text: inline, where: 'PATCH' };
  }
  if (file !== undefined) {
    try {
      return { text: await readFile(file, 'utf8'), where: `--file ${clean(file)}` };
    } catch (err) {
      throw new CliError(`cannot read --file ${clean(file)}: ${(err as Error).message}`);
    }
  }
  const text = await ctx.terminal.readAll();
  if (text.trim() === '') throw new UsageError('no PATCH: give it as an argument, --file or stdin');
  return { text, where: 'stdin' };
}

const apply = leaf('apply', {
  description: 'Change the state with a JSON Patch, all of it or nothing',
  details:
    'PATCH is an RFC 6902 JSON Patch, an array of operations (add, remove, replace, move, copy, ' +
    'test) on the document `db dump` prints; a JSON object instead is a whole new document. It ' +
    'comes as the argument, from --file, or from stdin (PATCH left out or "-"). The daemon ' +
    'applies it to the redacted document, keeps the current secret wherever the result says ' +
    '"<redacted>", checks every field as the other commands would, and then changes subnets, ' +
    'devices and forwards in one step; any fault refuses the whole patch, naming the location ' +
    'at fault. The web section is read-only here (use the web and auth commands). With ' +
    '--format json: an object with changed.',
  args: {
    patch: {
      type: 'positional',
      required: false,
      description: 'the JSON Patch, or a whole state (default: --file, else stdin)',
    },
    file: { type: 'string', valueHint: 'FILE', description: 'read the patch from FILE' },
  },
  examples: [
    `start-tunnel db apply '[{"op":"replace","path":"/forwards/443/label","value":"web"}]'`,
    'start-tunnel db apply --file patch.json',
    'start-tunnel db apply < state.json   # a db dump, edited',
  ],
  async run(args, ctx) {
    const { text, where } = await patchText(ctx, optional(args.patch), optional(args.file));
    const r = await (await ctx.client()).call('db.apply', { patch: patchOf(text, where) });
    ctx.emit(r, r.changed ? 'Applied: the state changed' : 'Applied: nothing changed');
  },
});

export const dbCommand = group('db', {
  description: 'The state as one JSON document: dump it, or change it with a patch',
  children: [dump, apply],
  examples: [
    'start-tunnel db dump -p /subnets',
    `start-tunnel db apply '[{"op":"replace","path":"/wan/override","value":null}]'`,
  ],
});
