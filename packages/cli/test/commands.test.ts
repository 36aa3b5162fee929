// SPDX-License-Identifier: MIT
/**
 * Every command against the fake daemon, in-process: the method and the exact parameters it
 * sends (the fake checks them with the daemon's own schemas, so an extra or misspelt field
 * fails), the human output, and the `--format json` shapes.
 * @module
 */

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  type Call,
  cannedResults,
  cli,
  type FakeDaemon,
  fakeDaemon,
  KEY_A,
} from './_fake-daemon.ts';

let d: FakeDaemon;
before(async () => {
  d = await fakeDaemon();
});
after(async () => {
  await d.stop();
});
beforeEach(() => {
  d.calls.length = 0;
});

/** Runs a command, asserts success and exactly one call; returns the call and the output. */
async function one(argv: string[]): Promise<{ call: Call; stdout: string; stderr: string }> {
  const o = await cli(argv, d.env);
  assert.equal(o.code, 0, `exit ${o.code}: ${o.stderr}`);
  assert.equal(d.calls.length, 1, `calls: ${JSON.stringify(d.calls)}`);
  return { call: d.calls[0]!, stdout: o.stdout, stderr: o.stderr };
}

describe('method and parameters of every command', () => {
  const cases: [string[], string, unknown][] = [
    [['subnet', 'list'], 'subnet.list', {}],
    [['subnet', 'ls'], 'subnet.list', {}],
    [
      ['subnet', 'add', '10.59.7.0/24', 'Home'],
      'subnet.add',
      { subnet: '10.59.7.0/24', name: 'Home' },
    ],
    [['subnet', 'remove', '10.59.7.1/24'], 'subnet.remove', { subnet: '10.59.7.1/24' }],
    [['subnet', 'rm', '10.59.7.1/24'], 'subnet.remove', { subnet: '10.59.7.1/24' }],
    [
      ['subnet', 'set-wan', '10.59.7.1/24', '--wan-ip', '198.51.100.7'],
      'subnet.set-wan',
      { subnet: '10.59.7.1/24', wanIp: '198.51.100.7' },
    ],
    [
      ['subnet', '10.59.7.1/24', 'set-wan'],
      'subnet.set-wan',
      { subnet: '10.59.7.1/24', wanIp: null },
    ],
    [
      ['subnet', '10.59.7.1/24', 'set-ipv6', '--prefix', '2001:db8:7::/64'],
      'subnet.set-ipv6',
      { subnet: '10.59.7.1/24', prefix: '2001:db8:7::/64' },
    ],
    [
      ['subnet', 'set-ipv6', '10.59.7.1/24'],
      'subnet.set-ipv6',
      { subnet: '10.59.7.1/24', prefix: null },
    ],
    [
      [
        'subnet',
        '10.59.7.1/24',
        'set-dns',
        '--mode',
        'custom',
        '--server',
        '9.9.9.9',
        '--server=1.1.1.1',
      ],
      'subnet.set-dns',
      { subnet: '10.59.7.1/24', mode: 'custom', servers: ['9.9.9.9', '1.1.1.1'] },
    ],
    [
      ['subnet', 'set-dns', '10.59.7.1/24', '--mode', 'device', '--device-ip', '10.59.7.53'],
      'subnet.set-dns',
      { subnet: '10.59.7.1/24', mode: 'device', deviceIp: '10.59.7.53' },
    ],
    [
      ['subnet', 'set-dns', '10.59.7.1/24', '--mode', 'default'],
      'subnet.set-dns',
      { subnet: '10.59.7.1/24', mode: 'default' },
    ],
    [['device', 'list', '10.59.7.1/24'], 'device.list', { subnet: '10.59.7.1/24' }],
    [
      ['device', 'set-dns-injection', '10.59.7.1/24', '10.59.7.10', '--enabled'],
      'device.set-dns-injection',
      { subnet: '10.59.7.1/24', ip: '10.59.7.10', enabled: true },
    ],
    [
      ['device', 'set-auto-port-forward', '10.59.7.1/24', '10.59.7.10'],
      'device.set-auto-port-forward',
      { subnet: '10.59.7.1/24', ip: '10.59.7.10', enabled: false },
    ],
    [
      ['device', 'dns-key', '10.59.7.1/24', '10.59.7.10'],
      'device.dns-key',
      { subnet: '10.59.7.1/24', ip: '10.59.7.10' },
    ],
    [
      ['device', 'add', '10.59.7.1/24', 'nas', '--kind', 'server'],
      'device.add',
      { subnet: '10.59.7.1/24', name: 'nas', kind: 'server' },
    ],
    [
      ['device', 'set-kind', '10.59.7.1/24', '10.59.7.2', '--kind=server'],
      'device.set-kind',
      { subnet: '10.59.7.1/24', ip: '10.59.7.2', kind: 'server' },
    ],
    [
      ['device', 'set-wan', '10.59.7.1/24', '10.59.7.2', '--wan-ip', '198.51.100.7'],
      'device.set-wan',
      { subnet: '10.59.7.1/24', ip: '10.59.7.2', wanIp: '198.51.100.7' },
    ],
    [
      ['device', 'set-wan', '10.59.7.1/24', '10.59.7.2'],
      'device.set-wan',
      { subnet: '10.59.7.1/24', ip: '10.59.7.2', wanIp: null },
    ],
    [
      ['device', 'add', '10.59.7.1/24', 'phone'],
      'device.add',
      { subnet: '10.59.7.1/24', name: 'phone' },
    ],
    [
      ['device', 'add', '10.59.7.0/24', 'nas', '10.59.7.10'],
      'device.add',
      { subnet: '10.59.7.0/24', name: 'nas', ip: '10.59.7.10' },
    ],
    [
      ['device', 'add', '10.59.7.1/24', 'router', '--public-key', KEY_A],
      'device.add',
      { subnet: '10.59.7.1/24', name: 'router', publicKey: KEY_A },
    ],
    [
      ['device', 'add', `--public-key=${KEY_A}`, '10.59.7.1/24', 'router', '10.59.7.3'],
      'device.add',
      { subnet: '10.59.7.1/24', name: 'router', ip: '10.59.7.3', publicKey: KEY_A },
    ],
    [
      ['device', 'remove', '10.59.7.1/24', '10.59.7.2'],
      'device.remove',
      { subnet: '10.59.7.1/24', ip: '10.59.7.2' },
    ],
    [
      ['device', 'show-config', '10.59.7.1/24', '10.59.7.2'],
      'device.show-config',
      { subnet: '10.59.7.1/24', ip: '10.59.7.2' },
    ],
    [
      ['device', 'show-config', '10.59.7.1/24', '10.59.7.2', '--endpoint', 'vpn.example.com:51820'],
      'device.show-config',
      { subnet: '10.59.7.1/24', ip: '10.59.7.2', endpoint: 'vpn.example.com:51820' },
    ],
    [['port-forward', 'list'], 'port-forward.list', {}],
    [
      ['port-forward', 'add', '203.0.113.5:8080', '10.59.7.2:80'],
      'port-forward.add',
      { source: '203.0.113.5:8080', target: '10.59.7.2:80' },
    ],
    [
      [
        'port-forward',
        'add',
        '203.0.113.5:8080',
        '10.59.7.2:80',
        '--protocol',
        'tcp',
        '--label',
        'web server',
      ],
      'port-forward.add',
      { source: '203.0.113.5:8080', target: '10.59.7.2:80', protocol: 'tcp', label: 'web server' },
    ],
    [
      ['port-forward', 'add', '443', '10.59.7.2:443', '--sni', 'a.example', '--sni=b.example'],
      'port-forward.add',
      { source: '443', target: '10.59.7.2:443', sni: ['a.example', 'b.example'] },
    ],
    [
      ['port-forward', 'add', '443', '10.59.7.2:443', '--fallback', '--proxy-protocol'],
      'port-forward.add',
      { source: '443', target: '10.59.7.2:443', sni: [], fallback: true, proxyProtocol: true },
    ],
    [
      ['port-forward', 'remove', '203.0.113.5:8080'],
      'port-forward.remove',
      { source: '203.0.113.5:8080' },
    ],
    [
      ['port-forward', 'remove', '203.0.113.5:443', '--hostname', 'a.example'],
      'port-forward.remove',
      { source: '203.0.113.5:443', hostname: 'a.example' },
    ],
    [
      ['port-forward', 'set-enabled', '203.0.113.5:443', '--hostname', 'a.example', '--enabled'],
      'port-forward.set-enabled',
      { source: '203.0.113.5:443', enabled: true, hostname: 'a.example' },
    ],
    [
      ['port-forward', 'update-label', '203.0.113.5:443', 'blog', '--hostname', 'a.example'],
      'port-forward.update-label',
      { source: '203.0.113.5:443', label: 'blog', hostname: 'a.example' },
    ],
    [
      ['port-forward', 'set-enabled', '203.0.113.5:8080', '--enabled'],
      'port-forward.set-enabled',
      { source: '203.0.113.5:8080', enabled: true },
    ],
    [
      ['port-forward', 'set-enabled', '203.0.113.5:8080', '--no-enabled'],
      'port-forward.set-enabled',
      { source: '203.0.113.5:8080', enabled: false },
    ],
    [
      ['port-forward', 'set-enabled', '203.0.113.5:8080'],
      'port-forward.set-enabled',
      { source: '203.0.113.5:8080', enabled: false },
    ],
    [
      ['port-forward', 'update-label', '203.0.113.5:8080', 'web server'],
      'port-forward.update-label',
      { source: '203.0.113.5:8080', label: 'web server' },
    ],
    [
      ['port-forward', 'update-label', '203.0.113.5:8080'],
      'port-forward.update-label',
      { source: '203.0.113.5:8080', label: null },
    ],
    [['wan', 'show'], 'wan.show', {}],
    [['wan', 'set', '198.51.100.7'], 'wan.set', { ip: '198.51.100.7' }],
    [['wan', 'auto'], 'wan.auto', {}],
    [['status'], 'status', {}],
  ];
  for (const [argv, method, params] of cases) {
    it(`${argv.join(' ')} → ${method}`, async () => {
      const { call } = await one(argv);
      assert.deepEqual(call, { method, params });
    });
  }

  it('takes global options before the command, after it and as --opt=value', async () => {
    for (const argv of [
      ['--format', 'json', 'subnet', 'list'],
      ['subnet', '--format=json', 'list'],
      ['subnet', 'list', '-o', 'json'],
      [`--datadir=${d.dir}`, 'subnet', 'list', '--format', 'json'],
    ]) {
      d.calls.length = 0;
      const { call, stdout } = await one(argv);
      assert.equal(call.method, 'subnet.list', argv.join(' '));
      assert.deepEqual(JSON.parse(stdout), cannedResults()['subnet.list'], argv.join(' '));
    }
  });

  it('--datadir wins over START_TUNNEL_DATADIR', async () => {
    const o = await cli(['--datadir', d.dir, 'status'], { START_TUNNEL_DATADIR: '/nonexistent' });
    assert.equal(o.code, 0, o.stderr);
    assert.equal(d.calls.length, 1);
  });
});

