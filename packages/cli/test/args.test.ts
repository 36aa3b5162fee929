// SPDX-License-Identifier: MIT
/**
 * The command line as citty reads it (`src/args.ts`): every leaf refuses an option it does not
 * define (citty alone would accept it silently), in every spelling, before any call; positional
 * names are no options; global options stand anywhere; repeated options keep every value; a
 * leaf's option before the command is refused rather than misread.
 * @module
 */

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { everyValue, resolveCommand } from '../src/args.ts';
import { type CommandNode, GLOBAL_ARGS, type LeafNode } from '../src/command.ts';
import { ROOT } from '../src/index.ts';
import { cli, type FakeDaemon, fakeDaemon, isOneLineError } from './_fake-daemon.ts';

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

/** The daemon's entry, should `daemon` get as far as running (it must not). */
const NO_SERVER = {
  runServer: () => Promise.reject(new Error('the daemon ran')),
  checkServerOptions: () => {},
};

/** Every leaf with its path. */
function leaves(node: CommandNode, path: string[] = []): [string[], LeafNode][] {
  if (node.kind === 'leaf') return [[path, node]];
  return node.children.flatMap((c) => leaves(c, [...path, c.name]));
}

/** A line that runs the leaf: its path, then a word for each required positional. */
function lineOf(path: string[], node: LeafNode): string[] {
  const words = Object.values(node.args)
    .filter((a) => a.type === 'positional' && a.required !== false && a.default === undefined)
    .map(() => 'x');
  return [...path, ...words];
}

describe('an option the leaf does not define is refused (exit 2, no call)', () => {
  for (const [path, node] of leaves(ROOT)) {
    it(path.join(' '), async () => {
      for (const [bogus, named] of [
        ['--bogus-option', '--bogus-option'],
        ['--bogus-option=1', '--bogus-option'],
        ['--no-bogus-option', '--no-bogus-option'],
        ['-Z', '-Z'],
      ] as const) {
        const o = await cli([...lineOf(path, node), bogus], d.env, { server: NO_SERVER });
        assert.ok(isOneLineError(o), `${bogus}: ${JSON.stringify(o)}`);
        assert.match(
          o.stderr,
          new RegExp(
            `^start-tunnel: unknown option ${named}; usage: start-tunnel ${path.join(' ')}`
          )
        );
        assert.equal(o.code, 2);
      }
      assert.deepEqual(d.calls, []);
    });
  }

  it('a positional argument is no option: subnet add --name Home', async () => {
    const o = await cli(['subnet', 'add', '10.59.7.0/24', '--name', 'Home'], d.env);
    assert.match(o.stderr, /unknown option --name; usage: start-tunnel subnet add/);
    assert.equal(o.code, 2);
    assert.deepEqual(d.calls, []);
  });

  it('an unknown option stays unknown after a command word and before the leaf', async () => {
    for (const argv of [
      ['device', '--bogus', 'list', '10.59.7.1/24'],
      ['--bogus', 'device', 'list', '10.59.7.1/24'],
    ]) {
      const o = await cli(argv, d.env);
      assert.match(o.stderr, /unknown option --bogus; usage: start-tunnel device list/);
      assert.equal(o.code, 2);
    }
    const group = await cli(['device', '--bogus'], d.env);
    assert.match(group.stderr, /unknown option --bogus before the command; start-tunnel device/);
    assert.equal(group.code, 2);
  });

  it('a value option negated, a global given no value, a flag given one', async () => {
    for (const [argv, expected] of [
      [['subnet', 'list', '--no-format'], /unknown option --no-format/],
      [['device', 'add', 'a', 'b', '--no-public-key'], /unknown option --no-public-key/],
      [['subnet', 'list', '--tunnel'], /--tunnel needs a value/],
      [['subnet', '--datadir'], /--datadir needs a value/],
      [['device', 'show-config', 'a', 'b', '--qr=false'], /--qr takes no value/],
      [['port-forward', 'set-enabled', 'a', '--enabled='], /--enabled takes no value/],
      [['auth', 'key', 'generate'], /missing --out FILE; usage: start-tunnel auth key generate/],
    ] as const) {
      const o = await cli([...argv], d.env);
      assert.ok(isOneLineError(o), JSON.stringify(o));
      assert.match(o.stderr, expected);
      assert.equal(o.code, 2);
    }
    assert.deepEqual(d.calls, []);
  });

  it("a leaf's value option before the command is refused, not misread", async () => {
    const o = await cli(['port-forward', '--label', 'add', '80', '10.59.7.2:80'], d.env);
    assert.match(o.stderr, /the options of start-tunnel port-forward add go after it/);
    assert.equal(o.code, 2);
    assert.deepEqual(d.calls, []);
  });
});

