// SPDX-License-Identifier: MIT
// @peculiar/x509 needs the Reflect shim loaded first (src/reflect-shim.ts explains why)
import '../src/reflect-shim.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { connect, createServer } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { pemBlocks } from '../src/encoding.ts';
import {
  certificateInfo,
  chainRoot,
  generateCertificate,
  importCertificate,
  importRootKey,
  issueLeaf,
  LEAF_VALIDITY_DAYS,
  nameConstraintsDer,
  parseSubjects,
  readNameConstraints,
  TlsError,
} from '../src/tls.ts';

const DAY = 24 * 3600_000;

/**
 * Serves `chain` with `key` on 127.0.0.1 and connects trusting only `ca`; resolves 'ok' or the
 * verification error (OpenSSL's text: node reports name-constraint failures as UNSPECIFIED).
 */
async function handshake(
  key: string,
  chain: string[],
  ca: string,
  servername?: string
): Promise<'ok' | string> {
  const server = createServer({ key, cert: chain.join('') }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise((resolve) => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        ca,
        ...(servername ? { servername } : {}),
      });
      socket.once('secureConnect', () => {
        socket.destroy();
        resolve('ok');
      });
      socket.once('error', (err: Error) => resolve(err.message));
    });
  } finally {
    server.close();
  }
}

describe('parseSubjects', () => {
  it('sorts IPs from names and canonicalises them', () => {
    assert.deepEqual(
      parseSubjects(['192.0.2.7', '[2001:DB8:0::1]', 'VPN.Example.org.', 'localhost']),
      {
        ips: ['192.0.2.7', '2001:db8::1'],
        dns: ['vpn.example.org', 'localhost'],
      }
    );
  });
  it('names the bad entry', () => {
    for (const bad of ['*.example.org', 'exa mple.org', '-x.org', '192.0.2.300', '01.2.3.4', '']) {
      assert.throws(
        () => parseSubjects(['192.0.2.7', bad]),
        (e: unknown) =>
          e instanceof TlsError && e.field === 'subject[1]' && e.message.includes(`"${bad}"`)
      );
    }
    assert.throws(
      () => parseSubjects([]),
      (e: unknown) => e instanceof TlsError && e.field === 'subject'
    );
  });
});

