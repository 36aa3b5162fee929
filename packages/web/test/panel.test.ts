// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyDnsChanges, leaseKey, mapAuto } from '@start-tunnel/tunnel';
import { generateSigningKey, hashPassword, signatureContext, signRequest } from '../src/index.ts';
import { generateCertificate } from '../src/tls.ts';
import {
  CHEAP_ARGON2,
  call,
  get,
  type Kit,
  kit,
  login,
  PASSWORD,
  PLANTED_DEVICE_KEY,
  setPassword,
} from './_fixture.ts';

const PAGES = ['/', '/subnets', '/devices', '/forwards', '/dns', '/settings'];

/** The table row of a page with this `data-key` (empty when there is none). */
function rowOf(html: string, key: string): string {
  const at = html.indexOf(`<tr role="row" data-key="${key}">`);
  return at < 0 ? '' : html.slice(at, html.indexOf('</tr>', at) + 5);
}

async function loggedIn(): Promise<{ k: Kit; cookie: string }> {
  const k = kit();
  await setPassword(k);
  return { k, cookie: await login(k) };
}

describe('panel pages', () => {
  it('send a visitor without a session to the login page', async () => {
    const k = kit();
    for (const path of [...PAGES, '/devices/config?subnet=x&ip=y', '/settings/root-ca.crt']) {
      const res = await get(k, path);
      assert.equal(res.status, 303, path);
      assert.equal(res.headers.get('location'), '/login');
    }
    const loginPage = await get(k, '/login');
    assert.equal(loginPage.status, 200);
    const html = await loginPage.text();
    assert.match(html, /<form class="card" data-rpc="auth\.login"/);
    assert.match(
      html,
      /<input type="password" name="password"[^>]*autocomplete="current-password"/
    );
    assert.match(html, /<html lang="en">/);
    assert.match(html, /name="viewport"/);
  });

  it('render every page with a session, with no external asset and no inline script or style', async () => {
    const { k, cookie } = await loggedIn();
    assert.equal((await get(k, '/login', cookie)).status, 303, 'logged in: /login goes home');
    for (const path of PAGES) {
      const res = await get(k, path, cookie);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const html = await res.text();
      assert.doesNotMatch(
        html,
        /(src|href)="(https?:)?\/\//,
        `${path} loads nothing from elsewhere`
      );
      assert.doesNotMatch(
        html,
        /<script>|<script [^>]*>[^<]|style="|<style|\son[a-z]+="/,
        `${path}: no inline code`
      );
      assert.match(html, /<nav aria-label="Main">/);
      assert.match(html, new RegExp(`<a href="${path}" aria-current="page">`));
      assert.match(html, /<a class="skip" href="#main">/);
    }
  });

  it('show the overview and the subnet list, and escape what users typed', async () => {
    const { k, cookie } = await loggedIn();
    await call(
      k,
      'subnet.add',
      { subnet: '10.59.8.1/24', name: '<img src=x onerror=alert(1)>' },
      { cookie }
    );
    const overview = await (await get(k, '/', cookie)).text();
    assert.match(overview, /203\.0\.113\.7/);
    assert.match(overview, /51820/);
    const subnets = await (await get(k, '/subnets', cookie)).text();
    assert.match(subnets, /Default Subnet/);
    assert.match(subnets, /&lt;img src=x onerror=alert\(1\)&gt;/);
    assert.doesNotMatch(subnets, /<img src=x/);
    assert.match(subnets, /data-rpc="subnet\.remove"/);
    assert.match(subnets, /name="subnet" value="10\.59\.\d+\.1\/24"/, 'a free range is suggested');
  });

  it('show the IPv6 prefix and WAN of each subnet, with the forms to set and clear them', async () => {
    const { k, cookie } = await loggedIn();
    const before = await (await get(k, '/subnets', cookie)).text();
    assert.match(before, /<th role="columnheader" scope="col">IPv6<\/th>/);
    assert.match(before, /<td role="cell" data-label="IPv6">—/, 'no prefix: a dash');
    assert.match(
      before,
      /<td role="cell" data-label="WAN"><span>Default <small class="hint">203\.0\.113\.7<\/small>/,
      'no WAN: the default, with the address in use'
    );
    assert.match(before, /<form class="stack" data-rpc="subnet\.set-ipv6"/);
    assert.match(before, /<input name="prefix" value="" required/);
    assert.match(before, /<input name="wanIp" list="wan-choices" value="" required/);
    assert.match(before, /<datalist id="wan-choices"><option value="203\.0\.113\.7"><\/datalist>/);
    assert.doesNotMatch(before, /data-empty="null"/, 'nothing to clear yet');

    const set = await call(
      k,
      'subnet.set-ipv6',
      { subnet: '10.59.7.1/24', prefix: '2001:db8:7::/64' },
      { cookie }
    );
    assert.equal(set.body.error, undefined);
    await call(k, 'subnet.set-wan', { subnet: '10.59.7.1/24', wanIp: '203.0.113.9' }, { cookie });
    const after = await (await get(k, '/subnets', cookie)).text();
    assert.match(after, /<td role="cell" data-label="IPv6"><code>2001:db8:7::\/64<\/code>/);
    assert.match(after, /<input name="prefix" value="2001:db8:7::\/64" required/);
    assert.match(
      after,
      /<input type="hidden" name="prefix" value="" data-empty="null"><button type="submit" class="danger">Turn IPv6 off/
    );
    assert.match(after, /data-confirm="Turn IPv6 off for subnet &quot;Default Subnet&quot;\?/);
    assert.match(after, /<td role="cell" data-label="WAN"><code>203\.0\.113\.9<\/code>/);
    assert.match(
      after,
      /<input type="hidden" name="wanIp" value="" data-empty="null"><button type="submit" class="secondary">Use the default/
    );
  });

  it("show where each subnet's resolver forwards, with a form for each mode", async () => {
    const { k, cookie } = await loggedIn();
    const c = (m: string, p: unknown) => call(k, m, p, { cookie });
    const before = await (await get(k, '/subnets', cookie)).text();
    const row = rowOf(before, '10.59.7.1/24');
    assert.match(row, /data-label="DNS"><span>The server's resolvers<\/span>/);
    assert.doesNotMatch(row, /name="mode" value="default"/, 'already the default');
    assert.match(row, /Or a device of the subnet, once it has one/);
    assert.match(
      row,
      /name="mode" value="custom"><label>Servers <small>1 to 3[^<]*<\/small>\n<input name="servers" data-type="list" value="" required/
    );
    assert.match(
      row,
      /Devices ask the gateway \(10\.59\.7\.1\): it answers the <a href="\/dns">DNS records/
    );

    await c('device.add', { subnet: '10.59.7.1/24', name: 'pihole', kind: 'server' });
    const custom = await c('subnet.set-dns', {
      subnet: '10.59.7.1/24',
      mode: 'custom',
      servers: ['1.1.1.1', '[2606:4700:4700::1111]:53'],
    });
    assert.equal(custom.body.error, undefined);
    const set = rowOf(await (await get(k, '/subnets', cookie)).text(), '10.59.7.1/24');
    assert.match(
      set,
      /data-label="DNS"><span><code>1\.1\.1\.1:53<\/code>, <code>\[2606:4700:4700::1111\]:53<\/code><\/span>/
    );
    assert.match(
      set,
      /name="servers" data-type="list" value="1\.1\.1\.1:53, \[2606:4700:4700::1111\]:53"/
    );
    assert.match(
      set,
      /name="mode" value="default"><button type="submit" class="secondary">Use the server's resolvers/
    );
    assert.match(
      set,
      /name="mode" value="device"><label>A device[\s\S]*<select name="deviceIp" required><option value="10\.59\.7\.2">pihole \(10\.59\.7\.2\)<\/option>/
    );

    await c('subnet.set-dns', { subnet: '10.59.7.1/24', mode: 'device', deviceIp: '10.59.7.2' });
    const device = rowOf(await (await get(k, '/subnets', cookie)).text(), '10.59.7.1/24');
    assert.match(device, /data-label="DNS"><span>pihole <small class="hint">10\.59\.7\.2<\/small>/);
    assert.match(device, /<option value="10\.59\.7\.2" selected>pihole/);
  });

  it('list devices with live-polled status and link their config page with the QR code', async () => {
    const { k, cookie } = await loggedIn();
    await call(k, 'device.add', { subnet: '10.59.7.1/24', name: 'phone' }, { cookie });
    const devices = await (await get(k, '/devices', cookie)).text();
    assert.match(
      devices,
      /<tbody role="rowgroup" data-poll="device\.list" data-params="\{&quot;subnet&quot;:&quot;10\.59\.7\.1\/24&quot;\}" data-key="ip">/
    );
    assert.match(devices, /<tr role="row" data-key="10\.59\.7\.2">/);
    assert.match(devices, /data-field="online" data-format="online"/);
    assert.match(devices, /data-field="rxBytes" data-format="bytes">0 B</);
    assert.match(devices, /href="\/devices\/config\?subnet=10\.59\.7\.1%2F24&amp;ip=10\.59\.7\.2"/);
    assert.match(devices, /data-rpc="device\.add" data-then="config"/);
    assert.equal(devices.includes(PLANTED_DEVICE_KEY), false, 'no private key on the list');

    const q = 'subnet=10.59.7.1%2F24&ip=10.59.7.2';
    const page = await (await get(k, `/devices/config?${q}`, cookie)).text();
    assert.match(
      page,
      /<img class="qr" src="\/devices\/config\.svg\?subnet=10\.59\.7\.1%2F24&amp;ip=10\.59\.7\.2" alt="QR code/
    );
    const svg = await get(k, `/devices/config.svg?${q}`, cookie);
    assert.equal(svg.headers.get('content-type'), 'image/svg+xml');
    assert.match(await svg.text(), /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    const file = await get(k, `/devices/config.conf?${q}`, cookie);
    assert.equal(
      file.headers.get('content-disposition'),
      'attachment; filename="start-tunnel.conf"'
    );
    assert.equal(file.headers.get('cache-control'), 'no-store');
    assert.match(await file.text(), /^# StartTunnel config for phone/);
    const withEndpoint = await (
      await get(k, `/devices/config.conf?${q}&endpoint=vpn.example.org`, cookie)
    ).text();
    assert.match(withEndpoint, /Endpoint = vpn\.example\.org:51820/);
    const missing = await get(
      k,
      '/devices/config.conf?subnet=10.59.7.1%2F24&ip=10.59.7.99',
      cookie
    );
    assert.equal(missing.status, 404);
  });

  it('show the kind, IPv6 address and WAN of each device, with the forms to change them', async () => {
    const { k, cookie } = await loggedIn();
    const c = (m: string, p: unknown) => call(k, m, p, { cookie });
    await c('subnet.set-ipv6', { subnet: '10.59.7.1/24', prefix: '2001:db8:7::/64' });
    await c('device.add', { subnet: '10.59.7.1/24', name: 'phone' });
    await c('device.add', { subnet: '10.59.7.1/24', name: 'srv', kind: 'server' });
    await c('port-forward.add', { source: '8443', target: '10.59.7.3:443' });
    await c('pinhole.add', { gua: '2001:db8:7::a3b:703', externalPort: 443 });
    const html = await (await get(k, '/devices', cookie)).text();
    const phone = rowOf(html, '10.59.7.2');
    const srv = rowOf(html, '10.59.7.3');
    assert.match(phone, /data-label="Kind"><span>Client<\/span>/);
    assert.match(phone, /name="kind" value="server">.*aria-label="Make phone a server"/);
    assert.doesNotMatch(
      phone,
      /data-rpc="device\.set-kind"[^>]*data-confirm/,
      'promotion asks nothing'
    );
    assert.match(srv, /data-label="Kind"><span>Server<\/span>/);
    assert.match(
      srv,
      /data-confirm="Make &quot;srv&quot; a client\? A client publishes nothing: this removes its 1 port forward\(s\) and 1 pinhole\(s\)\."/,
      'demotion warns what it removes'
    );
    assert.match(phone, /data-label="IPv6"><code>2001:db8:7::a3b:702<\/code>/);
    assert.match(
      phone,
      /data-label="WAN"><span>203\.0\.113\.7 <small class="hint">inherited: the server's default<\/small>/
    );
    assert.match(phone, /<form class="stack" data-rpc="device\.set-wan"/);
    assert.doesNotMatch(phone, /name="wanIp" value="" data-empty="null"/, 'nothing to clear');
    assert.match(html, /<datalist id="wan-choices">/);
    assert.match(
      html,
      /<select name="kind"><option value="client">Client<\/option><option value="server">Server/
    );

    await c('subnet.set-wan', { subnet: '10.59.7.1/24', wanIp: '203.0.113.9' });
    await c('device.set-wan', { subnet: '10.59.7.1/24', ip: '10.59.7.3', wanIp: '203.0.113.10' });
    const next = await (await get(k, '/devices', cookie)).text();
    assert.match(
      next,
      /data-label="WAN"><span><code>203\.0\.113\.9<\/code> <small class="hint">inherited from the subnet<\/small>/
    );
    assert.match(next, /data-label="WAN"><code>203\.0\.113\.10<\/code>/);
    assert.match(
      next,
      /name="ip" value="10\.59\.7\.3"><input type="hidden" name="wanIp" value="" data-empty="null"><button type="submit" class="secondary">Follow the subnet/
    );
  });

  it("show a server's DNS injection and Auto-publish switches, and its DNS key only on demand", async () => {
    const { k, cookie } = await loggedIn();
    const c = (m: string, p: unknown) => call(k, m, p, { cookie });
    await c('device.add', { subnet: '10.59.7.1/24', name: 'phone' });
    await c('device.add', { subnet: '10.59.7.1/24', name: 'srv', kind: 'server' });
    await k.tunnel.tunnel.change((s) => ({
      state: mapAuto(
        s,
        { now: () => new Date(k.clock.ms) },
        {
          device: '10.59.7.3',
          family: 4,
          protocol: 'tcp',
          internalPort: 443,
          externalPort: 0,
          count: 1,
          description: '',
        }
      ).state,
      result: null,
    }));
    const html = await (await get(k, '/devices', cookie)).text();
    const srv = rowOf(html, '10.59.7.3');
    assert.match(
      srv,
      /data-label="DNS injection"><form class="inline" data-rpc="device\.set-dns-injection"[^>]*>\n<input type="hidden" name="subnet" value="10\.59\.7\.1\/24"><input type="hidden" name="ip" value="10\.59\.7\.3"><input type="hidden" name="enabled" value="false" data-type="boolean"><button type="submit" class="switch" role="switch" aria-checked="true" aria-label="DNS injection for srv">On<\/button>/
    );
    assert.match(
      srv,
      /<details class="change" data-secret="device\.dns-key" data-params="\{&quot;subnet&quot;:&quot;10\.59\.7\.1\/24&quot;,&quot;ip&quot;:&quot;10\.59\.7\.3&quot;\}" data-template="nsupdate -y \{algorithm\}:\{keyName\}:\{secret\}\nserver \{server\}">/
    );
    assert.match(
      srv,
      /<pre class="secret" data-slot aria-live="polite"><\/pre>/,
      'empty until opened'
    );
    assert.match(
      srv,
      /data-rpc="device\.set-auto-port-forward"[^>]*data-confirm="Turn Auto-publish off for &quot;srv&quot;\? This removes its 1 automatic forward\(s\) and 0 pinhole\(s\) \(PCP, UPnP\)\."[\s\S]*role="switch" aria-checked="true" aria-label="Auto-publish for srv">On</
    );
    const phone = rowOf(html, '10.59.7.2');
    assert.match(
      phone,
      /data-label="DNS injection">—<\/td><td role="cell" data-label="Auto-publish">—</
    );
    const key = await c('device.dns-key', { subnet: '10.59.7.1/24', ip: '10.59.7.3' });
    const secret = (key.body.result as { secret: string }).secret;
    assert.equal(secret.length, 44);
    assert.equal(html.includes(secret), false, 'the key is not in the page');

    await c('device.set-auto-port-forward', {
      subnet: '10.59.7.1/24',
      ip: '10.59.7.3',
      enabled: false,
    });
    await c('device.set-dns-injection', {
      subnet: '10.59.7.1/24',
      ip: '10.59.7.3',
      enabled: false,
    });
    const off = rowOf(await (await get(k, '/devices', cookie)).text(), '10.59.7.3');
    assert.match(
      off,
      /name="enabled" value="true" data-type="boolean"><button type="submit" class="switch" role="switch" aria-checked="false" aria-label="Auto-publish for srv">Off/
    );
    assert.doesNotMatch(off, /data-confirm="Turn Auto-publish/, 'turning it on asks nothing');
    assert.doesNotMatch(off, /data-secret/, 'no key while DNS injection is off');
  });

  it('list forwards with counters, enable/disable and protocol choice', async () => {
    const { k, cookie } = await loggedIn();
    await call(k, 'device.add', { subnet: '10.59.7.1/24', name: 'srv' }, { cookie });
    await call(
      k,
      'port-forward.add',
      { source: '8443', target: '10.59.7.2:443', protocol: 'tcp', label: 'web' },
      { cookie }
    );
    const html = await (await get(k, '/forwards', cookie)).text();
    assert.match(
      html,
      /<tbody role="rowgroup" data-poll="port-forward\.list" data-key="kind source hostname">/
    );
    assert.match(rowOf(html, 'dnat 8443'), /<td role="cell" data-label="Protocol">TCP<\/td>/);
    assert.match(html, /name="enabled" value="false" data-type="boolean"/);
    assert.match(html, /<select name="protocol" data-optional><option value="">TCP and UDP/);
    assert.match(html, /data-field="packets" data-format="count">0</);
  });

  it('show the address each forward answers on', async () => {
    const { k, cookie } = await loggedIn();
    const c = (m: string, p: unknown) => call(k, m, p, { cookie });
    await c('device.add', { subnet: '10.59.7.1/24', name: 'phone' });
    await c('device.add', { subnet: '10.59.7.1/24', name: 'srv', kind: 'server' });
    await c('device.set-wan', { subnet: '10.59.7.1/24', ip: '10.59.7.3', wanIp: '203.0.113.9' });
    await c('port-forward.add', { source: '2222', target: '10.59.7.2:22' });
    await c('port-forward.add', { source: '8443', target: '10.59.7.3:443' });
    const html = await (await get(k, '/forwards', cookie)).text();
    assert.match(html, /<th role="columnheader" scope="col">Answers on<\/th>/);
    assert.match(rowOf(html, 'dnat 2222'), /data-label="Answers on">all WAN addresses</);
    assert.match(rowOf(html, 'dnat 8443'), /data-label="Answers on"><code>203\.0\.113\.9<\/code>/);
  });

  it('group SNI routes under their port, the fallback marked, each route changed on its own', async () => {
    const { k, cookie } = await loggedIn();
    const c = (m: string, p: unknown) => call(k, m, p, { cookie });
    await c('device.add', { subnet: '10.59.7.1/24', name: 'srv', kind: 'server' });
    await c('device.add', { subnet: '10.59.7.1/24', name: 'nas', kind: 'server' });
    const added = await c('port-forward.add', {
      source: '443',
      target: '10.59.7.2:443',
      sni: ['b.example', 'a.example'],
      fallback: true,
      proxyProtocol: true,
      label: 'sites',
    });
    assert.equal(added.body.error, undefined);
    await c('port-forward.set-enabled', { source: '443', hostname: 'b.example', enabled: false });
    await c('port-forward.add', { source: '8443', target: '10.59.7.3:443' });
    const html = await (await get(k, '/forwards', cookie)).text();
    assert.match(html, /<h3>Port <code>443<\/code> by TLS hostname/);
    const a = rowOf(html, 'sni 443 a.example');
    assert.match(
      a,
      /data-label="Route" class="wrap"><code>a\.example<\/code> → <code>10\.59\.7\.2:443<\/code> <small class="hint">srv<\/small>/
    );
    assert.match(a, /data-label="PROXY protocol">PROXY v2</);
    assert.match(
      a,
      /data-rpc="port-forward\.update-label"[^>]*>\n<input type="hidden" name="source" value="443"><input type="hidden" name="hostname" value="a\.example"><span class="actions"><input name="label" value="sites"/
    );
    assert.match(
      a,
      /data-rpc="port-forward\.remove"[^>]*data-confirm="Remove the route of a\.example on port 443\?">\n<input type="hidden" name="source" value="443"><input type="hidden" name="hostname" value="a\.example">/
    );
    assert.match(
      rowOf(html, 'sni 443 b.example'),
      /name="hostname" value="b\.example"><input type="hidden" name="enabled" value="true" data-type="boolean"><button[^>]*aria-label="Enable route b\.example on 443">Disabled: enable/
    );
    const fallback = rowOf(html, 'sni 443');
    assert.match(
      fallback,
      /<span class="tag">Fallback<\/span> any other hostname → <code>10\.59\.7\.2:443/
    );
    assert.match(
      fallback,
      /name="hostname" value=""><input type="hidden" name="enabled" value="false"/
    );
    assert.doesNotMatch(
      fallback,
      /data-rpc="port-forward\.remove"/,
      'a fallback goes with its port'
    );
    assert.match(
      html,
      /data-confirm="Remove port 443 with its 3 route\(s\), the fallback included\?[^"]*">\n<input type="hidden" name="source" value="443"><button/
    );
    assert.match(rowOf(html, 'dnat 8443'), /data-label="Target"><code>10\.59\.7\.3:443/);
    assert.equal(rowOf(html, 'dnat 443'), '', 'routes are not plain forwards');
    assert.match(html, /<input name="sni" data-type="list" data-optional/);
    assert.match(html, /<input type="checkbox" name="fallback">/);
    assert.match(html, /<input type="checkbox" name="proxyProtocol">/);
  });

  it('show automatic forwards apart with their lease end, and tag automatic pinholes', async () => {
    const { k, cookie } = await loggedIn();
    const c = (m: string, p: unknown) => call(k, m, p, { cookie });
    const { tunnel, leases } = k.tunnel;
    const env = { now: () => new Date(k.clock.ms) };
    await c('subnet.set-ipv6', { subnet: '10.59.7.1/24', prefix: '2001:db8:7::/64' });
    await c('device.add', { subnet: '10.59.7.1/24', name: 'srv', kind: 'server' });
    await c('port-forward.add', { source: '2222', target: '10.59.7.2:22' });
    await c('pinhole.add', { gua: '2001:db8:7::a3b:702', externalPort: 22 });
    const map = (family: 4 | 6, port: number, description: string) =>
      tunnel.change((s) => ({
        state: mapAuto(s, env, {
          device: family === 4 ? '10.59.7.2' : '2001:db8:7::a3b:702',
          family,
          protocol: 'both',
          internalPort: port,
          externalPort: 0,
          count: 1,
          description,
        }).state,
        result: null,
      }));
    await map(4, 8080, 'nas web');
    await map(6, 8443, '');
    leases.set(leaseKey('forward', '8080'), '2026-03-01T13:00:00.000Z');
    await c('port-forward.add', { source: '443', target: '10.59.7.2:443', sni: ['c.example'] });
    await tunnel.change((s) => {
      const port = structuredClone(s.sni['443']!);
      port.routes['c.example']!.auto = true;
      return { state: { ...s, sni: { ...s.sni, '443': port } }, result: null };
    });
    const html = await (await get(k, '/forwards', cookie)).text();
    const manual = html.slice(html.indexOf('id="h-manual"'), html.indexOf('id="h-auto"'));
    assert.ok(rowOf(manual, 'dnat 2222'));
    assert.equal(rowOf(manual, 'dnat 8080'), '', 'automatic ones are not manual');
    assert.doesNotMatch(manual, /c\.example/);
    const auto = html.slice(html.indexOf('id="h-auto"'), html.indexOf('id="h-pinholes"'));
    assert.match(
      auto,
      /<tbody role="rowgroup" data-poll="port-forward\.list" data-key="kind source hostname">/
    );
    const web = rowOf(auto, 'dnat 8080');
    assert.match(web, /data-label="Device">srv <small class="hint">10\.59\.7\.2</);
    assert.match(web, /data-label="Label">nas web</);
    assert.match(
      web,
      /data-label="Lease ends" data-field="expiresAt" data-format="lease" data-value="2026-03-01T13:00:00\.000Z"><time datetime="2026-03-01T13:00:00\.000Z">2026-03-01 13:00:00 UTC/
    );
    assert.match(web, /aria-label="Disable forward 8080"/);
    const route = rowOf(auto, 'sni 443 c.example');
    assert.match(route, /<code>c\.example<\/code> → <code>10\.59\.7\.2:443/);
    assert.match(route, /data-value="">permanent</);
    const pinholes = html.slice(html.indexOf('id="h-pinholes"'));
    assert.match(
      rowOf(pinholes, '[2001:db8:7::a3b:702]:8443'),
      /<span class="tag">Automatic<\/span>/
    );
    assert.doesNotMatch(rowOf(pinholes, '[2001:db8:7::a3b:702]:22'), /Automatic/);
  });

  it('list IPv6 pinholes with enable/disable, relabel and remove, and open one on a device with an IPv6 address', async () => {
    const { k, cookie } = await loggedIn();
    const c = (m: string, p: unknown) => call(k, m, p, { cookie });
    await c('device.add', { subnet: '10.59.7.1/24', name: 'phone' });
    const none = await (await get(k, '/forwards', cookie)).text();
    assert.match(none, /<h2 id="h-pinholes">IPv6 pinholes<\/h2>/);
    assert.match(none, /No pinholes yet/);
    assert.match(none, /No device has an IPv6 address yet: give its subnet an IPv6 prefix/);
    assert.doesNotMatch(none, /data-rpc="pinhole\.add"/);

    await c('subnet.set-ipv6', { subnet: '10.59.7.1/24', prefix: '2001:db8:7::/64' });
    await c('device.add', { subnet: '10.59.7.1/24', name: '<b>srv</b>', kind: 'server' });
    const added = await c('pinhole.add', {
      gua: '2001:db8:7::a3b:703',
      externalPort: 1000,
      count: 3,
      internalPort: 2000,
      label: 'games',
    });
    assert.equal(added.body.error, undefined);
    await c('pinhole.add', { gua: '2001:db8:7::a3b:702', externalPort: 443 });
    await c('pinhole.set-enabled', {
      gua: '2001:db8:7::a3b:702',
      externalPort: 443,
      enabled: false,
    });
    const html = await (await get(k, '/forwards', cookie)).text();
    const games = rowOf(html, '[2001:db8:7::a3b:703]:1000');
    assert.match(
      games,
      /data-label="Device">&lt;b&gt;srv&lt;\/b&gt; <small class="hint">10\.59\.7\.3/
    );
    assert.match(games, /data-label="IPv6 address"><code>2001:db8:7::a3b:703<\/code>/);
    assert.match(games, /data-label="Ports">1000-1002</);
    assert.match(games, /data-label="Device ports">2000-2002</);
    assert.match(games, /data-rpc="pinhole\.update-label"[\s\S]*name="label" value="games"/);
    assert.match(
      games,
      /name="externalPort" value="1000" data-type="number"><input type="hidden" name="enabled" value="false" data-type="boolean"><button[^>]*>Enabled: disable/
    );
    assert.match(games, /data-rpc="pinhole\.remove"[^>]*data-confirm="Close the pinhole/);
    const web = rowOf(html, '[2001:db8:7::a3b:702]:443');
    assert.match(web, /data-label="Ports">443<\/td><td role="cell" data-label="Device ports">443</);
    assert.match(
      web,
      /name="enabled" value="true" data-type="boolean"><button[^>]*>Disabled: enable/
    );
    assert.match(
      html,
      /<select name="gua" required><option value="2001:db8:7::a3b:702">phone \(10\.59\.7\.2\) 2001:db8:7::a3b:702<\/option><option value="2001:db8:7::a3b:703">/
    );
    assert.match(html, /<input name="externalPort" data-type="number" required/);
    assert.match(html, /<input name="internalPort" data-type="number" data-optional/);
  });

  it('list manual DNS records apart from those devices published, with add and remove', async () => {
    const { k, cookie } = await loggedIn();
    const c = (m: string, p: unknown) => call(k, m, p, { cookie });
    const none = await (await get(k, '/dns', cookie)).text();
    assert.match(none, /<a href="\/dns" aria-current="page">DNS records<\/a>/);
    assert.match(none, /No manual records yet/);
    assert.match(none, /None published/);
    assert.match(
      none,
      /<form class="card" data-rpc="dns\.add"[\s\S]*<select name="type"><option value="A">A<\/option><option value="AAAA">AAAA<\/option><option value="CNAME">CNAME<\/option><option value="TXT">TXT<\/option><\/select>[\s\S]*<input name="ttl" data-type="number" data-optional/
    );

    await c('device.add', { subnet: '10.59.7.1/24', name: 'nas', kind: 'server' });
    assert.equal(
      (await c('dns.add', { name: 'nas.home.example', type: 'A', value: '10.59.7.2' })).body.error,
      undefined
    );
    await c('dns.add', { name: 'txt.home.example', type: 'TXT', value: 'a <b> "c"', ttl: 60 });
    await k.tunnel.tunnel.change((s) => ({
      state: applyDnsChanges(s, '10.59.7.2', [
        { op: 'add', name: 'nas.home.example', type: 'A', value: '10.59.7.9', ttl: 120 },
        {
          op: 'add',
          name: 'start.home.example',
          type: 'CNAME',
          value: 'nas.home.example',
          ttl: 120,
        },
      ]),
      result: null,
    }));
    const html = await (await get(k, '/dns', cookie)).text();
    const manual = html.slice(html.indexOf('id="h-manual"'), html.indexOf('id="h-auto"'));
    const auto = html.slice(html.indexOf('id="h-auto"'));
    const a = rowOf(manual, 'nas.home.example A 10.59.7.2');
    assert.match(
      a,
      /data-label="Name"><code>nas\.home\.example<\/code>[\s\S]*data-label="TTL">300 s</
    );
    assert.match(
      a,
      /data-rpc="dns\.remove"[^>]*data-confirm="Remove all 2 A records of nas\.home\.example, 1 published by devices\? Records go by name and type\.">\n<input type="hidden" name="name" value="nas\.home\.example"><input type="hidden" name="type" value="A">/
    );
    assert.match(
      rowOf(manual, 'txt.home.example TXT a &lt;b&gt; &quot;c&quot;'),
      /<code>a &lt;b&gt; &quot;c&quot;<\/code><\/td><td role="cell" data-label="TTL">60 s</
    );
    assert.doesNotMatch(html, /<b>/);
    assert.equal(rowOf(manual, 'start.home.example CNAME nas.home.example'), '');
    const cname = rowOf(auto, 'start.home.example CNAME nas.home.example');
    assert.match(cname, /data-label="Published by">nas <small class="hint">10\.59\.7\.2<\/small>/);
    assert.match(
      cname,
      /data-confirm="Remove the CNAME record of start\.home\.example\? The device may publish it again\."/
    );
    assert.ok(rowOf(auto, 'nas.home.example A 10.59.7.9'));
  });

  it('show settings: keys, sessions, certificate, and serve the root CA and chain', async () => {
    const { k, cookie } = await loggedIn();
    const made = await generateCertificate(['203.0.113.7'], null);
    await k.store.update((d) => {
      d.webserver.certificate = made.certificate;
      d.webserver.rootCa = made.rootCa;
    });
    await call(
      k,
      'auth.key.add',
      {
        name: 'laptop',
        key: generateSigningKey().key.publicKey.openssh,
        currentPassword: PASSWORD,
      },
      { cookie }
    );
    const html = await (await get(k, '/settings', cookie)).text();
    assert.match(html, /<td role="cell" data-label="Name">laptop<\/td>/);
    assert.match(html, /<strong>This browser<\/strong>/);
    assert.match(html, /name="currentPassword"/);
    assert.match(html, /href="\/settings\/root-ca\.crt"/);
    const root = await get(k, '/settings/root-ca.crt', cookie);
    assert.equal(root.headers.get('content-type'), 'application/x-x509-ca-cert');
    assert.equal(await root.text(), made.rootCa.certPem);
    const chain = await get(k, '/settings/certificate.pem', cookie);
    assert.equal(await chain.text(), made.certificate.chainPem.join(''));
  });

  it('list the HTTP→HTTPS redirect of each public IPv4 with its toggle, and say when a forward holds port 80', async () => {
    const { k, cookie } = await loggedIn();
    const c = (m: string, p: unknown) => call(k, m, p, { cookie });
    const on = await (await get(k, '/settings', cookie)).text();
    assert.match(on, /<h2 id="h-redirect">HTTP→HTTPS redirect<\/h2>/);
    const row = rowOf(on, '203.0.113.7');
    assert.match(row, /data-label="Address"><code>203\.0\.113\.7<\/code>/);
    assert.match(
      row,
      /data-rpc="http-redirect\.set-enabled"[\s\S]*name="ip" value="203\.0\.113\.7"><input type="hidden" name="enabled" value="false" data-type="boolean"><button[^>]*aria-label="Turn off the redirect on 203\.0\.113\.7">On: turn off/
    );
    assert.doesNotMatch(row, /Forwarded/);

    // a forward on another WAN, then that WAN cleared: the forward takes port 80 everywhere
    await c('device.add', { subnet: '10.59.7.1/24', name: 'srv', kind: 'server' });
    await c('device.set-wan', { subnet: '10.59.7.1/24', ip: '10.59.7.2', wanIp: '203.0.113.9' });
    assert.equal(
      (await c('port-forward.add', { source: '80', target: '10.59.7.2:80' })).body.error,
      undefined
    );
    await c('device.set-wan', { subnet: '10.59.7.1/24', ip: '10.59.7.2', wanIp: null });
    const yielded = rowOf(await (await get(k, '/settings', cookie)).text(), '203.0.113.7');
    assert.match(yielded, />On: turn off</);
    assert.match(
      yielded,
      /Forwarded: a <a href="\/forwards">port forward<\/a> holds port 80 here, so the redirect does not listen/
    );

    await c('http-redirect.set-enabled', { ip: '203.0.113.7', enabled: false });
    const off = rowOf(await (await get(k, '/settings', cookie)).text(), '203.0.113.7');
    assert.match(off, /name="enabled" value="true" data-type="boolean"><button[^>]*>Off: turn on/);
    assert.match(off, /holds port 80 here<\/td>/);
  });

  it('serve the assets with their types, and 404 for the rest', async () => {
    const k = kit();
    const js = await get(k, '/assets/panel.js');
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(await js.text(), /fetch\('\/rpc\/v0'/);
    assert.equal(
      (await get(k, '/assets/panel.css')).headers.get('content-type'),
      'text/css; charset=utf-8'
    );
    assert.equal((await get(k, '/assets/icon.svg')).headers.get('content-type'), 'image/svg+xml');
    assert.equal((await get(k, '/nope')).status, 404);
  });
});

describe('no secret in any response', () => {
  it('scans every method and page answer for the planted secrets', async () => {
    const k = kit();
    const made = await generateCertificate(['203.0.113.7', 'vpn.example.org'], null);
    const hash = await hashPassword(PASSWORD, CHEAP_ARGON2);
    const signer = generateSigningKey();
    await k.store.update((d) => {
      d.password = hash;
      d.webserver.listen = '203.0.113.7:8443';
      d.webserver.certificate = made.certificate;
      d.webserver.rootCa = made.rootCa;
      d.keys[signer.key.publicKey.pem] = { name: 'laptop', addedAt: '2026-03-01T00:00:00.000Z' };
    });
    const cookie = await login(k);
    const otherCookie = await login(k, PASSWORD, { remoteAddress: '198.51.100.40' });
    await call(k, 'device.add', { subnet: '10.59.7.1/24', name: 'phone' }, { cookie });
    await call(k, 'port-forward.add', { source: '8443', target: '10.59.7.2:443' }, { cookie });
    await call(
      k,
      'device.set-dns-injection',
      { subnet: '10.59.7.1/24', ip: '10.59.7.2', enabled: true },
      { cookie }
    );
    const dnsKey = await call(
      k,
      'device.dns-key',
      { subnet: '10.59.7.1/24', ip: '10.59.7.2' },
      { cookie }
    );

    const body = (pem: string) =>
      pem
        .split('\n')
        .filter((l) => !l.startsWith('-----'))
        .join('');
    const secrets: Record<string, string> = {
      'leaf key': body(made.certificate.keyPem).slice(0, 40),
      'root key': body(made.rootCa.keyPem).slice(0, 40),
      'password hash': hash.split('$').at(-1) ?? hash,
      'other session token': otherCookie.slice('__Host-session='.length),
      'own session token': cookie.slice('__Host-session='.length),
      'signing seed (PKCS#8)': body(signer.pem).slice(16, 60),
      'device private key': PLANTED_DEVICE_KEY,
      'DNS update key': (dnsKey.body.result as { secret: string }).secret,
    };
    const seen: { where: string; text: string }[] = [];
    const safeMethods = k.dispatcher
      .names()
      .filter(
        (m) =>
          !/^(auth\.(logout|reset-password|session\.kill|key\.remove|set-password)|web\.(reset|uninit|disable|enable|set-listen|import-certificate|generate-certificate)|device\.show-config)$/.test(
            m
          ) && !/\.(add|remove|set-enabled|update-label)$|^wan\.(set|auto)$/.test(m)
      );
    assert.ok(safeMethods.includes('web.get-certificate') && safeMethods.includes('auth.key.list'));
    for (const m of safeMethods) {
      const params = m === 'device.list' ? { subnet: '10.59.7.1/24' } : {};
      const r = await call(k, m, params, { cookie });
      seen.push({ where: `rpc ${m}`, text: `${r.text}\n${r.res.headers.get('set-cookie') ?? ''}` });
    }
    const gen = await call(
      k,
      'web.generate-certificate',
      { subject: ['vpn.example.org'] },
      { cookie }
    );
    seen.push({ where: 'rpc web.generate-certificate', text: gen.text });
    const imp = await call(
      k,
      'web.import-certificate',
      { key: made.certificate.keyPem, cert: made.certificate.chainPem.join('') },
      { cookie }
    );
    seen.push({ where: 'rpc web.import-certificate', text: imp.text });
    const relogin = await call(
      k,
      'auth.login',
      { password: PASSWORD },
      { env: { remoteAddress: '198.51.100.41' } }
    );
    seen.push({ where: 'rpc auth.login body', text: relogin.text });
    const signedBody = JSON.stringify({ id: 9, method: 'auth.session.list', params: {} });
    const signed = await call(
      k,
      '',
      {},
      {
        body: signedBody,
        headers: {
          'x-startos-auth-sig': signRequest(
            signer.key,
            new TextEncoder().encode(signedBody),
            signatureContext('203.0.113.7', made.certificate.chainPem[0] ?? ''),
            { now: k.clock.ms }
          ),
        },
      }
    );
    assert.equal(signed.res.status, 200);
    seen.push({ where: 'signed auth.session.list', text: signed.text });
    for (const path of [...PAGES, '/login', '/settings/root-ca.crt', '/settings/certificate.pem']) {
      const res = await get(k, path, cookie);
      seen.push({ where: `GET ${path}`, text: await res.text() });
    }
    for (const { where, text } of seen) {
      for (const [name, secret] of Object.entries(secrets)) {
        assert.equal(text.includes(secret), false, `${where} leaks the ${name}`);
      }
    }
    // The one place a private key may appear: the device config the user asked for.
    const conf = await get(k, '/devices/config.conf?subnet=10.59.7.1%2F24&ip=10.59.7.2', cookie);
    assert.ok((await conf.text()).includes(PLANTED_DEVICE_KEY));
  });
});
