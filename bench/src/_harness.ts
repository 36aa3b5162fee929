// SPDX-License-Identifier: MIT
// Tiny benchmark harness: warm up, run for a fixed time, report ops/s (and Mbit/s when sized).

export interface Result {
  name: string;
  opsPerSec: number;
  mbitPerSec?: number;
}

export const results: Result[] = [];

/** Runs `fn` (which performs `opsPerCall` operations) for about `ms` milliseconds. */
export function bench(
  name: string,
  fn: () => void,
  opsPerCall = 1,
  bytesPerOp = 0,
  ms = 1500
): Result {
  const warm = performance.now() + Math.min(300, ms / 4);
  while (performance.now() < warm) fn();
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let k = 0; k < 16; k++) fn();
    calls += 16;
    now = performance.now();
  }
  const opsPerSec = (calls * opsPerCall * 1000) / (now - start);
  const result: Result = { name, opsPerSec };
  if (bytesPerOp > 0) result.mbitPerSec = (opsPerSec * bytesPerOp * 8) / 1e6;
  results.push(result);
  const rate =
    opsPerSec >= 1e6 ? `${(opsPerSec / 1e6).toFixed(2)}M` : `${(opsPerSec / 1e3).toFixed(1)}k`;
  const mbit = result.mbitPerSec ? `  ${result.mbitPerSec.toFixed(0)} Mbit/s` : '';
  console.log(`${name.padEnd(52)} ${rate.padStart(8)} ops/s${mbit}`);
  return result;
}

export function section(title: string): void {
  console.log(`\n## ${title}`);
}
