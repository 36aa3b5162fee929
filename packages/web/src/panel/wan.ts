// SPDX-License-Identifier: MIT
/**
 * Choosing the public IPv4 a subnet or a device leaves by and is reached on (`subnet.set-wan`,
 * `device.set-wan`): StartTunnel 1.5's several public IPs
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel). The
 * address is typed, with the server's public IPv4s offered in a datalist (choose one, or type
 * another: an address the provider NATs at its edge, one not configured yet), and a second form
 * goes back to the inherited address. Where nothing is set the cell says what is inherited.
 * @module
 */

import { isPublicIPv4, type RedirectInfo, type WanInfo } from '@start-tunnel/protocol';
import { type Html, html } from './html.ts';
import { disclosure, hidden, type Loaded, rpcForm } from './layout.ts';

const LIST_ID = 'wan-choices';

/**
 * The public IPv4s to offer, once each: those the tunnel sees (`http-redirect.list` has one
 * entry per public IPv4 of the host) first, then those of the panel's interfaces
 * (`web.get-available-ips`, every address, so filtered here).
 */
export function wanChoices(
  redirects: Loaded<RedirectInfo[]>,
  available: Loaded<string[]>
): string[] {
  const out: string[] = [];
  const add = (ip: string) => {
    if (isPublicIPv4(ip) && !out.includes(ip)) out.push(ip);
  };
  if (redirects.ok) for (const r of redirects.value) add(r.ip);
  if (available.ok) for (const ip of available.value) add(ip);
  return out;
}

/** The datalist the WAN inputs of a page share. */
export function wanDatalist(choices: readonly string[]): Html {
  return html`<datalist id="${LIST_ID}">${choices.map((ip) => html`<option value="${ip}">`)}</datalist>`;
}

/** The server's default WAN address, as the Overview shows it. */
export function defaultWan(wan: Loaded<WanInfo>): string {
  return wan.ok ? (wan.value.address ?? 'not detected') : 'unknown';
}

/**
 * The forms behind "Change" in a WAN cell: set an address (`current` prefilled), and, when one
 * is set, go back to `inherit` (null).
 */
export function wanForms(o: {
  method: 'subnet.set-wan' | 'device.set-wan';
  keys: Record<string, string>;
  current: string | null;
  /** Who it is for, read by screen readers: `subnet "Lab"`. */
  what: string;
  /** The clear button's text: "Use the default", "Follow the subnet". */
  inherit: string;
}): Html {
  const set = rpcForm(
    o.method,
    html`${hidden(o.keys)}<label>Public IPv4 <small>an address of this server: its traffic leaves by it and its forwards answer on it</small>
<input name="wanIp" list="${LIST_ID}" value="${o.current ?? ''}" required inputmode="decimal" autocomplete="off" spellcheck="false"></label>
<button type="submit" class="secondary">Set WAN<span class="visually-hidden"> of ${o.what}</span></button>`,
    { className: 'stack' }
  );
  const clear =
    o.current === null
      ? ''
      : rpcForm(
          o.method,
          html`${hidden({ ...o.keys, wanIp: null })}<button type="submit" class="secondary">${o.inherit}<span class="visually-hidden"> for ${o.what}</span></button>`,
          { className: 'stack' }
        );
  return disclosure(
    html`Change<span class="visually-hidden"> the WAN of ${o.what}</span>`,
    html`${set}${clear}`
  );
}
