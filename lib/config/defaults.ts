/**
 * Every default of the stage model, in one place (pure data). Constructs merge them as
 * defaults < stage config < values the construct must own.
 */
import { Duration, Size } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import type { MonitoringConfig } from './monitoring-config';

/** Defaults for optional {@link NetworkConfig} fields. */
export const NETWORK_DEFAULTS = {
  maxAzs: 3,
  cidr: '10.0.0.0/16',
  flowLogRetention: logs.RetentionDays.ONE_YEAR,
} as const;

/**
 * The VPC's subnets, one of each per AZ: public (ALB, NAT gateways), private with egress (tasks: a /22
 * leaves room for many tasks, each with its own address), isolated (Aurora, RDS Proxy, Redis). The
 * network stack builds exactly this, and `network.cidr` is validated against it.
 */
export const SUBNET_LAYOUT: readonly ec2.SubnetConfiguration[] = [
  { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
  { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
  { name: 'Isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
];

/** Defaults for optional `ServiceConfig` fields. */
export const SERVICE_DEFAULTS = {
  cpuArchitecture: 'ARM64',
  logRetention: logs.RetentionDays.ONE_MONTH,
  /** Port the app listens on (the app's `PORT`): the load balancer's target port. */
  containerPort: 3000,
  /**
   * Port of a service's internal API (the app's `INTERNAL_PORT`, the stage 1m contract's default), a server of
   * its own that serves only `/internal/*`: the port Service Connect publishes. The load balancer never targets it.
   */
  internalPort: 3001,
  /**
   * The load balancer's health check: the app's liveness endpoint (the process answers). Not `/readyz`, which
   * pings the database: an Aurora failover or a proxy blip longer than the check's ~45 s would de-register
   * every task at once, and ECS would replace them all while the database, not the tasks, was at fault.
   */
  healthCheckPath: '/healthz',
  /**
   * Most bytes of log events the awslogs driver buffers in the task while CloudWatch Logs is slow or
   * unreachable (non-blocking mode): past it the newest lines are dropped instead of blocking the app's
   * writes to stdout, and with them its requests.
   */
  logBufferSize: Size.mebibytes(25),
  scaleInCooldown: Duration.minutes(5),
  scaleOutCooldown: Duration.minutes(1),
} as const;

/** Defaults for optional `DatabaseConfig` fields. */
export const DATABASE_DEFAULTS = {
  backupRetention: Duration.days(7),
  logRetention: logs.RetentionDays.ONE_MONTH,
  databaseName: 'shop',
  /** Master user of the cluster (its generated secret has keys `username` and `password`). */
  masterUsername: 'shop_admin',
  /**
   * Login user of the app (a member of the DML-only role `shop_app`), created by the migration task from the
   * app secret; the multi-user rotation alternates it with `<name>_clone`.
   */
  appUsername: 'shop_app_user',
  performanceInsightRetention: rds.PerformanceInsightRetention.DEFAULT,
  /** Secrets Manager rotates the master password this often. */
  rotationInterval: Duration.days(30),
} as const;

/**
 * The Aurora PostgreSQL engine of the blueprint: the newest 16.x minor aws-cdk-lib offers. The code owns the
 * minor version: `autoMinorVersionUpgrade` stays on for the instances, but AWS applies automatic upgrades only
 * up to its preferred minor, so a retired minor (AWS retires 16.x minors on a published calendar) would stop a
 * fresh deploy and a restore. Raise it deliberately: `npm run diff` shows the cluster's EngineVersion as an
 * in-place update and lists the writer restart under Interruptions. README "Aurora engine version" says how a
 * retirement is caught before a deploy fails.
 */
export const AURORA_POSTGRES_VERSION = rds.AuroraPostgresEngineVersion.VER_16_13;

/** How often Enhanced Monitoring samples the OS metrics of each Aurora instance. */
export const ENHANCED_MONITORING_INTERVAL = Duration.seconds(60);

/** Defaults for optional `GlobalDatabaseConfig` fields (stage global). */
export const GLOBAL_DATABASE_DEFAULTS = {
  rpoLagAlarm: Duration.minutes(1),
} as const;

/** Defaults for optional `ProxyConfig` fields. */
export const PROXY_DEFAULTS = {
  maxConnectionsPercent: 90,
  idleClientTimeout: Duration.minutes(30),
  borrowTimeout: Duration.seconds(120),
} as const;

/** Defaults for optional `CacheConfig` fields. */
export const CACHE_DEFAULTS = {
  engineVersion: '7.1',
  snapshotRetentionLimit: 7,
  port: 6379,
} as const;

/** Bounds the validation checks against (AWS limits and the blueprint's own rules). */
export const LIMITS = {
  /** Fargate CPU units and the memory (MiB) each allows: [min, max, step]. */
  fargate: {
    256: [512, 2048, 512],
    512: [1024, 4096, 1024],
    1024: [2048, 8192, 1024],
    2048: [4096, 16384, 1024],
    4096: [8192, 30720, 1024],
    8192: [16384, 61440, 4096],
    16384: [32768, 122880, 8192],
  } as Record<number, readonly [number, number, number]>,
  maxReaders: 15,
  minBackupRetentionDays: 7,
  maxBackupRetentionDays: 35,
  /** Multi-AZ with automatic failover needs a replica; ElastiCache allows up to 5 replicas. */
  minCacheNodes: 2,
  maxCacheNodes: 6,
  /** An ALB and an Aurora subnet group both need subnets in at least 2 AZs. */
  minAzs: 2,
} as const;

/**
 * Thresholds suited to a small production deployment; a stage may spread these and override fields.
 * The 200 ms p99 is the latency target of the blueprint's benchmarks.
 */
export const DEFAULT_MONITORING_CONFIG: MonitoringConfig = {
  albP99LatencyMs: 200,
  alb5xxRatePercent: 1,
  // 100 requests per 5 minutes: one error then weighs at most 1 point of rate (the threshold itself), so
  // only a second error in so few requests can page; below it a quiet site's stray error is noise, and an
  // outage is the site-down alarm's job.
  alb5xxMinRequests: 100,
  unhealthyTargets: 0,
  serviceCpuPercent: 80,
  serviceMemoryPercent: 80,
  dbCpuPercent: 80,
  // 80 % of the class's max_connections (wave2.md section 5), below RDS Proxy's default cap of 90 %.
  dbConnectionsPercent: 80,
  dbFreeableMemoryMiB: 256,
  replicaLagMs: 1000,
  proxyClientConnectionsPercent: 80,
  // A pooled borrow takes well under a millisecond; an average of 50 ms means clients queue for connections.
  proxyBorrowLatencyMs: 50,
  cacheCpuPercent: 80,
  cacheMemoryPercent: 80,
  cacheEvictions: 1000,
  cacheHitRatePercentMin: 80,
  // A Redis failover fails a few lookups; 5 % of at least 100 for 5 minutes means the app has lost its cache.
  cacheErrorRatePercent: 5,
};

/** Defaults for optional `AccessLogsBucketProps` fields. */
export const ACCESS_LOGS_DEFAULTS = {
  /** Load balancer access logs are kept for a year (long enough for a yearly audit), then deleted. */
  expiration: Duration.days(365),
} as const;

/**
 * Whether `cdk synth` (bin/app.ts) runs CDK's built-in CloudFormation validation when `-c validate` is
 * not given. Off: it is most of a synth's time (see the README's synth benchmark). The test suite runs
 * it (createBlueprintApp's own default is on) and CI with it; `-c validate=true` turns it on here.
 */
export const CLI_CLOUDFORMATION_VALIDATION = false;

/**
 * Defaults for optional `LogicalReplicationConfig` fields. Sized for the shard manager moving one logical
 * shard at a time: on the source a slot and a WAL sender per subscription plus a temporary slot per table
 * being copied; on the target an apply worker, two table-sync workers and two parallel apply workers
 * (PostgreSQL's defaults `max_sync_workers_per_subscription` and `max_parallel_apply_workers_per_subscription`).
 * The alarms fire long before retained WAL costs real money (the research notes' 2.8 TB case).
 */
export const LOGICAL_REPLICATION_DEFAULTS = {
  maxReplicationSlots: 20,
  maxWalSenders: 20,
  maxLogicalReplicationWorkers: 6,
  replicationSlotLagAlarmMiB: 1024,
  transactionLogsDiskUsageAlarmMiB: 10 * 1024,
} as const;

/** Defaults for optional `InvalidationQueueConfig` fields, and what the queue construct owns. */
export const INVALIDATION_QUEUE_DEFAULTS = {
  /** The app's `INVALIDATION_MAX_RECEIVES` default (app/src/config.ts); a test keeps them equal. */
  maxReceiveCount: 5,
  retentionPeriod: Duration.days(1),
  /** The app's default `CACHE_TTL_SECONDS`: an event older than the TTL is behind the safety net. */
  oldestMessageAgeAlarm: Duration.minutes(1),
  /** The app's queue lease (`leaseMs` 30 s): it sets the visibility on every receive, this is the fallback. */
  visibilityTimeout: Duration.seconds(30),
  /** Dead-lettered events are kept for the longest SQS allows, to be inspected. */
  deadLetterRetentionPeriod: Duration.days(14),
} as const;

/**
 * ECS Service Connect settings every service of a stage with `services` gets (stage 1m on), and what the
 * platform owns. The app side: its HTTP server's `keepAliveTimeout` (app/src/config.ts, the svc-split
 * engineer's) must stay ABOVE `idleTimeout`, or the app closes an idle connection the proxy still believes
 * open and the next request on it fails; a test in the app keeps the two apart.
 */
export const SERVICE_CONNECT_DEFAULTS = {
  /**
   * How long the Service Connect proxy keeps an idle connection: 60 s, below the app's keep-alive of 65 s
   * (the usual pairing with an ALB's 60 s idle timeout). The one place this number is written.
   */
  idleTimeout: Duration.seconds(60),
  /**
   * Longest a single request through the proxy may take. Only calls between services pass the proxy (today
   * orders -> products' internal API on `INTERNAL_PORT`; the load balancers target the main port, past it), so
   * this bounds one such call, never a user's request. It must stay ABOVE the caller's own HTTP client timeout
   * for one attempt, so that the app gives up first, answers 503 and may retry (an idempotent reservation),
   * instead of the proxy cutting the call with a 504 of its own; and below the HTTP API's 29 s integration
   * timeout, so that a hung call cannot outlive the user's request by much.
   *
   * The app's side: the orders service's timeout for one products call, `PRODUCTS_TIMEOUT_MS`
   * (app/src/services/service-config.ts, default 1.5 s; retries and `PRODUCTS_BUDGET_MS`, 5 s, are further
   * requests, each bounded by this on its own). A test keeps the default below this; the app accepts up to 30 s,
   * so a deployment raising it past 15 s must raise this too.
   */
  perRequestTimeout: Duration.seconds(15),
  /** Port of the client alias: callers use `http://<service id>` (port 80) whatever the container's port. */
  clientAliasPort: 80,
} as const;

/** Defaults for optional `GatewayConfig` fields. */
export const GATEWAY_DEFAULTS = {
  /**
   * Every route: a ceiling well under the account's 10,000 requests per second for HTTP APIs in a region,
   * sized for stage 1m's peak (1M users, a few percent active at once) with room for bursts.
   */
  throttle: { rateLimit: 2000, burstLimit: 4000 },
  /**
   * Log-in and sign-up are stricter: each costs a password hash (CPU-bound) on the users service, and a
   * credential-stuffing run should meet the gateway before the service. A global ceiling, not per client: the
   * app's own per-address rate limit (@fastify/rate-limit) stays.
   */
  routeThrottles: {
    'POST /api/sessions': { rateLimit: 100, burstLimit: 200 },
    'POST /api/users': { rateLimit: 20, burstLimit: 50 },
  },
  accessLogRetention: logs.RetentionDays.ONE_YEAR,
  /**
   * Header carrying the client's address to the services (their `CLIENT_IP_HEADER`): the gateway overwrites it
   * with `$context.identity.sourceIp` on every request, and only the VPC link reaches the internal load balancer,
   * so a client cannot set it. Lower case: API Gateway's parameter mapping and Node both use lower-case names.
   */
  clientIpHeader: 'x-client-ip',
  /** The internal load balancer answers these itself with a 404: never forwarded to a service. */
  blockedPaths: ['/internal', '/internal/*', '/metrics', '/metrics/*'],
} as const;

/** Defaults for optional `EventsConfig` fields, and what the events construct owns. */
export const EVENTS_DEFAULTS = {
  archiveRetention: Duration.days(30),
  /** The app's `EVENT_MAX_RECEIVES` default (the stage 1m contract). */
  maxReceiveCount: 5,
  retentionPeriod: Duration.days(4),
  oldestMessageAgeAlarm: Duration.minutes(5),
  /** The app's lease on a received event; it sets the visibility on every receive, this is the fallback. */
  visibilityTimeout: Duration.seconds(30),
  deadLetterRetentionPeriod: Duration.days(14),
  /** EventBridge retries a failed delivery this often, within this long, before the delivery dead-letter queue. */
  deliveryRetryAttempts: 185,
  deliveryMaxEventAge: Duration.hours(24),
} as const;
