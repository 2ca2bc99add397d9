/**
 * The shape holds more than the shipped stages use: a stage config that adds a shard and a service, and a
 * deployment context that adds a region, each in one place: `grown` is 10k plus shard `s1` and service
 * `users` (config only; stage 100k's own shard is tested in test/stages/stage-100k.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { DISABLE_ASSET_STAGING_CONTEXT } from 'aws-cdk-lib/cx-api';
import { createBlueprintApp } from '../../lib/blueprint';
import { StageConfigError, type StageConfig } from '../../lib/config';
import { stage10k } from '../../stages';
import { templatesFromAssembly, type AssemblyTemplates } from '../../tools/upgrade/assembly';
import { diffAssemblies } from '../../tools/upgrade/diff';
import { synthStage as synthForDiff, synthStageCached } from '../../tools/upgrade/stage-synth';
import { synthStage } from '../support/synth';

// Synthesis is CPU-bound and the machine is shared: allow for a slow, loaded run.
jest.setTimeout(240_000);

/** Stage 10k plus one shard and one service: only config, no code. */
const grown: StageConfig = {
  ...stage10k,
  shards: {
    s1: {
      writer: { instanceType: ec2.InstanceType.of(ec2.InstanceClass.R7G, ec2.InstanceSize.LARGE) },
      readers: { count: 1, instanceType: ec2.InstanceType.of(ec2.InstanceClass.R7G, ec2.InstanceSize.LARGE) },
      proxy: {},
    },
  },
  services: {
    users: {
      cpu: 512,
      memoryLimitMiB: 1024,
      desiredCount: 2,
      route: { pathPatterns: ['/api/users', '/api/users/*'], priority: 10 },
    },
  },
};

type Resource = { Type: string; Properties: Record<string, unknown> };
const resources = (template: Record<string, unknown>, type: string): Resource[] =>
  Object.values((template.Resources ?? {}) as Record<string, Resource>).filter((r) => r.Type === type);
const alarmNames = (template: Record<string, unknown>) =>
  resources(template, 'AWS::CloudWatch::Alarm').map((alarm) => alarm.Properties.AlarmName as string);

