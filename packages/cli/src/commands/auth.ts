// SPDX-License-Identifier: MIT
/**
 * `start-tunnel auth …`: the panel's password, its sessions and the Ed25519 keys that sign remote
 * requests
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/auth.rs#L127-L184).
 * Methods `auth.set-password {password}`, `auth.reset-password` (local only: root on the server),
 * `auth.session.list`, `auth.session.kill {ids}`, `auth.key.add {name, key}`, `auth.key.list`,
 * `auth.key.remove {key}`. Ours: keys in OpenSSH form too, `@FILE` arguments, and
 * `auth key generate` (the original's `start-cli init-key`,
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/lib.rs#L226-L231) to make the
 * key the remote mode uses.
 * @module
 */

import { readFile, writeFile } from 'node:fs/promises';
import type { KeyInfo, SessionInfo } from '@start-tunnel/protocol';
import { type Context, group, leaf, restOf } from '../command.ts';
import { CliError, ClientError } from '../errors.ts';
import { clean, formatAge, quoted, table } from '../format.ts';
import { firstLine, type Terminal } from '../terminal.ts';

/** Asks twice on a terminal (no echo), else reads the first line of stdin. */
export async function readNewPassword(terminal: Terminal): Promise<string> {
  if (terminal.isTTY) {
    const password = await terminal.ask('New password: ', { hidden: true });
    if (password === '') throw new CliError('no password given');
    const again = await terminal.ask('Confirm password: ', { hidden: true });
    if (again !== password) throw new CliError('Passwords do not match');
    return password;
  }
  const password = firstLine(await terminal.readAll());
  if (password === '') {
    throw new CliError(
      'no password on stdin: run it on a terminal, or pipe one line, e.g. ' +
        '`printf "%s\\n" "$PASSWORD" | start-tunnel auth set-password`'
    );
  }
  return password;
}

const setPassword = leaf('set-password', {
  description: 'Set the password of the HTTPS panel',
  details:
    'On a terminal it asks for the password twice, without echo; otherwise it reads the first ' +
    'line of stdin. At least 8 characters. Every panel session ends: browsers log in again. ' +
    'With --format json: an object with sessionsEnded.',
  args: {},
  examples: [
    'start-tunnel auth set-password',
    'start-tunnel auth set-password < password.txt   # its first line',
  ],
  async run(_args, ctx) {
    const password = await readNewPassword(ctx.terminal);
    const result = await (await ctx.client()).call('auth.set-password', { password });
    const ended = result.sessionsEnded;
    ctx.emit(
      result,
      `Password set${ended ? `; ${ended} panel session${ended === 1 ? '' : 's'} ended` : ''}`
    );
  },
});

const resetPassword = leaf('reset-password', {
  description: 'Set a new random password and print it (root on the server only)',
  details:
    'For a forgotten password: the server makes a random one (26 characters), ends every ' +
    'panel session, and the new password is printed once. Runs only on the server itself, ' +
    'through its local API socket (root). With --format json: an object with password.',
  localOnly: true,
  args: {},
  examples: ['start-tunnel auth reset-password', 'start-tunnel auth reset-password --format json'],
  async run(_args, ctx) {
    const result = await (await ctx.client()).call('auth.reset-password', {});
    ctx.emit(result, `Your new password is:\n${result.password}`);
  },
});

// ---- sessions --------------------------------------------------------------------------------

function sessionRows(sessions: SessionInfo[], now: number): string[][] {
  return sessions.map((s) => [
    `${s.id}${s.current ? ' *' : ''}`,
    formatAge(s.loggedIn, now),
    formatAge(s.lastActive, now),
    s.expiresAt.replace(/\.\d+Z$/, 'Z'),
    s.remoteAddress ?? '-',
    s.userAgent ?? '-',
  ]);
}

const sessionList = leaf('list', {
  description: 'List the panel sessions (browsers logged in)',
  aliases: ['ls'],
  details:
    'A session ends after 12 hours idle or 7 days in all, at logout, or with `auth session ' +
    'kill`. ID is the hash of the session token (the token itself is never stored); * marks ' +
    'the session making the request. With --format json: an array of objects with id, ' +
    'loggedIn, lastActive, expiresAt, userAgent, remoteAddress and current.',
  args: {},
  examples: ['start-tunnel auth session list', 'start-tunnel auth session list --format json'],
  async run(_args, ctx) {
    const sessions = await (await ctx.client()).call('auth.session.list', {});
    ctx.emit(sessions, () =>
      sessions.length === 0
        ? 'No panel sessions'
        : table(
            ['ID', 'LOGGED IN', 'LAST ACTIVE', 'EXPIRES', 'FROM', 'USER AGENT'],
            sessionRows(sessions, ctx.now())
          )
    );
  },
});

