// SPDX-License-Identifier: MIT
/**
 * The HTTP application behind the HTTPS listener (Hono): `POST /rpc/v0` (any `/rpc/…` path, as
 * the original, `starttunnel.md` §1) with the daemon's dispatcher, and the panel pages. Fixes the
 * original's faults listed in §8: bodies must be JSON (415 otherwise), a browser `Origin` must be
 * this server's (403 otherwise) and nothing answers CORS, so another site can neither read
 * responses nor drive the API with the user's cookie. A request is authenticated by a
 * `X-StartOS-Auth-Sig` signature (`key`) or the session cookie (`session`); without either, only
 * methods registered `authenticated: false` run, and anything else is HTTP 401 with code 34.
 * Every response carries a strict Content-Security-Policy: the panel loads nothing from
 * anywhere but this server.
 * @module
 */

import { ErrorCode, type RpcContext, type RpcResponse } from '@start-tunnel/tunnel';
import { Hono } from 'hono';
import type { WebRequestExtra } from './core.ts';
import {
  type AppDeps,
  contextOf,
  remoteAddressOf,
  rpcFail,
  sessionOf,
  type WebContext,
  type WebEnv,
} from './http.ts';
import { registerPanel } from './panel/routes.ts';
import { SIGNATURE_HEADER, SignatureError } from './signature.ts';

/** Largest request body accepted. */
export const MAX_BODY_BYTES = 1 << 20;

/** The policy every response carries: same-origin everything, no framing, no plugins. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Whether a state-changing request comes from this origin. Browsers send `Origin` (and
 * `Sec-Fetch-Site`) on every POST; a mismatch means another site's page made it. Requests
 * without them come from non-browser clients, which carry no ambient cookie to abuse.
 */
function sameOrigin(c: WebContext): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = c.req.header('origin');
  return origin === undefined || origin === new URL(c.req.url).origin;
}

/** Reads the body up to `MAX_BODY_BYTES`; null when larger. */
async function readBody(req: Request): Promise<Uint8Array | null> {
  if (Number(req.headers.get('content-length') ?? 0) > MAX_BODY_BYTES) return null;
  if (!req.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    size += r.value.length;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      return null;
    }
    chunks.push(r.value);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function methodsOf(body: unknown): string[] {
  const items = Array.isArray(body) ? body : [body];
  return items.flatMap((i) =>
    typeof i === 'object' && i !== null && typeof (i as { method?: unknown }).method === 'string'
      ? [(i as { method: string }).method]
      : []
  );
}

function hasCode(out: RpcResponse | RpcResponse[], code: number): boolean {
  return (Array.isArray(out) ? out : [out]).some((r) => 'error' in r && r.error.code === code);
}

async function handleRpc(c: WebContext, deps: AppDeps): Promise<Response> {
  const { core, dispatcher } = deps;
  const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    return rpcFail(c, 415, ErrorCode.InvalidEnvelope, 'Content-Type must be application/json');
  }
  const bytes = await readBody(c.req.raw);
  if (bytes === null) return rpcFail(c, 413, ErrorCode.InvalidEnvelope, 'Request body too large');
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return rpcFail(c, 400, ErrorCode.ParseError, 'Request body is not valid JSON');
  }

  let auth: RpcContext['auth'] = 'none';
  let principal: string | null = null;
  const signature = c.req.header(SIGNATURE_HEADER);
  if (signature !== undefined) {
    // A signed request stands or falls by its signature: no fallback to a cookie.
    try {
      const keyName = (pem: string) => core.keyName(pem);
      const signer = core.verifier.verify(signature, bytes, {
        contexts: core.signatureContexts(),
        keyName,
      });
      auth = 'key';
      principal = signer.name;
    } catch (err) {
      if (!(err instanceof SignatureError)) throw err;
      core.log(`web: refused signed request from ${remoteAddressOf(c)}: ${err.message}`);
      return rpcFail(c, err.code === ErrorCode.RateLimited ? 429 : 401, err.code, err.message);
    }
  } else {
    principal = await sessionOf(c, core);
    if (principal !== null) auth = 'session';
  }
  if (auth === 'none' && methodsOf(body).some((m) => dispatcher.requiresAuth(m))) {
    return rpcFail(
      c,
      401,
      ErrorCode.Authorization,
      'Unauthorized: log in, or sign the request with an authorised key'
    );
  }

  const cookies: string[] = [];
  const web: WebRequestExtra = { setCookie: (v) => void cookies.push(v) };
  const out = await dispatcher.handle(body, contextOf(c, auth, principal, web));
  for (const v of cookies) c.header('Set-Cookie', v, { append: true });
  c.header('Cache-Control', 'no-store');
  if (hasCode(out, ErrorCode.RateLimited)) {
    if (web.retryAfter !== undefined) c.header('Retry-After', String(web.retryAfter));
    return c.json(out, 429);
  }
  return c.json(out, 200);
}

/** The Hono app serving the RPC endpoint and the panel. */
export function createApp(deps: AppDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();

  app.use('*', async (c, next) => {
    await next();
    const h = c.res.headers;
    h.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    h.set('X-Content-Type-Options', 'nosniff');
    h.set('X-Frame-Options', 'DENY');
    h.set('Referrer-Policy', 'no-referrer');
    h.set('Cross-Origin-Opener-Policy', 'same-origin');
    h.set('Cross-Origin-Resource-Policy', 'same-origin');
    h.set('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), interest-cohort=()');
  });

  app.use('*', async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD' || sameOrigin(c)) return next();
    return rpcFail(
      c,
      403,
      ErrorCode.Authorization,
      `Cross-origin request refused: Origin "${c.req.header('origin') ?? ''}" is not this server`
    );
  });

  app.post('/rpc/*', (c) => handleRpc(c, deps));
  app.all('/rpc/*', (c) => {
    c.header('Allow', 'POST');
    return rpcFail(c, 405, ErrorCode.InvalidEnvelope, 'Use POST with a JSON-RPC body');
  });

  registerPanel(app, deps);

  app.onError((err, c) => {
    deps.core.log(`web: ${c.req.method} ${c.req.path} failed: ${err.message}`);
    return c.text('Internal error', 500);
  });
  return app;
}
