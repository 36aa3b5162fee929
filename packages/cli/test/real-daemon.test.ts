// SPDX-License-Identifier: MIT
/**
 * The CLI against the real server (`startServer` of `@start-tunnel/server` on the in-memory
 * data plane, local API on the data directory's Unix socket): a user's session from the first
 * subnet to the last removal, through the real handlers, store and config renderer. Catches
 * what the fake cannot: a result shape or an error the CLI does not expect.
 * @module
 */

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '@start-tunnel/server';
import { PRIVATE_KEY_PLACEHOLDER } from '@start-tunnel/tunnel';
import { cli, isOneLineError, tempDir } from './_fake-daemon.ts';
import { startTestServer } from './_web-daemon.ts';

let dir: string;
let daemon: RunningServer;
let env: Record<string, string>;

before(async () => {
  dir = tempDir();
  daemon = await startTestServer(dir);
  env = { START_TUNNEL_DATADIR: dir };
});
after(async () => {
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function ok(argv: string[]): Promise<string> {
  const o = await cli(argv, env);
  assert.equal(o.code, 0, `${argv.join(' ')}: ${o.stderr}`);
  return o.stdout;
}

async function json(argv: string[]): Promise<unknown> {
  return JSON.parse(await ok([...argv, '--format', 'json']));
}

function ownPublicKey(): string {
  const { publicKey } = generateKeyPairSync('x25519');
  const jwk = publicKey.export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url').toString('base64');
}

describe('a session against the real daemon', () => {
  it('starts with the default subnet', async () => {
    const subnets = (await json(['subnet', 'list'])) as { subnet: string; name: string }[];
    assert.equal(subnets.length, 1);
    assert.match(subnets[0]!.subnet, /^10\.59\.\d+\.1\/24$/);
    assert.equal(subnets[0]!.name, 'Default Subnet');
  });

  it('subnets, devices and configs', async () => {
    assert.equal(
      await ok(['subnet', 'add', '10.59.7.0/24', 'Home']),
      'Added subnet "Home" 10.59.7.1/24\n'
    );
    assert.match(
      await ok(['device', 'add', '10.59.7.0/24', 'phone']),
      /^Added device "phone" 10\.59\.7\.2 in 10\.59\.7\.1\/24\n/
    );
    const key = ownPublicKey();
    const router = (await json([
      'device',
      'add',
      '10.59.7.1/24',
      'router',
      '10.59.7.20',
      '--public-key',
      key,
    ])) as Record<string, unknown>;
    assert.deepEqual(
      { name: router.name, ip: router.ip, publicKey: router.publicKey, ownKey: router.ownKey },
      { name: 'router', ip: '10.59.7.20', publicKey: key, ownKey: true }
    );

    const config = await cli(['device', 'show-config', '10.59.7.1/24', '10.59.7.2', '--qr'], env);
    assert.equal(config.code, 0, config.stderr);
    assert.equal(config.stderr, '');
    assert.match(config.stdout, /^# StartTunnel config for phone\n/);
    assert.match(config.stdout, /^Endpoint = 203\.0\.113\.7:51820$/m);
    assert.match(config.stdout, /PersistentKeepalive = 25\n\n[ █▀▄\n]+$/);

    const own = await cli(
      ['device', 'show-config', '10.59.7.1/24', '10.59.7.20', '--endpoint', 'vpn.example.com'],
      env
    );
    assert.equal(own.code, 0, own.stderr);
    assert.ok(own.stdout.includes(`PrivateKey = ${PRIVATE_KEY_PLACEHOLDER}`));
    assert.match(own.stdout, /^Endpoint = vpn\.example\.com:51820$/m);
    assert.match(own.stderr, /^note: device "router" 10\.59\.7\.20 brought its own key pair/);

    const devices = (await json(['device', 'list', '10.59.7.1/24'])) as Record<string, unknown>[];
    assert.deepEqual(
      devices.map((x) => [
        x.name,
        x.ip,
        x.online,
        x.lastHandshake,
        x.rxBytes,
        x.txBytes,
        x.endpoint,
      ]),
      [
        ['phone', '10.59.7.2', false, null, 0, 0, null],
        ['router', '10.59.7.20', false, null, 0, 0, null],
      ]
    );
    const table = await ok(['device', 'list', '10.59.7.0/24']);
    assert.match(
      table,
      /^phone +10\.59\.7\.2 +client +never +never +- +0 B +0 B +default +\S{44}$/m
    );
  });

  it('port forwards', async () => {
    assert.equal(
      await ok([
        'port-forward',
        'add',
        '203.0.113.7:8080',
        '10.59.7.2:80',
        '--protocol',
        'tcp',
        '--label',
        'web',
      ]),
      'Added port forward 203.0.113.7:8080 -> 10.59.7.2:80 (tcp) "web"\n'
    );
    assert.match(
      await ok(['port-forward', 'list']),
      /^203\.0\.113\.7:8080 +- +10\.59\.7\.2:80 +tcp +yes +0 +0 B +web$/m
    );
    assert.match(
      await ok(['port-forward', 'set-enabled', '203.0.113.7:8080']),
      /^Disabled port forward/
    );
    assert.match(
      await ok(['port-forward', 'set-enabled', '203.0.113.7:8080', '--enabled']),
      /^Enabled port forward/
    );
    assert.equal(
      await ok(['port-forward', 'update-label', '203.0.113.7:8080', 'site']),
      'Label of port forward 203.0.113.7:8080 set to "site"\n'
    );
    assert.equal(
      await ok(['port-forward', 'update-label', '203.0.113.7:8080']),
      'Label of port forward 203.0.113.7:8080 cleared\n'
    );
    assert.equal(
      await ok(['port-forward', 'remove', '203.0.113.7:8080']),
      'Removed port forward 203.0.113.7:8080\n'
    );
    assert.deepEqual(await json(['port-forward', 'list']), []);
    // a bare port is on the WAN address, as scripts/demo.sh uses it; port 80 there is the
    // HTTP redirect's until it is turned off
    assert.match(await ok(['http-redirect', 'list']), /^203\.0\.113\.7 +on$/m);
    const taken = await cli(['port-forward', 'add', '80', '10.59.7.2:8080'], env);
    assert.ok(isOneLineError(taken) && /HTTP→HTTPS redirect/.test(taken.stderr), taken.stderr);
    assert.equal(
      await ok(['http-redirect', 'set-enabled', '203.0.113.7', '--no-enabled']),
      'HTTP redirect on 203.0.113.7: off\n'
    );
    assert.match(
      await ok(['port-forward', 'add', '80', '10.59.7.2:8080', '--protocol', 'tcp']),
      /^Added port forward \S*80 -> 10\.59\.7\.2:8080 \(tcp\)\n$/
    );
    const [bare] = (await json(['port-forward', 'list'])) as { source: string }[];
    assert.equal(
      await ok(['port-forward', 'remove', bare!.source]),
      `Removed port forward ${bare!.source}\n`
    );
    assert.equal(
      await ok(['http-redirect', 'set-enabled', '203.0.113.7', '--enabled']),
      'HTTP redirect on 203.0.113.7: on\n'
    );
  });

  it("StartTunnel 1.5: a device's kind, WAN addresses, pinholes", async () => {
    assert.equal(
      await ok(['device', 'add', '10.59.7.1/24', 'nas', '10.59.7.10', '--kind', 'server']),
      'Added device "nas" 10.59.7.10 in 10.59.7.1/24 as a server\n' +
        'Its config: start-tunnel device show-config 10.59.7.1/24 10.59.7.10 [--qr]\n'
    );
    assert.match(
      await ok(['device', 'show-config', '10.59.7.1/24', '10.59.7.10']),
      /^# inbound: yes$/m
    );
    assert.equal(
      await ok(['device', 'set-kind', '10.59.7.1/24', '10.59.7.10', '--kind', 'client']),
      'Device "nas" 10.59.7.10 is a client\n'
    );
    assert.equal(
      await ok(['subnet', '10.59.7.1/24', 'set-wan', '--wan-ip', '203.0.113.7']),
      'Subnet "Home" 10.59.7.1/24 uses WAN address 203.0.113.7\n'
    );
    assert.match(await ok(['subnet', 'list']), /^10\.59\.7\.1\/24 +Home +.* 203\.0\.113\.7 +-$/m);
    assert.match(
      await ok(['device', 'list', '10.59.7.1/24']),
      /^nas +10\.59\.7\.10 +client +.* 203\.0\.113\.7 +\S{44}$/m
    );
    assert.equal(
      await ok(['device', 'set-wan', '10.59.7.1/24', '10.59.7.10', '--wan-ip', '203.0.113.7']),
      'Device "nas" 10.59.7.10 uses WAN address 203.0.113.7\n'
    );
    assert.equal(
      await ok(['device', 'set-wan', '10.59.7.1/24', '10.59.7.10']),
      'Device "nas" 10.59.7.10 uses the WAN address of its subnet\n'
    );
    assert.equal(
      await ok(['subnet', 'set-wan', '10.59.7.1/24']),
      'Subnet "Home" 10.59.7.1/24 uses the default WAN address\n'
    );
    assert.match(await ok(['pinhole', 'list']), /^No pinholes/);
    // no IPv6 prefix on the subnet: the device has no IPv6 address to open
    const refused = await cli(['pinhole', 'add', '2001:db8:7::a3b:70a', '443'], env);
    assert.ok(isOneLineError(refused), refused.stderr);
    assert.match(refused.stderr, /is not a device address on any IPv6-enabled subnet/);
    // the gateway's DNS: records, where the rest goes, what a device may publish
    assert.equal(
      await ok(['dns', 'add', 'nas.home.arpa', '10.59.7.10', '--type', 'a']),
      'Added DNS record nas.home.arpa A 10.59.7.10 (TTL 300)\n'
    );
    assert.match(await ok(['dns', 'list']), /^nas\.home\.arpa +A +10\.59\.7\.10 +300 +manual$/m);
    assert.equal(
      await ok(['subnet', 'set-dns', '10.59.7.1/24', '--mode', 'custom', '--server', '9.9.9.9']),
      'Subnet 10.59.7.1/24 resolves names through 9.9.9.9:53\n'
    );
    assert.equal(
      await ok(['subnet', '10.59.7.1/24', 'set-dns', '--mode', 'default']),
      "Subnet 10.59.7.1/24 resolves names through the server's resolvers\n"
    );
    assert.equal(
      await ok(['device', 'set-dns-injection', '10.59.7.1/24', '10.59.7.10', '--enabled']),
      'Device 10.59.7.10 may publish its own DNS records\n'
    );
    assert.match(
      await ok(['device', 'dns-key', '10.59.7.1/24', '10.59.7.10']),
      /^Server: +10\.59\.7\.1$/m
    );
    assert.equal(
      await ok(['dns', 'remove', 'nas.home.arpa']),
      'Removed 1 DNS record of nas.home.arpa\n'
    );
    // one TCP port shared by hostname
    assert.match(
      await ok(['port-forward', 'add', '203.0.113.7:443', '10.59.7.10:443', '--sni', 'a.example']),
      /^Added port forward 203\.0\.113\.7:443 for a\.example -> 10\.59\.7\.10:443 \(tcp\)/
    );
    assert.match(
      await ok(['port-forward', 'list']),
      /^203\.0\.113\.7:443 +a\.example +10\.59\.7\.10:443 +tcp +yes/m
    );
    assert.equal(
      await ok(['port-forward', 'remove', '203.0.113.7:443', '--hostname', 'a.example']),
      'Removed port forward 203.0.113.7:443 for a.example\n'
    );
    assert.equal(
      await ok(['device', 'remove', '10.59.7.1/24', '10.59.7.10']),
      'Removed device 10.59.7.10 from 10.59.7.1/24\n'
    );
  });

  it('WAN address and status', async () => {
    assert.match(await ok(['wan', 'show']), /^Address: +203\.0\.113\.7 \(detected\)$/m);
    assert.equal(await ok(['wan', 'set', '198.51.100.7']), 'WAN address set to 198.51.100.7\n');
    assert.match(
      await ok(['device', 'show-config', '10.59.7.1/24', '10.59.7.2']),
      /^Endpoint = 198\.51\.100\.7:51820$/m
    );
    assert.equal(await ok(['wan', 'auto']), 'WAN address detected: 203.0.113.7\n');
    const status = await ok(['status']);
    assert.match(status, /^Interface: +wg-cli-test, UDP 51820$/m);
    assert.match(status, /^Devices: +2 \(0 online\)$/m);
  });

  it('refusals by the daemon are one line with an exit code', async () => {
    for (const argv of [
      ['subnet', 'add', '10.59.7.0/25', 'Small'],
      ['subnet', 'add', '10.59.0.0/16', 'Overlap'],
      ['device', 'add', '10.59.7.1/24', 'x', '10.59.8.2'],
      ['device', 'add', '10.59.7.1/24', 'x', '--public-key', 'not-a-key'],
      ['port-forward', 'add', '203.0.113.7:8080', '10.59.99.2:80'],
      ['wan', 'set', '300.1.1.1'],
    ]) {
      const o = await cli(argv, env);
      assert.ok(isOneLineError(o), `${argv.join(' ')}: ${JSON.stringify(o)}`);
      assert.notEqual(o.code, 0, argv.join(' '));
    }
  });

  it('removals', async () => {
    assert.equal(
      await ok(['device', 'remove', '10.59.7.1/24', '10.59.7.20']),
      'Removed device 10.59.7.20 from 10.59.7.1/24\n'
    );
    assert.equal(await ok(['subnet', 'remove', '10.59.7.0/24']), 'Removed subnet 10.59.7.0/24\n');
    const subnets = (await json(['subnet', 'list'])) as { name: string }[];
    assert.deepEqual(
      subnets.map((s) => s.name),
      ['Default Subnet']
    );
  });
});
