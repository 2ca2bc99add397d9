import { Annotations, Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
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
import {
  auroraMaxConnections,
  AURORA_INSTANCE_MEMORY_GIB,
  monitoringConfigProblems,
  type MonitoringConfig,
} from '../config/monitoring-config';
import { pascalCase } from '../config/naming';

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
   * The most connections the stage's services open to one database endpoint (every service at its most
   * tasks, each with a full pool: `appPoolConnections`). RDS Proxy's client-connections alarm is a share of
   * it, times the pools that reach the proxy (writer, and reader when the shard has readers).
   *
   * @default - no client-connections alarm (its threshold would have nothing to be derived from)
   */
  readonly databasePoolConnections?: number;
  /**
   * CloudWatch namespace the services' app metrics are published to (see `MetricsCollector`); the
   * dashboard shows them per service.
   *
   * @default - no app-metrics section
   */
  readonly appMetricsNamespace?: string;
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
  /**
   * Stable service id: the `Service` dimension of its app metrics.
   *
   * @default - no app-metrics section for this service
   */
  readonly serviceId?: string;
}

/** The RDS Proxy in front of a shard, with the settings its alarms are bounded by. */
export interface ProxyMonitoringOptions {
  /** The proxy. */
  readonly proxy: rds.IDatabaseProxy;
  /** Its borrow timeout: the most `DatabaseConnectionsBorrowLatency` can reach. */
  readonly borrowTimeout: Duration;
  /** Share of `max_connections` it may open (1-100). */
  readonly maxConnectionsPercent: number;
}

