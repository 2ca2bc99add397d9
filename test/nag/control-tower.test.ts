/**
 * The AWS Control Tower proactive controls (cfn-guard, through `@cdklabs/cdk-validator-cfnguard`) on every
 * stage: zero findings left, each rule that does not apply turned off with a reason, each false positive
 * acknowledged on its construct. The plugin runs the cfn-guard binary bundled in the npm package: offline.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { App, Stack, Validations, type IPolicyValidationContextBeta1 } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { DISABLED_CONTROL_TOWER_RULES, controlTowerValidator } from '../../lib/validation';
import { stageIds } from '../../stages';
import { FULL_VALIDATION_CONTEXT, synthStage, type ValidationReport } from '../support/synth';

// cfn-guard runs once per synth over every template; synthesis is CPU-bound on a shared machine.
jest.setTimeout(300_000);

const PLUGIN = 'cdk-validator-cfnguard';

/** cfn-guard findings left in a synth's validation report, as `rule at construct path`. */
function guardFindings(report: ValidationReport): string[] {
  return report.pluginReports
    .filter((plugin) => plugin.pluginName === PLUGIN)
    .flatMap((plugin) => plugin.violations ?? [])
    .flatMap((violation) =>
      (violation.violatingConstructs ?? [{}]).map(
        (resource) => `${violation.ruleName} at ${resource.constructPath}`,
      ),
    );
}

/** Every rule file the package bundles, by name (`ct-s3-pr-9`). */
function bundledRules(): Set<string> {
  const root = join(
    require.resolve('@cdklabs/cdk-validator-cfnguard/package.json'),
    '..',
    'rules',
    'control-tower',
    'cfn-guard',
  );
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? walk(join(dir, entry.name)) : [entry.name.replace(/\.guard$/, '')],
    );
  return new Set(walk(root));
}

describe('the Control Tower rules plugin', () => {
  test('runs here, offline, and finds what it should (an unencrypted log group kept forever)', () => {
    // GIVEN a non-compliant app
    const outdir = mkdtempSync(join(tmpdir(), 'ct-probe-'));
    const app = new App({ outdir });
    Validations.of(app).addPlugins(controlTowerValidator());
    const stack = new Stack(app, 'Probe');
    new logs.CfnLogGroup(stack, 'Logs', { retentionInDays: 1 });

    // WHEN / THEN: synth fails with the plugin's finding
    try {
      expect(() => app.synth()).toThrow(/\[CT\.CLOUDWATCH\.PR\.3\].*\(cdk-validator-cfnguard\)/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  test('no rule finds anything in a template without the resource types it names (the plugin gives cfn-guard only the rule files naming a type the templates contain)', () => {
    // GIVEN a template whose only resource is of a type no rule names
    const dir = mkdtempSync(join(tmpdir(), 'ct-absent-'));
    const template = join(dir, 'Absent.template.json');
    writeFileSync(
      template,
      JSON.stringify({ Resources: { Handle: { Type: 'AWS::CloudFormation::WaitConditionHandle' } } }),
    );
    try {
      // WHEN every rule that is on runs over it (the package's own plugin, not narrowed)
      const report = new CfnGuardValidator({
        disabledRules: Object.keys(DISABLED_CONTROL_TOWER_RULES),
      }).validate({ templatePaths: [template] } as unknown as IPolicyValidationContextBeta1);
      // THEN
      expect(report.violations).toEqual([]);
      expect(report.success).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('each rule turned off exists in the bundled rules and has a one-line reason', () => {
    const rules = bundledRules();
    expect(rules.size).toBeGreaterThan(100);
    for (const [rule, reason] of Object.entries(DISABLED_CONTROL_TOWER_RULES)) {
      expect([rule, rules.has(rule)]).toEqual([rule, true]);
      expect(reason.length).toBeGreaterThan(40);
      expect(reason).not.toContain('\n');
    }
  });

  test('the bundled cfn-guard binary is there for this platform', () => {
    const platform = process.platform === 'darwin' ? 'macos' : 'ubuntu';
    const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
    const binary = join(
      require.resolve('@cdklabs/cdk-validator-cfnguard/package.json'),
      '..',
      'bin',
      platform,
      arch,
      'cfn-guard',
    );
    expect(existsSync(binary)).toBe(true);
  });
});

describe.each([
  ...stageIds.map((id) => [id, {}] as const),
  // HTTPS from a hosted zone: the certificate, the alias record and the redirecting listener.
  [
    '1k with HTTPS',
    { hostedZoneId: 'Z0123456789ABCDEFGHIJ', hostedZoneName: 'example.com', domainName: 'shop.example.com' },
  ] as const,
])('Control Tower proactive controls on stage %s', (name, context) => {
  // GIVEN / WHEN: synthesised with both plugins
  // (with CDK's CloudFormation validation too: the synth cloudformation-validation.test.ts reads, one per run)
  const stage = synthStage(name.split(' ')[0]!, { context: { ...context, ...FULL_VALIDATION_CONTEXT } });

  test('leave zero findings (and no plugin fails: cdk-nag runs in the same synth)', () => {
    // THEN
    const plugins = stage.report.pluginReports.map((plugin) => plugin.pluginName);
    expect(plugins).toContain(PLUGIN);
    expect(guardFindings(stage.report)).toEqual([]);
    expect(stage.report.pluginReports.filter((plugin) => plugin.conclusion === 'failure')).toEqual([]);
  });
});

test('lists the Control Tower acknowledgements of stage 10k, each on one construct with a reason (review any change here)', () => {
  // GIVEN: the synth above (from the run's synth cache). Its cloud assembly keeps each construct's
  // acknowledgements in the stacks' metadata, keyed by construct path, so nothing is synthesised again.
  const { assembly } = synthStage('10k', { context: FULL_VALIDATION_CONTEXT });
  // WHEN
  const acks = assembly.stacks.flatMap((stack) =>
    stack.findMetadataByType(Validations.ACKNOWLEDGED_RULES_METADATA_KEY).flatMap((entry) =>
      Object.entries(entry.data as unknown as Record<string, string>)
        .filter(([id]) => id.startsWith(`${PLUGIN}::`))
        .map(([id, reason]) => ({
          where: `${entry.path.replace(/^\//, '')} ${id.slice(PLUGIN.length + 2)}`,
          reason,
        })),
    ),
  );
  // THEN
  for (const { reason } of acks) expect(reason.length).toBeGreaterThan(40);
  expect(acks.map((ack) => ack.where).sort()).toEqual([
    'ShopData/Cache/Resource elasticache_repl_grp_rbac_auth_enabled_check',
    'ShopNetwork/Custom::VpcRestrictDefaultSGCustomResourceProvider lambda_inside_vpc_check',
    'ShopService/AccessLogs/Resource s3_bucket_default_encryption_kms_check',
    'ShopService/AccessLogs/ServerAccessLogs s3_bucket_default_encryption_kms_check',
    'ShopService/AccessLogs/ServerAccessLogs s3_bucket_logging_enabled_check',
    'ShopService/Migration/Runner lambda_inside_vpc_check',
    'ShopService/Shop/Cluster ecs_container_insights_enabled_check',
    'ShopService/Shop/Default/Logs cloudwatch_log_group_encrypted_check',
    'ShopService/Shop/Default/MetricsCollector/EmfLogs cloudwatch_log_group_encrypted_check',
    'ShopService/Shop/Default/MetricsCollector/Logs cloudwatch_log_group_encrypted_check',
    'ShopService/Shop/LoadBalancer/HttpListener alb_http_to_https_redirection_check',
  ]);
});
