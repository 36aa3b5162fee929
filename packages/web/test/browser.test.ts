// SPDX-License-Identifier: MIT
/**
 * The panel in a real Chromium (Debian's `chromium`, driven by playwright-core; nothing is
 * downloaded): log in, add a subnet and a device, see its QR code and live status, add and
 * disable a forward; give the subnet an IPv6 prefix (its warning shown, a bad one refused next
 * to the field), add a server device with its IPv6 address and WAN, open a pinhole, make the
 * device a client (its pinhole goes), turn a redirect off; make it a server again, turn its
 * Auto-publish off and read its DNS key (fetched on opening, not in the page); add an SNI
 * forward with two hostnames (a UDP choice refused next to the field) and disable one route;
 * set the subnet's DNS to custom servers (a bad one refused first); add a DNS record (a bad
 * value refused first) and remove it; log out; all at phone size, with no page wider than the
 * phone, and the new pages once more at desktop size. A screenshot of each page is kept in
 * `packages/web/dist/test-artifacts/` (or `$WEB_ARTIFACTS`). Skipped when no Chromium is found.
 * @module
 */

import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RpcContext } from '@start-tunnel/protocol';
import { type Browser, chromium, type Page } from 'playwright-core';
import { SESSION_COOKIE } from '../src/index.ts';
import { type Kit, kit } from './_fixture.ts';

const CHROMIUM = [
  process.env['CHROMIUM_PATH'],
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
].find((p): p is string => typeof p === 'string' && existsSync(p));
const ARTIFACTS =
  process.env['WEB_ARTIFACTS'] ?? join(import.meta.dirname, '..', 'dist', 'test-artifacts');
const LOCAL: RpcContext = { auth: 'local' };
const PASSWORD = 'a long password';