/** One Aurora cluster (a shard) with its optional proxy: its own alarms and dashboard rows. */
export interface AuroraMonitoringOptions {
  /** The cluster. */
  readonly cluster: rds.IDatabaseCluster;
  /** Stable shard id (`0`, `s1`, ...): part of every alarm name (`<prefix>-Shard0Writer-...`). */
  readonly shardId: string;
  /** Instance class of the writer: its `max_connections` and memory bound the writer's alarms. */
  readonly writerInstanceType: ec2.InstanceType;
  /**
   * The readers (alarms on `Role=READER`).
   *
   * @default - no readers: no reader or replica-lag alarms
   */
  readonly readers?: { readonly count: number; readonly instanceType: ec2.InstanceType };
  /** RDS Proxy in front of it. @default - no proxy alarms */
  readonly proxy?: ProxyMonitoringOptions;
  /** @default `Aurora shard <id>` */
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
 * subscription is added when `alarmEmail` is given. Fargate behind the ALB (CPU, memory, unhealthy and
 * healthy tasks: the site-down alarm) and ElastiCache's dashboard use the library's monitors; what it lacks
 * (ALB p99 and the guarded 5xx rate, Aurora per role with `Role=WRITER|READER`, RDS Proxy, Redis over all
 * nodes, the app's own metrics) is added as custom metrics through the same facade, so every alarm shares
 * the same naming and actions. Thresholds that have a ceiling are shares of it, from the sizes watched.
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
  /** Namespace of the app metrics, when they are collected. */
  public readonly appMetricsNamespace?: string;
  private readonly databasePoolConnections?: number;
  /** Services whose app metrics are on the dashboard (their cache alarm joins once a cache is monitored). */
  private readonly appServices: {
    readonly serviceId: string;
    readonly name: string;
    readonly title: string;
  }[] = [];
  private cacheMonitored = false;

  constructor(scope: Construct, id: string, props: StageMonitoringProps) {
    super(scope, id);
    validateStageMonitoringProps(props);
    this.config = props.config;
    if (props.databasePoolConnections !== undefined) {
      this.databasePoolConnections = props.databasePoolConnections;
    }
    if (props.appMetricsNamespace !== undefined) this.appMetricsNamespace = props.appMetricsNamespace;

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
  public addLoadBalancer(
    loadBalancer: elbv2.IApplicationLoadBalancer,
    options: {
      /** Alarm friendly name. @default 'LoadBalancer' (the public load balancer's since stage 1k) */
      readonly name?: string;
      /** Dashboard section title. @default 'Load balancer (every service)' */
      readonly title?: string;
    } = {},
  ): void {
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
    // 5xx counts are absent (not 0) in periods without errors; a period without requests has no rate; and
    // below `alb5xxMinRequests` requests the rate is 0 (a quiet site's one error in 50 is not 2 % of traffic
    // worth paging for; a site answering nothing is the site-down alarm's).
    const errorRate = new cloudwatch.MathExpression({
      expression: alb5xxRateExpression(config.alb5xxMinRequests),
      usingMetrics: { requests, target5xx, elb5xx },
      label: '5xx rate (%)',
      period: PERIOD,
    });
    this.addCustom(options.name ?? 'LoadBalancer', options.title ?? 'Load balancer (every service)', [
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
                additionalDescription:
                  `More than ${config.alb5xxRatePercent}% of requests answered with 5xx, ` +
                  `in a 5-minute period with at least ${config.alb5xxMinRequests} requests.`,
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
      // Site down: no healthy task behind the load balancer. Missing data counts as down (a target group
      // that reports nothing serves nothing).
      addHealthyTaskCountAlarm: {
        Critical: {
          minHealthyTasks: 1,
          treatMissingDataOverride: cloudwatch.TreatMissingData.BREACHING,
          alarmDescriptionOverride:
            'Site down: no healthy task behind the load balancer (HealthyHostCount minimum below 1; missing data counts as down).',
        },
      },
    });
    if (this.appMetricsNamespace !== undefined && options.serviceId !== undefined) {
      this.addAppMetrics(options.serviceId, name, options.title ?? 'Fargate service');
    }
  }

  /**
   * The app's own metrics of one service, as the metrics collector publishes them (`Service` dimension):
   * per-route p99, requests and mean latency, cache hit ratio, and queries sent to the primary and to the
   * replicas.
   */
  private addAppMetrics(serviceId: string, name: string, title: string): void {
    const namespace = this.appMetricsNamespace!;
    const metric = (
      metricName: string,
      statistic: string,
      dimensionsMap: Record<string, string>,
      label: string,
    ): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace,
        metricName,
        dimensionsMap: { Service: serviceId, ...dimensionsMap },
        statistic,
        period: PERIOD,
        label,
      });
    const lookups = (result: string) => metric('cache_requests_total', 'Sum', { result }, result);
    const hitRatio = new cloudwatch.MathExpression({
      expression: 'IF(hit + miss + FILL(error, 0) > 0, 100 * hit / (hit + miss + FILL(error, 0)))',
      usingMetrics: { hit: lookups('hit'), miss: lookups('miss'), error: lookups('error') },
      label: 'Cache hit ratio (%)',
      period: PERIOD,
    });
    const search = (
      metricName: string,
      statistic: string,
      label: string,
      quantile?: string,
    ): cloudwatch.MathExpression =>
      new cloudwatch.MathExpression({
        expression:
          quantile === undefined
            ? `SEARCH('{${namespace},Service,route} MetricName="${metricName}" Service="${serviceId}"', '${statistic}', ${PERIOD.toSeconds()})`
            : `SEARCH('{${namespace},Service,quantile,route} MetricName="${metricName}" Service="${serviceId}" quantile="${quantile}"', '${statistic}', ${PERIOD.toSeconds()})`,
        label,
        period: PERIOD,
      });
    this.addCustom(`${name}App`, `${title}: app metrics`, [
      {
        // Each task's p99 over its last minute, the worst task and minute of the period.
        title: 'p99 latency per route (s)',
        important: true,
        metrics: [search('http_request_duration_quantile_seconds', 'Maximum', 'p99', '0.99')],
      },
      {
        title: 'Mean latency per route (s)',
        metrics: [search('http_request_duration_seconds', 'Average', 'mean latency')],
      },
      {
        title: 'Requests per route',
        metrics: [search('http_request_duration_seconds', 'SampleCount', 'requests')],
      },
      { title: 'Cache hit ratio, app (%)', metrics: [hitRatio] },
      {
        title: 'Queries: primary and replicas',
        metrics: [
          metric('db_queries_total', 'Sum', { pool: 'writer' }, 'primary (writer)'),
          metric('db_queries_total', 'Sum', { pool: 'reader' }, 'replicas (readers)'),
        ],
      },
    ]);
    const service = { serviceId, name, title };
    this.appServices.push(service);
    if (this.cacheMonitored) this.addAppCacheAlarm(service);
  }