describe('generateCertificate', () => {
  it('issues a 397-day P-256 leaf for the subjects under a name-constrained root', async () => {
    const now = Date.now();
    const made = await generateCertificate(
      ['192.0.2.7', 'vpn.example.org', '2001:db8::1'],
      null,
      now
    );
    assert.equal(made.rootRegenerated, true);
    assert.equal(made.certificate.chainPem.length, 2);
    const leaf = new X509Certificate(made.certificate.chainPem[0] ?? '');
    const root = new X509Certificate(made.rootCa.certPem);
    assert.equal(made.certificate.chainPem[1], made.rootCa.certPem);
    assert.equal(leaf.verify(root.publicKey), true);
    assert.equal(leaf.checkIssued(root), true);
    assert.equal(leaf.checkIP('192.0.2.7'), '192.0.2.7');
    assert.equal(leaf.checkIP('2001:db8::1'), '2001:db8::1');
    assert.equal(leaf.checkIP('192.0.2.8'), undefined);
    assert.equal(leaf.checkHost('vpn.example.org'), 'vpn.example.org');
    assert.equal(leaf.ca, false);
    assert.equal(root.ca, true);
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'EKU serverAuth');
    assert.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const days = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / DAY;
    assert.equal(days, LEAF_VALIDITY_DAYS);
    assert.ok(Date.parse(leaf.validFrom) <= now && Date.parse(leaf.validTo) > now + 390 * DAY);
    const ext = new x509.X509Certificate(made.rootCa.certPem).getExtension('2.5.29.30');
    assert.ok(ext, 'name constraints present');
    assert.equal(ext.critical, true, 'and critical');
    assert.deepEqual(readNameConstraints(new Uint8Array(ext.value)), {
      ips: ['192.0.2.7', '2001:db8::1'],
      dns: ['vpn.example.org'],
    });
    assert.equal(pemBlocks(made.rootCa.keyPem)[0]?.label, 'PRIVATE KEY', 'the root key is kept');
  });

  it('renewal signs a new leaf with the same root while the subjects stay inside it', async () => {
    const first = await generateCertificate(['192.0.2.7', 'vpn.example.org'], null);
    const again = await generateCertificate(['192.0.2.7', 'panel.vpn.example.org'], first.rootCa);
    assert.equal(again.rootRegenerated, false);
    assert.equal(again.rootReason, null);
    assert.equal(again.rootCa.certPem, first.rootCa.certPem);
    assert.notEqual(again.certificate.chainPem[0], first.certificate.chainPem[0]);
    assert.notEqual(again.certificate.keyPem, first.certificate.keyPem);
    const root = new X509Certificate(first.rootCa.certPem);
    assert.equal(
      new X509Certificate(again.certificate.chainPem[0] ?? '').verify(root.publicKey),
      true
    );
  });

  it('makes a new root when a subject leaves the constraints or the root would expire', async () => {
    const first = await generateCertificate(['192.0.2.7'], null);
    const moved = await generateCertificate(['192.0.2.8'], first.rootCa);
    assert.equal(moved.rootRegenerated, true);
    assert.match(moved.rootReason ?? '', /do not cover "192\.0\.2\.8"/);
    assert.notEqual(moved.rootCa.certPem, first.rootCa.certPem);
    const late = await generateCertificate(['192.0.2.7'], first.rootCa, Date.now() + 3400 * DAY);
    assert.equal(late.rootRegenerated, true);
    assert.match(late.rootReason ?? '', /expires before/);
  });

  it('a client trusting only the root accepts the served chain for the IP', async () => {
    const made = await generateCertificate(['127.0.0.1'], null);
    assert.equal(
      await handshake(made.certificate.keyPem, made.certificate.chainPem, made.rootCa.certPem),
      'ok'
    );
    const other = await generateCertificate(['127.0.0.1'], null);
    assert.notEqual(
      await handshake(made.certificate.keyPem, made.certificate.chainPem, other.rootCa.certPem),
      'ok',
      'another root is not trusted'
    );
  });

  it('a leaf outside the root constraints is refused by a real TLS client (forged IP)', async () => {
    const made = await generateCertificate(['192.0.2.7'], null);
    const key = await importRootKey(made.rootCa.keyPem);
    const forged = await issueLeaf(
      made.rootCa,
      key,
      parseSubjects(['127.0.0.1']),
      Date.now() - DAY,
      Date.now() + DAY
    );
    const outcome = await handshake(
      forged.keyPem,
      [forged.certPem, made.rootCa.certPem],
      made.rootCa.certPem
    );
    assert.equal(outcome, 'permitted subtree violation');
  });

  it('a names-only root excludes every IP, an IPs-only root every real name', async () => {
    const named = await generateCertificate(['localhost'], null);
    assert.equal(
      await handshake(
        named.certificate.keyPem,
        named.certificate.chainPem,
        named.rootCa.certPem,
        'localhost'
      ),
      'ok'
    );
    const nKey = await importRootKey(named.rootCa.keyPem);
    const ipLeaf = await issueLeaf(
      named.rootCa,
      nKey,
      parseSubjects(['127.0.0.1']),
      Date.now() - DAY,
      Date.now() + DAY
    );
    assert.equal(
      await handshake(ipLeaf.keyPem, [ipLeaf.certPem], named.rootCa.certPem),
      'excluded subtree violation'
    );
    const ipOnly = await generateCertificate(['127.0.0.1'], null);
    const iKey = await importRootKey(ipOnly.rootCa.keyPem);
    const nameLeaf = await issueLeaf(
      ipOnly.rootCa,
      iKey,
      parseSubjects(['localhost']),
      Date.now() - DAY,
      Date.now() + DAY
    );
    assert.equal(
      await handshake(nameLeaf.keyPem, [nameLeaf.certPem], ipOnly.rootCa.certPem, 'localhost'),
      'permitted subtree violation'
    );
  });
});

// ---- everything the root key can sign, checked by `openssl verify` ------------------------

