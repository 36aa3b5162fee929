// SPDX-License-Identifier: MIT
/**
 * `procSysctl` writes dotted sysctl names as files under an injectable root.
 * @module
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FORWARDING_SYSCTLS, procSysctl } from '../src/index.ts';

describe('procSysctl()', () => {
  let root = '';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'stnat-sysctl-'));
    await mkdir(join(root, 'net', 'ipv4'), { recursive: true });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes net.ipv4.ip_forward to net/ipv4/ip_forward', async () => {
    await procSysctl(root).write('net.ipv4.ip_forward', '1');
    assert.equal(await readFile(join(root, 'net', 'ipv4', 'ip_forward'), 'utf8'), '1\n');
  });

  it('turns on IPv4 forwarding only', () => {
    assert.deepEqual(FORWARDING_SYSCTLS, { 'net.ipv4.ip_forward': '1' });
  });

  it('names the sysctl and the path when it cannot write', async () => {
    await assert.rejects(procSysctl(root).write('net.ipv6.conf.all.forwarding', '1'), (error) => {
      assert.ok(error instanceof Error);
      assert.match(
        error.message,
        /^Cannot set net\.ipv6\.conf\.all\.forwarding to "1" in ".*net\/ipv6\/conf\/all\/forwarding": /
      );
      return true;
    });
  });

  it('refuses a name that would leave the root', async () => {
    await assert.rejects(procSysctl(root).write('../../etc/passwd', 'x'), TypeError);
    await assert.rejects(procSysctl(root).write('net..x', 'x'), TypeError);
  });
});
