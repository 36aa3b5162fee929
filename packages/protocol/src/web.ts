// SPDX-License-Identifier: MIT
/**
 * The panel's and the remote API's methods: `auth.*` (password, sessions, signing keys) and
 * `web.*` (the HTTPS listener and its certificate), named as StartTunnel names them
 * (https://github.com/Start9Labs/start-os/tree/master/core/startos/src/tunnel). No result
 * carries a secret: not a TLS or root key, not the password hash, not a session token.
 * Methods that could hand a borrowed browser lasting control (a new signing key, a new
 * password, turning the panel off) take `currentPassword`, which a panel session must give.
 * @module
 */

import { z } from 'zod';
import { nameSchema } from './names.ts';
import { none } from './tunnel.ts';

/** Longest password accepted: bounds the work an unauthenticated login can ask for. */
export const MAX_PASSWORD_LENGTH = 1024;
/** Shortest password `auth.set-password` accepts. */
export const MIN_PASSWORD_LENGTH = 8;

export const passwordSchema = z
  .string({ error: (i) => (i.input === undefined ? 'is required' : 'must be a string') })
  .min(1, 'must not be empty')
  .max(MAX_PASSWORD_LENGTH, `must be at most ${MAX_PASSWORD_LENGTH} characters`);
const newPassword = passwordSchema.min(
  MIN_PASSWORD_LENGTH,
  `must be at least ${MIN_PASSWORD_LENGTH} characters`
);
/** Proof of the password, required from panel sessions for lasting changes. */
const reauth = z.strictObject({ currentPassword: passwordSchema.optional() });

const isoTime = z.iso.datetime();

export const certificateInfo = z.strictObject({
  subjects: z.strictObject({ ips: z.array(z.string()), dns: z.array(z.string()) }),
  notBefore: isoTime,
  notAfter: isoTime,
  /** SHA-256 of the leaf, `AB:CD:…`. */
  fingerprint: z.string(),
  issuer: z.string(),
  chainLength: z.number().int().positive(),
});
export type CertificateInfo = z.infer<typeof certificateInfo>;

export const keyInfo = z.strictObject({
  name: z.string(),
  /** PEM SPKI (the canonical form). */
  key: z.string(),
  openssh: z.string(),
  fingerprint: z.string(),
  addedAt: isoTime,
});
export type KeyInfo = z.infer<typeof keyInfo>;

export const sessionInfo = z.strictObject({
  id: z.string(),
  loggedIn: isoTime,
  lastActive: isoTime,
  /** When the session ends if it stays idle (the earlier of the idle and absolute limits). */
  expiresAt: isoTime,
  userAgent: z.string().nullable(),
  remoteAddress: z.string().nullable(),
  /** True for the session that made the request. */
  current: z.boolean(),
});
export type SessionInfo = z.infer<typeof sessionInfo>;

export const webStatus = z.strictObject({
  enabled: z.boolean(),
  listen: z.string().nullable(),
  /** True while the HTTPS listener is up. */
  running: z.boolean(),
  url: z.string().nullable(),
  passwordSet: z.boolean(),
  certificate: certificateInfo.nullable(),
  rootCa: z.strictObject({ fingerprint: z.string() }).nullable(),
});
export type WebStatus = z.infer<typeof webStatus>;

export const generatedCertificate = z.strictObject({
  /** The chain served, leaf first, PEM. */
  chain: z.string(),
  /** The root CA certificate, PEM. */
  rootCa: z.string(),
  /** SHA-256 of the chain's root, `AB:CD:…`. */
  fingerprint: z.string().nullable(),
  /** True when a new root was made (also the first time): clients must trust it anew. */
  rootRegenerated: z.boolean(),
  rootReason: z.string().nullable(),
  certificate: certificateInfo,
});
export type GeneratedCertificateResult = z.infer<typeof generatedCertificate>;

const sessionId = z.string().regex(/^[a-z2-7]{52}$/, 'must be a session id');

/** `auth.*` and `web.*`. */
export const webMethods = {
  /** The only method callable without authentication, and only through the panel. */
  'auth.login': {
    params: z.strictObject({ password: passwordSchema }),
    result: z.strictObject({ loggedIn: isoTime.nullable(), expiresAt: isoTime.nullable() }),
    public: true,
  },
  'auth.logout': { params: none, result: z.null() },
  'auth.set-password': {
    params: z.strictObject({ password: newPassword, currentPassword: passwordSchema.optional() }),
    result: z.strictObject({ sessionsEnded: z.number().int().nonnegative() }),
  },
  'auth.reset-password': { params: none, result: z.strictObject({ password: z.string() }) },
  'auth.session.list': { params: none, result: z.array(sessionInfo) },
  'auth.session.kill': {
    params: z.strictObject({
      ids: z
        .array(sessionId, { error: 'must be an array of session ids' })
        .min(1, 'must name at least one session')
        .max(64, 'must name at most 64 sessions'),
    }),
    result: z.strictObject({ killed: z.array(z.string()) }),
  },
  'auth.key.add': {
    params: z.strictObject({
      name: nameSchema,
      key: z.string({ error: 'must be a string' }).max(8192, 'must be at most 8192 characters'),
      currentPassword: passwordSchema.optional(),
    }),
    result: keyInfo,
  },
  'auth.key.list': { params: none, result: z.array(keyInfo) },
  'auth.key.remove': {
    params: z.strictObject({
      key: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(8192),
      currentPassword: passwordSchema.optional(),
    }),
    result: keyInfo,
  },
  'web.enable': {
    params: none,
    result: z.strictObject({ listen: z.string(), url: z.string() }),
  },
  'web.disable': { params: reauth, result: z.null() },
  /** `web reset` was renamed `web uninit` upstream; both names work. */
  'web.reset': { params: reauth, result: z.null() },
  'web.uninit': { params: reauth, result: z.null() },
  'web.set-listen': {
    params: z.strictObject({ listen: z.string({ error: 'must be a string' }).max(64) }),
    result: z.null(),
  },
  'web.get-listen': { params: none, result: z.string().nullable() },
  'web.get-available-ips': { params: none, result: z.array(z.string()) },
  'web.generate-certificate': {
    params: z.strictObject({
      subject: z
        .array(z.string().max(253), { error: 'must be an array of IPs and DNS names' })
        .max(64, 'must name at most 64 subjects')
        .default([]),
    }),
    result: generatedCertificate,
  },
  'web.import-certificate': {
    params: z.strictObject({
      key: z.string({ error: 'must be a PEM private key' }).max(65536),
      cert: z.string({ error: 'must be a PEM certificate chain' }).max(262144),
    }),
    result: certificateInfo,
  },
  'web.get-certificate': {
    params: none,
    result: certificateInfo.extend({ chain: z.string() }).nullable(),
  },
  'web.get-root-ca': {
    params: none,
    result: z.strictObject({ pem: z.string(), fingerprint: z.string() }).nullable(),
  },
  'web.status': { params: none, result: webStatus },
} as const;
