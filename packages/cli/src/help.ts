// SPDX-License-Identifier: MIT
/**
 * `--help` for every command (usage line, what it does, arguments, options, examples), and the
 * usage line that errors about the command line carry (`args.ts`). Plain text, no colour, at
 * most 100 columns.
 * @module
 */

import type { ArgDef, ArgsDef } from 'citty';
import { type CommandNode, GLOBAL_ARGS, type GroupNode } from './command.ts';

export const PROGRAM = 'start-tunnel';
const WIDTH = 100;

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

/** How a positional argument is shown: its hint, else its name in capitals. */
export function positionalName(name: string, def: ArgDef): string {
  return def.valueHint ?? name.toUpperCase();
}

/** A positional argument without which the command does not run. */
export function isRequired(def: ArgDef): boolean {
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
    const label = optionLabel(name, def, true);
    parts.push(def.required === true ? label : `[${label}]`);
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

/** The global options (`GLOBAL_ARGS`) as rows of help, `--version` last. */
export const GLOBAL_OPTIONS: readonly (readonly [string, string])[] = entries(GLOBAL_ARGS).map(
  ([name, def]) => [optionLabel(name, def, false), describe(def)]
);

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
  // `--version` (the last row) only at the top, with the version itself
  const globals = GLOBAL_OPTIONS.slice(0, -1);
  if (path.length === 0) {
    const [label, text] = GLOBAL_OPTIONS.at(-1) ?? ['', ''];
    globals.push([label, `${text}${extras.version ? ` (${extras.version})` : ''}`]);
  }
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

/** `usage: start-tunnel … (see start-tunnel … --help)`, for errors about the command line. */
export function usageHint(path: readonly string[], node: CommandNode): string {
  return `usage: ${usageLine(path, node)} (see ${[PROGRAM, ...path].join(' ')} --help)`;
}
