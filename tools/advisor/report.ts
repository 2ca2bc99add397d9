/**
 * The advisor's report: a terminal view with a sparkline and a breach bar per signal, JSON for automation
 * and Markdown for a ticket. All three are rendered from the same {@link AdviceReport}.
 */
import type { AdvisorStageId } from './deployment';
import type { Recommendation, Signal, Verdict } from './rules';

/** Everything a report shows. */
export interface AdviceReport {
  readonly prefix: string;
  readonly regions: readonly string[];
  /** The stage the rules assumed. */
  readonly stage: AdvisorStageId;
  /** The stage the deployment looks like. */
  readonly detectedStage: AdvisorStageId;
  readonly days: number;
  readonly periodSeconds: number;
  readonly minShare: number;
  readonly stacks: readonly string[];
  readonly metricsRead: number;
  readonly calls: number;
  readonly messages: readonly string[];
  readonly signals: readonly Signal[];
  readonly recommendation: Recommendation;
}

const TICKS = '▁▂▃▄▅▆▇█';

/** A sparkline of `values` in `width` characters (each the maximum of its slice), scaled from 0 to `top`. */
export function sparkline(values: readonly number[], top: number, width = 24): string {
  if (values.length === 0) return ' '.repeat(width);
  const buckets = Math.min(width, values.length);
  const out: string[] = [];
  for (let b = 0; b < buckets; b++) {
    const slice = values.slice(
      Math.floor((b * values.length) / buckets),
      Math.floor(((b + 1) * values.length) / buckets),
    );
    const value = Math.max(...slice);
    const level = top > 0 ? Math.round((Math.min(value, top) / top) * (TICKS.length - 1)) : 0;
    out.push(TICKS[Math.max(0, level)] as string);
  }
  return out.join('').padEnd(width);
}

