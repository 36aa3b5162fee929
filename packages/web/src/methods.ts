// SPDX-License-Identifier: MIT
/**
 * The handlers of the `auth.*` and `web.*` methods (their schemas are `@start-tunnel/protocol`'s),
 * registered on the server's dispatcher beside the tunnel's, so the local API, the CLI with a signed key and
 * the panel all reach them the same way. `web.enable` checks in the original's order and answers
 * with the codes `web init` repairs: 41 no listen address, 49 no certificate, 34 no password.
 * No result carries a secret: not the TLS or root keys, not the password hash, not a session
 * token (the one new token travels only in `Set-Cookie`), not a private key.
 * @module
 */

import {
  ErrorCode,
  type GeneratedCertificateResult,
  type KeyInfo,
  parseListen,
  type RpcContext,
  type RpcDispatcher,
  RpcError,
  type WebStatus,
} from '@start-tunnel/protocol';
import type { WebCore } from './core.ts';
import { randomPassword } from './password.ts';
import { clearSessionCookie, sessionCookie } from './session.ts';
import { KeyFormatError, parsePublicKey } from './signature.ts';
import type { WebData } from './state.ts';
import {
  canonicalIp,
  certificateInfo,
  chainRoot,
  generateCertificate,
  importCertificate,
  TlsError,
} from './tls.ts';

function keyInfo(pem: string, data: { name: string; addedAt: string }): KeyInfo {
  const k = parsePublicKey(pem);
  return {
    name: data.name,
    key: k.pem,
    openssh: k.openssh,
    fingerprint: k.fingerprint,
    addedAt: data.addedAt,
  };
}

function urlOf(listen: string): string {
  return `https://${listen}`;
}

/**
 * A panel session must prove the password before a lasting change (a new password or signing
 * key, the panel turned off), so a borrowed browser cannot lock the owner out or keep access
 * after its session ends. Root on the server and signed keys are trusted, as in the original.
 */
async function requireCurrentPassword(
  core: WebCore,
  ctx: RpcContext,
  given: string | undefined
): Promise<void> {
  if (ctx.auth !== 'session') return;
  if (core.store.read().password === null) return;
  if (given === undefined) {
    throw new RpcError(
      ErrorCode.IncorrectPassword,
      'Give your current password to make this change from the panel',
      'currentPassword'
    );
  }
  const outcome = await core.checkPassword(given, ctx.principal ?? '');
  if (outcome.ok) return;
  if (outcome.reason === 'incorrect') {
    throw new RpcError(
      ErrorCode.IncorrectPassword,
      'Current password is incorrect',
      'currentPassword'
    );
  }
  if (ctx.response) ctx.response.retryAfter = outcome.retryAfterSeconds ?? 1;
  throw new RpcError(
    ErrorCode.RateLimited,
    `Too many password checks: retry in ${outcome.retryAfterSeconds ?? 1} s`
  );
}

function tlsError(err: unknown): never {
  if (err instanceof TlsError) throw new RpcError(ErrorCode.OpenSsl, err.message, err.field);
  throw err;
}

/** Registers `auth.*` and `web.*` on `dispatcher`. */
export function registerWebMethods(dispatcher: RpcDispatcher, core: WebCore): void {
  registerAuth(dispatcher, core);
  registerKeys(dispatcher, core);
  registerWeb(dispatcher, core);
}

