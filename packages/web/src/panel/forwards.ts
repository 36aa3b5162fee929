// SPDX-License-Identifier: MIT
/**
 * The Port forwards page, as the original's Published Ports page
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel): the
 * manual forwards first, plain ones (the kernel forwards the port: address it answers on,
 * live counters, enable/disable, removal) and then each SNI port (one public TCP port shared
 * by TLS hostnames, the daemon reading the ClientHello, TLS never terminated) with its routes
 * "hostname → device:port" and its fallback marked, each route enabled or disabled,
 * relabelled and removed on its own; then the add form, where hostnames make the forward an
 * SNI route (with the fallback and the PROXY protocol header as options). What devices open
 * themselves is in `automatic.ts`, the IPv6 pinholes in `pinholes.ts`.
 *
 * Rows are keyed by kind, source and hostname (`forwardKey`): SNI routes share their port's
 * source, so the source alone would make the live refresh write one route's values into
 * another's row.
 * @module
 */

import type { DeviceInfo, ForwardInfo } from '@start-tunnel/protocol';
import { type Html, html } from './html.ts';
import { formatBytes, hidden, type Loaded, problem, rpcForm, table } from './layout.ts';

/** The fields the client script builds a polled row's key from (see `forwardKey`). */
export const FORWARD_KEY_FIELDS = 'kind source hostname';

/** One entry's row key: kind, source and hostname, the empty ones left out. */
export function forwardKey(f: Pick<ForwardInfo, 'kind' | 'source' | 'hostname'>): string {
  return [f.kind, f.source, f.hostname].filter((v) => v !== null && v !== '').join(' ');
}

/** How buttons and confirmations name an entry: `forward 8443`, `route a.example on 443`. */
export function entryName(f: ForwardInfo): string {
  if (f.kind === 'dnat') return `forward ${f.source}`;
  return f.hostname === null ? `fallback of ${f.source}` : `route ${f.hostname} on ${f.source}`;
}

/** The parameters that name one entry: the source, and for an SNI route its hostname. */
export function entryKeys(f: ForwardInfo): Record<string, string> {
  return f.kind === 'dnat'
    ? { source: f.source }
    : { source: f.source, hostname: f.hostname ?? '' };
}

export function answersOn(f: ForwardInfo): Html {
  return f.externalIp === null ? html`all WAN addresses` : html`<code>${f.externalIp}</code>`;
}

export function protocolText(f: ForwardInfo): string {
  return f.protocol === 'both' ? 'TCP+UDP' : f.protocol.toUpperCase();
}

/** The enable/disable toggle of one entry. */
export function stateForm(f: ForwardInfo): Html {
  const name = entryName(f);
  return rpcForm(
    'port-forward.set-enabled',
    html`${hidden({ ...entryKeys(f), enabled: !f.enabled })}<button type="submit" class="secondary" aria-label="${f.enabled ? 'Disable' : 'Enable'} ${name}">${f.enabled ? 'Enabled: disable' : 'Disabled: enable'}</button>`,
    { className: 'inline' }
  );
}

/** Removes one entry (a plain forward, or one hostname's route). */
export function removeForm(f: ForwardInfo, confirm: string): Html {
  return rpcForm(
    'port-forward.remove',
    html`${hidden(entryKeys(f))}<button type="submit" class="danger" aria-label="Remove ${entryName(f)}">Remove</button>`,
    { className: 'inline', confirm }
  );
}

/** `a.example → 10.59.7.2:443`, the fallback marked, the device named. */
export function routeText(f: ForwardInfo, devices: ReadonlyMap<string, string>): Html {
  const device = devices.get(f.target.split(':')[0] ?? '');
  const from =
    f.hostname === null
      ? html`<span class="tag">Fallback</span> any other hostname`
      : html`<code>${f.hostname}</code>`;
  return html`${from} → <code>${f.target}</code>${device === undefined ? '' : html` <small class="hint">${device}</small>`}`;
}

function plainRow(f: ForwardInfo): Html {
  return html`<tr data-key="${forwardKey(f)}">
<td>${f.label ?? ''}</td><td><code>${f.source}</code></td>
<td>${answersOn(f)}</td>
<td><code>${f.target}</code></td>
<td>${protocolText(f)}</td>
<td>${stateForm(f)}</td>
<td data-field="packets" data-format="count">${f.packets}</td>
<td data-field="bytes" data-format="bytes">${formatBytes(f.bytes)}</td>
<td>${removeForm(f, `Remove the forward from ${f.source}?`)}</td></tr>`;
}