describe('what citty reads', () => {
  it('global options anywhere: before, between and after the words', async () => {
    for (const argv of [
      ['--datadir', d.dir, '-o', 'json', 'device', 'list', '10.59.7.1/24'],
      ['device', `--datadir=${d.dir}`, 'list', '--format', 'json', '10.59.7.1/24'],
      ['device', 'list', '10.59.7.1/24', '-o', 'json', '--datadir', d.dir],
    ]) {
      d.calls.length = 0;
      const o = await cli(argv, {});
      assert.equal(o.code, 0, `${argv.join(' ')}: ${o.stderr}`);
      assert.deepEqual(d.calls, [{ method: 'device.list', params: { subnet: '10.59.7.1/24' } }]);
      assert.ok(Array.isArray(JSON.parse(o.stdout)));
    }
  });

  it("the leaf's options among its arguments, -- ends them", async () => {
    const o = await cli(
      ['port-forward', 'add', '--label', 'web', '80', '--protocol=tcp', '10.59.7.2:80'],
      d.env
    );
    assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(d.calls[0]?.params, {
      source: '80',
      target: '10.59.7.2:80',
      protocol: 'tcp',
      label: 'web',
    });
    d.calls.length = 0;
    const dashed = await cli(['subnet', 'add', '--', '10.59.7.0/24', '--format'], d.env);
    assert.equal(dashed.code, 0, dashed.stderr);
    assert.deepEqual(d.calls[0]?.params, { subnet: '10.59.7.0/24', name: '--format' });
  });

  it('every value of a repeated option, in order', () => {
    assert.deepEqual(everyValue(['--subject', 'a', 'x', '--subject=b'], 'subject', 'b'), [
      'a',
      'b',
    ]);
    assert.deepEqual(everyValue(['--subject', 'a', '--', '--subject=b'], 'subject', 'a'), ['a']);
    assert.deepEqual(everyValue([], 'subject', undefined), []);
    // `--listen --subject=b`: the word is --listen's value; citty's reading wins
    assert.deepEqual(everyValue(['--subject=a', '--listen', '--subject=b'], 'subject', 'a'), ['a']);
  });

  it("StartTunnel's word order: the subnet before the verb", () => {
    const r = resolveCommand(ROOT, ['subnet', '10.59.7.0/24', 'add', 'Home']);
    assert.deepEqual(r.path, ['subnet', 'add']);
    assert.deepEqual(r.at, [0, 2]);
  });

  it('no leaf defines an option that a global option spells', () => {
    const globals = new Set(
      Object.entries(GLOBAL_ARGS).flatMap(([name, def]) => [
        name,
        ...('alias' in def ? def.alias : []),
      ])
    );
    for (const [path, node] of leaves(ROOT)) {
      for (const [name, def] of Object.entries(node.args)) {
        if (def.type === 'positional') continue;
        const alias = 'alias' in def ? def.alias : undefined;
        for (const spelling of [name, ...(Array.isArray(alias) ? alias : alias ? [alias] : [])]) {
          assert.ok(!globals.has(spelling), `${path.join(' ')} --${spelling}`);
        }
      }
    }
  });
});
