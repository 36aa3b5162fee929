// SPDX-License-Identifier: MIT
/**
 * The Subnets page: each subnet's name (renamed in place), range, routed IPv6 prefix, WAN
 * address, DNS and device count, with the forms to add and remove one, set or clear its IPv6
 * prefix (`subnet.set-ipv6`, whose warnings the client script shows), its WAN
 * (`subnet.set-wan`) and where its resolver forwards (`subnet.set-dns`: the server's own
 * resolvers, a device of the subnet, or one to three servers); as the original's Subnets page
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel).
 * @module
 */

import type { DeviceInfo, SubnetInfo, WanInfo } from '@start-tunnel/protocol';
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

/** What the subnet's resolver forwards to. */
function dnsShown(s: SubnetInfo, devices: readonly DeviceInfo[]): Html {
  const { mode, deviceIp, servers } = s.dns;
  if (mode === 'default') return html`<span>The server's resolvers</span>`;
  if (mode === 'device') {
    const name = devices.find((d) => d.ip === deviceIp)?.name ?? 'Device';
    return html`<span>${name} <small class="hint">${deviceIp}</small></span>`;
  }
  return html`<span>${servers.map((x, i) => html`${i ? ', ' : ''}<code>${x}</code>`)}</span>`;
}

/** The DNS cell: where the resolver forwards, and the forms behind "Change" for each mode. */
function dnsCell(s: SubnetInfo, devices: readonly DeviceInfo[]): Html {
  const what = `subnet "${s.name}"`;
  const gateway = s.subnet.split('/')[0];
  const server =
    s.dns.mode === 'default'
      ? ''
      : rpcForm(
          'subnet.set-dns',
          html`${hidden({ subnet: s.subnet, mode: 'default' })}<button type="submit" class="secondary">Use the server's resolvers<span class="visually-hidden"> for ${what}</span></button>`,
          { className: 'stack' }
        );
  const device =
    devices.length === 0
      ? html`<p class="hint">Or a device of the subnet, once it has one.</p>`
      : rpcForm(
          'subnet.set-dns',
          html`${hidden({ subnet: s.subnet, mode: 'device' })}<label>A device <small>one running a resolver on port 53</small>
<select name="deviceIp" required>${devices.map(
            (d) =>
              html`<option value="${d.ip}"${d.ip === s.dns.deviceIp ? html` selected` : ''}>${d.name} (${d.ip})</option>`
          )}</select></label>
<button type="submit" class="secondary">Use this device<span class="visually-hidden"> for ${what}</span></button>`,
          { className: 'stack' }
        );
  const custom = rpcForm(
    'subnet.set-dns',
    html`${hidden({ subnet: s.subnet, mode: 'custom' })}<label>Servers <small>1 to 3: IP, IP:PORT or [IPv6]:PORT, separated by commas or spaces</small>
<input name="servers" data-type="list" value="${s.dns.servers.join(', ')}" required autocomplete="off" spellcheck="false" placeholder="1.1.1.1, 9.9.9.9"></label>
<button type="submit" class="secondary">Use these servers<span class="visually-hidden"> for ${what}</span></button>`,
    { className: 'stack' }
  );
  return html`<td>${dnsShown(s, devices)}
${disclosure(
  html`Change<span class="visually-hidden"> the DNS of ${what}</span>`,
  html`<p class="hint">Devices ask the gateway (${gateway}): it answers the <a href="/dns">DNS records</a> itself and forwards the rest here.</p>${server}${device}${custom}`
)}</td>`;
}

export function subnetsPage(
  subnets: Loaded<SubnetInfo[]>,
  wan: Loaded<WanInfo>,
  choices: readonly string[],
  devices: ReadonlyMap<string, Loaded<DeviceInfo[]>>
): Html {
  if (!subnets.ok) return problem(subnets.error);
  const fallback = defaultWan(wan);
  const devicesOf = (s: SubnetInfo) => {
    const list = devices.get(s.subnet);
    return list?.ok ? list.value : [];
  };
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
${dnsCell(s, devicesOf(s))}
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
  return html`${table('Subnets', ['Name', 'Subnet', 'Network', 'IPv6', 'WAN', 'DNS', 'Devices', ''], html`${rows}`)}
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