describe('the panel in Chromium', { skip: CHROMIUM ? false : 'chromium is not installed' }, () => {
  let k: Kit;
  let browser: Browser;
  let page: Page;
  let base: string;
  const problems: string[] = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    k = kit({ now: Date.now });
    const call = (m: string, p: unknown = {}) => k.dispatcher.call(m, p, LOCAL);
    await call('web.set-listen', { listen: '127.0.0.1:0' });
    await call('web.generate-certificate', { subject: [] });
    await call('auth.set-password', { password: PASSWORD });
    await call('web.enable');
    base = `https://${k.web.address}`;
    browser = await chromium.launch({ executablePath: CHROMIUM ?? '', args: ['--no-sandbox'] });
    // The root CA is not in Chromium's store here: TLS trust is tested with OpenSSL elsewhere.
    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    });
    page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('dialog', (d) => void d.accept());
  });

  after(async () => {
    await browser?.close();
    await k?.web.close();
  });

  const shot = (name: string) =>
    page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  it('logs in', async () => {
    await page.goto(`${base}/`);
    assert.equal(new URL(page.url()).pathname, '/login');
    await shot('01-login');
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Incorrect password' }).waitFor();
    assert.equal(await page.getByLabel('Password').getAttribute('aria-invalid'), 'true');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${base}/`);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === SESSION_COOKIE);
    assert.equal(session?.httpOnly, true);
    assert.equal(session?.secure, true);
    assert.equal(session?.sameSite, 'Strict');
    assert.equal(await page.evaluate('document.cookie'), '', 'scripts cannot read the session');
    await shot('02-overview');
  });

  it('adds a subnet, and shows the field at fault for a bad one', async () => {
    await page.getByRole('link', { name: 'Subnets' }).click();
    await page.waitForURL(`${base}/subnets`);
    const add = page.locator('form[data-rpc="subnet.add"].card');
    await add.getByLabel('Range').fill('nonsense');
    await add.getByLabel('Name').fill('Lab');
    await add.getByRole('button', { name: 'Add subnet' }).click();
    await add.getByRole('alert').filter({ hasText: 'invalid subnet' }).waitFor();
    assert.equal(await add.getByLabel('Range').getAttribute('aria-invalid'), 'true');
    await add.getByLabel('Range').fill('10.59.42.1/24');
    await add.getByRole('button', { name: 'Add subnet' }).click();
    await page.getByRole('cell', { name: '10.59.42.1/24' }).waitFor();
    await shot('03-subnets');
  });

  it('adds a device and shows its QR code and config download', async () => {
    await page.getByRole('link', { name: 'Devices' }).click();
    await page.waitForURL(`${base}/devices`);
    const add = page.locator('form[data-rpc="device.add"]');
    await add.getByLabel('Subnet').selectOption('10.59.42.1/24');
    await add.getByLabel('Name').fill('phone');
    await add.getByRole('button', { name: 'Add device' }).click();
    await page.waitForURL(/\/devices\/config\?/);
    const qr = page.getByRole('img', { name: /QR code of the WireGuard config for phone/ });
    await qr.waitFor();
    assert.ok(
      await qr.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth > 0),
      'the QR code loaded'
    );
    const download = page.getByRole('link', { name: 'Download start-tunnel.conf' });
    assert.match((await download.getAttribute('href')) ?? '', /^\/devices\/config\.conf\?/);
    await shot('04-device-config');
  });

  it('shows device status live', async () => {
    await page.goto(`${base}/devices`);
    const row = page.locator('tr[data-key="10.59.42.2"]');
    await row.getByText('Offline').waitFor();
    const dev = k.tunnel.tunnel.state.subnets['10.59.42.1/24']?.devices['10.59.42.2'];
    assert.ok(dev);
    k.tunnel.dataplane.status.set(dev.publicKey, {
      endpoint: '198.51.100.9:51820',
      lastHandshake: Date.now() - 5_000,
      rxBytes: 3 * 1024 * 1024,
      txBytes: 0,
    });
    await row.getByText('Online').waitFor({ timeout: 12_000 });
    await row.getByText('3.0 MiB').waitFor();
    await row.getByText(/s ago/).waitFor();
    await shot('05-devices');
  });

  it('adds a forward and disables it', async () => {
    await page.getByRole('link', { name: 'Port forwards' }).click();
    await page.waitForURL(`${base}/forwards`);
    const add = page.locator('form[data-rpc="port-forward.add"]');
    await add.getByLabel('Label').fill('web');
    await add.getByLabel('Public port').fill('8443');
    await add.getByLabel('Device and port').fill('10.59.42.2:443');
    await add.getByLabel(/^Protocol/).selectOption('tcp');
    await add.getByRole('button', { name: 'Add forward' }).click();
    const row = page.locator('tr[data-key="dnat 8443"]');
    await row.getByRole('cell', { name: /^(Protocol )?TCP$/ }).waitFor();
    await row.getByRole('button', { name: 'Disable forward 8443' }).click();
    await row.getByRole('button', { name: 'Enable forward 8443' }).waitFor();
    assert.equal(k.tunnel.tunnel.state.forwards['8443']?.enabled, false);
    await shot('06-forwards');
  });

  /** A link of the main navigation (pages link to each other in their text too). */
  const nav = (name: string) =>
    page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

  /** The page is no wider than the viewport: a phone never scrolls sideways. */
  async function fitsWidth(): Promise<void> {
    const [content, viewport] = (await page.evaluate(
      '[document.documentElement.scrollWidth, window.innerWidth]'
    )) as [number, number];
    assert.ok(content <= viewport, `${page.url()} is ${content} px wide in ${viewport} px`);
  }

  it('sets an IPv6 prefix on a subnet, with the field at fault and then the warning shown', async () => {
    await nav('Subnets').click();
    await page.waitForURL(`${base}/subnets`);
    const row = page.locator('tr[data-key="10.59.42.1/24"]');
    await row.getByRole('cell', { name: /^(IPv6 )?—/ }).waitFor();
    await row.locator('summary', { hasText: 'the IPv6 prefix of subnet "Lab"' }).click();
    const form = row.locator('form[data-rpc="subnet.set-ipv6"]');
    await form.getByLabel('Routed IPv6 prefix').fill('2001:db8:42::1:2:3:4:5:6');
    await form.getByRole('button', { name: /^Set prefix/ }).click();
    await form.getByRole('alert').filter({ hasText: 'prefix' }).waitFor();
    assert.equal(await form.getByLabel('Routed IPv6 prefix').getAttribute('aria-invalid'), 'true');
    await form.getByLabel('Routed IPv6 prefix').fill('2001:db8:42::/64');
    await form.getByRole('button', { name: /^Set prefix/ }).click();
    await page.locator('#flash.warn').filter({ hasText: 'not on-link' }).waitFor();
    await row.getByText('2001:db8:42::/64', { exact: true }).waitFor();
    assert.equal(k.tunnel.tunnel.state.subnets['10.59.42.1/24']?.ipv6, '2001:db8:42::/64');
    await fitsWidth();
    await shot('08-subnet-ipv6');
  });

  it('adds a server device and shows its kind, IPv6 address and WAN', async () => {
    await nav('Devices').click();
    await page.waitForURL(`${base}/devices`);
    const add = page.locator('form[data-rpc="device.add"]');
    await add.getByLabel('Subnet').selectOption('10.59.42.1/24');
    await add.getByLabel('Name').fill('nas');
    await add.getByLabel('Kind').selectOption('server');
    await add.getByRole('button', { name: 'Add device' }).click();
    await page.waitForURL(/\/devices\/config\?/);
    await page.getByText('Show the config text').click();
    await page.getByText('# inbound: yes').waitFor();
    await page.getByRole('link', { name: 'Back to devices' }).click();
    const row = page.locator('tr[data-key="10.59.42.3"]');
    await row
      .getByRole('cell', { name: /Server/ })
      .getByRole('button', { name: 'Make nas a client' })
      .waitFor();
    await row.getByText('2001:db8:42::a3b:2a03', { exact: true }).waitFor();
    await row.getByText("inherited: the server's default").waitFor();
    await row.locator('summary', { hasText: 'the WAN of device "nas"' }).click();
    const wan = row.locator('form[data-rpc="device.set-wan"]');
    await wan.getByLabel('Public IPv4').fill('203.0.113.9');
    await wan.getByRole('button', { name: /^Set WAN/ }).click();
    await row.getByText('203.0.113.9', { exact: true }).waitFor();
    await row.locator('button', { hasText: 'Follow the subnet' }).waitFor({ state: 'attached' });
    assert.equal(
      k.tunnel.tunnel.state.subnets['10.59.42.1/24']?.devices['10.59.42.3']?.wanIp,
      '203.0.113.9'
    );
    await fitsWidth();
    await shot('09-devices-server');
  });

  it('opens a pinhole on the server, then making it a client closes it', async () => {
    await nav('Port forwards').click();
    await page.waitForURL(`${base}/forwards`);
    await page.locator('tr[data-key="dnat 8443"]').getByText('all WAN addresses').waitFor();
    const add = page.locator('form[data-rpc="pinhole.add"]');
    await add
      .getByLabel('Device', { exact: false })
      .first()
      .selectOption({ label: 'nas (10.59.42.3) 2001:db8:42::a3b:2a03' });
    await add.getByLabel(/^Public port/).fill('70000');
    await add.getByLabel(/^Label/).fill('web6');
    await add.getByRole('button', { name: 'Open pinhole' }).click();
    await add.getByRole('alert').filter({ hasText: '65535' }).waitFor();
    assert.equal(await add.getByLabel(/^Public port/).getAttribute('aria-invalid'), 'true');
    await add.getByLabel(/^Public port/).fill('8080');
    await add.getByRole('button', { name: 'Open pinhole' }).click();
    const row = page.locator('tr[data-key="[2001:db8:42::a3b:2a03]:8080"]');
    await row.getByRole('cell', { name: /nas/ }).first().waitFor();
    assert.equal(await row.getByRole('textbox').inputValue(), 'web6');
    await row.getByRole('button', { name: 'Disable pinhole [2001:db8:42::a3b:2a03]:8080' }).click();
    await row
      .getByRole('button', { name: 'Enable pinhole [2001:db8:42::a3b:2a03]:8080' })
      .waitFor();
    assert.equal(k.tunnel.tunnel.state.pinholes['[2001:db8:42::a3b:2a03]:8080']?.enabled, false);
    await fitsWidth();
    await shot('10-pinholes');

    await nav('Devices').click();
    await page
      .locator('tr[data-key="10.59.42.3"]')
      .getByRole('button', { name: 'Make nas a client' })
      .click();
    await page
      .locator('tr[data-key="10.59.42.3"]')
      .getByRole('button', { name: 'Make nas a server' })
      .waitFor();
    assert.deepEqual(Object.keys(k.tunnel.tunnel.state.pinholes), [], 'the pinhole went with it');
  });

  it('turns the HTTP redirect of a public address off', async () => {
    await nav('Settings').click();
    await page.waitForURL(`${base}/settings`);
    const row = page.locator('tr[data-key="203.0.113.7"]');
    await row.getByRole('button', { name: 'Turn off the redirect on 203.0.113.7' }).click();
    await row.getByRole('button', { name: 'Turn on the redirect on 203.0.113.7' }).waitFor();
    assert.deepEqual(k.tunnel.tunnel.state.httpRedirects.disabled, ['203.0.113.7']);
    await fitsWidth();
  });

  it('makes nas a server again, turns its Auto-publish off, and shows its DNS key only when asked', async () => {
    await nav('Devices').click();
    await page.waitForURL(`${base}/devices`);
    const row = page.locator('tr[data-key="10.59.42.3"]');
    await row.getByRole('button', { name: 'Make nas a server' }).click();
    await row.getByRole('button', { name: 'Make nas a client' }).waitFor();
    const auto = row.getByRole('switch', { name: 'Auto-publish for nas' });
    assert.equal(await auto.getAttribute('aria-checked'), 'true', 'a server may at first');
    await auto.click();
    await row
      .locator('[role="switch"][aria-label="Auto-publish for nas"][aria-checked="false"]')
      .waitFor();
    const nas = () => k.tunnel.tunnel.state.subnets['10.59.42.1/24']?.devices['10.59.42.3'];
    assert.equal(nas()?.allowAutoPortForward, false);
    assert.equal(nas()?.allowDnsInjection, true, 'the other switch is left alone');

    const key = (await k.dispatcher.call(
      'device.dns-key',
      { subnet: '10.59.42.1/24', ip: '10.59.42.3' },
      LOCAL
    )) as { secret: string };
    const served = await (await page.request.get(`${base}/devices`)).text();
    assert.ok(served.includes('DNS key'));
    assert.equal(served.includes(key.secret), false, 'the key is not in the page');
    const pre = row.locator('pre.secret');
    assert.equal(await pre.textContent(), '');
    await row.locator('summary', { hasText: 'DNS key' }).click();
    await pre.filter({ hasText: 'nsupdate' }).waitFor();
    assert.equal(
      await pre.textContent(),
      `nsupdate -y hmac-sha256:startos-dns-update.:${key.secret}\nserver 10.59.42.1`
    );
    await fitsWidth();
    await shot('12-devices-dns-key');
    await row.locator('summary', { hasText: 'DNS key' }).click();
    await pre.filter({ hasText: 'nsupdate' }).waitFor({ state: 'detached' });
    assert.equal(await pre.textContent(), '', 'emptied on close');
  });

  it('adds an SNI forward with two hostnames, shows both routes, and disables one', async () => {
    await nav('Port forwards').click();
    await page.waitForURL(`${base}/forwards`);
    const add = page.locator('form[data-rpc="port-forward.add"]');
    await add.getByLabel('Label').fill('sites');
    await add.getByLabel('Public port').fill('443');
    await add.getByLabel('Device and port').fill('10.59.42.3:443');
    await add.getByLabel('TLS hostnames').fill('a.example, b.example');
    await add.getByLabel('PROXY protocol').check();
    await add.getByLabel(/^Protocol/).selectOption('udp');
    await add.getByRole('button', { name: 'Add forward' }).click();
    await add.getByRole('alert').filter({ hasText: 'TCP' }).waitFor();
    assert.equal(await add.getByLabel(/^Protocol/).getAttribute('aria-invalid'), 'true');
    await add.getByLabel(/^Protocol/).selectOption('');
    await add.getByRole('button', { name: 'Add forward' }).click();
    const a = page.locator('tr[data-key="sni 443 a.example"]');
    const b = page.locator('tr[data-key="sni 443 b.example"]');
    await a.getByText('a.example', { exact: true }).waitFor();
    await b.getByText('b.example', { exact: true }).waitFor();
    await a.getByText('PROXY v2').waitFor();
    await page.getByRole('heading', { name: /Port 443 by TLS hostname/ }).waitFor();
    await b.getByRole('button', { name: 'Disable route b.example on 443' }).click();
    await b.getByRole('button', { name: 'Enable route b.example on 443' }).waitFor();
    await a.getByRole('button', { name: 'Disable route a.example on 443' }).waitFor();
    const port = k.tunnel.tunnel.state.sni['443'];
    assert.equal(port?.routes['b.example']?.enabled, false);
    assert.equal(port?.routes['a.example']?.enabled, true);
    assert.equal(port?.routes['a.example']?.proxyProtocol, true);
    await fitsWidth();
    await shot('13-forwards-sni');
    // the live refresh finds the plain forward's row by kind, source and hostname
    const bytes = page.locator('tr[data-key="dnat 8443"] [data-field="bytes"]');
    assert.equal(await bytes.textContent(), '0 B');
    k.tunnel.dataplane.forwardCounters = async (nat) =>
      nat.forwards.map(() => ({ packets: 7, bytes: 5 * 1024 * 1024 }));
    await bytes.filter({ hasText: '5.0 MiB' }).waitFor({ timeout: 12_000 });
  });

  it("sets the subnet's DNS to custom servers, with a bad one refused next to the field", async () => {
    await nav('Subnets').click();
    await page.waitForURL(`${base}/subnets`);
    const row = page.locator('tr[data-key="10.59.42.1/24"]');
    await row.getByText("The server's resolvers").waitFor();
    await row.locator('summary', { hasText: 'the DNS of subnet "Lab"' }).click();
    const form = row.locator('form[data-rpc="subnet.set-dns"]', {
      has: page.locator('input[name="servers"]'),
    });
    await form.getByLabel('Servers').fill('nonsense');
    await form.getByRole('button', { name: /^Use these servers/ }).click();
    await form.getByRole('alert').filter({ hasText: 'nonsense' }).waitFor();
    assert.equal(await form.getByLabel('Servers').getAttribute('aria-invalid'), 'true');
    await fitsWidth();
    await form.getByLabel('Servers').fill('1.1.1.1, 9.9.9.9:5353');
    await form.getByRole('button', { name: /^Use these servers/ }).click();
    await row.getByText('9.9.9.9:5353', { exact: true }).waitFor();
    assert.deepEqual(k.tunnel.tunnel.state.subnets['10.59.42.1/24']?.dns, {
      mode: 'custom',
      deviceIp: null,
      servers: ['1.1.1.1:53', '9.9.9.9:5353'],
    });
    await fitsWidth();
  });

  it('adds a manual DNS record, with a bad value refused first, and removes it', async () => {
    await nav('DNS records').click();
    await page.waitForURL(`${base}/dns`);
    const add = page.locator('form[data-rpc="dns.add"]');
    await add.getByLabel(/^Name/).fill('nas.home.example');
    await add.getByLabel('Type').selectOption('A');
    await add.getByLabel(/^Value/).fill('not-an-ip');
    await add.getByRole('button', { name: 'Add record' }).click();
    await add.getByRole('alert').filter({ hasText: 'invalid A record' }).waitFor();
    assert.equal(await add.getByLabel(/^Value/).getAttribute('aria-invalid'), 'true');
    await add.getByLabel(/^Value/).fill('10.59.42.3');
    await add.getByRole('button', { name: 'Add record' }).click();
    const row = page.locator('tr[data-key="nas.home.example A 10.59.42.3"]');
    await row.getByRole('cell', { name: /300 s/ }).waitFor();
    assert.deepEqual(
      k.tunnel.tunnel.state.dnsRecords.map((r) => [r.name, r.value, r.source]),
      [['nas.home.example', '10.59.42.3', null]]
    );
    await fitsWidth();
    await shot('14-dns-records');
    await row.getByRole('button', { name: 'Remove A nas.home.example 10.59.42.3' }).click();
    await page.getByText('No manual records yet.').waitFor();
    assert.deepEqual(k.tunnel.tunnel.state.dnsRecords, []);
  });

  it('shows the new columns at desktop size too', async () => {
    const desk = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 1280, height: 900 },
      storageState: await page.context().storageState(),
    });
    const wide = await desk.newPage();
    wide.on('pageerror', (e) => problems.push(e.message));
    try {
      await wide.goto(`${base}/subnets`);
      await wide.getByRole('columnheader', { name: 'IPv6' }).waitFor();
      await wide.getByRole('columnheader', { name: 'WAN' }).waitFor();
      await wide.getByRole('columnheader', { name: 'DNS', exact: true }).waitFor();
      await wide.goto(`${base}/devices`);
      await wide.getByRole('columnheader', { name: 'Kind' }).first().waitFor();
      await wide.getByRole('columnheader', { name: 'Auto-publish' }).first().waitFor();
      await wide.goto(`${base}/forwards`);
      await wide.getByRole('columnheader', { name: 'Answers on' }).waitFor();
      await wide.getByRole('columnheader', { name: 'PROXY protocol' }).waitFor();
      await wide.getByRole('heading', { name: 'Automatic' }).waitFor();
      await wide.getByRole('heading', { name: 'IPv6 pinholes' }).waitFor();
      await wide.screenshot({ path: join(ARTIFACTS, '15-forwards-desktop.png'), fullPage: true });
      await wide.goto(`${base}/dns`);
      await wide.getByRole('heading', { name: 'Manual' }).waitFor();
      await wide.goto(`${base}/settings`);
      await wide.getByRole('heading', { name: 'HTTP→HTTPS redirect' }).waitFor();
      await wide.screenshot({ path: join(ARTIFACTS, '11-settings-desktop.png'), fullPage: true });
    } finally {
      await desk.close();
    }
  });

  it('shows settings, then logs out', async () => {
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.waitForURL(`${base}/settings`);
    await page.getByRole('heading', { name: 'HTTPS certificate' }).waitFor();
    await page.getByText('This browser').waitFor();
    await shot('07-settings');
    await page.getByRole('button', { name: 'Log out' }).first().click();
    await page.waitForURL(`${base}/login`);
    await page.goto(`${base}/settings`);
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.deepEqual(k.store.read().sessions, {});
  });

  it('logged no script error or CSP violation', () => {
    assert.deepEqual(
      problems.filter((p) => !/401|Unauthorized/.test(p)),
      []
    );
  });
});
