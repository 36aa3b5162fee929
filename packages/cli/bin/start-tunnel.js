#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// start-tunnel: the command line of the start-tunnel server. Needs `npm run build`.
import { main } from '../dist/main.js';

await main(process.argv.slice(2));
