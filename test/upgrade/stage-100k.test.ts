/**
 * The gate on stage 100k's own changes: 10k -> 100k turns on logical replication in shard 0's existing
 * parameter group (in place, a writer reboot), "one more shard" inside 100k is safe on its own, and the
 * invalidation queues count as data-bearing.
 */
import { stage100k } from '../../stages';
import { dataBearingTypes, isDataBearing } from '../../tools/upgrade/data-bearing';
import { diffAssemblies } from '../../tools/upgrade/diff';
import { renderMarkdownSummary, renderTextSummary } from '../../tools/upgrade/report';
import { synthStage, synthStageCached } from '../../tools/upgrade/stage-synth';

// Synthesis is CPU-bound and the machine is shared: allow for a slow, loaded run.
jest.setTimeout(240_000);

const summary = (changes: readonly { stackName: string; kind: string; type: string }[]) =>
  changes.map((change) => `${change.stackName} ${change.kind} ${change.type}`);

describe('10k -> 100k', () => {
  const report = diffAssemblies(synthStageCached('10k'), synthStageCached('100k'));

  test("is safe, and shard 0's cluster and instances are not even updated: only its parameter group is", () => {
    if (!report.safe) throw new Error(renderTextSummary(report, '10k -> 100k'));
    const data = report.changes.filter((change) => change.stackName === 'shop-data');
    // The parameter group gets the logical replication parameters in place; the queue and its key are new.
    expect(summary(data).sort()).toEqual(
      [
        'shop-data updated AWS::RDS::DBClusterParameterGroup',
        'shop-data added AWS::KMS::Key',
        'shop-data added AWS::KMS::Alias',
        'shop-data added AWS::SQS::Queue',
        'shop-data added AWS::SQS::Queue',
        'shop-data added AWS::SQS::QueuePolicy',
        'shop-data added AWS::SQS::QueuePolicy',
      ].sort(),
    );
    const group = data.find((change) => change.type === 'AWS::RDS::DBClusterParameterGroup')!;
    expect(group.constructPath).toBe('ShopData/Default/Database/ClusterParameters/Resource');
    const stack = report.stacks.find((s) => s.stackName === 'shop-data')!;
    expect(Object.keys(stack.diff.resources.get(group.logicalId)!.propertyUpdates)).toEqual(['Parameters']);
    expect(report.stacks.find((s) => s.stackName === 'shop-shard-s1')?.status).toBe('added');
    expect(report.stacks.find((s) => s.stackName === 'shop-network')?.status).toBe('unchanged');
  });

  test('the upgrade page says the writer needs a reboot for logical replication, and that the service rolls', () => {
    const page = renderMarkdownSummary(report, '10k', '100k');
    const interruptions = page.slice(page.indexOf('## Interruptions'));
    expect(interruptions).toContain('Parameter groups that need a reboot');
    expect(interruptions).toContain('rds.logical_replication (static: reboot)');
    expect(interruptions).toContain(
      'Logical replication (`rds.logical_replication`) needs the writer rebooted',
    );
    expect(interruptions).toContain('Rolling deployment of the service');
  });
});

describe('one more shard inside 100k', () => {
  const grown = { ...stage100k, shards: { ...stage100k.shards, s2: stage100k.shards.s1 } };
  const report = diffAssemblies(synthStageCached('100k'), synthStage('100k', grown));

  test('adds a shard stack and touches no other data: safe', () => {
    if (!report.safe) throw new Error(renderTextSummary(report, '100k -> 100k + s2'));
    expect(report.stacks.map((stack) => [stack.stackName, stack.status])).toEqual([
      ['shop-data', 'unchanged'],
      ['shop-network', 'unchanged'],
      ['shop-service', 'changed'],
      ['shop-shard-s1', 'unchanged'],
      ['shop-shard-s2', 'added'],
    ]);
    // The service is told about s2, reads its secret, admits itself to it and alarms on it.
    const service = summary(report.changes.filter((change) => change.stackName === 'shop-service'));
    expect(service).toEqual(
      expect.arrayContaining([
        'shop-service will-replace AWS::ECS::TaskDefinition',
        'shop-service updated AWS::IAM::Policy',
        'shop-service added AWS::EC2::SecurityGroupIngress',
        'shop-service added AWS::CloudWatch::Alarm',
      ]),
    );
    expect(service.filter((line) => line.includes(' removed ') || line.includes('replace AWS::RDS'))).toEqual(
      [],
    );
  });
});

describe('queues are data-bearing', () => {
  test('an SQS queue is in the one list, with what it holds', () => {
    const entry = dataBearingTypes.find((type) => type.type === 'AWS::SQS::Queue');
    expect(entry?.holds).toMatch(/messages not yet consumed/);
    expect(isDataBearing({ Type: 'AWS::SQS::Queue', Properties: {} })).toBe(true);
    expect(isDataBearing({ Type: 'AWS::SQS::QueuePolicy', Properties: {} })).toBe(false);
  });

  test('dropping the invalidation queue from 100k is UNSAFE: both queues are reported as data loss', () => {
    const { invalidationQueue: _queue, ...withoutQueue } = stage100k;
    const report = diffAssemblies(synthStageCached('100k'), synthStage('100k', withoutQueue));

    expect(report.safe).toBe(false);
    const lost = report.dataLoss.map((loss) => [loss.change.type, loss.change.kind, loss.category]);
    expect(lost).toEqual(
      expect.arrayContaining([
        ['AWS::SQS::Queue', 'removed', 'data-bearing'],
        ['AWS::SQS::Queue', 'removed', 'data-bearing'],
        ['AWS::KMS::Key', 'removed', 'data-bearing'],
      ]),
    );
    expect(renderTextSummary(report, '100k -> 100k without the queue')).toContain('UNSAFE');
  });
});
