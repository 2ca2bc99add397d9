import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DISABLE_ASSET_STAGING_CONTEXT } from 'aws-cdk-lib/cx-api';
import { createBlueprintApp } from '../../lib/blueprint';
import { stageById, stageContext, stageIds } from '../../stages';

/** The report of CDK's built-in CloudFormation validation in a synth's validation-report.json. */
interface PluginReport {
  readonly pluginName: string;
  readonly conclusion: string;
  readonly violations?: readonly { readonly ruleName: string; readonly severity?: string }[];
}

// Everyday `cdk synth` skips CDK's CloudFormation validation (it is most of a synth's time); this is
// where the test suite, and so CI, runs it on every stage, so template errors are still caught.
// Latest stage first: it has every resource type of the earlier ones, so the validation engine prepares
// its rules once in this process instead of starting again for each new type (order does not matter for
// correctness).
describe.each([...stageIds].reverse())('CDK CloudFormation validation of stage %s', (id) => {
  const outdir = mkdtempSync(join(tmpdir(), 'cfn-validate-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  test('runs and finds nothing in any template', () => {
    // GIVEN: the stage with the validation explicitly on, as `cdk synth -c validate=true` builds it
    const app = createBlueprintApp({
      config: stageById(id),
      outdir,
      cloudFormationValidation: true,
      context: { [DISABLE_ASSET_STAGING_CONTEXT]: true, ...stageContext(id) },
    });
    // WHEN: synth fails on an error (the validateAgainstDefaultRules flag is on), so it must pass
    app.synth();
    // THEN: the plugin ran over the templates and reported no violation, not even a warning
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: PluginReport[];
    };
    const cfn = report.pluginReports.find((plugin) => plugin.pluginName === 'CloudFormation Validate');
    expect(cfn).toBeDefined();
    expect(cfn!.conclusion).toBe('success');
    expect((cfn!.violations ?? []).map((v) => `${v.severity}: ${v.ruleName}`)).toEqual([]);
  }, 120_000);
});
