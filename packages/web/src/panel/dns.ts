// SPDX-License-Identifier: MIT
/**
 * The DNS records page, as the original's (Manual / Automatic,
 * https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel): the local
 * records every subnet's resolver answers itself. Manual ones are added here (`dns.add`: A,
 * AAAA, CNAME or TXT, TTL 300 unless given; the same name, type and value replaced) and
 * removed; automatic ones were published by server devices with DNS injection on (RFC 2136
 * UPDATE), each shown with the device. `dns.remove` takes every record of a name and type,
 * whoever published it, so a removal's confirmation says how many go.
 * @module
 */

import type { DeviceInfo, DnsRecordInfo } from '@start-tunnel/protocol';
import { type Html, html } from './html.ts';
import { hidden, type Loaded, problem, rpcForm, table } from './layout.ts';

const TYPES = ['A', 'AAAA', 'CNAME', 'TXT'] as const;

/** A record's row key: name, type and value (unique: an identical record is replaced). */
export function recordKey(r: DnsRecordInfo): string {
  return `${r.name} ${r.type} ${r.value}`;
}

/** What `dns.remove {name, type}` takes with this record, for the confirmation. */
function removal(r: DnsRecordInfo, all: readonly DnsRecordInfo[]): string {
  const same = all.filter((x) => x.name === r.name && x.type === r.type);
  const published = same.filter((x) => x.source !== null).length;
  const again = r.source === null ? '' : ' The device may publish it again.';
  if (same.length === 1) return `Remove the ${r.type} record of ${r.name}?${again}`;
  const by = published === 0 ? '' : `, ${published} published by devices`;
  return `Remove all ${same.length} ${r.type} records of ${r.name}${by}? Records go by name and type.${again}`;
}

function row(r: DnsRecordInfo, all: readonly DnsRecordInfo[], names: Map<string, string>): Html {
  const source =
    r.source === null
      ? ''
      : html`<td>${names.get(r.source) ?? r.source} <small class="hint">${r.source}</small></td>`;
  return html`<tr data-key="${recordKey(r)}">
<td><code>${r.name}</code></td><td>${r.type}</td><td class="wrap"><code>${r.value}</code></td><td>${r.ttl} s</td>
${source}<td>${rpcForm(
    'dns.remove',
    html`${hidden({ name: r.name, type: r.type })}<button type="submit" class="danger" aria-label="Remove ${r.type} ${r.name} ${r.value}">Remove</button>`,
    { className: 'inline', confirm: removal(r, all) }
  )}</td></tr>`;
}

const addForm = rpcForm(
  'dns.add',
  html`<label>Name <small>a.example: no wildcard, no trailing dot needed</small>
<input name="name" required autocomplete="off" spellcheck="false"></label>
<label>Type <select name="type">${TYPES.map((t) => html`<option value="${t}">${t}</option>`)}</select></label>
<label>Value <small>an IPv4 (A) or IPv6 (AAAA) address, a name (CNAME), or text (TXT)</small>
<input name="value" required autocomplete="off" spellcheck="false"></label>
<label>TTL <small>optional, in seconds: 300 otherwise</small>
<input name="ttl" data-type="number" data-optional inputmode="numeric" autocomplete="off"></label>
<button type="submit">Add record</button>`
);

export function dnsPage(records: Loaded<DnsRecordInfo[]>, devices: readonly DeviceInfo[]): Html {
  if (!records.ok) return problem(records.error);
  const all = records.value;
  const names = new Map(devices.map((d) => [d.ip, d.name]));
  for (const d of devices) if (d.ipv6 !== null) names.set(d.ipv6, d.name);
  const manual = all.filter((r) => r.source === null);
  const auto = all.filter((r) => r.source !== null);
  const headers = ['Name', 'Type', 'Value', 'TTL'];
  const manualList =
    manual.length === 0
      ? html`<p>No manual records yet.</p>`
      : table(
          'Manual DNS records',
          [...headers, ''],
          html`${manual.map((r) => row(r, all, names))}`
        );
  const autoList =
    auto.length === 0
      ? html`<p>None published.</p>`
      : table(
          'Automatic DNS records',
          [...headers, 'Published by', ''],
          html`${auto.map((r) => row(r, all, names))}`
        );
  return html`<p class="hint">Every subnet's resolver answers these names itself and never asks elsewhere for them (a type not held here gets an empty answer).</p>
<section aria-labelledby="h-manual"><h2 id="h-manual">Manual</h2>${manualList}
<h3>Add a record</h3>
${addForm}</section>
<section aria-labelledby="h-auto"><h2 id="h-auto">Automatic</h2>
<p class="hint">Published by server devices whose DNS injection is on (<a href="/devices">Devices</a>), with RFC 2136 updates signed by their DNS key.</p>
${autoList}</section>`;
}
