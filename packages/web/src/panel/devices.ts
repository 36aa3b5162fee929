// SPDX-License-Identifier: MIT
/**
 * The Devices page (one table per subnet, live status polled by the client script, the add
 * form) and a device's config page (QR code, download, endpoint override); as the original's
 * Devices page and config dialog
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel).
 * @module
 */

import type { DeviceConfig, DeviceInfo, SubnetInfo } from '@start-tunnel/protocol';
import { type Html, html } from './html.ts';
import { ago, formatBytes, hidden, type Loaded, problem, rpcForm, table } from './layout.ts';

/** The device a config page is for, and the endpoint it connects to when not the default. */
export type ConfigParams = { subnet: string; ip: string; endpoint?: string };

export function configQuery(p: ConfigParams): string {
  return new URLSearchParams(p).toString();
}

function deviceRows(subnet: SubnetInfo, devices: DeviceInfo[]): Html {
  return html`${devices.map((d) => {
    const q = configQuery({ subnet: d.subnet, ip: d.ip });
    return html`<tr data-key="${d.ip}">
<td>${d.name}</td><td><code>${d.ip}</code></td>
<td data-field="online" data-format="online" class="${d.online ? 'online' : 'offline'}">${d.online ? 'Online' : 'Offline'}</td>
${ago(d.lastHandshake, 'lastHandshake')}
<td data-field="rxBytes" data-format="bytes">${formatBytes(d.rxBytes)}</td>
<td data-field="txBytes" data-format="bytes">${formatBytes(d.txBytes)}</td>
<td data-field="endpoint">${d.endpoint ?? ''}</td>
<td class="actions"><a href="/devices/config?${q}">Config and QR<span class="visually-hidden"> for ${d.name}</span></a>
${rpcForm(
  'device.remove',
  html`${hidden({ subnet: subnet.subnet, ip: d.ip })}<button type="submit" class="danger" aria-label="Remove device ${d.name}">Remove</button>`,
  { className: 'inline', confirm: `Remove device "${d.name}" (${d.ip})?` }
)}</td></tr>`;
  })}`;
}

export function devicesPage(
  subnets: Loaded<SubnetInfo[]>,
  lists: Map<string, Loaded<DeviceInfo[]>>
): Html {
  if (!subnets.ok) return problem(subnets.error);
  const sections = subnets.value.map((s) => {
    const list = lists.get(s.subnet);
    const body = !list
      ? problem('Not loaded')
      : !list.ok
        ? problem(list.error)
        : list.value.length === 0
          ? html`<p>No devices yet.</p>`
          : table(
              `Devices in ${s.name}`,
              ['Name', 'IP', 'Status', 'Last handshake', 'Received', 'Sent', 'Endpoint', ''],
              deviceRows(s, list.value),
              html` data-poll="device.list" data-params="${JSON.stringify({ subnet: s.subnet })}" data-key="ip"`
            );
    return html`<section><h2>${s.name} <small class="hint">${s.subnet}</small></h2>${body}</section>`;
  });
  const options = subnets.value.map(
    (s) => html`<option value="${s.subnet}">${s.name} (${s.subnet})</option>`
  );
  const add =
    subnets.value.length === 0
      ? html`<p>Add a <a href="/subnets">subnet</a> first.</p>`
      : rpcForm(
          'device.add',
          html`<label>Subnet <select name="subnet" required>${options}</select></label>
<label>Name <input name="name" required maxlength="64"></label>
<label>IP <small>optional: the first free address otherwise</small>
<input name="ip" data-optional inputmode="decimal" autocomplete="off"></label>
<label>Your own public key <small>optional: the device keeps its private key and the server never sees it</small>
<input name="publicKey" data-optional autocomplete="off" spellcheck="false"></label>
<button type="submit">Add device</button>`,
          { onDone: 'config' }
        );
  return html`<p class="hint" role="status" id="updated" aria-live="polite"></p>
${sections}
<h2>Add a device</h2>
${add}`;
}

export function configPage(config: Loaded<DeviceConfig>, p: ConfigParams): Html {
  if (!config.ok) return problem(config.error);
  const c = config.value;
  const q = configQuery(p);
  return html`<p>Scan the code with the WireGuard app, or download the file and import it.</p>
${c.ownKey ? html`<p class="notice">This device uses its own key: put its private key where the file says.</p>` : ''}
<img class="qr" src="/devices/config.svg?${q}" alt="QR code of the WireGuard config for ${c.name}" width="352" height="352">
<p class="actions"><a href="/devices/config.conf?${q}" download="${c.filename}">Download ${c.filename}</a>
<a href="/devices">Back to devices</a></p>
<details><summary>Show the config text</summary><pre>${c.config}</pre></details>
<h2>Endpoint</h2>
<form class="card" method="get" action="/devices/config">
${hidden({ subnet: p.subnet, ip: p.ip })}
<label>Server address the device connects to <small>leave empty for the detected public address</small>
<input name="endpoint" value="${p.endpoint ?? ''}" autocomplete="off"></label>
<button type="submit" class="secondary">Update</button>
</form>`;
}
