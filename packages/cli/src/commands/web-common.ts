// SPDX-License-Identifier: MIT
/**
 * What the `web` commands and `web init` share: listen addresses, certificate subjects, PEM.
 * @module
 */

import type { CertificateInfo, GeneratedCertificateResult } from '@start-tunnel/protocol';

/** `203.0.113.5, vpn.example.org` */
export function subjectsText(info: CertificateInfo): string {
  const all = [...info.subjects.ips, ...info.subjects.dns];
  return all.length ? all.join(', ') : '-';
}

/** What `generate-certificate` and `web init` say about a new certificate. */
export function describeGenerated(r: GeneratedCertificateResult): string {
  const root = r.rootRegenerated
    ? `a new root CA (${r.rootReason ?? 'no root before'}): trust it in browsers and --root-ca`
    : 'the same root CA as before (nothing to trust anew)';
  return (
    `Certificate for ${subjectsText(r.certificate)}, valid until ${r.certificate.notAfter}, ` +
    `signed by ${root}`
  );
}

/** The host of an `IP:PORT` / `[IPv6]:PORT`, without brackets. */
export function hostOf(listen: string): string {
  const m = /^\[(.*)\]:\d+$/.exec(listen) ?? /^(.*):\d+$/.exec(listen);
  return m?.[1] ?? listen;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** Splits PEM text into the private key and the certificates (in order). */
export function splitPem(text: string): { keys: string[]; certificates: string[] } {
  const keys: string[] = [];
  const certificates: string[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    if (m[1] === 'CERTIFICATE') certificates.push(`${m[0]}\n`);
    else if (m[1]?.endsWith('PRIVATE KEY')) keys.push(`${m[0]}\n`);
  }
  return { keys, certificates };
}
