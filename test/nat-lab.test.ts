// SPDX-License-Identifier: MIT
/**
 * Namespace lab for @start-tunnel/nat: real nftables, real traffic. Five network namespaces
 * (`stnat-<pid>-*`): a visitor on the VPS's WAN, the VPS (our table is applied inside it, nft
 * run through `ip netns exec`), and three devices behind a bridge named like the WireGuard
 * interface. The bridge ports are isolated, so, as with WireGuard, devices only ever talk to
 * the VPS, which routes between them. Addresses: 203.0.113.0/24 (WAN), 10.59.1.0/24 and
 * 10.59.2.0/24 (subnets). Nothing leaves the namespaces.
 *
 * Each namespace runs one node "agent" (the script below) that serves TCP/UDP ports and makes
 * probes on request, so a probe costs no process start. The lab holds
 * /tmp/start-tunnel-netns.lock for its whole run so no two labs share the machine; run it by
 * hand as `flock /tmp/start-tunnel-netns.lock node scripts/run-tests.mjs nat-lab` (the test sees
 * the lock held by its ancestor and does not wait for itself).
 * @module
 */

import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  applyState,
  checkDrift,
  execaNftRunner,
  type ForwardState,
  type NatState,
  NatStateError,
  NftError,
  type NftRunner,
  readForwardCounters,
  readTable,
  type Sysctl,
  teardown,
} from '@start-tunnel/nat';
import { takeLock } from './_lab.ts';

const PREFIX = `stnat-${process.pid}`;
const NS = {
  visitor: `${PREFIX}-visitor`,
  vps: `${PREFIX}-vps`,
  dev1: `${PREFIX}-dev1`,
  dev1b: `${PREFIX}-dev1b`,
  dev2: `${PREFIX}-dev2`,
} as const;
type Role = keyof typeof NS;
const TUNNEL = 'wg-start-tunnel';
const WAN = '203.0.113.1';
const VISITOR = '203.0.113.2';
/** A second WAN address, the explicit SNAT source of subnet 2's egress. */
const WAN_SNAT = '203.0.113.3';
const DEVICES = [
  { role: 'dev1', port: 'p1', address: '10.59.1.2', gateway: '10.59.1.1' },
  { role: 'dev1b', port: 'p1b', address: '10.59.1.3', gateway: '10.59.1.1' },
  { role: 'dev2', port: 'p2', address: '10.59.2.2', gateway: '10.59.2.1' },
] as const;
const OK_MS = 3000;
const BLOCKED_MS = 1200;

function skipReason(): string | false {
  if (process.platform !== 'linux') return 'needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'needs root for network namespaces and nftables';
  for (const [tool, arg] of [
    ['ip', '-V'],
    ['nft', '--version'],
    ['flock', '--version'],
  ]) {
    if (spawnSync(tool as string, [arg as string]).error)
      return `needs ${tool} (install iproute2, nftables)`;
  }
  return false;
}

const execFileAsync = promisify(execFile);
/** Runs a command (10 s at most) and returns its stdout; throws with stderr on failure. */
async function run(argv: readonly string[]): Promise<string> {
  const [file, ...args] = argv;
  try {
    return (await execFileAsync(file as string, args, { timeout: 10_000 })).stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`${argv.join(' ')} failed: ${stderr || String(error)}`);
  }
}
const inNs = (role: Role, ...argv: string[]) => run(['ip', 'netns', 'exec', NS[role], ...argv]);
/** `ip -n <namespace> <words>`, the words split on spaces. */
const ipIn = (role: Role, words: string) => run(['ip', '-n', NS[role], ...words.split(' ')]);
/** A shell script in a namespace, with positional arguments. */
const sh = (role: Role, script: string, ...args: string[]) =>
  inNs(role, 'sh', '-c', script, 'sh', ...args);

// -- agents ---------------------------------------------------------------------------------

