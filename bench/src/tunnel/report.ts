// SPDX-License-Identifier: MIT
/**
 * Summaries of the tunnel benchmark: medians and spread over rounds, the one table (Markdown,
 * ratios against the modern wireguard-go as server) and the SVG chart, drawn here as plain SVG
 * 1.1 elements (w3.org/TR/SVG11: `rect`, `line`, `text`), no chart library.
 * @module
 */

export interface Spread {
  median: number;
  min: number;
  max: number;
  values: number[];
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function spread(values: readonly number[]): Spread {
  const v = values.filter((x) => Number.isFinite(x));
  return {
    median: median(v),
    min: v.length ? Math.min(...v) : Number.NaN,
    max: v.length ? Math.max(...v) : Number.NaN,
    values: [...values],
  };
}

/** The metrics of one case (server/client pair), each over the rounds. */
export interface CaseSummary {
  id: string;
  label: string;
  tcpUp: Spread;
  tcpDown: Spread;
  udp: Spread;
  rttIdle: Spread;
  rttLoad: Spread;
  cpuPerGB: Spread;
}

interface Column {
  title: string;
  get: (c: CaseSummary) => Spread;
  digits: number;
  /** True when more is better (ratio = this / reference), false for times and costs. */
  higher: boolean;
}

const COLUMNS: Column[] = [
  { title: 'TCP up Mbit/s', get: (c) => c.tcpUp, digits: 0, higher: true },
  { title: 'TCP down Mbit/s', get: (c) => c.tcpDown, digits: 0, higher: true },
  { title: 'UDP < 1 % loss Mbit/s', get: (c) => c.udp, digits: 0, higher: true },
  { title: 'RTT idle ms', get: (c) => c.rttIdle, digits: 3, higher: false },
  { title: 'RTT loaded ms', get: (c) => c.rttLoad, digits: 2, higher: false },
  { title: 'server CPU s/GB', get: (c) => c.cpuPerGB, digits: 2, higher: false },
];

function fmt(x: number, digits: number): string {
  if (!Number.isFinite(x)) return '–';
  return x.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/**
 * One Markdown table: per case and metric the median, the range over rounds and the ratio to
 * the reference case (`go`: the modern wireguard-go as server). Ratios are value / reference,
 * so > 1 is better for rates and worse for times and CPU.
 */
export function table(cases: readonly CaseSummary[], reference = 'go'): string {
  const ref = cases.find((c) => c.id === reference);
  const head = `| case | ${COLUMNS.map((c) => c.title).join(' | ')} |`;
  const rule = `|---|${COLUMNS.map(() => '---').join('|')}|`;
  const rows = cases.map((c) => {
    const cells = COLUMNS.map((col) => {
      const s = col.get(c);
      const range =
        s.values.length > 1 ? ` (${fmt(s.min, col.digits)}–${fmt(s.max, col.digits)})` : '';
      let ratio = '';
      if (ref && ref !== c) {
        const r = s.median / col.get(ref).median;
        if (Number.isFinite(r)) ratio = ` **${r.toFixed(2)}×**`;
      }
      return `${fmt(s.median, col.digits)}${range}${ratio}`;
    });
    return `| ${c.label} | ${cells.join(' | ')} |`;
  });
  return [head, rule, ...rows].join('\n');
}

const COLORS: Record<string, string> = {
  go: '#2f6db5',
  'go-old': '#9bb7d9',
  ts: '#d2561f',
  'ts-ts': '#f0a36f',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

interface Panel {
  title: string;
  groups: { name: string; get: (c: CaseSummary) => Spread }[];
  digits: number;
}

/** One panel of grouped horizontal bars (a bar per case, a whisker from min to max). */
function panel(p: Panel, cases: readonly CaseSummary[], x0: number, y0: number, w: number) {
  const barH = 14;
  const gap = 10;
  const labelW = 90;
  const max = Math.max(1e-9, ...p.groups.flatMap((g) => cases.map((c) => g.get(c).max || 0)));
  const scale = (w - labelW - 60) / max;
  const out: string[] = [
    `<text x="${x0}" y="${y0}" font-weight="bold" font-size="13">${esc(p.title)}</text>`,
  ];
  let y = y0 + 12;
  for (const g of p.groups) {
    out.push(`<text x="${x0}" y="${y + barH * 0.8}" font-size="11">${esc(g.name)}</text>`);
    for (const c of cases) {
      const s = g.get(c);
      const len = Number.isFinite(s.median) ? s.median * scale : 0;
      const bx = x0 + labelW;
      out.push(
        `<rect x="${bx}" y="${y}" width="${len.toFixed(1)}" height="${barH - 2}" fill="${COLORS[c.id] ?? '#888'}"/>`
      );
      if (Number.isFinite(s.min) && s.values.length > 1) {
        const wy = y + (barH - 2) / 2;
        out.push(
          `<line x1="${(bx + s.min * scale).toFixed(1)}" y1="${wy}" x2="${(bx + s.max * scale).toFixed(1)}" y2="${wy}" stroke="#222" stroke-width="1"/>`
        );
      }
      out.push(
        `<text x="${(bx + Math.max(len, Number.isFinite(s.max) ? s.max * scale : 0) + 4).toFixed(1)}" y="${y + barH * 0.75}" font-size="10">${fmt(s.median, p.digits)}</text>`
      );
      y += barH;
    }
    y += gap;
  }
  return { svg: out.join('\n'), bottom: y };
}

/** The comparison chart: throughput, round trips and CPU cost, one colour per case. */
export function svgChart(cases: readonly CaseSummary[], caption: string): string {
  const width = 960;
  const colW = width / 3;
  const panels: Panel[] = [
    {
      title: 'Throughput, Mbit/s (more is better)',
      digits: 0,
      groups: [
        { name: 'TCP up', get: (c) => c.tcpUp },
        { name: 'TCP down', get: (c) => c.tcpDown },
        { name: 'UDP < 1 % loss', get: (c) => c.udp },
      ],
    },
    {
      title: 'Ping round trip, ms (less is better)',
      digits: 2,
      groups: [
        { name: 'idle', get: (c) => c.rttIdle },
        { name: 'under TCP load', get: (c) => c.rttLoad },
      ],
    },
    {
      title: 'Server CPU s per GB (less is better)',
      digits: 2,
      groups: [{ name: 'TCP both ways', get: (c) => c.cpuPerGB }],
    },
  ];
  const parts: string[] = [];
  let bottom = 0;
  panels.forEach((p, i) => {
    const r = panel(p, cases, 10 + i * colW, 50, colW - 20);
    parts.push(r.svg);
    bottom = Math.max(bottom, r.bottom);
  });
  let ly = bottom + 10;
  const legend = cases.map((c, i) => {
    const x = 10 + (i % 2) * (width / 2);
    if (i > 0 && i % 2 === 0) ly += 18;
    return (
      `<rect x="${x}" y="${ly}" width="12" height="12" fill="${COLORS[c.id] ?? '#888'}"/>` +
      `<text x="${x + 18}" y="${ly + 10}" font-size="11">${esc(c.label)}</text>`
    );
  });
  const height = ly + 40;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" role="img">`,
    `<title>wireguard-ts and wireguard-go through a tunnel: ${esc(caption)}</title>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">npm run bench:tunnel: median of rounds, whisker = min–max</text>`,
    parts.join('\n'),
    legend.join('\n'),
    `<text x="10" y="${height - 10}" font-size="10" fill="#555">${esc(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
