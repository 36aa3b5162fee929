// SPDX-License-Identifier: MIT
/**
 * `applyState`, `teardown`, `checkDrift` and the counters against the recording fake nft: what
 * is run, in which order, and that bad input or a refusal leaves the kernel and the sysctls as
 * they were.
 * @module
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyState,
  buildRuleset,
  checkDrift,
  type NatState,
  NatStateError,
  NftError,
  type NftObject,
  RecordingNftRunner,
  readForwardCounters,
  type Sysctl,
  teardown,
} from '../src/index.ts';
import { BASE, setAt, withForwards } from './fixtures.ts';

const STATE = withForwards(
  { source: '443', target: '10.59.1.2', protocol: 'tcp' },
  { source: '5000-5002', target: '10.59.2.2:6000', protocol: 'both' },
  { source: '7000', target: '10.59.2.2', protocol: 'udp', enabled: false }
);

class RecordingSysctl implements Sysctl {
  readonly writes: [string, string][] = [];
  async write(name: string, value: string): Promise<void> {
    this.writes.push([name, value]);
  }
}

function setup() {
  return { nft: new RecordingNftRunner(), sysctl: new RecordingSysctl() };
}

/** A foreign table as ufw's iptables-nft would leave it. */
const FOREIGN: NftObject[] = [
  { table: { family: 'inet', name: 'fake-ufw' } },
  {
    chain: {
      family: 'inet',
      table: 'fake-ufw',
      name: 'input',
      type: 'filter',
      hook: 'input',
      prio: 0,
      policy: 'drop',
    },
  },
];

describe('applyState()', () => {
  it('reads counters, applies one batch, sets forwarding, reads back with no drift', async () => {
    const { nft, sysctl } = setup();
    const result = await applyState(STATE, { nft, sysctl });
    assert.deepEqual(
      nft.calls.map((c) => c.args.join(' ')),
      ['-j list counters table inet start-tunnel', '-j -f -', '-j list table inet start-tunnel']
    );
    assert.deepEqual(nft.batches(), [buildRuleset(STATE)]);
    assert.deepEqual(sysctl.writes, [['net.ipv4.ip_forward', '1']]);
    assert.deepEqual(result.drift, []);
    assert.equal(result.commands, buildRuleset(STATE).nftables.length);
  });

  it('is idempotent: a second apply writes the same batch and finds no drift', async () => {
    const { nft, sysctl } = setup();
    await applyState(STATE, { nft, sysctl });
    const again = await applyState(STATE, { nft, sysctl });
    const [first, second] = nft.batches();
    assert.deepEqual(first, second);
    assert.deepEqual(again.drift, []);
  });

  it('keeps the counters of forwards across applies', async () => {
    const { nft, sysctl } = setup();
    await applyState(STATE, { nft, sysctl });
    // traffic happened: the kernel's counter moved
    const objects = nft.tables.get('inet start-tunnel')!;
    const index = objects.findIndex((o) => 'counter' in o && o.counter.name === 'fwd-tcp-wan-443');
    const counter = objects[index] as { counter: { name: string } };
    objects[index] = {
      counter: {
        ...counter.counter,
        family: 'inet',
        table: 'start-tunnel',
        packets: 12,
        bytes: 3400,
      },
    };
    await applyState(
      withForwards(...STATE.forwards, { source: '22', target: '10.59.1.2', protocol: 'tcp' }),
      {
        nft,
        sysctl,
      }
    );
    const seeded = nft
      .batches()[1]!
      .nftables.find(
        (c) => 'add' in c && 'counter' in c.add && c.add.counter.name === 'fwd-tcp-wan-443'
      );
    assert.ok(seeded && 'add' in seeded && 'counter' in seeded.add);
    assert.equal(seeded.add.counter.packets, 12);
    assert.equal(seeded.add.counter.bytes, 3400);
    assert.deepEqual(await readForwardCounters(STATE, { nft }), [
      { packets: 12, bytes: 3400 },
      { packets: 0, bytes: 0 },
      null,
    ]);
  });

  it('leaves sysctls alone when told to, and skips the read-back when told to', async () => {
    const { nft } = setup();
    const result = await applyState(STATE, { nft, sysctl: null, verify: false });
    assert.deepEqual(result.drift, []);
    assert.equal(nft.calls.length, 2);
  });

  it('never touches a foreign table', async () => {
    const { nft, sysctl } = setup();
    nft.tables.set('inet fake-ufw', [...FOREIGN]);
    await applyState(STATE, { nft, sysctl });
    await teardown({ nft });
    assert.deepEqual([...nft.tables.keys()], ['inet fake-ufw']);
    assert.deepEqual(nft.tables.get('inet fake-ufw'), FOREIGN);
    for (const batch of nft.batches()) {
      assert.ok(!JSON.stringify(batch).includes('fake-ufw'));
      assert.ok(!JSON.stringify(batch).includes('"flush"'));
    }
  });
});

