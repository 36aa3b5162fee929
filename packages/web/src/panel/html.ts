// SPDX-License-Identifier: MIT
/**
 * An HTML template tag that escapes every interpolated value (OWASP's rule: encode for the HTML
 * context at output), so page code cannot forget to. Values that are already `Html` (the result
 * of another `html` template or of `raw`) pass through; arrays are joined; null, undefined and
 * false print nothing.
 * @module
 */

export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/** Marks trusted markup (generated here, never user data) as already safe. */
export function raw(markup: string): Html {
  return new Html(markup);
}
