// SPDX-License-Identifier: MIT
/**
 * The command line, read by citty's `parseArgs`
 * (https://github.com/unjs/citty/blob/v0.2.2/src/args.ts, node:util's `parseArgs` in its loose
 * mode underneath): the one tokenizer of the CLI. The line is read with what is known at each
 * step: first with the global options only (`GLOBAL_ARGS`), whose positional words lead to the
 * command (`resolveCommand`); then, for a leaf, with the global options and the leaf's own. The
 * checks are made on citty's result: a key no definition names is an unknown option (citty keeps
 * them silently), positional words beyond the leaf's are unexpected, a required one absent is
 * missing, and the command's words must stand where the first reading found them. citty's
 * result hides three things; two are recovered by asking citty again, one from the words:
 * - a value option at the end of the line has no value (citty reads ''): the line is read with
 *   one more word, `END`, and an option that took it had none;
 * - a flag given a value (`--qr=yes`, citty reads true): read once more with the flags left
 *   undeclared, citty keeps the value as written;
 * - the earlier values of a repeated option (citty keeps the last): `everyValue`.
 * @module
 */

import { type ArgDef, type ArgsDef, type ParsedArgs, parseArgs } from 'citty';
import {
  type CommandNode,
  findChild,
  GLOBAL_ARGS,
  type GlobalOptions,
  type GroupNode,
  type LeafNode,
} from './command.ts';
import { oneLine, UsageError } from './errors.ts';
import { parseFormat } from './format.ts';
import { childNames, isRequired, PROGRAM, positionalName, usageHint } from './help.ts';

/** A command line, read. */
export type Line =
  | { kind: 'version' }
  | { kind: 'help'; path: string[]; node: CommandNode; options: GlobalOptions }
  | {
      kind: 'leaf';
      path: string[];
      node: LeafNode;
      options: GlobalOptions;
      /** The leaf's options and positional arguments (its positional words in `_`). */
      args: ParsedArgs;
      /** Every value of one of the leaf's repeatable options. */
      values: (name: string) => string[];
    };

/** The word added at the end of the line: a value option that takes it had no value. */
const END = '\u0000end';

/** citty's reading of the line (and `END`, dropped when it is left a positional word). */
function read(argv: readonly string[], def: ArgsDef): ParsedArgs {
  const parsed = parseArgs([...argv, END], def);
  if (parsed._.at(-1) === END) parsed._.pop();
  return parsed;
}

function entries(def: ArgsDef): [string, ArgDef][] {
  return Object.entries(def);
}

function aliasesOf(def: ArgDef): string[] {
  const alias = 'alias' in def ? def.alias : undefined;
  return Array.isArray(alias) ? alias : alias ? [alias] : [];
}

/**
 * The options of `def` as citty is to read them: no positionals (they are counted here, so that
 * `--name` is no alias of the positional NAME), nothing required (checked here, with the usage
 * line), and without the flags when `flags` is false.
 */
function optionsOf(def: ArgsDef, flags = true): ArgsDef {
  const out: ArgsDef = {};
  for (const [name, arg] of entries(def)) {
    if (arg.type === 'positional' || (arg.type === 'boolean' && !flags)) continue;
    out[name] = { ...arg, required: false } as ArgDef;
  }
  return out;
}

/** `--name` as written for a key of citty's result. */
function spelling(key: string, value: unknown): string {
  if (key.length === 1) return `-${key}`;
  return value === false ? `--no-${key}` : `--${key}`;
}

