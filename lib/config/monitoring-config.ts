/**
 * The alarm thresholds of a stage ("monitor first") and the one check of them, shared by the stage
 * validation (keys `monitoring.<field>`) and the StageMonitoring construct (keys `config.<field>`); and the
 * sizes thresholds are derived from (an Aurora class's `max_connections`, the most connections the app opens).
 */
import { Token } from 'aws-cdk-lib';
import type { ConfigProblem } from './deployment-context';

/**
 * Alarm thresholds of a stage ("monitor first"): one field per alarm, in the unit its name says.
 *
 * Every alarm fires when its metric, over one 5-minute period, is above the threshold (or below it,
 * for the fields ending in `Min` and for `dbFreeableMemoryMiB`). Alarms on resources a stage does not
 * have (replicas, RDS Proxy, Redis) are simply not created, so one record serves every stage. Connection
 * thresholds are shares of what the watched resource can reach, so they follow its size.
 */
export interface MonitoringConfig {
  /** p99 of the ALB's `TargetResponseTime`, in milliseconds (the seed's "under 200 ms" target). */
  readonly albP99LatencyMs: number;
  /** Share of requests answered with a 5xx (by a target or by the ALB itself), in percent (0-100). */
  readonly alb5xxRatePercent: number;
  /**
   * Fewest requests in a 5-minute period for the 5xx rate to count: below it the rate is 0. At 100, one
   * error is at most 1 point of rate, so a handful of errors on a quiet site never pages.
   */
  readonly alb5xxMinRequests: number;
  /** Number of unhealthy targets in the service's target group above which to alarm. */
  readonly unhealthyTargets: number;
  /** Average CPU utilisation of the Fargate service, in percent (0-100). */
  readonly serviceCpuPercent: number;
  /** Average memory utilisation of the Fargate service, in percent (0-100). */
  readonly serviceMemoryPercent: number;
  /** Average CPU utilisation of the Aurora writer, and of the readers, in percent (0-100). */
  readonly dbCpuPercent: number;
  /**
   * Database connections of the writer (and of the busiest reader), in percent of the instance class's
   * default `max_connections` (see {@link auroraMaxConnections}); below the proxy's `maxConnectionsPercent`,
   * or the proxy's cap would keep the app from ever reaching it.
   */
  readonly dbConnectionsPercent: number;
  /** Alarm when the writer (or a reader) has less than this many MiB freeable memory. */
  readonly dbFreeableMemoryMiB: number;
  /** Maximum Aurora replica lag (`AuroraReplicaLag` of the readers), in milliseconds; used only with readers. */
  readonly replicaLagMs: number;
  /**
   * Client connections to the RDS Proxy, in percent of the most the services can open (the tasks at the
   * autoscaling maximum, each with its pools full: see {@link appPoolConnections}); used only with a proxy.
   */
  readonly proxyClientConnectionsPercent: number;
  /**
   * Average time the RDS Proxy takes to hand a client a database connection
   * (`DatabaseConnectionsBorrowLatency`), in milliseconds; below the proxy's borrow timeout. Used only
   * with a proxy: a rising borrow latency means its pool is exhausted and clients queue.
   */
  readonly proxyBorrowLatencyMs: number;
  /** Redis engine CPU (`EngineCPUUtilization`, busiest node), in percent (0-100); used only with a cache. */
  readonly cacheCpuPercent: number;
  /** Redis memory (`DatabaseMemoryUsagePercentage`, fullest node), in percent (0-100); used only with a cache. */
  readonly cacheMemoryPercent: number;
  /** Keys evicted per 5 minutes, summed over the nodes; used only with a cache. */
  readonly cacheEvictions: number;
  /** Alarm when the cache hit rate (hits / (hits + misses), all nodes) drops below this percent (0-100). */
  readonly cacheHitRatePercentMin: number;
  /**
   * Share of the app's cache lookups that failed (`cache_requests_total{result="error"}`: Redis unreachable,
   * served from the database), in percent (0-100); counted from 100 lookups per 5 minutes. Used only with a
   * cache and the app metrics collected.
   */
  readonly cacheErrorRatePercent: number;
}

/** Thresholds in percent: 0-100. */
const PERCENT_FIELDS = [
  'alb5xxRatePercent',
  'serviceCpuPercent',
  'serviceMemoryPercent',
  'dbCpuPercent',
  'dbConnectionsPercent',
  'proxyClientConnectionsPercent',
  'cacheCpuPercent',
  'cacheMemoryPercent',
  'cacheHitRatePercentMin',
  'cacheErrorRatePercent',
] as const satisfies readonly (keyof MonitoringConfig)[];
/** Thresholds that count things: whole numbers, 0 or more. */
const COUNT_FIELDS = [
  'alb5xxMinRequests',
  'unhealthyTargets',
  'cacheEvictions',
] as const satisfies readonly (keyof MonitoringConfig)[];
/** Thresholds in a unit of time or size: above 0 (an alarm at 0 ms or 0 MiB could never be right). */
const POSITIVE_FIELDS = [
  'albP99LatencyMs',
  'dbFreeableMemoryMiB',
  'replicaLagMs',
  'proxyBorrowLatencyMs',
] as const satisfies readonly (keyof MonitoringConfig)[];

