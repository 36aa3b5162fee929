// SPDX-License-Identifier: MIT
/**
 * The panel's TLS certificate. Mirrors the original's `net/ssl.rs` chain generation (P-256, ECDSA
 * with SHA-256, random serials, a 397-day leaf:
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/net/ssl.rs#L282-L565) with
 * two changes. The root CA carries a critical Name Constraints extension (RFC 5280 §4.2.1.10) that
 * leaves no name form open: the tunnel's own IPs and DNS names, no real e-mail address or URI, and
 * only start-tunnel's own directory names; and an extended key usage of serverAuth alone (RFC 5280
 * §4.2.1.12), which verifiers that check purposes along the chain (OpenSSL's `X509_check_purpose`
 * on every CA) apply to whatever it signs. A user who trusts it trusts it for the panel's TLS and
 * nothing else, even if its key leaked. And the root key is kept (the original's
 * `generate_certificate` stores only the leaf key,
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/web.rs#L294-L326), so
 * a renewal signs a new leaf under the same root and nobody has to trust a new one; the root is
 * replaced only when the new subjects fall outside its constraints, and the result says so. There
 * is no intermediate: with the root's constraints this tight it would add nothing.
 *
 * `importCertificate` takes a user's own key and chain and checks the key matches the leaf and
 * each certificate was signed by the next (the original's `web import-certificate`).
 * @module
 */

import './reflect-shim.ts';
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  webcrypto,
  X509Certificate,
} from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { canonicalIp as canonicalIpOf } from '@start-tunnel/protocol';
import {
  bytesEqual,
  derChildren,
  derRead,
  derTlv,
  ipBytes,
  pemBlocks,
  pemEncode,
} from './encoding.ts';
import type { CertificateData, RootCaData } from './state.ts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** Leaf lifetime, counted from `notBefore` (the CA/Browser Forum cap is 398 days). */
export const LEAF_VALIDITY_DAYS = 397;
/** Root lifetime (the original's 3640 days, rounded to ten years). */
export const ROOT_VALIDITY_DAYS = 3650;
/** `notBefore` is set this far in the past, for clients whose clock runs a little slow. */
const BACKDATE_MS = 24 * 3600_000;
const DAY_MS = 24 * 3600_000;

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const OID_NAME_CONSTRAINTS = '2.5.29.30';
const ROOT_NAME = 'CN=start-tunnel Local Root CA, O=start-tunnel';
/**
 * The directory name every leaf subject starts with (the first RDN in DER order; @peculiar/x509
 * keeps the order written). The root permits only this subtree (RFC 5280 §7.1: a DN is within a
 * subtree when the subtree's RDNs are its first ones).
 */
const LEAF_DN_BASE = 'O=start-tunnel';
/** Leaf CN when there is no DNS name: not hostname-shaped, so no verifier checks it as one. */
const LEAF_FALLBACK_CN = 'start-tunnel web';