/** The agent: JSON requests on stdin, JSON replies on stdout (CommonJS, for `node -e`). */
const AGENT = String.raw`
const net = require('node:net'), dgram = require('node:dgram');
const name = process.argv[1], open = new Map();
const reply = (msg) => process.stdout.write(JSON.stringify(msg) + '\n');
function listen({ tcp = [], udp = [] }) {
  const ready = [];
  for (const port of tcp) {
    const server = net.createServer((sock) => {
      let buf = '';
      sock.on('error', () => {});
      sock.on('data', (d) => {
        buf += d;
        for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1))
          sock.write(name + ' ' + port + ' ' + sock.remoteAddress + '\n');
      });
    });
    ready.push(new Promise((ok, ko) => server.once('error', ko).listen(port, '0.0.0.0', ok)));
  }
  for (const port of udp) {
    const sock = dgram.createSocket('udp4');
    sock.on('message', (m, r) => sock.send(name + ' ' + port + ' ' + r.address, r.port, r.address));
    ready.push(new Promise((ok, ko) => sock.once('error', ko).bind(port, '0.0.0.0', ok)));
  }
  return Promise.all(ready);
}
function exchange(conn, timeoutMs) {
  return new Promise((resolve) => {
    const done = (result) => { clearTimeout(timer); conn.waiter = null; resolve(result); };
    const timer = setTimeout(() => done({ ok: false, error: 'timeout' }), timeoutMs);
    conn.waiter = done;
    conn.send();
  });
}
function connect(proto, host, port, timeoutMs) {
  return new Promise((resolve) => {
    const conn = { waiter: null, close: () => {} };
    const fail = (error) => { conn.close(); resolve({ conn: null, error }); };
    if (proto === 'tcp') {
      const sock = net.connect({ host, port });
      const timer = setTimeout(() => fail('timeout'), timeoutMs);
      let buf = '';
      sock.on('error', (e) => { clearTimeout(timer); if (conn.waiter) conn.waiter({ ok: false, error: e.code }); else fail(e.code); });
      sock.on('data', (d) => {
        buf += d;
        const i = buf.indexOf('\n');
        if (i >= 0 && conn.waiter) { const line = buf.slice(0, i); buf = buf.slice(i + 1); conn.waiter({ ok: true, reply: line }); }
      });
      sock.once('connect', () => { clearTimeout(timer); resolve({ conn }); });
      conn.send = () => sock.write('hi\n');
      conn.close = () => sock.destroy();
    } else {
      const sock = dgram.createSocket('udp4');
      sock.on('error', () => {});
      sock.on('message', (m) => { if (conn.waiter) conn.waiter({ ok: true, reply: String(m) }); });
      let tries = 0, retry = null;
      conn.send = () => {
        clearInterval(retry);
        tries = 0;
        const once = () => { if (tries++ < 3 && conn.waiter) sock.send('hi', port, host); else clearInterval(retry); };
        once();
        retry = setInterval(once, Math.max(100, timeoutMs / 3));
      };
      conn.close = () => { clearInterval(retry); sock.close(); };
      sock.bind(0, () => resolve({ conn }));
    }
  });
}
async function handle(req) {
  if (req.op === 'listen') { await listen(req); return { ok: true }; }
  if (req.op === 'probe' || req.op === 'open') {
    const { conn, error } = await connect(req.proto, req.host, req.port, req.timeoutMs);
    if (!conn) return { ok: false, error };
    const result = await exchange(conn, req.timeoutMs);
    if (req.op === 'open' && result.ok) open.set(req.key, conn); else conn.close();
    return result;
  }
  if (req.op === 'send') return exchange(open.get(req.key), req.timeoutMs);
  if (req.op === 'close') { open.get(req.key)?.close(); open.delete(req.key); return { ok: true }; }
  return { ok: false, error: 'unknown op' };
}
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const req = JSON.parse(line);
  handle(req).then((r) => reply({ id: req.id, ...r }), (e) => reply({ id: req.id, ok: false, error: String(e) }));
});
reply({ id: 0, ok: true });
`;

interface Answer {
  readonly ok: boolean;
  readonly reply?: string;
  readonly error?: string;
}

class Agent {
  readonly child: ChildProcess;
  #next = 1;
  #pending = new Map<number, (answer: Answer) => void>();
  readonly started: Promise<Answer>;

  constructor(role: Role) {
    this.child = spawn('ip', ['netns', 'exec', NS[role], process.execPath, '-e', AGENT, role], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.started = new Promise((resolve) => this.#pending.set(0, resolve));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const { id, ...answer } = JSON.parse(line) as Answer & { id: number };
      this.#pending.get(id)?.(answer);
      this.#pending.delete(id);
    });
    this.child.once('exit', () => {
      for (const resolve of this.#pending.values()) resolve({ ok: false, error: 'agent exited' });
      this.#pending.clear();
    });
  }

  /** Sends a request; answers `timeout` itself if the agent is silent for too long. */
  request(body: Record<string, unknown>, timeoutMs = OK_MS): Promise<Answer> {
    const id = this.#next++;
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => resolve({ ok: false, error: 'agent timeout' }),
        timeoutMs + 5000
      );
      this.#pending.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.child.stdin!.write(`${JSON.stringify({ id, timeoutMs, ...body })}\n`);
    });
  }

  probe(proto: 'tcp' | 'udp', host: string, port: number, timeoutMs = OK_MS): Promise<Answer> {
    return this.request({ op: 'probe', proto, host, port }, timeoutMs);
  }
}

