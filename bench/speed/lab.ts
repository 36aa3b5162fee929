// SPDX-License-Identifier: MIT
/**
 * Ad-hoc end-to-end lab for the speed work (bench/README.md, "Speed work, step by step") until
 * `npm run bench:tunnel` lands: for each server kind, a client namespace running the modern
 * wireguard-go and a server namespace running the kind under test, joined by a veth; iperf3 TCP
 * through the tunnel in both directions, alternating kinds round by round; medians printed with
 * the load average. Holds the lab lock, cleans up namespaces, processes and sockets.
 *
 * Usage (root): node --conditions=source --import tsx bench/speed/lab.ts [rounds] [seconds]
 *   KINDS=go,ts,ts-nooff,ts-tun,ts-udp (WIREGUARD_TS_OFFLOAD=1, 0, tun, udp)
 *   WG_GO_MODERN=/path/to/wireguard-go
 *   WIREGUARD_TS_WORKERS=0 (passed through)  PROFILE_DIR=/tmp/x (ours under node --cpu-prof)
 * `ts` runs packages/wg-core/dist (npm run build first).
 * @module
 */

import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { type Bg, Lab, SOCK_DIR, takeLock, WG_TS_BIN, waitFor } from '../../test/_lab.ts';

const MODERN =
  process.env.WG_GO_MODERN ?? '/var/cache/start-tunnel-test/wireguard-go/0.0.20231211/wireguard-go';
const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 5);
type Kind = 'go' | 'ts' | 'ts-nooff' | 'ts-tun' | 'ts-udp';
const kinds = (process.env.KINDS ?? 'go,ts').split(',') as Kind[];
const TAG = String(process.pid % 10000);
/** WIREGUARD_TS_OFFLOAD per kind of ours. */
const OFFLOAD: Record<Kind, string> = {
  go: '',
  ts: '1',
  'ts-nooff': '0',
  'ts-tun': 'tun',
  'ts-udp': 'udp',
};

