import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as rds from 'aws-cdk-lib/aws-rds';
import { AwsSolutionsChecks } from 'cdk-nag';
import {
  alb5xxRateExpression,
  appCacheErrorRateExpression,
  AuroraMonitoringOptions,
  DEFAULT_MONITORING_CONFIG,
  MonitoringConfig,
  StageMonitoring,
  StageMonitoringProps,
} from '../../lib/constructs/stage-monitoring';
import { evaluateMetricMath } from './metric-math';

// The fixtures turn off CDK's built-in CloudFormation validation: it costs ~12 s per synth on this
// machine. The cdk-nag test below runs it once and checks its report for this construct too.

/** Thresholds distinct from each other, so each assertion finds exactly the alarm it means. */
const CONFIG: MonitoringConfig = {
  albP99LatencyMs: 200,
  alb5xxRatePercent: 2,
  alb5xxMinRequests: 150,
  unhealthyTargets: 1,
  serviceCpuPercent: 81,
  serviceMemoryPercent: 82,
  dbCpuPercent: 83,
  dbConnectionsPercent: 70,
  dbFreeableMemoryMiB: 300,
  replicaLagMs: 1500,
  proxyClientConnectionsPercent: 75,
  proxyBorrowLatencyMs: 40,
  cacheCpuPercent: 84,
  cacheMemoryPercent: 85,
  cacheEvictions: 777,
  cacheHitRatePercentMin: 66,
  cacheErrorRatePercent: 7,
};

interface Fixture {
  readonly app: App;
  readonly stack: Stack;
  readonly vpc: ec2.Vpc;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly service: ecs.FargateService;
  readonly cluster: rds.DatabaseCluster;
  readonly proxy: rds.DatabaseProxy;
  readonly replicationGroup: elasticache.CfnReplicationGroup;
}

/** A small service stack: VPC, ALB, Fargate service, Aurora cluster with a proxy, a Redis group. */
function buildFixture(app = new App({ builtinCloudFormationValidation: false })): Fixture {
  const stack = new Stack(app, 'Service', { env: { account: '123456789012', region: 'us-east-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const loadBalancer = new elbv2.ApplicationLoadBalancer(stack, 'LoadBalancer', {
    vpc,
    internetFacing: true,
  });
  const cluster = new ecs.Cluster(stack, 'Cluster', { vpc });
  const taskDefinition = new ecs.FargateTaskDefinition(stack, 'TaskDefinition');
  taskDefinition.addContainer('App', {
    image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/node:20-alpine'),
    portMappings: [{ containerPort: 3000 }],
  });
  const service = new ecs.FargateService(stack, 'AppService', { cluster, taskDefinition });
  const listener = loadBalancer.addListener('Http', { port: 80 });
  const targetGroup = listener.addTargets('App', {
    port: 3000,
    protocol: elbv2.ApplicationProtocol.HTTP,
    targets: [service],
  });
  const database = new rds.DatabaseCluster(stack, 'Database', {
    engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_4 }),
    writer: rds.ClusterInstance.provisioned('Writer'),
    readers: [rds.ClusterInstance.provisioned('Reader1')],
    vpc,
  });
  const proxy = database.addProxy('Proxy', { secrets: [database.secret!], vpc });
  const replicationGroup = new elasticache.CfnReplicationGroup(stack, 'Cache', {
    replicationGroupDescription: 'cache',
    replicationGroupId: 'shop-cache',
    engine: 'redis',
    cacheNodeType: 'cache.t4g.small',
    numCacheClusters: 3,
  });
  return { app, stack, vpc, loadBalancer, targetGroup, service, cluster: database, proxy, replicationGroup };
}

function baseProps(f: Fixture): StageMonitoringProps {
  return {
    config: CONFIG,
    loadBalancer: f.loadBalancer,
    targetGroup: f.targetGroup,
    service: f.service,
    dashboardName: 'shop-1k',
  };
}

/** Props of a stage with every optional input (Redis, the services' pool connections). */
function fullProps(f: Fixture): StageMonitoringProps {
  return {
    ...baseProps(f),
    alarmEmail: 'ops@example.com',
    cacheReplicationGroupId: 'shop-cache',
    cacheNodeCount: 3,
    databasePoolConnections: 120,
  };
}

