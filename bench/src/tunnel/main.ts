// SPDX-License-Identifier: MIT
/**
 * `npm run bench:tunnel`: wireguard-ts side by side with both Debian generations of
 * wireguard-go in a namespace lab (see `lab.ts`), in alternating rounds, then the scale
 * microbenchmarks (`scale.ts`). Prints one table with ratios against the modern wireguard-go
 * as server, writes `bench/results/<date>.json` and, for a full run, the chart
 * `bench/tunnel.svg`. Needs root, iperf3, wg, ping, `npm run build` (wireguard-ts runs from
 * dist/) and, once, network access to fetch the backports wireguard-go.
 *
 *   npm run bench:tunnel -- [--rounds N] [--seconds S] [--only ts|go|go-old[,…]] [--quick]
 *
 * The lab lock of `test/_lab.ts` is held for the whole run; namespaces, daemons and UAPI
 * sockets are removed at the end, on an error and on Ctrl-C.
 * @module
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab, labSkip, ROOT, requireBuilt, takeLock, WG_TS_DIST } from '../../../test/_lab.ts';
import { findBinaries, IMPL_LABEL, type Impl, Topology } from './lab.ts';
import {
  iperfServer,
  pingTimes,
  type TcpResult,
  tcp,
  type UdpSearch,
  udpSearch,
} from './measure.ts';
import { type CaseSummary, median, spread, svgChart, table } from './report.ts';
import { peerKeys, SCALE_PEERS, type ScaleResult, scale } from './scale.ts';
import { wgCoreSnapshot } from './snapshot.ts';

interface Case {
  id: string;
  server: Impl;
  client: Impl;
  label: string;
}

const CASES: Case[] = [
  { id: 'go', server: 'go', client: 'go', label: 'wireguard-go 0.0.20231211 ← go client' },
  { id: 'go-old', server: 'go-old', client: 'go', label: 'wireguard-go 0.0.20220316 ← go client' },
  { id: 'ts', server: 'ts', client: 'go', label: 'wireguard-ts ← go client' },
  { id: 'ts-ts', server: 'ts', client: 'ts', label: 'wireguard-ts ← wireguard-ts' },
];

interface RoundResult {
  case: string;
  round: number;
  startedAt: string;
  idleRtts?: number[];
  up?: TcpResult;
  down?: TcpResult;
  udp?: UdpSearch;
  error?: string;
}

const USAGE =
  'usage: npm run bench:tunnel -- [--rounds N] [--seconds S] [--only ts|go|go-old[,...]] [--quick] [--ts-commit REV]';

function options() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'ts-commit': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const rounds = Number(values.rounds ?? (quick ? 1 : 3));
  const seconds = Number(values.seconds ?? (quick ? 2 : 5));
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
    throw new Error(`Option --rounds must be an integer from 1 to 20, not '${values.rounds}'`);
  }
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 60) {
    throw new Error(`Option --seconds must be from 1 to 60, not '${values.seconds}'`);
  }
  const only = values.only?.split(',').map((s) => s.trim()) ?? [];
  for (const o of only) {
    if (o !== 'ts' && o !== 'go' && o !== 'go-old') {
      throw new Error(`Option --only takes ts, go or go-old, not '${o}'`);
    }
  }
  return { quick, rounds, seconds, only: only as Impl[], tsCommit: values['ts-commit'] ?? null };
}

function sh(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', cwd: ROOT }).trim();
  } catch {
    return '';
  }
}

function machine() {
  const lscpu = sh('lscpu', []);
  return {
    cpu: /Model name:\s*(.+)/.exec(lscpu)?.[1]?.trim() ?? 'unknown',
    cores: availableParallelism(),
    threadsPerCore: Number(/Thread\(s\) per core:\s*(\d+)/.exec(lscpu)?.[1] ?? 0),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    iperf3: sh('iperf3', ['--version']).split('\n')[0] ?? '',
  };
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim();

function revision() {
  return {
    commit: sh('git', ['rev-parse', 'HEAD']),
    wgCoreCommit: sh('git', ['log', '-1', '--format=%H', '--', 'packages/wg-core']),
    wgCoreDirty: sh('git', ['status', '--porcelain', '--', 'packages/wg-core']) !== '',
    distBuiltAt: statSync(WG_TS_DIST).mtime.toISOString(),
  };
}

async function oneRound(topo: Topology, c: Case, round: number, seconds: number, quick: boolean) {
  const result: RoundResult = { case: c.id, round, startedAt: new Date().toISOString() };
  const { server, client } = await topo.pair(c.server, c.client);
  const iperf = await iperfServer(topo);
  try {
    result.idleRtts = (await pingTimes(topo, topo.client, '10.59.1.2', 20, 0.05)).rtts;
    result.up = await tcp(topo, server.pid, client.pid, seconds, false);
    result.down = await tcp(topo, server.pid, client.pid, seconds, true);
    result.udp = await udpSearch(topo, quick ? 1 : 2, quick ? 3 : 6);
  } finally {
    await iperf.stop(1000);
    topo.lab.procs.delete(iperf);
    await topo.stop(client);
    await topo.stop(server);
  }
  return result;
}

function summarize(c: Case, rounds: RoundResult[]): CaseSummary {
  const ok = rounds.filter((r) => r.case === c.id && !r.error && r.up && r.down && r.udp);
  return {
    id: c.id,
    label: c.label,
    tcpUp: spread(ok.map((r) => r.up!.mbps)),
    tcpDown: spread(ok.map((r) => r.down!.mbps)),
    udp: spread(ok.map((r) => r.udp!.mbps)),
    rttIdle: spread(ok.map((r) => median(r.idleRtts ?? []))),
    rttLoad: spread(ok.map((r) => median([...r.up!.loadedRtts, ...r.down!.loadedRtts]))),
    cpuPerGB: spread(
      ok.map((r) => (r.up!.serverCpu + r.down!.serverCpu) / ((r.up!.bytes + r.down!.bytes) / 1e9))
    ),
  };
}

const mb = (b: number) => (b / 2 ** 20).toFixed(0);

function scaleTable(rows: readonly ScaleResult[]): string {
  const head =
    '| server | set 10,000 peers | RSS before → after (→ after handshakes) | get=1 | peers added under load: lost pings, UDP loss | handshakes/s |';
  const rule = '|---|---|---|---|---|---|';
  return [
    head,
    rule,
    ...rows.map(
      (r) =>
        `| ${IMPL_LABEL[r.impl]} | ${(r.setMs / 1000).toFixed(2)} s | ${mb(r.rssBeforeBytes)} → ${mb(r.rssAfterBytes)} (→ ${mb(r.rssAfterHandshakesBytes)}) MiB | ${r.getMs.toFixed(0)} ms | ` +
        `${r.addUnderLoad.peersAdded} added: ${r.addUnderLoad.pingsLost}/${r.addUnderLoad.pingsSent} pings lost, UDP ${r.addUnderLoad.udpLossPercent.toFixed(2)} % | ` +
        `${r.handshakes.perSecond.toFixed(0)} (${r.handshakes.responses} responses, ${r.handshakes.cookies} cookies, ${r.handshakes.lost} lost) |`
    ),
  ].join('\n');
}

async function main(): Promise<number> {
  const opts = options();
  const skip = labSkip(['wg', 'ping', 'iperf3', 'lscpu']);
  if (skip) {
    console.error(`bench:tunnel ${skip}`);
    return 2;
  }
  const snapshot = opts.tsCommit ? wgCoreSnapshot(opts.tsCommit) : null;
  if (!snapshot) requireBuilt();
  const bins = await findBinaries(snapshot?.bin);
  const impls: Impl[] = opts.only.length > 0 ? opts.only : ['go', 'go-old', 'ts'];
  const cases = CASES.filter((c) => impls.includes(c.server));
  const started = new Date();
  const meta = {
    date: started.toISOString(),
    options: opts,
    machine: machine(),
    binaries: bins,
    env: { WIREGUARD_TS_WORKERS: process.env.WIREGUARD_TS_WORKERS ?? '(default)' },
    revisionAtStart: revision(),
    wireguardTs: snapshot
      ? { from: 'snapshot', commit: snapshot.commit, bin: snapshot.bin }
      : { from: 'working tree', bin: bins.ts },
    loadBeforeLock: loadavg(),
  };
  console.log(
    `bench:tunnel ${JSON.stringify(meta.options)} on ${meta.machine.cpu}, waiting for the lab lock`
  );
  const releaseLock = await takeLock(900_000);
  const lab = new Lab('stb');
  const topo = new Topology(lab, bins, process.pid.toString(36).slice(-4));
  // one cleanup, however many callers (the signal handler and the finally below) await it
  let cleaning: Promise<void> | null = null;
  const cleanup = () => {
    cleaning ??= lab.cleanup().then((problems) => {
      releaseLock();
      for (const p of problems) console.error(`cleanup: ${p}`);
    });
    return cleaning;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    console.error(`\n${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const rounds: RoundResult[] = [];
  const scales: ScaleResult[] = [];
  const scaleErrors: string[] = [];
  let loadAtStart = '';
  let loadAtEnd = '';
  try {
    loadAtStart = loadavg();
    await topo.setup();
    for (let round = 0; round < opts.rounds; round++) {
      // alternate: each round starts one case later, so no case always runs first
      const order = cases.map((_, i) => cases[(i + round) % cases.length]!);
      for (const c of order) {
        const t = Date.now();
        try {
          const r = await oneRound(topo, c, round, opts.seconds, opts.quick);
          rounds.push(r);
          console.log(
            `round ${round + 1}/${opts.rounds} ${c.id.padEnd(6)} up ${r.up!.mbps.toFixed(0)} down ${r.down!.mbps.toFixed(0)} udp ${r.udp!.mbps.toFixed(0)} Mbit/s (${((Date.now() - t) / 1000).toFixed(0)} s)`
          );
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          rounds.push({ case: c.id, round, startedAt: new Date(t).toISOString(), error });
          console.error(`round ${round + 1} ${c.id} failed: ${error}`);
        }
      }
    }
    const keys = peerKeys(SCALE_PEERS);
    for (const impl of impls) {
      try {
        const s = await scale(topo, impl, keys, opts.seconds);
        scales.push(s);
        console.log(
          `scale ${impl}: set ${s.setMs.toFixed(0)} ms, RSS ${mb(s.rssAfterBytes)} MiB, ${s.handshakes.perSecond.toFixed(0)} handshakes/s`
        );
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        scaleErrors.push(`${impl}: ${error}`);
        console.error(`scale ${impl} failed: ${error}`);
      }
    }
    loadAtEnd = loadavg();
  } finally {
    await cleanup();
  }

  const summaries = cases.map((c) => summarize(c, rounds));
  const revisionAtEnd = revision();
  const tsAt = snapshot
    ? `at ${snapshot.commit.slice(0, 10)}`
    : `working tree on ${meta.revisionAtStart.commit.slice(0, 10)}${meta.revisionAtStart.wgCoreDirty ? ' (wg-core modified)' : ''}`;
  const caption =
    `${started.toISOString().slice(0, 10)} · ${meta.machine.cores} × ${meta.machine.cpu} · ` +
    `kernel ${meta.machine.kernel} · Node ${meta.machine.node} · wireguard-ts ${tsAt} · ` +
    `${opts.rounds} rounds of ${opts.seconds} s · load ${loadAtStart.split(' ').slice(0, 3).join(' ')} → ${loadAtEnd.split(' ').slice(0, 3).join(' ')}`;
  const text = [
    '',
    table(summaries),
    '',
    'Ratios: value / wireguard-go 0.0.20231211 as server (rates: more is better; RTT and CPU: less is better).',
    '',
    scales.length > 0 ? scaleTable(scales) : '',
    '',
    caption,
  ].join('\n');
  console.log(text);
  if (revisionAtEnd.distBuiltAt !== meta.revisionAtStart.distBuiltAt) {
    console.log(`note: wg-core dist/ was rebuilt during the run (${revisionAtEnd.distBuiltAt})`);
  }

  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const suffix = (opts.quick ? '-quick' : '') + (opts.only.length ? `-${opts.only.join('-')}` : '');
  const file = join(dir, `${started.toISOString().slice(0, 10)}${suffix}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        ...meta,
        loadAtStart,
        loadAtEnd,
        revisionAtEnd,
        summaries,
        scale: scales,
        scaleErrors,
        rounds,
      },
      null,
      1
    )}\n`
  );
  console.log(`wrote ${file}`);
  if (!opts.quick && opts.only.length === 0) {
    const svg = join(ROOT, 'bench/tunnel.svg');
    writeFileSync(svg, svgChart(summaries, caption));
    console.log(`wrote ${svg}`);
  }
  const failed = rounds.filter((r) => r.error).length + scaleErrors.length;
  return failed > 0 ? 1 : 0;
}

if (!existsSync('/proc/loadavg')) {
  console.error('bench:tunnel needs Linux');
  process.exit(2);
}
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
);
