// SPDX-License-Identifier: MIT
// The package's install script: builds the native addon (binding.gyp) with npm's bundled
// node-gyp, offline. node-gyp downloads Node's headers unless it is told where they are, so
// unless npm passes a nodedir (npm_config_nodedir, from ~/.npmrc) this points it at the running
// node's own prefix, which holds include/node for Debian's /usr and for the official tarballs.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const args = ['rebuild'];
if (!process.env.npm_config_nodedir) {
  const prefix = resolve(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
}
const gyp = process.env.npm_config_node_gyp;
const r = gyp
  ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit' });
if (r.error) console.error(`Cannot run node-gyp: ${r.error.message}`);
process.exit(r.status ?? 1);
