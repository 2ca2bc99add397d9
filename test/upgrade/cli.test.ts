/**
 * `npm run diff` as a process: usage errors and a real upgrade, with their exit codes. Slow (a process with
 * tsx, and two stage synths), so only two spawns; the cases live in run.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { stageIds } from '../../stages';
import { repoRoot } from '../../tools/upgrade/synth';

function diffCli(...args: string[]) {
  const result = spawnSync(
    process.execPath,
    [join(repoRoot, 'node_modules/tsx/dist/cli.mjs'), 'tools/upgrade/cli.ts', ...args],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { ...process.env, FORCE_COLOR: '0' },
      timeout: 240_000,
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('an unknown stage id exits 2 and lists the known stages', () => {
  const result = diffCli(stageIds[0] as string, '5k');

  expect(result.stderr).toContain(
    `Error: Unknown stage id "5k" for <to>. Known stages: ${stageIds.join(', ')}.`,
  );
  expect(result.stderr).toContain('Usage: npm run diff -- <from> <to>');
  expect(result.status).toBe(2);
});

test('the first upgrade exits 0 and prints the per-stack diff and a SAFE summary', () => {
  const [from, to] = stageIds as [string, string];

  const result = diffCli(from, to);

  expect(result.stderr).not.toContain('failed to synthesise');
  expect(result.stdout).toMatch(/^Stack \S+/m);
  expect(result.stdout).toContain(`Summary: ${from} -> ${to}`);
  expect(result.stdout).toContain('Resources by type:');
  expect(result.stdout).toContain(
    'SAFE: no data-bearing resource or data anchor is replaced or removed, and every output a deployed stack reads is kept.',
  );
  expect(result.status).toBe(0);
}, 240_000);
