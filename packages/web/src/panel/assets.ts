// SPDX-License-Identifier: MIT
/**
 * The panel's only static files, held as strings so the package ships nothing beside its code
 * and the panel works offline: the stylesheet (system fonts, light and dark, 44 px touch
 * targets, tables that scroll on a phone), the icon, and the client script. The script turns
 * every `form[data-rpc]` into a JSON-RPC call to `/rpc/v0` (fields become params, an empty
 * `data-empty="null"` field sends null; errors show in the form's alert and mark the field the
 * server named; a result's `warnings` are shown after the reload), refreshes `tbody[data-poll]`
 * rows every few seconds (device status, forward counters, lease ends; a row is found by the
 * values of the fields `data-key` lists, so SNI routes sharing one source stay apart), and
 * fetches a secret only while its `details[data-secret]` is open (a device's DNS key: never in
 * the page's HTML, cleared again on close). It uses no framework and no inline code, so the
 * Content-Security-Policy can forbid inline scripts and styles altogether.
 * @module
 */

export const PANEL_CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fff; --muted: #57606a; --line: #d0d7de;
  --accent: #0b5cad; --ok: #1a7f37; --bad: #b42318; --warn: #9a6700; --card: #f6f8fa; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9da7b3; --line: #30363d; --accent: #6cb6ff;
    --ok: #3fb950; --bad: #ff7b72; --warn: #d29922; --card: #161b22; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 1rem; top: 1rem; background: var(--bg); padding: .5rem; z-index: 1; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; padding: .5rem 1rem;
  border-bottom: 1px solid var(--line); background: var(--card); }
header .brand { font-weight: 700; margin-right: auto; }
header nav { order: 2; flex-basis: 100%; }
nav ul { display: flex; flex-wrap: wrap; gap: .25rem; list-style: none; margin: 0; padding: 0; }
nav a { display: inline-block; padding: .6rem .75rem; border-radius: 6px; text-decoration: none;
  min-height: 44px; }
