#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// wireguard-ts: a userspace WireGuard driven by wg(8) and wg-quick(8). Needs `npm run build`.
import { main } from '../dist/main.js';

await main(process.argv.slice(2));
