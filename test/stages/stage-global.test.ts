/**
 * Stage global's Aurora Global Database: the home clusters become primaries in place, every further region gets a
 * read-only secondary of each (no credentials), the home secrets are replicated, and each secondary has its lag
 * alarms. One synth of the three-region app, shared by every test here.
 */
import { type CfnElement, Duration, Stack as CdkStack, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import {
  globalConfigProblems,
  globalContextProblems,
  readDeploymentContext,
  StageConfigError,
  validateStageConfig,
} from '../../lib/config';
import { blueprintStacks, createBlueprintApp } from '../../lib/blueprint';
import { AuroraSecondaryShard } from '../../lib/constructs/aurora-secondary-shard';
import { globalClusterIdentifier, secretReplicaArn } from '../../lib/constructs/global-database';
import { stage1m, stageContext, stageGlobal, type StageConfig } from '../../stages';
import { synthStage } from '../support/synth';

jest.setTimeout(300_000);

const HOME = 'us-east-1';
const SECONDARIES = ['eu-west-1', 'ap-southeast-2'];

const stage = synthStage('global', { nag: false });
const template = (stack: Stack) =>
  Template.fromJSON(stage.assembly.getStackArtifact(stack.artifactId).template as Record<string, unknown>);
const regionStacks = (region: string) => stage.stacks.regions[region]!;

/** The one metric an alarm of the monitoring facade watches (it renders alarms with `Metrics`). */
interface MetricStat {
  readonly Metric: { MetricName?: string; Namespace?: string; Dimensions?: unknown };
  readonly Period?: number;
  readonly Stat?: string;
}
function metricOf(alarm: { readonly [key: string]: unknown }): MetricStat {
  const properties = (alarm.Properties ?? {}) as Record<string, unknown>;
  const metrics = (properties.Metrics ?? []) as { MetricStat?: MetricStat }[];
  return metrics[0]?.MetricStat ?? { Metric: {} };
}

describe('stage global: the config', () => {
  test('is 1m plus global, with every Aurora instance and the cache on memory-optimised classes', () => {
    expect(Object.keys(stage.stacks.regions)).toEqual([HOME, ...SECONDARIES]);
    expect(stageGlobal.global).toEqual({ database: {}, sessions: {}, edge: {}, routing: {} });
    expect(stageGlobal.services).toBe(stage1m.services);
    const classes = [stageGlobal.database, ...Object.values(stageGlobal.shards)].flatMap((db) => [
      db.writer.instanceType.toString(),
      db.readers!.instanceType.toString(),
    ]);
    expect(classes).toEqual(['r7g.large', 'r7g.large', 'r7g.large', 'r7g.large']);
    expect(Object.keys(stageGlobal.shards)).toEqual(Object.keys(stage1m.shards));
    expect(stageGlobal.database.readers!.count).toBe(stage1m.database.readers.count);
    expect(stageGlobal.cache.cacheNodeType).toBe('cache.r7g.large');
    expect(validateStageConfig(stageGlobal)).toEqual([]);
  });
});

describe('stage global: the home region', () => {
  const data = template(regionStacks(HOME).data);
  const shard = template(regionStacks(HOME).shards.s1!);

  test.each([
    ['shard 0', () => data, 'shop-shard0-global', 'DatabaseCluster5B53A178'],
    ['shard s1', () => shard, 'shop-s1-global', undefined],
  ])(
    '%s: the existing cluster becomes the primary of a global cluster, in place',
    (_, get, identifier, clusterId) => {
      const t = get();
      const clusters = t.findResources('AWS::RDS::DBCluster');
      expect(Object.keys(clusters)).toHaveLength(1);
      const [logicalId] = Object.keys(clusters);
      if (clusterId !== undefined) expect(logicalId).toBe(clusterId);
      // Made from the cluster: engine, version and encryption come from it (CloudFormation rejects them here).
      t.templateMatches({
        Resources: {
          [Object.keys(t.findResources('AWS::RDS::GlobalCluster'))[0]!]: {
            Type: 'AWS::RDS::GlobalCluster',
            DeletionPolicy: 'Retain',
            Properties: {
              GlobalClusterIdentifier: identifier,
              SourceDBClusterIdentifier: { Ref: logicalId },
              DeletionProtection: true,
              Engine: Match.absent(),
              EngineVersion: Match.absent(),
              StorageEncrypted: Match.absent(),
            },
          },
        },
      });
      // The cluster keeps its credentials and database name: it stays the writer.
      expect(clusters[logicalId!]!.Properties.MasterUsername).toBe('shop_admin');
      expect(clusters[logicalId!]!.Properties.GlobalClusterIdentifier).toBeUndefined();
    },
  );

  test('replicates the master and app secrets of each shard to every further region, with its key', () => {
    for (const t of [data, shard]) {
      // The generated database secrets (the shared session secret and cache token, fixed-name copies replicated by
      // alias, are the sessions' and are tested with them).
      const replicated = Object.values(t.findResources('AWS::SecretsManager::Secret')).filter(
        (secret) =>
          secret.Properties.ReplicaRegions !== undefined &&
          secret.Properties.GenerateSecretString !== undefined,
      );
      // The cluster's master secret (migrations) and the app's login.
      expect(replicated).toHaveLength(2);
      for (const secret of replicated) {
        expect(secret.Properties.ReplicaRegions).toEqual(
          SECONDARIES.map((region) => ({
            Region: region,
            KmsKeyId: {
              'Fn::GetStackOutput': {
                StackName: 'shop-network',
                Region: region,
                OutputName: expect.stringMatching(/^PublishOutputFnGetAttReplicatedSecretsKey/),
              },
            },
          })),
        );
        expect(secret.DeletionPolicy).toBe('Retain');
      }
    }
  });

  test("deploys after the further regions' network stacks (their replica keys) and before their data stacks", () => {
    const dependencies = (stack: Stack) => stack.dependencies.map((dependency) => dependency.node.path);
    const home = regionStacks(HOME);
    for (const region of SECONDARIES) {
      const scope = region === 'eu-west-1' ? 'EuWest1' : 'ApSoutheast2';
      expect(dependencies(home.data)).toContain(`${scope}/ShopNetwork`);
      expect(dependencies(regionStacks(region).data)).toContain('ShopData');
      expect(dependencies(regionStacks(region).shards.s1!)).toContain('ShopShardS1');
    }
    // The home region replicates; it holds no replica key.
    expect(template(regionStacks(HOME).network).findResources('AWS::KMS::Alias')).toEqual({});
  });

  test('keeps the home monitoring: no global lag alarm where the primary is', () => {
    const alarms = JSON.stringify(
      template(regionStacks(HOME).service).findResources('AWS::CloudWatch::Alarm'),
    );
    expect(alarms).not.toContain('AuroraGlobalDB');
  });
});

describe.each(SECONDARIES)('stage global: further region %s', (region) => {
  const stacks = regionStacks(region);
  const data = template(stacks.data);
  const shard = template(stacks.shards.s1!);

  test.each([
    ['shard 0', () => data, 'shop-db', 'shop-shard0-global'],
    ['shard s1', () => shard, 'shop-db-s1', 'shop-s1-global'],
  ])(
    '%s: a secondary cluster of the global cluster, with no credentials, no database name and no writer',
    (_, get, clusterIdentifier, identifier) => {
      const t = get();
      t.resourceCountIs('AWS::RDS::DBCluster', 1);
      t.hasResource('AWS::RDS::DBCluster', {
        DeletionPolicy: 'Snapshot',
        Properties: {
          DBClusterIdentifier: clusterIdentifier,
          GlobalClusterIdentifier: identifier,
          Engine: 'aurora-postgresql',
          EngineVersion: '16.13',
          StorageEncrypted: true,
          KmsKeyId: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
          MasterUsername: Match.absent(),
          MasterUserPassword: Match.absent(),
          DatabaseName: Match.absent(),
          DeletionProtection: true,
          EnableIAMDatabaseAuthentication: true,
          EnableCloudwatchLogsExports: ['postgresql'],
          BackupRetentionPeriod: 7,
          PerformanceInsightsEnabled: true,
          DBSubnetGroupName: { Ref: Match.anyValue() },
          DBClusterParameterGroupName: { Ref: Match.anyValue() },
        },
      });
      // The home readers, all readers: no writer instance in a read-only region.
      const instances = Object.values(t.findResources('AWS::RDS::DBInstance'));
      expect(instances.map((instance) => instance.Properties.DBInstanceClass)).toEqual([
        'db.r7g.large',
        'db.r7g.large',
        'db.r7g.large',
      ]);
      for (const instance of instances) {
        expect(instance.Properties.MonitoringInterval).toBe(60);
        expect(instance.Properties.PubliclyAccessible).toBe(false);
      }
      // Nothing only the home needs: no proxy, no generated database secret, no rotation.
      t.resourceCountIs('AWS::RDS::DBProxy', 0);
      t.resourceCountIs('AWS::Serverless::Application', 0);
      t.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
      t.resourceCountIs('AWS::SecretsManager::SecretTargetAttachment', 0);
      t.resourceCountIs('AWS::RDS::GlobalCluster', 0);
      // The exported logs are encrypted and kept, as at home.
      t.hasResourceProperties('AWS::Logs::LogGroup', {
        LogGroupName: `/aws/rds/cluster/${clusterIdentifier}/postgresql`,
        RetentionInDays: 30,
        KmsKeyId: Match.anyValue(),
      });
    },
  );

  test("the secondary cluster's parameters are the home cluster's", () => {
    const parameters = (t: Template) =>
      Object.values(t.findResources('AWS::RDS::DBClusterParameterGroup')).map((group) => group.Properties);
    expect(parameters(data)).toEqual(parameters(template(regionStacks(HOME).data)));
    expect(parameters(shard)).toEqual(parameters(template(regionStacks(HOME).shards.s1!)));
    expect(parameters(data)[0]).toMatchObject({ Parameters: { 'rds.force_ssl': '1' } });
  });

  test('takes no writes: its queues and bus stand idle, its tasks neither publish nor consume', () => {
    // The data stack holds them (for -c writerRegion, which changes no data stack), as the home region's does.
    const queues = (t: Template) => Object.keys(t.findResources('AWS::SQS::Queue')).length;
    expect(queues(data)).toBeGreaterThan(0);
    expect(queues(data)).toBe(queues(template(regionStacks(HOME).data)));
    data.resourceCountIs('AWS::Events::EventBus', 1);
    // No task is told where they are, and no task role may use them.
    const service = template(stacks.service);
    const variables = Object.values(service.findResources('AWS::ECS::TaskDefinition')).flatMap((task) =>
      (task.Properties.ContainerDefinitions as { Environment?: { Name: string }[] }[]).flatMap((c) =>
        (c.Environment ?? []).map((e) => e.Name),
      ),
    );
    expect(variables).toContain('REGION_ROLE');
    for (const name of ['INVALIDATION_QUEUE_URL', 'EVENT_BUS_NAME', 'EVENT_QUEUE_URL']) {
      expect(variables).not.toContain(name);
    }
    const actions = JSON.stringify(
      Object.values(service.findResources('AWS::IAM::Policy')).map(
        (policy) => policy.Properties.PolicyDocument,
      ),
    );
    expect(actions).not.toMatch(/"sqs:(SendMessage|ReceiveMessage|DeleteMessage)/);
    expect(actions).not.toContain('events:PutEvents');
  });

  test("admits the region's app tasks on the secondary cluster's port", () => {
    data.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp',
      FromPort: 5432,
      ToPort: 5432,
      SourceSecurityGroupId: Match.anyValue(),
    });
  });

  test('hands the services the reader endpoint as both hosts, and the replicas of the home secrets in this region', () => {
    for (const [stack, home] of [
      [stacks.data, regionStacks(HOME).data],
      [stacks.shards.s1!, regionStacks(HOME).shards.s1!],
    ] as const) {
      const endpoint = stack.shard.endpoint;
      expect(stack.shard).toBeInstanceOf(AuroraSecondaryShard);
      expect(endpoint.readOnly).toBe(true);
      expect(endpoint.writerHost).toBe(endpoint.readerHost);
      expect(stack.resolve(endpoint.readerHost)).toEqual({
        'Fn::GetAtt': [expect.any(String), 'ReadEndpoint.Address'],
      });
      expect(endpoint.globalClusterIdentifier).toBe(home.shard.endpoint.globalClusterIdentifier);
      expect(endpoint.databaseName).toBe('shop');
      // arn:<partition>:secretsmanager:<this region>:<account>:secret:<the home secret's name>, read from the home
      // stack's output (the ARN never changes: the secret is retained, never replaced).
      const arn = JSON.stringify(stack.resolve(endpoint.appSecretArn));
      expect(arn).toContain(`"secretsmanager:${region}"`);
    }
    // In the region's service stack, the home secret's ARN is read from the home stack's output.
    const service = JSON.stringify(template(stacks.service).toJSON());
    for (const homeStack of ['shop-data', 'shop-shard-s1']) {
      expect(service).toContain(
        JSON.stringify({ 'Fn::GetStackOutput': { StackName: homeStack, Region: HOME } }).slice(0, -2),
      );
    }
    expect(service).toContain(`"secretsmanager:${region}"`);
  });

  test('alarms on the recovery point and replication lag of each secondary cluster at 1 minute', () => {
    const alarms = Object.values(template(stacks.service).findResources('AWS::CloudWatch::Alarm'));
    for (const metricName of ['AuroraGlobalDBRPOLag', 'AuroraGlobalDBReplicationLag']) {
      const lag = alarms.filter((alarm) => metricOf(alarm).Metric.MetricName === metricName);
      expect(lag).toHaveLength(2);
      for (const alarm of lag) {
        expect(alarm.Properties).toMatchObject({
          Threshold: 60_000,
          ComparisonOperator: 'GreaterThanThreshold',
        });
        expect(metricOf(alarm)).toMatchObject({
          Period: 60,
          Stat: 'Maximum',
          Metric: { Namespace: 'AWS/RDS' },
        });
        // The secondary cluster of this region (its identifier, from its stack), replicating from the home region.
        expect(metricOf(alarm).Metric.Dimensions).toEqual([
          {
            Name: 'DBClusterIdentifier',
            Value: { 'Fn::GetStackOutput': expect.objectContaining({ Region: region }) },
          },
          { Name: 'SourceRegion', Value: HOME },
        ]);
      }
      expect(lag.map((alarm) => alarm.Properties.AlarmName).sort()).toEqual([
        `shop-Shard0GlobalDatabase-${metricName === 'AuroraGlobalDBRPOLag' ? 'RpoLag' : 'ReplicationLag'}-Critical`,
        `shop-ShardS1GlobalDatabase-${metricName === 'AuroraGlobalDBRPOLag' ? 'RpoLag' : 'ReplicationLag'}-Critical`,
      ]);
    }
    // On the region's dashboard too.
    const dashboard = JSON.stringify(template(stacks.service).findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboard).toContain('AuroraGlobalDBRPOLag');
  });

  test('creates the replica key in the network stack, which deploys before the home data stack', () => {
    // One key for every replica in the region: the database secrets' and the shared session secrets'.
    template(stacks.network).resourceCountIs('AWS::KMS::Alias', 1);
    template(stacks.network).hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      Description:
        "Encrypts this region's replicas of the home region's secrets (database secrets, session secret, Redis AUTH token)",
    });
  });
});

