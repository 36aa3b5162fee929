// SPDX-License-Identifier: MIT
/**
 * The measurements of one implementation pair in the tunnel lab: iperf3 TCP each way, the
 * highest UDP rate with less than 1 % loss, ping round trips idle and under load, and the server
 * daemon's CPU seconds per gigabyte moved.
 *
 * iperf3 options and its `-J` output follow the iperf3 manual and its JSON (iperf.fr, "iperf3
 * user documentation"; github.com/esnet/iperf `src/iperf_api.c`): `-R` reverses the direction
 * (server sends), `end.sum_received` is the receiver's count of a TCP test, and for UDP the
 * client's `end.sum` carries the receiver's `lost_packets`/`packets`. UDP datagrams are 1392
 * bytes so that one fits the tunnel's 1420-byte MTU with its IPv4 and UDP headers.
 * @module
 */

import type { Bg } from '../../../test/_lab.ts';
import { ADDR, cpuSeconds, type Topology } from './lab.ts';

export const IPERF_PORT = 5201;
export const UDP_PAYLOAD = 1392;

export interface PingStats {
  sent: number;
  received: number;
  /** Per-reply round trips, ms. */
  rtts: number[];
}

/** `ping -i interval -c count` from `ns`, keeping each reply's `time=`. */
export async function pingTimes(
  topo: Topology,
  ns: string,
  addr: string,
  count: number,
  interval: number
): Promise<PingStats> {
  const r = await topo.lab.exec(
    ns,
    'ping',
    ['-n', '-c', String(count), '-i', String(interval), '-W', '1', addr],
    { timeoutMs: (count * interval + 6) * 1000 }
  );
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  const sum = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  return {
    sent: sum ? Number(sum[1]) : count,
    received: sum ? Number(sum[2]) : rtts.length,
    rtts,
  };
}

/** An iperf3 server bound to the server's tunnel address, serving tests one after another. */
export async function iperfServer(topo: Topology): Promise<Bg> {
  const bg = topo.lab.spawnIn(topo.server, 'iperf3 -s', 'iperf3', [
    '-s',
    '-B',
    ADDR.server,
    '-p',
    String(IPERF_PORT),
    '--forceflush',
  ]);
  const ok = await bg.line((l) => l.includes('Server listening'), 5000);
  if (ok === null) throw new Error(`iperf3 server did not start:\n${bg.tail()}`);
  return bg;
}

interface IperfJson {
  error?: string;
  end?: {
    sum?: {
      bytes?: number;
      bits_per_second?: number;
      lost_packets?: number;
      packets?: number;
      lost_percent?: number;
    };
    sum_received?: { bytes: number; bits_per_second: number };
    sum_sent?: { bytes: number; bits_per_second: number; retransmits?: number };
  };
}

async function iperfClient(topo: Topology, args: string[], seconds: number): Promise<IperfJson> {
  const r = await topo.lab.exec(
    topo.client,
    'iperf3',
    [
      '-c',
      ADDR.server,
      '-p',
      String(IPERF_PORT),
      '-t',
      String(seconds),
      '-J',
      '--connect-timeout',
      '3000',
      ...args,
    ],
    { timeoutMs: (seconds + 15) * 1000 }
  );
  let json: IperfJson;
  try {
    json = JSON.parse(r.stdout) as IperfJson;
  } catch {
    throw new Error(`iperf3 ${args.join(' ')} gave no JSON: ${(r.stderr || r.stdout).slice(-400)}`);
  }
  if (json.error) throw new Error(`iperf3 ${args.join(' ')}: ${json.error}`);
  return json;
}

export interface TcpResult {
  mbps: number;
  bytes: number;
  retransmits: number;
  /** Server daemon CPU seconds during the test. */
  serverCpu: number;
  /** Client daemon CPU seconds during the test. */
  clientCpu: number;
  /** Round trips of pings sent alongside, ms. */
  loadedRtts: number[];
  loadedPingLoss: number;
}