const sessionKill = leaf('kill', {
  description: 'End panel sessions by ID',
  details:
    'The browsers of those sessions are logged out at their next request. IDs come from ' +
    '`auth session list`. With --format json: an object with killed, the IDs that were ended.',
  variadic: true,
  args: {
    id: { type: 'positional', required: true, description: 'a session ID (52 characters)' },
  },
  examples: [
    'start-tunnel auth session kill 4vmz…',
    'start-tunnel auth session kill $(start-tunnel auth session list -o json | jq -r ".[].id")',
  ],
  async run(args, ctx) {
    const ids = restOf(args);
    const result = await (await ctx.client()).call('auth.session.kill', { ids });
    const missing = ids.filter((id) => !result.killed.includes(id));
    if (result.killed.length === 0) {
      throw new ClientError(
        `no such session: ${missing.map(quoted).join(', ')} (see start-tunnel auth session list)`,
        6
      );
    }
    for (const id of missing) ctx.io.stderr(`note: no session ${quoted(id)}\n`);
    const n = result.killed.length;
    ctx.emit(result, `Ended ${n} session${n === 1 ? '' : 's'}`);
  },
});

const session = group('session', {
  description: 'Panel sessions: list them, end them',
  children: [sessionList, sessionKill],
  examples: ['start-tunnel auth session list', 'start-tunnel auth session kill 4vmz…'],
});

// ---- keys ------------------------------------------------------------------------------------

/** A key argument: the key itself, `@FILE`, or `-` (stdin). */
async function keyArgument(text: string, ctx: Context): Promise<string> {
  if (text === '-') return (await ctx.terminal.readAll()).trim();
  if (!text.startsWith('@')) return text;
  const path = text.slice(1);
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new CliError(`cannot read the key file ${path}: ${code}`);
  }
}

function keyRows(keys: KeyInfo[]): string[][] {
  return keys.map((k) => [k.name, k.fingerprint, k.addedAt.slice(0, 10), k.openssh]);
}

const keyAdd = leaf('add', {
  description: 'Authorise an Ed25519 public key to sign remote requests',
  details:
    'KEY is an Ed25519 public key as PEM (-----BEGIN PUBLIC KEY-----) or OpenSSH ' +
    '(ssh-ed25519 AAAA…) text, @FILE to read it from a file (id_ed25519.pub, a .pem), or - ' +
    'for stdin. Adding a key that is there renames it. The owner of the private key can then ' +
    'run any command with -t HOST:PORT --key FILE --root-ca FILE. With --format json: an ' +
    'object with name, key (PEM), openssh, fingerprint and addedAt.',
  args: {
    name: { type: 'positional', required: true, description: 'a name for the key, e.g. "laptop"' },
    key: {
      type: 'positional',
      required: true,
      valueHint: 'KEY|@FILE',
      description: 'the public key, @FILE, or - for stdin',
    },
  },
  examples: [
    'start-tunnel auth key add laptop @laptop.pub',
    'start-tunnel auth key add laptop "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI…"',
    'start-tunnel auth key add ci - < ci-key.pub.pem',
  ],
  async run(args, ctx) {
    const key = await keyArgument(args.key, ctx);
    const info = await (await ctx.client()).call('auth.key.add', { name: args.name, key });
    ctx.emit(info, `Authorised key ${quoted(info.name)} ${info.fingerprint}`);
  },
});

const keyList = leaf('list', {
  description: 'List the authorised keys',
  aliases: ['ls'],
  details:
    'With --format json: an array of objects with name, key (PEM), openssh, fingerprint and ' +
    'addedAt.',
  args: {},
  examples: ['start-tunnel auth key list', 'start-tunnel auth key list --format json'],
  async run(_args, ctx) {
    const keys = await (await ctx.client()).call('auth.key.list', {});
    ctx.emit(keys, () =>
      keys.length === 0
        ? 'No keys; add one with `start-tunnel auth key add NAME KEY`'
        : table(['NAME', 'FINGERPRINT', 'ADDED', 'KEY'], keyRows(keys))
    );
  },
});

