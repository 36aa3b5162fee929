// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/server: the start-tunnel process — the one place where the packages are put
 * together (`daemon.ts`): the state store and controller of `@start-tunnel/tunnel`, WireGuard in
 * its own thread (`dataplane-linux.ts`), one dispatcher for the contract of
 * `@start-tunnel/protocol`, and one Hono app of `@start-tunnel/web` served on the local Unix
 * socket and on HTTPS. The public API.
 * @module
 */

export {
  checkServerOptions,
  type RunningServer,
  runServer,
  type ServerOptions,
  serverVersion,
  startServer,
} from './daemon.ts';
export {
  DEFAULT_RESTART_POLICY,
  LinuxDataplane,
  type LinuxDataplaneOptions,
  type RestartPolicy,
  type ThreadState,
} from './dataplane-linux.ts';
export { LocalSocket } from './local.ts';
export { HTTP_REDIRECT_PORT, HttpRedirect, type HttpRedirectOptions } from './redirect.ts';
export {
  forwardOnPort,
  PANEL_PORT_NAME,
  panelPort,
  reservedPorts,
  tunnelWebStore,
  webDataOf,
} from './web-state.ts';
