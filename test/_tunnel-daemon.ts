// SPDX-License-Identifier: MIT
// Runs the start-tunnel daemon for the namespace labs (inside `ip netns exec`):
//   node --conditions=source --import tsx test/_tunnel-daemon.ts DATADIR [WAN_IP]
// The same entry point as `start-tunnel daemon`, without the CLI around it.
import { runDaemon } from '@start-tunnel/tunnel';

const [dataDir, wanIp] = process.argv.slice(2);
await runDaemon({
  dataDir: dataDir!,
  interface: 'wg-start-tunnel',
  listenPort: 51820,
  apiListen: '127.0.59.60:5960',
  ...(wanIp ? { wanIp } : {}),
});