const keyRemove = leaf('remove', {
  description: 'Remove an authorised key, by its name or the key itself',
  aliases: ['rm'],
  details: 'With --format json: the removed key (name, key, openssh, fingerprint, addedAt).',
  args: {
    key: {
      type: 'positional',
      required: true,
      valueHint: 'KEY|NAME',
      description: 'the key (PEM, OpenSSH, @FILE) or its name',
    },
  },
  examples: ['start-tunnel auth key remove laptop', 'start-tunnel auth key remove @laptop.pub'],
  async run(args, ctx) {
    const key = await keyArgument(args.key, ctx);
    const info = await (await ctx.client()).call('auth.key.remove', { key });
    ctx.emit(info, `Removed key ${quoted(info.name)} ${info.fingerprint}`);
  },
});

const keyGenerate = leaf('generate', {
  description: 'Make a new Ed25519 key for remote mode (--key FILE)',
  details:
    'Writes a new private key (PKCS#8 PEM, mode 0600) to FILE, which must not exist, and ' +
    'prints its public key (OpenSSH form, one line; what to do with it goes to stderr): ' +
    'authorise that on the server with `start-tunnel auth key add`. Nothing is sent anywhere. ' +
    'With --format json: an object with file, key (the public key as PEM), openssh and ' +
    'fingerprint.',
  args: {
    out: {
      type: 'string',
      required: true,
      valueHint: 'FILE',
      description: 'where to write the private key (required)',
    },
  },
  examples: [
    'start-tunnel auth key generate --out ~/.config/start-tunnel/key.pem',
    'start-tunnel auth key generate --out tunnel.pem --format json',
  ],
  async run(args, ctx) {
    const file = args.out;
    if (typeof file !== 'string' || file === '') {
      throw new CliError('--out FILE is required: where to write the private key');
    }
    // the signing code (and what it loads) only for the commands that use it
    const { generateSigningKey } = await import('@start-tunnel/web');
    const { key, pem } = generateSigningKey();
    try {
      await writeFile(file, pem, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        throw new CliError(`${file} exists: choose another --out FILE, or remove it first`);
      }
      throw new CliError(`cannot write ${file}: ${code ?? (err as Error).message}`);
    }
    const pub = key.publicKey;
    const result = { file, key: pub.pem, openssh: pub.openssh, fingerprint: pub.fingerprint };
    if (ctx.options.format === 'text') {
      ctx.io.stderr(
        `Wrote a new private key to ${clean(file)} (mode 0600: keep it secret). Authorise its ` +
          `public key (${pub.fingerprint}) on the server: start-tunnel auth key add NAME ` +
          `'${pub.openssh}'\n`
      );
    }
    ctx.emit(result, pub.openssh);
  },
});

const keyPublic = leaf('public', {
  description: 'Print the public key of a private key file',
  details:
    'For a key made with `auth key generate` (or an unencrypted OpenSSH ed25519 key): the line ' +
    'to give `auth key add` on the server. With --format json: an object with key (PEM), ' +
    'openssh and fingerprint.',
  args: {
    file: { type: 'positional', required: true, description: 'the private key file' },
  },
  examples: ['start-tunnel auth key public ~/.config/start-tunnel/key.pem'],
  async run(args, ctx) {
    const { loadSigningKey } = await import('../remote.ts');
    const { publicKey: pub } = await loadSigningKey(args.file);
    ctx.emit({ key: pub.pem, openssh: pub.openssh, fingerprint: pub.fingerprint }, pub.openssh);
  },
});

const key = group('key', {
  description: 'Ed25519 keys that may sign requests to this server (remote mode)',
  children: [keyAdd, keyList, keyRemove, keyGenerate, keyPublic],
  examples: [
    'start-tunnel auth key generate --out laptop.pem',
    'start-tunnel auth key add laptop "ssh-ed25519 AAAA…"',
    'start-tunnel auth key list',
    'start-tunnel auth key remove laptop',
  ],
});

export const authCommand = group('auth', {
  description: 'The HTTPS panel password, its sessions, and keys for remote mode',
  children: [setPassword, resetPassword, session, key],
  examples: [
    'start-tunnel auth set-password',
    'start-tunnel auth reset-password',
    'start-tunnel auth key add laptop @laptop.pub',
    'start-tunnel auth session list',
  ],
});
