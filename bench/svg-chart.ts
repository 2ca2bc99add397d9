/**
 * A dependency-free SVG bar chart of the benchmark: one panel per metric (p99 at the fixed rate, primary
 * database time and reads per 1,000 requests, the sweep's knee), one horizontal bar per scenario. Written as text, so it needs
 * no browser, no canvas and no network.
 */
import type { ScenarioResult } from './report';

/** What the chart draws a bar for: a benchmark scenario, a synth target, ... */
export interface ChartItem {
  readonly id: string;
  readonly label: string;
}

/** One panel of the chart. */
export interface ChartPanel<T extends ChartItem = ScenarioResult> {
  readonly title: string;
  /** Value per item; `null` = not applicable (drawn as "n/a"). */
  readonly value: (s: T) => number | null;
  readonly format: (v: number) => string;
  /** Optional vertical reference line (e.g. the p99 target). */
  readonly reference?: { readonly value: number; readonly label: string };
}

/**
 * The default panels: p99 at the fixed rate with the 100 ms target, primary database time and primary reads per
 * 1,000 requests (pg_stat_statements), and each topology's knee from the max-throughput sweep.
 */
export const DEFAULT_PANELS: readonly ChartPanel[] = [
  {
    title: 'p99 latency at the fixed rate, ms (lower is better)',
    value: (s) => s.fixed?.latencyMs.p99 ?? null,
    format: (v) => v.toFixed(1),
    reference: { value: 100, label: 'target 100 ms' },
  },
  {
    title: 'Primary database time per 1,000 requests, ms (lower is better)',
    value: (s) => s.primary?.execMsPer1000 ?? null,
    format: (v) => v.toFixed(0),
  },
  {
    title: 'Read statements reaching the primary per 1,000 requests (lower is better)',
    value: (s) => s.primary?.readsPer1000 ?? null,
    format: (v) => v.toFixed(0),
  },
  {
    title: 'Max-throughput sweep: knee, requests/s (p99 <= 200 ms, no errors; higher is better)',
    value: (s) => s.kneeRate ?? null,
    format: (v) => v.toFixed(0),
  },
];

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948'];

/** Escapes text for XML content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}

/** Renders the chart; the same input always gives the same SVG. */
export function renderSvgChart<T extends ChartItem = ScenarioResult>(
  scenarios: readonly T[],
  options: { readonly title?: string; readonly panels?: readonly ChartPanel<T>[] } = {},
): string {
  // Without panels the items are benchmark scenarios (the runtime benchmark's chart).
  const panels = options.panels ?? (DEFAULT_PANELS as unknown as readonly ChartPanel<T>[]);
  const width = 820;
  const labelWidth = 250;
  const valueWidth = 70;
  const barArea = width - labelWidth - valueWidth - 20;
  const barHeight = 20;
  const gap = 6;
  const panelHeader = 34;
  const panelHeight = panelHeader + scenarios.length * (barHeight + gap) + 14;
  const top = 44;
  const height = top + panels.length * panelHeight + 10;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      'font-family="Helvetica, Arial, sans-serif" font-size="12">',
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="26" font-size="16" font-weight="bold">${escapeXml(options.title ?? 'Benchmark')}</text>`,
  ];

  panels.forEach((panel, p) => {
    const y0 = top + p * panelHeight;
    const values = scenarios.map((s) => panel.value(s));
    const max = Math.max(panel.reference?.value ?? 0, ...values.map((v) => v ?? 0)) || 1;
    const scale = (v: number) => (Math.max(0, v) / max) * barArea;
    out.push(`<g class="panel" data-title="${escapeXml(panel.title)}">`);
    out.push(
      `<text x="10" y="${y0 + 20}" font-size="13" font-weight="bold">${escapeXml(panel.title)}</text>`,
    );
    scenarios.forEach((s, i) => {
      const y = y0 + panelHeader + i * (barHeight + gap);
      const v = values[i];
      out.push(
        `<text x="${labelWidth - 8}" y="${y + barHeight / 2 + 4}" text-anchor="end">${escapeXml(s.label)}</text>`,
      );
      if (v === null) {
        out.push(`<text x="${labelWidth + 4}" y="${y + barHeight / 2 + 4}" fill="#777">n/a</text>`);
        return;
      }
      const w = scale(v);
      out.push(
        `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" ` +
          `fill="${COLORS[i % COLORS.length]}" data-scenario="${escapeXml(s.id)}" data-value="${v}"/>`,
      );
      out.push(
        `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + barHeight / 2 + 4}">${escapeXml(panel.format(v))}</text>`,
      );
    });
    if (panel.reference) {
      const x = (labelWidth + scale(panel.reference.value)).toFixed(1);
      const yTop = y0 + panelHeader - 4;
      const yBottom = y0 + panelHeader + scenarios.length * (barHeight + gap);
      out.push(
        `<line x1="${x}" y1="${yTop}" x2="${x}" y2="${yBottom}" stroke="#c00" stroke-dasharray="4 3"/>`,
        `<text x="${x}" y="${yTop - 2}" fill="#c00" text-anchor="middle" font-size="10">` +
          `${escapeXml(panel.reference.label)}</text>`,
      );
    }
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
