// SPDX-License-Identifier: MIT
/**
 * The Settings page: the password, signing keys, sessions, the HTTPS certificate and the
 * HTTP→HTTPS redirect of each public address (`redirects.ts`); as the original's Settings page
 * (https://github.com/Start9Labs/start-technologies/tree/master/projects/start-tunnel), without
 * its update, language and reboot parts.
 * @module
 */

import type { KeyInfo, RedirectInfo, WebStatus } from '@start-tunnel/protocol';
import type { SessionInfo } from '../session.ts';
import { type Html, html } from './html.ts';
import { ago, hidden, type Loaded, problem, rpcForm, table } from './layout.ts';
import { redirectsSection } from './redirects.ts';

export function settingsPage(
  web: Loaded<WebStatus>,
  keys: Loaded<KeyInfo[]>,
  sessions: Loaded<SessionInfo[]>,
  redirects: Loaded<RedirectInfo[]>
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
<section aria-labelledby="h-cert"><h2 id="h-cert">HTTPS certificate</h2>${certificate}</section>
${redirectsSection(redirects)}`;
}
