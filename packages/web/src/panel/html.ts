// SPDX-License-Identifier: MIT
/**
 * The panel's HTML templates: Hono's `html` helper (https://hono.dev/docs/helpers/html), which
 * escapes every interpolated value (OWASP's rule: encode for the HTML context at output), so
 * page code cannot forget to. Values that are already escaped (another `html` template, or
 * `raw`) pass through; arrays are joined; null, undefined and booleans print nothing. Pages are
 * built synchronously, so a template is never a promise here; `html` says so in its type.
 * @module
 */

import { html as honoHtml, raw as honoRaw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

export type Html = HtmlEscapedString;

/** Escapes text for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return honoHtml`${text}`.toString();
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  const out = honoHtml(strings, ...values);
  if (out instanceof Promise) throw new TypeError('A panel template got an asynchronous value');
  return out;
}

/** Marks trusted markup (generated here, never user data) as already safe. */
export function raw(markup: string): Html {
  return honoRaw(markup);
}
