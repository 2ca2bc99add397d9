import { Annotations, Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import {
  CustomMetricGroup,
  DefaultDashboardFactory,
  ElastiCacheClusterType,
  MonitoringFacade,
  SnsAlarmActionStrategy,
} from 'cdk-monitoring-constructs';
import { Construct } from 'constructs';
import { DEFAULT_MONITORING_CONFIG, LIMITS } from '../config/defaults';
import { monitoringConfigProblems, type MonitoringConfig } from '../config/monitoring-config';

// The thresholds' type and defaults live with the stage model in lib/config; re-exported here for
// users of the construct.
export { DEFAULT_MONITORING_CONFIG, type MonitoringConfig };

/** Properties of {@link StageMonitoring}. */
export interface StageMonitoringProps {
  /** Alarm thresholds of the stage. */
  readonly config: MonitoringConfig;
  /**
   * Email address subscribed to the alarm topic.
   *
   * @default - no subscription; subscribe an on-call tool to `alarmTopic` yourself
   */
  readonly alarmEmail?: string;
  /** The internet-facing load balancer in front of the service. */
  readonly loadBalancer: elbv2.IApplicationLoadBalancer;
  /** The target group the service is registered in. */
  readonly targetGroup: elbv2.IApplicationTargetGroup;
  /** The Fargate service running the app. */
  readonly service: ecs.FargateService;
  /** The Aurora cluster the app writes to. */
  readonly cluster: rds.IDatabaseCluster;
  /**
   * Number of Aurora reader instances in `cluster`; replica-lag alarms are created only when above 0.
   *
   * @default 0
   */
  readonly readerInstanceCount?: number;
  /**
   * RDS Proxy in front of `cluster`.
   *
   * @default - no proxy alarms
   */
  readonly proxy?: rds.IDatabaseProxy;
  /**
   * Id of the ElastiCache for Redis replication group (cluster mode disabled) the app uses.
   *
   * @default - no cache alarms
   */
  readonly cacheReplicationGroupId?: string;
  /**
   * Number of nodes (primary + replicas) in the replication group, 1-6. CloudWatch publishes Redis
   * metrics per node (`<group>-001`, `<group>-002`, ...); the alarms aggregate over all of them so that
   * they keep working after a failover. The hit rate reads two metrics per node and an alarm may read at
   * most 10, so with 6 nodes it covers nodes 001-005 (a synth warning says so).
   *
   * @default 1
   */
  readonly cacheNodeCount?: number;
  /** Name of the CloudWatch dashboard; also the prefix of every alarm name. */
  readonly dashboardName: string;
}

/** Evaluation period of every alarm; CloudWatch's basic resolution for the services watched. */
const PERIOD = Duration.minutes(5);
/** An alarm's metric math may read at most 10 metrics; the hit rate needs hits and misses per node. */
const MAX_HIT_RATE_NODES = 5;
const MIB = 1024 * 1024;

/**
 * CloudWatch dashboard and alarms for one stage, built with cdk-monitoring-constructs' facade.
 *
 * Alarms are published to a KMS-encrypted SNS topic that accepts only TLS publishers; an email
 * subscription is added when `alarmEmail` is given. ALB, Fargate, Aurora and ElastiCache use the
 * library's monitors; what it lacks (ALB p99 and 5xx rate, Aurora freeable memory and replica lag,
 * RDS Proxy connections, Redis memory, evictions and hit rate over all nodes) is added as custom
 * metrics through the same facade, so every alarm shares the same naming and actions.
 * Create one per stack: the facade is meant to be the stack's single monitoring entry point.
 */
export class StageMonitoring extends Construct {
  /** The topic every alarm notifies. */
  public readonly alarmTopic: sns.Topic;
  /** The customer-managed key encrypting `alarmTopic`. */
  public readonly alarmTopicKey: kms.Key;
  /** The monitoring facade; add further monitors to it rather than creating a second one. */
  public readonly facade: MonitoringFacade;
  /** The stage's dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: StageMonitoringProps) {
    super(scope, id);
    validateStageMonitoringProps(props);
    const { config } = props;
    const readerInstanceCount = props.readerInstanceCount ?? 0;

    this.alarmTopicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: `Encrypts the alarm topic of ${props.dashboardName}`,
      enableKeyRotation: true,
    });
    // CloudWatch publishes alarm notifications itself, so it needs the key to encrypt the message.
    this.alarmTopicKey.grant(
      new iam.ServicePrincipal('cloudwatch.amazonaws.com'),
      'kms:Decrypt',
      'kms:GenerateDataKey*',
    );
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `${props.dashboardName} alarms`,
      masterKey: this.alarmTopicKey,
      enforceSSL: true,
    });
    if (props.alarmEmail !== undefined) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }

    const dashboardFactory = new DefaultDashboardFactory(this, 'Dashboards', {
      dashboardNamePrefix: props.dashboardName,
      createDashboard: true,
      createSummaryDashboard: false,
      createAlarmDashboard: false,
    });
    this.facade = new MonitoringFacade(this, 'Facade', {
      alarmFactoryDefaults: {
        alarmNamePrefix: props.dashboardName,
        actionsEnabled: true,
        action: new SnsAlarmActionStrategy({ onAlarmTopic: this.alarmTopic, onOkTopic: this.alarmTopic }),
      },
      metricFactoryDefaults: { period: PERIOD },
      dashboardFactory,
    });

    this.facade.addLargeHeader(`${props.dashboardName}: service, database and cache`);
    this.monitorLoadBalancer(props);
    this.facade.monitorFargateApplicationLoadBalancer({
      fargateService: props.service,
      applicationLoadBalancer: props.loadBalancer,
      applicationTargetGroup: props.targetGroup,
      alarmFriendlyName: 'Service',
      humanReadableName: 'Fargate service',
      addCpuUsageAlarm: { Critical: { maxUsagePercent: config.serviceCpuPercent } },
      addMemoryUsageAlarm: { Critical: { maxUsagePercent: config.serviceMemoryPercent } },
      addUnhealthyTaskCountAlarm: { Critical: { maxUnhealthyTasks: config.unhealthyTargets } },
    });
    this.monitorDatabase(props, readerInstanceCount);
    if (props.proxy !== undefined) {
      this.monitorProxy(props.proxy, config);
    }
    if (props.cacheReplicationGroupId !== undefined) {
      this.monitorCache(props.cacheReplicationGroupId, props.cacheNodeCount ?? 1, config);
    }

    const dashboard = dashboardFactory.createdDashboard();
    if (dashboard === undefined) {
      throw new Error('StageMonitoring: the dashboard factory did not create the dashboard');
    }
    this.dashboard = dashboard;
  }

  /** ALB p99 latency and 5xx rate: the library's ALB metrics cover neither. */
  private monitorLoadBalancer(props: StageMonitoringProps): void {
    const { config } = props;
    const p99 = props.targetGroup.metrics.targetResponseTime({ statistic: 'p99', period: PERIOD });
    const requests = props.loadBalancer.metrics.requestCount({ statistic: 'Sum', period: PERIOD });
    const target5xx = props.loadBalancer.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
      statistic: 'Sum',
      period: PERIOD,
    });
    const elb5xx = props.loadBalancer.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, {
      statistic: 'Sum',
      period: PERIOD,
    });
    // 5xx counts are absent (not 0) in periods without errors; a period without requests has no rate.
    const errorRate = new cloudwatch.MathExpression({
      expression: 'IF(requests > 0, 100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests)',
      usingMetrics: { requests, target5xx, elb5xx },
      label: '5xx rate (%)',
      period: PERIOD,
    });
    this.addCustom('LoadBalancer', 'Load balancer', [
      {
        title: 'Target response time p99 (s)',
        important: true,
        metrics: [
          {
            metric: p99,
            alarmFriendlyName: 'AlbLatencyP99',
            addAlarm: {
              Critical: {
                threshold: config.albP99LatencyMs / 1000,
                comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treatMissingDataOverride: cloudwatch.TreatMissingData.NOT_BREACHING,
                additionalDescription: `ALB p99 target response time above ${config.albP99LatencyMs} ms.`,
              },
            },
          },
        ],
      },
      {
        title: '5xx rate (%)',
        important: true,
        metrics: [
          {
            metric: errorRate,
            alarmFriendlyName: 'Alb5xxRate',
            addAlarm: {
              Critical: {
                threshold: config.alb5xxRatePercent,
                comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treatMissingDataOverride: cloudwatch.TreatMissingData.NOT_BREACHING,
                additionalDescription: `More than ${config.alb5xxRatePercent}% of requests answered with 5xx.`,
              },
            },
          },
        ],
      },
    ]);
  }

  /** Aurora: CPU and connections from the library; freeable memory and replica lag hand-written. */
  private monitorDatabase(props: StageMonitoringProps, readerInstanceCount: number): void {
    const { config } = props;
    this.facade.monitorAuroraCluster({
      cluster: props.cluster,
      alarmFriendlyName: 'Aurora',
      humanReadableName: 'Aurora PostgreSQL cluster',
      addCpuUsageAlarm: { Critical: { maxUsagePercent: config.dbCpuPercent } },
      addMaxConnectionCountAlarm: { Critical: { maxConnectionCount: config.dbConnections } },
    });
    const dimensionsMap = { DBClusterIdentifier: props.cluster.clusterIdentifier };
    const groups: CustomMetricGroup[] = [
      {
        title: 'Freeable memory, least of the instances (bytes)',
        metrics: [
          {
            metric: new cloudwatch.Metric({
              namespace: 'AWS/RDS',
              metricName: 'FreeableMemory',
              dimensionsMap,
              statistic: 'Minimum',
              period: PERIOD,
            }),
            alarmFriendlyName: 'AuroraFreeableMemory',
            addAlarm: {
              Critical: {
                threshold: config.dbFreeableMemoryMiB * MIB,
                comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                additionalDescription: `An Aurora instance has less than ${config.dbFreeableMemoryMiB} MiB freeable memory.`,
              },
            },
          },
        ],
      },
    ];
    if (readerInstanceCount > 0) {
      groups.push({
        title: 'Replica lag, worst reader (ms)',
        metrics: [
          {
            metric: new cloudwatch.Metric({
              namespace: 'AWS/RDS',
              metricName: 'AuroraReplicaLagMaximum',
              dimensionsMap,
              statistic: 'Maximum',
              period: PERIOD,
            }),
            alarmFriendlyName: 'AuroraReplicaLag',
            addAlarm: {
              Critical: {
                threshold: config.replicaLagMs,
                comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                additionalDescription: `An Aurora reader lags the writer by more than ${config.replicaLagMs} ms.`,
              },
            },
          },
        ],
      });
    }
    this.addCustom('AuroraExtra', 'Aurora memory and replication', groups);
  }

  /** RDS Proxy: the library has no proxy monitor. */
  private monitorProxy(proxy: rds.IDatabaseProxy, config: MonitoringConfig): void {
    const dimensionsMap = { ProxyName: proxy.dbProxyName };
    const metric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/RDS',
        metricName,
        dimensionsMap,
        statistic: 'Maximum',
        period: PERIOD,
      });
    this.addCustom('Proxy', 'RDS Proxy', [
      {
        title: 'Connections',
        metrics: [
          {
            metric: metric('ClientConnections'),
            alarmFriendlyName: 'ProxyClientConnections',
            addAlarm: {
              Critical: {
                threshold: config.proxyConnections,
                comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                additionalDescription: `More than ${config.proxyConnections} client connections to RDS Proxy.`,
              },
            },
          },
          metric('DatabaseConnections'),
        ],
      },
    ]);
  }

  /**
   * Redis: the library's per-node monitor draws the dashboard; alarms aggregate over all nodes with
   * metric math, because metrics are per node and the primary moves on failover.
   */
  private monitorCache(replicationGroupId: string, nodeCount: number, config: MonitoringConfig): void {
    const nodeIds = Array.from(
      { length: nodeCount },
      (_, i) => `${replicationGroupId}-${String(i + 1).padStart(3, '0')}`,
    );
    for (const clusterId of nodeIds) {
      this.facade.monitorElastiCacheCluster({
        clusterId,
        clusterType: ElastiCacheClusterType.REDIS,
        alarmFriendlyName: `Redis-${clusterId}`,
        humanReadableName: `Redis node ${clusterId}`,
      });
    }
    const perNode = (prefix: string, metricName: string, statistic: string, nodes: string[] = nodeIds) =>
      Object.fromEntries(
        nodes.map((clusterId, i) => [
          `${prefix}${i + 1}`,
          new cloudwatch.Metric({
            namespace: 'AWS/ElastiCache',
            metricName,
            dimensionsMap: { CacheClusterId: clusterId },
            statistic,
            period: PERIOD,
          }),
        ]),
      );
    const aggregate = (fn: 'MAX' | 'SUM', metrics: Record<string, cloudwatch.IMetric>, label: string) =>
      new cloudwatch.MathExpression({
        expression: `${fn}([${Object.keys(metrics).join(', ')}])`,
        usingMetrics: metrics,
        label,
        period: PERIOD,
      });
    const hitRateNodes = nodeIds.slice(0, MAX_HIT_RATE_NODES);
    if (hitRateNodes.length < nodeIds.length) {
      Annotations.of(this).addWarningV2(
        'blueprint:monitoring-hit-rate-nodes',
        `The Redis hit-rate alarm covers nodes ${hitRateNodes.join(', ')} only: an alarm may read at most 10 metrics.`,
      );
    }
    const hits = perNode('hits', 'CacheHits', 'Sum', hitRateNodes);
    const misses = perNode('misses', 'CacheMisses', 'Sum', hitRateNodes);
    const sumHits = `SUM([${Object.keys(hits).join(', ')}])`;
    const sumMisses = `SUM([${Object.keys(misses).join(', ')}])`;
    const hitRate = new cloudwatch.MathExpression({
      // A period without any lookups has no hit rate; IF without an else drops the point.
      expression: `IF(${sumHits} + ${sumMisses} > 0, 100 * ${sumHits} / (${sumHits} + ${sumMisses}))`,
      usingMetrics: { ...hits, ...misses },
      label: 'Hit rate (%)',
      period: PERIOD,
    });
    const above = (threshold: number, description: string) => ({
      Critical: {
        threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        additionalDescription: description,
      },
    });
    this.addCustom('Redis', 'Redis (all nodes)', [
      {
        title: 'Engine CPU, busiest node (%)',
        metrics: [
          {
            metric: aggregate('MAX', perNode('cpu', 'EngineCPUUtilization', 'Maximum'), 'Engine CPU (%)'),
            alarmFriendlyName: 'RedisEngineCpu',
            addAlarm: above(
              config.cacheCpuPercent,
              `A Redis node's engine CPU is above ${config.cacheCpuPercent}%.`,
            ),
          },
        ],
      },
      {
        title: 'Memory used, fullest node (%)',
        metrics: [
          {
            metric: aggregate(
              'MAX',
              perNode('mem', 'DatabaseMemoryUsagePercentage', 'Maximum'),
              'Memory (%)',
            ),
            alarmFriendlyName: 'RedisMemory',
            addAlarm: above(
              config.cacheMemoryPercent,
              `A Redis node uses more than ${config.cacheMemoryPercent}% of its memory.`,
            ),
          },
        ],
      },
      {
        title: 'Evictions (sum)',
        metrics: [
          {
            metric: aggregate('SUM', perNode('evictions', 'Evictions', 'Sum'), 'Evictions'),
            alarmFriendlyName: 'RedisEvictions',
            addAlarm: above(
              config.cacheEvictions,
              `More than ${config.cacheEvictions} keys evicted in 5 minutes.`,
            ),
          },
        ],
      },
      {
        title: 'Hit rate (%)',
        important: true,
        metrics: [
          {
            metric: hitRate,
            alarmFriendlyName: 'RedisHitRate',
            addAlarm: {
              Critical: {
                threshold: config.cacheHitRatePercentMin,
                comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                treatMissingDataOverride: cloudwatch.TreatMissingData.NOT_BREACHING,
                additionalDescription: `Cache hit rate below ${config.cacheHitRatePercentMin}%.`,
              },
            },
          },
        ],
      },
    ]);
  }

  private addCustom(
    alarmFriendlyName: string,
    humanReadableName: string,
    metricGroups: CustomMetricGroup[],
  ): void {
    this.facade.monitorCustom({ alarmFriendlyName, humanReadableName, metricGroups });
  }
}

