// SPDX-License-Identifier: MIT
/**
 * The request plumbing the RPC endpoint and the panel pages share: the Hono environment, where
 * the client's address comes from, how a session cookie becomes a session id, and how a request
 * becomes the `RpcContext` handlers see.
 * @module
 */

import type { IncomingMessage } from 'node:http';
import type { RpcContext, RpcDispatcher } from '@start-tunnel/protocol';
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import type { WebCore } from './core.ts';
import { clearSessionCookie, SESSION_COOKIE } from './session.ts';

/**
 * What the server hands each request: node's `IncomingMessage` (from @hono/node-server), or in
 * tests the addresses directly.
 */
export interface WebBindings {
  incoming?: IncomingMessage;
  remoteAddress?: string;
  localAddress?: string;
  /** True on the local Unix socket: the caller is root on this machine. */
  local?: boolean;
}

export type WebEnv = { Bindings: WebBindings };
export type WebContext = Context<WebEnv>;

export interface AppDeps {
  dispatcher: RpcDispatcher;
  core: WebCore;
}

export function remoteAddressOf(c: WebContext): string {
  return c.env?.remoteAddress ?? c.env?.incoming?.socket?.remoteAddress ?? '';
}

function localAddressOf(c: WebContext): string {
  return c.env?.localAddress ?? c.env?.incoming?.socket?.localAddress ?? '';
}

/** A JSON-RPC error envelope with an HTTP status. */
export function rpcFail(
  c: WebContext,
  status: 400 | 401 | 403 | 404 | 405 | 413 | 415 | 429,
  code: number,
  message: string
): Response {
  c.header('Cache-Control', 'no-store');
  return c.json({ jsonrpc: '2.0', id: null, error: { code, message } }, status);
}

/** The session id behind the request's cookie, or null (an invalid cookie is cleared). */
export async function sessionOf(c: WebContext, core: WebCore): Promise<string | null> {
  const token = getCookie(c, SESSION_COOKIE);
  if (!token) return null;
  const id = await core.sessions.authenticate(token);
  if (id === null) c.header('Set-Cookie', clearSessionCookie(), { append: true });
  return id;
}

/** Builds the context of a request once its auth is known. */
export function contextOf(
  c: WebContext,
  auth: RpcContext['auth'],
  principal: string | null,
  response: RpcContext['response']
): RpcContext {
  const ctx: RpcContext = {
    auth,
    remoteAddress: remoteAddressOf(c),
    localAddress: localAddressOf(c),
  };
  if (response) ctx.response = response;
  if (principal !== null) ctx.principal = principal;
  const ua = c.req.header('user-agent');
  if (ua !== undefined) ctx.userAgent = ua;
  return ctx;
}
