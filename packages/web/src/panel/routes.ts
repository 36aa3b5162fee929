// SPDX-License-Identifier: MIT
/**
 * The panel's routes: the login page, the five pages of the logged-in panel (overview, subnets,
 * devices, port forwards, settings; the last four as in the original's UI,
 * https://github.com/Start9Labs/start-os/tree/v0.4.0-beta.9/web/projects/start-tunnel/src/app/routes/home/routes,
 * without the parts we do not have), the device config page with its QR code and download, the
 * certificate downloads and the static assets. Pages read through the same dispatcher as
 * `/rpc/v0`, with the caller's session as context, so they can show nothing the API would not. A
 * page without a live session redirects to `/login`.
 * @module
 */

import type {
  DeviceConfig,
  DeviceInfo,
  ForwardInfo,
  KeyInfo,
  RpcContext,
  StatusInfo,
  SubnetInfo,
  WebStatus,
} from '@start-tunnel/protocol';
import type { Hono } from 'hono';
import QRCode from 'qrcode';
import { type AppDeps, contextOf, sessionOf, type WebContext, type WebEnv } from '../http.ts';
import type { SessionInfo } from '../session.ts';
import { PANEL_CSS, PANEL_ICON, PANEL_JS } from './assets.ts';
import { type Html, html, raw } from './html.ts';
import { ago, formatBytes, hidden, loginPage, page, problem, rpcForm, table } from './layout.ts';

type Loaded<T> = { ok: true; value: T } | { ok: false; error: string };