const T4G_MEDIUM = ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MEDIUM);
const R7G_LARGE = ec2.InstanceType.of(ec2.InstanceClass.R7G, ec2.InstanceSize.LARGE);

/** Shard 0 as stage 1k has it: a db.t4g.medium writer. */
function writerOnly(f: Fixture): AuroraMonitoringOptions {
  return { cluster: f.cluster, shardId: '0', writerInstanceType: T4G_MEDIUM };
}

/** A shard with readers and a proxy, as stage 10k has it (readers of another class, to tell them apart). */
function withReadersAndProxy(f: Fixture, shardId = '0'): AuroraMonitoringOptions {
  return {
    ...writerOnly(f),
    shardId,
    readers: { count: 1, instanceType: R7G_LARGE },
    proxy: { proxy: f.proxy, borrowTimeout: Duration.seconds(120), maxConnectionsPercent: 90 },
  };
}

/** The properties of the alarm named `name`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function alarmNamed(template: Template, name: string): any {
  const alarms = Object.values(
    template.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: name } }),
  );
  expect(alarms.map((alarm) => alarm.Properties.AlarmName)).toEqual([name]);
  return alarms[0].Properties;
}

/** The alarm watching `metricName` directly (not via metric math). */
function alarmsOnMetric(template: Template, metricName: string) {
  return template.findResources('AWS::CloudWatch::Alarm', {
    Properties: { MetricName: metricName, Namespace: Match.anyValue() },
  });
}

/** Alarms whose metric math reads `metricName`. */
function alarmsOnMath(template: Template, metricName: string) {
  return template.findResources('AWS::CloudWatch::Alarm', {
    Properties: {
      Metrics: Match.arrayWith([
        Match.objectLike({
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: metricName }) }),
        }),
      ]),
    },
  });
}

