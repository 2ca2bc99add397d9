/**
 * The upgrade diff catches data loss: each fixture variant is a mistake an engineer could make to a stage
 * (rename a database construct, change a replacement-forcing property, drop the cache), built as a small
 * CDK app of its own so that the real stages are never edited for a test.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { AssemblyTemplates } from '../../tools/upgrade/assembly';
import { diffAssemblies, type UpgradeReport } from '../../tools/upgrade/diff';
import { renderTextSummary } from '../../tools/upgrade/report';
import { synthTemplates } from '../../tools/upgrade/synth';
import { buildFixtureApp, type FixtureOptions } from './fixtures/fixture-app';

// Synthesis is CPU-bound and the machine is shared: allow for a slow, loaded run.
jest.setTimeout(180_000);

const synth = (options: FixtureOptions = {}): AssemblyTemplates =>
  synthTemplates((outdir) => buildFixtureApp(outdir, options));

let base: AssemblyTemplates;
beforeAll(() => {
  base = synth();
});

function upgradeTo(options: FixtureOptions): UpgradeReport {
  return diffAssemblies(base, synth(options));
}

/** `[kind, type, construct path]` of every lost data-bearing resource (or anchor), for readable assertions. */
function losses(report: UpgradeReport, category: 'data-bearing' | 'anchor' = 'data-bearing'): string[][] {
  return report.dataLoss
    .filter((loss) => loss.category === category)
    .map((loss) => [loss.change.kind, loss.change.type, loss.change.constructPath ?? '']);
}

describe('growth is safe', () => {
  test('one more reader, a bigger Redis node, one more replica and a bigger writer class', () => {
    // GIVEN the base fixture WHEN it grows
    const report = upgradeTo({
      readers: 2,
      cache: { nodeType: 'cache.r7g.large', replicas: 2 },
      writerInstanceType: ec2.InstanceType.of(ec2.InstanceClass.R6G, ec2.InstanceSize.XLARGE),
    });

    // THEN the new reader is added, the cache and writer are updated in place, nothing is lost
    expect(report.safe).toBe(true);
    expect(report.dataLoss).toEqual([]);
    expect(report.changes.map((change) => [change.kind, change.type, change.constructPath])).toEqual([
      ['updated', 'AWS::ElastiCache::ReplicationGroup', 'FixtureCache/Cache'],
      ['added', 'AWS::RDS::DBInstance', 'FixtureData/Database/Reader2/Resource'],
      ['updated', 'AWS::RDS::DBInstance', 'FixtureData/Database/Writer/Resource'],
    ]);
    expect(report.dataBearingKept).toBeGreaterThanOrEqual(6);
    expect(renderTextSummary(report, 'base -> grown')).toContain(
      'SAFE: no data-bearing resource or data anchor is replaced or removed',
    );
  });

  test('an identical app has no changes at all', () => {
    const report = diffAssemblies(base, base);
    expect(report.changes).toEqual([]);
    expect(report.stacks.map((stack) => stack.status)).toEqual(['unchanged', 'unchanged']);
    expect(report.safe).toBe(true);
  });
});

