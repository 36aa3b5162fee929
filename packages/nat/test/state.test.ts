// SPDX-License-Identifier: MIT
/**
 * `validateState`: every field's bad values get an error naming the field and the reason, in
 * the house style; clash rules between forwards, the WireGuard port and reserved ports.
 * @module
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type NatState, NatStateError, validateState } from '../src/index.ts';
import { BASE, setAt, withForwards } from './fixtures.ts';

const WEB = { source: '443', target: '10.59.1.2:443', protocol: 'tcp' } as const;

/** Validates and returns the issues (none when valid). */
function issuesOf(state: NatState): { path: string; message: string }[] {
  try {
    validateState(state);
    return [];
  } catch (error) {
    assert.ok(error instanceof NatStateError, `not a NatStateError: ${String(error)}`);
    assert.equal(error.message, error.issues.map((i) => i.message).join('\n'));
    return [...error.issues];
  }
}

// [path, bad value (undefined = deleted), words the reason must contain]
const BAD: [string, unknown, string][] = [
  ['wan', undefined, 'object is required'],
  ['wan', 'eth0', 'expected an object'],
  ['wan.interfaces', undefined, 'list of interface names'],
  ['wan.interfaces', 'eth0', 'expected a list'],
  ['wan.interfaces', [], 'at least one WAN interface'],
  ['wan.interfaces[0]', 'eth 0', 'letters, digits'],
  ['wan.interfaces[0]', 'a-name-too-long-x', 'letters, digits'],
  ['wan.interfaces[0]', 'wg-start-tunnel', 'cannot be a WAN'],
  ['wan.interfaces[0]', 7, 'letters, digits'],
  ['wan.address', 'one.two', 'IPv4 address'],
  ['wan.address', '127.0.0.1', 'not a unicast address'],
  ['wan.address', '10.59.1.9', 'inside the tunnel subnet "10.59.1.0/24"'],
  ['wireguard', undefined, 'object is required'],
  ['wireguard.interface', undefined, 'interface name is required'],
  ['wireguard.interface', '', 'letters, digits'],
  ['wireguard.interface', 'wg/0', 'letters, digits'],
  ['wireguard.interface', '..', 'letters, digits'],
  ['wireguard.listenPort', undefined, 'UDP port is required'],
  ['wireguard.listenPort', 0, 'integer from 1 to 65535'],
  ['wireguard.listenPort', 65536, 'integer from 1 to 65535'],
  ['wireguard.listenPort', 1.5, 'integer from 1 to 65535'],
  ['wireguard.listenPort', '51820', 'integer from 1 to 65535'],
  ['subnets', undefined, 'list of subnets'],
  ['subnets', {}, 'expected a list'],
  ['subnets[0]', 'x', 'expected an object'],
  ['subnets[0].cidr', undefined, 'subnet like'],
  ['subnets[0].cidr', '10.59.1.1', 'subnet like'],
  ['subnets[0].cidr', '10.59.1.1/31', 'from 8 to 30'],
  ['subnets[0].cidr', '10.0.0.1/7', 'from 8 to 30'],
  ['subnets[0].cidr', '127.0.0.1/8', 'not a unicast range'],
  ['subnets[0].cidr', '10.59.1.255/24', 'broadcast address'],
  ['subnets[1].cidr', '10.59.1.129/25', 'overlaps the subnet "10.59.1.0/24"'],
  ['subnets[0].egress', 'nat', '"masquerade", "none" or an IPv4 address'],
  ['subnets[0].egress', 5, '"masquerade", "none" or an IPv4 address'],
  ['subnets[0].egress', '10.59.2.7', 'inside the tunnel subnet "10.59.2.0/24"'],
  ['subnets[0].egress', '224.0.0.1', 'not a unicast address'],
  ['reserved', 'ssh', 'expected a list'],
  ['reserved[0].protocol', 'sctp', '"tcp" or "udp"'],
  ['reserved[0].port', 0, 'integer from 1 to 65535'],
  ['reserved[0].name', '', 'name like'],
  ['forwards', undefined, 'list of forwards'],
  ['forwards[0]', 443, 'expected an object'],
  ['forwards[0].protocol', undefined, '"tcp", "udp" or "both"'],
  ['forwards[0].protocol', 'icmp', '"tcp", "udp" or "both"'],
  ['forwards[0].protocol', 'TCP', '"tcp", "udp" or "both"'],
  ['forwards[0].source', undefined, 'public port like'],
  ['forwards[0].source', 443, 'port like'],
  ['forwards[0].source', 'https', 'not a port or range'],
  ['forwards[0].source', '0', 'not a port or range'],
  ['forwards[0].source', '65536', 'not a port or range'],
  ['forwards[0].source', '9000-8000', 'not a port or range'],
  ['forwards[0].source', '203.0.113.x:443', 'IPv4 address'],
  ['forwards[0].source', '10.59.1.7:443', 'inside the tunnel subnet'],
  ['forwards[0].source', '127.0.0.1:443', 'not a unicast address'],
  ['forwards[0].target', undefined, 'device address like'],
  ['forwards[0].target', ['10.59.1.2'], 'device address like'],
  ['forwards[0].target', 'device:443', 'device address like'],
  ['forwards[0].target', '10.60.0.2:443', 'outside every subnet ("10.59.1.0/24", "10.59.2.0/24")'],
  ['forwards[0].target', '10.59.1.0:443', 'network or broadcast address'],
  ['forwards[0].target', '10.59.1.255', 'network or broadcast address'],
  ['forwards[0].target', '10.59.1.1:443', 'the VPS itself'],
  ['forwards[0].target', '10.59.1.2:0', 'one port from 1 to 65535'],
  ['forwards[0].target', '10.59.1.2:80-81', 'one port from 1 to 65535'],
  ['forwards[0].enabled', 'yes', 'true or false'],
  ['forwards[0].keepSource', 1, 'true or false'],
  ['forwards[0].label', 5, 'at most 100 characters'],
  ['forwards[0].label', 'x'.repeat(101), 'at most 100 characters'],
  ['forwards[0].label', 'two\nlines', 'at most 100 characters'],
];