describe('--format json prints the result as JSON', () => {
  it('subnet list: an array of {subnet, name, …}', async () => {
    const { stdout } = await one(['subnet', 'list', '--format', 'json']);
    assert.ok(stdout.endsWith('\n') && stdout.split('\n').length === 2, 'one line');
    const list = JSON.parse(stdout);
    assert.ok(Array.isArray(list));
    assert.deepEqual(
      list.map((s: { subnet: string; name: string }) => [s.subnet, s.name]),
      [
        ['10.59.7.1/24', 'Home'],
        ['10.59.9.1/24', 'Lab'],
      ]
    );
  });

  it('device add: {name, ip, publicKey, …}', async () => {
    const { stdout } = await one(['device', 'add', '10.59.7.1/24', 'phone', '--format', 'json']);
    const added = JSON.parse(stdout);
    assert.equal(added.name, 'phone');
    assert.equal(added.ip, '10.59.7.2');
    assert.equal(added.publicKey, KEY_A);
  });

  it('device list: name, ip, publicKey, endpoint, lastHandshake, rxBytes, txBytes, online', async () => {
    const { stdout } = await one(['device', 'list', '10.59.7.1/24', '--format', 'json']);
    const list = JSON.parse(stdout);
    assert.equal(list.length, 2);
    for (const key of [
      'name',
      'ip',
      'publicKey',
      'endpoint',
      'lastHandshake',
      'rxBytes',
      'txBytes',
      'online',
    ]) {
      assert.ok(key in list[0] && key in list[1], key);
    }
    assert.deepEqual(list, cannedResults()['device.list']);
  });

  it('json-pretty indents; changes print their result, removals null', async () => {
    const pretty = await one(['wan', 'show', '--format', 'json-pretty']);
    assert.match(pretty.stdout, /^\{\n {2}"address": "203\.0\.113\.5",\n/);
    d.calls.length = 0;
    const removed = await one(['subnet', 'remove', '10.59.7.1/24', '--format', 'json']);
    assert.equal(removed.stdout, 'null\n');
    d.calls.length = 0;
    const status = await one(['status', '--format', 'json']);
    assert.deepEqual(JSON.parse(status.stdout), cannedResults().status);
  });

  it('show-config: the config text inside the object', async () => {
    const { stdout } = await one([
      'device',
      'show-config',
      '10.59.7.1/24',
      '10.59.7.2',
      '-o',
      'json',
    ]);
    const config = JSON.parse(stdout);
    assert.match(config.config, /^# StartTunnel config for phone\n/);
    assert.equal(config.filename, 'start-tunnel.conf');
    assert.equal('qr' in config, false);
  });
});

describe('human output', () => {
  it('subnet list: an aligned table', async () => {
    const { stdout } = await one(['subnet', 'list']);
    assert.equal(
      stdout,
      'SUBNET        NAME  NETWORK       DEVICES  WAN  IPV6\n' +
        '10.59.7.1/24  Home  10.59.7.0/24  2        -    -\n' +
        '10.59.9.1/24  Lab   10.59.9.0/24  0        -    -\n'
    );
  });

  it('device list: state, handshake age, endpoint and traffic', async () => {
    const { stdout } = await one(['device', 'list', '10.59.7.1/24']);
    const lines = stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(
      lines[0]!,
      /^NAME +IP +KIND +STATE +HANDSHAKE +ENDPOINT +RX +TX +WAN +PUBLIC KEY$/
    );
    assert.match(
      lines[1]!,
      /^phone +10\.59\.7\.2 +client +online +42s ago +198\.51\.100\.20:41234 +1\.5 KiB +3\.0 MiB +203\.0\.113\.5 +hF6k/
    );
    assert.match(
      lines[2]!,
      /^nas +10\.59\.7\.10 +server +never +never +- +0 B +0 B +198\.51\.100\.7 +Vb0x/
    );
    // columns line up: every row has PUBLIC KEY at the header's offset
    const at = lines[0]!.indexOf('PUBLIC KEY');
    assert.equal(lines[1]!.indexOf(KEY_A), at);
  });

  it('empty lists say how to add', async () => {
    d.handle('subnet.list', () => []);
    const subnets = await cli(['subnet', 'list'], d.env);
    assert.match(subnets.stdout, /^No subnets; add one with `start-tunnel subnet add/);
    d.handle('device.list', () => []);
    const devices = await cli(['device', 'list', '10.59.7.1/24'], d.env);
    assert.match(devices.stdout, /^No devices in 10\.59\.7\.1\/24/);
    d.handle('port-forward.list', () => []);
    const forwards = await cli(['port-forward', 'list'], d.env);
    assert.match(forwards.stdout, /^No port forwards/);
    const canned = cannedResults();
    d.handle('subnet.list', () => canned['subnet.list']);
    d.handle('device.list', () => canned['device.list']);
    d.handle('port-forward.list', () => canned['port-forward.list']);
  });

  it('device add: one confirmation line and the show-config hint', async () => {
    const { stdout } = await one(['device', 'add', '10.59.7.0/24', 'phone']);
    assert.equal(
      stdout,
      'Added device "phone" 10.59.7.2 in 10.59.7.1/24\n' +
        'Its config: start-tunnel device show-config 10.59.7.1/24 10.59.7.2 [--qr]\n'
    );
  });

  it('device add with its own key says so', async () => {
    d.handle('device.add', () => ({ ...cannedResults()['device.add'], ownKey: true }));
    const o = await cli(['device', 'add', '10.59.7.1/24', 'phone', '--public-key', KEY_A], d.env);
    d.handle('device.add', () => cannedResults()['device.add']);
    assert.match(o.stdout, /^Added device "phone" 10\.59\.7\.2 in 10\.59\.7\.1\/24 \(its own key/);
  });

  it("subnet set-ipv6: the server's warnings on stderr (in the result under --format json)", async () => {
    const warnings = ['2001:db8:7::/64 is on no WAN interface: check that it is routed here'];
    d.handle('subnet.set-ipv6', () => ({ ...cannedResults()['subnet.set-ipv6'], warnings }));
    const text = await one(['subnet', 'set-ipv6', '10.59.7.1/24', '--prefix', '2001:db8:7::/64']);
    d.calls.length = 0;
    const json = await one([
      'subnet',
      'set-ipv6',
      '10.59.7.1/24',
      '--prefix',
      '2001:db8:7::/64',
      '-o',
      'json',
    ]);
    d.handle('subnet.set-ipv6', () => cannedResults()['subnet.set-ipv6']);
    assert.equal(text.stderr, `warning: ${warnings[0]}\n`);
    assert.match(text.stdout, /^Subnet "Home" 10\.59\.7\.1\/24 has IPv6 prefix/);
    assert.equal(json.stderr, '');
    assert.deepEqual(JSON.parse(json.stdout).warnings, warnings);
  });

  it('SNI routes and automatic forwards in port-forward list', async () => {
    const [plain] = cannedResults()['port-forward.list'];
    const sni = { ...plain!, kind: 'sni' as const, protocol: 'tcp' as const };
    d.handle('port-forward.list', () => [
      { ...sni, hostname: 'a.example', label: null },
      { ...sni, hostname: null, target: '10.59.7.10:443', label: null },
      { ...plain!, source: '203.0.113.5:9000', label: 'PCP', auto: true },
    ]);
    const o = await cli(['port-forward', 'list'], d.env);
    d.handle('port-forward.list', () => cannedResults()['port-forward.list']);
    const lines = o.stdout.split('\n');
    assert.match(lines[1]!, /^203\.0\.113\.5:443 +a\.example +10\.59\.7\.2:443 +tcp +yes/);
    assert.match(lines[2]!, /^203\.0\.113\.5:443 +\(fallback\) +10\.59\.7\.10:443 /);
    assert.match(lines[3]!, /^203\.0\.113\.5:9000 +- .* PCP \(auto\)$/);
  });

  it('device dns-key: the key and how nsupdate takes it', async () => {
    const { stdout } = await one(['device', 'dns-key', '10.59.7.1/24', '10.59.7.10']);
    assert.match(stdout, /^Key name: +startos-dns-update\.$/m);
    assert.match(stdout, /^Server: +10\.59\.7\.1$/m);
    assert.match(
      stdout,
      new RegExp(
        `^nsupdate: +-y hmac-sha256:startos-dns-update\\.:${KEY_A.replace(/[+=]/g, '\\$&')} `,
        'm'
      )
    );
  });

  it('show-config prints the config verbatim on stdout', async () => {
    const { stdout, stderr } = await one(['device', 'show-config', '10.59.7.1/24', '10.59.7.2']);
    assert.equal(stdout, cannedResults()['device.show-config'].config);
    assert.equal(stderr, '');
  });

  it('changes confirm in one line', async () => {
    const expect: [string[], string][] = [
      [['subnet', 'add', '10.59.7.0/24', 'Home'], 'Added subnet "Home" 10.59.7.1/24\n'],
      [['subnet', 'remove', '10.59.7.1/24'], 'Removed subnet 10.59.7.1/24\n'],
      [
        ['device', 'remove', '10.59.7.1/24', '10.59.7.2'],
        'Removed device 10.59.7.2 from 10.59.7.1/24\n',
      ],
      [
        ['port-forward', 'add', '203.0.113.5:8080', '10.59.7.2:80', '--protocol', 'tcp'],
        'Added port forward 203.0.113.5:8080 -> 10.59.7.2:80 (tcp) "web"\n',
      ],
      [['port-forward', 'remove', '203.0.113.5:8080'], 'Removed port forward 203.0.113.5:8080\n'],
      [
        ['port-forward', 'set-enabled', '203.0.113.5:8080'],
        'Disabled port forward 203.0.113.5:8080 -> 10.59.7.2:80 (both)\n',
      ],
      [
        ['port-forward', 'update-label', '203.0.113.5:8080', 'web server'],
        'Label of port forward 203.0.113.5:8080 set to "web server"\n',
      ],
      [
        ['subnet', 'set-wan', '10.59.7.1/24', '--wan-ip', '198.51.100.7'],
        'Subnet "Home" 10.59.7.1/24 uses WAN address 198.51.100.7\n',
      ],
      [
        ['subnet', 'set-ipv6', '10.59.7.1/24', '--prefix', '2001:db8:7::/64'],
        'Subnet "Home" 10.59.7.1/24 has IPv6 prefix 2001:db8:7::/64 (the server: 2001:db8:7::a3b:701)\n',
      ],
      [
        ['device', 'add', '10.59.7.1/24', 'phone', '--kind', 'server'],
        'Added device "phone" 10.59.7.2 in 10.59.7.1/24\n' +
          'Its config: start-tunnel device show-config 10.59.7.1/24 10.59.7.2 [--qr]\n',
      ],
      [
        ['device', 'set-kind', '10.59.7.1/24', '10.59.7.2', '--kind', 'server'],
        'Device "phone" 10.59.7.2 is a server\n',
      ],
      [
        ['device', 'set-wan', '10.59.7.1/24', '10.59.7.2', '--wan-ip', '198.51.100.7'],
        'Device "phone" 10.59.7.2 uses WAN address 198.51.100.7\n',
      ],
      [
        ['device', 'set-wan', '10.59.7.1/24', '10.59.7.2'],
        'Device "phone" 10.59.7.2 uses the WAN address of its subnet\n',
      ],
      [
        ['subnet', 'set-dns', '10.59.7.1/24', '--mode', 'custom', '--server', '9.9.9.9'],
        'Subnet 10.59.7.1/24 resolves names through 9.9.9.9:53, [2620:fe::fe]:53\n',
      ],
      [
        ['device', 'set-dns-injection', '10.59.7.1/24', '10.59.7.10', '--enabled'],
        'Device 10.59.7.10 may publish its own DNS records\n',
      ],
      [
        ['device', 'set-auto-port-forward', '10.59.7.1/24', '10.59.7.10'],
        'Device 10.59.7.10 may not open its own port forwards\n',
      ],
      [['wan', 'set', '198.51.100.7'], 'WAN address set to 198.51.100.7\n'],
      [['wan', 'auto'], 'WAN address detected: 203.0.113.5\n'],
    ];
    for (const [argv, out] of expect) {
      d.calls.length = 0;
      const { stdout } = await one(argv);
      assert.equal(stdout, out, argv.join(' '));
    }
  });

  it('port-forward list, wan show and status', async () => {
    const forwards = (await one(['port-forward', 'list'])).stdout.split('\n');
    assert.match(
      forwards[0]!,
      /^SOURCE +HOSTNAME +TARGET +PROTOCOL +ENABLED +PACKETS +BYTES +LABEL$/
    );
    assert.match(
      forwards[1]!,
      /^203\.0\.113\.5:443 +- +10\.59\.7\.2:443 +both +yes +12 +2\.0 KiB +web$/
    );
    assert.match(
      forwards[2]!,
      /^203\.0\.113\.5:27015-27030 +- +10\.59\.7\.10:27015 +udp +no +0 +0 B$/
    );
    d.calls.length = 0;
    const wan = (await one(['wan', 'show'])).stdout;
    assert.match(wan, /^Address: +203\.0\.113\.5 \(detected\)$/m);
    assert.match(wan, /^Interfaces: +eth0$/m);
    d.calls.length = 0;
    const status = (await one(['status'])).stdout;
    assert.match(status, /^Interface: +wg-start-tunnel, UDP 51820$/m);
    assert.match(status, /^Devices: +2 \(1 online\)$/m);
    assert.match(status, /^Firewall: +applied$/m);
    assert.match(status, /^Up: +2h 5m /m);
  });

  it('control characters from the daemon do not reach the terminal', async () => {
    d.handle('subnet.list', () => [
      { ...cannedResults()['subnet.add'], name: 'evil\u001b[2Jname' },
    ]);
    const o = await cli(['subnet', 'list'], d.env);
    d.handle('subnet.list', () => cannedResults()['subnet.list']);
    assert.equal(o.stdout.includes('\u001b'), false);
    assert.match(o.stdout, /evil\?\[2Jname/);
  });
});
