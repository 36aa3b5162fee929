// SPDX-License-Identifier: MIT
/**
 * The kernel switches forwarding needs, written straight to `/proc/sys` (no `sysctl` binary).
 * IPv4 forwarding is always on; IPv6 forwarding only while a subnet has an IPv6 prefix, and then
 * each WAN interface first gets `accept_ra = 2`, since a forwarding interface otherwise ignores
 * router advertisements and a SLAAC VPS would lose its own IPv6 default route
 * (https://docs.kernel.org/networking/ip-sysctl.html, `accept_ra`). Persisting the values (sysctl.d) belongs to the installer; nothing is
 * turned back off on teardown, since other software (docker) may rely on it.
 * @module
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatConfig } from './state.ts';

/** The sysctls an apply sets, by dotted name. */
export const FORWARDING_SYSCTLS: Readonly<Record<string, string>> = {
  'net.ipv4.ip_forward': '1',
};

/** The sysctls an apply of `config` sets, in order. */
export function forwardingSysctls(config: NatConfig): [string, string][] {
  const out: [string, string][] = Object.entries(FORWARDING_SYSCTLS);
  if (!config.subnets.some((s) => s.ipv6 !== null)) return out;
  // sysctl names are dotted: an interface with a dot in its name (a VLAN) cannot be written so
  for (const wan of config.wanInterfaces) {
    if (!wan.includes('.')) out.push([`net.ipv6.conf.${wan}.accept_ra`, '2']);
  }
  out.push(['net.ipv6.conf.all.forwarding', '1']);
  return out;
}

export interface Sysctl {
  /** Sets a sysctl by dotted name, e.g. `net.ipv4.ip_forward`. */
  write(name: string, value: string): Promise<void>;
}

/** Writes sysctls as files under `root` (`/proc/sys` by default; a temp directory in tests). */
export function procSysctl(root = '/proc/sys'): Sysctl {
  return {
    async write(name, value) {
      if (!/^[a-z0-9_]+(\.[a-z0-9_-]+)+$/.test(name)) {
        throw new TypeError(`Invalid sysctl name ${JSON.stringify(name)}`);
      }
      const path = join(root, ...name.split('.'));
      try {
        await writeFile(path, `${value}\n`);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`Cannot set ${name} to "${value}" in "${path}": ${reason}`, {
          cause: error,
        });
      }
    },
  };
}