function sniRow(f: ForwardInfo, devices: ReadonlyMap<string, string>): Html {
  const name = entryName(f);
  const label = rpcForm(
    'port-forward.update-label',
    html`${hidden(entryKeys(f))}<span class="actions"><input name="label" value="${f.label ?? ''}" data-optional maxlength="64" aria-label="Label of ${name}"><button type="submit" class="secondary" aria-label="Save the label of ${name}">Save</button></span>`,
    { className: 'inline' }
  );
  // the contract removes a fallback only with its whole port (the form under the table)
  const remove =
    f.hostname === null
      ? html`<small class="hint">goes with the port</small>`
      : removeForm(f, `Remove the route of ${f.hostname} on port ${f.source}?`);
  return html`<tr data-key="${forwardKey(f)}">
<td class="wrap">${routeText(f, devices)}</td>
<td>${label}</td>
<td>${f.proxyProtocol ? 'PROXY v2' : 'No'}</td>
<td>${stateForm(f)}</td>
<td>${remove}</td></tr>`;
}

/** One SNI port: its manual routes, then the form that removes the whole port. */
function sniPort(
  source: string,
  routes: ForwardInfo[],
  all: number,
  devices: ReadonlyMap<string, string>
): Html {
  const first = routes[0]!;
  const removeAll = rpcForm(
    'port-forward.remove',
    html`${hidden({ source })}<button type="submit" class="danger">Remove port ${source}<span class="visually-hidden"> with every route</span></button>`,
    {
      className: 'inline',
      confirm: `Remove port ${source} with its ${all} route(s), the fallback included? TLS connections to it stop.`,
    }
  );
  return html`<h3>Port <code>${source}</code> by TLS hostname <small class="hint">answers on ${answersOn(first)}</small></h3>
${table(`Routes of port ${source}`, ['Route', 'Label', 'PROXY protocol', 'State', ''], html`${routes.map((r) => sniRow(r, devices))}`)}
<div class="actions">${removeAll}</div>`;
}

function addForm(targets: readonly string[]): Html {
  return rpcForm(
    'port-forward.add',
    html`<label>Label <small>optional</small><input name="label" data-optional maxlength="64"></label>
<label>Public port <small>a port or range (8443, 6000-6010), on the device's WAN address, or IP:PORT for one public address; port 80 needs the <a href="/settings#h-redirect">HTTP→HTTPS redirect</a> off there first</small>
<input name="source" required autocomplete="off"></label>
<label>Device and port <small>DEVICE_IP:PORT</small>
<input name="target" required list="targets" autocomplete="off"></label>
<datalist id="targets">${targets.map((t) => html`<option value="${t}:">`)}</datalist>
<label>TLS hostnames <small>optional, separated by commas or spaces (a.example, *.example): the port is shared by hostname, TLS passing through untouched; one port, TCP</small>
<input name="sni" data-type="list" data-optional autocomplete="off" spellcheck="false"></label>
<label class="check"><input type="checkbox" name="fallback"> Also the fallback <small>TLS for any other hostname goes to this device too</small></label>
<label class="check"><input type="checkbox" name="proxyProtocol"> PROXY protocol <small>by hostname only: a PROXY v2 header tells the device the visitor's address; the device must expect it</small></label>
<label>Protocol <small>TCP only with hostnames</small>
<select name="protocol" data-optional><option value="">TCP and UDP (TCP with hostnames)</option>
<option value="tcp">TCP</option><option value="udp">UDP</option></select></label>
<button type="submit">Add forward</button>`
  );
}

/**
 * The manual forwards and the add form. `devices` names the targets; `targets` are the device
 * addresses the target field offers.
 */
export function forwardsPage(
  forwards: Loaded<ForwardInfo[]>,
  devices: readonly DeviceInfo[]
): Html {
  if (!forwards.ok) return problem(forwards.error);
  const names = new Map(devices.map((d) => [d.ip, d.name]));
  const manual = forwards.value.filter((f) => !f.auto);
  const plain = manual.filter((f) => f.kind === 'dnat');
  const ports = new Map<string, ForwardInfo[]>();
  for (const f of manual) {
    if (f.kind === 'sni') ports.set(f.source, [...(ports.get(f.source) ?? []), f]);
  }
  const list =
    plain.length === 0
      ? html`<p>No port forwards yet.</p>`
      : table(
          'Port forwards',
          [
            'Label',
            'Source',
            'Answers on',
            'Target',
            'Protocol',
            'State',
            'Packets',
            'Traffic',
            '',
          ],
          html`${plain.map(plainRow)}`,
          html` data-poll="port-forward.list" data-key="${FORWARD_KEY_FIELDS}"`
        );
  const sni = [...ports].map(([source, routes]) =>
    sniPort(
      source,
      routes,
      forwards.value.filter((f) => f.kind === 'sni' && f.source === source).length,
      names
    )
  );
  return html`<p class="hint" role="status" id="updated" aria-live="polite"></p>
<section aria-labelledby="h-manual"><h2 id="h-manual">Manual</h2>
${list}
${sni}
</section>
<h2>Add a port forward</h2>
${addForm(devices.map((d) => d.ip))}`;
}
