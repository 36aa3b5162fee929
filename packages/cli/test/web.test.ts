// SPDX-License-Identifier: MIT
/**
 * The panel end to end: the real daemon on its in-memory data plane with the real HTTPS panel
 * (`webExtension`), driven by the CLI in-process. `web init` (non-interactive and on a scripted
 * terminal), every `web` and `auth` command against the real handlers, the panel's port kept
 * from port forwards, the state surviving a restart, and remote mode over real HTTPS on
 * 127.0.0.1: a signed request with an authorised key works, and every way it can fail (key not
 * known, wrong root CA, no root CA, wrong name, unreadable key, panel off) is one clear line.
 * @module
 */

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '@start-tunnel/server';
import { generateCertificate, SESSION_COOKIE } from '@start-tunnel/web';
import type { CliIo } from '../src/index.ts';
import { cli, isOneLineError, tempDir } from './_fake-daemon.ts';
import { freePort, httpsRpc, scriptedTerminal, startTestServer, WAN_IP } from './_web-daemon.ts';

let dir: string;
let files: string;
let daemon: RunningServer;
let env: Record<string, string>;
let port: number;
let url: string;
let rootCaFile: string;
let rootCaPem: string;
let password: string;

before(async () => {
  dir = tempDir();
  files = tempDir();
  daemon = await startTestServer(dir);
  env = { START_TUNNEL_DATADIR: dir };
  port = await freePort();
  url = `https://127.0.0.1:${port}`;
  rootCaFile = join(files, 'root-ca.pem');
});
after(async () => {
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(files, { recursive: true, force: true });
});

async function run(argv: string[], extra: Partial<CliIo> = {}) {
  return cli(argv, env, extra);
}

async function ok(argv: string[], extra: Partial<CliIo> = {}): Promise<string> {
  const o = await run(argv, extra);
  assert.equal(o.code, 0, `${argv.join(' ')}: ${o.stderr}`);
  return o.stdout;
}

async function json(argv: string[], extra: Partial<CliIo> = {}): Promise<unknown> {
  return JSON.parse(await ok([...argv, '--format', 'json'], extra));
}

