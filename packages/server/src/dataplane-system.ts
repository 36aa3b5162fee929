// SPDX-License-Identifier: MIT
/**
 * The parts of the Linux data plane that stay on the main thread because they are child
 * processes anyway: the interface addresses through iproute2 (`ip -j addr`, JSON output:
 * https://man7.org/linux/man-pages/man8/ip.8.html) set by difference, so an unchanged address
 * is never bounced; the IPv6 routes to devices (one /128 each, so a WAN holding the same prefix
 * on-link does not shadow them) tagged with a routing protocol number of our own, and NDP proxy
 * entries for prefixes that are on-link on a WAN (https://man7.org/linux/man-pages/man8/ip-neighbour.8.html).
 * Nat goes through `@start-tunnel/nat` directly.
 * @module
 */

import { execFile } from 'node:child_process';
import {
  TRANSPARENT_MARK,
  TRANSPARENT_RULE_PRIORITY,
  TRANSPARENT_TABLE,
} from '@start-tunnel/protocol';

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
  scope?: string;
}

/**
 * The IPv4 and global IPv6 addresses of `name` as `address/prefix`, from `ip -j addr show`
 * output (link-local IPv6 is the kernel's, not ours).
 */
export function parseAddresses(json: string): string[] {
  const links = JSON.parse(json) as { addr_info?: IpAddrInfo[] }[];
  const out: string[] = [];
  for (const link of links) {
    for (const a of link.addr_info ?? []) {
      if (!a.local || (a.family !== 'inet' && a.family !== 'inet6')) continue;
      if (a.family === 'inet6' && a.scope === 'link') continue;
      out.push(`${a.local}/${a.prefixlen}`);
    }
  }
  return out;
}

/** Makes the addresses of `name` exactly `cidrs`, touching only the difference. */
export async function syncAddresses(name: string, cidrs: readonly string[]): Promise<void> {
  const have = new Set(parseAddresses(await ip(['-j', 'addr', 'show', 'dev', name])));
  const want = new Set(cidrs);
  for (const c of have) if (!want.has(c)) await ip(['addr', 'del', c, 'dev', name]);
  for (const c of want) {
    if (have.has(c)) continue;
    // a point-to-point tunnel has no neighbours to detect a duplicate with
    await ip(
      c.includes(':') ? ['addr', 'add', c, 'dev', name, 'nodad'] : ['addr', 'add', c, 'dev', name]
    );
  }
}

/** The routing protocol number our routes carry, so a sync only ever removes its own. */
export const ROUTE_PROTOCOL = '59';

/** Makes the IPv6 routes into `name` with our protocol exactly `routes` (`ADDR/128`). */
export async function syncRoutes6(name: string, routes: readonly string[]): Promise<void> {
  const listed = JSON.parse(
    await ip(['-j', '-6', 'route', 'show', 'dev', name, 'proto', ROUTE_PROTOCOL])
  ) as { dst?: string }[];
  const have = new Set(listed.map((r) => (r.dst?.includes('/') ? r.dst : `${r.dst}/128`)));
  const want = new Set(routes);
  for (const r of have) if (!want.has(r)) await ip(['-6', 'route', 'del', r, 'dev', name]);
  for (const r of want) {
    if (!have.has(r)) {
      await ip(['-6', 'route', 'replace', r, 'dev', name, 'proto', ROUTE_PROTOCOL]);
    }
  }
}

/**
 * Makes the NDP proxy entries inside `prefixes` exactly `proxy`; entries outside them belong to
 * someone else and stay.
 */
export async function syncProxy6(
  proxy: readonly { address: string; dev: string }[],
  inside: (address: string) => boolean
): Promise<void> {
  const listed = JSON.parse(await ip(['-j', '-6', 'neigh', 'show', 'proxy'])) as {
    dst?: string;
    dev?: string;
  }[];
  const key = (a: string, d: string) => `${a} ${d}`;
  const want = new Set(proxy.map((p) => key(p.address, p.dev)));
  const have = new Set<string>();
  for (const n of listed) {
    if (!n.dst || !n.dev || !inside(n.dst)) continue;
    have.add(key(n.dst, n.dev));
    if (!want.has(key(n.dst, n.dev))) {
      await ip(['-6', 'neigh', 'del', 'proxy', n.dst, 'dev', n.dev]);
    }
  }
  for (const p of proxy) {
    if (!have.has(key(p.address, p.dev))) {
      await ip(['-6', 'neigh', 'replace', 'proxy', p.address, 'dev', p.dev]);
    }
  }
}

/**
 * Local delivery for packets of transparent sockets: `ip rule fwmark MARK lookup TABLE` and
 * `local default dev lo` in TABLE, for IPv4 and IPv6 (https://docs.kernel.org/networking/tproxy.html),
 * added or removed; idempotent.
 */
export async function syncTransparent(on: boolean): Promise<void> {
  const mark = `0x${TRANSPARENT_MARK.toString(16)}`;
  const table = String(TRANSPARENT_TABLE);
  for (const family of ['-4', '-6'] as const) {
    const rules = JSON.parse(await ip(['-j', family, 'rule', 'show'])) as {
      fwmark?: string;
      table?: string;
    }[];
    const present = rules.some((r) => r.table === table && Number(r.fwmark) === TRANSPARENT_MARK);
    const everything = family === '-4' ? '0.0.0.0/0' : '::/0';
    if (on) {
      if (!present) {
        const prio = String(TRANSPARENT_RULE_PRIORITY);
        await ip([family, 'rule', 'add', 'fwmark', mark, 'lookup', table, 'priority', prio]);
      }
      await ip([family, 'route', 'replace', 'local', everything, 'dev', 'lo', 'table', table]);
    } else if (present) {
      await ip([family, 'rule', 'del', 'fwmark', mark, 'lookup', table]);
      await ip([family, 'route', 'flush', 'table', table]).catch(() => '');
    }
  }
}