/** The one alarm cdk-monitoring-constructs built on `namespace`/`metricName` (it wraps metrics in `Metrics`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function libraryAlarm(template: Template, namespace: string, metricName: string): any {
  const alarms = Object.values(
    template.findResources('AWS::CloudWatch::Alarm', {
      Properties: {
        Metrics: [
          Match.objectLike({
            MetricStat: Match.objectLike({
              Metric: Match.objectLike({ Namespace: namespace, MetricName: metricName }),
            }),
          }),
        ],
      },
    }),
  );
  expect(alarms).toHaveLength(1);
  return alarms[0].Properties;
}

describe('StageMonitoring, stage 1k shape (no readers, proxy or cache)', () => {
  let template: Template;
  let monitoring: StageMonitoring;

  beforeAll(() => {
    // GIVEN
    const f = buildFixture();
    // WHEN
    monitoring = new StageMonitoring(f.stack, 'Monitoring', baseProps(f));
    monitoring.addAuroraCluster(writerOnly(f));
    template = Template.fromStack(f.stack);
  });

  test('creates the dashboard with the given name', () => {
    // THEN
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'shop-1k' });
    expect(monitoring.dashboard).toBeDefined();
  });

  test('alarms on ALB p99 target response time above 200 ms', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'TargetResponseTime',
      Namespace: 'AWS/ApplicationELB',
      ExtendedStatistic: 'p99',
      Threshold: 0.2,
      ComparisonOperator: 'GreaterThanThreshold',
      Period: 300,
    });
  });

  test('alarms on the 5xx rate as target + ELB 5xx over requests, guarded by a minimum of requests', () => {
    const alarms = alarmsOnMath(template, 'HTTPCode_Target_5XX_Count');
    expect(Object.keys(alarms)).toHaveLength(1);
    const alarm = Object.values(alarms)[0].Properties;
    expect(alarm.Threshold).toBe(CONFIG.alb5xxRatePercent);
    expect(alarm.ComparisonOperator).toBe('GreaterThanThreshold');
    expect(alarm.TreatMissingData).toBe('notBreaching');
    const expression = alarm.Metrics.find((m: { ReturnData?: boolean }) => m.ReturnData !== false).Expression;
    expect(expression).toBe(
      'IF(requests >= 150, 100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests, 0)',
    );
    const metricNames = alarm.Metrics.filter((m: { MetricStat?: unknown }) => m.MetricStat).map(
      (m: { MetricStat: { Metric: { MetricName: string } } }) => m.MetricStat.Metric.MetricName,
    );
    expect(metricNames.sort()).toEqual([
      'HTTPCode_ELB_5XX_Count',
      'HTTPCode_Target_5XX_Count',
      'RequestCount',
    ]);
  });

  test('alarms when no task is healthy, with missing data counted as down (site down)', () => {
    const alarm = alarmNamed(template, 'shop-1k-Service-Healthy-Tasks-Critical');
    expect(alarm.Threshold).toBe(1);
    expect(alarm.ComparisonOperator).toBe('LessThanThreshold');
    expect(alarm.TreatMissingData).toBe('breaching');
    const metric = alarm.Metrics[0].MetricStat;
    expect(metric.Metric.MetricName).toBe('HealthyHostCount');
    expect(metric.Stat).toBe('Minimum');
    expect(metric.Metric.Dimensions.map((d: { Name: string }) => d.Name).sort()).toEqual([
      'LoadBalancer',
      'TargetGroup',
    ]);
  });

  test('alarms on unhealthy targets of the service target group', () => {
    const alarm = libraryAlarm(template, 'AWS/ApplicationELB', 'UnHealthyHostCount');
    expect(alarm.Threshold).toBe(CONFIG.unhealthyTargets);
    expect(alarm.ComparisonOperator).toBe('GreaterThanThreshold');
    const dimensions = alarm.Metrics[0].MetricStat.Metric.Dimensions.map((d: { Name: string }) => d.Name);
    expect(dimensions.sort()).toEqual(['LoadBalancer', 'TargetGroup']);
  });

  test('alarms on service CPU and memory', () => {
    expect(libraryAlarm(template, 'AWS/ECS', 'CPUUtilization').Threshold).toBe(CONFIG.serviceCpuPercent);
    expect(libraryAlarm(template, 'AWS/ECS', 'MemoryUtilization').Threshold).toBe(
      CONFIG.serviceMemoryPercent,
    );
  });

  test('alarms on the writer only (Role=WRITER), with the shard id in every name', () => {
    const dimensions = [
      { Name: 'DBClusterIdentifier', Value: { Ref: expect.stringMatching(/^Database/) } },
      { Name: 'Role', Value: 'WRITER' },
    ];
    const cpu = alarmNamed(template, 'shop-1k-Shard0Writer-Cpu-Critical');
    expect([cpu.MetricName, cpu.Statistic, cpu.Threshold, cpu.ComparisonOperator]).toEqual([
      'CPUUtilization',
      'Average',
      CONFIG.dbCpuPercent,
      'GreaterThanThreshold',
    ]);
    expect(cpu.Dimensions).toEqual(dimensions);
    const memory = alarmNamed(template, 'shop-1k-Shard0Writer-FreeableMemory-Critical');
    expect([memory.MetricName, memory.Statistic, memory.Threshold, memory.ComparisonOperator]).toEqual([
      'FreeableMemory',
      'Minimum',
      CONFIG.dbFreeableMemoryMiB * 1024 * 1024,
      'LessThanThreshold',
    ]);
    expect(memory.Dimensions).toEqual(dimensions);
  });

  test("alarms on the writer's connections at a share of its class's max_connections", () => {
    // db.t4g.medium: max_connections 405 (Aurora User Guide); 70 % of it, rounded down.
    const connections = alarmNamed(template, 'shop-1k-Shard0Writer-Connections-Critical');
    expect([connections.MetricName, connections.Statistic, connections.Threshold]).toEqual([
      'DatabaseConnections',
      'Maximum',
      Math.floor(405 * 0.7),
    ]);
    expect(connections.AlarmDescription).toContain('db.t4g.medium');
  });

  test('creates no replica-lag, proxy or Redis alarms without those inputs', () => {
    expect(alarmsOnMetric(template, 'AuroraReplicaLag')).toEqual({});
    expect(alarmsOnMetric(template, 'ClientConnections')).toEqual({});
    expect(alarmsOnMetric(template, 'DatabaseConnectionsBorrowLatency')).toEqual({});
    expect(JSON.stringify(template.findResources('AWS::CloudWatch::Alarm'))).not.toContain('READER');
    for (const metric of [
      'EngineCPUUtilization',
      'DatabaseMemoryUsagePercentage',
      'Evictions',
      'CacheHits',
    ]) {
      expect(alarmsOnMath(template, metric)).toEqual({});
    }
    // ALB p99, 5xx rate, unhealthy and healthy targets, service CPU + memory, writer CPU + connections + memory.
    template.resourceCountIs('AWS::CloudWatch::Alarm', 9);
  });

  test('every alarm notifies the alarm topic, on alarm and on OK', () => {
    const topicRef = {
      Ref: Stack.of(monitoring).getLogicalId(monitoring.alarmTopic.node.defaultChild as never),
    };
    const alarms = template.findResources('AWS::CloudWatch::Alarm');
    expect(Object.keys(alarms).length).toBeGreaterThan(0);
    for (const alarm of Object.values(alarms)) {
      expect(alarm.Properties.AlarmActions).toEqual([topicRef]);
      expect(alarm.Properties.OKActions).toEqual([topicRef]);
      expect(alarm.Properties.AlarmName).toMatch(/^shop-1k-/);
    }
  });

  test('the topic is encrypted with a rotating customer-managed key and refuses plain HTTP', () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('MonitoringAlarmTopicKey'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: Match.arrayWith(['kms:Decrypt', 'kms:GenerateDataKey*']),
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  test('has no email subscription without an address', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('StageMonitoring, stage 10k shape (readers, proxy, Redis)', () => {
  let template: Template;

  beforeAll(() => {
    // GIVEN
    const f = buildFixture();
    // WHEN
    const monitoring = new StageMonitoring(f.stack, 'Monitoring', fullProps(f));
    monitoring.addAuroraCluster(withReadersAndProxy(f));
    template = Template.fromStack(f.stack);
  });

  test('subscribes the email address to the topic', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });

  test('alarms on the readers (Role=READER), with their own class bounding their connections', () => {
    const dimensions = [
      { Name: 'DBClusterIdentifier', Value: { Ref: expect.stringMatching(/^Database/) } },
      { Name: 'Role', Value: 'READER' },
    ];
    const cpu = alarmNamed(template, 'shop-1k-Shard0Readers-Cpu-Critical');
    expect([cpu.MetricName, cpu.Statistic, cpu.Threshold, cpu.Dimensions]).toEqual([
      'CPUUtilization',
      'Average',
      CONFIG.dbCpuPercent,
      dimensions,
    ]);
    // db.r7g.large: max_connections 1722 (Aurora User Guide).
    const connections = alarmNamed(template, 'shop-1k-Shard0Readers-Connections-Critical');
    expect([connections.MetricName, connections.Statistic, connections.Threshold]).toEqual([
      'DatabaseConnections',
      'Maximum',
      Math.floor(1722 * 0.7),
    ]);
    expect(alarmNamed(template, 'shop-1k-Shard0Writer-Connections-Critical').Threshold).toBe(
      Math.floor(405 * 0.7),
    );
    const lag = alarmNamed(template, 'shop-1k-Shard0Readers-ReplicaLag-Critical');
    expect([lag.MetricName, lag.Statistic, lag.Threshold, lag.Dimensions]).toEqual([
      'AuroraReplicaLag',
      'Maximum',
      CONFIG.replicaLagMs,
      dimensions,
    ]);
    expect(alarmNamed(template, 'shop-1k-Shard0Readers-FreeableMemory-Critical').Dimensions).toEqual(
      dimensions,
    );
  });

  test('alarms on RDS Proxy client connections against what the services open, summed over its nodes', () => {
    // 120 connections per pool (the services at their maximum), 2 pools (writer and readers), 75 %.
    const alarm = alarmNamed(template, 'shop-1k-Shard0Proxy-ClientConnections-Critical');
    expect(alarm).toMatchObject({
      MetricName: 'ClientConnections',
      Namespace: 'AWS/RDS',
      Statistic: 'Sum',
      Period: 60,
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
      Threshold: Math.floor(240 * 0.75),
      Dimensions: [{ Name: 'ProxyName', Value: { Ref: expect.stringMatching(/^DatabaseProxy/) } }],
    });
    expect(alarm.AlarmDescription).toContain('the 240 the services open at most');
  });

  test('alarms on RDS Proxy borrow latency, in microseconds', () => {
    expect(alarmNamed(template, 'shop-1k-Shard0Proxy-BorrowLatency-Critical')).toMatchObject({
      MetricName: 'DatabaseConnectionsBorrowLatency',
      Statistic: 'Average',
      Threshold: CONFIG.proxyBorrowLatencyMs * 1000,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  test("names another shard's alarms after its id, so two shards never collide", () => {
    const f = buildFixture();
    const monitoring = new StageMonitoring(f.stack, 'Monitoring', fullProps(f));
    monitoring.addAuroraCluster(withReadersAndProxy(f, '0'));
    monitoring.addAuroraCluster(withReadersAndProxy(f, 's1'));
    const names = Object.values(Template.fromStack(f.stack).findResources('AWS::CloudWatch::Alarm')).map(
      (alarm) => alarm.Properties.AlarmName as string,
    );
    expect(new Set(names).size).toBe(names.length);
    expect(names.filter((name) => name.startsWith('shop-1k-ShardS1'))).toHaveLength(9);
    expect(names.filter((name) => name.startsWith('shop-1k-Shard0'))).toHaveLength(9);
  });

  test('leaves the client-connections alarm out without the pool connections, and keeps the graph', () => {
    const f = buildFixture();
    const monitoring = new StageMonitoring(f.stack, 'Monitoring', {
      ...fullProps(f),
      databasePoolConnections: undefined,
    });
    monitoring.addAuroraCluster(withReadersAndProxy(f));
    const t = Template.fromStack(f.stack);
    expect(alarmsOnMetric(t, 'ClientConnections')).toEqual({});
    expect(JSON.stringify(t.findResources('AWS::CloudWatch::Dashboard'))).toContain('ClientConnections');
  });

  test.each([
    [
      { dbConnectionsPercent: 90 },
      /dbConnectionsPercent: received 90; give less than the proxy's maxConnectionsPercent \(90\)/,
    ],
    [
      { proxyBorrowLatencyMs: 120_000 },
      /proxyBorrowLatencyMs: received 120000; give less than the proxy's borrow timeout \(120000 ms\)/,
    ],
  ])('refuses thresholds the metric cannot reach: %j', (patch, message) => {
    const f = buildFixture();
    const monitoring = new StageMonitoring(f.stack, 'Monitoring', {
      ...fullProps(f),
      config: { ...CONFIG, ...patch },
    });
    expect(() => monitoring.addAuroraCluster(withReadersAndProxy(f))).toThrow(message);
  });

  test('refuses an instance class whose max_connections is unknown, naming the table to extend', () => {
    const f = buildFixture();
    const monitoring = new StageMonitoring(f.stack, 'Monitoring', fullProps(f));
    expect(() =>
      monitoring.addAuroraCluster({
        ...writerOnly(f),
        writerInstanceType: ec2.InstanceType.of(ec2.InstanceClass.X2G, ec2.InstanceSize.XLARGE),
      }),
    ).toThrow(/writerInstanceType: received db\.x2g\.xlarge.*AURORA_INSTANCE_MEMORY_GIB/);
  });

  test.each([
    ['EngineCPUUtilization', CONFIG.cacheCpuPercent, 'GreaterThanThreshold', 'MAX('],
    ['DatabaseMemoryUsagePercentage', CONFIG.cacheMemoryPercent, 'GreaterThanThreshold', 'MAX('],
    ['Evictions', CONFIG.cacheEvictions, 'GreaterThanThreshold', 'SUM('],
    ['CacheHits', CONFIG.cacheHitRatePercentMin, 'LessThanThreshold', '100 * SUM('],
  ])('alarms on Redis %s over all three nodes', (metricName, threshold, operator, expressionStart) => {
    const alarms = alarmsOnMath(template, metricName);
    expect(Object.keys(alarms)).toHaveLength(1);
    const alarm = Object.values(alarms)[0].Properties;
    expect(alarm.Threshold).toBe(threshold);
    expect(alarm.ComparisonOperator).toBe(operator);
    const nodes = alarm.Metrics.filter(
      (m: { MetricStat?: { Metric: { MetricName: string } } }) =>
        m.MetricStat?.Metric.MetricName === metricName,
    ).map(
      (m: { MetricStat: { Metric: { Dimensions: { Value: string }[] } } }) =>
        m.MetricStat.Metric.Dimensions[0].Value,
    );
    expect(nodes.sort()).toEqual(['shop-cache-001', 'shop-cache-002', 'shop-cache-003']);
    const expression = alarm.Metrics.find((m: { ReturnData?: boolean }) => m.ReturnData !== false).Expression;
    expect(expression).toContain(expressionStart);
  });

  test('creates all 19 alarms', () => {
    // 6 service and load balancer, 3 writer, 4 readers, 2 proxy, 4 Redis.
    template.resourceCountIs('AWS::CloudWatch::Alarm', 19);
  });

  test('with 6 nodes, aggregates CPU over all of them and the hit rate over the first 5, with a warning', () => {
    const f = buildFixture();
    new StageMonitoring(f.stack, 'Monitoring', { ...fullProps(f), cacheNodeCount: 6 });
    const t = Template.fromStack(f.stack);
    const nodesOf = (metricName: string) => {
      const alarm = Object.values(alarmsOnMath(t, metricName))[0].Properties;
      return alarm.Metrics.filter(
        (m: { MetricStat?: { Metric: { MetricName: string } } }) =>
          m.MetricStat?.Metric.MetricName === metricName,
      ).length;
    };
    expect(nodesOf('EngineCPUUtilization')).toBe(6);
    expect(nodesOf('CacheHits')).toBe(5);
    expect(nodesOf('CacheMisses')).toBe(5);
    Annotations.fromStack(f.stack).hasWarning(
      '/Service/Monitoring',
      Match.stringLikeRegexp('hit-rate alarm covers nodes shop-cache-001, .*shop-cache-005 only'),
    );
  });

  test('leaves reader and replica-lag alarms out when the cluster has no readers', () => {
    const f = buildFixture();
    const monitoring = new StageMonitoring(f.stack, 'Monitoring', fullProps(f));
    monitoring.addAuroraCluster({
      ...withReadersAndProxy(f),
      readers: { count: 0, instanceType: T4G_MEDIUM },
    });
    const t = Template.fromStack(f.stack);
    expect(alarmsOnMetric(t, 'AuroraReplicaLag')).toEqual({});
    // Without readers the app has one pool: 120 connections, 75 %.
    expect(alarmNamed(t, 'shop-1k-Shard0Proxy-ClientConnections-Critical').Threshold).toBe(90);
  });
});

describe('StageMonitoring with app metrics', () => {
  const withApp = (cacheFirst: boolean) => {
    const f = buildFixture();
    const monitoring = new StageMonitoring(f.stack, 'Monitoring', {
      ...fullProps(f),
      service: undefined,
      cacheReplicationGroupId: undefined,
      cacheNodeCount: undefined,
      appMetricsNamespace: 'shop/App',
    });
    const service = { service: f.service, loadBalancer: f.loadBalancer, targetGroup: f.targetGroup };
    if (cacheFirst) monitoring.addCache('shop-cache', 2);
    monitoring.addService({ ...service, serviceId: 'shop' });
    monitoring.addService({ ...service, serviceId: 'users', namePrefix: 'Users' });
    if (!cacheFirst) monitoring.addCache('shop-cache', 2);
    return Template.fromStack(f.stack);
  };

  test.each([false, true])(
    "alarms on each service's failed cache lookups, whichever comes first (cache first: %s)",
    (cacheFirst) => {
      const template = withApp(cacheFirst);
      for (const [name, service] of [
        ['shop-1k-AppCache-CacheErrorRate-Critical', 'shop'],
        ['shop-1k-UsersAppCache-CacheErrorRate-Critical', 'users'],
      ]) {
        const alarm = alarmNamed(template, name!);
        expect([alarm.Threshold, alarm.ComparisonOperator, alarm.TreatMissingData]).toEqual([
          CONFIG.cacheErrorRatePercent,
          'GreaterThanThreshold',
          'notBreaching',
        ]);
        const stats = alarm.Metrics.filter((m: { MetricStat?: unknown }) => m.MetricStat).map(
          (m: {
            MetricStat: { Metric: { Namespace: string; Dimensions: { Name: string; Value: string }[] } };
          }) => [
            m.MetricStat.Metric.Namespace,
            Object.fromEntries(m.MetricStat.Metric.Dimensions.map((d) => [d.Name, d.Value])),
          ],
        );
        expect(stats).toEqual(
          ['hit', 'miss', 'error'].map((result) => ['shop/App', { Service: service, result }]),
        );
      }
    },
  );

  test('without a cache, no cache alarm', () => {
    const f = buildFixture();
    const monitoring = new StageMonitoring(f.stack, 'Monitoring', {
      ...baseProps(f),
      service: undefined,
      appMetricsNamespace: 'shop/App',
    });
    monitoring.addService({
      service: f.service,
      loadBalancer: f.loadBalancer,
      targetGroup: f.targetGroup,
      serviceId: 'shop',
    });
    const template = Template.fromStack(f.stack);
    expect(alarmsOnMath(template, 'cache_requests_total')).toEqual({});
    expect(JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'))).toContain(
      'db_queries_total',
    );
  });

  test("the failed-lookup rate counts from 100 lookups: a Redis failover's few errors do not page", () => {
    const expression = appCacheErrorRateExpression(100);
    const rate = (hit: number, miss: number, error?: number) =>
      evaluateMetricMath(expression, { hit, miss, error });
    expect(rate(40, 10, 9)).toBe(0);
    expect(rate(900, 90, 10)).toBe(1);
    expect(rate(0, 0, 200)).toBe(100);
    expect(rate(500, 500)).toBe(0);
  });
});

describe('the 5xx rate expression (its minimum-traffic guard)', () => {
  // The alarm's own expression, evaluated with CloudWatch's semantics for one 5-minute period. The guard at
  // 100 requests: one error then weighs at most 1 point of rate, the default threshold itself.
  const expression = alb5xxRateExpression(DEFAULT_MONITORING_CONFIG.alb5xxMinRequests);
  const threshold = DEFAULT_MONITORING_CONFIG.alb5xxRatePercent;
  const rate = (requests: number | undefined, target5xx?: number, elb5xx?: number) =>
    evaluateMetricMath(expression, { requests, target5xx, elb5xx });

  test('one error in 50 requests (a quiet 1k evening) does not alarm', () => {
    expect(rate(50, 1)).toBe(0);
    expect(rate(99, 5, 5)).toBe(0);
  });

  test('one error in 100 requests is exactly the threshold, not above it', () => {
    expect(rate(100, 1)).toBe(1);
    expect(rate(100, 1)! > threshold).toBe(false);
  });

  test('a real error rate alarms, whether the targets or the load balancer answered 5xx', () => {
    expect(rate(1000, 20)).toBe(2);
    expect(rate(1000, undefined, 30)).toBe(3);
    expect(rate(1000, 20)! > threshold).toBe(true);
  });

  test('a period without errors is 0, a period without requests has no value (missing: not breaching)', () => {
    expect(rate(5000)).toBe(0);
    expect(rate(undefined)).toBeUndefined();
  });
});

describe('StageMonitoring cdk-nag and CloudFormation validation', () => {
  test('has zero AwsSolutions findings and no template-validation findings on its own resources', () => {
    // GIVEN an app with the AwsSolutions pack registered and synth not failing on the fixture's findings
    const app = new App({ context: { '@aws-cdk/core:failSynthOnValidationErrors': false } });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const f = buildFixture(app);
    new StageMonitoring(f.stack, 'Monitoring', fullProps(f)).addAuroraCluster(withReadersAndProxy(f));
    // WHEN
    const errorSpy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const assembly = app.synth();
    errorSpy.mockRestore();
    // THEN
    const report = JSON.parse(
      fs.readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'),
    );
    const findingsOf = (plugin: RegExp): string[] => {
      const pluginReport = report.pluginReports.find((r: { pluginName: string }) =>
        plugin.test(r.pluginName),
      );
      expect(pluginReport).toBeDefined();
      return (pluginReport.violations ?? []).flatMap(
        (v: { ruleName: string; violatingConstructs?: { constructPath: string }[] }) =>
          (v.violatingConstructs ?? []).map((c) => `${v.ruleName} ${c.constructPath}`),
      );
    };
    const nag = findingsOf(/^AwsSolutions$/);
    // The fixture itself (VPC without flow logs, ALB without access logs, ...) has findings: this proves
    // the report is read, while the monitoring construct contributes none.
    expect(nag).toContain('AwsSolutions-VPC7 Service/Vpc/Resource');
    expect(nag.filter((finding) => finding.includes('Service/Monitoring/'))).toEqual([]);
    const cfnValidate = report.pluginReports.find((r: { pluginName: string }) =>
      /CloudFormation/.test(r.pluginName),
    );
    expect(cfnValidate).toBeDefined();
    const cfnFindings = (cfnValidate?.violations ?? []).flatMap(
      (v: { ruleName: string; violatingConstructs?: { constructPath: string }[] }) =>
        (v.violatingConstructs ?? []).map((c) => `${v.ruleName} ${c.constructPath}`),
    );
    expect(cfnFindings.filter((finding: string) => finding.includes('Service/Monitoring/'))).toEqual([]);
  });
});

describe('StageMonitoring validation', () => {
  const expectInvalid = (
    mutate: (p: StageMonitoringProps) => StageMonitoringProps,
    ...messages: RegExp[]
  ) => {
    const f = buildFixture();
    const props = mutate(fullProps(f));
    let error: Error | undefined;
    try {
      new StageMonitoring(f.stack, 'Monitoring', props);
    } catch (e) {
      error = e as Error;
    }
    expect(error).toBeDefined();
    for (const message of messages) expect(error!.message).toMatch(message);
  };
  const withConfig =
    (patch: Partial<Record<keyof MonitoringConfig, unknown>>) => (p: StageMonitoringProps) => ({
      ...p,
      config: { ...p.config, ...patch } as MonitoringConfig,
    });

  test('accepts the default thresholds', () => {
    const f = buildFixture();
    expect(
      () =>
        new StageMonitoring(f.stack, 'Monitoring', { ...fullProps(f), config: DEFAULT_MONITORING_CONFIG }),
    ).not.toThrow();
  });

  test('fails when a threshold is negative', () => {
    expectInvalid(
      withConfig({ alb5xxMinRequests: -1 }),
      /config\.alb5xxMinRequests: received -1; give a whole number of 0 or more/,
    );
  });

  test('fails when a percentage is above 100', () => {
    expectInvalid(
      withConfig({ serviceCpuPercent: 120 }),
      /config\.serviceCpuPercent: received 120; give a percentage between 0 and 100/,
    );
  });

  test('fails when the hit-rate minimum is not a number', () => {
    expectInvalid(
      withConfig({ cacheHitRatePercentMin: 'high' }),
      /config\.cacheHitRatePercentMin: received "high"/,
    );
  });

  test('fails when a count is fractional', () => {
    expectInvalid(withConfig({ unhealthyTargets: 0.5 }), /config\.unhealthyTargets: received 0\.5/);
  });

  test('fails when the latency threshold is zero', () => {
    expectInvalid(
      withConfig({ albP99LatencyMs: 0 }),
      /config\.albP99LatencyMs: received 0; give a number greater than 0/,
    );
  });

  test('fails when a threshold is missing', () => {
    expectInvalid(withConfig({ replicaLagMs: undefined }), /config\.replicaLagMs: received undefined/);
  });

  test('fails when the email address is malformed', () => {
    expectInvalid((p) => ({ ...p, alarmEmail: 'ops-at-example' }), /alarmEmail: received "ops-at-example"/);
  });

  test('fails when the dashboard name has characters CloudWatch refuses', () => {
    expectInvalid((p) => ({ ...p, dashboardName: 'shop 1k!' }), /dashboardName: received "shop 1k!"/);
  });

  test('fails when the pool connections are not a whole number', () => {
    expectInvalid((p) => ({ ...p, databasePoolConnections: 2.5 }), /databasePoolConnections: received 2\.5/);
  });

  test('fails when the replication group id is not a valid ElastiCache id', () => {
    expectInvalid(
      (p) => ({ ...p, cacheReplicationGroupId: 'Shop_Cache' }),
      /cacheReplicationGroupId: received "Shop_Cache"/,
    );
  });

  test('fails when the cache node count exceeds the 6 nodes of a replication group', () => {
    expectInvalid(
      (p) => ({ ...p, cacheNodeCount: 7 }),
      /cacheNodeCount: received 7; give a whole number from 1 to 6/,
    );
  });

  test('fails when a cache node count is given without a replication group', () => {
    expectInvalid(
      (p) => ({ ...p, cacheReplicationGroupId: undefined, cacheNodeCount: 2 }),
      /cacheNodeCount: received 2; give cacheReplicationGroupId too/,
    );
  });

  test('names every bad field in one error', () => {
    expectInvalid(
      (p) => ({ ...withConfig({ dbCpuPercent: -5, cacheEvictions: -1 })(p), dashboardName: '' }),
      /config\.dbCpuPercent/,
      /config\.cacheEvictions/,
      /dashboardName/,
    );
  });
});
