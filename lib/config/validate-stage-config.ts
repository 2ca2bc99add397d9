/**
 * Checks a stage configuration before any construct is built: every problem is collected and reported
 * in one error that names the key, the value received and the fix. Unresolved tokens are skipped
 * (their value is only known at deploy time).
 */
import { Duration, Token } from 'aws-cdk-lib';
import type { StageConfig } from './stage-config';
import type { ConfigProblem } from './deployment-context';
import { LIMITS, NETWORK_DEFAULTS } from './defaults';
import { monitoringConfigProblems } from './monitoring-config';

/** Thrown when the stage configuration or the deployment context makes no sense. */
export class StageConfigError extends Error {
  /** Every problem found. */
  public readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(
      `Invalid stage configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p.key}: received ${formatValue(p.received)}. Fix: ${p.fix}`).join('\n'),
    );
    this.name = 'StageConfigError';
    this.problems = problems;
  }
}

/** Whether a value is a CDK Duration. */
function isDurationValue(value: unknown): value is Duration {
  return value instanceof Duration;
}

/** Renders a received value for an error message. */
export function formatValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (isDuration(value)) return value.toString();
  if (typeof value === 'object' && value !== null && 'toString' in value) {
    const text = String(value);
    if (text !== '[object Object]') return JSON.stringify(text);
  }
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

type Loose = Record<string, unknown> | undefined;

const isDuration = isDurationValue;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const unresolved = (value: unknown) => Token.isUnresolved(value);
/** A resolved whole number (a number token is not one: its value is only known at deploy time). */
const isInt = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && !Token.isUnresolved(value);

/** `db.r7g.large` / `r7g.large`: a family (letters, generation digit, options) and a size. */
const INSTANCE_TYPE =
  /^(db\.)?[a-z][a-z0-9-]*\d[a-z0-9-]*\.(nano|micro|small|medium|large|\d*xlarge|metal(-\d+xl)?)$/;
const CACHE_NODE_TYPE = /^cache\.[a-z][a-z0-9-]*\d[a-z0-9-]*\.(micro|small|medium|large|\d*xlarge)$/;
const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const DATABASE_NAME = /^[a-z][a-z0-9_]{0,62}$/;
const REDIS_VERSION = /^(\d+)\.(\d+)$/;

/**
 * Every problem of a stage configuration (empty when it is sound).
 *
 * The input is treated as untyped: configs also come from JSON, tests and tools, where the type
 * checker did not run.
 *
 * @param config - the stage configuration
 * @param availabilityZoneCount - zones the deployment context provides
 */