describe('a stage that adds a shard and a service', () => {
  // GIVEN / WHEN
  const stage = synthStage('10k', { config: grown });
  const shardJson = JSON.parse(
    readFileSync(join(stage.outdir, 'ShopShardS1.template.json'), 'utf8'),
  ) as Record<string, unknown>;
  const shard = Template.fromJSON(shardJson);
  const service = stage.json.service;

  test('the shard is a stack of its own: its key, cluster, proxy, secrets and retained log group', () => {
    const manifest = stage.assembly.getStackArtifact('ShopShardS1');
    expect(manifest.stackName).toBe('shop-shard-s1');
    expect(manifest.terminationProtection).toBe(true);
    shard.hasResourceProperties('AWS::RDS::DBCluster', {
      DBClusterIdentifier: 'shop-db-s1',
      StorageEncrypted: true,
      KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] },
      DeletionProtection: true,
    });
    shard.resourceCountIs('AWS::RDS::DBInstance', 2);
    shard.resourceCountIs('AWS::RDS::DBProxy', 1);
    shard.hasResourceProperties('AWS::RDS::DBProxyEndpoint', {
      DBProxyEndpointName: 'shop-db-s1-read-only',
      TargetRole: 'READ_ONLY',
    });
    shard.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/shop-shard-s1' });
    shard.hasResource('AWS::Logs::LogGroup', {
      Properties: { LogGroupName: '/aws/rds/cluster/shop-db-s1/postgresql' },
      DeletionPolicy: 'Retain',
    });
    // The master's (migrations) and the app's (rotated with alternating users).
    shard.resourceCountIs('AWS::SecretsManager::Secret', 2);
    // No client is admitted inside the shard stack: services admit themselves from theirs.
    const ingress = resources(shardJson, 'AWS::EC2::SecurityGroupIngress');
    expect(ingress.length).toBeGreaterThan(0);
    for (const rule of ingress) expect(JSON.stringify(rule.Properties)).not.toContain('shop-network');
  });

  test("the shard's alarms and dashboard rows join the region's monitoring, named by its id", () => {
    expect(alarmNames(service)).toEqual(
      expect.arrayContaining([
        'shop-ShardS1Writer-Cpu-Critical',
        'shop-ShardS1Readers-ReplicaLag-Critical',
        'shop-ShardS1Proxy-ClientConnections-Critical',
        // Shard 0's carry its id too.
        'shop-Shard0Writer-Cpu-Critical',
        'shop-Shard0Proxy-ClientConnections-Critical',
      ]),
    );
    expect(JSON.stringify(resources(service, 'AWS::CloudWatch::Dashboard'))).toContain('Aurora shard s1');
  });

  test('the service is its own: security group, listener rule, SERVICE=users, alarms', () => {
    stage.templates.service.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: 'Tasks of the users service',
    });
    stage.templates.service.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      Priority: 10,
      Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/api/users', '/api/users/*'] } }],
    });
    stage.templates.service.resourceCountIs('AWS::ECS::Service', 2);
    stage.templates.service.hasResourceProperties('AWS::ECS::TaskDefinition', {
      // The app container (beside the metrics collector).
      ContainerDefinitions: Match.arrayWith([
        Match.objectLike({ Environment: Match.arrayWith([{ Name: 'SERVICE', Value: 'users' }]) }),
      ]),
    });
    expect(alarmNames(service)).toEqual(
      expect.arrayContaining([
        'shop-UsersService-CPU-Usage-Critical',
        'shop-UsersLoadBalancer-AlbLatencyP99-Critical',
      ]),
    );
  });

  test('data resources admit each service group that uses them, from the service stack', () => {
    // The users tasks on shard 0's proxy, shard s1's proxy and the cache; the first service on shard s1 only
    // (the data stack admits it on shard 0 and the cache, as since stage 1k).
    const admissions = resources(service, 'AWS::EC2::SecurityGroupIngress')
      .map((rule) => rule.Properties)
      .filter((rule) => rule.FromPort === 5432 || rule.FromPort === 6379)
      .map((rule) => `${String(rule.Description)} ${String(rule.FromPort)}`)
      .sort();
    expect(admissions).toEqual([
      'PostgreSQL (shard 0) from the users tasks 5432',
      'PostgreSQL (shard s1) from the shop tasks 5432',
      'PostgreSQL (shard s1) from the users tasks 5432',
      'Redis from the users tasks 6379',
    ]);
  });

  test('adding them to a deployed 10k is safe: no network or data resource changes, data only adds outputs', () => {
    const report = diffAssemblies(synthStageCached('10k'), synthForDiff('10k', grown));
    expect(report.dataLoss).toEqual([]);
    expect(report.stacks.map((s) => [s.stackName, s.status])).toEqual([
      ['shop-data', 'changed'],
      ['shop-network', 'unchanged'],
      ['shop-service', 'changed'],
      ['shop-shard-s1', 'added'],
    ]);
    // The data stack changes only by new outputs (the security group ids the new admissions read): no resource.
    expect(report.changes.filter((change) => change.stackName === 'shop-data')).toEqual([]);
    const data = report.stacks.find((s) => s.stackName === 'shop-data')!;
    const outputs: boolean[] = [];
    data.diff.outputs.forEachDifference((_name, output) => outputs.push(output.isAddition));
    expect(outputs.length).toBeGreaterThan(0);
    expect(outputs.every((added) => added)).toBe(true);
    // Only the first service's and the migration task's task definitions get new revisions (they are
    // immutable): both now carry SHARD_ENDPOINTS, the new shard's endpoints (stage 100k's contract with the
    // app); the migration task's with the shard's owner secret, since it migrates every shard.
    expect(
      report.changes
        .filter((change) => change.kind !== 'added' && change.kind !== 'updated')
        .map((change) => `${change.kind} ${change.constructPath}`)
        .sort(),
    ).toEqual([
      'will-replace ShopService/Migration/TaskDefinition/Resource',
      'will-replace ShopService/Shop/Default/TaskDefinition/Resource',
    ]);
  });
});

describe('a deployment that adds a region', () => {
  const build = (context: Record<string, unknown>) =>
    createBlueprintApp({
      config: stage10k,
      nag: false,
      cloudFormationValidation: false,
      context: { [DISABLE_ASSET_STAGING_CONTEXT]: true, ...context },
    }).synth();
  const assembly = build({ regions: 'us-east-1,eu-west-1' });

  test('the region gets the same stacks under the same names, in its own environment', () => {
    const stacks = assembly.stacksRecursively.map((s) => `${s.environment.region} ${s.stackName}`).sort();
    expect(stacks).toEqual([
      'eu-west-1 shop-data',
      'eu-west-1 shop-network',
      'eu-west-1 shop-service',
      'us-east-1 shop-data',
      'us-east-1 shop-network',
      'us-east-1 shop-service',
    ]);
  });

  test('names unique per account carry the region outside the home region; regional ones do not', () => {
    const dashboards = assembly.stacksRecursively
      .filter((s) => s.stackName === 'shop-service')
      .map((s) => [
        s.environment.region,
        resources(s.template as Record<string, unknown>, 'AWS::CloudWatch::Dashboard')[0]?.Properties
          .DashboardName,
      ]);
    expect(dashboards.sort()).toEqual([
      ['eu-west-1', 'shop-eu-west-1'],
      ['us-east-1', 'shop'],
    ]);
    const eu = assembly.stacksRecursively.find(
      (s) => s.environment.region === 'eu-west-1' && s.stackName === 'shop-service',
    )!;
    expect(alarmNames(eu.template as Record<string, unknown>)).toContain('shop-Shard0Writer-Cpu-Critical');
  });

  test('the home region is exactly what it is without the extra region', () => {
    const home = (templates: AssemblyTemplates) => ({
      stacks: templates.stacks.filter((stack) => stack.key.includes('/us-east-1/')),
    });
    const report = diffAssemblies(
      home(templatesFromAssembly(build({}))),
      home(templatesFromAssembly(assembly)),
    );
    expect(report.stacks).toHaveLength(3);
    expect(report.changes).toEqual([]);
  });

  test('fails clearly when the home region is not first', () => {
    expect(() =>
      createBlueprintApp({ config: stage10k, nag: false, context: { regions: 'eu-west-1,us-east-1' } }),
    ).toThrow(StageConfigError);
  });
});
