// SPDX-License-Identifier: MIT
/**
 * A two-level logger as wireguard-go's `device/logger.go`: `verbose` for protocol chatter
 * (dropped packets, handshakes), `error` for what an operator must see.
 * @module
 */

export interface Logger {
  verbose(message: string): void;
  error(message: string): void;
}

export type LogLevel = 'verbose' | 'error' | 'silent';

const nothing = (): void => {};

/** A logger that writes `prefix: message` lines to stderr up to `level`. */
export function createLogger(level: LogLevel, prefix = ''): Logger {
  const write = (tag: string) => (message: string) => {
    process.stderr.write(`${tag}: ${prefix}${message}\n`);
  };
  return {
    verbose: level === 'verbose' ? write('DEBUG') : nothing,
    error: level === 'silent' ? nothing : write('ERROR'),
  };
}

/** Discards everything; the default for embedded devices and tests. */
export const silentLogger: Logger = { verbose: nothing, error: nothing };
