// SPDX-License-Identifier: MIT
/**
 * The HTTP application (Hono) behind both listeners: the local Unix socket, where every caller
 * is root (`auth: local`), and the HTTPS panel. `POST /rpc/v0` (any `/rpc/…` path, as the
 * original) runs the server's dispatcher; the panel pages are beside it. Nothing answers CORS,
 * so another site can neither read responses nor drive the API with the user's cookie: on the
 * network listener Hono's `csrf` refuses a form or text POST from another origin (403), the RPC
 * endpoint takes JSON bodies only (415 otherwise), which no other site's page can send without
 * a CORS preflight, and a JSON POST a browser marks as cross-site is refused as well (403).
 * On the panel a request is authenticated by a `X-StartOS-Auth-Sig` signature (`key`) or the
 * session cookie (`session`).
 *
 * Whatever reaches the panel from the internet is cheap to refuse: without authentication the
 * body may be at most 4 KiB and must be one `auth.login` object (no batch, nothing else), and
 * anything else is a small 401; batches are capped for everyone (400 past `MAX_BATCH`). The
 * security headers come from Hono's `secure-headers` (with HSTS and a strict
 * Content-Security-Policy: the panel loads nothing from anywhere but this server).
 * @module
 */

import type { TLSSocket } from 'node:tls';
import {
  ErrorCode,
  MAX_BATCH,
  MAX_BODY_BYTES,
  MAX_UNAUTHENTICATED_BODY_BYTES,
  type RpcContext,
  type RpcResponse,
} from '@start-tunnel/protocol';
import { Hono, type MiddlewareHandler } from 'hono';
import { csrf } from 'hono/csrf';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
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

export { MAX_BODY_BYTES };

/** The policy every response carries: same-origin everything, no framing, no plugins. */
export const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

const FORM_REFUSED = "Cross-site request refused: a form or text POST needs this server's Origin";

/**
 * Hono's `csrf` (https://hono.dev/docs/middleware/builtin/csrf) on the network listener. It
 * looks at the bodies another site's page can send without a CORS preflight: form-urlencoded,
 * multipart and text/plain, the CORS-safelisted `Content-Type` values
 * (https://fetch.spec.whatwg.org/#cors-safelisted-request-header), text/ping (`<a ping>`) and
 * no `Content-Type` at all. Such a POST passes only with `Sec-Fetch-Site: same-origin` or this
 * server's `Origin`. Hono throws its refusal as a bare "Forbidden"; here it becomes a small
 * JSON-RPC error that names the reason. The Unix socket is left out: no web page can reach it,
 * and the RPC endpoint takes JSON only anyway.
 */
function formsFromThisOrigin(): MiddlewareHandler<WebEnv> {
  const check = csrf();
  return async (c, next) => {
    if (c.env?.local !== true) {
      try {
        await check(c, async () => {});
      } catch (err) {
        if (!(err instanceof HTTPException && err.status === 403)) throw err;
        return rpcFail(c, 403, ErrorCode.Authorization, FORM_REFUSED);
      }
    }
    return next();
  };
}

/**
 * Whether a browser marks this JSON POST as made by another site's page. Hono's `csrf` skips
 * JSON: it relies on the CORS preflight such a request needs, which this server never answers.
 * This check keeps the refusal should a browser ever send one without a preflight: defence in
 * depth with the standard `Origin` header and Fetch Metadata, as the OWASP CSRF cheat sheet
 * suggests
 * (https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html).
 * Browsers send `Origin` on every POST (`null` under `no-referrer`,
 * https://fetch.spec.whatwg.org/#origin-header) and `Sec-Fetch-Site` where supported
 * (https://w3c.github.io/webappsec-fetch-metadata/). The CLI sends neither, and it has no
 * cookie for another site to ride on.
 */
function markedCrossSite(c: WebContext): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = c.req.header('origin');
  return origin !== undefined && origin !== new URL(c.req.url).origin;
}

/** Reads the body up to `limit` bytes; null when larger. */
async function readBody(req: Request, limit: number): Promise<Uint8Array | null> {
  if (Number(req.headers.get('content-length') ?? 0) > limit) return null;
  if (!req.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    size += r.value.length;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(r.value);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function parseJson(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) };
  } catch {
    return { ok: false };
  }
}

/** DER of the certificate this TLS connection presented, if it is one. */
function presentedCertificate(c: WebContext): Uint8Array | undefined {
  const socket = c.env?.incoming?.socket as TLSSocket | undefined;
  const cert = typeof socket?.getCertificate === 'function' ? socket.getCertificate() : null;
  const raw = cert && 'raw' in cert ? (cert.raw as Buffer | undefined) : undefined;
  return raw ? new Uint8Array(raw) : undefined;
}

