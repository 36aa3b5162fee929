// SPDX-License-Identifier: MIT
/**
 * `--help` for every command (usage line, what it does, arguments, options, examples) and the
 * check of a leaf's words against its definition before citty parses them: citty accepts
 * unknown options and extra words silently, and a missing argument should come with the usage
 * line. Plain text, no colour, at most 100 columns.
 * @module
 */

import type { ArgDef, ArgsDef } from 'citty';
import type { CommandNode, GroupNode, LeafNode } from './command.ts';
import { UsageError } from './errors.ts';

export const PROGRAM = 'start-tunnel';
const WIDTH = 100;

/** Options every command takes (parsed before the command, see `main.ts`). */
export const GLOBAL_OPTIONS: readonly (readonly [string, string])[] = [
  [
    '--format, -o FORMAT',
    'output: text (default), json (the result as one line of JSON) or json-pretty',
  ],
  [
    '--datadir DIR',
    'data directory of the local daemon (default: $START_TUNNEL_DATADIR, else /var/lib/start-tunnel)',
  ],
  [
    '-t, --tunnel HOST:PORT',
    "remote mode: a server's HTTPS panel (port 8443 when none), instead of the local daemon",
  ],
  ['--key FILE', 'remote mode: the Ed25519 private key that signs requests (auth key generate)'],
  [
    '--root-ca FILE',
    "remote mode: the server's root CA (web get-root-ca); the only CA trusted; repeatable",
  ],
  ['-h, --help', 'show this help'],
];

/** Words wrapped to `width`, every line after the first indented by `indent`. */
export function wrap(text: string, width: number, indent = 0): string {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const room = width - (out.length ? indent : 0);
    if (line && line.length + 1 + word.length > room) {
      out.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) out.push(line);
  return out.join(`\n${' '.repeat(indent)}`);
}

/** Two columns: labels padded, descriptions wrapped under their column. */
function columns(rows: readonly (readonly [string, string])[]): string {
  const labelWidth = Math.min(30, Math.max(...rows.map(([l]) => l.length)));
  const descIndent = 2 + labelWidth + 3;
  return rows
    .map(([label, desc]) => {
      const text = wrap(desc, WIDTH - descIndent, descIndent);
      if (label.length > labelWidth) return `  ${label}\n${' '.repeat(descIndent)}${text}`;
      return `  ${label.padEnd(labelWidth)}   ${text}`;
    })
    .join('\n');
}

function paragraphs(text: string): string {
  return text
    .split(/\n\s*\n/)
    .map((p) => wrap(p, WIDTH))
    .join('\n\n');
}

function entries(args: ArgsDef): [string, ArgDef][] {
  return Object.entries(args);
}

function aliasesOf(def: ArgDef): string[] {
  const alias = 'alias' in def ? def.alias : undefined;
  return Array.isArray(alias) ? alias : alias ? [alias] : [];
}

function positionalName(name: string, def: ArgDef): string {
  return def.valueHint ?? name.toUpperCase();
}

function isRequired(def: ArgDef): boolean {
  return def.required !== false && def.default === undefined;
}

function optionLabel(name: string, def: ArgDef, forUsage: boolean): string {
  const aliases = aliasesOf(def).map((a) => (a.length === 1 ? `-${a}` : `--${a}`));
  if (def.type === 'boolean') {
    const negative = 'negativeDescription' in def && def.negativeDescription;
    if (forUsage) return negative ? `--${name}|--no-${name}` : `--${name}`;
    return [`--${name}`, ...aliases].join(', ');
  }
  const hint = def.valueHint ?? name.toUpperCase();
  if (forUsage) return `--${name} ${hint}`;
  return `${[`--${name}`, ...aliases].join(', ')} ${hint}`;
}

/** The words of a usage line: program, path, then `<ARG>`, `[ARG]`, `[--option VALUE]`. */
function usageParts(path: readonly string[], node: CommandNode): string[] {
  const parts = [PROGRAM, ...path];
  if (node.kind === 'group') {
    parts.push(node.children.map((c) => c.name).join('|'), '...');
    return parts;
  }
  const positional = entries(node.args).filter(([, def]) => def.type === 'positional');
  positional.forEach(([name, def], i) => {
    const dots = node.variadic && i === positional.length - 1 ? '...' : '';
    const shown = `${positionalName(name, def)}${dots}`;
    parts.push(isRequired(def) ? `<${shown}>` : `[${shown}]`);
  });
  for (const option of node.usageGlobals) parts.push(`[${option}]`);
  for (const [name, def] of entries(node.args)) {
    if (def.type === 'positional') continue;
    parts.push(`[${optionLabel(name, def, true)}]`);
  }
  return parts;
}

/** `start-tunnel device add <SUBNET> <NAME> [IP] [--public-key KEY]` (one line). */
export function usageLine(path: readonly string[], node: CommandNode): string {
  return usageParts(path, node).join(' ');
}

/** `Usage: …` wrapped at the page width, continuation lines under the first argument. */
function usageBlock(path: readonly string[], node: CommandNode): string {
  const parts = usageParts(path, node);
  const head = `Usage: ${parts.slice(0, 1 + path.length).join(' ')}`;
  const lines = [head];
  for (const part of parts.slice(1 + path.length)) {
    const last = lines.length - 1;
    if ((lines[last] ?? '').length + 1 + part.length > WIDTH && (lines[last] ?? '').trim() !== '') {
      lines.push(`${' '.repeat(head.length)} ${part}`);
    } else {
      lines[last] = `${lines[last]} ${part}`;
    }
  }
  return lines.join('\n');
}

