/**
 * The alarm thresholds of a stage ("monitor first") and the one check of them, shared by the stage
 * validation (keys `monitoring.<field>`) and the StageMonitoring construct (keys `config.<field>`).
 */
import { Token } from 'aws-cdk-lib';
import type { ConfigProblem } from './deployment-context';

/**
 * Alarm thresholds of a stage ("monitor first"): one field per alarm, in the unit its name says.
 *
 * Every alarm fires when its metric, over one 5-minute period, is above the threshold (or below it,
 * for the fields ending in `Min` and for `dbFreeableMemoryMiB`). Alarms on resources a stage does not
 * have (replicas, RDS Proxy, Redis) are simply not created, so one record serves every stage.
 */
export interface MonitoringConfig {
  /** p99 of the ALB's `TargetResponseTime`, in milliseconds (the seed's "under 200 ms" target). */
  readonly albP99LatencyMs: number;
  /** Share of requests answered with a 5xx (by a target or by the ALB itself), in percent (0-100). */
  readonly alb5xxRatePercent: number;
  /** Number of unhealthy targets in the service's target group above which to alarm. */
  readonly unhealthyTargets: number;
  /** Average CPU utilisation of the Fargate service, in percent (0-100). */
  readonly serviceCpuPercent: number;
  /** Average memory utilisation of the Fargate service, in percent (0-100). */
  readonly serviceMemoryPercent: number;
  /** Average CPU utilisation of the Aurora cluster, in percent (0-100). */
  readonly dbCpuPercent: number;
  /** Database connections on the Aurora cluster (sum over its instances). */
  readonly dbConnections: number;
  /** Alarm when the instance with the least freeable memory has less than this many MiB. */
  readonly dbFreeableMemoryMiB: number;
  /** Maximum Aurora replica lag (`AuroraReplicaLagMaximum`), in milliseconds; used only with readers. */
  readonly replicaLagMs: number;
  /** Client connections to the RDS Proxy (`ClientConnections`); used only with a proxy. */
  readonly proxyConnections: number;
  /** Redis engine CPU (`EngineCPUUtilization`, busiest node), in percent (0-100); used only with a cache. */
  readonly cacheCpuPercent: number;
  /** Redis memory (`DatabaseMemoryUsagePercentage`, fullest node), in percent (0-100); used only with a cache. */
  readonly cacheMemoryPercent: number;
  /** Keys evicted per 5 minutes, summed over the nodes; used only with a cache. */
  readonly cacheEvictions: number;
  /** Alarm when the cache hit rate (hits / (hits + misses), all nodes) drops below this percent (0-100). */
  readonly cacheHitRatePercentMin: number;
}

/** Thresholds in percent: 0-100. */
const PERCENT_FIELDS = [
  'alb5xxRatePercent',
  'serviceCpuPercent',
  'serviceMemoryPercent',
  'dbCpuPercent',
  'cacheCpuPercent',
  'cacheMemoryPercent',
  'cacheHitRatePercentMin',
] as const satisfies readonly (keyof MonitoringConfig)[];
/** Thresholds that count things: whole numbers, 0 or more. */
const COUNT_FIELDS = [
  'unhealthyTargets',
  'dbConnections',
  'proxyConnections',
  'cacheEvictions',
] as const satisfies readonly (keyof MonitoringConfig)[];
/** Thresholds in a unit of time or size: above 0 (an alarm at 0 ms or 0 MiB could never be right). */
const POSITIVE_FIELDS = [
  'albP99LatencyMs',
  'dbFreeableMemoryMiB',
  'replicaLagMs',
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