  /**
   * The app's view of the cache: the share of its lookups that failed (Redis unreachable, the breaker open)
   * and went to the database instead. Redis's own metrics cannot see a cache the app cannot reach.
   */
  private addAppCacheAlarm(service: {
    readonly serviceId: string;
    readonly name: string;
    readonly title: string;
  }): void {
    const { config } = this;
    const lookups = (result: string) =>
      new cloudwatch.Metric({
        namespace: this.appMetricsNamespace!,
        metricName: 'cache_requests_total',
        dimensionsMap: { Service: service.serviceId, result },
        statistic: 'Sum',
        period: PERIOD,
      });
    this.addCustom(`${service.name}AppCache`, `${service.title}: cache as the app sees it`, [
      {
        title: 'Cache lookups that failed (%)',
        metrics: [
          {
            metric: new cloudwatch.MathExpression({
              expression: appCacheErrorRateExpression(APP_CACHE_MIN_LOOKUPS),
              usingMetrics: { hit: lookups('hit'), miss: lookups('miss'), error: lookups('error') },
              label: 'Failed lookups (%)',
              period: PERIOD,
            }),
            alarmFriendlyName: 'CacheErrorRate',
            addAlarm: {
              Critical: {
                threshold: config.cacheErrorRatePercent,
                comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treatMissingDataOverride: cloudwatch.TreatMissingData.NOT_BREACHING,
                additionalDescription:
                  `More than ${config.cacheErrorRatePercent}% of the ${service.serviceId} service's cache lookups ` +
                  `failed (at least ${APP_CACHE_MIN_LOOKUPS} lookups in 5 minutes): Redis is unreachable to the ` +
                  'app, and the database serves every read.',
              },
            },
          },
        ],
      },
    ]);
  }

  /**
   * One Aurora cluster (a shard), per role (`DBClusterIdentifier` with `Role=WRITER` or `Role=READER`, so an
   * idle reader never hides a saturated writer): CPU, connections against the instance class's
   * `max_connections`, freeable memory, and the readers' replica lag; RDS Proxy client connections against
   * what the services can open, and borrow latency, when it has a proxy. Every alarm name carries the shard id.
   */
  public addAuroraCluster(options: AuroraMonitoringOptions): void {
    const shard = `Shard${pascalCase(options.shardId)}`;
    const title = options.title ?? `Aurora shard ${options.shardId}`;
    const problems = auroraMonitoringProblems(this.config, options);
    if (problems.length > 0) {
      throw new Error(
        `Invalid Aurora monitoring of shard ${options.shardId}:\n  - ${problems.join('\n  - ')}`,
      );
    }
    const clusterIdentifier = options.cluster.clusterIdentifier;
    this.addAuroraRole(
      `${shard}Writer`,
      `${title}: writer`,
      clusterIdentifier,
      'WRITER',
      options.writerInstanceType,
    );
    if (options.readers !== undefined && options.readers.count > 0) {
      this.addAuroraRole(
        `${shard}Readers`,
        `${title}: readers (${options.readers.count})`,
        clusterIdentifier,
        'READER',
        options.readers.instanceType,
      );
    }
    if (options.proxy !== undefined) {
      const pools = options.readers !== undefined && options.readers.count > 0 ? 2 : 1;
      this.monitorProxy(options.proxy, `${shard}Proxy`, `${title}: RDS Proxy`, pools);
    }
  }

