import type { CfnElement } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Match } from 'aws-cdk-lib/assertions';
import * as rds from 'aws-cdk-lib/aws-rds';
import { AURORA_POSTGRES_VERSION } from '../../lib/config/defaults';
import { onlyResource, resourcesOf, synthStage } from '../support/synth';

describe('AuroraDatabase (ShopData/Database)', () => {
  // GIVEN
  const stage1k = synthStage('1k', { nag: false });
  const stage10k = synthStage('10k', { nag: false });
  const cluster1k = onlyResource(stage1k.json.data, 'AWS::RDS::DBCluster');
  const keyId = onlyResource(stage1k.json.data, 'AWS::KMS::Key').logicalId;

  test('runs Aurora PostgreSQL 16 or 17 with storage encrypted by the customer-managed key', () => {
    // THEN
    expect(cluster1k.Properties.Engine).toBe('aurora-postgresql');
    expect(String(cluster1k.Properties.EngineVersion)).toMatch(/^1[67]\.\d+$/);
    expect(cluster1k.Properties.StorageEncrypted).toBe(true);
    expect(cluster1k.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    stage1k.templates.data.hasResource('AWS::KMS::Key', {
      Properties: { EnableKeyRotation: true },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  test('pins the newest Aurora PostgreSQL 16 minor that aws-cdk-lib offers (an older pin may be retired)', () => {
    // WHEN: every 16.x minor aws-cdk-lib knows (it adds AWS's new versions with each release)
    const minors = Object.keys(rds.AuroraPostgresEngineVersion)
      .map((name) => /^VER_16_(\d+)$/.exec(name)?.[1])
      .filter((minor): minor is string => minor !== undefined)
      .map(Number);
    // THEN: a newer aws-cdk-lib with a newer 16.x fails this test: raise AURORA_POSTGRES_VERSION (README
    // "Aurora engine version"), before AWS retires the pinned one.
    expect(cluster1k.Properties.EngineVersion).toBe(`16.${Math.max(...minors)}`);
    expect(AURORA_POSTGRES_VERSION.auroraPostgresMajorVersion).toBe('16');
  });

  test('turns on Enhanced Monitoring on every instance, with a role only RDS monitoring can assume', () => {
    for (const stage of [stage1k, stage10k]) {
      const instances = Object.values(resourcesOf(stage.json.data, 'AWS::RDS::DBInstance'));
      expect(instances.length).toBeGreaterThan(0);
      for (const instance of instances) {
        expect(instance.Properties?.MonitoringInterval).toBe(60);
        expect(instance.Properties?.MonitoringRoleArn).toEqual({
          'Fn::GetAtt': [expect.stringMatching(/^DatabaseClusterMonitoringRole/), 'Arn'],
        });
      }
      stage.templates.data.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: {
          Statement: [Match.objectLike({ Principal: { Service: 'monitoring.rds.amazonaws.com' } })],
        },
        ManagedPolicyArns: [
          {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole',
              ],
            ],
          },
        ],
      });
    }
  });

  test('uses IAM authentication, keeps backups 7+ days, is deletion-protected and snapshotted on delete', () => {
    expect(cluster1k.Properties.EnableIAMDatabaseAuthentication).toBe(true);
    expect(cluster1k.Properties.BackupRetentionPeriod).toBeGreaterThanOrEqual(7);
    expect(cluster1k.Properties.DeletionProtection).toBe(true);
    expect(cluster1k.DeletionPolicy).toBe('Snapshot');
    expect(cluster1k.UpdateReplacePolicy).toBe('Snapshot');
    for (const instance of Object.values(resourcesOf(stage10k.json.data, 'AWS::RDS::DBInstance'))) {
      expect(instance.Properties?.PubliclyAccessible).toBe(false);
    }
  });

  test('enforces TLS through the cluster parameter group', () => {
    stage1k.templates.data.hasResourceProperties('AWS::RDS::DBClusterParameterGroup', {
      Family: Match.stringLikeRegexp('^aurora-postgresql1[67]$'),
      Parameters: Match.objectLike({ 'rds.force_ssl': '1', random_page_cost: '1.1' }),
    });
    expect(cluster1k.Properties.DBClusterParameterGroupName).toEqual({
      Ref: onlyResource(stage1k.json.data, 'AWS::RDS::DBClusterParameterGroup').logicalId,
    });
  });

  test('exports the postgresql log to an encrypted, retained log group that exists before the cluster', () => {
    expect(cluster1k.Properties.EnableCloudwatchLogsExports).toEqual(['postgresql']);
    const logGroup = onlyResource(stage1k.json.data, 'AWS::Logs::LogGroup');
    expect(logGroup.Properties).toEqual({
      LogGroupName: '/aws/rds/cluster/shop-db/postgresql',
      RetentionInDays: 30,
      KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
    expect(logGroup.DeletionPolicy).toBe('Retain');
    expect(cluster1k.DependsOn).toContain(logGroup.logicalId);
    // No LogRetention custom resource (a Lambda function) is needed for it.
    stage1k.templates.data.resourceCountIs('Custom::LogRetention', 0);
  });

  test('keeps the master credentials in a KMS-encrypted, retained secret, rotated every 30 days', () => {
    const secrets = resourcesOf(stage1k.json.data, 'AWS::SecretsManager::Secret');
    const master = Object.values(secrets).find((secret) =>
      JSON.stringify(secret.Properties?.GenerateSecretString ?? {}).includes('shop_admin'),
    );
    expect(master?.Properties?.KmsKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    expect(master?.DeletionPolicy).toBe('Retain');
    expect(JSON.stringify(cluster1k.Properties.MasterUserPassword)).toContain('{{resolve:secretsmanager:');
    stage1k.templates.data.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      RotationRules: { ScheduleExpression: 'rate(30 days)' },
    });
  });

  test('admits only the app, the two rotation functions (and at 10k the proxy) on the PostgreSQL port', () => {
    // WHEN
    const sources = (stage: typeof stage1k) =>
      Object.values(resourcesOf(stage.json.data, 'AWS::EC2::SecurityGroupIngress'))
        .filter((rule) => JSON.stringify(rule.Properties?.GroupId).includes('DatabaseClusterSecurityGroup'))
        .map((rule) => JSON.stringify(rule.Properties?.SourceSecurityGroupId))
        .map((source) =>
          source.includes('AppSecurityGroup')
            ? 'app'
            : source.includes('RotationSingleUser')
              ? 'rotation'
              : source.includes('AppSecretRotationSecurityGroup')
                ? 'app-secret-rotation'
                : source.includes('ProxySecurityGroup')
                  ? 'proxy'
                  : source,
        )
        .sort();
    // THEN
    expect(sources(stage1k)).toEqual(['app', 'app-secret-rotation', 'rotation']);
    expect(sources(stage10k)).toEqual(['app', 'app-secret-rotation', 'proxy', 'rotation']);
    const clusterGroup = Object.values(resourcesOf(stage1k.json.data, 'AWS::EC2::SecurityGroup')).find(
      (group) => String(group.Properties?.GroupDescription).includes('RDS security group'),
    );
    expect(clusterGroup?.Properties?.SecurityGroupIngress).toBeUndefined();
  });

  test('has one writer at 1k, and at 10k three readers plus Performance Insights with the data key', () => {
    stage1k.templates.data.resourceCountIs('AWS::RDS::DBInstance', 1);
    stage10k.templates.data.resourceCountIs('AWS::RDS::DBInstance', 4);
    const cluster10k = onlyResource(stage10k.json.data, 'AWS::RDS::DBCluster');
    expect(cluster10k.Properties.PerformanceInsightsEnabled).toBe(true);
    expect(cluster10k.Properties.PerformanceInsightsKmsKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    expect(cluster1k.Properties.PerformanceInsightsEnabled).toBeUndefined();
  });

  test('keeps the logical ids of the cluster, the writer, the key and the secret from 1k to 10k', () => {
    // GIVEN
    const ids = (stage: typeof stage1k, type: string) => Object.keys(resourcesOf(stage.json.data, type));
    // THEN
    expect(ids(stage10k, 'AWS::RDS::DBCluster')).toEqual(ids(stage1k, 'AWS::RDS::DBCluster'));
    expect(ids(stage10k, 'AWS::KMS::Key')).toEqual(ids(stage1k, 'AWS::KMS::Key'));
    expect(ids(stage10k, 'AWS::RDS::DBInstance')).toEqual(
      expect.arrayContaining(ids(stage1k, 'AWS::RDS::DBInstance')),
    );
    expect(ids(stage10k, 'AWS::SecretsManager::Secret')).toEqual(
      expect.arrayContaining(ids(stage1k, 'AWS::SecretsManager::Secret')),
    );
    const writer = (stage: typeof stage1k) =>
      Object.entries(resourcesOf(stage.json.data, 'AWS::RDS::DBInstance')).find(([id]) =>
        id.includes('Writer'),
      );
    expect(writer(stage10k)).toEqual(writer(stage1k));
  });

  test('keeps its logical ids: shard 0 sits under the hidden id `Default`, where the cluster always was', () => {
    const { data } = stage10k.stacks;
    const database = data.database!;
    const logicalId = (construct: Construct) =>
      data.resolve((construct.node.defaultChild as CfnElement).logicalId) as string;
    // `Default` is left out of logical ids, so `ShopData/Default/Database/...` is `ShopData/Database/...` to CloudFormation.
    expect(database.cluster.node.path).toBe('ShopData/Default/Database/Cluster');
    expect(logicalId(database.cluster)).toBe('DatabaseCluster5B53A178');
    expect(logicalId(database.cluster.node.findChild('Writer'))).toBe('DatabaseClusterWriterD43085C6');
    expect(logicalId(database.cluster.node.findChild('Reader3'))).toBe('DatabaseClusterReader3ECB7752A');
    expect(data.dataKey.node.path).toBe('ShopData/DataKey');
    expect(data.shard.shardId).toBe('0');
  });
});