const scratch = mkdtempSync(join(tmpdir(), 'st-tls-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** `openssl verify -CAfile root [-purpose p] leaf`: 'ok' or OpenSSL's error line. */
function opensslVerify(rootPem: string, leafPem: string, purpose?: string): string {
  const tag = randomBytes(6).toString('hex');
  const rootFile = join(scratch, `${tag}-root.pem`);
  const leafFile = join(scratch, `${tag}-leaf.pem`);
  writeFileSync(rootFile, rootPem);
  writeFileSync(leafFile, leafPem);
  const args = ['verify', '-CAfile', rootFile, ...(purpose ? ['-purpose', purpose] : []), leafFile];
  try {
    execFileSync('openssl', args, { stdio: 'pipe' });
    return 'ok';
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? '');
    const line = out.split('\n').find((l) => /error \d+/.test(l));
    return line ?? out;
  }
}

interface Forgery {
  subject: string;
  names?: x509.JsonGeneralName[];
  usages?: string[];
}

/** Whatever an attacker holding the root key might sign: any subject, names and usages. */
async function forge(rootPem: string, rootKeyPem: string, f: Forgery): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const rootCert = new x509.X509Certificate(rootPem);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
  ];
  if (f.usages) extensions.push(new x509.ExtendedKeyUsageExtension(f.usages, false));
  if (f.names) extensions.push(new x509.SubjectAlternativeNameExtension(f.names, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomBytes(8).toString('hex').replace(/^./, '1'),
    subject: f.subject,
    issuer: rootCert.subject,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + DAY),
    publicKey: keys.publicKey,
    signingKey: await importRootKey(rootKeyPem),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions,
  });
  return cert.toString('pem');
}

const EKU = x509.ExtendedKeyUsage;
const PANEL = ['192.0.2.7', 'vpn.example.org'];
const OWN_NAMES: x509.JsonGeneralName[] = [
  { type: 'ip', value: '192.0.2.7' },
  { type: 'dns', value: 'vpn.example.org' },
];
const OWN_SUBJECT = 'O=start-tunnel, CN=vpn.example.org';

/** Certificates the root key can sign that are not a TLS server certificate for the panel. */
const FORGERIES: Array<{ what: string; purposes: (string | undefined)[]; f: Forgery }> = [
  {
    what: 'S/MIME for a foreign mailbox',
    purposes: ['smimesign', 'smimeencrypt', 'any', undefined],
    f: {
      subject: 'CN=Alice',
      names: [{ type: 'email', value: 'alice@example.com' }],
      usages: [EKU.emailProtection],
    },
  },
  {
    what: 'S/MIME through the subject emailAddress only',
    purposes: ['smimesign', 'any', undefined],
    f: { subject: 'O=start-tunnel, E=alice@example.com', usages: [EKU.emailProtection] },
  },
  {
    what: 'S/MIME for the panel itself',
    purposes: ['smimesign'],
    f: { subject: OWN_SUBJECT, names: OWN_NAMES, usages: [EKU.emailProtection] },
  },
  {
    what: 'a TLS client certificate for the panel',
    purposes: ['sslclient'],
    f: { subject: OWN_SUBJECT, names: OWN_NAMES, usages: [EKU.clientAuth] },
  },
  {
    what: 'a client identity URI',
    purposes: ['sslclient', 'any', undefined],
    f: {
      subject: 'O=start-tunnel, CN=x',
      names: [{ type: 'url', value: 'spiffe://example.org/admin' }],
      usages: [EKU.clientAuth],
    },
  },
  {
    what: 'code signing as another organisation',
    purposes: ['any', undefined],
    f: { subject: 'O=Example Software Ltd, CN=Example Software Ltd', usages: [EKU.codeSigning] },
  },
  {
    what: 'code signing as the panel',
    purposes: ['sslserver', 'sslclient', 'smimesign'],
    f: { subject: OWN_SUBJECT, names: OWN_NAMES, usages: [EKU.codeSigning] },
  },
  {
    what: 'a TLS server for a foreign name',
    purposes: ['sslserver', 'any', undefined],
    f: {
      subject: 'O=start-tunnel, CN=bank.example.com',
      names: [{ type: 'dns', value: 'bank.example.com' }],
      usages: [EKU.serverAuth],
    },
  },
  {
    what: 'a TLS server for a foreign address',
    purposes: ['sslserver', 'any', undefined],
    f: { subject: OWN_SUBJECT, names: [{ type: 'ip', value: '198.51.100.1' }] },
  },
];