describe('validateState()', () => {
  const good: NatState = {
    ...withForwards({ ...WEB, label: 'web', enabled: true, keepSource: false }),
    reserved: [{ protocol: 'tcp', port: 22, name: 'ssh' }],
  };

  it('accepts the good state the bad ones derive from', () => {
    assert.deepEqual(issuesOf(good), []);
    const config = validateState(good);
    assert.equal(config.tunnel, 'wg-start-tunnel');
    assert.equal(config.forwards[0]?.counter, 'fwd-tcp-wan-443');
  });

  for (const [path, value, reason] of BAD) {
    it(`names ${path} = ${JSON.stringify(value) ?? 'missing'}`, () => {
      const issues = issuesOf(setAt(good, path, value));
      const issue = issues.find((i) => i.path === path);
      assert.ok(issue, `no issue for ${path}: ${JSON.stringify(issues)}`);
      assert.match(issue.message, /^(Invalid|Missing) /);
      assert.ok(issue.message.includes(` ${path}`), issue.message);
      assert.ok(issue.message.includes(reason), `${issue.message} lacks ${reason}`);
      assert.doesNotMatch(issue.message, /\.$/);
      if (value !== undefined && typeof value === 'string') {
        assert.ok(
          issue.message.includes(JSON.stringify(value)),
          `${issue.message} lacks the value`
        );
      }
    });
  }

  it('reports every problem at once', () => {
    const state = setAt(setAt(good, 'wan.address', 'x'), 'forwards[0].protocol', 'icmp');
    assert.deepEqual(
      issuesOf(state).map((i) => i.path),
      ['wan.address', 'forwards[0].protocol']
    );
  });

  it('allows a range whose target ports stay under 65536 and refuses one that does not', () => {
    const fits = { source: '8000-8010', target: '10.59.1.2:65525', protocol: 'tcp' } as const;
    assert.deepEqual(issuesOf(withForwards(fits)), []);
    const [issue] = issuesOf(withForwards({ ...fits, target: '10.59.1.2:65526' }));
    assert.equal(
      issue?.message,
      'Invalid forwards[0].target "10.59.1.2:65526": the source range "8000-8010" needs target ports up to 65536'
    );
  });

  it('reads a subnet written as its network, with no gateway', () => {
    const config = validateState({ ...BASE, subnets: [{ cidr: '10.59.1.0/24' }] });
    assert.equal(config.subnets[0]?.gateway, null);
  });
});

