// SPDX-License-Identifier: MIT
// Child process of store.test.ts: commits subnets 10.59.<round*40+i>.1/24 … in a loop and prints
// each key once its commit resolved (i.e. was acknowledged as durable).
import { initialState, Store } from '../src/index.ts';
import { addSubnet } from '../src/model.ts';
import { testEnv } from './_env.ts';

const [dir, roundText] = process.argv.slice(2);
const round = Number(roundText);
const store = await Store.open(dir!, () => initialState(testEnv()));
for (let i = 0; i < 250; i++) {
  const key = `10.${100 + round}.${i}.1/24`;
  await store.commit(addSubnet(store.state, key, `r${round}-${i}`));
  process.stdout.write(`${key}\n`);
}
await store.close();
