import { Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { blueprintStacks, createBlueprintApp } from '../../lib/blueprint';
import { stageById, stageIds } from '../../stages';
import { synthStage, type ValidationReport } from '../support/synth';

/** cdk-nag findings left in a synth's validation report (errors and warnings alike). */
function nagFindings(report: ValidationReport): string[] {
  return report.pluginReports
    .filter((plugin) => plugin.pluginName === 'AwsSolutions')
    .flatMap((plugin) => plugin.violations ?? [])
    .flatMap((violation) =>
      (violation.violatingConstructs ?? [{}]).map(
        (resource) => `${violation.ruleName} at ${resource.constructPath}`,
      ),
    );
}

/** Every acknowledgement in an app: where it is and what it acknowledges. */
function acknowledgements(app: ReturnType<typeof createBlueprintApp>) {
  return app.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

describe.each(stageIds)('cdk-nag AwsSolutions on stage %s', (id) => {
  // GIVEN: the stage synthesised as `cdk synth` does, with cdk-nag registered by createBlueprintApp
  const stage = synthStage(id);

  test('leaves zero unacknowledged findings in the validation report', () => {
    // THEN
    expect(nagFindings(stage.report)).toEqual([]);
    expect(stage.report.pluginReports.filter((plugin) => plugin.conclusion === 'failure')).toEqual([]);
  });

  test('leaves zero findings when the pack walks the construct tree directly', () => {
    // WHEN
    const result = new AwsSolutionsChecks().validateScope(stage.app);
    // THEN
    expect(result.violations.map((violation) => violation.ruleName)).toEqual([]);
    expect(result.success).toBe(true);
  });

  test('acknowledges each finding on one resource, one rule id, with a specific reason', () => {
    // WHEN
    const nagAcks = acknowledgements(stage.app).filter((ack) => ack.id.startsWith('AwsSolutions-'));
    // THEN
    expect(nagAcks.length).toBeGreaterThan(0);
    for (const ack of nagAcks) {
      // Not on the app or a stack: at least two path segments below the app.
      expect(ack.path.split('/').length).toBeGreaterThanOrEqual(2);
      expect(ack.id).toMatch(/^AwsSolutions-[A-Z]+\d+(\[[^\]]+\])?$/);
      expect(ack.reason.length).toBeGreaterThan(60);
    }
    const { network, data, service, shards } = blueprintStacks(stage.app);
    const stacks = [network, data, service, ...Object.values(shards)].map((stack) => stack.node.path);
    expect(nagAcks.filter((ack) => stacks.includes(ack.path))).toEqual([]);
  });
});

describe('cdk-nag registration', () => {
  test('makes synth fail with the finding when a non-compliant resource is added', () => {
    // GIVEN: a stage with a bucket that has no server access logs and no TLS-only policy
    const app = createBlueprintApp({ config: stageById('1k') });
    new s3.Bucket(blueprintStacks(app).service, 'UnloggedBucket');
    // WHEN / THEN
    expect(() => app.synth()).toThrow(/AwsSolutions-S1[\s\S]*ShopService\/UnloggedBucket/);
  });

  test('lists the acknowledgements of stage 10k (review any change here)', () => {
    const app = synthStage('10k').app;
    const list = acknowledgements(app)
      .filter((ack) => ack.id.startsWith('AwsSolutions-'))
      .map((ack) => `${ack.path} ${ack.id}`)
      .sort();
    expect(list).toEqual([
      'ShopData/Cache/AuthToken AwsSolutions-SMG4',
      'ShopData/Cache/Resource AwsSolutions-AEC5',
      'ShopData/Default/Database/Cluster AwsSolutions-RDS11',
      'ShopData/Default/Database/Cluster/MonitoringRole AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]',
      'ShopData/SessionSecret AwsSolutions-SMG4',
      'ShopService/AccessLogs/ServerAccessLogs AwsSolutions-S1',
      'ShopService/Migration/RunnerRole AwsSolutions-IAM5[Resource::arn:aws:ecs:us-east-1:123456789012:task/<ShopCluster2B4D040E>/*]',
      'ShopService/Migration/TaskDefinition AwsSolutions-ECS2',
      'ShopService/Migration/TaskDefinition/ExecutionRole AwsSolutions-IAM5[Resource::*]',
      'ShopService/Shop/Default/TaskDefinition AwsSolutions-ECS2',
      'ShopService/Shop/Default/TaskDefinition/ExecutionRole AwsSolutions-IAM5[Resource::*]',
      'ShopService/Shop/LoadBalancerSecurityGroup AwsSolutions-EC23',
    ]);
  });
});