/** The first option citty found that `def` does not name (citty also reads `--camelCase`). */
function unknownOption(parsed: ParsedArgs, def: ArgsDef): string | undefined {
  const known = new Set(['_']);
  for (const [name, arg] of entries(def)) {
    known.add(name).add(name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
    for (const alias of aliasesOf(arg)) known.add(alias);
  }
  const key = Object.keys(parsed).find((k) => !known.has(k));
  return key === undefined ? undefined : spelling(key, parsed[key]);
}

/** A value option without its value, or negated (`--no-format`, which citty reads as false). */
function checkValues(parsed: ParsedArgs, def: ArgsDef, hint: string): void {
  for (const [name, arg] of entries(def)) {
    if (arg.type !== 'string' && arg.type !== 'enum') continue;
    if (parsed[name] === END) throw new UsageError(`--${name} needs a value${hint}`);
    if (parsed[name] === false) throw new UsageError(`unknown option --no-${name}${hint}`);
  }
}

/**
 * Every value of a repeatable option (`--root-ca a --root-ca=b`), in order. citty (node:util's
 * `parseArgs` without `multiple`) keeps only the last, `last`: the earlier ones are read off the
 * words, the one thing citty's result cannot give. A reading of the words that ends on another
 * value than citty's misread them (the option stood as another option's value): citty's alone
 * is kept.
 */
export function everyValue(argv: readonly string[], name: string, last: unknown): string[] {
  if (typeof last !== 'string') return [];
  const flag = `--${name}`;
  const out: string[] = [];
  for (let i = 0; i < argv.length && argv[i] !== '--'; i++) {
    const word = argv[i] ?? '';
    if (word === flag && i + 1 < argv.length) out.push(argv[++i] ?? '');
    else if (word.startsWith(`${flag}=`)) out.push(word.slice(flag.length + 1));
  }
  return out.at(-1) === last ? out : [last];
}

/** Walks the tree along the positional words from `start`; `at` holds the command's words. */
export function resolveCommand(
  root: GroupNode,
  words: readonly string[],
  start = 0
): { node: CommandNode; path: string[]; at: number[] } {
  let node: CommandNode = root;
  const path: string[] = [];
  const at: number[] = [];
  for (let i = start; node.kind === 'group' && i < words.length; i++) {
    const word = words[i] ?? '';
    const child = findChild(node, word);
    const verb = words[i + 1] ?? '';
    if (!child && node.parentArg?.verbs.includes(verb)) {
      // StartTunnel's `subnet 10.59.7.0/24 add Home` is `subnet add 10.59.7.0/24 Home`
      const viaParent = findChild(node, verb);
      if (viaParent) {
        path.push(viaParent.name);
        at.push(i + 1);
        return { node: viaParent, path, at };
      }
    }
    if (!child) {
      const where = [PROGRAM, ...path].join(' ');
      throw new UsageError(
        `unknown command "${oneLine(word)}"; ${where} takes ${childNames(node)} (see ${where} --help)`
      );
    }
    node = child;
    path.push(child.name);
    at.push(i);
  }
  return { node, path, at };
}

/** The global options out of citty's reading of the line, checked. */
function globalOptions(argv: readonly string[], parsed: ParsedArgs): GlobalOptions {
  const value = (name: 'datadir' | 'tunnel' | 'key'): string | undefined => {
    const v = parsed[name];
    if (v === '') throw new UsageError(`--${name} needs a value`);
    return typeof v === 'string' ? v : undefined;
  };
  const format = parsed.format;
  const options: GlobalOptions = {
    format: typeof format === 'string' ? parseFormat(format) : 'text',
    datadir: value('datadir'),
    tunnel: value('tunnel'),
    key: value('key'),
    rootCa: everyValue(argv, 'root-ca', parsed['root-ca']),
  };
  if (options.tunnel === undefined && (options.key !== undefined || options.rootCa.length)) {
    throw new UsageError('--key and --root-ca go with -t/--tunnel HOST:PORT');
  }
  return options;
}

/** Reads and checks one command line against the tree under `root`. Throws `UsageError`. */
export function parseLine(argv: readonly string[], root: GroupNode): Line {
  const first = read(argv, GLOBAL_ARGS);
  if (first.version === true) return { kind: 'version' };
  const start = first._[0] === 'help' ? 1 : 0;
  const { node, path, at } = resolveCommand(root, first._, start);
  if (first.help === true || start === 1 || node.kind === 'group') {
    checkValues(first, GLOBAL_ARGS, '');
    const unknown = unknownOption(first, GLOBAL_ARGS);
    if (unknown && node.kind === 'group' && first.help !== true && start === 0) {
      const where = [PROGRAM, ...path].join(' ');
      throw new UsageError(
        `unknown option ${unknown} before the command; ${where} takes ${childNames(node)}`
      );
    }
    return { kind: 'help', path, node, options: globalOptions(argv, first) };
  }
  return parseLeaf(argv, first, { node, path, at });
}

/** The second reading, for a leaf: the line with its options, checked and assigned. */
function parseLeaf(
  argv: readonly string[],
  first: ParsedArgs,
  { node, path, at }: { node: LeafNode; path: string[]; at: number[] }
): Line {
  const def = { ...GLOBAL_ARGS, ...optionsOf(node.args) };
  const line = read(argv, def);
  const hint = usageHint(path, node);
  checkValues(line, def, `; ${hint}`);
  const unknown = unknownOption(line, def);
  if (unknown) throw new UsageError(`unknown option ${unknown}; ${hint}`);
  const written = read(argv, { ...GLOBAL_ARGS, ...optionsOf(node.args, false) });
  for (const [name, arg] of entries(def)) {
    if (arg.type === 'boolean' && typeof written[name] === 'string') {
      throw new UsageError(`--${name} takes no value; ${hint}`);
    }
  }
  // a leaf's value option before the command's words took one of them (or a word as them)
  if (at.some((i) => line._[i] !== first._[i])) {
    throw new UsageError(`the options of ${[PROGRAM, ...path].join(' ')} go after it; ${hint}`);
  }
  const words = line._.filter((_, i) => !at.includes(i));
  const positional = entries(node.args).filter(([, arg]) => arg.type === 'positional');
  if (words.length > positional.length && !(node.variadic && positional.length > 0)) {
    throw new UsageError(`unexpected argument "${words[positional.length]}"; ${hint}`);
  }
  const args: Record<string, unknown> = { _: words };
  for (const [i, [name, arg]] of positional.entries()) {
    if (words[i] === undefined && isRequired(arg)) {
      throw new UsageError(`missing <${positionalName(name, arg)}>; ${hint}`);
    }
    args[name] = words[i] ?? arg.default;
  }
  for (const [name, arg] of entries(node.args)) {
    if (arg.type === 'positional') continue;
    if (arg.required === true && line[name] === undefined) {
      throw new UsageError(`missing --${name} ${arg.valueHint ?? name.toUpperCase()}; ${hint}`);
    }
    for (const key of [name, ...aliasesOf(arg)]) args[key] = line[name];
  }
  const options = globalOptions(argv, line);
  if (node.localOnly && options.tunnel !== undefined) {
    throw new UsageError(`${PROGRAM} ${path.join(' ')} runs on the server itself; drop --tunnel`);
  }
  return {
    kind: 'leaf',
    path,
    node,
    options,
    args: args as ParsedArgs,
    values: (name) => everyValue(argv, name, line[name]),
  };
}
