// SPDX-License-Identifier: MIT
/**
 * The kernel switches forwarding needs, written straight to `/proc/sys` (no `sysctl` binary).
 * Only IPv4 forwarding is turned on: the tunnel carries IPv4, and turning on
 * `net.ipv6.conf.all.forwarding` would make the VPS ignore router advertisements and could cost
 * it its own IPv6 route. Persisting the values (sysctl.d) belongs to the installer; nothing is
 * turned back off on teardown, since other software (docker) may rely on it.
 * @module
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The sysctls an apply sets, by dotted name. */
export const FORWARDING_SYSCTLS: Readonly<Record<string, string>> = {
  'net.ipv4.ip_forward': '1',
};

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
