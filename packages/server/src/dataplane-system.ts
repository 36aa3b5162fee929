// SPDX-License-Identifier: MIT
/**
 * The parts of the Linux data plane that stay on the main thread because they are child
 * processes anyway: the interface addresses through iproute2 (`ip -j addr`, JSON output:
 * https://man7.org/linux/man-pages/man8/ip.8.html) set by difference, so an unchanged address
 * is never bounced. Nat goes through `@start-tunnel/nat` directly.
 * @module
 */

import { execFile } from 'node:child_process';

/** Runs `ip` with a bounded time; rejects with the command's stderr. */
export function ip(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 10_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) {
        resolve(stdout);
        return;
      }
      const why = (stderr || stdout || err.message).trim();
      reject(new Error(`ip ${args.join(' ')} failed: ${why}`));
    });
  });
}

interface IpAddrInfo {
  family?: string;
  local?: string;
  prefixlen?: number;
}

/** The IPv4 addresses of `name` as `address/prefix`, from `ip -j addr show` output. */
export function parseAddresses(json: string): string[] {
  const links = JSON.parse(json) as { addr_info?: IpAddrInfo[] }[];
  const out: string[] = [];
  for (const link of links) {
    for (const a of link.addr_info ?? []) {
      if (a.family === 'inet' && a.local) out.push(`${a.local}/${a.prefixlen}`);
    }
  }
  return out;
}

/** Makes the IPv4 addresses of `name` exactly `cidrs`, touching only the difference. */
export async function syncAddresses(name: string, cidrs: readonly string[]): Promise<void> {
  const have = new Set(parseAddresses(await ip(['-j', 'addr', 'show', 'dev', name])));
  const want = new Set(cidrs);
  for (const c of have) if (!want.has(c)) await ip(['addr', 'del', c, 'dev', name]);
  for (const c of want) if (!have.has(c)) await ip(['addr', 'add', c, 'dev', name]);
}
