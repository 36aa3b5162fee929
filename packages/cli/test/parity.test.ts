// SPDX-License-Identifier: MIT
/**
 * StartTunnel's command shapes beside ours: `subnet <SUBNET> add|remove`, `port-forward add
 * --count`, `db dump` / `db apply` (against the real server) and `completions` (the bash script
 * run by a child bash).
 * @module
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { RunningServer } from '@start-tunnel/server';
import { group, leaf } from '../src/command.ts';
import { completionScript, completionTable } from '../src/commands/completions.ts';
import { withCount } from '../src/commands/port-forward.ts';
import { cli, type FakeDaemon, fakeDaemon, isOneLineError, tempDir } from './_fake-daemon.ts';
import { scriptedTerminal, startTestServer } from './_web-daemon.ts';

describe('StartTunnel shapes on the fake daemon', () => {
  let d: FakeDaemon;
  before(async () => {
    d = await fakeDaemon();
  });
  after(async () => {
    await d.stop();
  });
  beforeEach(() => {
    d.calls.length = 0;
  });

  const cases: [string[], string, unknown][] = [
    [
      ['subnet', '10.59.7.0/24', 'add', 'Home'],
      'subnet.add',
      { subnet: '10.59.7.0/24', name: 'Home' },
    ],
    [['subnet', '10.59.7.1/24', 'remove'], 'subnet.remove', { subnet: '10.59.7.1/24' }],
    [
      ['port-forward', 'add', '27015', '10.59.7.3:27015', '--count', '16'],
      'port-forward.add',
      { source: '27015-27030', target: '10.59.7.3:27015' },
    ],
    [
      ['port-forward', 'add', '203.0.113.5:443', '10.59.7.2:443', '--count', '1'],
      'port-forward.add',
      { source: '203.0.113.5:443', target: '10.59.7.2:443' },
    ],
  ];
  for (const [argv, method, params] of cases) {
    it(`${argv.join(' ')} → ${method}`, async () => {
      const o = await cli(argv, d.env);
      assert.equal(o.code, 0, o.stderr);
      assert.deepEqual(d.calls, [{ method, params }]);
    });
  }

  it('refuses a bad --count in one line naming it, before calling the daemon', async () => {
    for (const [count, source] of [
      ['0', '80'],
      ['x', '80'],
      ['2', '80-81'],
      ['100', '65500'],
    ] as const) {
      const o = await cli(['port-forward', 'add', source, '10.59.7.2:80', '--count', count], d.env);
      assert.equal(o.code, 2, o.stderr);
      assert.ok(isOneLineError(o) && o.stderr.includes('--count'), o.stderr);
    }
    assert.equal(d.calls.length, 0);
    assert.equal(withCount('203.0.113.5:8000', '3'), '203.0.113.5:8000-8002');
  });

  it('a subnet word without a verb is still an unknown command', async () => {
    const o = await cli(['subnet', '10.59.7.0/24', 'list'], d.env);
    assert.equal(o.code, 2);
    assert.match(o.stderr, /unknown command "10\.59\.7\.0\/24"/);
    const help = await cli(['subnet', '--help'], d.env);
    assert.match(help.stdout, /start-tunnel subnet <SUBNET> add\|remove/);
  });
});

describe('db dump and db apply against the real server', () => {
  let dir: string;
  let daemon: RunningServer;
  let env: Record<string, string>;
  before(async () => {
    dir = tempDir();
    daemon = await startTestServer(dir);
    env = { START_TUNNEL_DATADIR: dir };
    const o = await cli(
      ['device', 'add', Object.keys(daemon.tunnel.state.subnets)[0]!, 'phone'],
      env
    );
    assert.equal(o.code, 0, o.stderr);
  });
  after(async () => {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('dumps redacted, at a pointer, and with secrets for root', async () => {
    const o = await cli(['db', 'dump', '--format', 'json'], env);
    assert.equal(o.code, 0, o.stderr);
    const doc = JSON.parse(o.stdout);
    assert.equal(doc.server.privateKey, '<redacted>');
    assert.ok(!o.stdout.includes(daemon.tunnel.state.server.privateKey));
    const wan = await cli(['db', 'dump', '-p', '/wan'], env);
    assert.equal(wan.stdout, `${JSON.stringify({ override: null }, null, 2)}\n`);
    const secret = await cli(
      ['db', 'dump', '--include-secrets', '-p', '/server/privateKey', '--format', 'json'],
      env
    );
    assert.equal(JSON.parse(secret.stdout), daemon.tunnel.state.server.privateKey);
    const missing = await cli(['db', 'dump', '-p', '/nope'], env);
    assert.equal(missing.code, 6);
    assert.ok(isOneLineError(missing) && missing.stderr.includes('pointer'), missing.stderr);
  });

  it('applies a patch from the argument, a file or stdin, and a whole edited dump', async () => {
    const key = Object.keys(daemon.tunnel.state.subnets)[0]!;
    const ptr = `/subnets/${key.replace('/', '~1')}/name`;
    const one = await cli(
      ['db', 'apply', JSON.stringify([{ op: 'replace', path: ptr, value: 'Lab' }])],
      env
    );
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, 'Applied: the state changed\n');
    assert.equal(daemon.tunnel.state.subnets[key]!.name, 'Lab');

    const file = join(dir, 'patch.json');
    writeFileSync(
      file,
      JSON.stringify([{ op: 'replace', path: '/wan/override', value: '198.51.100.7' }])
    );
    assert.equal((await cli(['db', 'apply', '--file', file], env)).code, 0);
    assert.equal(daemon.tunnel.state.wan.override, '198.51.100.7');

    const dump = JSON.parse((await cli(['db', 'dump', '--format', 'json'], env)).stdout);
    dump.wan.override = null;
    const terminal = scriptedTerminal([], { isTTY: false, stdin: JSON.stringify(dump) });
    const whole = await cli(['db', 'apply', '--format', 'json'], env, { terminal });
    assert.equal(whole.code, 0, whole.stderr);
    assert.deepEqual(JSON.parse(whole.stdout), { changed: true });
    assert.equal(daemon.tunnel.state.wan.override, null);
    assert.ok(daemon.tunnel.state.server.privateKey !== '<redacted>');
  });

  it('refuses bad input in one line naming the field, and changes nothing', async () => {
    const before = daemon.tunnel.state;
    const bad = await cli(['db', 'apply', '[{"op":"replace","path":"/forwards","value":[]}]'], env);
    assert.equal(bad.code, 38);
    assert.ok(isOneLineError(bad) && bad.stderr.includes('/forwards'), bad.stderr);
    const notJson = await cli(['db', 'apply', '{oops'], env);
    assert.equal(notJson.code, 2);
    assert.ok(isOneLineError(notJson) && notJson.stderr.includes('PATCH'), notJson.stderr);
    assert.equal(daemon.tunnel.state, before);
  });
});

describe('completions', () => {
  it('come from the command tree, aliases and options included', () => {
    const root = group('x', {
      description: 'x',
      children: [
        group('alpha', {
          description: 'a',
          aliases: ['al'],
          children: [
            leaf('beta', {
              description: 'b',
              args: { gamma: { type: 'string', alias: ['g'] } },
              examples: [],
              run: async () => {},
            }),
          ],
        }),
      ],
    });
    const table = completionTable(root);
    assert.deepEqual(
      table.map((e) => e.paths),
      [[''], ['alpha', 'al'], ['alpha beta', 'al beta']]
    );
    assert.deepEqual(table[2]!.words, ['--gamma', '-g', '--help']);
  });

  /** What bash's completion offers for `words` (the last word being completed). */
  function complete(script: string, words: string[]): string[] {
    const file = join(tempDir(), 'completion.bash');
    writeFileSync(file, script);
    const program = [
      `source ${file}`,
      'complete -p start-tunnel',
      `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})`,
      `COMP_CWORD=${words.length - 1}`,
      '_start_tunnel',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash expansion, not a template
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join('\n');
    const out = execFileSync('bash', ['--norc', '--noprofile', '-c', program], {
      encoding: 'utf8',
    });
    const [registered, ...offered] = out.trim().split('\n');
    assert.equal(registered, 'complete -F _start_tunnel start-tunnel');
    return offered.filter(Boolean);
  }

  it('bash completes commands, aliases, options and their choices', async () => {
    const o = await cli(['completions', 'bash'], {});
    assert.equal(o.code, 0, o.stderr);
    const script = o.stdout;
    assert.deepEqual(complete(script, ['start-tunnel', 'su']), ['subnet']);
    assert.deepEqual(complete(script, ['start-tunnel', '--format', 'json', 'd']), [
      'device',
      'dns',
      'db',
      'daemon',
    ]);
    assert.deepEqual(complete(script, ['start-tunnel', 'pinhole', 's']), ['set-enabled']);
    assert.deepEqual(complete(script, ['start-tunnel', 'device', 'set-kind', 'a', 'b', '--k']), [
      '--kind',
    ]);
    assert.deepEqual(complete(script, ['start-tunnel', 'device', 'add', '--kind', '']), [
      'client',
      'server',
    ]);
    assert.deepEqual(complete(script, ['start-tunnel', 'db', '']), ['dump', 'apply']);
    assert.deepEqual(complete(script, ['start-tunnel', 'port-forward', 'add', '80', 'x', '--c']), [
      '--count',
    ]);
    assert.deepEqual(complete(script, ['start-tunnel', 'port-forward', 'add', '--protocol', '']), [
      'tcp',
      'udp',
      'both',
    ]);
    assert.deepEqual(complete(script, ['start-tunnel', 'web', 'get-']), [
      'get-listen',
      'get-available-ips',
      'get-certificate',
      'get-root-ca',
    ]);
    assert.deepEqual(complete(script, ['start-tunnel', 'completions', '']), [
      'bash',
      'zsh',
      'fish',
      '--help',
    ]);
    assert.deepEqual(complete(script, ['start-tunnel', '-o', 'j']), ['json', 'json-pretty']);
  });

  it('zsh wraps the bash script, fish has the same table, a bad shell is refused', async () => {
    const zsh = await cli(['completions', 'zsh'], {});
    assert.match(zsh.stdout, /^#compdef start-tunnel\n/);
    assert.ok(
      zsh.stdout.includes('bashcompinit') && zsh.stdout.includes('complete -F _start_tunnel')
    );
    const fish = await cli(['completions', 'fish'], {});
    assert.match(fish.stdout, /complete -c start-tunnel -f -a/);
    assert.ok(fish.stdout.includes("case 'port-forward add'"));
    const bad = await cli(['completions', 'tcsh'], {});
    assert.equal(bad.code, 2);
    assert.ok(isOneLineError(bad) && bad.stderr.includes('SHELL'), bad.stderr);
    assert.equal(
      completionScript('bash', group('x', { description: '', children: [] })).includes(
        'complete -F'
      ),
      true
    );
  });
});
