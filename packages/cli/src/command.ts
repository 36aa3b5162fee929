// SPDX-License-Identifier: MIT
/**
 * The shape of a command: a tree of groups (`subnet`, `device` …) and leaves (`subnet add` …),
 * each leaf its arguments as citty argument definitions (`ArgsDef`, which citty's `parseArgs`
 * reads the line with, see `args.ts`) plus the text its `--help` shows. A leaf runs with a
 * `Context`: the I/O it may use (injectable, so tests run commands in-process), the global
 * options, and a lazily opened `RpcClient`.
 * @module
 */

import type { ServerOptions } from '@start-tunnel/server';
import type { ArgsDef, ParsedArgs } from 'citty';
import type { RemoteConnector, RpcClient } from './client.ts';
import type { OutputFormat } from './format.ts';
import { toJson } from './format.ts';
import type { Terminal } from './terminal.ts';

/** `runServer` of `@start-tunnel/server`: runs until SIGTERM or SIGINT. */
export type RunServer = (options: ServerOptions) => Promise<void>;

/** Where a run reads and writes; everything a test may replace. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  /** Whether stdout is a terminal (the QR code is drawn with explicit colours there). */
  isTTY?: boolean;
  /** Clock for handshake ages (default `Date.now`). */
  now?: () => number;
  /**
   * The daemon's entry and the check of its options (default: `runServer` and
   * `checkServerOptions` of `@start-tunnel/server`, loaded by `start-tunnel daemon` only).
   */
  server?: { runServer: RunServer; checkServerOptions: (options: ServerOptions) => void };
  /** Remote mode (`--tunnel`): builds the HTTPS transport (default: `remote.ts`). */
  remote?: RemoteConnector;
  /** Questions and stdin (default: no terminal and an empty stdin; `main()` passes the process's). */
  terminal?: Terminal;
}

/** The terminal of a run without one: nothing to ask, nothing on stdin. */
export const NO_TERMINAL: Terminal = {
  isTTY: false,
  ask: () => Promise.reject(new Error('cannot ask: stdin is not a terminal')),
  readAll: async () => '',
};

/**
 * Options every command takes, wherever they stand on the line: citty reads them beside the
 * leaf's own (a leaf's option may not take one of these names).
 */
export const GLOBAL_ARGS = {
  format: {
    type: 'string',
    alias: ['o'],
    valueHint: 'FORMAT',
    description: 'output: text (default), json (the result as one line of JSON) or json-pretty',
  },
  datadir: {
    type: 'string',
    valueHint: 'DIR',
    description:
      'data directory of the local daemon (default: $START_TUNNEL_DATADIR, else /var/lib/start-tunnel)',
  },
  tunnel: {
    type: 'string',
    alias: ['t'],
    valueHint: 'HOST:PORT',
    description:
      "remote mode: a server's HTTPS panel (port 8443 when none), instead of the local daemon",
  },
  key: {
    type: 'string',
    valueHint: 'FILE',
    description: 'remote mode: the Ed25519 private key that signs requests (auth key generate)',
  },
  'root-ca': {
    type: 'string',
    valueHint: 'FILE',
    description:
      "remote mode: the server's root CA (web get-root-ca); the only CA trusted; repeatable",
  },
  help: { type: 'boolean', alias: ['h'], description: 'show this help' },
  version: { type: 'boolean', alias: ['V'], description: 'print the version' },
} as const satisfies ArgsDef;

/** The global options of a run, checked. */
export interface GlobalOptions {
  format: OutputFormat;
  datadir: string | undefined;
  tunnel: string | undefined;
  key: string | undefined;
  rootCa: string[];
}

/** What a running leaf gets. */
export interface Context {
  io: CliIo;
  options: GlobalOptions;
  /** The command path, e.g. `['device', 'add']`. */
  path: readonly string[];
  now(): number;
  /** Where questions and stdin come from. */
  terminal: Terminal;
  /**
   * Every value of a repeatable option of the leaf (`--subject a --subject b`), in order;
   * `args` has only the last.
   */
  values(name: string): string[];
  /** The client for the daemon (opened on first use). */
  client(): Promise<RpcClient>;
  /** Prints a result: JSON under `--format json`, else the human text. */
  emit(result: unknown, text: string | (() => string)): void;
}

