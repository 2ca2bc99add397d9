import { Annotations, Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
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
import { allowCloudWatchAlarms, denyGrantsExceptForAwsServices } from './key-policies';
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
  /**
   * The internet-facing load balancer: its 5xx rate (targets and the load balancer itself).
   *
   * @default - added later with `addLoadBalancer`, or not at all
   */
  readonly loadBalancer?: elbv2.IApplicationLoadBalancer;
  /**
   * The target group `service` is registered in (with `service` and `loadBalancer`: the service's section).
   *
   * @default - services add themselves with `addService`
   */
  readonly targetGroup?: elbv2.IApplicationTargetGroup;
  /**
   * The Fargate service running the app (with `targetGroup` and `loadBalancer`).
   *
   * @default - services add themselves with `addService`
   */
  readonly service?: ecs.FargateService;
  /**
   * The Aurora cluster the app writes to.
   *
   * @default - shards add themselves with `addAuroraCluster`
   */
  readonly cluster?: rds.IDatabaseCluster;
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
  /**
   * Name of the CloudWatch dashboard. Dashboards are global to an account: a region other than the home
   * region carries its code in the name.
   */
  readonly dashboardName: string;
  /**
   * Prefix of every alarm name (alarms are regional, so every region may use the same).
   *
   * @default - the dashboard name
   */
  readonly alarmNamePrefix?: string;
}

/** One ECS service behind the load balancer: its own alarms and dashboard section. */
export interface ServiceMonitoringOptions {
  /** The service. */
  readonly service: ecs.FargateService;
  /** The load balancer in front of it. */
  readonly loadBalancer: elbv2.IApplicationLoadBalancer;
  /** Its target group. */
  readonly targetGroup: elbv2.IApplicationTargetGroup;
  /**
   * Put before each alarm's friendly name (`Users` gives `<prefix>-UsersService-CPU-Usage-Critical`).
   *
   * @default '' (the names of the stage's first service: `<prefix>-Service-...`, `<prefix>-LoadBalancer-AlbLatencyP99-...`)
   */
  readonly namePrefix?: string;
  /** @default 'Fargate service' */
  readonly title?: string;
}

/** One Aurora cluster (a shard) with its optional proxy: its own alarms and dashboard rows. */
export interface AuroraMonitoringOptions {
  /** The cluster. */
  readonly cluster: rds.IDatabaseCluster;
  /** Reader instances in it; replica-lag alarms only when above 0. @default 0 */
  readonly readerInstanceCount?: number;
  /** RDS Proxy in front of it. @default - no proxy alarms */
  readonly proxy?: rds.IDatabaseProxy;
  /**
   * Put before each alarm's friendly name (`ShardS1` gives `<prefix>-ShardS1Aurora-CPU-Usage-Critical`).
   *
   * @default '' (shard 0's names: `<prefix>-Aurora-...`, `<prefix>-AuroraExtra-...`, `<prefix>-Proxy-...`)
   */
  readonly namePrefix?: string;
  /** @default 'Aurora PostgreSQL cluster' */
  readonly title?: string;
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
  /** The alarm thresholds. */
  public readonly config: MonitoringConfig;

