// SPDX-License-Identifier: MIT
/**
 * The real runner (`execaNftRunner`) against a stand-in nft script, and the classification of
 * nft failures into errors a user can act on (`nftFailure`).
 * @module
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execaNftRunner, NftError } from '../src/index.ts';
import { nftFailure } from '../src/nft.ts';

describe('execaNftRunner()', () => {
  let dir = '';
  let script = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stnat-runner-'));
    script = join(dir, 'nft');
    // prints its arguments, the file given to -f and $PREFIXED; exits with $NFT_EXIT (unset
    // reads as 0)
    await writeFile(
      script,
      [
        '#!/bin/sh',
        'echo "args: $*"',
        'echo "prefixed: $PREFIXED"',
        'while [ $# -gt 0 ]; do if [ "$1" = -f ]; then echo "file: $2"; cat "$2"; echo; fi; shift; done',
        'echo "to stderr" >&2',
        'exit $((NFT_EXIT + 0))',
        '',
      ].join('\n')
    );
    await chmod(script, 0o755);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs nft with the arguments and returns its output', async () => {
    const result = await execaNftRunner({ nft: script }).run(['-j', 'list', 'tables']);
    assert.equal(result.exitCode, 0);
    assert.match(result.stdout, /^args: -j list tables\n/);
    assert.equal(result.stderr, 'to stderr\n');
  });

  it('hands the input of -f - over through a private file it removes afterwards', async () => {
    const result = await execaNftRunner({ nft: script }).run(['-j', '-f', '-'], '{"nftables":[]}');
    const file = /file: (.+)\n/.exec(result.stdout)?.[1];
    assert.ok(file !== undefined && file !== '-', result.stdout);
    assert.match(result.stdout, /\{"nftables":\[\]\}/);
    assert.equal(existsSync(file), false);
  });

  it('runs behind a prefix command', async () => {
    const runner = execaNftRunner({ prefix: ['env', 'PREFIXED=yes'], nft: script });
    assert.match((await runner.run(['-v'])).stdout, /prefixed: yes/);
  });

  it('passes a failing exit code through', async () => {
    const runner = execaNftRunner({ prefix: ['env', 'NFT_EXIT=3'], nft: script });
    assert.equal((await runner.run(['-v'])).exitCode, 3);
  });

  it('says how to install nft when the binary is missing', async () => {
    const runner = execaNftRunner({ nft: join(dir, 'no-such-nft') });
    await assert.rejects(runner.run(['-v']), (error) => {
      assert.ok(error instanceof NftError);
      assert.equal(error.code, 'NFT_MISSING');
      assert.match(error.message, /apt-get install nftables/);
      assert.doesNotMatch(error.message, /\.$/);
      return true;
    });
  });
});

describe('nftFailure()', () => {
  const fail = (stderr: string, exitCode = 1) =>
    nftFailure('apply the ruleset', { exitCode, stdout: '', stderr });

  it('spots nft missing behind a prefix such as ip netns exec', () => {
    const error = fail('exec of "nft" failed: No such file or directory\n', 255);
    assert.equal(error.code, 'NFT_MISSING');
    assert.match(error.message, /apt-get install nftables/);
  });

  it('keeps only the error lines of nft, without the source echo and carets', () => {
    const error = fail('/dev/stdin:1:1-4: Error: syntax error\nadd foo\n^^^^\n');
    assert.equal(error.code, 'REJECTED');
    assert.equal(
      error.message,
      'Cannot apply the ruleset: nft rejected it and nothing was changed (nft said "/dev/stdin:1:1-4: Error: syntax error")'
    );
  });

  it('falls back to the exit code when nft said nothing', () => {
    assert.match(fail('', 2).message, /nft exited with code 2/);
  });

  it('tells a kernel without nf_tables from a refused rule', () => {
    assert.equal(
      fail('Error: cache initialization failed: Protocol not supported\n').code,
      'NO_NF_TABLES'
    );
    assert.equal(
      fail('Error: Could not process rule: No such file or directory\n').code,
      'REJECTED'
    );
  });
});