describe('bad input', () => {
  const cases: [string, unknown][] = [
    ['wan.interfaces[0]', 'bad name'],
    ['wan.address', '300.1.1.1'],
    ['wireguard.interface', ''],
    ['wireguard.listenPort', -1],
    ['subnets[0].cidr', '10.59.1.1/40'],
    ['subnets[0].egress', 'sometimes'],
    ['forwards[0].source', '70000'],
    ['forwards[0].target', '192.0.2.10:443'],
    ['forwards[0].protocol', 'sctp'],
    ['forwards[0].enabled', 'no'],
    ['forwards[0].label', '\u0007'],
    ['forwards[0].keepSource', 'yes'],
  ];
  for (const [path, value] of cases) {
    it(`${path} = ${JSON.stringify(value)} is refused before nft or a sysctl runs`, async () => {
      const { nft, sysctl } = setup();
      await assert.rejects(applyState(setAt(STATE, path, value), { nft, sysctl }), (error) => {
        assert.ok(error instanceof NatStateError);
        assert.ok(
          error.issues.some((issue) => issue.path === path),
          error.message
        );
        return true;
      });
      assert.deepEqual(nft.calls, []);
      assert.deepEqual(sysctl.writes, []);
    });
  }

  it('refuses a forward clashing with another, leaving an applied table as it was', async () => {
    const { nft, sysctl } = setup();
    await applyState(STATE, { nft, sysctl });
    const before = structuredClone(nft.tables.get('inet start-tunnel'));
    const calls = nft.calls.length;
    const clash = withForwards(...STATE.forwards, {
      source: '5001',
      target: '10.59.1.9',
      protocol: 'udp',
    });
    await assert.rejects(applyState(clash, { nft, sysctl }), /clashes with forwards\[1\]/);
    assert.equal(nft.calls.length, calls);
    assert.deepEqual(nft.tables.get('inet start-tunnel'), before);
  });
});

describe('nft failures', () => {
  it('says how to install nft when it is missing', async () => {
    const { nft, sysctl } = setup();
    nft.uninstall();
    await assert.rejects(applyState(STATE, { nft, sysctl }), (error) => {
      assert.ok(error instanceof NftError);
      assert.equal(error.code, 'NFT_MISSING');
      return true;
    });
    assert.deepEqual(sysctl.writes, []);
  });

  it('reports a rejected ruleset with nft message, changes nothing, sets no sysctl', async () => {
    const { nft, sysctl } = setup();
    nft.tables.set('inet fake-ufw', [...FOREIGN]);
    const stderr = 'internal:0:0-0: Error: Could not process rule: Operation not supported\n\n';
    nft.failWith(
      { exitCode: 0, stdout: '{"nftables":[]}', stderr: '' },
      { exitCode: 1, stdout: '', stderr }
    );
    await assert.rejects(applyState(STATE, { nft, sysctl }), (error) => {
      assert.ok(error instanceof NftError);
      assert.equal(error.code, 'REJECTED');
      assert.equal(
        error.message,
        'Cannot apply the ruleset: nft rejected it and nothing was changed (nft said "internal:0:0-0: Error: Could not process rule: Operation not supported")'
      );
      assert.equal(error.stderr, stderr);
      return true;
    });
    assert.deepEqual([...nft.tables.keys()], ['inet fake-ufw']);
    assert.deepEqual(sysctl.writes, []);
  });

  it('recognises a kernel without nf_tables', async () => {
    const { nft, sysctl } = setup();
    nft.failWith({
      exitCode: 1,
      stdout: '',
      stderr: 'netlink: Error: cache initialization failed: Protocol not supported\n',
    });
    await assert.rejects(applyState(STATE, { nft, sysctl }), (error) => {
      assert.ok(error instanceof NftError);
      assert.equal(error.code, 'NO_NF_TABLES');
      assert.match(error.message, /^Cannot read the counters: the kernel has no nf_tables support/);
      assert.match(error.message, /modprobe nf_tables/);
      return true;
    });
  });

  it('recognises a missing capability', async () => {
    const { nft } = setup();
    nft.failWith({ exitCode: 1, stdout: '', stderr: 'Error: Operation not permitted\n' });
    await assert.rejects(teardown({ nft }), (error) => {
      assert.ok(error instanceof NftError);
      assert.equal(error.code, 'NOT_PERMITTED');
      assert.match(error.message, /needs root/);
      return true;
    });
  });
});

describe('teardown()', () => {
  it('deletes our table only, and is a no-op when it is absent', async () => {
    const { nft, sysctl } = setup();
    await teardown({ nft });
    await applyState(STATE, { nft, sysctl });
    await teardown({ nft });
    await teardown({ nft });
    assert.equal(nft.tables.size, 0);
    assert.deepEqual(nft.batches().at(-1), {
      nftables: [
        { add: { table: { family: 'inet', name: 'start-tunnel' } } },
        { delete: { table: { family: 'inet', name: 'start-tunnel' } } },
      ],
    });
  });
});

describe('checkDrift()', () => {
  it('reports a missing table, then nothing once applied', async () => {
    const { nft, sysctl } = setup();
    assert.deepEqual(
      (await checkDrift(STATE, { nft })).map((d) => d.message),
      ['The table "inet start-tunnel" is missing']
    );
    await applyState(STATE, { nft, sysctl });
    assert.deepEqual(await checkDrift(STATE, { nft }), []);
  });

  it('reports the state changing under an applied table', async () => {
    const { nft, sysctl } = setup();
    await applyState(BASE, { nft, sysctl });
    const drift = await checkDrift(STATE, { nft });
    assert.ok(drift.some((d) => d.kind === 'missing' && d.path === 'counter fwd-tcp-wan-443'));
    assert.ok(drift.some((d) => d.path.startsWith('chain port-forwards rule')));
  });

  it('validates the state first', async () => {
    const { nft } = setup();
    await assert.rejects(
      checkDrift(setAt(BASE, 'wan.interfaces', []) as NatState, { nft }),
      NatStateError
    );
    assert.deepEqual(nft.calls, []);
  });
});
