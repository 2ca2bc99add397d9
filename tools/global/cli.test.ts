/**
 * `npm run global` as a process: the entry point wires the stage registry and the output, and creates no AWS
 * client for --help or a refusal (no credentials and no region in the environment). The cases live in
 * run.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../upgrade/synth';

function cli(...args: string[]) {
  const result = spawnSync(
    process.execPath,
    [join(repoRoot, 'node_modules/tsx/dist/cli.mjs'), 'tools/global/cli.ts', ...args],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, FORCE_COLOR: '0', AWS_EC2_METADATA_DISABLED: 'true' },
      timeout: 120_000,
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('--help prints the usage and exits 0', () => {
  const result = cli('--help');

  expect(result.status).toBe(0);
  expect(result.stdout).toContain('Usage: npm run global -- switchover --to <region> [options]');
  expect(result.stdout).toContain('docs/runbooks/global-switchover-and-failover.md');
}, 120_000);

test('a stage of the registry without global config is refused with exit 2 before any AWS call', () => {
  const result = cli(
    'switchover',
    '--to',
    'eu-west-1',
    '--stage',
    '1m',
    '--dry-run',
    '--regions',
    'us-east-1,eu-west-1,ap-southeast-2',
  );

  expect(result.status).toBe(2);
  expect(result.stderr).toContain('stage 1m has no `global` config');
}, 120_000);