describe('web init (non-interactive)', () => {
  it('before init the panel is off and enable says what is missing', async () => {
    const status = (await json(['web', 'status'])) as Record<string, unknown>;
    assert.equal(status.enabled, false);
    assert.equal(status.running, false);
    const o = await run(['web', 'enable']);
    assert.ok(isOneLineError(o), o.stderr);
    assert.equal(o.code, 41);
  });

  it('--listen: sets the address, issues the certificate, sets a password; JSON is {url, password, rootCa}', async () => {
    const r = (await json(['web', 'init', '--listen', `127.0.0.1:${port}`])) as Record<
      string,
      unknown
    >;
    assert.deepEqual(Object.keys(r).sort(), ['password', 'rootCa', 'url']);
    assert.equal(r.url, url);
    assert.match(String(r.password), /^[a-z2-7]{26}$/);
    password = String(r.password);
    // rootCa is the PEM, as is: ready for a file (curl --cacert, --root-ca)
    const root = String(r.rootCa);
    assert.match(root, /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    const cert = new X509Certificate(root);
    assert.ok(cert.ca);
    assert.ok(cert.checkIssued(cert), 'self-signed');
    rootCaPem = root;
    writeFileSync(rootCaFile, rootCaPem);
  });

  it('the panel answers on HTTPS with a chain from that root, and the password logs in', async () => {
    const login = await httpsRpc(url, rootCaPem, 'auth.login', { password });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    assert.ok(login.cookies.some((c) => c.startsWith(`${SESSION_COOKIE}=`)));
    const wrong = await httpsRpc(url, rootCaPem, 'auth.login', { password: 'wrong password' });
    assert.equal((wrong.body.error as { code: number }).code, 7);
  });

  it('web get-certificate: the chain for 127.0.0.1 (text is PEM, JSON has the facts)', async () => {
    const text = await ok(['web', 'get-certificate']);
    assert.equal(text.match(/-----BEGIN CERTIFICATE-----/g)?.length, 2);
    const info = (await json(['web', 'get-certificate'])) as {
      chain: string;
      subjects: { ips: string[]; dns: string[] };
      chainLength: number;
      notAfter: string;
    };
    assert.deepEqual(info.subjects, { ips: ['127.0.0.1'], dns: [] });
    assert.equal(info.chainLength, 2);
    assert.equal(info.chain, text);
    const leaf = new X509Certificate(info.chain);
    assert.ok(leaf.checkIssued(new X509Certificate(rootCaPem)));
  });

  it('text output: URL, password, root CA with fingerprint', async () => {
    // a second run changes nothing: password unchanged, same root
    const o = await run(['web', 'init', '--listen', `127.0.0.1:${port}`]);
    assert.equal(o.code, 0, o.stderr);
    assert.equal(o.stderr, '');
    assert.match(o.stdout, new RegExp(`^URL: +${url.replace(/\./g, '\\.')} +\\(loopback`, 'm'));
    assert.match(
      o.stdout,
      /^Password: +unchanged \(forgot it\? start-tunnel auth reset-password\)$/m
    );
    const fp = new X509Certificate(rootCaPem).fingerprint256;
    assert.ok(o.stdout.includes(`Root CA (SHA-256 ${fp}):\n${rootCaPem.trim()}\n`));
    const again = (await json(['web', 'init'])) as Record<string, unknown>;
    assert.deepEqual(again, { url, password: null, rootCa: rootCaPem });
  });

  it('--subject adds names; outside the name constraints of the root, so the root is new', async () => {
    const r = (await json([
      'web',
      'init',
      '--subject',
      'vpn.example.org',
      '--subject=198.51.100.7',
    ])) as { password: string | null; rootCa: string };
    assert.equal(r.password, null);
    // the root is constrained to the names it was made for: new names need a new root
    assert.notEqual(r.rootCa, rootCaPem);
    const info = (await json(['web', 'get-certificate'])) as {
      chain: string;
      subjects: { ips: string[]; dns: string[] };
    };
    assert.deepEqual(info.subjects.dns, ['vpn.example.org']);
    assert.deepEqual(info.subjects.ips.sort(), ['127.0.0.1', '198.51.100.7']);
    assert.ok(new X509Certificate(info.chain).checkIssued(new X509Certificate(r.rootCa)));
    rootCaPem = r.rootCa;
    writeFileSync(rootCaFile, rootCaPem);
    // the same names again: the same root, nothing regenerated
    const same = (await json(['web', 'init', '--subject', 'VPN.example.org.'])) as typeof r;
    assert.equal(same.rootCa, rootCaPem);
    const after = (await json(['web', 'get-certificate'])) as { chain: string };
    assert.equal(after.chain, info.chain, 'a covered name issues nothing new');
  });

  it('web status, get-listen, get-root-ca, get-available-ips', async () => {
    const status = await ok(['web', 'status']);
    assert.match(status, /^Panel: +on$/m);
    assert.match(status, new RegExp(`^URL: +${url.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(status, /^Password: +set$/m);
    assert.equal(await ok(['web', 'get-listen']), `127.0.0.1:${port}\n`);
    assert.equal(await json(['web', 'get-listen']), `127.0.0.1:${port}`);
    const root = await run(['web', 'get-root-ca']);
    assert.equal(root.stdout, `${rootCaPem.trim()}\n`);
    assert.match(root.stderr, /^SHA-256 fingerprint: [0-9A-F:]{95}\n$/);
    assert.deepEqual(await json(['web', 'get-available-ips']), [
      '127.0.0.1',
      WAN_IP,
      '198.51.100.9',
    ]);
  });
});

describe('auth', () => {
  it('set-password from stdin (the first line); the new one logs in, the old one not', async () => {
    const terminal = scriptedTerminal([], { isTTY: false, stdin: 'new password 1\nignored\n' });
    // the login of the test before ends with the change
    assert.equal(
      await ok(['auth', 'set-password'], { terminal }),
      'Password set; 1 panel session ended\n'
    );
    const login = await httpsRpc(url, rootCaPem, 'auth.login', { password: 'new password 1' });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const old = await httpsRpc(url, rootCaPem, 'auth.login', { password });
    assert.equal((old.body.error as { code: number }).code, 7);
    password = 'new password 1';
  });

  it('set-password on a terminal: asked twice without echo; a mismatch changes nothing', async () => {
    const mismatch = scriptedTerminal(['one password', 'another one']);
    const o = await run(['auth', 'set-password'], { terminal: mismatch });
    assert.ok(isOneLineError(o), o.stderr);
    assert.equal(o.stderr, 'start-tunnel: Passwords do not match\n');
    assert.deepEqual(mismatch.asked, ['New password: (hidden)', 'Confirm password: (hidden)']);
    const same = scriptedTerminal(['second password', 'second password']);
    // the session opened above ends with the change
    assert.match(
      await ok(['auth', 'set-password'], { terminal: same }),
      /^Password set; \d+ panel sessions? ended\n$/
    );
    assert.equal(
      (await httpsRpc(url, rootCaPem, 'auth.login', { password: 'second password' })).status,
      200
    );
    password = 'second password';
  });

  it('set-password: nothing on stdin, or too short', async () => {
    const empty = await run(['auth', 'set-password'], {
      terminal: scriptedTerminal([], { isTTY: false }),
    });
    assert.ok(isOneLineError(empty));
    assert.match(empty.stderr, /no password on stdin/);
    const short = await run(['auth', 'set-password'], {
      terminal: scriptedTerminal([], { isTTY: false, stdin: 'short\n' }),
    });
    assert.ok(isOneLineError(short));
    assert.match(short.stderr, /at least 8 characters/);
  });

  it('session list and kill', async () => {
    const sessions = (await json(['auth', 'session', 'list'])) as {
      id: string;
      current: boolean;
    }[];
    assert.ok(sessions.length >= 1);
    const table = await ok(['auth', 'session', 'list']);
    assert.match(table, /^ID +LOGGED IN +LAST ACTIVE +EXPIRES +FROM +USER AGENT$/m);
    const id = sessions[0]!.id;
    assert.equal(await ok(['auth', 'session', 'kill', id]), 'Ended 1 session\n');
    const gone = await run(['auth', 'session', 'kill', id]);
    assert.ok(isOneLineError(gone));
    assert.equal(gone.code, 6);
    const bad = await run(['auth', 'session', 'kill', 'nope']);
    assert.ok(isOneLineError(bad));
    assert.match(bad.stderr, /must be a session id/);
  });

  it('reset-password prints a new one that logs in; refused in remote mode', async () => {
    const r = (await json(['auth', 'reset-password'])) as { password: string };
    assert.match(r.password, /^[a-z2-7]{26}$/);
    assert.equal(
      (await httpsRpc(url, rootCaPem, 'auth.login', { password: r.password })).status,
      200
    );
    password = r.password;
    const text = await ok(['auth', 'reset-password']);
    assert.match(text, /^Your new password is:\n[a-z2-7]{26}\n$/);
    password = text.split('\n')[1] ?? '';
    const remote = await run(['auth', 'reset-password', '-t', `127.0.0.1:${port}`]);
    assert.ok(isOneLineError(remote));
    assert.equal(remote.code, 2);
    assert.match(remote.stderr, /runs on the server itself; drop --tunnel/);
  });
});

describe('keys and remote mode', () => {
  let keyFile: string;
  let openssh: string;

  const remote = (argv: string[], key = keyFile, roots = [rootCaFile]) =>
    run([
      '-t',
      `127.0.0.1:${port}`,
      '--key',
      key,
      ...roots.flatMap((r) => ['--root-ca', r]),
      ...argv,
    ]);

  it('auth key generate writes a 0600 PKCS#8 key and prints its public key', async () => {
    keyFile = join(files, 'laptop.pem');
    const r = (await json(['auth', 'key', 'generate', '--out', keyFile])) as Record<string, string>;
    assert.deepEqual(Object.keys(r).sort(), ['file', 'fingerprint', 'key', 'openssh']);
    assert.equal(r.file, keyFile);
    assert.match(r.openssh!, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA[A-Za-z0-9+/]+$/);
    assert.match(r.fingerprint!, /^SHA256:/);
    openssh = r.openssh!;
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.match(readFileSync(keyFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    const again = await run(['auth', 'key', 'generate', '--out', keyFile]);
    assert.ok(isOneLineError(again));
    assert.match(again.stderr, /exists: choose another --out FILE/);
    assert.equal(await ok(['auth', 'key', 'public', keyFile]), `${openssh}\n`);
    // text: the public key alone on stdout (for $(…)), the advice on stderr
    const text = await run(['auth', 'key', 'generate', '--out', join(files, 'spare.pem')]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^ssh-ed25519 AAAA\S+\n$/);
    assert.match(
      text.stderr,
      /^Wrote a new private key to .*spare\.pem \(mode 0600.*start-tunnel auth key add NAME 'ssh-ed25519 AAAA\S+'\n$/
    );
  });

  it('an unknown key: "the server does not know this key", exit 34', async () => {
    const o = await remote(['status']);
    assert.ok(isOneLineError(o), o.stderr);
    assert.equal(o.code, 34);
    assert.match(
      o.stderr,
      /the server does not know this key \(.*laptop\.pem, SHA256:.*\): add it with `start-tunnel auth key add NAME 'ssh-ed25519 /
    );
  });

  it('auth key add (OpenSSH, @FILE), list; then remote commands work', async () => {
    writeFileSync(join(files, 'laptop.pub'), `${openssh} me@laptop\n`);
    assert.match(
      await ok(['auth', 'key', 'add', 'laptop', `@${join(files, 'laptop.pub')}`]),
      /^Authorised key "laptop" SHA256:\S+\n$/
    );
    const keys = (await json(['auth', 'key', 'list'])) as { name: string; openssh: string }[];
    assert.deepEqual(
      keys.map((k) => [k.name, k.openssh]),
      [['laptop', openssh]]
    );
    assert.match(
      await ok(['auth', 'key', 'list']),
      /^NAME +FINGERPRINT +ADDED +KEY\nlaptop +SHA256:/
    );

    const status = await remote(['status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^Interface: +wg-cli-test, UDP 51820$/m);
    const subnets = await remote(['subnet', 'list', '--format', 'json']);
    assert.equal(subnets.code, 0, subnets.stderr);
    assert.equal((JSON.parse(subnets.stdout) as unknown[]).length, 1);
    const added = await remote(['subnet', 'add', '10.59.77.0/24', 'Remote']);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, 'Added subnet "Remote" 10.59.77.1/24\n');
    const listen = await remote(['web', 'get-listen']);
    assert.equal(listen.stdout, `127.0.0.1:${port}\n`);
    // a refusal by the server keeps its code remotely too
    const refused = await remote(['subnet', 'add', '10.59.77.0/25', 'Small']);
    assert.ok(isOneLineError(refused));
    assert.notEqual(refused.code, 0);
  });

  it('a root CA that did not issue the certificate: "not trusted", naming --root-ca', async () => {
    const other = await generateCertificate(['127.0.0.1'], null);
    const otherFile = join(files, 'other-root.pem');
    writeFileSync(otherFile, other.rootCa.certPem);
    const o = await remote(['status'], keyFile, [otherFile]);
    assert.ok(isOneLineError(o), o.stderr);
    assert.equal(o.code, 9);
    assert.match(
      o.stderr,
      new RegExp(
        `certificate of 127\\.0\\.0\\.1:${port} is not trusted \\([A-Z_]+\\): it is not issued by the root CA in --root-ca ${otherFile.replace(/\./g, '\\.')}`
      )
    );
    const none = await remote(['status'], keyFile, []);
    assert.ok(isOneLineError(none), none.stderr);
    assert.match(
      none.stderr,
      /is not trusted \([A-Z_]+\): pass the server's root CA with --root-ca FILE/
    );
  });

  it('a name the certificate is not for, a bad key file, a bad root CA file', async () => {
    const name = await run([
      '-t',
      `localhost:${port}`,
      '--key',
      keyFile,
      '--root-ca',
      rootCaFile,
      'status',
    ]);
    assert.ok(isOneLineError(name), name.stderr);
    assert.match(name.stderr, /is not for "localhost" \(ERR_TLS_CERT_ALTNAME_INVALID\)/);

    const missing = await remote(['status'], join(files, 'nope.pem'));
    assert.ok(isOneLineError(missing));
    assert.match(missing.stderr, /cannot read --key .*nope\.pem: no such file/);

    const notKey = await remote(['status'], rootCaFile);
    assert.ok(isOneLineError(notKey));
    assert.match(notKey.stderr, /invalid --key .*root-ca\.pem: Expected a "PRIVATE KEY" PEM block/);

    const badRoot = await remote(['status'], keyFile, [keyFile]);
    assert.ok(isOneLineError(badRoot));
    assert.match(badRoot.stderr, /invalid --root-ca .*laptop\.pem: no PEM certificate in it/);

    const badAddress = await run(['-t', '2001:db8::1:8443', '--key', keyFile, 'status']);
    assert.ok(isOneLineError(badAddress));
    assert.equal(badAddress.code, 2);
    assert.match(badAddress.stderr, /put an IPv6 address in brackets/);
  });

  it('auth key remove by name; the key is refused again', async () => {
    assert.match(await ok(['auth', 'key', 'remove', 'laptop']), /^Removed key "laptop" SHA256:/);
    const o = await remote(['status']);
    assert.equal(o.code, 34);
    assert.match(o.stderr, /does not know this key/);
    const gone = await run(['auth', 'key', 'remove', 'laptop']);
    assert.ok(isOneLineError(gone));
    assert.equal(gone.code, 6);
    await ok(['auth', 'key', 'add', 'laptop', openssh]);
  });

  it('daemon refused remotely; a panel that is off: "nothing answers"', async () => {
    const d = await remote(['daemon']);
    assert.equal(d.code, 2);
    assert.equal(await ok(['web', 'disable']), 'HTTPS panel off\n');
    const off = await remote(['status']);
    assert.ok(isOneLineError(off), off.stderr);
    assert.equal(off.code, 9);
    assert.match(
      off.stderr,
      new RegExp(`nothing answers on 127\\.0\\.0\\.1:${port}: is the HTTPS panel enabled`)
    );
    assert.match(
      await ok(['web', 'enable']),
      new RegExp(`^HTTPS panel on: ${url.replace(/\./g, '\\.')}\n$`)
    );
    assert.equal((await remote(['status'])).code, 0);
  });
});

describe('the panel port and port forwards', () => {
  let device: string;

  before(async () => {
    const [subnet] = (await json(['subnet', 'list'])) as { subnet: string }[];
    const added = (await json(['device', 'add', subnet!.subnet, 'server'])) as { ip: string };
    device = added.ip;
  });

  it('a TCP forward on the panel port is refused; UDP is not', async () => {
    const o = await run([
      'port-forward',
      'add',
      `${WAN_IP}:${port}`,
      `${device}:443`,
      '--protocol',
      'tcp',
    ]);
    assert.ok(isOneLineError(o), o.stderr);
    assert.match(o.stderr, new RegExp(`reserved port ${port}/tcp \\("HTTPS panel"\\)`));
    await ok(['port-forward', 'add', `${WAN_IP}:${port}`, `${device}:443`, '--protocol', 'udp']);
    await ok(['port-forward', 'remove', `${WAN_IP}:${port}`]);
  });

  it('the panel cannot move onto a forwarded port (41), and can once the forward is gone', async () => {
    const other = await freePort();
    await ok(['port-forward', 'add', `${WAN_IP}:${other}`, `${device}:80`, '--protocol', 'both']);
    const o = await run(['web', 'set-listen', `127.0.0.1:${other}`]);
    assert.ok(isOneLineError(o), o.stderr);
    assert.equal(o.code, 41);
    assert.match(
      o.stderr,
      new RegExp(`Port ${other}/tcp is taken by the port forward "203\\.0\\.113\\.7:${other}"`)
    );
    assert.equal(await json(['web', 'get-listen']), `127.0.0.1:${port}`);
    // the reservation stayed on the panel's port
    const again = await run(['port-forward', 'add', `${WAN_IP}:${port}`, `${device}:443`]);
    assert.match(again.stderr, /HTTPS panel/);

    await ok(['port-forward', 'set-enabled', `${WAN_IP}:${other}`]); // disabled: no clash
    const moved = await run(['web', 'set-listen', `127.0.0.1:${other}`]);
    assert.equal(moved.code, 0, moved.stderr);
    assert.equal(moved.stdout, `Listen address set to 127.0.0.1:${other}\n`);
    assert.equal(moved.stderr, '', 'the certificate names 127.0.0.1: no note');
    const on = (await json(['web', 'status'])) as { url: string; running: boolean };
    assert.deepEqual([on.running, on.url], [true, `https://127.0.0.1:${other}`]);
    // the old port is free for forwards again; the new one is not
    await ok(['port-forward', 'add', `${WAN_IP}:${port}`, `${device}:443`, '--protocol', 'tcp']);
    await ok(['port-forward', 'remove', `${WAN_IP}:${port}`]);
    const enable = await run(['port-forward', 'set-enabled', `${WAN_IP}:${other}`, '--enabled']);
    assert.match(enable.stderr, /HTTPS panel/);
    await ok(['port-forward', 'remove', `${WAN_IP}:${other}`]);
    await ok(['web', 'set-listen', `127.0.0.1:${port}`]);
  });

  it('set-listen notes a certificate that does not name the new address', async () => {
    const o = await run(['web', 'set-listen', `127.0.0.2:${port}`]);
    if (o.code !== 0) return; // no 127.0.0.2 on this machine
    assert.match(
      o.stderr,
      /^note: the certificate is not for 127\.0\.0\.2 .*web generate-certificate/
    );
    await ok(['web', 'set-listen', `127.0.0.1:${port}`]);
  });
});

describe('certificates', () => {
  it('import-certificate from files and from stdin; get-root-ca follows', async () => {
    const made = await generateCertificate(['127.0.0.1'], null);
    const keyPath = join(files, 'key.pem');
    const chainPath = join(files, 'chain.pem');
    writeFileSync(keyPath, made.certificate.keyPem);
    writeFileSync(chainPath, made.certificate.chainPem.join(''));
    assert.match(
      await ok(['web', 'import-certificate', '--key-file', keyPath, '--cert-file', chainPath]),
      /^Certificate imported for 127\.0\.0\.1, valid until \S+ \(chain of 2\)\n$/
    );
    assert.equal(await ok(['web', 'get-root-ca']), `${made.rootCa.certPem.trim()}\n`);
    const login = await httpsRpc(url, made.rootCa.certPem, 'auth.login', { password });
    assert.equal(login.status, 200, 'the new chain is served at once');

    const stdin = readFileSync(keyPath, 'utf8') + readFileSync(chainPath, 'utf8');
    const piped = await run(['web', 'import-certificate', '-o', 'json'], {
      terminal: scriptedTerminal([], { isTTY: false, stdin }),
    });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal((JSON.parse(piped.stdout) as { chainLength: number }).chainLength, 2);

    const noKey = await run(['web', 'import-certificate', '--cert-file', chainPath]);
    assert.ok(isOneLineError(noKey));
    assert.match(noKey.stderr, /no private key/);
    const other = await generateCertificate(['127.0.0.1'], null);
    writeFileSync(keyPath, other.certificate.keyPem);
    const mismatch = await run([
      'web',
      'import-certificate',
      '--key-file',
      keyPath,
      '--cert-file',
      chainPath,
    ]);
    assert.ok(isOneLineError(mismatch), mismatch.stderr);
    assert.equal(mismatch.code, 49);
    const tty = await run(['web', 'import-certificate'], { terminal: scriptedTerminal([]) });
    assert.match(tty.stderr, /give --key-file FILE and --cert-file FILE/);
  });

  it('generate-certificate goes back to the kept root CA', async () => {
    const r = (await json(['web', 'generate-certificate', 'vpn.example.org'])) as {
      rootCa: string;
      rootRegenerated: boolean;
      certificate: { subjects: { ips: string[]; dns: string[] } };
    };
    assert.equal(r.rootCa, rootCaPem);
    assert.equal(r.rootRegenerated, false);
    assert.deepEqual(r.certificate.subjects, { ips: ['127.0.0.1'], dns: ['vpn.example.org'] });
    const text = await ok(['web', 'generate-certificate']);
    assert.match(
      text,
      /^Certificate for 127\.0\.0\.1, valid until \S+, signed by the same root CA/
    );
    assert.ok(text.includes(rootCaPem.trim()));
  });
});

describe('reset, init again, restart', () => {
  it('web reset forgets address, certificate and password; init keeps the root CA', async () => {
    assert.equal(
      await ok(['web', 'uninit']),
      'HTTPS panel reset: off, no listen address, certificate or password\n'
    );
    const s = (await json(['web', 'status'])) as Record<string, unknown>;
    assert.deepEqual(
      [s.enabled, s.listen, s.passwordSet, s.certificate],
      [false, null, false, null]
    );
    const r = (await json(['web', 'init', '--listen', `127.0.0.1:${port}`])) as {
      password: string | null;
      rootCa: string;
    };
    assert.match(String(r.password), /^[a-z2-7]{26}$/);
    assert.equal(r.rootCa, rootCaPem, 'no new root to trust');
    password = String(r.password);
  });

  it('web init on a terminal: asks the address, port and certificate', async () => {
    await ok(['web', 'reset']);
    const terminal = scriptedTerminal(['127.0.0.1', 'x', String(port), '', 'vpn.example.org']);
    const o = await run(['web', 'init'], { terminal });
    assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(terminal.asked, [
      'Listen on [1]: ',
      'Port [8443]: ',
      'Port [8443]: ',
      'Choose [1]: ',
      'Extra DNS names or IPs for the certificate, comma-separated (it has 127.0.0.1): ',
    ]);
    assert.match(
      o.stderr,
      /^Addresses of this server:\n {2}1\) 203\.0\.113\.7 \(WAN\)\n {2}2\) 198\.51\.100\.9\n/
    );
    assert.match(o.stderr, /^"x" is not a port$/m);
    assert.match(o.stderr, /^ {2}1\) Generate one/m);
    assert.match(o.stdout, new RegExp(`^URL: +${url.replace(/\./g, '\\.')}`, 'm'));
    assert.match(o.stdout, /^Password: +[a-z2-7]{26}$/m);
    password = /^Password: +(\S+)$/m.exec(o.stdout)?.[1] ?? '';
    const cert = (await json(['web', 'get-certificate'])) as { subjects: unknown };
    assert.deepEqual(cert.subjects, { ips: ['127.0.0.1'], dns: ['vpn.example.org'] });
  });

  it('--listen on an address this machine does not have: the server says why (41)', async () => {
    const o = await run(['web', 'init', '--listen', '192.0.2.1:8443']);
    assert.ok(isOneLineError(o), o.stderr);
    assert.equal(o.code, 41);
    assert.match(o.stderr, /192\.0\.2\.1:8443 is not available to bind to/);
  });

  it('the daemon restarts with the panel on, its password and its keys', async () => {
    await daemon.stop();
    daemon = await startTestServer(dir);
    const s = (await json(['web', 'status'])) as { running: boolean; url: string };
    assert.deepEqual([s.running, s.url], [true, url]);
    assert.equal((await httpsRpc(url, rootCaPem, 'auth.login', { password })).status, 200);
    const keys = (await json(['auth', 'key', 'list'])) as { name: string }[];
    assert.deepEqual(
      keys.map((k) => k.name),
      ['laptop']
    );
    const remote = await run([
      '-t',
      `127.0.0.1:${port}`,
      '--key',
      join(files, 'laptop.pem'),
      '--root-ca',
      rootCaFile,
      'auth',
      'key',
      'list',
      '-o',
      'json',
    ]);
    assert.equal(remote.code, 0, remote.stderr);
  });
});
