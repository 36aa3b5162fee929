// SPDX-License-Identifier: MIT
/**
 * The errors the command line reports: each becomes one line on stderr and an exit code. A usage
 * error (missing or unexpected argument, unknown option or command) exits 2, as most Unix tools
 * do; an error from the daemon exits with its code (StartOS ErrorKind numbers,
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/error.rs#L23-L105, which are
 * its JSON-RPC error codes,
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/error.rs#L510-L515) when that
 * fits an exit status (1..125), else 1.
 * @module
 */

import { ErrorCode } from '@start-tunnel/protocol';

/** Exit status of a usage error. */
export const USAGE_EXIT = 2;

/** The exit status for an error code: the code itself when it is 1..125, else 1. */
export function exitCodeFor(code: number): number {
  return Number.isInteger(code) && code >= 1 && code <= 125 ? code : 1;
}

/** An error meant for the user: its message is the whole report. */
export class CliError extends Error {
  /** The error code (an `ErrorCode` value, or `USAGE_EXIT` for usage errors). */
  readonly code: number;
  constructor(message: string, code: number = ErrorCode.Unknown) {
    super(message);
    this.name = 'CliError';
    this.code = code;
  }
  get exitCode(): number {
    return exitCodeFor(this.code);
  }
}

/** The command line itself is wrong; the message carries the usage line. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, USAGE_EXIT);
    this.name = 'UsageError';
  }
}

/**
 * The daemon (or the transport to it) answered with an error. `field` is the parameter at
 * fault when the server named one.
 */
export class ClientError extends CliError {
  readonly field: string | undefined;
  constructor(message: string, code: number, field?: string) {
    super(message, code);
    this.name = 'ClientError';
    this.field = field;
  }
}

/** The server answered the call with a JSON-RPC error (not a transport failure). */
export class RpcCallError extends ClientError {
  constructor(message: string, code: number, field?: string) {
    super(message, code, field);
    this.name = 'RpcCallError';
  }
}

/** Collapses a message to one line (server messages may carry newlines). */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
