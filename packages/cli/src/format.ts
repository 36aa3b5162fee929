// SPDX-License-Identifier: MIT
/**
 * Output: `--format text` (the default: aligned tables and one-line confirmations for people) or
 * `--format json` / `json-pretty` (the daemon's result unchanged, for scripts; StartTunnel's
 * `--format` of `with_display_serializable` handlers,
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/util/serde.rs#L416-L478).
 * Device state is one of three (online under 180 s since the last handshake, idle, never) with the
 * raw age beside it.
 * @module
 */

import { type DeviceInfo, ONLINE_WINDOW_MS } from '@start-tunnel/protocol';
import { UsageError } from './errors.ts';

export const FORMATS = ['text', 'json', 'json-pretty'] as const;
export type OutputFormat = (typeof FORMATS)[number];

/** Checks the value of an option with fixed choices (`--protocol tcp|udp|both`). */
export function choiceOf<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`invalid --${flag} "${clean(value)}": expected ${choices.join(', ')}`);
}

/** Checks a `--format` value. */
export function parseFormat(value: string): OutputFormat {
  return choiceOf('format', value, FORMATS);
}

/** A result as JSON text (one line for `json`, indented for `json-pretty`), newline-ended. */
export function toJson(value: unknown, format: OutputFormat): string {
  const text = JSON.stringify(value ?? null, null, format === 'json-pretty' ? 2 : undefined);
  return `${text}\n`;
}

/** Makes text from the daemon safe for a terminal: control characters become `?`. */
export function clean(text: string): string {
  return text.replace(/\p{Cc}/gu, '?');
}

/** A name in quotes, cleaned. */
export function quoted(text: string): string {
  return `"${clean(text)}"`;
}

/** An aligned table: header row, then rows; two spaces between columns, no trailing blanks. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows].map((row) => row.map(clean));
  const widths = headers.map((_, i) => Math.max(...all.map((row) => [...(row[i] ?? '')].length)));
  const lines = all.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  );
  return `${lines.join('\n')}\n`;
}

/** Key/value lines with aligned values. */
export function fields(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return `${pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}  ${clean(v)}`).join('\n')}\n`;
}

/** Bytes in binary units: `0 B`, `512 B`, `1.5 KiB`, `12 MiB`, `3.2 GiB`. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 1024) return `${Math.max(0, Math.round(n || 0))} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = n;
  let unit = 'B';
  for (const u of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = u;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${unit}`;
}

/** Age of an ISO time relative to `now`: `12s ago`, `5m ago`, `3h ago`, `2d ago`, or `never`. */
export function formatAge(iso: string | null, now: number): string {
  if (iso === null) return 'never';
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return clean(iso);
  const s = Math.max(0, Math.floor((now - then) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** Duration since an ISO time: `40s`, `3m`, `2h 5m`, `4d 1h`. */
export function formatUptime(iso: string, now: number): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return clean(iso);
  const s = Math.max(0, Math.floor((now - then) / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  if (m < 1440) return `${Math.floor(m / 60)}h ${m % 60}m`;
  return `${Math.floor(m / 1440)}d ${Math.floor((m % 1440) / 60)}h`;
}

/** `online` (the daemon says so), `idle` (handshook before), `never` (no handshake yet). */
export function deviceState(device: Pick<DeviceInfo, 'online' | 'lastHandshake'>): string {
  if (device.online) return 'online';
  return device.lastHandshake === null ? 'never' : 'idle';
}

/** The online window in words, for help texts. */
export const ONLINE_WINDOW_TEXT = `${ONLINE_WINDOW_MS / 1000} s`;
