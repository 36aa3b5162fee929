// SPDX-License-Identifier: MIT
/**
 * Shared helpers of the namespace labs in `test/`: the exclusive lab lock
 * (/tmp/start-tunnel-netns.lock, taken unless an ancestor such as `flock LOCK npm test` already
 * holds it, detected through /proc/locks as in `packages/wg-core/test/tun-linux.test.ts`),
 * child processes with a kill timer on every spawn, namespaces and veths, the two WireGuard
 * daemons (ours, `wireguard-ts -f`, and stock `wireguard-go -f`) configured only with stock
 * `wg`, ping and iperf3 with parsed results, and a cleanup that always runs: processes,
 * namespaces, `/var/run/wireguard/<ifname>.sock` and temporary files.
 *
 * The stock wireguard-go is `wireguard-go` on PATH unless `WIREGUARD_GO` names another binary:
 * `scripts/test.sh` runs the interop labs once with Debian's and once more with the other
 * Debian generation it unpacks beside it (bookworm's 0.0.20220316, trixie's 0.0.20231211).
 * @module
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const LOCK = '/tmp/start-tunnel-netns.lock';
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The `wireguard-ts` command (a shim importing `dist/main.js`). */
export const WG_TS_BIN = join(ROOT, 'packages/wg-core/bin/wireguard-ts.js');
export const WG_TS_DIST = join(ROOT, 'packages/wg-core/dist/main.js');
export const SOCK_DIR = '/var/run/wireguard';
/** The start-tunnel command (needs `npm run build`). */
export const START_TUNNEL_BIN = join(ROOT, 'packages/cli/bin/start-tunnel.js');
/** The stock wireguard-go the labs run: `WIREGUARD_GO` (a path) or `wireguard-go` on PATH. */
export const WIREGUARD_GO = process.env.WIREGUARD_GO || 'wireguard-go';

/** `wireguard-go --version`'s first line (e.g. `wireguard-go v0.0.20220316`), for diagnostics. */
export function wireguardGoVersion(): string {
  try {
    return execFileSync(WIREGUARD_GO, ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
  } catch {
    return `${WIREGUARD_GO} (no version)`;
  }
}

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why a lab cannot run here (not root, not Linux, a command missing), or false. */
export function labSkip(commands: readonly string[]): string | false {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TUN devices)';
  if (!existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  const missing = ['ip', 'flock', ...commands]
    .map((c) => (c === 'wireguard-go' ? WIREGUARD_GO : c))
    .filter((c) => !hasCommand(c));
  return missing.length > 0 ? `needs ${missing.join(', ')} (scripts/test.sh installs them)` : false;
}

/** Throws a clear error when the built command is missing (the suite runs after a build). */
export function requireBuilt(): void {
  if (!existsSync(WG_TS_DIST)) {
    throw new Error(
      `${WG_TS_DIST} is missing: run \`npm run build\` first ` +
        '(scripts/test.sh builds before it tests)'
    );
  }
}

/** True when an ancestor of this process (say `flock LOCK node ...`) already holds the lock. */
export function lockHeldByAncestor(path: string): boolean {
  let ino: number;
  try {
    ino = statSync(path).ino;
  } catch {
    return false;
  }
  const holders = new Set<number>();
  for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== 'FLOCK' || f[3] !== 'WRITE') continue;
    if (f[5]?.split(':')[2] === String(ino)) holders.add(Number(f[4]));
  }
  let pid = process.ppid;
  for (let depth = 0; pid > 1 && depth < 64; depth++) {
    if (holders.has(pid)) return true;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return false;
    }
  }
  return false;
}