/** A certificate problem; `field` names the parameter at fault. */
export class TlsError extends Error {
  override name = 'TlsError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** The addresses and names a certificate is for, normalised. */
export interface Subjects {
  ips: string[];
  dns: string[];
}

/** Canonical text of an IP (IPv6 compressed, lowercase); null when not an IP literal. */
export const canonicalIp = canonicalIpOf;

/** RFC 1123 host name: LDH labels of 1–63, 253 in all, no wildcard. */
function canonicalDns(text: string): string | null {
  const name = text.toLowerCase().replace(/\.$/, '');
  if (name.length === 0 || name.length > 253) return null;
  const label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
  return name.split('.').every((l) => label.test(l)) && !/^[\d.]+$/.test(name) ? name : null;
}

/** Validates and sorts a subject list; throws `TlsError` naming `subject[i]`. */
export function parseSubjects(list: readonly string[]): Subjects {
  const ips = new Set<string>();
  const dns = new Set<string>();
  list.forEach((raw, i) => {
    const text = raw.trim();
    const ip = canonicalIp(text);
    if (ip !== null) ips.add(ip);
    else {
      const name = canonicalDns(text);
      if (name === null) {
        throw new TlsError(`subject[${i}]`, `"${raw}" is neither an IP address nor a DNS name`);
      }
      dns.add(name);
    }
  });
  if (ips.size + dns.size === 0) {
    throw new TlsError('subject', 'At least one IP address or DNS name is needed');
  }
  return { ips: [...ips], dns: [...dns] };
}

// ---- Name Constraints (RFC 5280 §4.2.1.10) --------------------------------------------------

const GN_EMAIL = 0x81; // [1] IMPLICIT IA5String (rfc822Name)
const GN_DNS = 0x82; // [2] IMPLICIT IA5String
const GN_DIRECTORY = 0xa4; // [4] EXPLICIT Name (a CHOICE, so the tag is explicit)
const GN_URI = 0x86; // [6] IMPLICIT IA5String
const GN_IP = 0x87; // [7] IMPLICIT OCTET STRING: address then mask
/** The reserved `invalid` domain (RFC 6761 §6.4): no real name, mailbox or URI host is in it. */
const NOWHERE = 'invalid';

/**
 * The DER of NameConstraints for a subject set. Each IP is a subtree with a full mask (/32,
 * /128); each name a dNSName subtree (the name and its subdomains). A name form without a
 * permitted subtree is unconstrained (RFC 5280 §4.2.1.10), so every form gets one:
 * - with no IPs, every IPv4 and IPv6 address is excluded instead;
 * - with no names, only the `invalid` domain is permitted;
 * - rfc822Name and uniformResourceIdentifier permit only the host `invalid` (a mailbox or URI
 *   host must equal it), which shuts out S/MIME and URI (client identity) certificates;
 * - directoryName permits only `O=start-tunnel`, the start of every leaf subject we write, so a
 *   certificate cannot claim another organisation's name (code signing shows the subject).
 */
export function nameConstraintsDer(s: Subjects): Uint8Array {
  const subtree = (tag: number, value: Uint8Array) => derTlv(0x30, derTlv(tag, value));
  const ascii = (text: string) => new TextEncoder().encode(text);
  const permitted: Uint8Array[] = [];
  const excluded: Uint8Array[] = [];
  for (const ip of s.ips) {
    const addr = ipBytes(ip);
    permitted.push(subtree(GN_IP, Uint8Array.from([...addr, ...addr.map(() => 0xff)])));
  }
  const names = s.dns.length > 0 ? s.dns : [NOWHERE];
  for (const name of names) permitted.push(subtree(GN_DNS, ascii(name)));
  permitted.push(
    subtree(GN_EMAIL, ascii(NOWHERE)),
    subtree(GN_URI, ascii(NOWHERE)),
    subtree(GN_DIRECTORY, new Uint8Array(new x509.Name(LEAF_DN_BASE).toArrayBuffer()))
  );
  if (s.ips.length === 0) {
    excluded.push(subtree(GN_IP, new Uint8Array(8)), subtree(GN_IP, new Uint8Array(32)));
  }
  const parts = [derTlv(0xa0, ...permitted)];
  if (excluded.length > 0) parts.push(derTlv(0xa1, ...excluded));
  return derTlv(0x30, ...parts);
}

/**
 * Whether a NameConstraints value constrains every name form a certificate can use to claim an
 * identity: IP (permitted or excluded), DNS, e-mail, URI and directory name. Roots made before
 * the last three were added fail this and are replaced at the next renewal.
 */
export function constrainsEveryForm(der: Uint8Array): boolean {
  const outer = derRead(der);
  const parts = outer ? derChildren(outer.content) : null;
  const tags = new Set<number>();
  for (const part of parts ?? []) {
    for (const st of derChildren(part.content) ?? []) {
      const gn = derRead(st.content);
      if (gn) tags.add(gn.tag);
    }
  }
  return [GN_IP, GN_DNS, GN_EMAIL, GN_URI, GN_DIRECTORY].every((t) => tags.has(t));
}

/** Reads back the permitted subtrees of a NameConstraints value (only the forms we write). */
export function readNameConstraints(der: Uint8Array): Subjects | null {
  const outer = derRead(der);
  const parts = outer ? derChildren(outer.content) : null;
  const permitted = parts?.find((p) => p.tag === 0xa0);
  const subtrees = permitted ? derChildren(permitted.content) : null;
  if (!subtrees) return null;
  const out: Subjects = { ips: [], dns: [] };
  for (const st of subtrees) {
    const gn = derRead(st.content);
    if (!gn) return null;
    if (gn.tag === GN_DNS) out.dns.push(Buffer.from(gn.content).toString('latin1'));
    else if (gn.tag === GN_IP && (gn.content.length === 8 || gn.content.length === 32)) {
      const half = gn.content.length / 2;
      if (!gn.content.subarray(half).every((b) => b === 0xff)) return null;
      const addr = gn.content.subarray(0, half);
      const text =
        half === 4
          ? [...addr].join('.')
          : (canonicalIp(
              [...Array(8).keys()]
                .map((i) => ((addr[2 * i]! << 8) | addr[2 * i + 1]!).toString(16))
                .join(':')
            ) ?? '');
      out.ips.push(text);
    }
  }
  return out;
}

function permits(constraints: Subjects, s: Subjects): string | null {
  for (const ip of s.ips) if (!constraints.ips.includes(ip)) return ip;
  for (const name of s.dns) {
    const ok = constraints.dns.some((c) => name === c || name.endsWith(`.${c}`));
    if (!ok || name === 'invalid' || name.endsWith('.invalid')) return name;
  }
  return null;
}

// ---- generation -----------------------------------------------------------------------------

function serialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive and 16 bytes long
  return bytes.toString('hex');
}

