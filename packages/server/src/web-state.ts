// SPDX-License-Identifier: MIT
/**
 * The panel's settings inside the server's state: the `web` section of the tunnel's state file,
 * checked against `webDataSchema` when it is read (a damaged section stops the server at start
 * with a clear message instead of being half-used), updated durably through the tunnel's
 * change queue. The panel's TCP port is a pure function of the section (`panelPort`), which the
 * tunnel takes as a reserved port: a forward on it is refused by the firewall checks, and moving
 * the panel onto a port a forward holds is refused here, naming the forward.
 * @module
 */

import { ErrorCode, parseListen, RpcError } from '@start-tunnel/protocol';
import { parseSource, type ReservedPort, type State, type Tunnel } from '@start-tunnel/tunnel';
import { emptyWebData, type WebData, type WebStore, webDataSchema } from '@start-tunnel/web';

export const PANEL_PORT_NAME = 'HTTPS panel';

/** Reads a stored section; throws a message naming the field when it is malformed. */
export function webDataOf(section: unknown): WebData {
  if (section === null || section === undefined) return emptyWebData();
  const parsed = webDataSchema.safeParse(section);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue ? issue.path.map(String).join('.') : '';
    throw new Error(`The state's web section is malformed at web.${at}: ${issue?.message}`);
  }
  return parsed.data;
}

/** Sections already checked, by identity: the state is never mutated, only replaced. */
const checked = new WeakMap<object, WebData>();

/** `webDataOf`, checked once per stored section object. */
function webDataOfState(state: State): WebData {
  const section = state.web;
  if (section === null || section === undefined) return webDataOf(section);
  let data = checked.get(section);
  if (data === undefined) {
    data = webDataOf(section);
    checked.set(section, data);
  }
  return data;
}

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

/** The reserved ports of a state: the panel's, while it is enabled. */
export function reservedPorts(state: State): ReservedPort[] {
  let port: number | null = null;
  try {
    port = panelPort(webDataOfState(state));
  } catch {
    port = null;
  }
  return port === null ? [] : [{ protocol: 'tcp', port, name: PANEL_PORT_NAME }];
}

/** The forward (by source) whose TCP ports on the WAN address include `port`, if any. */
export function forwardOnPort(state: State, port: number): string | null {
  for (const [source, f] of Object.entries(state.forwards)) {
    if (!f.enabled || f.protocol === 'udp') continue;
    try {
      const s = parseSource(source);
      if (port >= s.first && port <= s.last) return source;
    } catch {
      // a stored source that no longer parses cannot take a port
    }
  }
  return null;
}

/** A `WebStore` over the tunnel's state. */
export function tunnelWebStore(tunnel: Tunnel): WebStore {
  const read = (): WebData => webDataOfState(tunnel.state);
  return {
    read,
    async update(fn) {
      await tunnel.change((state) => {
        const draft = structuredClone(webDataOfState(state));
        const next = fn(draft) ?? draft;
        const port = panelPort(next);
        if (port !== null && port !== panelPort(webDataOfState(state))) {
          const taken = forwardOnPort(state, port);
          if (taken !== null) {
            throw new RpcError(
              ErrorCode.ParseNetAddress,
              `Port ${port}/tcp is taken by the port forward "${taken}": choose another port ` +
                'for the panel, or remove or disable that forward',
              'listen'
            );
          }
        }
        return {
          state: { ...state, web: next as unknown as Record<string, unknown> },
          result: null,
        };
      });
    },
  };
}
