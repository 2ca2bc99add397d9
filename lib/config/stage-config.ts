/**
 * The stage model: what a scaling stage is, as plain typed data.
 *
 * A capability is on when its object is present (`proxy: {...}`, `cache: {...}`, `database.readers`,
 * `service.autoscaling`) and off when it is absent; each object is shaped like the CDK props it feeds.
 * Later stages (100k shards, 1m services, global regions) add optional fields next to these; no field
 * here is renamed or changes meaning, so every stage file keeps compiling as the model grows.
 */
import type { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as rds from 'aws-cdk-lib/aws-rds';
import type { MonitoringConfig } from './monitoring-config';

export type { MonitoringConfig };

/** The VPC of a stage. Feeds `ec2.VpcProps`. */
export interface NetworkConfig {
  /**
   * Number of availability zones the VPC spans; the zones themselves come from the `availabilityZones`
   * context key (no lookups).
   *
   * @default 3
   */
  readonly maxAzs?: number;
  /**
   * NAT gateways for the private-with-egress subnets: 1 is cheap, one per AZ survives an AZ outage.
   */
  readonly natGateways: number;
  /**
   * IPv4 range of the VPC.
   *
   * @default '10.0.0.0/16'
   */
  readonly cidr?: string;
  /**
   * How long VPC flow logs are kept.
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly flowLogRetention?: logs.RetentionDays;
}

/** Target-tracking autoscaling of the service. Feeds `ecs.ScalableTaskCount` and its scaling policies. */
export interface ServiceAutoscalingConfig {
  /** Fewest tasks; also the count the service starts with once autoscaling owns the count. */
  readonly minCapacity: number;
  /** Most tasks. */
  readonly maxCapacity: number;
  /** Average CPU utilisation (percent, 1-100) the service is scaled to hold. */
  readonly targetCpuUtilizationPercent: number;
  /**
   * ALB requests per target (per minute) the service is scaled to hold, on top of CPU.
   *
   * @default - no request-count scaling
   */
  readonly requestsPerTarget?: number;
  /**
   * Wait after a scale-in before the next one.
   *
   * @default Duration.minutes(5)
   */
  readonly scaleInCooldown?: Duration;
  /**
   * Wait after a scale-out before the next one.
   *
   * @default Duration.minutes(1)
   */
  readonly scaleOutCooldown?: Duration;
}

/** What every service has, whether its task count is fixed or autoscaled. */
export interface ServiceBaseConfig {
  /** Task CPU units (256, 512, 1024, 2048, 4096, 8192 or 16384). */
  readonly cpu: number;
  /** Task memory in MiB; must be a valid Fargate combination with `cpu`. */
  readonly memoryLimitMiB: number;
  /**
   * CPU architecture of the tasks; the image is built for the same platform.
   *
   * @default 'ARM64' (Graviton: cheaper per vCPU)
   */
  readonly cpuArchitecture?: 'ARM64' | 'X86_64';
  /**
   * How long the container logs are kept.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/** A service with a fixed number of tasks. */
export interface FixedCountServiceConfig extends ServiceBaseConfig {
  /** Tasks to run. */
  readonly desiredCount: number;
  /** Not with a fixed count. */
  readonly autoscaling?: never;
}

/**
 * A service whose task count autoscaling owns: the scalable target starts from `minCapacity`, and the
 * service's `DesiredCount` is not rendered, so a deployment never resets a scaled-out service.
 */
export interface AutoscaledServiceConfig extends ServiceBaseConfig {
  /** Autoscaling of the task count. */
  readonly autoscaling: ServiceAutoscalingConfig;
  /** Not with autoscaling: `autoscaling.minCapacity` is the count. */
  readonly desiredCount?: never;
}

/**
 * A Fargate service running the sample app: a fixed `desiredCount` or `autoscaling`, never both.
 * Feeds `ecs.FargateTaskDefinitionProps` and `ecs.FargateServiceProps`.
 */
export type ServiceConfig = FixedCountServiceConfig | AutoscaledServiceConfig;

/** Where a further service answers on the public listener. Feeds `elbv2.AddApplicationTargetGroupsProps`. */
export interface ServiceRouteConfig {
  /** Path patterns (1-5), e.g. `['/api/users', '/api/users/*']`. */
  readonly pathPatterns: readonly string[];
  /** Listener-rule priority, unique per stage (2-50000; 1 is the platform's `/metrics` block). */
  readonly priority: number;
}

/**
 * A further service (stage 1m on): the same image, started with `SERVICE=<id>`, on the same platform, with
 * its own task size, scaling, security group, alarms and dashboard section.
 */
export type AppServiceConfig = ServiceConfig & {
  /** The paths it answers (on the gateway's internal listener when the stage has a `gateway`). */
  readonly route: ServiceRouteConfig;
  /**
   * Which shards' app secrets the task role may read and which shards' security groups admit the tasks:
   * `catalog` is shard 0 only (the catalog database, which also holds the shard map), `all` is every shard
   * (`SHARD_ENDPOINTS` included).
   *
   * @default 'all'
   */
  readonly shardAccess?: 'catalog' | 'all';
  /**
   * Services this one calls over ECS Service Connect (ids under `services`): each gives the app
   * `<ID>_URL=http://<id>` (e.g. `PRODUCTS_URL=http://products`), admits this service's tasks to the called
   * service's tasks, and deploys the called service first (Service Connect resolves a service only for tasks
   * started after it exists).
   *
   * @default - calls no other service
   */
  readonly calls?: readonly string[];
};

/** A throttle of the API gateway. Feeds `apigwv2.ThrottleSettings`. */
export interface GatewayThrottleConfig {
  /** Steady-state requests per second. */
  readonly rateLimit: number;
  /** Requests the bucket allows in a burst. */
  readonly burstLimit: number;
}

/**
 * The API gateway in front of the services (stage 1m on): Amazon API Gateway HTTP API -> VPC link -> an
 * internal Application Load Balancer with one listener rule per service (`services.<id>.route`), access logs,
 * per-route throttling, and the foundation's custom domain when HTTPS is configured. The public load balancer
 * and the first service stay as they are until the DNS cut-over (README "Stage 1m").
 * Feeds `apigwv2.HttpApiProps`, `apigwv2.HttpStageProps` and `elbv2.ApplicationLoadBalancerProps`.
 */
export interface GatewayConfig {
  /**
   * The service (an id under `services`) that answers everything no rule matches: the internal listener's
   * default action (the storefront's static files and the catalog).
   */
  readonly defaultService: string;
  /**
   * Throttle of every route without its own.
   *
   * @default GATEWAY_DEFAULTS.throttle
   */
  readonly throttle?: GatewayThrottleConfig;
  /**
   * Stricter throttles by route key (`METHOD /path`), e.g. log-in `POST /api/sessions` and sign-up
   * `POST /api/users`. Each key becomes a route of its own on the HTTP API.
   *
   * @default GATEWAY_DEFAULTS.routeThrottles
   */
  readonly routeThrottles?: Readonly<Record<string, GatewayThrottleConfig>>;
  /**
   * How long the access logs are kept.
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly accessLogRetention?: logs.RetentionDays;
}

/**
 * Domain events over EventBridge (stage 1m on): a bus `<prefix>-events` with an archive, one rule per
 * consumer routing its event types (the routing table `EVENT_ROUTES`, lib/config/event-routes.ts) to the
 * consumer's SQS queue `<prefix>-<consumer>-events` with a dead-letter queue, `CacheTagsInvalidated` to the
 * cache-invalidation queue, and alarms. Needs `invalidationQueue` and a service per consumer.
 * Feeds `events.EventBusProps`, `events.ArchiveProps` and `sqs.QueueProps`.
 */
export interface EventsConfig {
  /**
   * How long the archive keeps events for a replay.
   *
   * @default Duration.days(30)
   */
  readonly archiveRetention?: Duration;
  /**
   * Receives before SQS moves a consumer's message to its dead-letter queue; the app is told the same
   * (`EVENT_MAX_RECEIVES`).
   *
   * @default 5
   */
  readonly maxReceiveCount?: number;
  /**
   * How long an unconsumed event waits in a consumer's queue.
   *
   * @default Duration.days(4)
   */
  readonly retentionPeriod?: Duration;
  /**
   * Alarm when a consumer's oldest message waits longer than this (`ApproximateAgeOfOldestMessage`).
   *
   * @default Duration.minutes(5)
   */
  readonly oldestMessageAgeAlarm?: Duration;
}

/** One Aurora instance class. Feeds `rds.ProvisionedClusterInstanceProps`. */
export interface DatabaseInstanceConfig {
  /** Instance class, e.g. `ec2.InstanceType.of(ec2.InstanceClass.R7G, ec2.InstanceSize.LARGE)` (rendered `db.r7g.large`). */
  readonly instanceType: ec2.InstanceType;
}

/** Aurora readers (read replicas). Feeds `rds.DatabaseClusterProps.readers`. */
export interface DatabaseReadersConfig extends DatabaseInstanceConfig {
  /** Number of reader instances (Aurora allows up to 15). Readers are named `Reader1`, `Reader2`, ... */
  readonly count: number;
}

/** Performance Insights on every instance, encrypted with the data key. */
export interface PerformanceInsightsConfig {
  /**
   * How long Performance Insights keeps its data.
   *
   * @default rds.PerformanceInsightRetention.DEFAULT (7 days, free tier)
   */
  readonly retention?: rds.PerformanceInsightRetention;
}

/**
 * PostgreSQL logical replication on the cluster, for the shard manager's online moves (a publication per
 * logical-shard schema on the source, a subscription on the target). Feeds the cluster parameter group
 * (`rds.logical_replication`, which turns on `wal_level = logical`, and the three capacity parameters) and the
 * writer's replication alarms. Every parameter here is static: it takes effect after a reboot of the writer.
 */
export interface LogicalReplicationConfig {
  /**
   * Replication slots the writer keeps (`max_replication_slots`): one per subscription reading from this
   * cluster, plus a temporary one per table being copied.
   *
   * @default 20
   */
  readonly maxReplicationSlots?: number;
  /**
   * WAL sender processes (`max_wal_senders`): one per active slot; at least `maxReplicationSlots`.
   *
   * @default 20
   */
  readonly maxWalSenders?: number;
  /**
   * Logical replication workers when this cluster is the target of a move
   * (`max_logical_replication_workers`): an apply worker, table-sync workers and parallel apply workers per
   * subscription, taken from the instance's `max_worker_processes`.
   *
   * @default 6
   */
  readonly maxLogicalReplicationWorkers?: number;
  /**
   * Alarm when the most lagging slot holds back more than this much WAL (`OldestReplicationSlotLag`): a
   * stuck or abandoned move's subscription.
   *
   * @default 1024 (1 GiB)
   */
  readonly replicationSlotLagAlarmMiB?: number;
  /**
   * Alarm when the writer's transaction logs take more than this (`TransactionLogsDiskUsage`): WAL retained
   * for slots, billed as cluster storage and never freed while a slot holds it.
   *
   * @default 10240 (10 GiB)
   */
  readonly transactionLogsDiskUsageAlarmMiB?: number;
}

/** The Aurora PostgreSQL cluster (shard 0 from stage 100k on). Feeds `rds.DatabaseClusterProps`. */
export interface DatabaseConfig {
  /** The writer instance. */
  readonly writer: DatabaseInstanceConfig;
  /**
   * Reader instances; the app reads from them through the reader (or the proxy's read-only) endpoint.
   *
   * @default - no readers: reads go to the writer
   */
  readonly readers?: DatabaseReadersConfig;
  /**
   * Automated backups kept for this long (at least 7 days).
   *
   * @default Duration.days(7)
   */
  readonly backupRetention?: Duration;
  /**
   * How long the exported `postgresql` logs are kept.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Name of the database the app uses.
   *
   * @default 'shop'
   */
  readonly databaseName?: string;
  /**
   * Performance Insights on every instance.
   *
   * @default - off
   */
  readonly performanceInsights?: PerformanceInsightsConfig;
  /**
   * PostgreSQL logical replication (for moving logical shards between clusters) and its alarms. Turning it on
   * in a deployed cluster changes its parameter group in place; the writer needs a reboot to apply it.
   *
   * @default - off
   */
  readonly logicalReplication?: LogicalReplicationConfig;
}

/**
 * RDS Proxy in front of the cluster (TLS required). With readers, a read-only proxy endpoint is added
 * and handed to the app as `DB_READER_HOST`. Feeds `rds.DatabaseProxyOptions`.
 */
export interface ProxyConfig {
  /**
   * Share of the database's `max_connections` the proxy may open (1-100).
   *
   * @default 90
   */
  readonly maxConnectionsPercent?: number;
  /**
   * Idle client connections are closed after this long.
   *
   * @default Duration.minutes(30)
   */
  readonly idleClientTimeout?: Duration;
  /**
   * How long a client waits for a pooled connection before failing.
   *
   * @default Duration.seconds(120)
   */
  readonly borrowTimeout?: Duration;
}

/**
 * One more Aurora shard (stage 100k on): a cluster of its own, with an optional RDS Proxy, in a stack of
 * its own. Keyed by a stable id under `StageConfig.shards`; shard 0 is the stage's `database`.
 */
export interface ShardConfig extends DatabaseConfig {
  /**
   * RDS Proxy in front of this shard.
   *
   * @default - clients connect to the cluster endpoints
   */
  readonly proxy?: ProxyConfig;
}

/**
 * ElastiCache for Redis replication group (cluster mode disabled, Multi-AZ, automatic failover,
 * encrypted at rest with the data key and in transit, AUTH token in Secrets Manager).
 * Feeds `elasticache.CfnReplicationGroupProps`.
 */
export interface CacheConfig {
  /** Node type, e.g. `cache.t4g.small`. */
  readonly cacheNodeType: string;
  /** Nodes in the group: one primary plus replicas; at least 2 for Multi-AZ with automatic failover. */
  readonly numCacheClusters: number;
  /**
   * Redis engine version.
   *
   * @default '7.1'
   */
  readonly engineVersion?: string;
  /**
   * Daily snapshots kept for this many days (0 turns snapshots off).
   *
   * @default 7
   */
  readonly snapshotRetentionLimit?: number;
}

/**
 * The queue that carries cache-invalidation events from the outbox relay to the consumer (both run in every
 * app task): an encrypted SQS standard queue with a dead-letter queue, its alarms, and the app's
 * `INVALIDATION_QUEUE=sqs`. Needs `cache` (the events invalidate the shared Redis cache).
 * Feeds `sqs.QueueProps`.
 */
export interface InvalidationQueueConfig {
  /**
   * Receives before SQS moves a message to the dead-letter queue (`maxReceiveCount`); the app is told the
   * same number (`INVALIDATION_MAX_RECEIVES`).
   *
   * @default 5 (the app's `INVALIDATION_MAX_RECEIVES` default)
   */
  readonly maxReceiveCount?: number;
  /**
   * How long an unconsumed event is kept. Entries it would invalidate expire with their TTL anyway, so a
   * day is ample.
   *
   * @default Duration.days(1)
   */
  readonly retentionPeriod?: Duration;
  /**
   * Alarm when the oldest message waits longer than this (`ApproximateAgeOfOldestMessage`): the consumers
   * are behind the cache TTL, the safety net of invalidation.
   *
   * @default Duration.minutes(1) (the app's default `CACHE_TTL_SECONDS`)
   */
  readonly oldestMessageAgeAlarm?: Duration;
}

/**
 * One scaling stage. Stage N+1 is written as `{ ...stageN, ...delta } satisfies StageConfig`.
 *
 * `lib/` reads these fields and never the stage's name, so a team can also define its own stage
 * (e.g. `10k` with 5 readers) without touching `lib/`.
 */
export interface StageConfig {
  /** One line saying whom this stage serves, for docs and the CLI. */
  readonly description: string;
  /** The VPC. */
  readonly network: NetworkConfig;
  /** The stage's first service (`shop`): the app, answering everything no other service's route matches. */
  readonly service: ServiceConfig;
  /**
   * Further services (stage 1m on), keyed by a stable service id (1-12 lower-case letters and digits), each
   * with its route on the public listener.
   *
   * @default - the first service only
   */
  readonly services?: Readonly<Record<string, AppServiceConfig>>;
  /** The Aurora PostgreSQL cluster. */
  readonly database: DatabaseConfig;
  /**
   * More Aurora shards, keyed by a stable id (`s1`, `s2`, ...: 1-12 lower-case letters and digits, starting
   * with a letter), never by position. Shard 0 is `database`. A shard id is permanent: it names the shard's
   * stack, cluster and alarms, so a later stage keeps every id of the stage before it (validation checks
   * this across the shipped stages, and the upgrade test would see the removal).
   *
   * @default - shard 0 only
   */
  readonly shards?: Readonly<Record<string, ShardConfig>>;
  /**
   * RDS Proxy between the app and the cluster.
   *
   * @default - the app connects to the cluster endpoints directly
   */
  readonly proxy?: ProxyConfig;
  /**
   * Redis for the app's cache and sessions.
   *
   * @default - cache and sessions in the app's memory
   */
  readonly cache?: CacheConfig;
  /**
   * SQS for the cache-invalidation events (stage 100k on); needs `cache`.
   *
   * @default - the app's default queue: Redis Streams on the cache (`INVALIDATION_QUEUE` unset)
   */
  readonly invalidationQueue?: InvalidationQueueConfig;
  /**
   * The API gateway in front of `services` (stage 1m on).
   *
   * @default - no gateway: the public load balancer routes every service
   */
  readonly gateway?: GatewayConfig;
  /**
   * Domain events over EventBridge and SQS (stage 1m on); needs `invalidationQueue`.
   *
   * @default - the app's default event bus (Redis Streams on the cache, or in memory)
   */
  readonly events?: EventsConfig;
  /**
   * Every region of the context with Aurora Global Database, replicated sessions, the edge and Route 53
   * routing (stage global).
   *
   * @default - the home region only (further regions, if any, are independent copies)
   */
  readonly global?: GlobalConfig;
  /**
   * Alarm thresholds that differ from `DEFAULT_MONITORING_CONFIG` ("monitor first": every stage has a
   * dashboard and alarms).
   *
   * @default DEFAULT_MONITORING_CONFIG
   */
  readonly monitoring?: Partial<MonitoringConfig>;
}

/**
 * Aurora Global Database for shard 0 (the catalog) and every further shard (stage global): each home-region
 * cluster becomes the primary of a global cluster in place (`AWS::RDS::GlobalCluster` with
 * `SourceDBClusterIdentifier`, never a replacement), and every further region gets a secondary cluster of each
 * (no credentials, no database name: AWS rejects them), read-only, encrypted with that region's data key.
 */
export interface GlobalDatabaseConfig {
  /**
   * Reader instances of each secondary cluster (at least one: a secondary with no instance serves no reads).
   *
   * @default - the home cluster's `readers` (count and class)
   */
  readonly secondaryReaders?: DatabaseReadersConfig;
  /**
   * Alarm when a secondary region's recovery point lags more than this (`AuroraGlobalDBRPOLag`).
   *
   * @default Duration.minutes(1)
   */
  readonly rpoLagAlarm?: Duration;
}

/**
 * Sessions in every region (stage global): the home region's Redis replication group becomes the primary of an
 * ElastiCache Global Datastore, and each further region gets a read-only secondary group of it for sessions,
 * beside a regional cache group of its own (cache-aside writes fail on a read-only secondary).
 */
export interface GlobalSessionsConfig {
  /**
   * Node type of every member (Global Datastore needs large or bigger, the same in every region).
   *
   * @default - the stage's `cache.cacheNodeType`
   */
  readonly cacheNodeType?: string;
}

/**
 * The edge (stage global), in us-east-1 whatever the home region: the static storefront in S3 behind CloudFront
 * with origin access control and an origin group (a second bucket in the second region) for GET/HEAD/OPTIONS
 * failover, WAF on the distribution, the certificate for `domainName`, and `/api/*` forwarded to the
 * Route 53-routed API hostname (`api.<domainName>`).
 */
export interface EdgeConfig {
  /**
   * CloudFront price class (`PriceClass_100`, `PriceClass_200` or `PriceClass_All`).
   *
   * @default 'PriceClass_All' (viewers on every continent: the stage is for a worldwide audience)
   */
  readonly priceClass?: 'PriceClass_100' | 'PriceClass_200' | 'PriceClass_All';
  /**
   * WAF rate-based rule: requests per 5 minutes from one IP before it is blocked.
   *
   * @default 2000
   */
  readonly rateLimitPerFiveMinutes?: number;
}

/**
 * Route 53 routing of the API hostname (stage global). Every region publishes `api-<region>.<domainName>` to its
 * own front door, with a health check on its readiness; `api.<domainName>` routes among them.
 */
export interface GlobalRoutingConfig {
  /**
   * `geolocation`: continent records (each region's continents, see `continentsOf`) with a `*` default, each
   * aliased to a failover pair (that region primary, the next region secondary). `latency`: latency records
   * with health checks (unhealthy regions drop out). Both are synthesised; this picks which one
   * `api.<domainName>` is (the other is published as `api-<policy>.<domainName>` for comparison).
   *
   * @default 'geolocation'
   */
  readonly policy?: 'geolocation' | 'latency';
  /**
   * Continents (Route 53 codes AF, AN, AS, EU, NA, OC, SA) each region serves, by region code.
   *
   * @default - by region prefix (`continentsOf` in lib/config/global-routing.ts)
   */
  readonly continents?: Readonly<Record<string, readonly string[]>>;
  /**
   * Seconds between Route 53's health checks of each region (10 or 30).
   *
   * @default 10
   */
  readonly healthCheckIntervalSeconds?: 10 | 30;
  /**
   * Consecutive failed checks before a region counts as unhealthy (1-10).
   *
   * @default 3
   */
  readonly healthCheckFailureThreshold?: number;
}

/**
 * Stage global: the regional deployment in every region of the context (`-c regions=home,second,third`), home
 * first. Needs at least three regions, `domainName` and the hosted zone. The home region's stacks keep their
 * names and logical ids; each further region's are the same unit built in a scope named after it.
 */
export interface GlobalConfig {
  /** Aurora Global Database for every cluster. */
  readonly database: GlobalDatabaseConfig;
  /** Sessions replicated to every region. */
  readonly sessions: GlobalSessionsConfig;
  /** CloudFront, S3 storefront, WAF. */
  readonly edge: EdgeConfig;
  /** Route 53 routing of the API hostname. */
  readonly routing: GlobalRoutingConfig;
}
