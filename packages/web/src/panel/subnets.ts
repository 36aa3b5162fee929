// SPDX-License-Identifier: MIT
/**
 * The Subnets page: each subnet's name (renamed in place), range and device count, with the
 * forms to add and remove one; as the original's Subnets page
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel).
 * @module
 */

import type { SubnetInfo } from '@start-tunnel/protocol';
import { type Html, html } from './html.ts';
import { hidden, type Loaded, problem, rpcForm, table } from './layout.ts';

/** A free `10.59.X.1/24` to suggest (the original UI's `getNext`, §3). */
export function suggestSubnet(taken: readonly SubnetInfo[]): string {
  const used = new Set(taken.map((s) => s.subnet));
  for (let i = 0; i < 256; i++) {
    const candidate = `10.59.${Math.floor(Math.random() * 256)}.1/24`;
    if (!used.has(candidate)) return candidate;
  }
  return '';
}

export function subnetsPage(subnets: Loaded<SubnetInfo[]>): Html {
  if (!subnets.ok) return problem(subnets.error);
  const rows = subnets.value.map(
    (s) => html`<tr>
<td>${rpcForm(
      'subnet.add',
      html`${hidden({ subnet: s.subnet })}<span class="actions"><input name="name" value="${s.name}" aria-label="Name of subnet ${s.subnet}" required maxlength="64"><button type="submit" class="secondary">Rename</button></span>`,
      { className: 'inline' }
    )}</td>
<td><code>${s.subnet}</code></td><td><code>${s.network}</code></td><td>${s.devices}</td>
<td>${rpcForm(
      'subnet.remove',
      html`${hidden({ subnet: s.subnet })}<button type="submit" class="danger" aria-label="Remove subnet ${s.name}">Remove</button>`,
      {
        className: 'inline',
        confirm: `Remove subnet "${s.name}" and its ${s.devices} device(s)? They will be disconnected.`,
      }
    )}</td></tr>`
  );
  return html`${table('Subnets', ['Name', 'Subnet', 'Network', 'Devices', ''], html`${rows}`)}
<h2>Add a subnet</h2>
${rpcForm(
  'subnet.add',
  html`<label>Name <input name="name" required maxlength="64"></label>
<label>Range <small>the server's address in it, with the prefix: 10.59.X.1/24</small>
<input name="subnet" value="${suggestSubnet(subnets.value)}" required inputmode="decimal" autocomplete="off"></label>
<button type="submit">Add subnet</button>`
)}`;
}
