// SPDX-License-Identifier: MIT
/**
 * `--help` on every command of the tree: usage line, every argument and option explained,
 * examples, nothing sent to a daemon, and exit 0. Also the group listings, `help <command>`,
 * `--version`, and the command tree itself (exactly issue 5's).
 * @module
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { CommandNode } from '../src/command.ts';
import { ROOT, VERSION } from '../src/index.ts';
import { cli } from './_fake-daemon.ts';

/** Every node with its path. */
function walk(node: CommandNode, path: string[] = []): [string[], CommandNode][] {
  const out: [string[], CommandNode][] = [[path, node]];
  if (node.kind === 'group') for (const c of node.children) out.push(...walk(c, [...path, c.name]));
  return out;
}

describe('--help', () => {
  it('the tree is issue 5 (plus port-forward update-label), issue 6, issue 14 (db, completions) and StartTunnel 1.5 (WAN, IPv6, kind, pinholes, HTTP redirect, DNS, permissions)', () => {
    const leaves = walk(ROOT)
      .filter(([, n]) => n.kind === 'leaf')
      .map(([p]) => p.join(' '));
    assert.deepEqual(leaves.sort(), [
      'auth key add',
      'auth key generate',
      'auth key list',
      'auth key public',
      'auth key remove',
      'auth reset-password',
      'auth session kill',
      'auth session list',
      'auth set-password',
      'completions',
      'daemon',
      'db apply',
      'db dump',
      'device add',
      'device dns-key',
      'device list',
      'device remove',
      'device set-auto-port-forward',
      'device set-dns-injection',
      'device set-kind',
      'device set-wan',
      'device show-config',
      'dns add',
      'dns list',
      'dns remove',
      'http-redirect list',
      'http-redirect set-enabled',
      'pinhole add',
      'pinhole list',
      'pinhole remove',
      'pinhole set-enabled',
      'pinhole update-label',
      'port-forward add',
      'port-forward list',
      'port-forward remove',
      'port-forward set-enabled',
      'port-forward update-label',
      'status',
      'subnet add',
      'subnet list',
      'subnet remove',
      'subnet set-dns',
      'subnet set-ipv6',
      'subnet set-wan',
      'wan auto',
      'wan set',
      'wan show',
      'web disable',
      'web enable',
      'web generate-certificate',
      'web get-available-ips',
      'web get-certificate',
      'web get-listen',
      'web get-root-ca',
      'web import-certificate',
      'web init',
      'web reset',
      'web set-listen',
      'web status',
    ]);
  });

  for (const [path, node] of walk(ROOT)) {
    it(`start-tunnel ${path.join(' ')} --help`.replace('  ', ' '), async () => {
      const o = await cli([...path, '--help'], { START_TUNNEL_DATADIR: '/nonexistent' });
      assert.equal(o.code, 0);
      assert.equal(o.stderr, '');
      const text = o.stdout;
      for (const line of text.split('\n')) assert.ok(line.length <= 100, `too wide: ${line}`);
      assert.match(
        text,
        new RegExp(`^Usage: start-tunnel${path.map((p) => ` ${p}`).join('')}( |$)`, 'm')
      );
      assert.match(text, /^Examples:\n {2}start-tunnel /m);
      assert.match(text, /--format, -o FORMAT/);
      assert.match(text, /--datadir DIR/);
      if (node.kind === 'leaf') {
        for (const [name, def] of Object.entries(node.args)) {
          const shown =
            def.type === 'positional' ? (def.valueHint ?? name.toUpperCase()) : `--${name}`;
          assert.match(
            text,
            new RegExp(`^ {2}${shown.replace(/[[\]]/g, '\\$&')}\\b.* \\w`, 'm'),
            shown
          );
        }
        for (const example of node.examples)
          assert.ok(example.startsWith(`start-tunnel ${path.join(' ')}`));
      } else {
        for (const child of node.children)
          assert.match(text, new RegExp(`^ {2}${child.name}\\b`, 'm'));
      }
    });
  }

  it('-h, `help <command>` and a bare group show the same help', async () => {
    const long = await cli(['device', 'add', '--help']);
    assert.equal((await cli(['device', 'add', '-h'])).stdout, long.stdout);
    assert.equal((await cli(['help', 'device', 'add'])).stdout, long.stdout);
    assert.equal((await cli(['device', 'add', '10.59.7.1/24', '-h'])).stdout, long.stdout);
    const group = await cli(['device']);
    assert.equal(group.code, 0);
    assert.equal(group.stdout, (await cli(['device', '--help'])).stdout);
    assert.match(group.stdout, /^ {2}show-config +Print a device's WireGuard config/m);
    assert.equal((await cli([])).stdout, (await cli(['--help'])).stdout);
  });

  it('usage lines show the arguments as issue 5 writes them', async () => {
    const usage = async (argv: string[]) =>
      /^Usage: (.*(?:\n {20,}.*)*)/m
        .exec((await cli([...argv, '--help'])).stdout)?.[1]
        ?.replace(/\n +/g, ' ');
    assert.equal(
      await usage(['device', 'add']),
      'start-tunnel device add <SUBNET> <NAME> [IP] [--public-key KEY] [--kind client|server]'
    );
    assert.equal(
      await usage(['device', 'show-config']),
      'start-tunnel device show-config <SUBNET> <IP> [--endpoint HOST[:PORT]] [--qr]'
    );
    assert.equal(
      await usage(['port-forward', 'add']),
      'start-tunnel port-forward add <SOURCE> <TARGET> [--protocol tcp|udp|both] [--label TEXT] ' +
        '[--count N] [--sni HOST] [--fallback] [--proxy-protocol]'
    );
    assert.equal(
      await usage(['port-forward', 'set-enabled']),
      'start-tunnel port-forward set-enabled <SOURCE> [--enabled|--no-enabled] [--hostname HOST]'
    );
    assert.equal(
      await usage(['port-forward', 'update-label']),
      'start-tunnel port-forward update-label <SOURCE> [LABEL] [--hostname HOST]'
    );
    assert.equal(
      await usage(['web', 'generate-certificate']),
      'start-tunnel web generate-certificate [SUBJECT...]'
    );
    assert.equal(
      await usage(['auth', 'session', 'kill']),
      'start-tunnel auth session kill <ID...>'
    );
    assert.equal(
      await usage(['auth', 'key', 'add']),
      'start-tunnel auth key add <NAME> <KEY|@FILE>'
    );
    assert.equal(
      await usage(['web', 'init']),
      'start-tunnel web init [--listen IP:PORT] [--subject NAME] [--yes]'
    );
    assert.equal(
      await usage(['subnet', 'set-wan']),
      'start-tunnel subnet set-wan <SUBNET> [--wan-ip IP]'
    );
    assert.equal(
      await usage(['device', 'set-kind']),
      'start-tunnel device set-kind <SUBNET> <IP> --kind client|server'
    );
    assert.equal(
      await usage(['pinhole', 'add']),
      'start-tunnel pinhole add <GUA> <EXTERNAL_PORT> [--internal-port PORT] [--label TEXT] ' +
        '[--count N]'
    );
    assert.equal(
      await usage(['pinhole', 'set-enabled']),
      'start-tunnel pinhole set-enabled <GUA> <EXTERNAL_PORT> [--enabled|--no-enabled]'
    );
    assert.equal(
      await usage(['http-redirect', 'set-enabled']),
      'start-tunnel http-redirect set-enabled <IP> [--enabled|--no-enabled]'
    );
    assert.equal(
      await usage(['subnet', 'set-dns']),
      'start-tunnel subnet set-dns <SUBNET> --mode default|device|custom [--device-ip IP] ' +
        '[--server IP[:PORT]]'
    );
    assert.equal(
      await usage(['dns', 'add']),
      'start-tunnel dns add <NAME> <VALUE> --type A|AAAA|CNAME|TXT [--ttl SECONDS]'
    );
    assert.equal(
      await usage(['daemon']),
      'start-tunnel daemon [--datadir DIR] [--interface NAME] [--listen-port N] [--wan-ip IP]'
    );
  });

  it('--version and -V print the package version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    assert.equal(VERSION, pkg.version);
    for (const flag of ['--version', '-V']) {
      const o = await cli([flag]);
      assert.equal(o.code, 0);
      assert.equal(o.stdout, `start-tunnel ${pkg.version}\n`);
    }
  });
});