/** PEM with LF line ends and a final newline, so chains can be concatenated. */
function certPem(cert: x509.X509Certificate): string {
  return pemEncode('CERTIFICATE', new Uint8Array(cert.rawData));
}

async function exportPkcs8(key: CryptoKey): Promise<string> {
  return pemEncode('PRIVATE KEY', new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', key)));
}

async function importP256(keyPem: string): Promise<CryptoKey> {
  const der = pemBlocks(keyPem).find((b) => b.label === 'PRIVATE KEY')?.der;
  if (!der) throw new Error('The stored root CA key is not PKCS#8 PEM');
  return webcrypto.subtle.importKey('pkcs8', der, EC_P256, false, ['sign']);
}

async function createRoot(s: Subjects, now: number): Promise<{ root: RootCaData; key: CryptoKey }> {
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialHex(),
    name: ROOT_NAME,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + ROOT_VALIDITY_DAYS * DAY_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.Extension(OID_NAME_CONSTRAINTS, true, nameConstraintsDer(s)),
      // RFC 5280 §4.2.1.12 defines EKU for end entities; on a CA, OpenSSL (among others) reads
      // it as the purposes the CA may certify for, so this root certifies TLS servers only.
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
    ],
  });
  return {
    root: { keyPem: await exportPkcs8(keys.privateKey), certPem: certPem(cert) },
    key: keys.privateKey,
  };
}

/** Why the stored root cannot sign a leaf for `s` valid until `leafEnd`, or null if it can. */
function rootUnfit(root: RootCaData, s: Subjects, leafEnd: number): string | null {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(root.certPem);
  } catch {
    return 'the stored root CA does not parse';
  }
  if (cert.notAfter.getTime() < leafEnd) return 'the root CA expires before the new certificate';
  const ext = cert.getExtension(OID_NAME_CONSTRAINTS);
  const constraints = ext ? readNameConstraints(new Uint8Array(ext.value)) : null;
  if (!constraints) return 'the root CA has no name constraints we can read';
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const serverOnly = eku?.usages.length === 1 && eku.usages[0] === x509.ExtendedKeyUsage.serverAuth;
  if (!serverOnly || !ext || !constrainsEveryForm(new Uint8Array(ext.value))) {
    return 'the root CA predates the limits to TLS servers and to e-mail, URI and directory names';
  }
  const outside = permits(constraints, s);
  return outside === null ? null : `the root CA's name constraints do not cover "${outside}"`;
}

export interface GeneratedCertificate {
  certificate: CertificateData;
  rootCa: RootCaData;
  /** True when a new root was made: clients must trust it anew. */
  rootRegenerated: boolean;
  /** Why the root was made anew (null when it was kept). */
  rootReason: string | null;
}

/**
 * Issues a leaf for `subjects` (IPs and DNS names) under the stored root, or under a new root
 * when there is none or it cannot cover them. Throws `TlsError` for bad subjects.
 */
export async function generateCertificate(
  subjects: readonly string[],
  existingRoot: RootCaData | null,
  now: number = Date.now()
): Promise<GeneratedCertificate> {
  const s = parseSubjects(subjects);
  const notBefore = now - BACKDATE_MS;
  const notAfter = notBefore + LEAF_VALIDITY_DAYS * DAY_MS;
  let reason = existingRoot ? rootUnfit(existingRoot, s, notAfter) : 'there was no root CA yet';
  let root = existingRoot;
  let rootKey: CryptoKey | null = null;
  if (root && reason === null) {
    try {
      rootKey = await importP256(root.keyPem);
    } catch {
      reason = 'the stored root CA key does not load';
    }
  }
  if (!root || !rootKey) {
    const made = await createRoot(s, now);
    root = made.root;
    rootKey = made.key;
  }
  const leaf = await issueLeaf(root, rootKey, s, notBefore, notAfter);
  return {
    certificate: { keyPem: leaf.keyPem, chainPem: [leaf.certPem, root.certPem] },
    rootCa: root,
    rootRegenerated: reason !== null,
    rootReason: reason,
  };
}

/**
 * Signs a leaf for `s` with the root key, whatever the root's constraints (exported for tests
 * that check verifiers refuse a leaf outside them).
 */
