import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DISABLE_ASSET_STAGING_CONTEXT } from 'aws-cdk-lib/cx-api';
import { REPO_ROOT } from '../../lib/constructs/service-platform';

/** The environment of a machine with no AWS credentials: no AWS_* variables, and an empty home. */
function credentialFreeEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('AWS_') && !key.startsWith('CDK_')) env[key] = value;
  }
  return { ...env, HOME: home, USERPROFILE: home, NODE_ENV: 'production' };
}

/** Runs the README's synth command (the CDK CLI from node_modules) as a child process. */
function cdkSynth(args: string[]) {
  const home = mkdtempSync(join(tmpdir(), 'empty-home-'));
  const outdir = mkdtempSync(join(tmpdir(), 'cdk-out-'));
  const result = spawnSync(
    join(REPO_ROOT, 'node_modules', '.bin', 'cdk'),
    ['synth', '--quiet', '--no-notices', '-o', outdir, ...args],
    { cwd: REPO_ROOT, env: credentialFreeEnv(home), encoding: 'utf8', timeout: 170_000 },
  );
  return { ...result, home, outdir };
}

/** Names of the validation plugins that reported in a synth's validation-report.json. */
function pluginNames(outdir: string): string[] {
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: { pluginName: string }[];
  };
  return report.pluginReports.map((plugin) => plugin.pluginName);
}

describe('cdk synth as a child process, offline, without credentials', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  test('synthesises stage 10k with every AWS_* variable unset and no credentials file', () => {
    // GIVEN
    const env = credentialFreeEnv('/nonexistent');
    expect(Object.keys(env).filter((key) => key.startsWith('AWS_'))).toEqual([]);
    // WHEN
    const run = cdkSynth(['-c', 'stage=10k']);
    dirs.push(run.home, run.outdir);
    // THEN
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({
      status: 0,
      stderr: '',
    });
    expect(existsSync(join(run.home, '.aws'))).toBe(false);
    for (const stack of ['ShopNetwork', 'ShopData', 'ShopService']) {
      expect(existsSync(join(run.outdir, `${stack}.template.json`))).toBe(true);
    }
    const data = readFileSync(join(run.outdir, 'ShopData.template.json'), 'utf8');
    expect(data).toContain('AWS::ElastiCache::ReplicationGroup');
    // No context lookups were needed (they would need credentials).
    const manifest = JSON.parse(readFileSync(join(run.outdir, 'manifest.json'), 'utf8')) as {
      missing?: unknown[];
    };
    expect(manifest.missing ?? []).toEqual([]);
    expect(run.stderr).toContain('-c certificateArn=');
  }, 180_000);

  test.each([
    ['skips', [], false],
    ['runs', ['validate=true'], true],
  ] as const)(
    'bin/app.ts %s CDK CloudFormation validation with context %j',
    (_verb, context, runs) => {
      // GIVEN: the app run as the CLI runs it (the CLI rewrites the report, so the app's own copy is read)
      const outdir = mkdtempSync(join(tmpdir(), 'bin-out-'));
      dirs.push(outdir);
      const cdkContext = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
        context: Record<string, unknown>;
      };
      const contextJson: Record<string, unknown> = {
        ...cdkContext.context,
        [DISABLE_ASSET_STAGING_CONTEXT]: true,
        ...Object.fromEntries(context.map((pair) => pair.split('='))),
      };
      // WHEN
      const run = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), ['bin/app.ts'], {
        cwd: REPO_ROOT,
        env: {
          ...credentialFreeEnv('/nonexistent'),
          CDK_OUTDIR: outdir,
          CDK_CONTEXT_JSON: JSON.stringify(contextJson),
        },
        encoding: 'utf8',
        timeout: 170_000,
      });
      // THEN: cdk-nag ran either way (its findings would fail synth); the CloudFormation plugin only when asked
      expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({
        status: 0,
        stderr: '',
      });
      expect(pluginNames(outdir).includes('CloudFormation Validate')).toBe(runs);
    },
    180_000,
  );

  test('fails with every configuration problem in one message and no stack trace', () => {
    // WHEN: two bad context values
    const run = cdkSynth(['-c', 'account=1234', '-c', 'validate=maybe']);
    dirs.push(run.home, run.outdir);
    // THEN
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('Invalid stage configuration (2 problems)');
    expect(run.stderr).toContain('context.account: received "1234"');
    expect(run.stderr).toContain('context.validate: received "maybe"');
    expect(run.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  }, 180_000);

  test('fails with a clear message for an unknown stage', () => {
    // WHEN
    const run = cdkSynth(['-c', 'stage=100x']);
    dirs.push(run.home, run.outdir);
    // THEN
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('Unknown stage "100x"');
    expect(run.stderr).toContain('Valid stages: 1k, 10k');
  }, 180_000);
});