function section(title: string, body: string): string {
  return `${title}:\n${body}\n`;
}

/** The `--help` text of a command (`path` empty for the program itself). */
export function renderHelp(
  path: readonly string[],
  node: CommandNode,
  extras: { version?: string } = {}
): string {
  const out: string[] = [];
  out.push(`${wrap(node.description, WIDTH)}\n`);
  if (node.kind === 'group') {
    const head = path.length ? `${PROGRAM} ${path.join(' ')}` : PROGRAM;
    const parent = node.parentArg
      ? `\n       ${head} <${node.parentArg.name}> ${node.parentArg.verbs.join('|')} [arguments]`
      : '';
    out.push(`Usage: ${head} <command> [arguments] [options]${parent}\n`);
    if (node.details) out.push(`${paragraphs(node.details)}\n`);
    out.push(section('Commands', commandList(node)));
  } else {
    out.push(`${usageBlock(path, node)}\n`);
    if (node.details) out.push(`${paragraphs(node.details)}\n`);
    const positional = entries(node.args).filter(([, d]) => d.type === 'positional');
    if (positional.length) {
      out.push(
        section(
          'Arguments',
          columns(positional.map(([n, d]) => [positionalName(n, d), describe(d)]))
        )
      );
    }
    const options = entries(node.args).filter(([, d]) => d.type !== 'positional');
    if (options.length) {
      out.push(
        section(
          'Options',
          columns(
            options.flatMap(([n, d]): [string, string][] => {
              const row: [string, string] = [optionLabel(n, d, false), describe(d)];
              const negative = 'negativeDescription' in d ? d.negativeDescription : undefined;
              return negative ? [row, [`--no-${n}`, negative]] : [row];
            })
          )
        )
      );
    }
  }
  const globals: (readonly [string, string])[] = [...GLOBAL_OPTIONS];
  if (path.length === 0)
    globals.push([
      '-V, --version',
      `print the version${extras.version ? ` (${extras.version})` : ''}`,
    ]);
  out.push(section(path.length === 0 ? 'Options' : 'Global options', columns(globals)));
  if (node.examples.length) {
    out.push(section('Examples', node.examples.map((e) => `  ${e}`).join('\n')));
  }
  if (node.kind === 'group') {
    const head = path.length ? `${PROGRAM} ${path.join(' ')}` : PROGRAM;
    out.push(`Run \`${head} <command> --help\` for the arguments and examples of each command.\n`);
  }
  return out.join('\n');
}

function describe(def: ArgDef): string {
  const text = def.description ?? '';
  return def.default !== undefined && def.type !== 'boolean'
    ? `${text} (default: ${String(def.default)})`
    : text;
}

function commandList(node: GroupNode): string {
  return columns(
    node.children.map((c) => [[c.name, ...c.aliases].join(', '), c.description] as const)
  );
}

/** The names a group offers, for "unknown command" messages: `list, add or remove`. */
export function childNames(node: GroupNode): string {
  const names = node.children.map((c) => c.name);
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
}

function hint(path: readonly string[], node: CommandNode): string {
  return `usage: ${usageLine(path, node)} (see ${[PROGRAM, ...path].join(' ')} --help)`;
}

/**
 * Checks a leaf's words (global options already taken out): every option is known and has its
 * value, no word is left over, every required argument is there. Throws `UsageError`.
 */
export function checkArgs(path: readonly string[], node: LeafNode, words: readonly string[]): void {
  const values = new Map<string, string>();
  const flags = new Map<string, string>();
  const positional: [string, ArgDef][] = [];
  for (const [name, def] of entries(node.args)) {
    if (def.type === 'positional') {
      positional.push([name, def]);
      continue;
    }
    const spellings = [name, ...aliasesOf(def)].map((a) => (a.length === 1 ? `-${a}` : `--${a}`));
    for (const s of spellings) {
      if (def.type === 'boolean') {
        flags.set(s, name);
        if (s.startsWith('--')) flags.set(`--no-${s.slice(2)}`, name);
      } else {
        values.set(s, name);
      }
    }
  }
  let count = 0;
  const extra: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i] ?? '';
    if (word === '--') {
      for (const w of words.slice(i + 1)) {
        if (count++ >= positional.length) extra.push(w);
      }
      break;
    }
    if (word.startsWith('-') && word !== '-') {
      const eq = word.indexOf('=');
      const flag = eq > 0 ? word.slice(0, eq) : word;
      if (values.has(flag)) {
        if (eq < 0) {
          if (i + 1 >= words.length) {
            throw new UsageError(`${flag} needs a value; ${hint(path, node)}`);
          }
          i++;
        }
        continue;
      }
      if (flags.has(flag)) {
        if (eq > 0) throw new UsageError(`${flag} takes no value; ${hint(path, node)}`);
        continue;
      }
      throw new UsageError(`unknown option ${flag}; ${hint(path, node)}`);
    }
    if (count++ >= positional.length) extra.push(word);
  }
  if (extra.length && !(node.variadic && positional.length > 0)) {
    throw new UsageError(`unexpected argument "${extra[0]}"; ${hint(path, node)}`);
  }
  const missing = positional.slice(count).find(([, def]) => isRequired(def));
  if (missing) {
    throw new UsageError(`missing <${positionalName(...missing)}>; ${hint(path, node)}`);
  }
}
