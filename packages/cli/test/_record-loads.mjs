// SPDX-License-Identifier: MIT
// Test kit: `node --import ./_record-loads.mjs …` appends the URL of every module the process
// resolves (static imports and `import()` alike) to the file named by ST_LOADS_FILE, through a
// resolve hook registered with `module.register` (Node ≥ 20.6, https://nodejs.org/api/module.html#customization-hooks).
// The hooks run on their own thread, which has the same environment; imported on the main
// thread, this file registers itself.
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) register(import.meta.url);

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  const file = process.env.ST_LOADS_FILE;
  if (file) appendFileSync(file, `${resolved.url}\n`);
  return resolved;
}
