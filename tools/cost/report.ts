/**
 * Rendering a cost estimate: a terminal table, a Markdown section (stage pages, README) and JSON.
 */
import { markdownTable, type Table } from '../upgrade/report';
import type { CostEstimate } from './estimate';
import { PRICE_DATE } from './prices';

/** `1234.5` → `$1,234.50`. */
export function formatUsd(value: number): string {
  return `$${value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** `1234.5` → `$1,235` (whole dollars, for summaries). */
export function formatUsdRounded(value: number): string {
  return `$${Math.round(value).toLocaleString('en-US')}`;
}

/** The estimate as a table: one row per priced type, most expensive first, and a total row. */
export function costTable(estimate: CostEstimate): Table {
  return {
    header: ['Resource type', 'Count', 'How', 'Per month'],
    rows: [
      ...estimate.rows.map((row) => [
        row.type,
        String(row.count),
        row.bases.join('\n'),
        formatUsd(row.monthlyUsd),
      ]),
      ['Total', '', '', formatUsd(estimate.totalUsd)],
    ],
  };
}

/** The terminal report of `npm run cost`. */
export function renderCostText(stageId: string, estimate: CostEstimate): string {
  const lines: string[] = [
    `Estimated monthly cost of stage ${stageId} in ${estimate.region} (on-demand, tasks at ${estimate.tasks}, ` +
      `prices of ${PRICE_DATE})`,
    '',
  ];
  const typeWidth = Math.max(...estimate.rows.map((row) => row.type.length), 'Total'.length);
  const amounts = estimate.rows.map((row) => formatUsd(row.monthlyUsd));
  const amountWidth = Math.max(
    ...amounts.map((amount) => amount.length),
    formatUsd(estimate.totalUsd).length,
  );
  estimate.rows.forEach((row, index) => {
    lines.push(
      `  ${row.type.padEnd(typeWidth)}  ${String(row.count).padStart(3)}  ${(amounts[index] ?? '').padStart(amountWidth)}`,
    );
    for (const basis of row.bases) lines.push(`      ${basis}`);
  });
  lines.push(`  ${'-'.repeat(typeWidth + amountWidth + 7)}`);
  lines.push(`  ${'Total'.padEnd(typeWidth)}       ${formatUsd(estimate.totalUsd).padStart(amountWidth)}`);
  lines.push(
    '',
    `${formatUsd(estimate.assumedUsd)} of it rests on usage assumptions (tools/cost/usage.ts), marked "(assumed)"; ` +
      'the rest follows from the templates.',
    `No charge: ${estimate.free.map((row) => `${row.type} ×${row.count}`).join(', ')}.`,
  );
  return `${lines.join('\n')}\n`;
}

/** One line for tables of stages: `$123 – $456` (tasks at minimum – at maximum), or one figure when equal. */
export function costRange(atMin: CostEstimate, atMax: CostEstimate): string {
  const low = formatUsdRounded(atMin.totalUsd);
  const high = formatUsdRounded(atMax.totalUsd);
  return low === high ? low : `${low} – ${high}`;
}

/**
 * The "Estimated monthly cost" section of a stage page: the range in each priced region, then the
 * per-type table for the first region at minimum tasks.
 */
export function renderCostMarkdown(
  stageId: string,
  estimates: readonly { readonly min: CostEstimate; readonly max: CostEstimate }[],
): string {
  const first = estimates[0];
  if (first === undefined) throw new Error('renderCostMarkdown: no estimate given');
  return [
    '## Estimated monthly cost',
    '',
    `On-demand, from the synthesised templates and the price table of ${PRICE_DATE} (\`tools/cost/prices.ts\`); ` +
      `usage-priced parts use the assumptions for \`${stageId}\` in \`tools/cost/usage.ts\`. ` +
      `The same estimate with every line: \`npm run cost -- ${stageId} [--region <r>] [--tasks min|max]\`.`,
    '',
    markdownTable({
      header: ['Region', 'Tasks at minimum', 'Tasks at maximum', 'Of which usage assumptions (min)'],
      rows: estimates.map(({ min, max }) => [
        min.region,
        formatUsd(min.totalUsd),
        formatUsd(max.totalUsd),
        formatUsd(min.assumedUsd),
      ]),
    }),
    '',
    `By resource type (${first.min.region}, tasks at minimum):`,
    '',
    markdownTable(costTable(first.min)),
    '',
  ].join('\n');
}
