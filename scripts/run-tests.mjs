#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Collects test files and runs them under node's test runner (Node 20 does not expand globs).
//   node scripts/run-tests.mjs [--unit] [path-filter...]
// --unit: only package unit tests (no namespace labs from test/).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('--'));

function walk(dir, out) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

const files = [];
for (const pkg of readdirSync(join(root, 'packages')).sort())
  walk(join(root, 'packages', pkg, 'test'), files);
if (!unitOnly) walk(join(root, 'test'), files);
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ['--conditions=source', '--import', 'tsx', '--test', '--test-concurrency=1', ...selected],
  { cwd: root, stdio: 'inherit' }
);
process.exit(r.status ?? 1);
