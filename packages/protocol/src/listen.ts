// SPDX-License-Identifier: MIT
/**
 * Listen addresses as the panel stores them and the CLI takes them: `IP:PORT` or `[IPv6]:PORT`.
 * @module
 */

/** Parses `IP:PORT` / `[IPv6]:PORT`; throws a message naming the value on bad input. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new Error(`Invalid listen address "${text}": expected IP:PORT`);
  }
  return { host: m[1]!, port };
}
