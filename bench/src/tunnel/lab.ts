// SPDX-License-Identifier: MIT
/**
 * The namespace topology of `npm run bench:tunnel`: a client namespace and a server namespace
 * joined by one veth (outer 10.59.0.1 ↔ 10.59.0.2), a WireGuard daemon in each (tunnel
 * 10.59.1.1 ↔ 10.59.1.2, MTU 1420), configured with stock `wg` over UAPI. The daemons are the
 * three implementations under test: wireguard-go 0.0.20231211 (bookworm-backports, unpacked beside
 * Debian's by `scripts/wireguard-go-other.sh`), Debian 12's wireguard-go 0.0.20220316 and
 * wireguard-ts. Everything else (namespaces, processes, sockets, cleanup, the lab lock) is the lab
 * kit of `test/_lab.ts`.
 *
 * A daemon's CPU time comes from `/proc/<pid>/stat` (utime + stime, fields 14 and 15 of proc(5),
 * all threads of the process) and its memory from `VmRSS` in `/proc/<pid>/status`. `ip netns exec`
 * execs the command in place, so the pid of the spawned child is the daemon's.
 * @module
 */

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Bg,
  check,
  type Lab,
  ROOT,
  SOCK_DIR,
  WG_TS_BIN,
  waitFor,
} from '../../../test/_lab.ts';

export type Impl = 'go' | 'go-old' | 'ts';

export const IMPL_LABEL: Record<Impl, string> = {
  go: 'wireguard-go 0.0.20231211',
  'go-old': 'wireguard-go 0.0.20220316 (Debian 12)',
  ts: 'wireguard-ts',
};

export const ADDR = {
  clientOuter: '10.59.0.1',
  serverOuter: '10.59.0.2',
  client: '10.59.1.1',
  server: '10.59.1.2',
} as const;
export const LISTEN_PORT = 51820;
export const MTU = 1420;

/** Paths of the two wireguard-go binaries and the wireguard-ts command. */
export interface Binaries {
  go: string;
  goOld: string;
  goVersion: string;
  goOldVersion: string;
  /** The `wireguard-ts` command (the workspace's, or a snapshot's: `snapshot.ts`). */
  ts: string;
}