function registerAuth(d: RpcDispatcher, core: WebCore): void {
  d.register('auth.login', async ({ password: given }, ctx) => {
    const web = ctx.response;
    if (!web) {
      throw new RpcError(
        ErrorCode.InvalidRequest,
        'No login is needed here: log in through the HTTPS panel'
      );
    }
    const address = ctx.remoteAddress ?? '';
    const outcome = await core.checkLogin(address, given, { trusted: ctx.auth === 'session' });
    if (!outcome.ok) {
      if (outcome.reason === 'no-password') {
        throw new RpcError(
          ErrorCode.Authorization,
          'No password is set: run web init on the server'
        );
      }
      if (outcome.reason === 'incorrect') {
        core.logRefusal(address, 'failed login');
        throw new RpcError(ErrorCode.IncorrectPassword, 'Incorrect password', 'password');
      }
      web.retryAfter = outcome.retryAfterSeconds ?? 1;
      throw new RpcError(
        ErrorCode.RateLimited,
        outcome.reason === 'busy'
          ? `The server is busy checking other logins: retry in ${web.retryAfter} s`
          : `Too many login attempts from your address: retry in ${web.retryAfter} s`
      );
    }
    const { token, id } = await core.sessions.create(ctx.userAgent ?? null, address || null);
    web.setCookie(sessionCookie(token));
    const info = core.sessions.list(id).find((s) => s.id === id);
    return { loggedIn: info?.loggedIn ?? null, expiresAt: info?.expiresAt ?? null };
  });

  d.register('auth.logout', async (_p, ctx) => {
    if (ctx.auth !== 'session' || !ctx.principal) {
      throw new RpcError(
        ErrorCode.InvalidRequest,
        'No session to log out: this request did not come with a session cookie'
      );
    }
    await core.sessions.kill([ctx.principal]);
    ctx.response?.setCookie(clearSessionCookie());
    return null;
  });

  d.register('auth.set-password', async (p, ctx) => {
    await requireCurrentPassword(core, ctx, p.currentPassword);
    const hash = await core.hashPassword(p.password);
    await core.store.update((data) => {
      data.password = hash;
    });
    const keep = ctx.auth === 'session' ? ctx.principal : undefined;
    return { sessionsEnded: await core.sessions.killAll(keep) };
  });

  d.register('auth.reset-password', async (_p, ctx) => {
    if (ctx.auth !== 'local') {
      throw new RpcError(
        ErrorCode.Authorization,
        'auth.reset-password is only for root on the server (start-tunnel auth reset-password)'
      );
    }
    const fresh = randomPassword();
    const hash = await core.hashPassword(fresh);
    await core.store.update((data) => {
      data.password = hash;
    });
    await core.sessions.killAll();
    return { password: fresh };
  });

  d.register('auth.session.list', (_p, ctx) =>
    core.sessions.list(ctx.auth === 'session' ? ctx.principal : undefined)
  );

  d.register('auth.session.kill', async ({ ids }, ctx) => {
    const killed = await core.sessions.kill(ids);
    if (ctx.auth === 'session' && ctx.principal && killed.includes(ctx.principal)) {
      ctx.response?.setCookie(clearSessionCookie());
    }
    return { killed };
  });
}

function registerKeys(d: RpcDispatcher, core: WebCore): void {
  d.register('auth.key.add', async ({ name, key, currentPassword }, ctx) => {
    await requireCurrentPassword(core, ctx, currentPassword);
    let parsed: ReturnType<typeof parsePublicKey>;
    try {
      parsed = parsePublicKey(key);
    } catch (err) {
      if (err instanceof KeyFormatError) {
        throw new RpcError(ErrorCode.InvalidParams, `Invalid key: ${err.message}`, 'key');
      }
      throw err;
    }
    const keys = core.store.read().keys;
    const clash = Object.entries(keys).find(([pem, k]) => k.name === name && pem !== parsed.pem);
    if (clash) {
      throw new RpcError(ErrorCode.InvalidParams, `A key named "${name}" already exists`, 'name');
    }
    const addedAt = keys[parsed.pem]?.addedAt ?? new Date(core.now()).toISOString();
    await core.store.update((data) => {
      data.keys[parsed.pem] = { name, addedAt };
    });
    return keyInfo(parsed.pem, { name, addedAt });
  });

  d.register('auth.key.list', () =>
    Object.entries(core.store.read().keys)
      .map(([pem, k]) => keyInfo(pem, k))
      .sort((a, b) => a.name.localeCompare(b.name))
  );

  d.register('auth.key.remove', async ({ key, currentPassword }, ctx) => {
    await requireCurrentPassword(core, ctx, currentPassword);
    const keys = core.store.read().keys;
    let pem: string | undefined;
    try {
      pem = parsePublicKey(key).pem;
    } catch {
      pem = Object.keys(keys).find((k) => keys[k]?.name === key.trim());
    }
    const entry = pem === undefined ? undefined : keys[pem];
    if (pem === undefined || entry === undefined) {
      throw new RpcError(ErrorCode.NotFound, `No key "${key.trim()}" is authorised`, 'key');
    }
    await core.store.update((data) => {
      delete data.keys[pem];
    });
    return keyInfo(pem, entry);
  });
}

/**
 * Brings the listener in line with a change; when the new address cannot be bound, undoes the
 * change with `revert`, restores the previous listener and answers error 41.
 */
async function applyOrRevert(
  core: WebCore,
  listen: string,
  revert: (data: WebData) => void
): Promise<void> {
  try {
    await core.apply();
  } catch (err) {
    await core.store.update(revert);
    await core.apply().catch(() => {});
    throw new RpcError(
      ErrorCode.ParseNetAddress,
      `${listen} is not available to bind to: ${(err as Error).message}`,
      'listen'
    );
  }
}