// -- the desired state ----------------------------------------------------------------------

const FORWARDS: ForwardState[] = [
  { source: '443', target: '10.59.1.2:8443', protocol: 'tcp', label: 'web' },
  { source: '5353', target: '10.59.1.2', protocol: 'udp', label: 'udp only' },
  { source: '8000-8004', target: '10.59.1.2', protocol: 'tcp', label: 'range' },
  { source: '9000-9002', target: '10.59.1.2:7000', protocol: 'udp', label: 'offset range' },
  { source: '4443', target: '10.59.1.2:9443', protocol: 'tcp', keepSource: true },
  { source: '2222', target: '10.59.2.2', protocol: 'both', label: 'other subnet' },
];

function stateWith(forwards: readonly ForwardState[]): NatState {
  return {
    wan: { interfaces: ['wan0'], address: WAN },
    wireguard: { interface: TUNNEL, listenPort: 51820 },
    subnets: [{ cidr: '10.59.1.1/24' }, { cidr: '10.59.2.1/24', egress: WAN_SNAT }],
    forwards,
  };
}
const STATE = stateWith(FORWARDS);

const FOREIGN_TABLE = `table inet fake-ufw {
  chain input { type filter hook input priority filter; policy accept; tcp dport 22 counter accept; }
  chain forward { type filter hook forward priority filter; policy accept; }
}`;

