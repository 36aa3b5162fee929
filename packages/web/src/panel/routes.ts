// SPDX-License-Identifier: MIT
/**
 * The panel's routes: the login page, the six pages of the logged-in panel (overview, subnets,
 * devices, port forwards, DNS records, settings; the last five as in the original's UI,
 * https://github.com/Start9Labs/start-os/tree/v0.4.0-beta.9/web/projects/start-tunnel/src/app/routes/home/routes,
 * without the parts we do not have), the device config page with its QR code and download, the
 * certificate downloads and the static assets. Each page's markup is in its own file
 * (`subnets.ts`, `devices.ts`, `forwards.ts`, `dns.ts`, `settings.ts`; their larger sections
 * in theirs); here the data is read and the routes answered. Pages read through the same
 * dispatcher as `/rpc/v0`, with the caller's session as context, so they can show nothing the
 * API would not. A page without a live session redirects to `/login`.
 * @module
 */

import type {
  DeviceConfig,
  DeviceInfo,
  DnsRecordInfo,
  ForwardInfo,
  KeyInfo,
  PinholeInfo,
  RedirectInfo,
  RpcContext,
  StatusInfo,
  SubnetInfo,
  WanInfo,
  WebStatus,
} from '@start-tunnel/protocol';
import type { Hono } from 'hono';
import QRCode from 'qrcode';
import { type AppDeps, contextOf, sessionOf, type WebContext, type WebEnv } from '../http.ts';
import type { SessionInfo } from '../session.ts';
import { PANEL_CSS, PANEL_ICON, PANEL_JS } from './assets.ts';
import { automaticSection } from './automatic.ts';
import { type ConfigParams, configPage, devicesPage } from './devices.ts';
import { dnsPage } from './dns.ts';
import { forwardsPage } from './forwards.ts';
import { type Html, html, raw } from './html.ts';
import { type Loaded, loginPage, page, problem } from './layout.ts';
import { pinholesSection } from './pinholes.ts';
import { settingsPage } from './settings.ts';
import { subnetsPage } from './subnets.ts';
import { wanChoices } from './wan.ts';

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

/** The public IPv4s a WAN input offers (see `wan.ts`). */
async function loadWanChoices(deps: AppDeps, ctx: RpcContext): Promise<string[]> {
  const [redirects, available] = await Promise.all([
    load<RedirectInfo[]>(deps, ctx, 'http-redirect.list'),
    load<string[]>(deps, ctx, 'web.get-available-ips'),
  ]);
  return wanChoices(redirects, available);
}

/** Each subnet's devices, by subnet. */
async function loadDevices(
  deps: AppDeps,
  ctx: RpcContext,
  subnets: Loaded<SubnetInfo[]>
): Promise<Map<string, Loaded<DeviceInfo[]>>> {
  const lists = new Map<string, Loaded<DeviceInfo[]>>();
  for (const s of subnets.ok ? subnets.value : []) {
    lists.set(s.subnet, await load<DeviceInfo[]>(deps, ctx, 'device.list', { subnet: s.subnet }));
  }
  return lists;
}

/** Every device of every subnet (those that could be read). */
async function allDevices(deps: AppDeps, ctx: RpcContext): Promise<DeviceInfo[]> {
  const lists = await loadDevices(deps, ctx, await load<SubnetInfo[]>(deps, ctx, 'subnet.list'));
  return [...lists.values()].flatMap((l) => (l.ok ? l.value : []));
}

function query(c: WebContext, name: string): string {
  return c.req.query(name) ?? '';
}

function configParams(c: WebContext): ConfigParams {
  const endpoint = query(c, 'endpoint').trim();
  const p = { subnet: query(c, 'subnet'), ip: query(c, 'ip') };
  return endpoint ? { ...p, endpoint } : p;
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
      const [subnets, wan, choices] = await Promise.all([
        load<SubnetInfo[]>(deps, ctx, 'subnet.list'),
        load<WanInfo>(deps, ctx, 'wan.show'),
        loadWanChoices(deps, ctx),
      ]);
      const lists = await loadDevices(deps, ctx, subnets);
      const content = subnetsPage(subnets, wan, choices, lists);
      return send(c, page('Subnets', '/subnets', content), HTML);
    })
  );

  app.get('/devices', (c) =>
    withSession(c, deps, async (ctx) => {
      const [subnets, wan, choices, forwards, pinholes] = await Promise.all([
        load<SubnetInfo[]>(deps, ctx, 'subnet.list'),
        load<WanInfo>(deps, ctx, 'wan.show'),
        loadWanChoices(deps, ctx),
        load<ForwardInfo[]>(deps, ctx, 'port-forward.list'),
        load<PinholeInfo[]>(deps, ctx, 'pinhole.list'),
      ]);
      const lists = await loadDevices(deps, ctx, subnets);
      const data = { subnets, lists, wan, choices, forwards, pinholes };
      return send(c, page('Devices', '/devices', devicesPage(data)), HTML);
    })
  );

  app.get('/devices/config', (c) =>
    withSession(c, deps, async (ctx) => {
      const p = configParams(c);
      const config = await load<DeviceConfig>(deps, ctx, 'device.show-config', p);
      const title = config.ok ? `Config for ${config.value.name}` : 'Device config';
      return send(c, page(title, '/devices', configPage(config, p)), HTML);
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
      const pinholes = await load<PinholeInfo[]>(deps, ctx, 'pinhole.list');
      const devices = await allDevices(deps, ctx);
      const content = html`${forwardsPage(forwards, devices)}
${automaticSection(forwards, devices)}
${pinholesSection(pinholes, devices)}`;
      return send(c, page('Port forwards', '/forwards', content), HTML);
    })
  );

  app.get('/dns', (c) =>
    withSession(c, deps, async (ctx) => {
      const records = await load<DnsRecordInfo[]>(deps, ctx, 'dns.list');
      const content = dnsPage(records, await allDevices(deps, ctx));
      return send(c, page('DNS records', '/dns', content), HTML);
    })
  );

  app.get('/settings', (c) =>
    withSession(c, deps, async (ctx) => {
      const [web, keys, sessions, redirects] = await Promise.all([
        load<WebStatus>(deps, ctx, 'web.status'),
        load<KeyInfo[]>(deps, ctx, 'auth.key.list'),
        load<SessionInfo[]>(deps, ctx, 'auth.session.list'),
        load<RedirectInfo[]>(deps, ctx, 'http-redirect.list'),
      ]);
      const content = settingsPage(web, keys, sessions, redirects);
      return send(c, page('Settings', '/settings', content), HTML);
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