  constructor(scope: Construct, id: string, props: StageMonitoringProps) {
    super(scope, id);
    validateStageMonitoringProps(props);
    this.config = props.config;
    const readerInstanceCount = props.readerInstanceCount ?? 0;

    this.alarmTopicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: `Encrypts the alarm topic of ${props.dashboardName}`,
      enableKeyRotation: true,
    });
    // CloudWatch publishes alarm notifications itself, so it needs the key to encrypt the message (this
    // account's alarms only).
    allowCloudWatchAlarms(this.alarmTopicKey);
    denyGrantsExceptForAwsServices(this.alarmTopicKey);
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
        alarmNamePrefix: props.alarmNamePrefix ?? props.dashboardName,
        actionsEnabled: true,
        action: new SnsAlarmActionStrategy({ onAlarmTopic: this.alarmTopic, onOkTopic: this.alarmTopic }),
      },
      metricFactoryDefaults: { period: PERIOD },
      dashboardFactory,
    });

    this.facade.addLargeHeader(`${props.dashboardName}: service, database and cache`);
    if (props.loadBalancer !== undefined) this.addLoadBalancer(props.loadBalancer);
    if (props.service !== undefined && props.targetGroup !== undefined && props.loadBalancer !== undefined) {
      this.addService({
        service: props.service,
        targetGroup: props.targetGroup,
        loadBalancer: props.loadBalancer,
      });
    }
    if (props.cluster !== undefined) {
      this.addAuroraCluster({
        cluster: props.cluster,
        readerInstanceCount,
        ...(props.proxy !== undefined ? { proxy: props.proxy } : {}),
      });
    }
    if (props.cacheReplicationGroupId !== undefined) {
      this.addCache(props.cacheReplicationGroupId, props.cacheNodeCount ?? 1);
    }

    const dashboard = dashboardFactory.createdDashboard();
    if (dashboard === undefined) {
      throw new Error('StageMonitoring: the dashboard factory did not create the dashboard');
    }
    this.dashboard = dashboard;
  }

  /**
   * The load balancer's 5xx rate (its targets' and its own 5xx over all requests): the platform's alarm,
   * whichever service answered. The library's ALB metrics have no rate.
   */
  public addLoadBalancer(loadBalancer: elbv2.IApplicationLoadBalancer): void {
    const { config } = this;
    const requests = loadBalancer.metrics.requestCount({ statistic: 'Sum', period: PERIOD });
    const target5xx = loadBalancer.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
      statistic: 'Sum',
      period: PERIOD,
    });
    const elb5xx = loadBalancer.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, {
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
    this.addCustom('LoadBalancer', 'Load balancer (every service)', [
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

  /**
   * One service's section: p99 response time of its target group, and the library's Fargate monitor
   * (CPU, memory, unhealthy tasks).
   */
  public addService(options: ServiceMonitoringOptions): void {
    const { config } = this;
    const name = options.namePrefix ?? '';
    const p99 = options.targetGroup.metrics.targetResponseTime({ statistic: 'p99', period: PERIOD });
    this.addCustom(`${name}LoadBalancer`, `${options.title ?? 'Fargate service'}: response time`, [
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
    ]);
    this.facade.monitorFargateApplicationLoadBalancer({
      fargateService: options.service,
      applicationLoadBalancer: options.loadBalancer,
      applicationTargetGroup: options.targetGroup,
      alarmFriendlyName: `${name}Service`,
      humanReadableName: options.title ?? 'Fargate service',
      addCpuUsageAlarm: { Critical: { maxUsagePercent: config.serviceCpuPercent } },
      addMemoryUsageAlarm: { Critical: { maxUsagePercent: config.serviceMemoryPercent } },
      addUnhealthyTaskCountAlarm: { Critical: { maxUnhealthyTasks: config.unhealthyTargets } },
    });
  }

  /**
   * One Aurora cluster (a shard): CPU and connections from the library; freeable memory and replica lag
   * hand-written; RDS Proxy connections when it has a proxy.
   */
  public addAuroraCluster(options: AuroraMonitoringOptions): void {
    const { config } = this;
    const name = options.namePrefix ?? '';
    const readerInstanceCount = options.readerInstanceCount ?? 0;
    this.facade.monitorAuroraCluster({
      cluster: options.cluster,
      alarmFriendlyName: `${name}Aurora`,
      humanReadableName: options.title ?? 'Aurora PostgreSQL cluster',
      addCpuUsageAlarm: { Critical: { maxUsagePercent: config.dbCpuPercent } },
      addMaxConnectionCountAlarm: { Critical: { maxConnectionCount: config.dbConnections } },
    });
    const dimensionsMap = { DBClusterIdentifier: options.cluster.clusterIdentifier };
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
    this.addCustom(`${name}AuroraExtra`, 'Aurora memory and replication', groups);
    if (options.proxy !== undefined) this.monitorProxy(options.proxy, name);
  }

  /** RDS Proxy: the library has no proxy monitor. */
  private monitorProxy(proxy: rds.IDatabaseProxy, name: string): void {
    const { config } = this;
    const dimensionsMap = { ProxyName: proxy.dbProxyName };
    const metric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/RDS',
        metricName,
        dimensionsMap,
        statistic: 'Maximum',
        period: PERIOD,
      });
    this.addCustom(`${name}Proxy`, 'RDS Proxy', [
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
  public addCache(replicationGroupId: string, nodeCount: number): void {
    const { config } = this;
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