/** The only thing a stranger may send: one `auth.login` request object. */
function isLoginRequest(body: unknown): boolean {
  return (
    typeof body === 'object' &&
    body !== null &&
    !Array.isArray(body) &&
    (body as { method?: unknown }).method === 'auth.login'
  );
}

function hasCode(out: RpcResponse | RpcResponse[], code: number): boolean {
  return (Array.isArray(out) ? out : [out]).some((r) => 'error' in r && r.error.code === code);
}

const UNAUTHORIZED = 'Unauthorized: log in, or sign the request with an authorised key';

async function handleRpc(c: WebContext, deps: AppDeps): Promise<Response> {
  const { core, dispatcher } = deps;
  // JSON only: application/json is not CORS-safelisted, so another site's page cannot send it
  // without a preflight (https://fetch.spec.whatwg.org/#cors-safelisted-request-header)
  const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    return rpcFail(c, 415, ErrorCode.InvalidEnvelope, 'Content-Type must be application/json');
  }
  if (markedCrossSite(c)) {
    return rpcFail(
      c,
      403,
      ErrorCode.Authorization,
      'Cross-origin request refused: the Origin is not this server'
    );
  }

  let auth: RpcContext['auth'] = 'none';
  let principal: string | null = null;
  const signature = c.req.header(SIGNATURE_HEADER);
  if (c.env?.local === true) {
    auth = 'local';
  } else if (signature === undefined) {
    principal = await sessionOf(c, core);
    if (principal !== null) auth = 'session';
  }
  const limit =
    auth === 'none' && signature === undefined ? MAX_UNAUTHENTICATED_BODY_BYTES : MAX_BODY_BYTES;
  const bytes = await readBody(c.req.raw, limit);
  if (bytes === null) {
    return auth === 'none' && signature === undefined
      ? rpcFail(c, 401, ErrorCode.Authorization, UNAUTHORIZED)
      : rpcFail(c, 413, ErrorCode.InvalidEnvelope, 'Request body too large');
  }

  if (auth === 'none' && signature !== undefined) {
    // A signed request stands or falls by its signature: no fallback to a cookie.
    try {
      const signer = core.verifySigned(signature, bytes, presentedCertificate(c));
      auth = 'key';
      principal = signer.name;
    } catch (err) {
      if (!(err instanceof SignatureError)) throw err;
      core.logRefusal(remoteAddressOf(c), err.message);
      return rpcFail(c, err.code === ErrorCode.RateLimited ? 429 : 401, err.code, err.message);
    }
  }

  const parsed = parseJson(bytes);
  if (!parsed.ok) {
    return auth === 'none'
      ? rpcFail(c, 401, ErrorCode.Authorization, UNAUTHORIZED)
      : rpcFail(c, 400, ErrorCode.ParseError, 'Request body is not valid JSON');
  }
  const body = parsed.value;
  if (auth === 'none' && !isLoginRequest(body)) {
    return rpcFail(c, 401, ErrorCode.Authorization, UNAUTHORIZED);
  }
  if (Array.isArray(body) && body.length > MAX_BATCH) {
    return rpcFail(
      c,
      400,
      ErrorCode.InvalidEnvelope,
      `Batch too large: at most ${MAX_BATCH} requests`
    );
  }

  const cookies: string[] = [];
  const response: NonNullable<RpcContext['response']> = {
    setCookie: (v) => void cookies.push(v),
  };
  const ctx = contextOf(c, auth, principal, c.env?.local === true ? undefined : response);
  const out = await dispatcher.handle(body, ctx);
  for (const v of cookies) c.header('Set-Cookie', v, { append: true });
  c.header('Cache-Control', 'no-store');
  if (hasCode(out, ErrorCode.RateLimited)) {
    if (response.retryAfter !== undefined) c.header('Retry-After', String(response.retryAfter));
    return c.json(out, 429);
  }
  return c.json(out, 200);
}

/** The Hono app serving the RPC endpoint and the panel. */
export function createApp(deps: AppDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();

  app.use(
    '*',
    secureHeaders({
      contentSecurityPolicy: CONTENT_SECURITY_POLICY,
      // two years, as the HSTS preload list asks (https://hstspreload.org/)
      strictTransportSecurity: 'max-age=63072000',
      xFrameOptions: 'DENY',
      referrerPolicy: 'no-referrer',
      crossOriginOpenerPolicy: 'same-origin',
      crossOriginResourcePolicy: 'same-origin',
      permissionsPolicy: { camera: [], microphone: [], geolocation: [] },
    })
  );

  // every path: a form route added to the panel later is covered too
  app.use('*', formsFromThisOrigin());

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