function registerWeb(d: RpcDispatcher, core: WebCore): void {
  const web = () => core.store.read().webserver;

  d.register('web.enable', async () => {
    const w = web();
    if (w.listen === null) {
      throw new RpcError(ErrorCode.ParseNetAddress, 'Listen address is not set: web set-listen');
    }
    if (w.certificate === null) {
      throw new RpcError(ErrorCode.OpenSsl, 'Certificate is not set: web generate-certificate');
    }
    if (core.store.read().password === null) {
      throw new RpcError(ErrorCode.Authorization, 'Password is not set: auth set-password');
    }
    const listen = w.listen;
    await core.store.update((data) => {
      data.webserver.enabled = true;
    });
    await applyOrRevert(core, listen, (data) => {
      data.webserver.enabled = w.enabled;
    });
    return { listen, url: urlOf(core.bound() ?? listen) };
  });

  d.register('web.disable', async ({ currentPassword }, ctx) => {
    await requireCurrentPassword(core, ctx, currentPassword);
    await core.store.update((data) => {
      data.webserver.enabled = false;
    });
    await core.apply();
    return null;
  });

  // `web reset` was renamed `web uninit` upstream (§2); both names work.
  const reset = async (
    { currentPassword }: { currentPassword?: string | undefined },
    ctx: RpcContext
  ) => {
    await requireCurrentPassword(core, ctx, currentPassword);
    await core.store.update((data) => {
      data.webserver.enabled = false;
      data.webserver.listen = null;
      data.webserver.certificate = null;
      data.password = null;
      // The root CA is kept so a later `web init` re-uses it: nobody must trust a new root.
    });
    await core.sessions.killAll();
    await core.apply();
    return null;
  };
  d.register('web.reset', reset);
  d.register('web.uninit', reset);

  d.register('web.set-listen', async ({ listen }) => {
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseListen(listen.trim()));
    } catch (err) {
      throw new RpcError(ErrorCode.ParseNetAddress, (err as Error).message, 'listen');
    }
    const ip = canonicalIp(host);
    if (ip === null) {
      throw new RpcError(
        ErrorCode.ParseNetAddress,
        `Invalid listen address "${listen}": the host must be an IP address`,
        'listen'
      );
    }
    const canonical = ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
    if (core.bound() !== canonical) {
      try {
        await core.testBind(ip, port);
      } catch (err) {
        throw new RpcError(
          ErrorCode.ParseNetAddress,
          `${canonical} is not available to bind to: ${(err as Error).message}`,
          'listen'
        );
      }
    }
    const previous = web();
    await core.store.update((data) => {
      data.webserver.listen = canonical;
    });
    if (previous.enabled) {
      await applyOrRevert(core, canonical, (data) => {
        data.webserver.listen = previous.listen;
      });
    }
    return null;
  });

  d.register('web.get-listen', () => web().listen);

  d.register('web.get-available-ips', () => core.availableIps());

  d.register(
    'web.generate-certificate',
    async ({ subject }): Promise<GeneratedCertificateResult> => {
      const w = web();
      const listenIp = w.listen ? canonicalIp(parseListen(w.listen).host) : null;
      const usable = listenIp !== null && listenIp !== '0.0.0.0' && listenIp !== '::';
      const subjects = usable ? [listenIp, ...subject] : subject;
      if (subjects.length === 0) {
        throw new RpcError(
          ErrorCode.OpenSsl,
          'No subject given and the listen address is not a specific IP: name the IPs or DNS names',
          'subject'
        );
      }
      const made = await generateCertificate(subjects, w.rootCa, core.now()).catch(tlsError);
      await core.store.update((data) => {
        data.webserver.certificate = made.certificate;
        data.webserver.rootCa = made.rootCa;
      });
      if (w.enabled) await core.apply();
      const root = chainRoot(made.certificate.chainPem);
      return {
        chain: made.certificate.chainPem.join(''),
        rootCa: made.rootCa.certPem,
        fingerprint: root?.fingerprint ?? null,
        rootRegenerated: made.rootRegenerated,
        rootReason: made.rootReason,
        certificate: certificateInfo(made.certificate),
      };
    }
  );

  d.register('web.import-certificate', async ({ key, cert }) => {
    let data: ReturnType<typeof importCertificate>;
    try {
      data = importCertificate(key, cert);
    } catch (err) {
      tlsError(err);
    }
    await core.store.update((d) => {
      d.webserver.certificate = data;
    });
    if (web().enabled) await core.apply();
    return certificateInfo(data);
  });

  d.register('web.get-certificate', () => {
    const c = web().certificate;
    return c === null ? null : { chain: c.chainPem.join(''), ...certificateInfo(c) };
  });

  d.register('web.get-root-ca', () => {
    const c = web().certificate;
    return c === null ? null : chainRoot(c.chainPem);
  });

  d.register('web.status', (): WebStatus => {
    const w = web();
    const bound = core.bound();
    const root = w.certificate ? chainRoot(w.certificate.chainPem) : null;
    return {
      enabled: w.enabled,
      listen: w.listen,
      running: bound !== null,
      url: bound ? urlOf(bound) : null,
      passwordSet: core.store.read().password !== null,
      certificate: w.certificate ? certificateInfo(w.certificate) : null,
      rootCa: root ? { fingerprint: root.fingerprint } : null,
    };
  });
}
