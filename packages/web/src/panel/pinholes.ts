// SPDX-License-Identifier: MIT
/**
 * The IPv6 pinholes section of the Port forwards page: StartTunnel 1.5's pinholes
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel). IPv6 has
 * no NAT here: a device on a subnet with a prefix has its own global address, and the firewall
 * lets nothing in to it except through a pinhole, `count` ports from `externalPort` on that
 * address, optionally sent on to other ports of the device. Each row can be enabled or
 * disabled, relabelled and removed; the add form picks a device that has an IPv6 address. A
 * pinhole a device opened itself (PCP, while its Auto-publish is on) is tagged Automatic.
 * @module
 */

import type { DeviceInfo, PinholeInfo } from '@start-tunnel/protocol';
import { type Html, html } from './html.ts';
import { hidden, type Loaded, problem, rpcForm, table } from './layout.ts';

/** `first` or `first-last` for `count` ports. */
function span(first: number, count: number): string {
  return count > 1 ? `${first}-${first + count - 1}` : String(first);
}

/** How the CLI and the firewall name a pinhole: `[GUA]:PORT`. */
function nameOf(p: PinholeInfo): string {
  return `[${p.gua}]:${p.externalPort}`;
}

function row(p: PinholeInfo): Html {
  const key = { gua: p.gua, externalPort: p.externalPort };
  const name = nameOf(p);
  return html`<tr data-key="${name}">
<td>${p.name} <small class="hint">${p.ip}</small>${p.auto ? html` <span class="tag">Automatic</span>` : ''}</td><td><code>${p.gua}</code></td>
<td>${span(p.externalPort, p.count)}</td><td>${span(p.internalPort, p.count)}</td>
<td>${rpcForm(
    'pinhole.update-label',
    html`${hidden(key)}<span class="actions"><input name="label" value="${p.label ?? ''}" data-optional maxlength="64" aria-label="Label of pinhole ${name}"><button type="submit" class="secondary" aria-label="Save the label of pinhole ${name}">Save</button></span>`,
    { className: 'inline' }
  )}</td>
<td>${rpcForm(
    'pinhole.set-enabled',
    html`${hidden({ ...key, enabled: !p.enabled })}<button type="submit" class="secondary" aria-label="${p.enabled ? 'Disable' : 'Enable'} pinhole ${name}">${p.enabled ? 'Enabled: disable' : 'Disabled: enable'}</button>`,
    { className: 'inline' }
  )}</td>
<td>${rpcForm(
    'pinhole.remove',
    html`${hidden(key)}<button type="submit" class="danger" aria-label="Remove pinhole ${name}">Remove</button>`,
    { className: 'inline', confirm: `Close the pinhole ${name} to ${p.name}?` }
  )}</td></tr>`;
}

function addForm(devices: readonly DeviceInfo[]): Html {
  const reachable = devices.filter((d) => d.ipv6 !== null);
  if (reachable.length === 0) {
    return html`<p>No device has an IPv6 address yet: give its subnet an IPv6 prefix on the <a href="/subnets">Subnets</a> page.</p>`;
  }
  const options = reachable.map(
    (d) => html`<option value="${d.ipv6 ?? ''}">${d.name} (${d.ip}) ${d.ipv6 ?? ''}</option>`
  );
  return rpcForm(
    'pinhole.add',
    html`<label>Device <small>the pinhole opens on its IPv6 address</small>
<select name="gua" required>${options}</select></label>
<label>Public port <small>the first one open on the device's IPv6 address</small>
<input name="externalPort" data-type="number" required inputmode="numeric" autocomplete="off"></label>
<label>How many ports <small>optional: 1 otherwise</small>
<input name="count" data-type="number" data-optional inputmode="numeric" autocomplete="off"></label>
<label>Device port <small>optional: another port on the device to send them to; the same otherwise</small>
<input name="internalPort" data-type="number" data-optional inputmode="numeric" autocomplete="off"></label>
<label>Label <small>optional</small><input name="label" data-optional maxlength="64"></label>
<button type="submit">Open pinhole</button>`
  );
}

/** The section: the pinholes, then the add form. */
export function pinholesSection(
  pinholes: Loaded<PinholeInfo[]>,
  devices: readonly DeviceInfo[]
): Html {
  const list = !pinholes.ok
    ? problem(pinholes.error)
    : pinholes.value.length === 0
      ? html`<p>No pinholes yet.</p>`
      : table(
          'IPv6 pinholes',
          ['Device', 'IPv6 address', 'Ports', 'Device ports', 'Label', 'State', ''],
          html`${pinholes.value.map(row)}`
        );
  return html`<section aria-labelledby="h-pinholes"><h2 id="h-pinholes">IPv6 pinholes</h2>
<p class="hint">Over IPv6 a device has its own public address and nothing is translated: the firewall lets nothing in to it except through a pinhole, on TCP and UDP.</p>
${list}
<h3>Open a pinhole</h3>
${addForm(devices)}</section>`;
}
