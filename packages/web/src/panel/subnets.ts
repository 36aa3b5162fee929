// SPDX-License-Identifier: MIT
/**
 * The Subnets page: each subnet's name (renamed in place), range, routed IPv6 prefix, WAN
 * address and device count, with the forms to add and remove one, set or clear its IPv6 prefix
 * (`subnet.set-ipv6`, whose warnings the client script shows) and its WAN (`subnet.set-wan`); as
 * the original's Subnets page
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel).
 * @module
 */

import type { SubnetInfo, WanInfo } from '@start-tunnel/protocol';
import { type Html, html } from './html.ts';
import { disclosure, hidden, type Loaded, problem, rpcForm, table } from './layout.ts';
import { defaultWan, wanDatalist, wanForms } from './wan.ts';

/** A free `10.59.X.1/24` to suggest (the original UI's `getNext`, §3). */
export function suggestSubnet(taken: readonly SubnetInfo[]): string {
  const used = new Set(taken.map((s) => s.subnet));
  for (let i = 0; i < 256; i++) {
    const candidate = `10.59.${Math.floor(Math.random() * 256)}.1/24`;
    if (!used.has(candidate)) return candidate;
  }
  return '';
}

/** The IPv6 cell: the prefix or "—", and the forms to set or clear it. */
function ipv6Cell(s: SubnetInfo): Html {
  const what = `subnet "${s.name}"`;
  const set = rpcForm(
    'subnet.set-ipv6',
    html`${hidden({ subnet: s.subnet })}<label>Routed IPv6 prefix <small>the block your provider routes to this server (a /64 is enough); each device gets the prefix with its IPv4 in the last bits</small>
<input name="prefix" value="${s.ipv6 ?? ''}" required autocomplete="off" spellcheck="false" placeholder="2001:db8:7::/64"></label>
<button type="submit" class="secondary">Set prefix<span class="visually-hidden"> of ${what}</span></button>`,
    { className: 'stack' }
  );
  const clear =
    s.ipv6 === null
      ? ''
      : rpcForm(
          'subnet.set-ipv6',
          html`${hidden({ subnet: s.subnet, prefix: null })}<button type="submit" class="danger">Turn IPv6 off<span class="visually-hidden"> for ${what}</span></button>`,
          {
            className: 'stack',
            confirm: `Turn IPv6 off for ${what}? Its devices lose their IPv6 addresses and their pinholes are removed.`,
          }
        );
  return html`<td>${s.ipv6 === null ? '—' : html`<code>${s.ipv6}</code>`}
${disclosure(html`${s.ipv6 === null ? 'Set' : 'Change'}<span class="visually-hidden"> the IPv6 prefix of ${what}</span>`, html`${set}${clear}`)}</td>`;
}

/** The WAN cell: the subnet's own address, or the server's default it inherits. */
function wanCell(s: SubnetInfo, fallback: string): Html {
  const shown =
    s.wanIp === null
      ? html`<span>Default <small class="hint">${fallback}</small></span>`
      : html`<code>${s.wanIp}</code>`;
  return html`<td>${shown}
${wanForms({ method: 'subnet.set-wan', keys: { subnet: s.subnet }, current: s.wanIp, what: `subnet "${s.name}"`, inherit: 'Use the default' })}</td>`;
}

export function subnetsPage(
  subnets: Loaded<SubnetInfo[]>,
  wan: Loaded<WanInfo>,
  choices: readonly string[]
): Html {
  if (!subnets.ok) return problem(subnets.error);
  const fallback = defaultWan(wan);
  const rows = subnets.value.map(
    (s) => html`<tr data-key="${s.subnet}">
<td>${rpcForm(
      'subnet.add',
      html`${hidden({ subnet: s.subnet })}<span class="actions"><input name="name" value="${s.name}" aria-label="Name of subnet ${s.subnet}" required maxlength="64"><button type="submit" class="secondary">Rename</button></span>`,
      { className: 'inline' }
    )}</td>
<td><code>${s.subnet}</code></td><td><code>${s.network}</code></td>
${ipv6Cell(s)}
${wanCell(s, fallback)}
<td>${s.devices}</td>
<td>${rpcForm(
      'subnet.remove',
      html`${hidden({ subnet: s.subnet })}<button type="submit" class="danger" aria-label="Remove subnet ${s.name}">Remove</button>`,
      {
        className: 'inline',
        confirm: `Remove subnet "${s.name}" and its ${s.devices} device(s)? They will be disconnected.`,
      }
    )}</td></tr>`
  );
  return html`${table('Subnets', ['Name', 'Subnet', 'Network', 'IPv6', 'WAN', 'Devices', ''], html`${rows}`)}
${wanDatalist(choices)}
<h2>Add a subnet</h2>
${rpcForm(
  'subnet.add',
  html`<label>Name <input name="name" required maxlength="64"></label>
<label>Range <small>the server's address in it, with the prefix: 10.59.X.1/24</small>
<input name="subnet" value="${suggestSubnet(subnets.value)}" required inputmode="decimal" autocomplete="off"></label>
<button type="submit">Add subnet</button>`
)}`;
}