/** A bar of `share` (0-1) in `width` characters. */
export function shareBar(share: number, width = 10): string {
  const filled = Math.round(share * width);
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

/** Short label of a verdict: `fine`, `no data`, `SCALE`, `MOVE 100k`. */
export function verdictLabel(verdict: Verdict): string {
  switch (verdict.kind) {
    case 'fine':
      return 'fine';
    case 'no-data':
      return 'no data';
    case 'scale':
      return 'SCALE';
    case 'move':
      return `MOVE ${verdict.to}`;
  }
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  return abs >= 100 ? value.toFixed(0) : abs >= 10 ? value.toFixed(1) : value.toFixed(2);
}

/** `p95 93.0 % > 80 %` style value and threshold of a signal. */
export function valueText(signal: Signal): string {
  const unit = signal.unit ? ` ${signal.unit}` : '';
  const op = signal.comparison === 'above' ? '>' : '<';
  if (signal.stats === undefined)
    return `${formatNumber(signal.values[0] ?? Number.NaN)}${unit} (threshold ${op === '>' ? '≥' : '<'} ${signal.threshold})`;
  const which = signal.comparison === 'above' ? 'p95' : 'p5';
  return `${which} ${formatNumber(signal.stats.summary)}${unit}, threshold ${op} ${formatNumber(signal.threshold)}${unit}`;
}

/** The evidence of a signal in one sentence. */
export function evidence(signal: Signal): string {
  if (signal.stats === undefined) {
    return `${signal.metric}: ${valueText(signal)}${signal.flags ? ` [from ${signal.flags.join(', ')}]` : ''}`;
  }
  const share = Math.round(signal.stats.share * 100);
  return (
    `${signal.metric}: ${valueText(signal)}, past it in ${share} % of windows ` +
    `(${signal.stats.breaching}/${signal.stats.windows})${signal.flags ? ` [from ${signal.flags.join(', ')}]` : ''}`
  );
}

function recommendationText(report: AdviceReport): string {
  const { recommendation } = report;
  if (recommendation.kind === 'fine')
    return `Recommendation: none. Every signal is within its threshold on stage ${report.stage}.`;
  if (recommendation.kind === 'scale') {
    return `Recommendation: scale within stage ${report.stage} (${recommendation.because.map((s) => s.id).join(', ')}).`;
  }
  return (
    `Recommendation: move to stage ${recommendation.to} (${recommendation.because.map((s) => s.id).join(', ')}). ` +
    `See what the upgrade changes with \`npm run diff -- ${report.stage} ${recommendation.to}\`.`
  );
}

function header(report: AdviceReport): string[] {
  const stageNote =
    report.stage === report.detectedStage
      ? `${report.stage} (detected)`
      : `${report.stage} (given; the deployment looks like ${report.detectedStage})`;
  return [
    `Scale advisor: prefix ${report.prefix} in ${report.regions.join(', ')}, stage ${stageNote}`,
    `Last ${report.days} days in ${report.periodSeconds / 60}-minute windows; a rule breaches when at least ` +
      `${Math.round(report.minShare * 100)} % of the windows are past its threshold.`,
    `Read ${report.metricsRead} metrics in ${report.calls} GetMetricData call(s) from ${report.stacks.length} stack(s): ${report.stacks.join(', ')}.`,
  ];
}

/** The terminal report. */
export function renderAdviceText(report: AdviceReport): string {
  const lines = [...header(report), ''];
  let last = '';
  for (const signal of report.signals) {
    const group = `${signal.area}: ${signal.resource}`;
    if (group !== last) {
      lines.push(group);
      last = group;
    }
    const top = Math.max(signal.threshold * 1.25, ...signal.values, 1e-9);
    const label = verdictLabel(signal.verdict).padEnd(10);
    const spark = signal.stats !== undefined ? sparkline(signal.values, top) : ''.padEnd(24);
    const bar =
      signal.stats !== undefined
        ? `${shareBar(signal.stats.share)} ${String(Math.round(signal.stats.share * 100)).padStart(3)} %`
        : '';
    lines.push(`  ${label} ${signal.id.padEnd(22)} ${spark}  ${bar.padEnd(16)}  ${valueText(signal)}`);
    if (signal.verdict.kind === 'scale' || signal.verdict.kind === 'move') {
      lines.push(`             → ${signal.verdict.action}`);
      lines.push(`             ${evidence(signal)}`);
      lines.push(`             threshold: ${signal.source}`);
    }
    if (signal.note !== undefined && signal.verdict.kind !== 'fine')
      lines.push(`             note: ${signal.note}`);
  }
  if (!report.signals.some((signal) => signal.area === 'Context')) {
    lines.push(
      '',
      'Moves to 1m and global also depend on what metrics cannot show: pass --teams, --user-continents, ' +
        '--rto-minutes and --rpo-seconds to include them.',
    );
  }
  for (const message of report.messages) lines.push(`CloudWatch: ${message}`);
  lines.push('', recommendationText(report));
  return `${lines.join('\n')}\n`;
}

/** Markdown for a ticket: the recommendation, the evidence of every signal that asks for action, then all. */
export function renderAdviceMarkdown(report: AdviceReport): string {
  const escape = (text: string) => text.replace(/\|/g, '\\|');
  const acting = report.signals.filter((s) => s.verdict.kind === 'scale' || s.verdict.kind === 'move');
  return [
    `# Scale advisor: ${report.prefix} (${report.regions.join(', ')}), stage ${report.stage}`,
    '',
    ...header(report).map((line) => `${line}  `),
    '',
    `**${recommendationText(report)}**`,
    '',
    ...(acting.length
      ? [
          '## Evidence',
          '',
          ...acting.map(
            (s) =>
              `- **${verdictLabel(s.verdict)}** \`${s.id}\` on ${s.resource}: ${(s.verdict as { action: string }).action}. ` +
              `${evidence(s)}. Threshold: ${s.source}.`,
          ),
          '',
        ]
      : []),
    '## All signals',
    '',
    '| Verdict | Signal | Resource | Value | Windows past threshold | Source |',
    '| --- | --- | --- | --- | --- | --- |',
    ...report.signals.map(
      (s) =>
        `| ${verdictLabel(s.verdict)} | \`${s.id}\` | ${escape(s.resource)} | ${escape(valueText(s))} | ` +
        `${s.stats ? `${Math.round(s.stats.share * 100)} % (${s.stats.breaching}/${s.stats.windows})` : (s.flags?.join(', ') ?? '')} | ${escape(s.source)} |`,
    ),
    '',
  ].join('\n');
}

/** JSON for automation. */
export function renderAdviceJson(report: AdviceReport): string {
  return `${JSON.stringify(
    {
      ...report,
      signals: report.signals.map((signal) => ({
        ...signal,
        values: undefined,
        windows: signal.values.length,
      })),
      recommendation: {
        ...report.recommendation,
        because: report.recommendation.because.map((signal) => signal.id),
      },
    },
    null,
    2,
  )}\n`;
}
