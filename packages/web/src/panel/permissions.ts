// SPDX-License-Identifier: MIT
/**
 * What a server device may do on its own, the two switches of the original's Devices page
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel):
 * "DNS injection" (`device.set-dns-injection`: it may publish DNS records with RFC 2136 UPDATE
 * signed by TSIG, RFC 8945) and "Auto-publish" (`device.set-auto-port-forward`: it may open its
 * own forwards and pinholes with PCP, RFC 6887, or UPnP IGD; turning it off removes the ones
 * it opened, so that asks first, naming how many).
 *
 * The DNS key the device signs with is a secret (whoever holds it can publish any name), so it
 * is never in the page: the "DNS key" disclosure fetches it with `device.dns-key` when opened
 * and the client script empties it again on close. Fetched on demand rather than rendered
 * behind a confirmation, because a rendered key would sit in the HTML of every Devices page
 * load (view-source, saved pages, a screenshot of the list) whether or not anyone asked; an
 * RPC answer reaches only the script that asked, for the one device, once per opening.
 * @module
 */

import type { DeviceInfo } from '@start-tunnel/protocol';
import { type Html, html } from './html.ts';
import { hidden, rpcForm } from './layout.ts';

/** What the key disclosure shows, filled in from `device.dns-key`'s result. */
const KEY_TEMPLATE = 'nsupdate -y {algorithm}:{keyName}:{secret}\nserver {server}';

function switchForm(
  method: 'device.set-dns-injection' | 'device.set-auto-port-forward',
  d: DeviceInfo,
  on: boolean,
  name: string,
  confirm?: string
): Html {
  return rpcForm(
    method,
    html`${hidden({ subnet: d.subnet, ip: d.ip, enabled: !on })}<button type="submit" class="switch" role="switch" aria-checked="${on ? 'true' : 'false'}" aria-label="${name} for ${d.name}">${on ? 'On' : 'Off'}</button>`,
    { className: 'inline', ...(confirm ? { confirm } : {}) }
  );
}

function dnsKey(d: DeviceInfo): Html {
  return html`<details class="change" data-secret="device.dns-key" data-params="${JSON.stringify({ subnet: d.subnet, ip: d.ip })}" data-template="${KEY_TEMPLATE}">
<summary>DNS key<span class="visually-hidden"> of ${d.name}</span></summary>
<p class="hint">A secret: it publishes any name here. StartOS derives it from its WireGuard config; elsewhere, sign updates with it and send them to the gateway:</p>
<pre class="secret" data-slot aria-live="polite"></pre>
<p class="error" role="alert"></p>
</details>`;
}

/**
 * The two cells. A client shows a dash, unless a flag is on (set from the CLI), so it can be
 * turned off here. `automatic` counts what turning Auto-publish off removes, when known.
 */
export function permissionCells(
  d: DeviceInfo,
  automatic: { forwards: number; pinholes: number } | null
): Html {
  const server = d.kind === 'server';
  const dns =
    server || d.allowDnsInjection
      ? html`${switchForm('device.set-dns-injection', d, d.allowDnsInjection, 'DNS injection')}${
          d.allowDnsInjection ? dnsKey(d) : ''
        }`
      : '—';
  const what =
    automatic === null
      ? 'the forwards and pinholes it opened'
      : `its ${automatic.forwards} automatic forward(s) and ${automatic.pinholes} pinhole(s)`;
  const none = automatic !== null && automatic.forwards + automatic.pinholes === 0;
  const auto =
    server || d.allowAutoPortForward
      ? switchForm(
          'device.set-auto-port-forward',
          d,
          d.allowAutoPortForward,
          'Auto-publish',
          d.allowAutoPortForward && !none
            ? `Turn Auto-publish off for "${d.name}"? This removes ${what} (PCP, UPnP).`
            : undefined
        )
      : '—';
  return html`<td>${dns}</td><td>${auto}</td>`;
}