/** Takes the lab lock (waiting at most `waitMs`) unless an ancestor holds it; returns a release. */
export async function takeLock(waitMs = 300_000): Promise<() => void> {
  if (lockHeldByAncestor(LOCK)) return () => {};
  const locker = spawn(
    'flock',
    ['-x', '-w', String(waitMs / 1000), LOCK, 'sh', '-c', 'echo locked; read _'],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    }
  );
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`no lock on ${LOCK} in ${waitMs} ms`)),
      waitMs + 5000
    );
    createInterface({ input: locker.stdout! }).on('line', (line) => {
      if (line === 'locked') {
        clearTimeout(t);
        resolve();
      }
    });
    locker.on('exit', () => {
      clearTimeout(t);
      reject(new Error(`flock on ${LOCK} exited before locking`));
    });
  });
  return () => {
    locker.stdin!.end();
    locker.kill();
  };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  /** Killed (its whole process group) after this long; default 10 s. */
  timeoutMs?: number;
  input?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs a command to its end or its kill timer; never rejects. */
export function run(
  file: string,
  args: readonly string[],
  opts: RunOptions = {}
): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      detached: true, // its own process group, so the kill timer reaches its children too
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let code: number | null = null;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(grace);
      resolve({ code, stdout, stderr, timedOut });
    };
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
      // a detached grandchild may hold our pipes open: do not wait for them forever
      grace = setTimeout(finish, 1000);
    }, timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', (err) => {
      stderr += String(err);
      finish();
    });
    child.on('exit', (c) => {
      code = c;
    });
    child.on('close', finish);
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input ?? '');
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // gone
    }
  }
}

function describeRun(file: string, args: readonly string[], r: RunResult): string {
  const how = r.timedOut ? 'timed out' : `exited ${String(r.code)}`;
  return `${file} ${args.join(' ')} ${how}: ${(r.stderr || r.stdout).trim().slice(-600)}`;
}

