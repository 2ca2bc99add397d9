/**
 * Every stage the blueprint ships is fully priced: every resource type in its templates has a price (or a
 * reason it costs nothing) in every priced region, the README's stage table shows what the tool computes,
 * and `npm run cost` prints and exits as documented.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stageIds } from '../../stages';
import { generateDocs, stageDocPath } from '../../tools/docs/generate';
import { estimateCost, RESOURCE_PRICING } from '../../tools/cost/estimate';
import { pricedRegions } from '../../tools/cost/prices';
import { costRange, formatUsd } from '../../tools/cost/report';
import { costExitCodes, runCost } from '../../tools/cost/run';
import { usageFor } from '../../tools/cost/usage';
import { synthStageCached } from '../../tools/upgrade/stage-synth';
import { repoRoot } from '../../tools/upgrade/synth';

// Synthesis is CPU-bound and the machine is shared: allow for a slow, loaded run.
jest.setTimeout(180_000);

const estimate = (id: string, region: string, tasks: 'min' | 'max') =>
  estimateCost(synthStageCached(id), { region, usage: usageFor(id), tasks });

test.each(stageIds)('every resource type of stage %s has a pricing rule', (id) => {
  const types = new Set(
    synthStageCached(id).stacks.flatMap((stack) =>
      Object.values(stack.template.Resources ?? {}).map((r) => r.Type),
    ),
  );
  const unpriced = [...types].filter((type) => !Object.prototype.hasOwnProperty.call(RESOURCE_PRICING, type));
  expect(unpriced).toEqual([]);
});

test.each(stageIds.flatMap((id) => pricedRegions.map((region) => [id, region])))(
  'stage %s is priced in %s: every class and node type has a price, and the maximum costs at least the minimum',
  (id, region) => {
    const atMin = estimate(id, region, 'min');
    const atMax = estimate(id, region, 'max');
    expect(atMin.totalUsd).toBeGreaterThan(0);
    expect(atMax.totalUsd).toBeGreaterThanOrEqual(atMin.totalUsd);
    // Every priced row costs something: a zero would be a price nobody checked.
    expect(atMin.rows.filter((row) => !(row.monthlyUsd > 0)).map((row) => row.type)).toEqual([]);
  },
);

test('each stage costs more than the one before it', () => {
  const totals = stageIds.map((id) => estimate(id, 'us-east-1', 'min').totalUsd);
  totals.slice(1).forEach((total, index) => expect(total).toBeGreaterThan(totals[index] as number));
});

test("the README's stage table shows each implemented stage's estimate", () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const header = readme.split('\n').find((line) => line.startsWith('| stage id'));
  const column = header?.split('|').findIndex((cell) => cell.trim() === 'cost / month (us-east-1)') ?? -1;
  expect(column).toBeGreaterThan(0);
  for (const id of stageIds) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${id}\` `));
    const cell = row?.split('|')[column]?.trim();
    expect({ id, cell }).toEqual({
      id,
      cell: costRange(estimate(id, 'us-east-1', 'min'), estimate(id, 'us-east-1', 'max')),
    });
  }
});

test('each stage page shows its estimate in every priced region', () => {
  const pages = generateDocs(stageIds, synthStageCached);
  for (const id of stageIds) {
    const page = pages.get(stageDocPath(id)) ?? '';
    expect(page).toContain('## Estimated monthly cost');
    for (const region of pricedRegions) {
      const row = `| ${region} | ${formatUsd(estimate(id, region, 'min').totalUsd)} | ${formatUsd(estimate(id, region, 'max').totalUsd)} |`;
      expect(page).toContain(row);
    }
  }
});

describe('npm run cost', () => {
  function run(...argv: string[]) {
    let stdout = '';
    let stderr = '';
    const code = runCost(argv, {
      stageIds,
      synth: synthStageCached,
      stdout: { write: (chunk: string) => (stdout += chunk) },
      stderr: { write: (chunk: string) => (stderr += chunk) },
    });
    return { code, stdout, stderr };
  }

  test('prints a table per resource type and the total', () => {
    const id = stageIds[stageIds.length - 1] as string;
    const result = run(id, '--region', 'eu-west-1', '--tasks', 'max');
    expect(result.code).toBe(costExitCodes.ok);
    expect(result.stdout).toContain(
      `Estimated monthly cost of stage ${id} in eu-west-1 (on-demand, tasks at max`,
    );
    expect(result.stdout).toMatch(/^ {2}AWS::RDS::DBInstance +\d+ +\$[\d,]+\.\d\d$/m);
    expect(result.stdout).toContain(`Total`);
    expect(result.stdout).toContain(formatUsd(estimate(id, 'eu-west-1', 'max').totalUsd));
  });

  test('json output carries the rows and the total', () => {
    const result = run('1k', '--format=json');
    const parsed = JSON.parse(result.stdout) as { stage: string; region: string; totalUsd: number };
    expect(parsed).toMatchObject({ stage: '1k', region: 'us-east-1' });
    expect(parsed.totalUsd).toBeCloseTo(estimate('1k', 'us-east-1', 'min').totalUsd, 6);
  });

  test.each([
    [['5k'], /Unknown stage "5k"\. Known stages: 1k, 10k/],
    [
      ['1k', '--region', 'mars-1'],
      /--region: no price table for "mars-1"\. Priced regions: us-east-1, eu-west-1\./,
    ],
    [['1k', '--tasks', 'most'], /--tasks: received "most", expected min or max\./],
    [[], /Expected one stage id, got 0/],
    [['1k', '--currency', 'EUR'], /Unknown option --currency\./],
  ])('usage error %j exits 2 with the reason and the usage', (argv, message) => {
    const result = run(...argv);
    expect(result.code).toBe(costExitCodes.usage);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain('Usage: npm run cost -- <stage>');
  });
});