export function validateStageConfig(config: StageConfig, availabilityZoneCount?: number): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (key: string, received: unknown, fix: string) => problems.push({ key, received, fix });
  const raw = config as unknown as Record<string, unknown>;

  const intAtLeast = (key: string, value: unknown, min: number, fix: string) => {
    if (unresolved(value)) return;
    if (!isInt(value) || value < min) add(key, value, fix);
  };

  if (typeof raw.description !== 'string' || raw.description.trim() === '') {
    add('description', raw.description, 'describe in one line whom the stage serves');
  }

  // --- network -------------------------------------------------------------------------------------
  const network = raw.network as Loose;
  let maxAzs: number = NETWORK_DEFAULTS.maxAzs;
  if (!isObject(network)) {
    add('network', network, 'add a network section, e.g. { natGateways: 1 }');
  } else {
    if (network.maxAzs !== undefined && !unresolved(network.maxAzs)) {
      if (!isInt(network.maxAzs) || network.maxAzs < LIMITS.minAzs) {
        add(
          'network.maxAzs',
          network.maxAzs,
          `use a whole number of at least ${LIMITS.minAzs} (ALB and Aurora need 2 AZs)`,
        );
      } else {
        maxAzs = network.maxAzs;
      }
    }
    if (!unresolved(network.natGateways)) {
      if (!isInt(network.natGateways) || network.natGateways < 1) {
        add(
          'network.natGateways',
          network.natGateways,
          'use at least 1: the tasks run in private subnets and pull their image through a NAT gateway',
        );
      } else if (network.natGateways > maxAzs) {
        add(
          'network.natGateways',
          network.natGateways,
          `use at most one per AZ (network.maxAzs = ${maxAzs})`,
        );
      }
    }
    if (network.cidr !== undefined && !unresolved(network.cidr)) {
      const match = typeof network.cidr === 'string' ? CIDR.exec(network.cidr) : null;
      const octetsOk = match !== null && match.slice(1, 5).every((octet) => Number(octet) <= 255);
      const mask = match ? Number(match[5]) : -1;
      if (!octetsOk || mask < 16 || mask > 22) {
        add('network.cidr', network.cidr, 'use an IPv4 CIDR between /16 and /22, e.g. "10.0.0.0/16"');
      }
    }
  }
  if (availabilityZoneCount !== undefined && availabilityZoneCount > 0 && availabilityZoneCount < maxAzs) {
    add(
      'network.maxAzs',
      maxAzs,
      `the context provides only ${availabilityZoneCount} availability zones; lower maxAzs or pass more zones`,
    );
  }

  // --- service -------------------------------------------------------------------------------------
  const service = raw.service as Loose;
  if (!isObject(service)) {
    add(
      'service',
      service,
      'add a service section, e.g. { cpu: 512, memoryLimitMiB: 1024, desiredCount: 1 }',
    );
  } else {
    const cpu = service.cpu;
    const memory = service.memoryLimitMiB;
    const range = isInt(cpu) ? LIMITS.fargate[cpu] : undefined;
    if (!unresolved(cpu) && range === undefined) {
      add('service.cpu', cpu, `use one of the Fargate sizes ${Object.keys(LIMITS.fargate).join(', ')}`);
    }
    if (!unresolved(memory)) {
      if (!isInt(memory) || memory <= 0) {
        add('service.memoryLimitMiB', memory, 'use a positive whole number of MiB, e.g. 1024');
      } else if (range !== undefined) {
        const [min, max, step] = range;
        if (memory < min || memory > max || (memory - min) % step !== 0) {
          add(
            'service.memoryLimitMiB',
            memory,
            `with cpu ${String(cpu)} Fargate allows ${min}-${max} MiB in steps of ${step}`,
          );
        }
      }
    }
    intAtLeast('service.desiredCount', service.desiredCount, 1, 'run at least 1 task (a whole number)');
    if (
      service.cpuArchitecture !== undefined &&
      service.cpuArchitecture !== 'ARM64' &&
      service.cpuArchitecture !== 'X86_64'
    ) {
      add('service.cpuArchitecture', service.cpuArchitecture, 'use "ARM64" (Graviton) or "X86_64"');
    }
    const scaling = service.autoscaling;
    if (scaling !== undefined) {
      if (!isObject(scaling)) {
        add('service.autoscaling', scaling, 'pass { minCapacity, maxCapacity, targetCpuUtilizationPercent }');
      } else {
        const { minCapacity: min, maxCapacity: max } = scaling;
        intAtLeast('service.autoscaling.minCapacity', min, 1, 'keep at least 1 task (a whole number)');
        intAtLeast('service.autoscaling.maxCapacity', max, 1, 'allow at least 1 task (a whole number)');
        if (isInt(min) && isInt(max) && min > max) {
          add(
            'service.autoscaling.minCapacity',
            min,
            `must not exceed service.autoscaling.maxCapacity (${max}); raise maxCapacity or lower minCapacity`,
          );
        }
        const desired = service.desiredCount;
        if (isInt(min) && isInt(max) && min <= max && isInt(desired) && (desired < min || desired > max)) {
          add(
            'service.desiredCount',
            desired,
            `keep it between minCapacity (${min}) and maxCapacity (${max})`,
          );
        }
        const cpuTarget = scaling.targetCpuUtilizationPercent;
        if (
          !unresolved(cpuTarget) &&
          (typeof cpuTarget !== 'number' || !(cpuTarget >= 10 && cpuTarget <= 90))
        ) {
          add(
            'service.autoscaling.targetCpuUtilizationPercent',
            cpuTarget,
            'use a percentage between 10 and 90 (e.g. 60): headroom for spikes while new tasks start',
          );
        }
        if (scaling.requestsPerTarget !== undefined) {
          intAtLeast(
            'service.autoscaling.requestsPerTarget',
            scaling.requestsPerTarget,
            1,
            'use a positive whole number of requests per target per minute, or leave it out',
          );
        }
        for (const key of ['scaleInCooldown', 'scaleOutCooldown'] as const) {
          if (scaling[key] !== undefined && !isDuration(scaling[key])) {
            add(`service.autoscaling.${key}`, scaling[key], 'use a Duration, e.g. Duration.minutes(5)');
          }
        }
      }
    }
  }

  // --- database ------------------------------------------------------------------------------------
  const database = raw.database as Loose;
  const checkInstanceType = (key: string, instance: unknown) => {
    const type = isObject(instance) ? instance.instanceType : undefined;
    if (unresolved(type)) return;
    const text = type === undefined || type === null ? '' : String(type);
    if (!INSTANCE_TYPE.test(text)) {
      add(
        key,
        type,
        'use an Aurora PostgreSQL instance class, e.g. ec2.InstanceType.of(ec2.InstanceClass.R7G, ec2.InstanceSize.LARGE)',
      );
    }
  };
  if (!isObject(database)) {
    add('database', database, 'add a database section with a writer: { writer: { instanceType } }');
  } else {
    if (!isObject(database.writer)) {
      add(
        'database.writer',
        database.writer,
        database.readers !== undefined
          ? 'readers replicate from a writer: add database.writer, or remove database.readers'
          : 'add database.writer: { instanceType }',
      );
    } else {
      checkInstanceType('database.writer.instanceType', database.writer);
    }
    const readers = database.readers;
    if (readers !== undefined) {
      if (!isObject(readers)) {
        add('database.readers', readers, 'pass { count, instanceType } or leave readers out');
      } else {
        if (
          !unresolved(readers.count) &&
          (!isInt(readers.count) || readers.count < 1 || readers.count > LIMITS.maxReaders)
        ) {
          add(
            'database.readers.count',
            readers.count,
            `use a whole number from 1 to ${LIMITS.maxReaders}, or remove database.readers for no readers`,
          );
        }
        checkInstanceType('database.readers.instanceType', readers);
      }
    }
    const retention = database.backupRetention;
    if (retention !== undefined) {
      if (!isDuration(retention)) {
        add('database.backupRetention', retention, 'use a Duration, e.g. Duration.days(7)');
      } else if (!unresolved(retention.toDays({ integral: false }))) {
        const days = retention.toDays({ integral: false });
        if (
          !Number.isInteger(days) ||
          days < LIMITS.minBackupRetentionDays ||
          days > LIMITS.maxBackupRetentionDays
        ) {
          add(
            'database.backupRetention',
            retention,
            `keep backups a whole number of days from ${LIMITS.minBackupRetentionDays} to ${LIMITS.maxBackupRetentionDays}`,
          );
        }
      }
    }
    if (database.databaseName !== undefined && !unresolved(database.databaseName)) {
      if (typeof database.databaseName !== 'string' || !DATABASE_NAME.test(database.databaseName)) {
        add(
          'database.databaseName',
          database.databaseName,
          'use lower-case letters, digits and underscores, starting with a letter (at most 63)',
        );
      }
    }
    if (database.performanceInsights !== undefined && !isObject(database.performanceInsights)) {
      add(
        'database.performanceInsights',
        database.performanceInsights,
        'pass { retention } or {} to turn it on',
      );
    }
  }

  // --- proxy ---------------------------------------------------------------------------------------
  const proxy = raw.proxy;
  if (proxy !== undefined) {
    if (!isObject(database) || !isObject(database.writer)) {
      add(
        'proxy',
        proxy,
        'an RDS Proxy pools connections to a database: add database.writer or remove proxy',
      );
    }
    if (!isObject(proxy)) {
      add('proxy', proxy, 'pass {} (defaults) or { maxConnectionsPercent }');
    } else {
      const percent = proxy.maxConnectionsPercent;
      if (
        percent !== undefined &&
        !unresolved(percent) &&
        (!isInt(percent) || percent < 1 || percent > 100)
      ) {
        add('proxy.maxConnectionsPercent', percent, 'use a whole percentage from 1 to 100');
      }
      for (const key of ['idleClientTimeout', 'borrowTimeout'] as const) {
        const value = proxy[key];
        if (value === undefined) continue;
        if (!isDuration(value) || value.toSeconds() <= 0) {
          add(`proxy.${key}`, value, 'use a positive Duration, e.g. Duration.minutes(30)');
        }
      }
    }
  }

  // --- cache ---------------------------------------------------------------------------------------
  const cache = raw.cache;
  if (cache !== undefined) {
    if (!isObject(cache)) {
      add('cache', cache, 'pass { cacheNodeType, numCacheClusters } or leave cache out');
    } else {
      const nodeType = cache.cacheNodeType;
      if (!unresolved(nodeType) && (typeof nodeType !== 'string' || !CACHE_NODE_TYPE.test(nodeType))) {
        add(
          'cache.cacheNodeType',
          nodeType,
          'use an ElastiCache node type, e.g. "cache.t4g.small" or "cache.r7g.large"',
        );
      }
      const nodes = cache.numCacheClusters;
      if (
        !unresolved(nodes) &&
        (!isInt(nodes) || nodes < LIMITS.minCacheNodes || nodes > LIMITS.maxCacheNodes)
      ) {
        add(
          'cache.numCacheClusters',
          nodes,
          `use ${LIMITS.minCacheNodes}-${LIMITS.maxCacheNodes} nodes (a primary and at least one replica, for Multi-AZ failover)`,
        );
      }
      const version = cache.engineVersion;
      if (version !== undefined && !unresolved(version)) {
        const match = typeof version === 'string' ? REDIS_VERSION.exec(version) : null;
        if (!match || Number(match[1]) < 7) {
          add(
            'cache.engineVersion',
            version,
            'use a Redis version "major.minor" of 7.0 or later, e.g. "7.1"',
          );
        }
      }
      const snapshots = cache.snapshotRetentionLimit;
      if (
        snapshots !== undefined &&
        !unresolved(snapshots) &&
        (!isInt(snapshots) || snapshots < 0 || snapshots > 35)
      ) {
        add('cache.snapshotRetentionLimit', snapshots, 'use a whole number of days from 0 (off) to 35');
      }
    }
  }

  // --- monitoring ----------------------------------------------------------------------------------
  if (!isObject(raw.monitoring)) {
    add('monitoring', raw.monitoring, 'add alarm thresholds, e.g. monitoring: DEFAULT_MONITORING_CONFIG');
  } else {
    // The same check as StageMonitoring's own, so a bad threshold is reported here with the rest.
    problems.push(...monitoringConfigProblems(raw.monitoring, 'monitoring.'));
  }

  return problems;
}
