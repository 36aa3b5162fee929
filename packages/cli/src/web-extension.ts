// SPDX-License-Identifier: MIT
/**
 * The HTTPS panel inside the daemon: a `DaemonExtension` (`packages/tunnel/src/daemon.ts`) that
 * builds the web server of `@start-tunnel/web` on the daemon's dispatcher (which adds `auth.*`
 * and `web.*` to the local API too), keeps its settings in the daemon's state (`web-store.ts`),
 * starts the listener as stored (`reload()`), and stops it with the daemon.
 *
 * The panel's TCP port is reserved in the tunnel, so no port forward can shadow it (a DNAT rule
 * on the WAN address would take the panel's traffic before it reaches the listener). The port is
 * reserved while the panel is enabled with a listen address, and the reservation moves inside
 * the very change that moves the panel (the store's `beforeCommit`), so the tunnel checks the
 * forwards against the new port before committing: a clash refuses `web set-listen` or
 * `web enable` with error 41 naming the forward, and a forward on the panel's port is refused.
 * @module
 */

import {
  type DaemonContext,
  type DaemonExtension,
  ErrorCode,
  parseListen,
  RpcError,
} from '@start-tunnel/tunnel';
import {
  createWebServer,
  type WebCoreOptions,
  type WebData,
  type WebStore,
} from '@start-tunnel/web';
import { webSectionStore } from './web-store.ts';

/** The name the reserved port carries in the tunnel's clash messages. */
export const PANEL_PORT_NAME = 'HTTPS panel';

/** Test seams; production uses the web package's defaults (RFC 9106 Argon2id, the clock …). */
export type WebExtensionOptions = Pick<
  WebCoreOptions,
  'argon2' | 'now' | 'interfaces' | 'throttle'
>;

/** The TCP port the panel takes: its listen port while it is enabled, else none. */
export function panelPort(data: WebData): number | null {
  const w = data.webserver;
  if (!w.enabled || w.listen === null) return null;
  try {
    return parseListen(w.listen).port || null;
  } catch {
    return null;
  }
}

/** The panel's store: the daemon's `web` section, with the port reservation kept in step. */
export function panelStore(ctx: DaemonContext): WebStore {
  const reserve = (port: number | null) =>
    ctx.tunnel.setReserved(port === null ? [] : [{ protocol: 'tcp', port, name: PANEL_PORT_NAME }]);
  const inner = webSectionStore(ctx.webSection, {
    beforeCommit: (next) => reserve(panelPort(next)),
  });
  reserve(panelPort(inner.read()));
  return {
    read: () => inner.read(),
    async update(fn) {
      let asked: number | null = null;
      try {
        await inner.update((data) => {
          const out = fn(data) ?? data;
          asked = panelPort(out);
          return out;
        });
      } catch (err) {
        // nothing was committed: the reservation goes back to the stored settings
        const stored = panelPort(inner.read());
        reserve(stored);
        if (
          asked !== null &&
          asked !== stored &&
          err instanceof RpcError &&
          err.code === ErrorCode.InvalidRequest &&
          err.message.includes(PANEL_PORT_NAME)
        ) {
          throw new RpcError(
            ErrorCode.ParseNetAddress,
            `Port ${asked}/tcp is taken by a port forward (${err.message}): choose another ` +
              'port for the panel, or remove or disable that forward',
            'listen'
          );
        }
        throw err;
      }
    },
  };
}

/** The daemon extension that runs the HTTPS panel. */
export function webExtension(options: WebExtensionOptions = {}): DaemonExtension {
  return async (ctx) => {
    const store = panelStore(ctx);
    // A state written before the port was reserved could hold a forward on it; then every
    // later change would be refused. Check once (a no-op change) and free the port if so.
    try {
      await ctx.tunnel.change((s) => ({ state: { ...s }, result: undefined }));
    } catch (err) {
      const message = (err as Error).message;
      if (message.includes(PANEL_PORT_NAME)) {
        ctx.tunnel.setReserved([]);
        ctx.log(
          `web: the panel's port is taken by a port forward, so it is not protected: ${message}; ` +
            'move the panel (start-tunnel web set-listen) or the forward'
        );
      } else {
        ctx.log(`web: the stored state does not pass its checks: ${message}`);
      }
    }
    const server = createWebServer({
      ...options,
      dispatcher: ctx.dispatcher,
      store,
      log: ctx.log,
      tunnelInterface: ctx.tunnel.opts.interface,
    });
    try {
      await server.reload();
    } catch (err) {
      // The daemon runs on without the panel (its address may be gone after a reboot); the
      // next `web set-listen` or `web enable` tries again.
      const listen = store.read().webserver.listen ?? '?';
      ctx.log(`web: the HTTPS panel cannot listen on ${listen}: ${(err as Error).message}`);
    }
    return { close: () => server.close() };
  };
}