describe('data loss is caught', () => {
  test('a renamed database construct counts as removal plus addition', () => {
    const report = upgradeTo({ databaseId: 'Db' });

    expect(report.safe).toBe(false);
    expect(losses(report)).toEqual([
      ['removed', 'AWS::RDS::DBCluster', 'FixtureData/Database/Resource'],
      ['removed', 'AWS::RDS::DBInstance', 'FixtureData/Database/Reader1/Resource'],
      ['removed', 'AWS::RDS::DBInstance', 'FixtureData/Database/Writer/Resource'],
      ['removed', 'AWS::SecretsManager::Secret', 'FixtureData/Database/Secret/Resource'],
    ]);
    // What the cluster lives in goes with it: its subnet group and security group are anchors of data.
    expect(losses(report, 'anchor')).toEqual([
      ['removed', 'AWS::EC2::SecurityGroup', 'FixtureData/Database/SecurityGroup/Resource'],
      ['removed', 'AWS::RDS::DBSubnetGroup', 'FixtureData/Database/Subnets/Default'],
    ]);
    // The hint pairs each removed resource with its renamed twin.
    const dataBearing = report.dataLoss.filter((loss) => loss.category === 'data-bearing');
    expect(dataBearing.map((loss) => loss.possibleRenameTo?.constructPath)).toEqual([
      'FixtureData/Db/Resource',
      'FixtureData/Db/Reader1/Resource',
      'FixtureData/Db/Writer/Resource',
      'FixtureData/Db/Secret/Resource',
    ]);
    expect(report.totals.added).toBeGreaterThanOrEqual(4);
  });

  test('changing the cluster database name replaces the cluster and its instances', () => {
    const report = upgradeTo({ databaseName: 'store' });

    expect(report.safe).toBe(false);
    expect(
      report.dataLoss.map((loss) => [loss.change.kind, loss.change.type, loss.change.replacingProperties]),
    ).toEqual([
      ['will-replace', 'AWS::RDS::DBCluster', ['DatabaseName']],
      ['will-replace', 'AWS::RDS::DBInstance', ['DBClusterIdentifier']],
      ['will-replace', 'AWS::RDS::DBInstance', ['DBClusterIdentifier']],
    ]);
    expect(renderTextSummary(report, 'base -> renamed db')).toContain('because DatabaseName changed');
  });

  test('a new storage encryption key replaces the cluster and orphans the old key', () => {
    const report = upgradeTo({ databaseKeyId: 'NewDatabaseKey' });

    expect(losses(report)).toEqual(
      expect.arrayContaining([
        ['will-replace', 'AWS::RDS::DBCluster', 'FixtureData/Database/Resource'],
        ['removed', 'AWS::KMS::Key', 'FixtureData/DatabaseKey/Resource'],
      ]),
    );
    const key = report.dataLoss.find((loss) => loss.change.type === 'AWS::KMS::Key');
    expect(key?.change.retained).toBe(true);
    expect(report.iam.permissionsBroadened).toBe(true);
  });

  test('a property that may force replacement counts as unsafe', () => {
    // PreferredMaintenanceWindow is "Update requires: Some interruptions / Replacement" on AWS::RDS::DBInstance.
    const report = upgradeTo({ writerMaintenanceWindow: 'sun:03:00-sun:04:00' });

    expect(losses(report)).toEqual([
      ['may-replace', 'AWS::RDS::DBInstance', 'FixtureData/Database/Writer/Resource'],
    ]);
    expect(report.dataLoss[0]?.change.replacingProperties).toEqual(['PreferredMaintenanceWindow']);
  });

  test('a dropped cache (its whole stack goes away) is caught', () => {
    const report = upgradeTo({ cache: undefined });

    expect(report.stacks.find((stack) => stack.stackName === 'FixtureCache')?.status).toBe('removed');
    expect(losses(report)).toEqual([['removed', 'AWS::ElastiCache::ReplicationGroup', 'FixtureCache/Cache']]);
    expect(losses(report, 'anchor')).toEqual([
      ['removed', 'AWS::ElastiCache::SubnetGroup', 'FixtureCache/CacheSubnets'],
    ]);
    expect(report.dataLoss[0]?.change.retained).toBe(false);
  });

  test('a dropped log group with retention is caught even though it is retained', () => {
    const report = upgradeTo({ appLogs: false });

    expect(losses(report)).toEqual([['removed', 'AWS::Logs::LogGroup', 'FixtureData/AppLogs/Resource']]);
    expect(report.dataLoss[0]?.reason).toMatch(/orphaned/);
  });
});

describe('a rename made safe with overrideLogicalId', () => {
  /** Old logical ids of everything under `Database/`, keyed by the construct path after renaming it to `Db`. */
  function pinsFor(filter: (type: string) => boolean): Record<string, string> {
    const data = base.stacks.find((stack) => stack.stackName === 'FixtureData');
    const pins: Record<string, string> = {};
    for (const [logicalId, resource] of Object.entries(data?.template.Resources ?? {})) {
      const path = (resource.Metadata as Record<string, string> | undefined)?.['aws:cdk:path'] ?? '';
      if (path.startsWith('FixtureData/Database/') && filter(resource.Type)) {
        pins[path.replace('FixtureData/Database/', 'FixtureData/Db/')] = logicalId;
      }
    }
    return pins;
  }

  test('pinning every resource of the renamed construct keeps them all in place', () => {
    const report = upgradeTo({ databaseId: 'Db', logicalIdOverrides: pinsFor(() => true) });

    expect(report.dataLoss).toEqual([]);
    // Only the construct-path metadata changes.
    expect(report.changes.every((change) => change.kind === 'updated')).toBe(true);
    expect(report.totals.updated).toBeGreaterThanOrEqual(4);
  });

  test('pinning only the data-bearing resources is not enough: a new subnet group replaces the cluster', () => {
    const dataBearingTypes = ['AWS::RDS::DBCluster', 'AWS::RDS::DBInstance', 'AWS::SecretsManager::Secret'];
    const report = upgradeTo({
      databaseId: 'Db',
      logicalIdOverrides: pinsFor((type) => dataBearingTypes.includes(type)),
    });

    expect(
      report.dataLoss.map((loss) => [loss.change.kind, loss.change.type, loss.change.replacingProperties]),
    ).toEqual(expect.arrayContaining([['will-replace', 'AWS::RDS::DBCluster', ['DBSubnetGroupName']]]));
  });
});
