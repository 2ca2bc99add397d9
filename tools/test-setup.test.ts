// The README's two commands on a fresh machine: `npm ci`, then `npm test`. `npm test` itself provides what the
// suite needs (tools/test-setup.sh as its pretest script), and CI runs exactly those commands, so a green CI
// cannot hide an install step that only CI does.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repoRoot = path.resolve(__dirname, '..');
const script = path.join(repoRoot, 'tools/test-setup.sh');
const read = (file: string) => readFileSync(path.join(repoRoot, file), 'utf8');

/** Runs the set-up script with extra environment; returns its exit code and output. */
async function setup(env: Record<string, string>): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('bash', [script], { env: { ...process.env, ...env } });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('the README test command provides what the suite needs', () => {
  test('npm test runs tools/test-setup.sh first (pretest), and npm run test:setup runs it alone', () => {
    const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(scripts.pretest).toBe('bash tools/test-setup.sh');
    expect(scripts['test:setup']).toBe('bash tools/test-setup.sh');
    expect(scripts.test).toBe('jest');
  });

  test('the README quick start is `npm ci` then `npm test`, and CI runs the same commands and installs nothing itself', () => {
    const quickStart = /## Quick start\n([\s\S]*?)\n## /.exec(read('README.md'))?.[1] ?? '';
    const commands = /```bash\n([\s\S]*?)```/
      .exec(quickStart)?.[1]
      .split('\n')
      .map((line) => line.replace(/#.*$/, '').trim())
      .filter(Boolean);
    expect(commands).toEqual(['npm ci', 'npx cdk synth -c stage=10k', 'npm test']);

    const ci = read('.ci/run')
      .split('\n')
      .filter((line) => !line.trim().startsWith('#'));
    const npm = ci.map((line) => line.trim()).filter((line) => /^npm /.test(line));
    expect(npm).toEqual(['npm ci --no-audit --no-fund', 'npm run lint', 'npm run typecheck', 'npm test']);
    // one place installs and starts things: the script npm test runs
    expect(ci.join('\n')).not.toMatch(/apt-get|pg_ctlcluster|redis-server|chromium/);
  });

  test('a CHROMIUM_PATH that is not a browser stops the set-up with the variable named', async () => {
    const { code, output } = await setup({ CHROMIUM_PATH: '/nonexistent/chromium' });
    expect(code).toBe(1);
    expect(output).toContain('CHROMIUM_PATH=/nonexistent/chromium is not an executable file');
  });

  test('with everything in place it only checks, and leaves servers named by TEST_PG_URL / TEST_REDIS_URL alone', async () => {
    // GIVEN a browser of the caller's choice and test servers elsewhere (nothing local to install or start)
    const { code, output } = await setup({
      CHROMIUM_PATH: process.execPath,
      TEST_PG_URL: 'postgres://postgres@127.0.0.1:1/none',
      TEST_REDIS_URL: 'redis://127.0.0.1:1',
    });
    // THEN it installs and starts nothing and says what the tests will use
    expect({ code, output }).toEqual({
      code: 0,
      output: `test-setup: ok: ${process.execPath}; PostgreSQL postgres://postgres@127.0.0.1:1/none; Redis redis://127.0.0.1:1\n`,
    });
  });
});