/**
 * Checks every prop of {@link StageMonitoring} and throws one error listing every problem, each with
 * the field, the value received and the fix. Unresolved tokens are accepted as they are.
 */
export function validateStageMonitoringProps(props: StageMonitoringProps): void {
  const problems: string[] = [];
  const bad = (field: string, value: unknown, fix: string) =>
    problems.push(`${field}: received ${JSON.stringify(value)}; ${fix}`);

  for (const problem of monitoringConfigProblems(props.config, 'config.')) {
    bad(problem.key, problem.received, problem.fix);
  }

  if (!Token.isUnresolved(props.dashboardName) && !/^[A-Za-z0-9_-]{1,255}$/.test(props.dashboardName ?? '')) {
    bad(
      'dashboardName',
      props.dashboardName,
      'use 1-255 letters, digits, "-" or "_" (CloudWatch dashboard name)',
    );
  }
  if (
    props.alarmEmail !== undefined &&
    !Token.isUnresolved(props.alarmEmail) &&
    !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(props.alarmEmail)
  ) {
    bad('alarmEmail', props.alarmEmail, 'give an email address such as ops@example.com, or leave it out');
  }
  const readers = props.readerInstanceCount;
  if (readers !== undefined && !Token.isUnresolved(readers) && (!Number.isInteger(readers) || readers < 0)) {
    bad('readerInstanceCount', readers, 'give a whole number of 0 or more');
  }
  const groupId = props.cacheReplicationGroupId;
  if (
    groupId !== undefined &&
    !Token.isUnresolved(groupId) &&
    !/^[a-z](?!.*--)[a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$/.test(groupId)
  ) {
    bad(
      'cacheReplicationGroupId',
      groupId,
      'give the replication group id as ElastiCache stores it: lowercase, 1-40 letters, digits or single hyphens, starting with a letter',
    );
  }
  const nodes = props.cacheNodeCount;
  if (nodes !== undefined) {
    if (groupId === undefined) {
      bad('cacheNodeCount', nodes, 'give cacheReplicationGroupId too, or leave cacheNodeCount out');
    } else if (!Number.isInteger(nodes) || nodes < 1 || nodes > LIMITS.maxCacheNodes) {
      bad('cacheNodeCount', nodes, `give a whole number from 1 to ${LIMITS.maxCacheNodes}`);
    }
  }

  if (problems.length > 0) {
    throw new Error(`Invalid StageMonitoring props:\n  - ${problems.join('\n  - ')}`);
  }
}