export function createContext(
  io: CliIo,
  options: GlobalOptions,
  path: readonly string[],
  values: (name: string) => string[],
  open: () => Promise<RpcClient>
): Context {
  let client: Promise<RpcClient> | undefined;
  return {
    io,
    options,
    path,
    now: () => (io.now ? io.now() : Date.now()),
    terminal: io.terminal ?? NO_TERMINAL,
    values,
    client: () => {
      client ??= open();
      return client;
    },
    emit(result, text) {
      if (options.format !== 'text') {
        io.stdout(toJson(result, options.format));
        return;
      }
      const out = typeof text === 'function' ? text() : text;
      if (out !== '') io.stdout(out.endsWith('\n') ? out : `${out}\n`);
    },
  };
}

interface NodeBase {
  name: string;
  aliases: readonly string[];
  /** One line, for command lists. */
  description: string;
  /** Paragraphs for `--help`. */
  details: string | undefined;
  examples: readonly string[];
}

export interface LeafNode extends NodeBase {
  kind: 'leaf';
  args: ArgsDef;
  /** Refuses `--tunnel` (the daemon runs here). */
  localOnly: boolean;
  /** Global options worth showing in this leaf's usage line, e.g. `--datadir DIR`. */
  usageGlobals: readonly string[];
  /** The last positional argument repeats (the leaf's positional words are `args._`). */
  variadic: boolean;
  /** Runs the leaf with its arguments as citty parsed them (`args.ts`). */
  execute(args: ParsedArgs, ctx: Context): Promise<void>;
}

export interface GroupNode extends NodeBase {
  kind: 'group';
  children: readonly CommandNode[];
  /**
   * StartTunnel's parent-argument form, `subnet <SUBNET> add <NAME>`: a word that is no command,
   * followed by one of `verbs`, is moved after the verb (`subnet add <SUBNET> <NAME>`).
   */
  parentArg: { name: string; verbs: readonly string[] } | undefined;
}

export type CommandNode = LeafNode | GroupNode;

export interface LeafSpec<T extends ArgsDef> {
  description: string;
  details?: string;
  aliases?: string[];
  args: T;
  examples: string[];
  localOnly?: boolean;
  usageGlobals?: string[];
  /** The last positional repeats: `[SUBJECT...]`. */
  variadic?: boolean;
  run: (args: ParsedArgs<T>, ctx: Context) => Promise<void>;
}

/** A leaf command: its arguments (citty parses them, `args.ts`) and what it does. */
export function leaf<const T extends ArgsDef>(name: string, spec: LeafSpec<T>): LeafNode {
  return {
    kind: 'leaf',
    name,
    aliases: spec.aliases ?? [],
    description: spec.description,
    details: spec.details,
    examples: spec.examples,
    args: spec.args,
    localOnly: spec.localOnly ?? false,
    usageGlobals: spec.usageGlobals ?? [],
    variadic: spec.variadic ?? false,
    execute: (args, ctx) => spec.run(args as ParsedArgs<T>, ctx),
  };
}

export interface GroupSpec {
  description: string;
  details?: string;
  aliases?: string[];
  examples?: string[];
  children: CommandNode[];
  parentArg?: { name: string; verbs: string[] };
}

export function group(name: string, spec: GroupSpec): GroupNode {
  return {
    kind: 'group',
    name,
    aliases: spec.aliases ?? [],
    description: spec.description,
    details: spec.details,
    examples: spec.examples ?? [],
    children: spec.children,
    parentArg: spec.parentArg,
  };
}

/** The child of a group by name or alias. */
export function findChild(node: GroupNode, name: string): CommandNode | undefined {
  return node.children.find((c) => c.name === name || c.aliases.includes(name));
}

/** A string argument, or undefined when absent (citty's typing hides the undefined). */
export function optional(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The positional words after the first `skip` (the values of a variadic argument). */
export function restOf(args: { _: string[] }, skip = 0): string[] {
  return args._.slice(skip);
}
