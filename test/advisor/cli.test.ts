/**
 * `npm run advise` and `npm run cost` as processes: the entry points wire the real synthesis and output.
 * The advisor runs with --dry-run, which makes no AWS call (no client is even created). Slow (tsx and a
 * synth per spawn), so one spawn each; the cases live in advise.test.ts and test/cost/.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../tools/upgrade/synth';

function cli(script: string, ...args: string[]) {
  const result = spawnSync(
    process.execPath,
    [join(repoRoot, 'node_modules/tsx/dist/cli.mjs'), script, ...args],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      // No credentials and no region from the environment: the dry run must not need them.
      env: { PATH: process.env.PATH, FORCE_COLOR: '0', AWS_EC2_METADATA_DISABLED: 'true' },
      timeout: 240_000,
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('advise --dry-run prints the GetMetricData requests of a synthesised stage and exits 0', () => {
  const result = cli(
    'tools/advisor/cli.ts',
    '--region',
    'eu-west-1',
    '--stage',
    '10k',
    '--dry-run',
    '--format',
    'json',
  );

  expect(result.status).toBe(0);
  const printed = JSON.parse(result.stdout) as {
    getMetricData: { region: string; input: { MetricDataQueries: unknown[] } }[];
  };
  expect(printed.getMetricData).toHaveLength(1);
  expect(printed.getMetricData[0]?.region).toBe('eu-west-1');
  expect(printed.getMetricData[0]?.input.MetricDataQueries).toHaveLength(27);
}, 240_000);

test('cost prints the estimate of a stage and exits 0', () => {
  const result = cli('tools/cost/cli.ts', '1k', '--region', 'eu-west-1');

  expect(result.status).toBe(0);
  expect(result.stdout).toContain('Estimated monthly cost of stage 1k in eu-west-1');
  expect(result.stdout).toMatch(/^ {2}Total +\$\d+\.\d\d$/m);
}, 240_000);
