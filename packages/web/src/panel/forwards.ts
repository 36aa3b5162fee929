// SPDX-License-Identifier: MIT
/**
 * The Port forwards page: each forward with the public address it answers on (its own, its
 * device's WAN, or every WAN address), its live counters, enable/disable and removal, and the
 * add form; the IPv6 pinholes follow (`pinholes.ts`); as the original's Published Ports page
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel).
 * @module
 */

import type { ForwardInfo } from '@start-tunnel/protocol';
import { type Html, html } from './html.ts';
import { formatBytes, hidden, type Loaded, problem, rpcForm, table } from './layout.ts';

export function forwardsPage(forwards: Loaded<ForwardInfo[]>, targets: string[]): Html {
  if (!forwards.ok) return problem(forwards.error);
  const rows = forwards.value.map(
    (f) => html`<tr data-key="${f.source}">
<td>${f.label ?? ''}</td><td><code>${f.source}</code></td>
<td>${f.externalIp === null ? 'all WAN addresses' : html`<code>${f.externalIp}</code>`}</td>
<td><code>${f.target}</code></td>
<td>${f.protocol === 'both' ? 'TCP+UDP' : f.protocol.toUpperCase()}</td>
<td>${rpcForm(
      'port-forward.set-enabled',
      html`${hidden({ source: f.source, enabled: !f.enabled })}<button type="submit" class="secondary" aria-label="${f.enabled ? 'Disable' : 'Enable'} forward ${f.source}">${f.enabled ? 'Enabled: disable' : 'Disabled: enable'}</button>`,
      { className: 'inline' }
    )}</td>
<td data-field="packets" data-format="count">${f.packets}</td>
<td data-field="bytes" data-format="bytes">${formatBytes(f.bytes)}</td>
<td>${rpcForm(
      'port-forward.remove',
      html`${hidden({ source: f.source })}<button type="submit" class="danger" aria-label="Remove forward ${f.source}">Remove</button>`,
      { className: 'inline', confirm: `Remove the forward from ${f.source}?` }
    )}</td></tr>`
  );
  const list =
    forwards.value.length === 0
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
          html`${rows}`,
          html` data-poll="port-forward.list" data-key="source"`
        );
  return html`<p class="hint" role="status" id="updated" aria-live="polite"></p>
${list}
<h2>Add a port forward</h2>
${rpcForm(
  'port-forward.add',
  html`<label>Label <small>optional</small><input name="label" data-optional maxlength="64"></label>
<label>Public port <small>a port or range (8443, 6000-6010), on the device's WAN address, or IP:PORT for one public address; port 80 needs the <a href="/settings#h-redirect">HTTP→HTTPS redirect</a> off there first</small>
<input name="source" required autocomplete="off"></label>
<label>Device and port <small>DEVICE_IP:PORT</small>
<input name="target" required list="targets" autocomplete="off"></label>
<datalist id="targets">${targets.map((t) => html`<option value="${t}:">`)}</datalist>
<label>Protocol <select name="protocol"><option value="both">TCP and UDP</option>
<option value="tcp">TCP</option><option value="udp">UDP</option></select></label>
<button type="submit">Add forward</button>`
)}`;
}
