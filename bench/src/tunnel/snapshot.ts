// SPDX-License-Identifier: MIT
/**
 * wireguard-ts built from one commit of `packages/wg-core`, apart from the working tree, so a
 * baseline is measured on exactly the code it names while wg-core changes in the checkout:
 * `git archive <commit> packages/wg-core tsconfig.base.json` unpacked into a cache directory
 * (`$START_TUNNEL_BENCH_CACHE`, default /var/cache/start-tunnel-bench), the workspace's
 * node_modules linked beside it, then the same two build steps as the workspace: `tsc -p
 * packages/wg-core` and the package's install script (the native addon through node-gyp).
 * @module
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../../test/_lab.ts';

export interface Snapshot {
  commit: string;
  bin: string;
}

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
}

/** Builds (once, cached by commit) wg-core at `rev` and returns its `wireguard-ts` command. */
export function wgCoreSnapshot(rev: string): Snapshot {
  // the last commit at or before `rev` that touched wg-core: one build serves every later commit
  const at = git(['rev-parse', '--verify', `${rev}^{commit}`]);
  const commit = git(['log', '-1', '--format=%H', at, '--', 'packages/wg-core']) || at;
  const cache = process.env.START_TUNNEL_BENCH_CACHE || '/var/cache/start-tunnel-bench';
  const dir = join(cache, `wg-core-${commit.slice(0, 12)}`);
  const pkg = join(dir, 'packages/wg-core');
  const bin = join(pkg, 'bin/wireguard-ts.js');
  if (
    existsSync(join(pkg, 'dist/main.js')) &&
    existsSync(join(pkg, 'build/Release/wg_core.node'))
  ) {
    return { commit, bin };
  }
  console.log(`building wg-core ${commit.slice(0, 12)} in ${dir}`);
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const tar = execFileSync('git', ['archive', commit, 'packages/wg-core', 'tsconfig.base.json'], {
    cwd: ROOT,
    maxBuffer: 256 << 20,
  });
  execFileSync('tar', ['-x', '-C', tmp], { input: tar });
  symlinkSync(join(ROOT, 'node_modules'), join(tmp, 'node_modules'));
  const tmpPkg = join(tmp, 'packages/wg-core');
  execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', tmpPkg], { stdio: 'inherit' });
  execFileSync('npm', ['run', 'install'], { cwd: tmpPkg, stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { commit, bin };
}
