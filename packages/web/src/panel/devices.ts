// SPDX-License-Identifier: MIT
/**
 * The Devices page (one table per subnet, live status polled by the client script, the add
 * form) and a device's config page (QR code, download, endpoint override); as the original's
 * Devices page and config dialog
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel). A row
 * shows the device's kind (a server publishes services; making it a client removes its port
 * forwards and pinholes, so that asks first), its IPv6 address and its WAN (its own, or the one
 * it inherits), with the forms to change them (`device.set-kind`, `device.set-wan`), and for a
 * server its two switches, DNS injection and Auto-publish, with its DNS key on demand
 * (`permissions.ts`).
 * @module
 */

import type {
  DeviceConfig,
  DeviceInfo,
  ForwardInfo,
  PinholeInfo,
  SubnetInfo,
  WanInfo,
} from '@start-tunnel/protocol';
import { type Html, html } from './html.ts';
import { ago, formatBytes, hidden, type Loaded, problem, rpcForm, table } from './layout.ts';
import { permissionCells } from './permissions.ts';
import { defaultWan, wanDatalist, wanForms } from './wan.ts';

/** What the Devices page shows. */
export interface DevicesData {
  subnets: Loaded<SubnetInfo[]>;
  /** Each subnet's devices, by subnet. */
  lists: Map<string, Loaded<DeviceInfo[]>>;
  wan: Loaded<WanInfo>;
  /** Public IPv4s to offer as WAN addresses. */
  choices: readonly string[];
  /** For what a demotion to client removes. */
  forwards: Loaded<ForwardInfo[]>;
  pinholes: Loaded<PinholeInfo[]>;
}

/** The device a config page is for, and the endpoint it connects to when not the default. */
export type ConfigParams = { subnet: string; ip: string; endpoint?: string };

export function configQuery(p: ConfigParams): string {
  return new URLSearchParams(p).toString();
}

/** What turning the device's Auto-publish off would remove, when known. */
function automatic(
  d: DeviceInfo,
  data: DevicesData
): { forwards: number; pinholes: number } | null {
  if (!data.forwards.ok || !data.pinholes.ok) return null;
  const mine = (f: ForwardInfo) => f.auto && f.target.split(':')[0] === d.ip;
  return {
    forwards: data.forwards.value.filter(mine).length,
    pinholes: data.pinholes.value.filter((p) => p.auto && p.subnet === d.subnet && p.ip === d.ip)
      .length,
  };
}

/** What making the device a client would remove, for the confirmation. */
function exposure(d: DeviceInfo, data: DevicesData): string {
  if (!data.forwards.ok || !data.pinholes.ok) return 'its port forwards and pinholes';
  const forwards = data.forwards.value.filter((f) => f.target.split(':')[0] === d.ip).length;
  const pinholes = data.pinholes.value.filter((p) => p.subnet === d.subnet && p.ip === d.ip);
  return `its ${forwards} port forward(s) and ${pinholes.length} pinhole(s)`;
}

function kindCell(d: DeviceInfo, data: DevicesData): Html {
  const server = d.kind === 'server';
  const form = rpcForm(
    'device.set-kind',
    html`${hidden({ subnet: d.subnet, ip: d.ip, kind: server ? 'client' : 'server' })}<button type="submit" class="secondary" aria-label="Make ${d.name} a ${server ? 'client' : 'server'}">Make ${server ? 'client' : 'server'}</button>`,
    {
      className: 'inline',
      ...(server
        ? {
            confirm: `Make "${d.name}" a client? A client publishes nothing: this removes ${exposure(d, data)}.`,
          }
        : {}),
    }
  );
  return html`<td><span>${server ? 'Server' : 'Client'}</span> ${form}</td>`;
}

function wanCell(d: DeviceInfo, subnet: SubnetInfo, fallback: string): Html {
  const shown =
    d.wanIp !== null
      ? html`<code>${d.wanIp}</code>`
      : subnet.wanIp !== null
        ? html`<span><code>${d.effectiveWanIp ?? subnet.wanIp}</code> <small class="hint">inherited from the subnet</small></span>`
        : html`<span>${fallback} <small class="hint">inherited: the server's default</small></span>`;
  return html`<td>${shown}
${wanForms({ method: 'device.set-wan', keys: { subnet: d.subnet, ip: d.ip }, current: d.wanIp, what: `device "${d.name}"`, inherit: 'Follow the subnet' })}</td>`;
}

function deviceRows(subnet: SubnetInfo, devices: DeviceInfo[], data: DevicesData): Html {
  const fallback = defaultWan(data.wan);
  return html`${devices.map((d) => {
    const q = configQuery({ subnet: d.subnet, ip: d.ip });
    return html`<tr data-key="${d.ip}">
<td>${d.name}</td>${kindCell(d, data)}<td><code>${d.ip}</code></td>
<td>${d.ipv6 === null ? '—' : html`<code>${d.ipv6}</code>`}</td>
${wanCell(d, subnet, fallback)}
${permissionCells(d, automatic(d, data))}
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

export function devicesPage(data: DevicesData): Html {
  const { subnets, lists } = data;
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
              [
                'Name',
                'Kind',
                'IP',
                'IPv6',
                'WAN',
                'DNS injection',
                'Auto-publish',
                'Status',
                'Last handshake',
                'Received',
                'Sent',
                'Endpoint',
                '',
              ],
              deviceRows(s, list.value, data),
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
<label>Kind <small>a server publishes services (port forwards, pinholes) and its config says it takes inbound connections; a client only goes out</small>
<select name="kind"><option value="client">Client</option><option value="server">Server</option></select></label>
<label>IP <small>optional: the first free address otherwise</small>
<input name="ip" data-optional inputmode="decimal" autocomplete="off"></label>
<label>Your own public key <small>optional: the device keeps its private key and the server never sees it</small>
<input name="publicKey" data-optional autocomplete="off" spellcheck="false"></label>
<button type="submit">Add device</button>`,
          { onDone: 'config' }
        );
  return html`<p class="hint" role="status" id="updated" aria-live="polite"></p>
${sections}
${wanDatalist(data.choices)}
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