function versionOf(bin: string): string {
  try {
    const out = execFileSync(bin, ['--version'], { encoding: 'utf8' });
    return /v?(\d+\.\d+\.\d+)/.exec(out)?.[1] ?? out.split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}

/**
 * Finds both wireguard-go generations: Debian's `/usr/bin/wireguard-go` and the backports one,
 * fetched and unpacked (once, cached) by `scripts/wireguard-go-other.sh`.
 */
export async function findBinaries(ts = WG_TS_BIN): Promise<Binaries> {
  const goOld = '/usr/bin/wireguard-go';
  if (!existsSync(goOld)) throw new Error(`${goOld} is missing: apt-get install wireguard-go`);
  const out = await check('bash', [join(ROOT, 'scripts/wireguard-go-other.sh')], {
    timeoutMs: 180_000,
  });
  const go = out.trim().split('\n').pop()!;
  const goVersion = versionOf(go);
  const goOldVersion = versionOf(goOld);
  if (goVersion === goOldVersion) {
    throw new Error(`${go} is ${goVersion}, the same as ${goOld}: expected the backports build`);
  }
  return { go, goOld, goVersion, goOldVersion, ts };
}

/** utime + stime of a process, in seconds (proc(5): fields 14 and 15, in clock ticks). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Resident set size of a process, in bytes (`VmRSS` of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** A running daemon: its process, interface name and UAPI socket. */
export interface Daemon {
  impl: Impl;
  ns: string;
  ifname: string;
  bg: Bg;
  pid: number;
  sock: string;
}

/**
 * The two namespaces of one lab and a counter for unique interface names (UAPI sockets live in
 * the shared /var/run/wireguard, so names must differ across namespaces and runs).
 */
export class Topology {
  readonly lab: Lab;
  readonly bins: Binaries;
  readonly client: string;
  readonly server: string;
  readonly tag: string;
  #next = 0;

  constructor(lab: Lab, bins: Binaries, tag: string) {
    this.lab = lab;
    this.bins = bins;
    this.tag = tag;
    this.client = `stb-c-${tag}`;
    this.server = `stb-s-${tag}`;
  }

  async setup(): Promise<void> {
    await this.lab.addNamespace(this.client);
    await this.lab.addNamespace(this.server);
    await this.lab.veth(this.client, 'stbc0', this.server, 'stbs0');
    await this.lab.addr(this.client, 'stbc0', `${ADDR.clientOuter}/24`);
    await this.lab.addr(this.server, 'stbs0', `${ADDR.serverOuter}/24`);
  }

  /** Starts `impl` in `ns` in the foreground and waits until `wg show` answers on its socket. */
  async start(impl: Impl, ns: string, env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
    const ifname = `stb${this.tag}${this.#next++}`.slice(0, 15);
    this.lab.ifnames.add(ifname);
    const fullEnv = { ...process.env, LOG_LEVEL: 'error', ...env };
    const bg =
      impl === 'ts'
        ? this.lab.spawnIn(
            ns,
            `ts ${ifname}`,
            process.execPath,
            [this.bins.ts, '-f', ifname],
            fullEnv
          )
        : this.lab.spawnIn(
            ns,
            `${impl} ${ifname}`,
            impl === 'go' ? this.bins.go : this.bins.goOld,
            ['-f', ifname],
            fullEnv
          );
    const sock = join(SOCK_DIR, `${ifname}.sock`);
    const ready = await waitFor(async () => {
      if (bg.exited || !existsSync(sock)) return bg.exited;
      return (await this.lab.exec(ns, 'wg', ['show', ifname], { timeoutMs: 3000 })).code === 0;
    }, 20_000);
    if (!ready || bg.exited || bg.child.pid === undefined) {
      throw new Error(`${impl} ${ifname} did not become ready:\n${bg.tail()}`);
    }
    return { impl, ns, ifname, bg, pid: bg.child.pid, sock };
  }

  async stop(d: Daemon): Promise<void> {
    await d.bg.stop(3000);
    this.lab.procs.delete(d.bg);
    rmSync(d.sock, { force: true });
  }

  /** Address, MTU and link up on a daemon's interface. */
  async address(d: Daemon, cidr: string): Promise<void> {
    await this.lab.addr(d.ns, d.ifname, cidr);
    await this.lab.ip('-n', d.ns, 'link', 'set', d.ifname, 'mtu', String(MTU), 'up');
  }

  /**
   * A server daemon (`serverImpl`) and a client daemon (`clientImpl`), keyed, addressed, and
   * past their first handshake (the client pings through the tunnel until it answers).
   */
  async pair(serverImpl: Impl, clientImpl: Impl): Promise<{ server: Daemon; client: Daemon }> {
    const server = await this.start(serverImpl, this.server);
    const client = await this.start(clientImpl, this.client);
    const sk = await this.lab.genkey();
    const ck = await this.lab.genkey();
    await this.lab.setconf(
      this.server,
      server.ifname,
      `[Interface]\nPrivateKey = ${sk.privateKey}\nListenPort = ${LISTEN_PORT}\n\n` +
        `[Peer]\nPublicKey = ${ck.publicKey}\nAllowedIPs = ${ADDR.client}/32\n`
    );
    await this.lab.setconf(
      this.client,
      client.ifname,
      `[Interface]\nPrivateKey = ${ck.privateKey}\n\n` +
        `[Peer]\nPublicKey = ${sk.publicKey}\nAllowedIPs = ${ADDR.server}/32\n` +
        `Endpoint = ${ADDR.serverOuter}:${LISTEN_PORT}\n`
    );
    await this.address(server, `${ADDR.server}/24`);
    await this.address(client, `${ADDR.client}/24`);
    const up = await waitFor(
      async () =>
        (await this.lab.ping(this.client, ADDR.server, { count: 1, wait: 1 })).received > 0,
      15_000
    );
    if (!up) {
      throw new Error(
        `no handshake between ${clientImpl} and ${serverImpl}:\n${server.bg.tail()}\n${client.bg.tail()}`
      );
    }
    return { server, client };
  }
}