/** The ingress rules of a template: its groups' inline ones and its `AWS::EC2::SecurityGroupIngress` resources. */
function ingressRules(t: Template): Record<string, unknown>[] {
  const inline = Object.values(t.findResources('AWS::EC2::SecurityGroup')).flatMap(
    (group) => (group.Properties.SecurityGroupIngress ?? []) as Record<string, unknown>[],
  );
  const standalone = Object.values(t.findResources('AWS::EC2::SecurityGroupIngress')).map(
    (rule) => rule.Properties as Record<string, unknown>,
  );
  return [...inline, ...standalone];
}

describe("stage global: the platform's load balancer", () => {
  /** The platform's load balancer (not the gateway's) of a region's service stack, and its security group. */
  const platformLoadBalancer = (region: string) => {
    const { service } = regionStacks(region);
    const t = template(service);
    const loadBalancers = t.findResources('AWS::ElasticLoadBalancingV2::LoadBalancer');
    const loadBalancer =
      loadBalancers[service.getLogicalId(service.platform.loadBalancer.node.defaultChild as CfnElement)]!;
    const [groupRef] = loadBalancer.Properties.SecurityGroups as { 'Fn::GetAtt': [string, string] }[];
    const group = t.findResources('AWS::EC2::SecurityGroup')[groupRef!['Fn::GetAtt'][0]]!;
    return { t, loadBalancer, group };
  };

  test.each(SECONDARIES)(
    "%s: internal, in the region's private subnets, admitting the VPC's CIDR only on port 80",
    (region) => {
      // GIVEN
      const { network } = regionStacks(region);
      const logicalIdIn = (construct: { node: { defaultChild?: unknown } }) =>
        network.getLogicalId(construct.node.defaultChild as CfnElement);
      // WHEN
      const { t, loadBalancer, group } = platformLoadBalancer(region);
      // THEN
      expect(loadBalancer.Properties.Scheme).toBe('internal');
      const fromNetwork = (prefix: string) => ({
        'Fn::GetStackOutput': {
          StackName: 'shop-network',
          Region: region,
          OutputName: expect.stringMatching(new RegExp(`^${prefix}`)),
        },
      });
      expect(loadBalancer.Properties.Subnets).toEqual(
        network.vpc.privateSubnets.map((subnet) => fromNetwork(`PublishOutputRef${logicalIdIn(subnet)}`)),
      );
      expect(group.Properties.SecurityGroupIngress).toEqual([
        {
          // The VPC's CIDR, as the network stack builds it (a literal: cdk-nag cannot read a token there).
          CidrIp:
            template(network).findResources('AWS::EC2::VPC')[logicalIdIn(network.vpc)]!.Properties.CidrBlock,
          IpProtocol: 'tcp',
          FromPort: 80,
          ToPort: 80,
          Description: 'HTTP from inside the VPC only',
        },
      ]);
      // Nothing in the region's service stack admits the internet (the gateway's load balancer admits its VPC link).
      for (const rule of ingressRules(t)) {
        expect(rule.CidrIp).not.toBe('0.0.0.0/0');
        expect(rule.CidrIpv6).not.toBe('::/0');
      }
      // One HTTP listener inside the VPC: no HTTPS, so no redirect either.
      const listeners = Object.values(t.findResources('AWS::ElasticLoadBalancingV2::Listener')).filter(
        (listener) =>
          (listener.Properties.LoadBalancerArn as { Ref?: string }).Ref ===
          regionStacks(region).service.getLogicalId(
            regionStacks(region).service.platform.loadBalancer.node.defaultChild as CfnElement,
          ),
      );
      expect(listeners.map((listener) => [listener.Properties.Protocol, listener.Properties.Port])).toEqual([
        ['HTTP', 80],
      ]);
    },
  );

  test.each(SECONDARIES)(
    '%s: no task is told SESSION_COOKIE_SECURE (viewers reach the region over HTTPS, sessions are read only)',
    (region) => {
      const containers = Object.values(
        template(regionStacks(region).service).findResources('AWS::ECS::TaskDefinition'),
      ).flatMap(
        (task) =>
          task.Properties.ContainerDefinitions as { Name: string; Environment?: { Name: string }[] }[],
      );
      // The monolith, users, products and orders (secondary regions run no migration and no shard manager).
      expect(containers.filter((container) => container.Name === 'App')).toHaveLength(4);
      for (const container of containers) {
        expect((container.Environment ?? []).map((entry) => entry.Name)).not.toContain(
          'SESSION_COOKIE_SECURE',
        );
      }
    },
  );

  test('the home region keeps its internet-facing load balancer (a scheme change would replace it)', () => {
    const { loadBalancer, group } = platformLoadBalancer(HOME);
    expect(loadBalancer.Properties.Scheme).toBe('internet-facing');
    expect(group.Properties.GroupDescription).toBe('Internet-facing load balancer of the shop');
    expect(
      (group.Properties.SecurityGroupIngress as { CidrIp?: string }[]).map((rule) => rule.CidrIp).sort(),
    ).toEqual(['0.0.0.0/0', '0.0.0.0/0']);
  });

  test('no synth warning about plain HTTP: the home region serves HTTPS, the others are internal', () => {
    expect(stage.synthOutput).not.toContain('@shop/blueprint:httpOnly');
    expect(stage.synthOutput).not.toContain('@shop/blueprint:plainHttp');
  });
});