  /** One role of a cluster: CPU, connections, freeable memory (and replica lag for the readers). */
  private addAuroraRole(
    alarmFriendlyName: string,
    title: string,
    clusterIdentifier: string,
    role: 'WRITER' | 'READER',
    instanceType: ec2.InstanceType,
  ): void {
    const { config } = this;
    const instanceClass = auroraInstanceClass(instanceType);
    const maxConnections = auroraMaxConnections(instanceClass)!;
    const connectionsThreshold = Math.floor((maxConnections * config.dbConnectionsPercent) / 100);
    const who = role === 'WRITER' ? 'The writer' : 'A reader';
    const metric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/RDS',
        metricName,
        dimensionsMap: { DBClusterIdentifier: clusterIdentifier, Role: role },
        statistic,
        period: PERIOD,
      });
    const above = (threshold: number, description: string) => ({
      Critical: {
        threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        additionalDescription: description,
      },
    });
    const groups: CustomMetricGroup[] = [
      {
        title: `CPU (%), ${role === 'WRITER' ? 'writer' : 'average of the readers'}`,
        important: true,
        metrics: [
          {
            metric: metric('CPUUtilization', 'Average'),
            alarmFriendlyName: 'Cpu',
            addAlarm: above(config.dbCpuPercent, `${role} CPU above ${config.dbCpuPercent}%.`),
          },
        ],
      },
      {
        title: `Connections (max_connections of ${instanceClass}: ${maxConnections})`,
        metrics: [
          {
            metric: metric('DatabaseConnections', 'Maximum'),
            alarmFriendlyName: 'Connections',
            addAlarm: above(
              connectionsThreshold,
              `${who} has more than ${connectionsThreshold} connections: ${config.dbConnectionsPercent}% of ` +
                `${instanceClass}'s default max_connections ${maxConnections} (LEAST(DBInstanceClassMemory/9531392, 5000)).`,
            ),
          },
        ],
      },
      {
        title: 'Freeable memory, least (bytes)',
        metrics: [
          {
            metric: metric('FreeableMemory', 'Minimum'),
            alarmFriendlyName: 'FreeableMemory',
            addAlarm: {
              Critical: {
                threshold: config.dbFreeableMemoryMiB * MIB,
                comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                additionalDescription: `${who} has less than ${config.dbFreeableMemoryMiB} MiB freeable memory.`,
              },
            },
          },
        ],
      },
    ];
    if (role === 'READER') {
      groups.push({
        title: 'Replica lag, worst reader (ms)',
        metrics: [
          {
            metric: metric('AuroraReplicaLag', 'Maximum'),
            alarmFriendlyName: 'ReplicaLag',
            addAlarm: above(
              config.replicaLagMs,
              `An Aurora reader lags the writer by more than ${config.replicaLagMs} ms.`,
            ),
          },
        ],
      });
    }
    this.addCustom(alarmFriendlyName, title, groups);
  }

  /**
   * RDS Proxy (the library has no proxy monitor). Its metrics are published per proxy node under the same
   * `ProxyName`: client connections are summed per minute, over 5 minutes in a row.
   */
  private monitorProxy(
    options: ProxyMonitoringOptions,
    alarmFriendlyName: string,
    title: string,
    pools: number,
  ): void {
    const { config } = this;
    const dimensionsMap = { ProxyName: options.proxy.dbProxyName };
    const metric = (metricName: string, statistic: string, period: Duration = PERIOD) =>
      new cloudwatch.Metric({ namespace: 'AWS/RDS', metricName, dimensionsMap, statistic, period });
    const borrowThresholdMicros = config.proxyBorrowLatencyMs * 1000;
    const clientConnections = metric('ClientConnections', 'Sum', Duration.minutes(1));
    const maxClients =
      this.databasePoolConnections !== undefined ? this.databasePoolConnections * pools : undefined;
    const clientThreshold =
      maxClients !== undefined
        ? Math.floor((maxClients * config.proxyClientConnectionsPercent) / 100)
        : undefined;
    this.addCustom(alarmFriendlyName, title, [
      {
        title:
          maxClients !== undefined
            ? `Client connections (the services open at most ${maxClients})`
            : 'Client connections',
        metrics: [
          clientThreshold !== undefined
            ? {
                metric: clientConnections,
                alarmFriendlyName: 'ClientConnections',
                addAlarm: {
                  Critical: {
                    threshold: clientThreshold,
                    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluationPeriods: 5,
                    datapointsToAlarm: 5,
                    additionalDescription:
                      `More than ${clientThreshold} client connections to RDS Proxy for 5 minutes: ` +
                      `${config.proxyClientConnectionsPercent}% of the ${maxClients} the services open at most ` +
                      `(tasks at their maximum x ${pools} pool(s) x the app's pool size).`,
                  },
                },
              }
            : clientConnections,
          metric('DatabaseConnections', 'Maximum'),
        ],
      },
      {
        title: 'Borrow latency, average (µs)',
        important: true,
        metrics: [
          {
            metric: metric('DatabaseConnectionsBorrowLatency', 'Average'),
            alarmFriendlyName: 'BorrowLatency',
            addAlarm: {
              Critical: {
                threshold: borrowThresholdMicros,
                comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                additionalDescription:
                  `RDS Proxy takes more than ${config.proxyBorrowLatencyMs} ms on average to hand out a database ` +
                  'connection: its pool is exhausted and clients queue.',
              },
            },
          },
        ],
      },
    ]);
  }

  /**
   * Redis: the library's per-node monitor draws the dashboard; alarms aggregate over all nodes with
   * metric math, because metrics are per node and the primary moves on failover. `name` tells the alarms of a
   * second group in the region apart (stage global: the sessions' Global Datastore member beside the cache).
   */
  public addCache(replicationGroupId: string, nodeCount: number, name = 'Redis'): void {
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
    this.addCustom(name, `${name} (all nodes)`, [
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
    // The app's own cache alarms once per region, whichever group is monitored first.
    if (this.cacheMonitored) return;
    this.cacheMonitored = true;
    for (const service of this.appServices) this.addAppCacheAlarm(service);
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
  const pool = props.databasePoolConnections;
  if (pool !== undefined && !Token.isUnresolved(pool) && (!Number.isInteger(pool) || pool < 1)) {
    bad(
      'databasePoolConnections',
      pool,
      'give a whole number of 1 or more (appPoolConnections of the services)',
    );
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

/**
 * The 5xx rate in percent with a minimum-traffic guard: `target5xx` and `elb5xx` (absent in periods without
 * errors) over `requests`, and 0 while fewer than `minRequests` requests came in.
 */
export function alb5xxRateExpression(minRequests: number): string {
  return `IF(requests >= ${minRequests}, 100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests, 0)`;
}

/** Fewest cache lookups in a 5-minute period for the app's cache error rate to count. */
export const APP_CACHE_MIN_LOOKUPS = 100;

/**
 * The share of the app's cache lookups that failed, in percent, with a minimum-traffic guard (0 while fewer
 * than `minLookups` lookups were made). `error` is absent in periods without a failure.
 */
export function appCacheErrorRateExpression(minLookups: number): string {
  const total = 'hit + miss + FILL(error, 0)';
  return `IF(${total} >= ${minLookups}, 100 * FILL(error, 0) / (${total}), 0)`;
}

/** `db.t4g.medium` for `t4g.medium`: the class name RDS and its documentation use. */
export function auroraInstanceClass(instanceType: ec2.InstanceType): string {
  return `db.${instanceType.toString()}`;
}

/**
 * What keeps a shard's alarms from being reachable: an instance class whose `max_connections` is unknown, a
 * connection threshold at or above the proxy's cap, a borrow-latency threshold at or above the borrow timeout.
 */
export function auroraMonitoringProblems(
  config: MonitoringConfig,
  options: AuroraMonitoringOptions,
): string[] {
  const problems: string[] = [];
  const roles = [
    ['writerInstanceType', options.writerInstanceType],
    ...(options.readers !== undefined
      ? [['readers.instanceType', options.readers.instanceType] as const]
      : []),
  ] as const;
  for (const [field, instanceType] of roles) {
    const instanceClass = auroraInstanceClass(instanceType);
    if (
      auroraMaxConnections(instanceClass) === undefined ||
      AURORA_INSTANCE_MEMORY_GIB[instanceClass] === undefined
    ) {
      problems.push(
        `${field}: received ${instanceClass}, whose memory and max_connections are not known; add it to ` +
          'AURORA_INSTANCE_MEMORY_GIB in lib/config/monitoring-config.ts (Aurora "Hardware specifications for DB instance classes")',
      );
    }
  }
  if (options.proxy !== undefined) {
    const cap = options.proxy.maxConnectionsPercent;
    if (!Token.isUnresolved(cap) && config.dbConnectionsPercent >= cap) {
      problems.push(
        `dbConnectionsPercent: received ${config.dbConnectionsPercent}; give less than the proxy's ` +
          `maxConnectionsPercent (${cap}): through the proxy the app never opens more`,
      );
    }
    const timeoutMs = options.proxy.borrowTimeout.toMilliseconds();
    if (config.proxyBorrowLatencyMs >= timeoutMs) {
      problems.push(
        `proxyBorrowLatencyMs: received ${config.proxyBorrowLatencyMs}; give less than the proxy's borrow ` +
          `timeout (${timeoutMs} ms): a borrow never waits longer`,
      );
    }
  }
  return problems;
}