async function load<T>(
  deps: AppDeps,
  ctx: RpcContext,
  method: string,
  params: object = {}
): Promise<Loaded<T>> {
  try {
    return { ok: true, value: (await deps.dispatcher.call(method, params, ctx)) as T };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

function send(c: WebContext, body: Html | string, type: string, status: 200 | 404 = 200) {
  c.header('Content-Type', type);
  c.header('Cache-Control', 'no-store');
  return c.body(body.toString(), status);
}

function attachment(c: WebContext, body: string, type: string, filename: string) {
  c.header('Content-Disposition', `attachment; filename="${filename.replace(/[^\w.-]/g, '_')}"`);
  return send(c, body, type);
}

const HTML = 'text/html; charset=utf-8';

/** Runs `render` with the caller's session context, or redirects to the login page. */
async function withSession(
  c: WebContext,
  deps: AppDeps,
  render: (ctx: RpcContext) => Promise<Response>
): Promise<Response> {
  const id = await sessionOf(c, deps.core);
  if (id === null) return c.redirect('/login', 303);
  return render(contextOf(c, 'session', id, { setCookie: () => {} }));
}

/** A free `10.59.X.1/24` to suggest (the original UI's `getNext`, §3). */
function suggestSubnet(taken: readonly SubnetInfo[]): string {
  const used = new Set(taken.map((s) => s.subnet));
  for (let i = 0; i < 256; i++) {
    const candidate = `10.59.${Math.floor(Math.random() * 256)}.1/24`;
    if (!used.has(candidate)) return candidate;
  }
  return '';
}

function query(c: WebContext, name: string): string {
  return c.req.query(name) ?? '';
}

function configParams(c: WebContext): { subnet: string; ip: string; endpoint?: string } {
  const endpoint = query(c, 'endpoint').trim();
  const p = { subnet: query(c, 'subnet'), ip: query(c, 'ip') };
  return endpoint ? { ...p, endpoint } : p;
}

function configQuery(p: { subnet: string; ip: string; endpoint?: string }): string {
  return new URLSearchParams(p).toString();
}

// ---- pages ----------------------------------------------------------------------------------

function overview(status: Loaded<StatusInfo>, web: Loaded<WebStatus>): Html {
  const s = status.ok
    ? html`<dl class="facts">
<dt>Public address</dt><dd>${status.value.wan.address ?? 'not detected'} (${status.value.wan.source})</dd>
<dt>WireGuard port</dt><dd>${status.value.listenPort} (UDP)</dd>
<dt>Server public key</dt><dd><code>${status.value.publicKey}</code></dd>
<dt>Subnets</dt><dd>${status.value.subnets}</dd>
<dt>Devices</dt><dd>${status.value.devices} (${status.value.online} online)</dd>
<dt>Port forwards</dt><dd>${status.value.forwards}</dd>
<dt>Firewall rules</dt><dd>${status.value.nat.ok ? 'applied' : `failed: ${status.value.nat.error ?? ''}`}</dd>
<dt>Version</dt><dd>${status.value.version}</dd>
</dl>`
    : problem(status.error);
  const w = web.ok
    ? html`<dl class="facts">
<dt>Panel address</dt><dd>${web.value.url ?? 'not listening'}</dd>
<dt>Certificate valid until</dt><dd>${web.value.certificate?.notAfter.slice(0, 10) ?? 'none'}</dd>
</dl>`
    : problem(web.error);
  return html`<section aria-labelledby="h-tunnel"><h2 id="h-tunnel">Tunnel</h2>${s}</section>
<section aria-labelledby="h-web"><h2 id="h-web">Panel</h2>${w}</section>`;
}

function subnetsPage(subnets: Loaded<SubnetInfo[]>): Html {
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

function devicesPage(
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

async function configPage(config: Loaded<DeviceConfig>, p: ReturnType<typeof configParams>) {
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

function forwardsPage(forwards: Loaded<ForwardInfo[]>, targets: string[]): Html {
  if (!forwards.ok) return problem(forwards.error);
  const rows = forwards.value.map(
    (f) => html`<tr data-key="${f.source}">
<td>${f.label ?? ''}</td><td><code>${f.source}</code></td><td><code>${f.target}</code></td>
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
          ['Label', 'Source', 'Target', 'Protocol', 'State', 'Packets', 'Traffic', ''],
          html`${rows}`,
          html` data-poll="port-forward.list" data-key="source"`
        );
  return html`<p class="hint" role="status" id="updated" aria-live="polite"></p>
${list}
<h2>Add a port forward</h2>
${rpcForm(
  'port-forward.add',
  html`<label>Label <small>optional</small><input name="label" data-optional maxlength="64"></label>
<label>Public port <small>a port or range (8443, 6000-6010), or IP:PORT for one public address</small>
<input name="source" required autocomplete="off"></label>
<label>Device and port <small>DEVICE_IP:PORT</small>
<input name="target" required list="targets" autocomplete="off"></label>
<datalist id="targets">${targets.map((t) => html`<option value="${t}:">`)}</datalist>
<label>Protocol <select name="protocol"><option value="both">TCP and UDP</option>
<option value="tcp">TCP</option><option value="udp">UDP</option></select></label>
<button type="submit">Add forward</button>`
)}`;
}

function settingsPage(
  web: Loaded<WebStatus>,
  keys: Loaded<KeyInfo[]>,
  sessions: Loaded<SessionInfo[]>
): Html {
  const password = rpcForm(
    'auth.set-password',
    html`<label>Current password <input type="password" name="currentPassword" data-type="raw" autocomplete="current-password" required></label>
<label>New password <small>at least 8 characters</small><input type="password" name="password" data-type="raw" autocomplete="new-password" required minlength="8"></label>
<label>Repeat the new password <input type="password" name="confirm" data-skip data-match="password" autocomplete="new-password" required></label>
<button type="submit">Change password</button>`,
    { flash: 'Password changed. Other sessions were logged out.' }
  );
  const keyRows = keys.ok
    ? keys.value.map(
        (
          k
        ) => html`<tr><td>${k.name}</td><td class="wrap"><code>${k.fingerprint}</code></td><td>${k.addedAt.slice(0, 10)}</td>
<td>${rpcForm(
          'auth.key.remove',
          html`${hidden({ key: k.name })}<input type="password" name="currentPassword" data-type="raw" autocomplete="current-password" required placeholder="Current password" aria-label="Current password to remove key ${k.name}"> <button type="submit" class="danger" aria-label="Remove key ${k.name}">Remove</button>`,
          {
            className: 'inline',
            confirm: `Remove key "${k.name}"? Requests it signs will be refused.`,
          }
        )}</td></tr>`
      )
    : [];
  const keyList = !keys.ok
    ? problem(keys.error)
    : keys.value.length === 0
      ? html`<p>No keys. A key lets the CLI manage this server from another machine.</p>`
      : table('Signing keys', ['Name', 'Fingerprint', 'Added', ''], html`${keyRows}`);
  const sessionRows = sessions.ok
    ? sessions.value.map(
        (
          s
        ) => html`<tr><td>${s.current ? html`<strong>This browser</strong>` : (s.userAgent?.slice(0, 60) ?? 'unknown')}</td>
<td>${s.remoteAddress ?? ''}</td>${ago(s.loggedIn)}${ago(s.lastActive)}
<td>${rpcForm(
          'auth.session.kill',
          html`<input type="hidden" name="ids" value="${s.id}" data-type="list"><button type="submit" class="danger">${s.current ? 'Log out' : 'End session'}</button>`,
          { className: 'inline', onDone: s.current ? 'redirect:/login' : 'reload' }
        )}</td></tr>`
      )
    : [];
  const w = web.ok ? web.value : null;
  const cert = w?.certificate;
  const certificate = !web.ok
    ? problem(web.error)
    : html`<dl class="facts">
<dt>Panel address</dt><dd>${w?.url ?? 'not listening'}</dd>
<dt>Names and addresses</dt><dd>${cert ? [...cert.subjects.ips, ...cert.subjects.dns].join(', ') : 'none'}</dd>
<dt>Valid until</dt><dd>${cert?.notAfter.slice(0, 10) ?? ''}</dd>
<dt>Certificate SHA-256</dt><dd><code>${cert?.fingerprint ?? ''}</code></dd>
<dt>Root CA SHA-256</dt><dd><code>${w?.rootCa?.fingerprint ?? 'not self-issued'}</code></dd>
</dl>
<p class="actions">${w?.rootCa ? html`<a href="/settings/root-ca.crt" download>Download the root CA</a>` : ''}
${cert ? html`<a href="/settings/certificate.pem" download>Download the certificate chain</a>` : ''}</p>
${rpcForm(
  'web.generate-certificate',
  html`<label>Renew the certificate for <small>IPs and DNS names, one per line; the listen address is always included</small>
<textarea name="subject" data-type="list" data-optional>${cert ? [...cert.subjects.ips, ...cert.subjects.dns].join('\n') : ''}</textarea></label>
<button type="submit" class="secondary">Renew certificate</button>`,
  {
    confirm: 'Issue a new certificate now? The panel switches to it at once.',
    flash: 'New certificate in use. The root CA is unchanged.',
  }
)}`;
  return html`<section aria-labelledby="h-pw"><h2 id="h-pw">Password</h2>${password}</section>
<section aria-labelledby="h-keys"><h2 id="h-keys">Signing keys</h2>${keyList}
<h3>Add a key</h3>
${rpcForm(
  'auth.key.add',
  html`<label>Name <input name="name" required maxlength="64"></label>
<label>Ed25519 public key <small>PEM, or an OpenSSH line: ssh-ed25519 AAAA…</small>
<textarea name="key" required spellcheck="false"></textarea></label>
<label>Current password <small>a key keeps access after this session ends</small>
<input type="password" name="currentPassword" data-type="raw" autocomplete="current-password" required></label>
<button type="submit">Add key</button>`
)}</section>
<section aria-labelledby="h-sessions"><h2 id="h-sessions">Sessions</h2>${
    sessions.ok
      ? table(
          'Sessions',
          ['Browser', 'Address', 'Logged in', 'Last active', ''],
          html`${sessionRows}`
        )
      : problem(sessions.error)
  }</section>
<section aria-labelledby="h-cert"><h2 id="h-cert">HTTPS certificate</h2>${certificate}</section>`;
}

// ---- routes ---------------------------------------------------------------------------------

/** Adds the panel's routes to `app`. */
export function registerPanel(app: Hono<WebEnv>, deps: AppDeps): void {
  app.get('/assets/panel.css', (c) => send(c, PANEL_CSS, 'text/css; charset=utf-8'));
  app.get('/assets/panel.js', (c) => send(c, PANEL_JS, 'text/javascript; charset=utf-8'));
  app.get('/assets/icon.svg', (c) => send(c, PANEL_ICON, 'image/svg+xml'));

  app.get('/login', async (c) => {
    if ((await sessionOf(c, deps.core)) !== null) return c.redirect('/', 303);
    return send(c, loginPage(), HTML);
  });

  app.get('/', (c) =>
    withSession(c, deps, async (ctx) => {
      const [status, web] = await Promise.all([
        load<StatusInfo>(deps, ctx, 'status'),
        load<WebStatus>(deps, ctx, 'web.status'),
      ]);
      return send(c, page('Overview', '/', overview(status, web)), HTML);
    })
  );

  app.get('/subnets', (c) =>
    withSession(c, deps, async (ctx) => {
      const subnets = await load<SubnetInfo[]>(deps, ctx, 'subnet.list');
      return send(c, page('Subnets', '/subnets', subnetsPage(subnets)), HTML);
    })
  );

  app.get('/devices', (c) =>
    withSession(c, deps, async (ctx) => {
      const subnets = await load<SubnetInfo[]>(deps, ctx, 'subnet.list');
      const lists = new Map<string, Loaded<DeviceInfo[]>>();
      for (const s of subnets.ok ? subnets.value : []) {
        lists.set(
          s.subnet,
          await load<DeviceInfo[]>(deps, ctx, 'device.list', { subnet: s.subnet })
        );
      }
      return send(c, page('Devices', '/devices', devicesPage(subnets, lists)), HTML);
    })
  );

  app.get('/devices/config', (c) =>
    withSession(c, deps, async (ctx) => {
      const p = configParams(c);
      const config = await load<DeviceConfig>(deps, ctx, 'device.show-config', p);
      const title = config.ok ? `Config for ${config.value.name}` : 'Device config';
      return send(c, page(title, '/devices', await configPage(config, p)), HTML);
    })
  );

  app.get('/devices/config.conf', (c) =>
    withSession(c, deps, async (ctx) => {
      const config = await load<DeviceConfig>(deps, ctx, 'device.show-config', configParams(c));
      if (!config.ok) return send(c, config.error, 'text/plain; charset=utf-8', 404);
      return attachment(c, config.value.config, 'text/plain; charset=utf-8', config.value.filename);
    })
  );

  app.get('/devices/config.svg', (c) =>
    withSession(c, deps, async (ctx) => {
      const config = await load<DeviceConfig>(deps, ctx, 'device.show-config', configParams(c));
      if (!config.ok) return send(c, config.error, 'text/plain; charset=utf-8', 404);
      const svg = await QRCode.toString(config.value.config, {
        type: 'svg',
        errorCorrectionLevel: 'M',
        margin: 2,
      });
      return send(c, raw(svg), 'image/svg+xml');
    })
  );

  app.get('/forwards', (c) =>
    withSession(c, deps, async (ctx) => {
      const forwards = await load<ForwardInfo[]>(deps, ctx, 'port-forward.list');
      const subnets = await load<SubnetInfo[]>(deps, ctx, 'subnet.list');
      const targets: string[] = [];
      for (const s of subnets.ok ? subnets.value : []) {
        const list = await load<DeviceInfo[]>(deps, ctx, 'device.list', { subnet: s.subnet });
        if (list.ok) targets.push(...list.value.map((d) => d.ip));
      }
      return send(c, page('Port forwards', '/forwards', forwardsPage(forwards, targets)), HTML);
    })
  );

  app.get('/settings', (c) =>
    withSession(c, deps, async (ctx) => {
      const [web, keys, sessions] = await Promise.all([
        load<WebStatus>(deps, ctx, 'web.status'),
        load<KeyInfo[]>(deps, ctx, 'auth.key.list'),
        load<SessionInfo[]>(deps, ctx, 'auth.session.list'),
      ]);
      return send(c, page('Settings', '/settings', settingsPage(web, keys, sessions)), HTML);
    })
  );

  app.get('/settings/root-ca.crt', (c) =>
    withSession(c, deps, async (ctx) => {
      const root = await load<{ pem: string } | null>(deps, ctx, 'web.get-root-ca');
      if (!root.ok || root.value === null) {
        return send(c, 'No self-issued root CA', 'text/plain; charset=utf-8', 404);
      }
      return attachment(
        c,
        root.value.pem,
        'application/x-x509-ca-cert',
        'start-tunnel-root-ca.crt'
      );
    })
  );

  app.get('/settings/certificate.pem', (c) =>
    withSession(c, deps, async (ctx) => {
      const cert = await load<{ chain: string } | null>(deps, ctx, 'web.get-certificate');
      if (!cert.ok || cert.value === null) {
        return send(c, 'No certificate', 'text/plain; charset=utf-8', 404);
      }
      return attachment(c, cert.value.chain, 'application/x-pem-file', 'start-tunnel-chain.pem');
    })
  );

  app.notFound((c) => {
    if (c.req.path.startsWith('/rpc/')) return c.json({ error: 'Not found' }, 404);
    return send(c, 'Not found', 'text/plain; charset=utf-8', 404);
  });
}