/**
 * Every problem of a set of alarm thresholds (empty when they are sound). The input is treated as
 * untyped (configs also come from JSON and tools); unresolved tokens are accepted as they are.
 *
 * @param config - the thresholds
 * @param keyPrefix - put before each field name in the problem's key, e.g. `monitoring.`
 */
export function monitoringConfigProblems(config: unknown, keyPrefix: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const values = (typeof config === 'object' && config !== null ? config : {}) as Partial<
    Record<keyof MonitoringConfig, unknown>
  >;
  const check = (field: keyof MonitoringConfig, ok: (v: number) => boolean, fix: string) => {
    const value = values[field];
    if (Token.isUnresolved(value)) return;
    if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) {
      problems.push({ key: `${keyPrefix}${field}`, received: value, fix });
    }
  };
  for (const field of PERCENT_FIELDS) {
    check(field, (v) => v >= 0 && v <= 100, 'give a percentage between 0 and 100');
  }
  for (const field of COUNT_FIELDS) {
    check(field, (v) => v >= 0 && Number.isInteger(v), 'give a whole number of 0 or more');
  }
  for (const field of POSITIVE_FIELDS) {
    check(field, (v) => v > 0, 'give a number greater than 0');
  }
  return problems;
}

/**
 * Memory of the Aurora PostgreSQL instance classes the stages use (and the next sizes up), in GiB.
 * Source: Amazon Aurora User Guide, "Hardware specifications for DB instance classes for Aurora".
 */
export const AURORA_INSTANCE_MEMORY_GIB: Readonly<Record<string, number>> = {
  'db.t4g.medium': 4,
  'db.t4g.large': 8,
  'db.r6g.large': 16,
  'db.r6g.xlarge': 32,
  'db.r6g.2xlarge': 64,
  'db.r7g.large': 16,
  'db.r7g.xlarge': 32,
  'db.r7g.2xlarge': 64,
};

/**
 * Aurora PostgreSQL's default `max_connections` as the Aurora User Guide tabulates it ("Maximum connections to
 * an Aurora PostgreSQL DB instance"): `LEAST({DBInstanceClassMemory/9531392}, 5000)`, where
 * `DBInstanceClassMemory` is the class's memory less what the OS and RDS keep, so a little below the formula
 * over the nominal memory. Classes not in this table are computed from {@link AURORA_INSTANCE_MEMORY_GIB}.
 */
export const AURORA_DOCUMENTED_MAX_CONNECTIONS: Readonly<Record<string, number>> = {
  'db.t4g.medium': 405,
  'db.t4g.large': 823,
  'db.r6g.large': 1722,
  'db.r6g.xlarge': 3479,
  'db.r7g.large': 1722,
  'db.r7g.xlarge': 3479,
};

/** Bytes of instance memory per connection in Aurora PostgreSQL's default `max_connections` formula. */
export const AURORA_BYTES_PER_CONNECTION = 9531392;
/** The formula's cap. */
export const AURORA_MAX_CONNECTIONS_CAP = 5000;

/**
 * Default `max_connections` of an Aurora PostgreSQL instance class (`db.t4g.medium`): the documented value,
 * else `LEAST(memory / 9531392, 5000)` over the class's nominal memory; `undefined` for a class in neither table.
 */
export function auroraMaxConnections(instanceClass: string): number | undefined {
  const documented = AURORA_DOCUMENTED_MAX_CONNECTIONS[instanceClass];
  if (documented !== undefined) return documented;
  const memoryGiB = AURORA_INSTANCE_MEMORY_GIB[instanceClass];
  if (memoryGiB === undefined) return undefined;
  return Math.min(
    Math.floor((memoryGiB * 1024 ** 3) / AURORA_BYTES_PER_CONNECTION),
    AURORA_MAX_CONNECTIONS_CAP,
  );
}

/**
 * Connections each pool of the app holds at most: the app's `DB_POOL_MAX` default (app/src/config.ts), which
 * the blueprint does not override. The app keeps one pool for the writer and, with `DB_READER_HOST`, one for
 * the readers.
 */
export const APP_DB_POOL_MAX = 10;

/** The most tasks a service runs in steady state: its autoscaling maximum, or its fixed count. */
export function maxTaskCount(service: {
  readonly desiredCount?: number;
  readonly autoscaling?: { readonly maxCapacity: number };
}): number {
  return service.autoscaling?.maxCapacity ?? service.desiredCount ?? 0;
}

/**
 * The most connections the services open to one database endpoint (the writer's, or the readers'): every
 * service at its most tasks, each with one full pool. A deployment may briefly run twice the tasks
 * (`maxHealthyPercent` 200); alarms are set against steady state.
 */
export function appPoolConnections(
  services: readonly {
    readonly desiredCount?: number;
    readonly autoscaling?: { readonly maxCapacity: number };
  }[],
  poolMax: number = APP_DB_POOL_MAX,
): number {
  return services.reduce((total, service) => total + maxTaskCount(service) * poolMax, 0);
}