describe('the root key signs for nothing but the panel (openssl verify)', () => {
  it('the panel leaf verifies for TLS servers', async () => {
    const made = await generateCertificate(PANEL, null);
    const leaf = made.certificate.chainPem[0] ?? '';
    assert.equal(opensslVerify(made.rootCa.certPem, leaf, 'sslserver'), 'ok');
    assert.equal(opensslVerify(made.rootCa.certPem, leaf), 'ok');
    const root = new x509.X509Certificate(made.rootCa.certPem);
    assert.deepEqual(
      [...(root.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])],
      [EKU.serverAuth]
    );
  });

  for (const { what, purposes, f } of FORGERIES) {
    it(`refuses ${what}`, async () => {
      const made = await generateCertificate(PANEL, null);
      const pem = await forge(made.rootCa.certPem, made.rootCa.keyPem, f);
      for (const purpose of purposes) {
        const outcome = opensslVerify(made.rootCa.certPem, pem, purpose);
        assert.notEqual(outcome, 'ok', `${what} verified with -purpose ${purpose ?? '(none)'}`);
      }
    });
  }

  it('a root without the limits (an older one) is replaced at the next renewal', async () => {
    const made = await generateCertificate(PANEL, null);
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const old = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=start-tunnel Local Root CA, O=start-tunnel',
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 3000 * DAY),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.Extension('2.5.29.30', true, nameConstraintsDer(parseSubjects(PANEL))),
      ],
    });
    const keyPem = x509.PemConverter.encode(
      await webcrypto.subtle.exportKey('pkcs8', keys.privateKey),
      'PRIVATE KEY'
    );
    const renewed = await generateCertificate(PANEL, { certPem: old.toString('pem'), keyPem });
    assert.equal(renewed.rootRegenerated, true);
    assert.match(renewed.rootReason ?? '', /predates the limits/);
    assert.notEqual(renewed.rootCa.keyPem, made.rootCa.keyPem);
  });
});

describe('importCertificate', () => {
  it('accepts a key with its chain and normalises it', async () => {
    const made = await generateCertificate(['192.0.2.7'], null);
    const data = importCertificate(made.certificate.keyPem, made.certificate.chainPem.join('\n'));
    assert.deepEqual(data.chainPem, made.certificate.chainPem);
    assert.equal(pemBlocks(data.keyPem)[0]?.label, 'PRIVATE KEY');
  });

  it('names the field and the reason for each fault', async () => {
    const a = await generateCertificate(['192.0.2.7'], null);
    const b = await generateCertificate(['192.0.2.7'], null);
    const fails = (key: string, cert: string, field: string, pattern: RegExp) =>
      assert.throws(
        () => importCertificate(key, cert),
        (e: unknown) => e instanceof TlsError && e.field === field && pattern.test(e.message)
      );
    fails('nothing', a.certificate.chainPem.join(''), 'key', /Expected a PEM private key/);
    fails(a.certificate.keyPem, 'nothing', 'cert', /Expected one or more PEM certificates/);
    fails(b.certificate.keyPem, a.certificate.chainPem.join(''), 'key', /does not match the first/);
    const reversed = [...a.certificate.chainPem].reverse().join('');
    fails(
      a.rootCa.keyPem,
      reversed,
      'cert',
      /Certificate 1 in the chain was not signed by certificate 2/
    );
    const mixed = [a.certificate.chainPem[0], b.rootCa.certPem].join('');
    fails(a.certificate.keyPem, mixed, 'cert', /not signed by certificate 2/);
  });
});

describe('inspection', () => {
  it('reports subjects, validity and fingerprints, and finds the root', async () => {
    const made = await generateCertificate(['192.0.2.7', 'vpn.example.org'], null);
    const info = certificateInfo(made.certificate);
    assert.deepEqual(info.subjects, { ips: ['192.0.2.7'], dns: ['vpn.example.org'] });
    assert.equal(
      info.fingerprint,
      new X509Certificate(made.certificate.chainPem[0] ?? '').fingerprint256
    );
    assert.equal(info.chainLength, 2);
    assert.match(info.issuer, /start-tunnel Local Root CA/);
    const root = chainRoot(made.certificate.chainPem);
    assert.equal(root?.fingerprint, new X509Certificate(made.rootCa.certPem).fingerprint256);
    assert.equal(chainRoot([made.certificate.chainPem[0] ?? '']), null, 'a leaf is no root');
  });
});