describe('nat lab (network namespaces, real nftables)', {
  skip: skipReason(),
  timeout: 600_000,
}, () => {
  let release: (() => void) | null = null;
  const created: string[] = [];
  const agents = new Map<Role, Agent>();
  let nft: NftRunner;
  let sysctl: Sysctl;
  let rulesetBefore = '';
  let foreignBefore = '';
  const agent = (role: Role) => agents.get(role) as Agent;
  const ruleset = () => inNs('vps', 'nft', 'list', 'ruleset');
  const apply = async (state: NatState) => {
    const result = await applyState(state, { nft, sysctl });
    assert.deepEqual(result.drift, [], 'the kernel lists exactly what was written');
  };

  before(async () => {
    release = await takeLock();
    // namespaces left by a lab that was killed (its pid is gone)
    for (const line of (await run(['ip', 'netns', 'list'])).split('\n')) {
      const match = /^(stnat-(\d+)-[a-z0-9]+)/.exec(line);
      if (
        match?.[2] &&
        Number(match[2]) !== process.pid &&
        spawnSync('kill', ['-0', match[2]]).status !== 0
      ) {
        await run(['ip', 'netns', 'del', match[1] as string]).catch(() => {});
      }
    }
    for (const ns of Object.values(NS)) {
      await run(['ip', 'netns', 'add', ns]);
      created.push(ns);
      await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await ipIn('vps', `link add wan0 type veth peer name eth0 netns ${NS.visitor}`);
    await ipIn('vps', `addr add ${WAN}/24 dev wan0`);
    await ipIn('vps', `addr add ${WAN_SNAT}/24 dev wan0`);
    await ipIn('vps', 'link set wan0 up');
    await ipIn('visitor', `addr add ${VISITOR}/24 dev eth0`);
    await ipIn('visitor', 'link set eth0 up');
    // a neighbour on the provider's network routing the tunnel's range to the VPS
    await ipIn('visitor', `route add 10.59.0.0/16 via ${WAN}`);
    // br_netfilter (loaded by docker, built into some kernels) would run IP hooks on bridged
    // frames and forward DNAT'd hairpin at layer 2, where port isolation drops it; a WireGuard
    // interface has no layer 2, so the lab turns that off in the VPS namespace when present
    await sh('vps', 'f=/proc/sys/net/bridge/bridge-nf-call-iptables; [ ! -e $f ] || echo 0 > $f');
    await sh(
      'vps',
      'cd /proc/sys/net/ipv4/conf && echo 0 > all/send_redirects && echo 0 > default/send_redirects'
    );
    await ipIn('vps', `link add ${TUNNEL} type bridge`);
    await ipIn('vps', `addr add 10.59.1.1/24 dev ${TUNNEL}`);
    await ipIn('vps', `addr add 10.59.2.1/24 dev ${TUNNEL}`);
    await ipIn('vps', `link set ${TUNNEL} up`);
    for (const device of DEVICES) {
      const { role, port, address, gateway } = device;
      await ipIn('vps', `link add ${port} type veth peer name eth0 netns ${NS[role]}`);
      await ipIn('vps', `link set ${port} master ${TUNNEL}`);
      await ipIn('vps', `link set ${port} type bridge_slave isolated on`);
      await ipIn('vps', `link set ${port} up`);
      await ipIn(role, `addr add ${address}/32 dev eth0`);
      await ipIn(role, 'link set eth0 up');
      await ipIn(role, `route add ${gateway} dev eth0`);
      await ipIn(role, `route add default via ${gateway}`);
    }
    // "even with a route to it": dev2 routes subnet 1 into the tunnel explicitly
    await ipIn('dev2', 'route add 10.59.1.0/24 via 10.59.2.1');

    nft = execaNftRunner({ prefix: ['ip', 'netns', 'exec', NS.vps] });
    sysctl = {
      async write(name, value) {
        const path = `/proc/sys/${name.replaceAll('.', '/')}`;
        await sh('vps', 'printf "%s\\n" "$1" > "$2"', value, path);
      },
    };
    await sh('vps', 'echo 0 > /proc/sys/net/ipv4/ip_forward');
    await sh('vps', 'printf "%s\\n" "$1" | nft -f -', FOREIGN_TABLE);
    foreignBefore = await inNs('vps', 'nft', 'list', 'table', 'inet', 'fake-ufw');
    rulesetBefore = await ruleset();

    for (const role of Object.keys(NS) as Role[]) {
      const a = new Agent(role);
      agents.set(role, a);
      assert.equal((await a.started).ok, true, `agent ${role} did not start`);
    }
    const listen = (role: Role, tcp: number[], udp: number[]) =>
      agent(role).request({ op: 'listen', tcp, udp });
    const dev1Tcp = [8443, 5353, 8000, 8001, 8002, 8003, 8004, 8005, 9443];
    assert.equal((await listen('dev1', dev1Tcp, [5353, 7000, 7001, 7002, 7003])).ok, true);
    assert.equal((await listen('dev2', [2222], [2222])).ok, true);
    assert.equal((await listen('visitor', [80], [])).ok, true);
  });

  after(async () => {
    for (const a of agents.values()) a.child.kill('SIGKILL');
    for (const ns of created.reverse()) await run(['ip', 'netns', 'del', ns]).catch(() => {});
    release?.();
  });

  it('applies into an empty kernel, turns forwarding on and keeps the foreign table', async () => {
    assert.equal(await readTable({ nft }), null);
    assert.equal((await inNs('vps', 'cat', '/proc/sys/net/ipv4/ip_forward')).trim(), '0');
    await apply(STATE);
    assert.equal((await inNs('vps', 'cat', '/proc/sys/net/ipv4/ip_forward')).trim(), '1');
    assert.equal(await inNs('vps', 'nft', 'list', 'table', 'inet', 'fake-ufw'), foreignBefore);
    await apply(STATE); // idempotent: the same again, still no drift
  });

  it('lets a visitor reach a TCP and a UDP service on a device', async () => {
    const tcp = await agent('visitor').probe('tcp', WAN, 443);
    assert.deepEqual(
      tcp,
      { ok: true, reply: 'dev1 8443 10.59.1.1' },
      'masqueraded into the tunnel'
    );
    const udp = await agent('visitor').probe('udp', WAN, 5353);
    assert.deepEqual(udp, { ok: true, reply: 'dev1 5353 10.59.1.1' });
    const counters = await readForwardCounters(STATE, { nft });
    assert.ok((counters[0]?.packets ?? 0) > 0, 'the forward counted its packets');
    assert.ok((counters[1]?.packets ?? 0) > 0);
  });

  it('does not answer TCP on a UDP-only forward', async () => {
    assert.equal(
      (await agent('vps').probe('tcp', '10.59.1.2', 5353)).ok,
      true,
      'the service is up'
    );
    assert.equal((await agent('visitor').probe('tcp', WAN, 5353, BLOCKED_MS)).ok, false);
  });

  it('forwards every port of a range, and no port beyond it', async () => {
    for (const port of [8000, 8002, 8004]) {
      assert.deepEqual(await agent('visitor').probe('tcp', WAN, port), {
        ok: true,
        reply: `dev1 ${port} 10.59.1.1`,
      });
    }
    assert.equal((await agent('visitor').probe('tcp', WAN, 8005, BLOCKED_MS)).ok, false);
    for (const [port, target] of [
      [9000, 7000],
      [9001, 7001],
      [9002, 7002],
    ]) {
      assert.deepEqual(await agent('visitor').probe('udp', WAN, port as number), {
        ok: true,
        reply: `dev1 ${target} 10.59.1.1`,
      });
    }
    assert.equal((await agent('visitor').probe('udp', WAN, 9003, BLOCKED_MS)).ok, false);
  });

  it("keeps the visitor's source address when the forward opts in", async () => {
    assert.deepEqual(await agent('visitor').probe('tcp', WAN, 4443), {
      ok: true,
      reply: `dev1 9443 ${VISITOR}`,
    });
  });

  it('hairpins from devices of either subnet and from the device itself', async () => {
    for (const role of ['dev1b', 'dev2', 'dev1'] as const) {
      for (const [port, target] of [
        [443, 8443],
        [4443, 9443],
      ] as const) {
        // masqueraded even on the keep-source forward: the device would answer itself
        assert.deepEqual(
          await agent(role).probe('tcp', WAN, port),
          { ok: true, reply: `dev1 ${target} 10.59.1.1` },
          `${role} to port ${port}`
        );
      }
    }
    assert.deepEqual(await agent('dev1').probe('udp', WAN, 2222), {
      ok: true,
      reply: 'dev2 2222 10.59.2.1',
    });
  });

  it('hairpins from the VPS itself', async () => {
    assert.deepEqual(await agent('vps').probe('tcp', WAN, 443), {
      ok: true,
      reply: 'dev1 8443 10.59.1.1',
    });
    assert.deepEqual(await agent('vps').probe('udp', WAN, 5353), {
      ok: true,
      reply: 'dev1 5353 10.59.1.1',
    });
    assert.deepEqual(await agent('vps').probe('tcp', WAN, 4443), {
      ok: true,
      reply: 'dev1 9443 10.59.1.1',
    });
  });

  it('isolates subnets whatever the routes, and lets one subnet talk inside itself', async () => {
    // control: without our table the topology does route dev2 to dev1
    await teardown({ nft });
    assert.equal((await agent('dev2').probe('tcp', '10.59.1.2', 8443)).ok, true, 'control');
    await apply(STATE);
    const dropped = async () => {
      const listing = await inNs(
        'vps',
        'nft',
        '-j',
        'list',
        'counter',
        'inet',
        'start-tunnel',
        'isolation'
      );
      return (
        (JSON.parse(listing) as { nftables: { counter?: { packets: number } }[] }).nftables.find(
          (o) => o.counter
        )?.counter?.packets ?? -1
      );
    };
    const before = await dropped();
    assert.equal((await agent('dev2').probe('tcp', '10.59.1.2', 8443, BLOCKED_MS)).ok, false);
    assert.equal((await agent('dev1').probe('tcp', '10.59.2.2', 2222, BLOCKED_MS)).ok, false);
    assert.ok((await dropped()) > before, 'our isolation rule dropped them');
    assert.deepEqual(await agent('dev1b').probe('tcp', '10.59.1.2', 8443), {
      ok: true,
      reply: 'dev1 8443 10.59.1.3',
    });
  });

  it('sends subnet egress out masqueraded, or SNATed to the address asked', async () => {
    assert.deepEqual(await agent('dev1').probe('tcp', VISITOR, 80), {
      ok: true,
      reply: `visitor 80 ${WAN}`,
    });
    assert.deepEqual(await agent('dev2').probe('tcp', VISITOR, 80), {
      ok: true,
      reply: `visitor 80 ${WAN_SNAT}`,
    });
  });

  it('lets nothing from outside start a connection into the tunnel except forwards', async () => {
    await teardown({ nft });
    assert.equal((await agent('visitor').probe('tcp', '10.59.1.2', 8443)).ok, true, 'control');
    await apply(STATE);
    assert.equal((await agent('visitor').probe('tcp', '10.59.1.2', 8443, BLOCKED_MS)).ok, false);
    assert.equal((await agent('visitor').probe('udp', '10.59.1.2', 5353, BLOCKED_MS)).ok, false);
  });

  it('stops a disabled or removed forward at once, established flows included', async () => {
    const visitor = agent('visitor');
    const open = (key: string, proto: 'tcp' | 'udp', port: number) =>
      visitor.request({ op: 'open', key, proto, host: WAN, port });
    const send = (key: string, timeoutMs = OK_MS) =>
      visitor.request({ op: 'send', key }, timeoutMs);
    assert.deepEqual(await open('web', 'tcp', 443), { ok: true, reply: 'dev1 8443 10.59.1.1' });
    assert.deepEqual(await open('dns', 'udp', 5353), { ok: true, reply: 'dev1 5353 10.59.1.1' });
    assert.equal((await send('web')).ok, true);

    const disabled = FORWARDS.map((f, i) => (i <= 1 ? { ...f, enabled: false } : f));
    await apply(stateWith(disabled));
    assert.equal((await send('web', BLOCKED_MS)).ok, false, 'established TCP stopped');
    assert.equal((await send('dns', BLOCKED_MS)).ok, false, 'UDP flow stopped');
    assert.equal((await visitor.probe('tcp', WAN, 443, BLOCKED_MS)).ok, false);
    assert.equal((await visitor.probe('udp', WAN, 5353, BLOCKED_MS)).ok, false);
    assert.equal((await visitor.probe('tcp', WAN, 8000)).ok, true, 'other forwards unaffected');

    await apply(stateWith(disabled.filter((f) => f.label !== 'range')));
    assert.equal((await visitor.probe('tcp', WAN, 8000, BLOCKED_MS)).ok, false, 'removed');

    await apply(STATE);
    assert.equal((await send('dns')).ok, true, 'enabled again, the same UDP flow resumes');
    assert.equal((await visitor.probe('tcp', WAN, 443)).ok, true);
    assert.equal((await visitor.probe('tcp', WAN, 8000)).ok, true);
    await visitor.request({ op: 'close', key: 'web' });
    await visitor.request({ op: 'close', key: 'dns' });
  });

  it('reports drift when someone edits our table, and a re-apply repairs it', async () => {
    await inNs('vps', 'nft', 'flush', 'chain', 'inet', 'start-tunnel', 'port-forwards');
    const drift = await checkDrift(STATE, { nft });
    assert.equal(drift.length, FORWARDS.length);
    assert.ok(drift.every((d) => d.kind === 'missing' && d.path.startsWith('chain port-forwards')));
    await apply(STATE);
    assert.deepEqual(await checkDrift(STATE, { nft }), []);
  });

  it('changes nothing on bad input or a refused transaction', async () => {
    const applied = await ruleset();
    const bad = stateWith([...FORWARDS, { source: '51820', target: '10.59.1.2', protocol: 'udp' }]);
    await assert.rejects(applyState(bad, { nft, sysctl }), NatStateError);
    // a runner that slips an invalid rule into the batch, as a kernel refusal would look
    const broken: NftRunner = {
      run(args, input) {
        if (input === undefined) return nft.run(args);
        const batch = JSON.parse(input) as { nftables: unknown[] };
        const rule = {
          family: 'inet',
          table: 'start-tunnel',
          chain: 'forward',
          expr: [{ jump: { target: 'no-such-chain' } }],
        };
        batch.nftables.push({ add: { rule } });
        return nft.run(args, JSON.stringify(batch));
      },
    };
    await assert.rejects(
      applyState(stateWith(FORWARDS.slice(0, 1)), { nft: broken, sysctl }),
      (error) => {
        assert.ok(error instanceof NftError);
        assert.equal(error.code, 'REJECTED');
        assert.match(error.message, /nothing was changed \(nft said ".+"\)$/);
        return true;
      }
    );
    assert.equal(await ruleset(), applied);
  });

  it('tears down to exactly the ruleset it found, foreign table included', async () => {
    await teardown({ nft });
    await teardown({ nft });
    assert.equal(await ruleset(), rulesetBefore);
    assert.equal(await inNs('vps', 'nft', 'list', 'table', 'inet', 'fake-ufw'), foreignBefore);
    assert.equal((await agent('visitor').probe('tcp', WAN, 443, BLOCKED_MS)).ok, false);
  });
});
