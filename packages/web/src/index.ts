// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/web: the HTTPS panel and remote JSON-RPC endpoint. Public API.
 *
 * The daemon builds one `WebServer` with `createWebServer({ dispatcher, store, log })` (which
 * registers `auth.*` and `web.*` on its dispatcher), calls `reload()` once at start, and
 * `close()` at shutdown. The CLI signs remote requests with `parseSigningKey` + `signRequest`.
 * @module
 */

export { CONTENT_SECURITY_POLICY, createApp, MAX_BODY_BYTES } from './app.ts';
export { Argon2BusyError, type Argon2Runner, sharedArgon2Runner } from './argon2-worker.ts';
export { logSafe, REFUSAL_LOG, WebCore, type WebCoreOptions } from './core.ts';
export type { AppDeps, WebBindings, WebEnv } from './http.ts';
export { registerWebMethods } from './methods.ts';
export {
  type Argon2Params,
  hashPassword,
  RFC9106_LOW_MEMORY,
  randomPassword,
  verifyPassword,
} from './password.ts';
export { createWebServer, WebServer, type WebServerOptions } from './server.ts';
export {
  SESSION_ABSOLUTE_MS,
  SESSION_COOKIE,
  SESSION_IDLE_MS,
  type SessionInfo,
  sessionId,
} from './session.ts';
export {
  type Ed25519PublicKey,
  generateSigningKey,
  KeyFormatError,
  MAX_CONTEXT_BYTES,
  parsePublicKey,
  parseSigningKey,
  SIGNATURE_HEADER,
  SIGNATURE_WINDOW_SECONDS,
  SignatureError,
  type SigningKey,
  signatureContext,
  signRequest,
} from './signature.ts';
export {
  type CertificateData,
  emptyWebData,
  type KeyData,
  MemoryWebStore,
  type RootCaData,
  type SessionData,
  type WebData,
  type WebStore,
  type WebserverData,
  webDataSchema,
} from './state.ts';
export {
  addressCaller,
  aggregateKey,
  GATE_LIMITS,
  type GateLimits,
  LoginGate,
  type LoginOutcome,
} from './throttle.ts';
export {
  type CertificateInfo,
  certificateInfo,
  chainRoot,
  generateCertificate,
  importCertificate,
  LEAF_VALIDITY_DAYS,
  TlsError,
} from './tls.ts';
