// SPDX-License-Identifier: MIT
/**
 * The Automatic section of the Port forwards page: what server devices opened for themselves
 * with PCP (RFC 6887) or UPnP IGD while their Auto-publish switch is on, apart from the manual
 * entries as in the original's Published Ports page
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel). Each
 * row shows the device, the forward (a port, or an SNI route "hostname → device:port"), the
 * address it answers on, its label (the device's description, `PCP` by default) and when its
 * lease ends ("permanent" for a UPnP mapping without one), refreshed live; the owner can
 * disable or remove one, though a device that renews it opens it again unless its Auto-publish
 * is turned off (Devices page).
 * @module
 */

import type { DeviceInfo, ForwardInfo } from '@start-tunnel/protocol';
import {
  answersOn,
  entryName,
  FORWARD_KEY_FIELDS,
  forwardKey,
  protocolText,
  removeForm,
  routeText,
  stateForm,
} from './forwards.ts';
import { type Html, html } from './html.ts';
import { formatBytes, type Loaded, table } from './layout.ts';

/** The lease end: a time the client script shows as "in 42 min", or "permanent". */
function leaseCell(f: ForwardInfo): Html {
  return html`<td data-field="expiresAt" data-format="lease" data-value="${f.expiresAt ?? ''}">${
    f.expiresAt === null
      ? 'permanent'
      : html`<time datetime="${f.expiresAt}">${f.expiresAt.replace('T', ' ').slice(0, 19)} UTC</time>`
  }</td>`;
}

function row(f: ForwardInfo, devices: ReadonlyMap<string, string>): Html {
  const ip = f.target.split(':')[0] ?? '';
  const what =
    f.kind === 'dnat'
      ? html`<code>${f.source}</code> → <code>${f.target}</code>`
      : html`${routeText(f, devices)} <small class="hint">port ${f.source}</small>`;
  return html`<tr data-key="${forwardKey(f)}">
<td>${devices.get(ip) ?? ip} <small class="hint">${ip}</small></td>
<td class="wrap">${what}</td>
<td>${answersOn(f)}</td>
<td>${protocolText(f)}</td>
<td>${f.label ?? ''}</td>
${leaseCell(f)}
<td>${stateForm(f)}</td>
<td data-field="bytes" data-format="bytes">${formatBytes(f.bytes)}</td>
<td>${removeForm(f, `Remove the automatic ${entryName(f)}? The device opens it again when it renews it, unless its Auto-publish is off.`)}</td></tr>`;
}

export function automaticSection(
  forwards: Loaded<ForwardInfo[]>,
  devices: readonly DeviceInfo[]
): Html {
  if (!forwards.ok) return html``; // the manual section says why
  const names = new Map(devices.map((d) => [d.ip, d.name]));
  const auto = forwards.value.filter((f) => f.auto);
  const body =
    auto.length === 0
      ? html`<p>None open now.</p>`
      : table(
          'Automatic port forwards',
          [
            'Device',
            'Forward',
            'Answers on',
            'Protocol',
            'Label',
            'Lease ends',
            'State',
            'Traffic',
            '',
          ],
          html`${auto.map((f) => row(f, names))}`,
          html` data-poll="port-forward.list" data-key="${FORWARD_KEY_FIELDS}"`
        );
  return html`<section aria-labelledby="h-auto"><h2 id="h-auto">Automatic</h2>
<p class="hint">Opened by server devices themselves (PCP, UPnP) while their Auto-publish switch is on (<a href="/devices">Devices</a>); each ends with its lease unless the device renews it.</p>
${body}</section>`;
}