nav a[aria-current="page"] { background: var(--bg); font-weight: 600; outline: 1px solid var(--line); }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; }
section { margin-bottom: 2rem; }
.table { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .5rem .75rem; border-bottom: 1px solid var(--line);
  vertical-align: middle; white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
td.wrap { white-space: normal; word-break: break-all; }
th { font-size: .85rem; color: var(--muted); font-weight: 600; }
form { margin: 0; }
form.card { display: grid; gap: .75rem; padding: 1rem; border: 1px solid var(--line);
  border-radius: 8px; background: var(--card); max-width: 36rem; }
form.inline { display: inline; }
label { display: grid; grid-template-columns: minmax(0, 1fr); gap: .25rem; font-weight: 600;
  min-width: 0; }
label small, .hint { font-weight: 400; color: var(--muted); }
label.check { display: flex; flex-wrap: wrap; align-items: center; gap: .25rem .5rem; }
label.check input { min-height: 0; width: 1.5rem; height: 1.5rem; margin: 0; }
label.check small { flex-basis: 100%; }
input, select, textarea, button { font: inherit; min-height: 44px; padding: .5rem .75rem;
  border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
textarea { min-height: 6rem; font-family: ui-monospace, monospace; font-size: .85rem; }
button { cursor: pointer; background: var(--accent); color: #fff; border-color: var(--accent);
  font-weight: 600; }
button.secondary { background: var(--bg); color: var(--fg); border-color: var(--line); }
button.danger { background: var(--bg); color: var(--bad); border-color: var(--bad); }
button[disabled] { opacity: .6; cursor: progress; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
[aria-invalid="true"] { border-color: var(--bad); }
.error { color: var(--bad); margin: 0; font-weight: 600; }
.error:empty { display: none; }
.notice { border: 1px solid var(--line); border-left: 4px solid var(--accent); padding: .75rem 1rem;
  border-radius: 6px; background: var(--card); }
.notice.bad { border-left-color: var(--bad); }
.notice.warn { border-left-color: var(--warn); }
details.change { display: inline-block; }
details.change[open] { display: block; }
details.change > summary { cursor: pointer; color: var(--accent); padding: .6rem 0; min-height: 44px; }
form.stack { display: grid; gap: .5rem; margin: 0 0 .5rem; min-width: 15rem; white-space: normal; }
td .hint, td small { font-size: .85rem; }
.online { color: var(--ok); font-weight: 600; }
button.switch { min-width: 4.5rem; border-radius: 999px; background: var(--bg); color: var(--muted);
  border-color: var(--line); }
button.switch[aria-checked="true"] { background: var(--ok); border-color: var(--ok); color: var(--bg); }
.tag { display: inline-block; padding: 0 .5rem; border: 1px solid var(--line); border-radius: 999px;
  font-size: .8rem; font-weight: 600; color: var(--muted); white-space: nowrap; }
pre.secret { white-space: pre-wrap; overflow-wrap: anywhere; margin: .5rem 0; min-width: 0; }
pre.secret:empty { display: none; }
.offline { color: var(--muted); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-all; }
.qr { background: #fff; padding: .5rem; border-radius: 8px; width: min(100%, 22rem);
  display: block; }
pre { overflow-x: auto; padding: 1rem; background: var(--card); border: 1px solid var(--line);
  border-radius: 8px; font-size: .85rem; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
.login { max-width: 24rem; margin: 10vh auto; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 40rem) {
  main { padding: .75rem; }
  .table { border: 0; overflow: visible; }
  .table thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  .table table, .table tbody, .table tr, .table td { display: block; width: 100%; }
  .table tr { border: 1px solid var(--line); border-radius: 8px; margin-bottom: .75rem;
    padding: .25rem 0; background: var(--card); }
  .table td { display: flex; flex-wrap: wrap; justify-content: flex-end; align-items: center;
    gap: .25rem 1rem; border: 0; padding: .3rem .75rem; white-space: normal; overflow-wrap: anywhere; }
  .table td details.change[open] { flex-basis: 100%; }
  form.stack { min-width: 0; }
  .table td::before { content: attr(data-label); color: var(--muted); font-size: .85rem;
    font-weight: 600; flex: none; margin-right: auto; }
  .table td[data-label=""]::before { content: none; }
  .table td[data-label=""] { justify-content: flex-end; }
}
`;

export const PANEL_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">\
<rect width="32" height="32" rx="6" fill="#0b5cad"/><path d="M8 22V10l8 6 8-6v12" fill="none" \
stroke="#fff" stroke-width="3" stroke-linejoin="round"/></svg>`;

export const PANEL_JS = `'use strict';
(function () {
  var seq = 0;
  function rpc(method, params) {
    return fetch('/rpc/v0', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++seq, method: method, params: params || {} }),
    }).then(function (res) {
      if (res.status === 401) {
        location.assign('/login');
        throw new Error('Your session has ended: log in again');
      }
      return res.json().catch(function () { throw new Error('HTTP ' + res.status); });
    }).then(function (body) {
      if (body.error) {
        var err = new Error(body.error.message);
        err.field = body.error.data && body.error.data.field;
        throw err;
      }
      return body.result;
    });
  }

  function paramsOf(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.dataset.skip !== undefined || el.disabled) return;
      var type = el.dataset.type;
      var value = el.type === 'checkbox' ? el.checked : el.value;
      if (typeof value === 'string') {
        if (type !== 'raw') value = value.trim();
        if (value === '' && el.dataset.optional !== undefined) return;
        if (value === '' && el.dataset.empty === 'null') {
          out[el.name] = null;
          return;
        }
      }
      if (type === 'number') value = Number(value);
      else if (type === 'boolean' && typeof value === 'string') value = value === 'true';
      else if (type === 'list') value = value.split(/[\\s,]+/).filter(Boolean);
      out[el.name] = value;
    });
    return out;
  }

  function alertOf(form) {
    var box = form.querySelector('[role="alert"]');
    if (!box) {
      box = document.createElement('p');
      box.className = 'error';
      box.setAttribute('role', 'alert');
      form.appendChild(box);
    }
    return box;
  }

  function clearErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll('[aria-invalid]'), function (el) {
      el.removeAttribute('aria-invalid');
    });
    var box = form.querySelector('[role="alert"]');
    if (box) box.textContent = '';
  }

  function showError(form, err) {
    var box = alertOf(form);
    box.textContent = err.message;
    if (!box.id) box.id = 'err-' + Math.random().toString(36).slice(2);
    var field = err.field && form.elements[String(err.field).split(/[.[]/)[0]];
    if (field && field.setAttribute) {
      field.setAttribute('aria-invalid', 'true');
      field.setAttribute('aria-describedby', box.id);
      field.focus();
    }
  }

  function flash(text, warn) {
    try {
      sessionStorage.setItem('flash', JSON.stringify({ text: text, warn: !!warn }));
    } catch (e) { /* private mode */ }
  }

  function after(form, result) {
    var then = form.dataset.then || 'reload';
    if (result && result.warnings && result.warnings.length) {
      flash('Saved, with a warning: ' + result.warnings.join('. '), true);
    } else if (result && result.rootRegenerated) {
      flash('A new root CA was made (' + result.rootReason + '): download it below and trust it.');
    } else if (form.dataset.flash) {
      flash(form.dataset.flash);
    }
    if (then === 'reload') location.reload();
    else if (then.indexOf('redirect:') === 0) location.assign(then.slice(9));
    else if (then === 'config') {
      location.assign('/devices/config?subnet=' + encodeURIComponent(result.subnet) +
        '&ip=' + encodeURIComponent(result.ip));
    }
  }

  document.addEventListener('submit', function (ev) {
    var form = ev.target.closest && ev.target.closest('form[data-rpc]');
    if (!form) return;
    ev.preventDefault();
    clearErrors(form);
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    var match = form.querySelector('[data-match]');
    if (match && match.value !== form.elements[match.dataset.match].value) {
      showError(form, { message: 'The two passwords differ', field: match.name });
      return;
    }
    var buttons = form.querySelectorAll('button');
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    rpc(form.dataset.rpc, paramsOf(form)).then(function (result) {
      after(form, result);
    }, function (err) {
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      showError(form, err);
    });
  });

  function bytes(n) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    n = Number(n) || 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
  }

  function ago(iso) {
    if (!iso) return 'never';
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }

  function until(iso) {
    if (!iso) return 'permanent';
    var s = Math.round((Date.parse(iso) - Date.now()) / 1000);
    if (s <= 0) return 'ending now';
    if (s < 60) return 'in ' + s + ' s';
    if (s < 3600) return 'in ' + Math.ceil(s / 60) + ' min';
    if (s < 86400) return 'in ' + Math.floor(s / 3600) + ' h';
    return 'in ' + Math.floor(s / 86400) + ' d';
  }

  function render(cell, value) {
    var format = cell.dataset.format;
    if (format === 'bytes') cell.textContent = bytes(value);
    else if (format === 'ago') cell.textContent = ago(value);
    else if (format === 'lease') cell.textContent = until(value);
    else if (format === 'online') {
      cell.textContent = value ? 'Online' : 'Offline';
      cell.className = value ? 'online' : 'offline';
    } else if (format === 'count') cell.textContent = String(value);
    else cell.textContent = value == null ? '' : String(value);
  }

  /** A row's key: the values of the fields data-key lists, empty ones left out. */
  function keyOf(row, fields) {
    return fields.split(' ').map(function (f) { return row[f]; }).filter(function (v) {
      return v !== null && v !== undefined && v !== '';
    }).join(' ');
  }

  function poll() {
    if (document.visibilityState === 'hidden') return;
    Array.prototype.forEach.call(document.querySelectorAll('tbody[data-poll]'), function (body) {
      var params = body.dataset.params ? JSON.parse(body.dataset.params) : {};
      rpc(body.dataset.poll, params).then(function (rows) {
        rows.forEach(function (row) {
          var tr = body.querySelector('tr[data-key="' + CSS.escape(keyOf(row, body.dataset.key)) + '"]');
          if (!tr) return;
          Array.prototype.forEach.call(tr.querySelectorAll('[data-field]'), function (cell) {
            render(cell, row[cell.dataset.field]);
          });
        });
        var stamp = document.getElementById('updated');
        if (stamp) stamp.textContent = 'Updated ' + new Date().toLocaleTimeString();
      }, function () { /* keep the last values; the next poll retries */ });
    });
  }

  // toggle does not bubble: caught on the way down
  document.addEventListener('toggle', function (ev) {
    var box = ev.target;
    if (!box.dataset || !box.dataset.secret) return;
    var out = box.querySelector('[data-slot]');
    var alert = alertOf(box);
    out.textContent = '';
    alert.textContent = '';
    if (!box.open) return;
    rpc(box.dataset.secret, JSON.parse(box.dataset.params || '{}')).then(function (r) {
      if (!box.open) return;
      out.textContent = box.dataset.template.replace(/\\{(\\w+)\\}/g, function (m, name) {
        return r[name] == null ? '' : String(r[name]);
      });
    }, function (err) { alert.textContent = err.message; });
  }, true);

  document.addEventListener('DOMContentLoaded', function () {
    try {
      var saved = JSON.parse(sessionStorage.getItem('flash') || 'null');
      var box = document.getElementById('flash');
      sessionStorage.removeItem('flash');
      if (saved && saved.text && box) {
        box.textContent = saved.text;
        if (saved.warn) box.classList.add('warn');
        box.hidden = false;
        box.scrollIntoView({ block: 'nearest' });
      }
    } catch (e) { /* private mode */ }
    var timed = document.querySelectorAll('[data-format="ago"], [data-format="lease"]');
    Array.prototype.forEach.call(timed, function (c) { render(c, c.dataset.value); });
    if (document.querySelector('tbody[data-poll]')) setInterval(poll, 5000);
  });
})();
`;
