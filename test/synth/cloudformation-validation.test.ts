import { stageIds } from '../../stages';
import { FULL_VALIDATION_CONTEXT, synthStage } from '../support/synth';

// Everyday `cdk synth` skips CDK's CloudFormation validation (it is most of a synth's time); this is
// where the test suite, and so CI, runs it on every stage, so template errors are still caught. The synth is the
// one the Control Tower test reads (cdk-nag, the Control Tower rules and this validation in one synth per stage,
// shared through the run's synth cache). Latest stage first, the opposite order of the Control Tower test: when
// both files start together each synthesises different stages instead of one waiting for the other's synth.
describe.each([...stageIds].reverse())('CDK CloudFormation validation of stage %s', (id) => {
  test('runs and finds nothing in any template', () => {
    // GIVEN / WHEN: the stage with the validation explicitly on, as `cdk synth -c validate=true` builds it; synth
    // fails on an error (the validateAgainstDefaultRules flag is on), so it must pass
    const { report } = synthStage(id, { context: FULL_VALIDATION_CONTEXT });
    // THEN: the plugin ran over the templates and reported no violation, not even a warning
    const cfn = report.pluginReports.find((plugin) => plugin.pluginName === 'CloudFormation Validate');
    expect(cfn).toBeDefined();
    expect(cfn!.conclusion).toBe('success');
    expect((cfn!.violations ?? []).map((v) => `${v.severity}: ${v.ruleName}`)).toEqual([]);
  }, 300_000);
});
