// SPDX-License-Identifier: MIT
/**
 * Helper process of `tun-linux.test.ts`: runs inside the test's network namespace (spawned
 * with `ip netns exec`), creates a {@link LinuxTun} there and obeys one JSON command per stdin
 * line, answering with JSON lines on stdout (`ready`, `batch`, `tun` events, `udp` datagrams
 * received, `ok`/`error` per command). It exits when stdin closes or after 60 s at most.
 *   node --conditions=source --import tsx tun-linux.helper.ts <ifname> <mtu>
 * @module
 */

import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { PacketBatch, TUN_HEADROOM } from '../src/batch.ts';
import { LinuxTun } from '../src/tun-linux.ts';

type Command =
  | { id: number; cmd: 'up' }
  | { id: number; cmd: 'mtu'; mtu: number }
  | { id: number; cmd: 'send'; host: string; port: number; sizes: number[] }
  | { id: number; cmd: 'listen'; host: string; port: number }
  | { id: number; cmd: 'write'; packets: string[] }
  | { id: number; cmd: 'stats' }
  | { id: number; cmd: 'close' };

const out = (msg: object): void => {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
};

setTimeout(() => process.exit(3), 60_000).unref();

const [name = 'sttun0', mtuText = '1420'] = process.argv.slice(2);
const tun = await LinuxTun.create(name, { mtu: Number(mtuText) });
const sockets: Socket[] = [];

tun.setEventHandler((event) => out({ ev: 'tun', event, removed: tun.removed, mtu: tun.mtu() }));
tun.setReceiver((b) => {
  const packets = [];
  for (let i = 0; i < b.count; i++) {
    packets.push({
      offset: b.offsets[i],
      slot: b.slotStart(i),
      length: b.lengths[i],
      hex: Buffer.from(b.packet(i)).toString('hex'),
    });
  }
  out({ ev: 'batch', count: b.count, slotSize: b.slotSize, packets });
});
out({ ev: 'ready', name: tun.name, index: tun.index, mtu: tun.mtu(), up: tun.isUp() });

async function run(c: Command): Promise<object> {
  switch (c.cmd) {
    case 'up':
      tun.setUp(true);
      return {};
    case 'mtu':
      tun.setMtu(c.mtu);
      return { mtu: tun.mtu(), slotSize: tun.readBatch.slotSize };
    case 'send': {
      const s = createSocket('udp4');
      sockets.push(s);
      await Promise.all(
        c.sizes.map(
          (size, i) =>
            new Promise<void>((resolve, reject) =>
              s.send(Buffer.alloc(size, i + 1), c.port, c.host, (err) =>
                err ? reject(err) : resolve()
              )
            )
        )
      );
      return {};
    }
    case 'listen': {
      const s = createSocket('udp4');
      sockets.push(s);
      s.on('message', (msg, rinfo) =>
        out({ ev: 'udp', from: rinfo.address, port: rinfo.port, hex: msg.toString('hex') })
      );
      s.bind(c.port, c.host);
      await once(s, 'listening');
      return {};
    }
    case 'write': {
      const batch = new PacketBatch(Math.max(1, c.packets.length), 2048);
      for (const hex of c.packets) {
        if (hex === '') {
          // An empty slot: must be skipped, not written.
          batch.push(new Uint8Array(0), null, TUN_HEADROOM);
        } else {
          batch.push(Buffer.from(hex, 'hex'), null, TUN_HEADROOM);
        }
      }
      tun.write(batch);
      return { stats: tun.stats };
    }
    case 'stats':
      return { stats: tun.stats, removed: tun.removed, up: tun.isUp(), mtu: tun.mtu() };
    case 'close':
      await tun.close();
      for (const s of sockets) s.close();
      return {};
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  const c = JSON.parse(line) as Command;
  try {
    out({ ev: 'ok', id: c.id, ...(await run(c)) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    out({ ev: 'error', id: c.id, message: e.message, code: e.code });
  }
  if (c.cmd === 'close') break;
}
// Nothing else may keep the process alive now: the test expects a prompt, clean exit.
process.stdin.destroy();
await tun.close();
for (const s of sockets) {
  try {
    s.close();
  } catch {
    // already closed by the close command
  }
}