describe('stage global: naming', () => {
  test('global cluster identifiers are deterministic per shard', () => {
    expect(globalClusterIdentifier('shop', '0')).toBe('shop-shard0-global');
    expect(globalClusterIdentifier('acme', 's7')).toBe('acme-s7-global');
  });

  test("a replica's ARN is the home secret's with the region swapped", () => {
    const data = new CdkStack();
    // A literal ARN is rewritten at synth; a token one with Fn::Split / Fn::Select at deploy time.
    expect(
      data.resolve(
        secretReplicaArn('arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf', 'eu-west-1'),
      ),
    ).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf');
  });
});

describe('stage global: validation', () => {
  const context = (values: Record<string, unknown>) => readDeploymentContext((key) => values[key], 3).context;

  test('fails without its context, naming each key and the fix', () => {
    // WHEN
    let error: unknown;
    try {
      createBlueprintApp({ config: stageGlobal, nag: false });
    } catch (caught) {
      error = caught;
    }
    // THEN
    expect(error).toBeInstanceOf(StageConfigError);
    const problems = (error as StageConfigError).problems;
    expect(problems.map((problem) => problem.key).sort()).toEqual([
      'context.domainName',
      'context.frontDoor',
      'context.hostedZoneId',
      'context.regions',
    ]);
    expect((error as StageConfigError).message).toContain('-c regions=us-east-1,eu-west-1,ap-southeast-2');
    expect((error as StageConfigError).message).toContain('-c domainName=shop.example.com');
    expect((error as StageConfigError).message).toContain('-c frontDoor=gateway');
  });

  test('needs three regions, however the rest is given', () => {
    const two = context({ ...stageContext('global'), regions: 'us-east-1,eu-west-1' });
    expect(globalContextProblems(two, true).map((problem) => problem.key)).toEqual(['context.regions']);
    expect(globalContextProblems(context(stageContext('global')), true)).toEqual([]);
    expect(globalContextProblems(context({}), false)).toEqual([]);
  });

  test('rejects burstable classes on every cluster, naming the key and the memory-optimised fix', () => {
    const config = { ...stage1m, global: stageGlobal.global } as StageConfig;
    const problems = globalConfigProblems(config as unknown as Record<string, unknown>);
    expect(problems.map((problem) => problem.key)).toEqual([
      'database.writer.instanceType',
      'database.readers.instanceType',
      'shards.s1.writer.instanceType',
      'shards.s1.readers.instanceType',
    ]);
    for (const problem of problems) expect(problem.fix).toContain('ec2.InstanceClass.R7G');
    // The same through the stage validation the app runs.
    expect(validateStageConfig(config).map((problem) => problem.key)).toContain(
      'database.writer.instanceType',
    );
  });

  test('needs the cache, the gateway and readers for the secondaries', () => {
    const { cache: _cache, gateway: _gateway, ...rest } = stageGlobal;
    const noReaders = {
      ...rest,
      database: { writer: stageGlobal.database.writer },
    } as unknown as Record<string, unknown>;
    expect(globalConfigProblems(noReaders).map((problem) => problem.key)).toEqual([
      'cache',
      'gateway',
      'database.readers',
    ]);
    // Readers of their own for the secondaries are enough.
    const own = {
      ...noReaders,
      global: {
        ...stageGlobal.global,
        database: {
          secondaryReaders: {
            count: 1,
            instanceType: ec2.InstanceType.of(ec2.InstanceClass.R7G, ec2.InstanceSize.LARGE),
          },
        },
      },
    };
    expect(globalConfigProblems(own).map((problem) => problem.key)).toEqual(['cache', 'gateway']);
  });

  test('checks global.database: readers in range, a memory-optimised class, a Duration for the alarm', () => {
    const withDatabase = (database: unknown) =>
      globalConfigProblems({
        ...stageGlobal,
        global: { ...stageGlobal.global, database },
      } as unknown as Record<string, unknown>).map((problem) => problem.key);
    expect(
      withDatabase({
        secondaryReaders: {
          count: 0,
          instanceType: ec2.InstanceType.of(ec2.InstanceClass.R7G, ec2.InstanceSize.LARGE),
        },
      }),
    ).toEqual(['global.database.secondaryReaders.count']);
    expect(
      withDatabase({
        secondaryReaders: {
          count: 2,
          instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MEDIUM),
        },
      }),
    ).toEqual(['global.database.secondaryReaders.instanceType']);
    expect(withDatabase({ rpoLagAlarm: 60 })).toEqual(['global.database.rpoLagAlarm']);
    expect(withDatabase({ rpoLagAlarm: Duration.millis(10) })).toEqual(['global.database.rpoLagAlarm']);
    expect(withDatabase({ rpoLagAlarm: Duration.seconds(30) })).toEqual([]);
    expect(withDatabase(undefined)).toEqual(['global.database']);
  });

  test('a secondaryReaders override sizes every secondary cluster, and rpoLagAlarm sets the alarms', () => {
    const config: StageConfig = {
      ...stageGlobal,
      global: {
        ...stageGlobal.global,
        database: {
          secondaryReaders: {
            count: 1,
            instanceType: ec2.InstanceType.of(ec2.InstanceClass.R7G, ec2.InstanceSize.XLARGE),
          },
          rpoLagAlarm: Duration.seconds(30),
        },
      },
    };
    const app = createBlueprintApp({
      config,
      context: stageContext('global'),
      nag: false,
      cloudFormationValidation: false,
    });
    const eu = blueprintStacks(app).regions['eu-west-1']!;
    const instances = (stack: Stack) =>
      Object.values(Template.fromStack(stack).findResources('AWS::RDS::DBInstance')).map(
        (instance) => instance.Properties.DBInstanceClass,
      );
    expect(instances(eu.data)).toEqual(['db.r7g.xlarge']);
    expect(instances(eu.shards.s1!)).toEqual(['db.r7g.xlarge']);
    const thresholds = Object.values(Template.fromStack(eu.service).findResources('AWS::CloudWatch::Alarm'))
      .filter((alarm) => String(metricOf(alarm).Metric.MetricName).startsWith('AuroraGlobalDB'))
      .map((alarm) => alarm.Properties.Threshold);
    expect(thresholds).toEqual([30_000, 30_000, 30_000, 30_000]);
  });
});
