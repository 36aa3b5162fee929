// SPDX-License-Identifier: MIT
/**
 * The HTTP→HTTPS redirect section of the Settings page, StartTunnel 1.5's
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel): one row
 * per public IPv4 of the server, each with its on/off toggle (`http-redirect.set-enabled`). A
 * port forward of TCP 80 on the address and the redirect exclude each other: the row says so
 * when a forward holds port 80 there ("forwarded"), and the server refuses to turn the redirect
 * on until that forward is gone, which the form shows.
 * @module
 */

import type { RedirectInfo } from '@start-tunnel/protocol';
import { type Html, html } from './html.ts';
import { hidden, type Loaded, problem, rpcForm, table } from './layout.ts';

function row(r: RedirectInfo): Html {
  const toggle = rpcForm(
    'http-redirect.set-enabled',
    html`${hidden({ ip: r.ip, enabled: !r.enabled })}<button type="submit" class="secondary" aria-label="Turn ${r.enabled ? 'off' : 'on'} the redirect on ${r.ip}">${r.enabled ? 'On: turn off' : 'Off: turn on'}</button>`,
    { className: 'inline' }
  );
  const note = r.forwarded
    ? html`Forwarded: a <a href="/forwards">port forward</a> holds port 80 here${r.enabled ? ', so the redirect does not listen' : ''}`
    : '';
  return html`<tr data-key="${r.ip}"><td><code>${r.ip}</code></td><td>${toggle}</td><td class="wrap">${note}</td></tr>`;
}

export function redirectsSection(redirects: Loaded<RedirectInfo[]>): Html {
  const body = !redirects.ok
    ? problem(redirects.error)
    : redirects.value.length === 0
      ? html`<p>This server holds no public IPv4 address.</p>`
      : table(
          'HTTP to HTTPS redirects',
          ['Address', 'Redirect', 'Note'],
          html`${redirects.value.map(row)}`
        );
  return html`<section aria-labelledby="h-redirect"><h2 id="h-redirect">HTTP→HTTPS redirect</h2>
<p class="hint">Plain HTTP on port 80 of each public address is sent on to HTTPS, unless turned off here or a port forward takes port 80.</p>
${body}</section>`;
}