/** Runs a command and returns its stdout; throws with its stderr unless it exits 0. */
export async function check(file: string, args: readonly string[], opts: RunOptions = {}) {
  const r = await run(file, args, opts);
  if (r.code !== 0 || r.timedOut) throw new Error(describeRun(file, args, r));
  return r.stdout;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `pred` every 50 ms until it holds or `ms` pass; returns whether it held. */
export async function waitFor(pred: () => boolean | Promise<boolean>, ms: number) {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 10_000; i++) {
    if (await pred()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return false;
}

/** A long-running child (daemon, iperf3 server, capture) whose output lines are kept. */
export class Bg {
  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  exitCode: number | null = null;
  exited = false;
  #waiters: (() => void)[] = [];

  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    const keep = (line: string) => {
      this.lines.push(line);
      if (this.lines.length > 20_000) this.lines.splice(0, 10_000);
      this.#wake();
    };
    if (child.stdout) createInterface({ input: child.stdout }).on('line', keep);
    if (child.stderr) createInterface({ input: child.stderr }).on('line', keep);
    child.on('exit', (code) => {
      this.exitCode = code;
      this.exited = true;
      this.#wake();
    });
    child.on('error', (err) => {
      this.lines.push(String(err));
      this.exited = true;
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves with the first line (from index `from`) that `pred` accepts, or null after `ms`. */
  async line(pred: (l: string) => boolean, ms: number, from = 0): Promise<string | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.lines.slice(from).find(pred);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0 || this.exited) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** SIGTERM, then SIGKILL if still running after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGTERM');
    if (await waitFor(() => this.exited, graceMs)) return;
    this.child.kill('SIGKILL');
    await waitFor(() => this.exited, 2000);
  }

  tail(n = 15): string {
    return this.lines.slice(-n).join('\n');
  }
}

export interface PeerDump {
  publicKey: string;
  presharedKey: string;
  endpoint: string;
  allowedIps: string;
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  keepalive: string;
}

export interface Dump {
  privateKey: string;
  publicKey: string;
  listenPort: number;
  fwmark: string;
  peers: PeerDump[];
}

/** Parses `wg show <if> dump` (one interface: a device line, then one line per peer). */
export function parseDump(text: string): Dump {
  const lines = text.trim().split('\n');
  const dev = (lines[0] ?? '').split('\t');
  if (dev.length !== 4) throw new Error(`Unexpected wg dump device line '${lines[0] ?? ''}'`);
  const peers = lines.slice(1).map((line) => {
    const f = line.split('\t');
    if (f.length !== 8) throw new Error(`Unexpected wg dump peer line '${line}'`);
    return {
      publicKey: f[0]!,
      presharedKey: f[1]!,
      endpoint: f[2]!,
      allowedIps: f[3]!,
      latestHandshake: Number(f[4]),
      rxBytes: Number(f[5]),
      txBytes: Number(f[6]),
      keepalive: f[7]!,
    };
  });
  return {
    privateKey: dev[0]!,
    publicKey: dev[1]!,
    listenPort: Number(dev[2]),
    fwmark: dev[3]!,
    peers,
  };
}

/** `host:port` as wg prints it (`[v6]:port`). */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

/** A JSON-RPC answer of the daemon's local API. */
export interface RpcReply {
  result?: unknown;
  error?: { code: number; message: string; data?: { field?: string } };
}

export interface PingResult {
  sent: number;
  received: number;
  output: string;
}

export interface IperfResult {
  mbps: number;
  bytes: number;
}

/**
 * One lab: its namespaces, processes, interface names (their UAPI sockets) and temp files, all
 * undone by {@link Lab.cleanup}. Every command runs with a kill timer.
 */
export class Lab {
  readonly tmp: string;
  readonly namespaces: string[] = [];
  readonly procs = new Set<Bg>();
  readonly ifnames = new Set<string>();
  #files = 0;

  constructor(prefix: string) {
    this.tmp = mkdtempSync(join(tmpdir(), `${prefix}-`));
  }

  ip(...args: string[]): Promise<string> {
    return check('ip', args);
  }

  /** Runs a command inside `ns` (`ip netns exec`). */
  exec(ns: string, file: string, args: readonly string[], opts: RunOptions = {}) {
    return run('ip', ['netns', 'exec', ns, file, ...args], opts);
  }

  /** Like {@link exec}, returning stdout and throwing unless it exits 0. */
  checkIn(ns: string, file: string, args: readonly string[], opts: RunOptions = {}) {
    return check('ip', ['netns', 'exec', ns, file, ...args], opts);
  }

  async addNamespace(ns: string): Promise<void> {
    await run('ip', ['netns', 'del', ns]); // a leftover of a killed run with the same pid
    await this.ip('netns', 'add', ns);
    this.namespaces.push(ns);
    await this.ip('-n', ns, 'link', 'set', 'lo', 'up');
  }

  /** A veth pair `nameA` in `nsA` and `nameB` in `nsB`, both up (never in the root namespace). */
  async veth(nsA: string, nameA: string, nsB: string, nameB: string): Promise<void> {
    await this.ip(
      '-n',
      nsA,
      'link',
      'add',
      nameA,
      'type',
      'veth',
      'peer',
      'name',
      nameB,
      'netns',
      nsB
    );
    await this.ip('-n', nsA, 'link', 'set', nameA, 'up');
    await this.ip('-n', nsB, 'link', 'set', nameB, 'up');
  }

  /**
   * A host `ns` behind the router namespace `router`: a veth (`routerIf` there, `hostIf` in
   * `ns`), an address on each end, and the host's default route through the router (which must
   * forward: see {@link routerNamespace}).
   */
  async routedHost(
    router: string,
    routerIf: string,
    routerCidr: string,
    ns: string,
    hostIf: string,
    hostCidr: string
  ): Promise<void> {
    await this.veth(router, routerIf, ns, hostIf);
    await this.addr(router, routerIf, routerCidr);
    await this.addr(ns, hostIf, hostCidr);
    await this.ip('-n', ns, 'route', 'add', 'default', 'via', routerCidr.split('/')[0]!);
  }

  /** Turns on IPv4 forwarding in `ns` (a namespace of ours, never the root one). */
  async routerNamespace(ns: string): Promise<void> {
    await this.checkIn(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  }

  /** `start-tunnel daemon --datadir DIR` in `ns`, returned once its local API is up. */
  async startTunnelDaemon(ns: string, dataDir: string): Promise<Bg> {
    const bg = this.spawnIn(ns, 'start-tunnel daemon', process.execPath, [
      START_TUNNEL_BIN,
      'daemon',
      '--datadir',
      dataDir,
    ]);
    const up = await bg.line((l) => l.includes('API on'), 30_000);
    if (!up) throw new Error(`start-tunnel daemon did not start:\n${bg.tail()}`);
    return bg;
  }

  /** Adds an address (IPv6 without duplicate address detection, so it is usable at once). */
  async addr(ns: string, dev: string, cidr: string): Promise<void> {
    const extra = cidr.includes(':') ? ['nodad'] : [];
    await this.ip('-n', ns, 'addr', 'add', cidr, 'dev', dev, ...extra);
  }

  /** Starts a long-running command inside `ns`, tracked for cleanup. */
  spawnIn(
    ns: string,
    name: string,
    file: string,
    args: readonly string[],
    env?: NodeJS.ProcessEnv
  ) {
    const child = spawn('ip', ['netns', 'exec', ns, file, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: env ?? process.env,
    });
    const bg = new Bg(name, child);
    this.procs.add(bg);
    return bg;
  }

  /**
   * Starts a WireGuard daemon in the foreground inside `ns` (ours: `wireguard-ts -f`, stock:
   * `wireguard-go -f`) and waits for its UAPI socket to answer `wg show`.
   */
  async daemon(
    kind: 'ours' | 'wireguard-go',
    ns: string,
    ifname: string,
    extraEnv: NodeJS.ProcessEnv = {}
  ): Promise<Bg> {
    this.ifnames.add(ifname);
    const env = { ...process.env, LOG_LEVEL: 'error', ...extraEnv };
    const bg =
      kind === 'ours'
        ? this.spawnIn(ns, `${kind} ${ifname}`, process.execPath, [WG_TS_BIN, '-f', ifname], env)
        : this.spawnIn(ns, `${kind} ${ifname}`, WIREGUARD_GO, ['-f', ifname], env);
    const sock = join(SOCK_DIR, `${ifname}.sock`);
    const ready = await waitFor(async () => {
      if (bg.exited || !existsSync(sock)) return bg.exited;
      return (await this.exec(ns, 'wg', ['show', ifname], { timeoutMs: 3000 })).code === 0;
    }, 15_000);
    if (!ready || bg.exited) {
      throw new Error(
        `${kind} ${ifname} did not become ready (exit ${bg.exitCode}):\n${bg.tail()}`
      );
    }
    return bg;
  }

  wg(ns: string, ...args: string[]): Promise<string> {
    return this.checkIn(ns, 'wg', args, { timeoutMs: 5000 });
  }

  async dump(ns: string, ifname: string): Promise<Dump> {
    return parseDump(await this.wg(ns, 'show', ifname, 'dump'));
  }

  async genkey(): Promise<KeyPair> {
    const privateKey = (await check('wg', ['genkey'])).trim();
    const publicKey = (await check('wg', ['pubkey'], { input: `${privateKey}\n` })).trim();
    return { privateKey, publicKey };
  }

  async genpsk(): Promise<string> {
    return (await check('wg', ['genpsk'])).trim();
  }

  /** Writes a temporary file (0600) and returns its path. */
  file(name: string, text: string): string {
    const path = join(this.tmp, `${this.#files++}-${name}`);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  }

  /** `wg setconf <if> <file>` with a config in wg(8) format. */
  async setconf(ns: string, ifname: string, conf: string): Promise<void> {
    await this.wg(ns, 'setconf', ifname, this.file(`${ifname}.conf`, conf));
  }

  /** `ping` from `ns`, bounded by count, per-reply wait and a kill timer. */
  /**
   * One JSON-RPC call to a `start-tunnel daemon` in `ns` over its local API, the Unix socket
   * `<dataDir>/api.sock` (root only: no cookie, no port), with curl as a client would.
   */
  async socketRpc(ns: string, dataDir: string, method: string, params: unknown = {}) {
    const r = await this.exec(
      ns,
      'curl',
      [
        '-sS',
        '--max-time',
        '20',
        '--unix-socket',
        join(dataDir, 'api.sock'),
        '-H',
        'content-type: application/json',
        '--data-binary',
        JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
        'http://localhost/rpc/v0',
      ],
      { timeoutMs: 25_000 }
    );
    if (r.code !== 0) throw new Error(`curl ${method}: ${r.stderr}`);
    return JSON.parse(r.stdout) as RpcReply;
  }

  /** `wg-quick up` in `ns` on `config` written as `<ifname>.conf` (wg-quick names the interface after the file). */
  async wgQuickUp(ns: string, ifname: string, config: string): Promise<void> {
    const path = join(this.tmp, `${ifname}.conf`);
    writeFileSync(path, config, { mode: 0o600 });
    this.ifnames.add(ifname);
    const r = await this.exec(ns, 'wg-quick', ['up', path], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`wg-quick up in ${ns}:\n${r.stderr}`);
  }

  async ping(
    ns: string,
    addr: string,
    opts: { count?: number; interval?: number; wait?: number } = {}
  ): Promise<PingResult> {
    const count = opts.count ?? 3;
    const interval = opts.interval ?? 0.2;
    const wait = opts.wait ?? 2;
    const r = await this.exec(
      ns,
      'ping',
      ['-n', '-q', '-c', String(count), '-i', String(interval), '-W', String(wait), addr],
      { timeoutMs: (count * interval + wait + 5) * 1000 }
    );
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    return {
      sent: m ? Number(m[1]) : 0,
      received: m ? Number(m[2]) : 0,
      output: `${r.stdout}${r.stderr}`.trim(),
    };
  }

  /**
   * A TCP iperf3 run (`-t seconds`) from `clientNs` to a one-off server bound to `addr` in
   * `serverNs`; the client's sending rate as the server received it.
   */
  async iperf(
    serverNs: string,
    clientNs: string,
    addr: string,
    port: number,
    seconds = 2
  ): Promise<IperfResult> {
    const server = this.spawnIn(serverNs, `iperf3 -s ${addr}`, 'iperf3', [
      '-s',
      '-1',
      '-B',
      addr,
      '-p',
      String(port),
      '--forceflush',
    ]);
    try {
      const listening = await server.line((l) => l.includes('Server listening'), 5000);
      if (listening === null) throw new Error(`iperf3 server did not start:\n${server.tail()}`);
      const r = await this.exec(
        clientNs,
        'iperf3',
        ['-c', addr, '-p', String(port), '-t', String(seconds), '-J', '--connect-timeout', '3000'],
        { timeoutMs: (seconds + 12) * 1000 }
      );
      let json: {
        error?: string;
        end?: { sum_received?: { bits_per_second: number; bytes: number } };
      };
      try {
        json = JSON.parse(r.stdout) as typeof json;
      } catch {
        throw new Error(`iperf3 client gave no JSON: ${describeRun('iperf3', ['-c', addr], r)}`);
      }
      const sum = json.end?.sum_received;
      if (json.error || !sum) throw new Error(`iperf3 failed: ${json.error ?? 'no summary'}`);
      return { mbps: Math.round(sum.bits_per_second / 1e6), bytes: sum.bytes };
    } finally {
      await server.stop(1000);
      this.procs.delete(server);
    }
  }

  /** Always safe to call: stops processes, deletes namespaces, sockets and temp files. */
  async cleanup(): Promise<string[]> {
    const problems: string[] = [];
    await Promise.all([...this.procs].map((p) => p.stop(2000)));
    for (const p of this.procs) if (!p.exited) problems.push(`${p.name} did not exit`);
    this.procs.clear();
    for (const ifname of this.ifnames) {
      // detached daemons (wg-quick's) are not our children: find them by their unique name
      await run('pkill', ['-KILL', '-f', `(wireguard-ts\\.js|wireguard-go) (-f )?${ifname}$`]);
    }
    for (const ns of this.namespaces.reverse()) {
      const r = await run('ip', ['netns', 'del', ns]);
      if (r.code !== 0) problems.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
    }
    this.namespaces.length = 0;
    for (const ifname of this.ifnames) rmSync(join(SOCK_DIR, `${ifname}.sock`), { force: true });
    rmSync(this.tmp, { recursive: true, force: true });
    return problems;
  }
}
