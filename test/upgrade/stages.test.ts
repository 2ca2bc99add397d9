/**
 * Upgrade safety of the real stages: every consecutive pair in `stageIds` (stages added later join
 * automatically) and growth inside every stage keep every data-bearing resource in place.
 */
import { stageById, stageIds } from '../../stages';
import { isDataBearing } from '../../tools/upgrade/data-bearing';
import { diffAssemblies, type UpgradeReport } from '../../tools/upgrade/diff';
import { renderTextSummary } from '../../tools/upgrade/report';
import { outputReads } from '../../tools/upgrade/stack-outputs';
import { consecutiveStagePairs, synthStage, synthStageCached } from '../../tools/upgrade/stage-synth';
import { grownStage, nextSize } from './growth';

// Synthesis is CPU-bound and the machine is shared: allow for a slow, loaded run.
jest.setTimeout(180_000);

/** Fails with the whole summary, so the test output says which resource or output and why. */
function expectSafe(report: UpgradeReport, title: string): void {
  if (!report.safe) throw new Error(`Upgrade ${title} is unsafe:\n${renderTextSummary(report, title)}`);
  expect(report.dataLoss).toEqual([]);
  expect(report.brokenOutputs).toEqual([]);
  // The gate really looked: the stages read outputs across stacks and have anchors (VPC, subnets, ...).
  expect(report.outputReadsChecked).toBeGreaterThan(0);
  expect(report.anchorsKept).toBeGreaterThan(0);
}

describe('consecutive stages upgrade in place', () => {
  test('there is at least one upgrade to check; pairs are consecutive', () => {
    expect(stageIds.length).toBeGreaterThanOrEqual(2);
    expect(consecutiveStagePairs(stageIds)).toHaveLength(stageIds.length - 1);
    expect(consecutiveStagePairs(['a', 'b', 'c'])).toEqual([
      ['a', 'b'],
      ['b', 'c'],
    ]);
  });

  test.each(consecutiveStagePairs(stageIds))(
    '%s -> %s replaces and removes no data-bearing resource or anchor, and keeps every output read',
    (from, to) => {
      const report = diffAssemblies(synthStageCached(from), synthStageCached(to));

      expectSafe(report, `${from} -> ${to}`);
      // The upgrade does something, and every data-bearing resource of the earlier stage is still there.
      expect(report.changes.length).toBeGreaterThan(0);
      const dataBearing = (stage: string) =>
        synthStageCached(stage)
          .stacks.flatMap((stack) =>
            Object.entries(stack.template.Resources ?? {})
              .filter(([, resource]) => isDataBearing(resource))
              .map(([logicalId, resource]) => `${stack.stackName}/${logicalId} ${resource.Type}`),
          )
          .sort();
      const before = dataBearing(from);
      expect(before.length).toBeGreaterThan(0);
      expect(dataBearing(to)).toEqual(expect.arrayContaining(before));
      expect(report.dataBearingKept).toBe(before.length);
      // Every output a deployed stack of the earlier stage reads still exists in the later one.
      const outputs = (stage: string) =>
        new Set(
          synthStageCached(stage).stacks.flatMap((stack) =>
            Object.keys(stack.template.Outputs ?? {}).map((name) => `${stack.stackName}:${name}`),
          ),
        );
      const read = outputReads(synthStageCached(from)).map((r) => `${r.producerStackName}:${r.name}`);
      expect(read.length).toBeGreaterThan(0);
      expect(read.filter((name) => !outputs(to).has(name))).toEqual([]);
    },
  );
});

describe('growth inside a stage is safe', () => {
  test.each(stageIds.map((id) => [id, grownStage(stageById(id)).name]))('%s grows: %s', (id) => {
    const variant = grownStage(stageById(id));

    const report = diffAssemblies(synthStageCached(id), synthStage(id, variant.config));

    expectSafe(report, `${id} -> ${id} (${variant.name})`);
    // The growth is really there: a new reader instance, an updated cache.
    const config = stageById(id);
    const changed = (kind: string, type: string) =>
      report.changes.some((change) => change.kind === kind && change.type === type);
    if (config.database.readers) expect(changed('added', 'AWS::RDS::DBInstance')).toBe(true);
    if (config.cache) expect(changed('updated', 'AWS::ElastiCache::ReplicationGroup')).toBe(true);
    expect(changed('updated', 'AWS::RDS::DBInstance')).toBe(true);
    if (config.shards) {
      // One more shard: a stack of its own in every region (stage global: one per region), added; every
      // existing shard stack is untouched.
      const shardStacks = report.stacks.filter((stack) => stack.stackName.startsWith('shop-shard-'));
      const nextShard = `shop-shard-s${Object.keys(config.shards).length + 1}`;
      const regionOf = (stackKey: string) => stackKey.split('/')[1]!;
      const regions = [...new Set(report.stacks.map((stack) => regionOf(stack.stackKey)))].sort();
      const added = shardStacks
        .filter((stack) => stack.status === 'added')
        .map((stack) => `${regionOf(stack.stackKey)}/${stack.stackName}`)
        .sort();
      expect(added).toEqual(regions.map((region) => `${region}/${nextShard}`));
      expect(changed('added', 'AWS::RDS::DBCluster')).toBe(true);
      for (const stack of shardStacks.filter((s) => s.status !== 'added')) expect(stack.changes).toEqual([]);
    }
  });

  test('nextSize grows instance and node type names, and refuses unknown sizes', () => {
    expect(nextSize('cache.t4g.small')).toBe('cache.t4g.medium');
    expect(nextSize('r7g.xlarge')).toBe('r7g.2xlarge');
    expect(() => nextSize('cache.t4g.huge')).toThrow('Cannot grow "cache.t4g.huge": unknown size "huge".');
  });
});