/**
 * One TCP test of `seconds` (upload: client → server; download: `-R`), with pings every 50 ms
 * alongside from the second half-second on, and the daemons' CPU time around it.
 */
export async function tcp(
  topo: Topology,
  serverPid: number,
  clientPid: number,
  seconds: number,
  download: boolean
): Promise<TcpResult> {
  const s0 = cpuSeconds(serverPid);
  const c0 = cpuSeconds(clientPid);
  const pingCount = Math.max(5, Math.floor((seconds - 1) / 0.05));
  const [json, ping] = await Promise.all([
    iperfClient(topo, download ? ['-R'] : [], seconds),
    new Promise<PingStats>((resolve, reject) => {
      setTimeout(() => {
        pingTimes(topo, topo.client, ADDR.server, pingCount, 0.05).then(resolve, reject);
      }, 500);
    }),
  ]);
  const serverCpu = cpuSeconds(serverPid) - s0;
  const clientCpu = cpuSeconds(clientPid) - c0;
  const recv = json.end?.sum_received;
  if (!recv) throw new Error('iperf3 TCP test without end.sum_received');
  return {
    mbps: recv.bits_per_second / 1e6,
    bytes: recv.bytes,
    retransmits: json.end?.sum_sent?.retransmits ?? 0,
    serverCpu,
    clientCpu,
    loadedRtts: ping.rtts,
    loadedPingLoss: ping.sent - ping.received,
  };
}

export interface UdpTrial {
  /** Offered rate (`-b`, Mbit/s; 0 = unlimited). */
  offered: number;
  /** Rate the client sent, Mbit/s. */
  sent: number;
  /** Rate that arrived (sent less the lost share), Mbit/s. */
  received: number;
  lossPercent: number;
}

/** One UDP test, client → server, at `offered` Mbit/s (0: as fast as iperf3 can send). */
export async function udpTrial(topo: Topology, offered: number, seconds: number) {
  const json = await iperfClient(
    topo,
    ['-u', '-b', `${Math.round(offered)}M`, '-l', String(UDP_PAYLOAD)],
    seconds
  );
  const sum = json.end?.sum;
  if (!sum || sum.bits_per_second === undefined) throw new Error('iperf3 UDP test without end.sum');
  const lossPercent =
    sum.lost_percent ?? (sum.packets ? (100 * (sum.lost_packets ?? 0)) / sum.packets : 100);
  const sent = sum.bits_per_second / 1e6;
  const trial: UdpTrial = {
    offered,
    sent,
    received: sent * (1 - lossPercent / 100),
    lossPercent,
  };
  return trial;
}

export interface UdpSearch {
  /** Highest received rate among trials with less than 1 % loss, Mbit/s (0 if none). */
  mbps: number;
  trials: UdpTrial[];
}

/**
 * Searches the highest UDP rate with < 1 % loss in `budget` trials: first as fast as iperf3
 * sends, then 90 % of what arrived, then bisection between the best passing and the lowest
 * failing offered rate.
 */
export async function udpSearch(
  topo: Topology,
  seconds: number,
  budget: number
): Promise<UdpSearch> {
  const trials: UdpTrial[] = [];
  const first = await udpTrial(topo, 0, seconds);
  trials.push(first);
  let lo = 0;
  let hi = first.sent;
  if (first.lossPercent < 1) lo = first.sent;
  let next = first.lossPercent < 1 ? 0 : Math.max(10, first.received * 0.9);
  for (let i = 1; i < budget && next > 0; i++) {
    const t = await udpTrial(topo, next, seconds);
    trials.push(t);
    if (t.lossPercent < 1) lo = Math.max(lo, next);
    else hi = Math.min(hi, next);
    if (hi - lo < Math.max(10, hi * 0.03)) break;
    next = lo > 0 ? (lo + hi) / 2 : next * 0.6;
  }
  const passing = trials.filter((t) => t.lossPercent < 1).map((t) => t.received);
  return { mbps: passing.length > 0 ? Math.max(...passing) : 0, trials };
}