describe('forward clashes', () => {
  const paths = (state: NatState) => issuesOf(state).map((i) => i.path);

  it('lets tcp 443 and udp 443 coexist', () => {
    assert.deepEqual(paths(withForwards(WEB, { ...WEB, protocol: 'udp' })), []);
  });

  it('refuses both 443 next to tcp 443, naming the other forward', () => {
    const [issue] = issuesOf(withForwards({ ...WEB, label: 'web' }, { ...WEB, protocol: 'both' }));
    assert.equal(
      issue?.message,
      'Invalid forwards[1].source "443": clashes with forwards[0] ("web", tcp 443)'
    );
  });

  it('refuses overlapping ranges of one protocol and allows adjacent ones', () => {
    const a = { source: '8000-8100', target: '10.59.1.2', protocol: 'udp' } as const;
    assert.deepEqual(paths(withForwards(a, { ...a, source: '8100-8200' })), ['forwards[1].source']);
    assert.deepEqual(paths(withForwards(a, { ...a, source: '8050' })), ['forwards[1].source']);
    assert.deepEqual(paths(withForwards(a, { ...a, source: '8101-8200' })), []);
    assert.deepEqual(paths(withForwards(a, { ...a, source: '8000-8100', protocol: 'tcp' })), []);
  });

  it('refuses the WireGuard port for UDP only', () => {
    const udp = { source: '51820', target: '10.59.1.2', protocol: 'udp' } as const;
    const [issue] = issuesOf(withForwards(udp));
    assert.equal(
      issue?.message,
      'Invalid forwards[0].source "51820": clashes with the WireGuard listen port 51820/udp'
    );
    assert.deepEqual(paths(withForwards({ ...udp, protocol: 'both' })), ['forwards[0].source']);
    assert.deepEqual(paths(withForwards({ ...udp, source: '51000-52000' })), [
      'forwards[0].source',
    ]);
    assert.deepEqual(paths(withForwards({ ...udp, source: '203.0.113.9:51820' })), [
      'forwards[0].source',
    ]);
    assert.deepEqual(paths(withForwards({ ...udp, protocol: 'tcp' })), []);
  });

  it('refuses reserved ports by protocol', () => {
    const state = {
      ...withForwards({ source: '22', target: '10.59.1.2', protocol: 'tcp' }),
      reserved: [{ protocol: 'tcp', port: 22, name: 'ssh' }],
    } satisfies NatState;
    const [issue] = issuesOf(state);
    assert.equal(
      issue?.message,
      'Invalid forwards[0].source "22": clashes with the reserved port 22/tcp ("ssh")'
    );
    assert.deepEqual(
      paths({ ...state, forwards: [{ ...state.forwards[0]!, protocol: 'udp' }] }),
      []
    );
  });

  it('treats the WAN address written out as the WAN, and another address as separate', () => {
    assert.deepEqual(paths(withForwards(WEB, { ...WEB, source: '203.0.113.1:443' })), [
      'forwards[1].source',
    ]);
    assert.deepEqual(paths(withForwards(WEB, { ...WEB, source: '203.0.113.9:443' })), []);
    const config = validateState(withForwards({ ...WEB, source: '203.0.113.1:443' }));
    assert.equal(config.forwards[0]?.address, null);
  });

  it('ignores disabled forwards, which hold no port', () => {
    const off = { ...WEB, target: '10.59.2.2:443', enabled: false };
    assert.deepEqual(paths(withForwards(WEB, off)), []);
    assert.deepEqual(
      paths(withForwards({ ...WEB, source: '51820', protocol: 'udp', enabled: false })),
      []
    );
    assert.deepEqual(paths(withForwards(WEB, { ...off, enabled: true })), ['forwards[1].source']);
  });
});
