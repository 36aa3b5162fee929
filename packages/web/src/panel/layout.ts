// SPDX-License-Identifier: MIT
/**
 * The frame every panel page shares (landmarks, skip link, navigation with `aria-current`, the
 * logout button) and the small pieces pages are built from: an RPC form, a scrollable table,
 * formatted byte counts and times. Server-rendered HTML; the client script only submits forms
 * and refreshes polled cells.
 * @module
 */

import { escapeHtml, type Html, html, raw } from './html.ts';

export const NAV: readonly { href: string; label: string }[] = [
  { href: '/', label: 'Overview' },
  { href: '/subnets', label: 'Subnets' },
  { href: '/devices', label: 'Devices' },
  { href: '/forwards', label: 'Port forwards' },
  { href: '/dns', label: 'DNS records' },
  { href: '/settings', label: 'Settings' },
];

function head(title: string): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · start-tunnel</title>
<link rel="icon" href="/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/panel.css">
<script src="/assets/panel.js" defer></script>
</head>`;
}

/** A page of the logged-in panel. */
export function page(title: string, path: string, content: Html): Html {
  const links = NAV.map(
    (n) =>
      html`<li><a href="${n.href}"${n.href === path ? html` aria-current="page"` : ''}>${n.label}</a></li>`
  );
  return html`${head(title)}
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<span class="brand">start-tunnel</span>
<form class="inline" data-rpc="auth.logout" data-then="redirect:/login">
<button type="submit" class="secondary">Log out</button>
</form>
<nav aria-label="Main"><ul>${links}</ul></nav>
</header>
<main id="main">
<h1>${title}</h1>
<p id="flash" class="notice" role="status" hidden></p>
${content}
</main>
</body>
</html>`;
}

/** The login page (no navigation). */
export function loginPage(): Html {
  return html`${head('Log in')}
<body>
<main id="main" class="login">
<h1>start-tunnel</h1>
<form class="card" data-rpc="auth.login" data-then="redirect:/">
<label>Password
<input type="password" name="password" data-type="raw" autocomplete="current-password" required autofocus>
</label>
<p class="error" role="alert"></p>
<button type="submit">Log in</button>
</form>
<p class="hint">Forgot it? On the server, as root: <code>start-tunnel auth reset-password</code></p>
</main>
</body>
</html>`;
}

/** What a page read through the dispatcher: the result, or the error's message to show. */
export type Loaded<T> = { ok: true; value: T } | { ok: false; error: string };

/** A message in place of content that could not be loaded. */
export function problem(message: string): Html {
  return html`<p class="notice bad" role="alert">${message}</p>`;
}

/**
 * Labels each cell of each row with its column header (`data-label`), which the stylesheet shows
 * when a narrow screen turns rows into cards, and gives rows and cells explicit roles, since
 * browsers drop table semantics from elements whose CSS display changes.
 */
function labelCells(body: Html, headers: readonly string[]): Html {
  return raw(
    body.toString().replace(/<tr\b[\s\S]*?<\/tr>/g, (row) => {
      let i = 0;
      return row
        .replace(/^<tr\b/, '<tr role="row"')
        .replace(/<td\b/g, () => `<td role="cell" data-label="${escapeHtml(headers[i++] ?? '')}"`);
    })
  );
}

/** A table (cards on a phone), with a caption for screen readers. */
export function table(caption: string, headers: readonly string[], rows: Html, attrs?: Html): Html {
  const body = labelCells(rows, headers);
  return html`<div class="table" role="region" aria-label="${caption}" tabindex="0">
<table role="table">
<caption class="visually-hidden">${caption}</caption>
<thead role="rowgroup"><tr role="row">${headers.map((h) => html`<th role="columnheader" scope="col">${h}</th>`)}</tr></thead>
<tbody role="rowgroup"${attrs ?? ''}>${body}</tbody>
</table>
</div>`;
}

/** A form posting to one RPC method; `onDone` is `reload`, `redirect:/path` or `config`. */
export function rpcForm(
  method: string,
  content: Html,
  options: { onDone?: string; confirm?: string; className?: string; flash?: string } = {}
): Html {
  return html`<form class="${options.className ?? 'card'}" data-rpc="${method}" data-then="${options.onDone ?? 'reload'}"${
    options.confirm ? html` data-confirm="${options.confirm}"` : ''
  }${options.flash ? html` data-flash="${options.flash}"` : ''}>
${content}
<p class="error" role="alert"></p>
</form>`;
}

/** Hidden parameters of an RPC form (null is sent as null: a value cleared). */
export function hidden(fields: Record<string, string | number | boolean | null>): Html {
  return html`${Object.entries(fields).map(([name, value]) =>
    value === null
      ? html`<input type="hidden" name="${name}" value="" data-empty="null">`
      : typeof value === 'string'
        ? html`<input type="hidden" name="${name}" value="${value}">`
        : html`<input type="hidden" name="${name}" value="${String(value)}" data-type="${typeof value}">`
  )}`;
}

/**
 * A closed disclosure (`<details>`, no script) holding the forms that change one value in a
 * table cell, so a row stays short until the user asks.
 */
export function disclosure(summary: Html, content: Html): Html {
  return html`<details class="change"><summary>${summary}</summary>${content}</details>`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** A time cell the client script turns into "3 min ago" (server text until it runs). */
export function ago(iso: string | null, field?: string): Html {
  return html`<td data-format="ago"${field ? html` data-field="${field}"` : ''} data-value="${iso ?? ''}">${
    iso ? html`<time datetime="${iso}">${iso.replace('T', ' ').slice(0, 19)} UTC</time>` : 'never'
  }</td>`;
}