export async function issueLeaf(
  root: RootCaData,
  rootKey: CryptoKey,
  s: Subjects,
  notBefore: number,
  notAfter: number
): Promise<{ keyPem: string; certPem: string }> {
  const rootCert = new x509.X509Certificate(root.certPem);
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const names: x509.JsonGeneralName[] = [
    ...s.dns.map((value) => ({ type: 'dns' as const, value })),
    ...s.ips.map((value) => ({ type: 'ip' as const, value })),
  ];
  const cn = s.dns[0] ?? LEAF_FALLBACK_CN;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex(),
    subject: `${LEAF_DN_BASE}, CN=${cn}`,
    issuer: rootCert.subject,
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: rootKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootCert, false),
    ],
  });
  return { keyPem: await exportPkcs8(keys.privateKey), certPem: certPem(cert) };
}

/** Loads a stored root key (for `issueLeaf`). */
export const importRootKey: (keyPem: string) => Promise<CryptoKey> = importP256;

// ---- import and inspection ------------------------------------------------------------------

/**
 * Checks a user's key and chain (leaf first): the key parses and matches the leaf, and each
 * certificate was signed by the one after it. Returns what to store. Throws `TlsError` on the
 * field at fault (`key` or `cert`).
 */
export function importCertificate(keyPem: string, chainPem: string): CertificateData {
  const keyBlock = pemBlocks(keyPem).find((b) => /PRIVATE KEY$/.test(b.label));
  if (!keyBlock) throw new TlsError('key', 'Expected a PEM private key (PKCS#8, EC or RSA)');
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new TlsError('key', `The private key does not parse: ${(err as Error).message}`);
  }
  const blocks = pemBlocks(chainPem).filter((b) => b.label === 'CERTIFICATE');
  if (blocks.length === 0) throw new TlsError('cert', 'Expected one or more PEM certificates');
  const certs = blocks.map((b, i) => {
    try {
      return new X509Certificate(Buffer.from(b.der));
    } catch {
      throw new TlsError('cert', `Certificate ${i + 1} in the chain does not parse`);
    }
  });
  const leaf = certs[0]!;
  const fromKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const inLeaf = leaf.publicKey.export({ type: 'spki', format: 'der' });
  if (!bytesEqual(new Uint8Array(fromKey), new Uint8Array(inLeaf))) {
    throw new TlsError('key', 'The private key does not match the first (leaf) certificate');
  }
  for (let i = 0; i + 1 < certs.length; i++) {
    const child = certs[i]!;
    const parent = certs[i + 1]!;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw new TlsError(
        'cert',
        `Certificate ${i + 1} in the chain was not signed by certificate ${i + 2}`
      );
    }
  }
  return {
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    chainPem: certs.map((c) => c.toString()),
  };
}

export interface CertificateInfo {
  subjects: Subjects;
  notBefore: string;
  notAfter: string;
  /** SHA-256 of the leaf, `AB:CD:…`. */
  fingerprint: string;
  issuer: string;
  chainLength: number;
}

/** The subject addresses and names of a leaf certificate (its SANs). */
export function certificateSubjects(certPem: string): Subjects {
  const ext = new x509.X509Certificate(certPem).getExtension(x509.SubjectAlternativeNameExtension);
  const out: Subjects = { ips: [], dns: [] };
  for (const n of ext?.names.toJSON() ?? []) {
    if (n.type === 'dns') out.dns.push(n.value.toLowerCase());
    if (n.type === 'ip') out.ips.push(canonicalIp(n.value) ?? n.value);
  }
  return out;
}

/** Public facts about a stored certificate (nothing secret). */
export function certificateInfo(data: CertificateData): CertificateInfo {
  const leafPem = data.chainPem[0] ?? '';
  const leaf = new X509Certificate(leafPem);
  return {
    subjects: certificateSubjects(leafPem),
    notBefore: new Date(leaf.validFrom).toISOString(),
    notAfter: new Date(leaf.validTo).toISOString(),
    fingerprint: leaf.fingerprint256,
    issuer: leaf.issuer.replace(/\n/g, ', '),
    chainLength: data.chainPem.length,
  };
}

/** The self-signed root at the end of a chain, with its SHA-256 fingerprint; else null. */
export function chainRoot(
  chainPem: readonly string[]
): { pem: string; fingerprint: string } | null {
  const last = chainPem.at(-1);
  if (!last) return null;
  const cert = new X509Certificate(last);
  if (!cert.checkIssued(cert) || !cert.verify(cert.publicKey)) return null;
  return { pem: cert.toString(), fingerprint: cert.fingerprint256 };
}

/** SHA-256 fingerprint of a PEM certificate, `AB:CD:…`. */
export function fingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}