interface Pair {
  kind: Kind;
  client: string;
  server: string;
  serverAddr: string;
  /** The server daemon's pid (`ip netns exec` execs it). */
  pid: number;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Ours in `ns`, as `Lab.daemon` starts it; with PROFILE_DIR, under `node --cpu-prof`. */
async function ours(lab: Lab, ns: string, ifname: string, offload: string): Promise<Bg> {
  const env = { ...process.env, WIREGUARD_TS_OFFLOAD: offload };
  const dir = process.env.PROFILE_DIR;
  if (!dir) return lab.daemon('ours', ns, ifname, env);
  lab.ifnames.add(ifname);
  const args = ['--cpu-prof', `--cpu-prof-dir=${dir}`, WG_TS_BIN, '-f', ifname];
  const bg = lab.spawnIn(ns, `ours ${ifname}`, process.execPath, args, env);
  const ok = await waitFor(() => bg.exited || existsSync(`${SOCK_DIR}/${ifname}.sock`), 15_000);
  if (!ok || bg.exited) throw new Error(`ours ${ifname} did not start:\n${bg.tail()}`);
  return bg;
}

async function setup(lab: Lab, kind: Kind, n: number): Promise<Pair> {
  const client = `spd-c${n}-${TAG}`;
  const server = `spd-s${n}-${TAG}`;
  await lab.addNamespace(client);
  await lab.addNamespace(server);
  await lab.veth(client, 'eth0', server, 'eth0');
  await lab.addr(client, 'eth0', `10.59.${10 + n}.1/24`);
  await lab.addr(server, 'eth0', `10.59.${10 + n}.2/24`);
  const ifc = `spdc${n}${TAG}`;
  const ifs = `spds${n}${TAG}`;
  process.env.WIREGUARD_GO = MODERN;
  await lab.daemon('wireguard-go', client, ifc);
  const bg =
    kind === 'go'
      ? await lab.daemon('wireguard-go', server, ifs)
      : await ours(lab, server, ifs, OFFLOAD[kind]);
  const kc = await lab.genkey();
  const ks = await lab.genkey();
  await lab.setconf(
    client,
    ifc,
    `[Interface]\nPrivateKey = ${kc.privateKey}\n\n[Peer]\nPublicKey = ${ks.publicKey}\n` +
      `Endpoint = 10.59.${10 + n}.2:51820\nAllowedIPs = 10.59.${20 + n}.2/32\n`
  );
  await lab.setconf(
    server,
    ifs,
    `[Interface]\nPrivateKey = ${ks.privateKey}\nListenPort = 51820\n\n[Peer]\n` +
      `PublicKey = ${kc.publicKey}\nAllowedIPs = 10.59.${20 + n}.1/32\n`
  );
  await lab.addr(client, ifc, `10.59.${20 + n}.1/24`);
  await lab.addr(server, ifs, `10.59.${20 + n}.2/24`);
  await lab.ip('-n', client, 'link', 'set', ifc, 'up');
  await lab.ip('-n', server, 'link', 'set', ifs, 'up');
  const p = await lab.ping(client, `10.59.${20 + n}.2`, { count: 3, wait: 3 });
  if (p.received === 0) throw new Error(`no ping through ${kind}: ${p.output}`);
  return { kind, client, server, serverAddr: `10.59.${20 + n}.2`, pid: bg.child.pid! };
}

/** Mbit/s through the tunnel, and the server daemon's CPU seconds per GB moved. */
async function iperf(
  lab: Lab,
  pair: Pair,
  reverse: boolean,
  port: number
): Promise<[number, number]> {
  const server = lab.spawnIn(pair.server, 'iperf3 -s', 'iperf3', [
    '-s',
    '-1',
    '-B',
    pair.serverAddr,
    '-p',
    String(port),
  ]);
  try {
    await server.line((l) => l.includes('Server listening'), 5000);
    const args = ['-c', pair.serverAddr, '-p', String(port), '-t', String(seconds), '-J'];
    if (reverse) args.push('-R');
    const cpu0 = cpuSeconds(pair.pid);
    const r = await lab.exec(pair.client, 'iperf3', args, { timeoutMs: (seconds + 15) * 1000 });
    const cpu = cpuSeconds(pair.pid) - cpu0;
    const json = JSON.parse(r.stdout) as {
      end?: { sum_received?: { bits_per_second: number; bytes: number } };
    };
    const sum = json.end?.sum_received;
    const gb = (sum?.bytes ?? 0) / 1e9;
    return [Math.round((sum?.bits_per_second ?? 0) / 1e6), gb > 0 ? cpu / gb : 0];
  } finally {
    await server.stop(1000);
    lab.procs.delete(server);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

const release = await takeLock();
const lab = new Lab('speed');
try {
  const pairs: Pair[] = [];
  for (const [n, kind] of kinds.entries()) pairs.push(await setup(lab, kind, n));
  const results = new Map<
    string,
    { up: number[]; down: number[]; cpuUp: number[]; cpuDown: number[]; load: number[] }
  >();
  for (let r = 0; r < rounds; r++) {
    for (const pair of r % 2 === 0 ? pairs : [...pairs].reverse()) {
      const res = results.get(pair.kind) ?? { up: [], down: [], cpuUp: [], cpuDown: [], load: [] };
      results.set(pair.kind, res);
      res.load.push(loadavg()[0]!);
      const [up, cpuUp] = await iperf(lab, pair, false, 5201 + r);
      const [down, cpuDown] = await iperf(lab, pair, true, 5301 + r);
      res.up.push(up);
      res.down.push(down);
      res.cpuUp.push(cpuUp);
      res.cpuDown.push(cpuDown);
      console.log(
        `round ${r} ${pair.kind}: up ${up} down ${down} Mbit/s, server CPU s/GB ` +
          `${cpuUp.toFixed(2)} / ${cpuDown.toFixed(2)} (load ${res.load.at(-1)!.toFixed(2)})`
      );
    }
  }
  for (const [kind, res] of results) {
    console.log(
      `${kind}: upload (client -> server) median ${median(res.up)} [${res.up.join(', ')}], ` +
        `download median ${median(res.down)} [${res.down.join(', ')}] Mbit/s, ` +
        `server CPU s/GB ${median(res.cpuUp).toFixed(2)} / ${median(res.cpuDown).toFixed(2)}, ` +
        `load ${res.load.map((l) => l.toFixed(2)).join('/')}`
    );
  }
} finally {
  const problems = await lab.cleanup();
  if (problems.length > 0) console.error(problems.join('\n'));
  release();
}
