/**
 * Checks a stage configuration before any construct is built: every problem is collected and reported
 * in one error that names the key, the value received and the fix. Unresolved tokens are skipped
 * (their value is only known at deploy time).
 */
import { Duration, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { SHARD_ZERO_ID, STABLE_ID } from './naming';
import type { NetworkConfig, StageConfig } from './stage-config';
import { CONTEXT_KEYS, type ConfigProblem, type DeploymentContext } from './deployment-context';
import {
  DATABASE_DEFAULTS,
  DEFAULT_MONITORING_CONFIG,
  INVALIDATION_QUEUE_DEFAULTS,
  LIMITS,
  LOGICAL_REPLICATION_DEFAULTS,
  NETWORK_DEFAULTS,
  SUBNET_LAYOUT,
} from './defaults';
import { EVENT_ROUTES } from './event-routes';
import { monitoringConfigProblems } from './monitoring-config';
import { globalSessionsConfigProblems } from './validate-global';

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
/** A problem list with the two helpers every section check uses. */
function collector() {
  const problems: ConfigProblem[] = [];
  const add = (key: string, received: unknown, fix: string) => problems.push({ key, received, fix });
  const intAtLeast = (key: string, value: unknown, min: number, fix: string) => {
    if (unresolved(value)) return;
    if (!isInt(value) || value < min) add(key, value, fix);
  };
  return { problems, add, intAtLeast };
}

/**
 * Every problem of a network section (`NetworkConfig`; `NetworkStack` checks its own with it).
 *
 * @param value - the section, treated as untyped (configs also come from JSON and tools)
 * @param prefix - put before each field name in a problem's key, e.g. `service.` or `config.`
 */
export function networkConfigProblems(
  value: unknown,
  prefix = 'network.',
  availabilityZoneCount?: number,
): ConfigProblem[] {
  const { problems, add } = collector();
  const section = prefix.replace(/\.$/, '');
  const network = value as Loose;
  let maxAzs: number = NETWORK_DEFAULTS.maxAzs;
  if (!isObject(network)) {
    add(section, network, 'add a network section, e.g. { natGateways: 1 }');
  } else {
    if (network.maxAzs !== undefined && !unresolved(network.maxAzs)) {
      if (!isInt(network.maxAzs) || network.maxAzs < LIMITS.minAzs) {
        add(
          `${prefix}maxAzs`,
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
          `${prefix}natGateways`,
          network.natGateways,
          'use at least 1: the tasks run in private subnets and pull their image through a NAT gateway',
        );
      } else if (network.natGateways > maxAzs) {
        add(
          `${prefix}natGateways`,
          network.natGateways,
          `use at most one per AZ (network.maxAzs = ${maxAzs})`,
        );
      }
    }
    if (network.cidr !== undefined) problems.push(...networkCidrProblems(network.cidr, maxAzs));
  }
  if (availabilityZoneCount !== undefined && availabilityZoneCount > 0 && availabilityZoneCount < maxAzs) {
    add(
      `${prefix}maxAzs`,
      maxAzs,
      `the context provides only ${availabilityZoneCount} availability zones; lower maxAzs or pass more zones`,
    );
  }
  return problems;
}

/**
 * Every problem of a service section (`ServiceConfig`; `AppService` checks its own with it).
 *
 * @param value - the section, treated as untyped (configs also come from JSON and tools)
 * @param prefix - put before each field name in a problem's key, e.g. `service.` or `config.`
 */
export function serviceConfigProblems(value: unknown, prefix = 'service.'): ConfigProblem[] {
  const { problems, add, intAtLeast } = collector();
  const section = prefix.replace(/\.$/, '');
  const service = value as Loose;
  if (!isObject(service)) {
    add(section, service, 'add a service section, e.g. { cpu: 512, memoryLimitMiB: 1024, desiredCount: 1 }');
  } else {
    const cpu = service.cpu;
    const memory = service.memoryLimitMiB;
    const range = isInt(cpu) ? LIMITS.fargate[cpu] : undefined;
    if (!unresolved(cpu) && range === undefined) {
      add(`${prefix}cpu`, cpu, `use one of the Fargate sizes ${Object.keys(LIMITS.fargate).join(', ')}`);
    }
    if (!unresolved(memory)) {
      if (!isInt(memory) || memory <= 0) {
        add(`${prefix}memoryLimitMiB`, memory, 'use a positive whole number of MiB, e.g. 1024');
      } else if (range !== undefined) {
        const [min, max, step] = range;
        if (memory < min || memory > max || (memory - min) % step !== 0) {
          add(
            `${prefix}memoryLimitMiB`,
            memory,
            `with cpu ${String(cpu)} Fargate allows ${min}-${max} MiB in steps of ${step}`,
          );
        }
      }
    }
    // desiredCount and autoscaling are a union (ServiceConfig): a fixed count, or autoscaling that owns it.
    if (service.autoscaling !== undefined && service.desiredCount !== undefined) {
      add(
        `${prefix}desiredCount`,
        service.desiredCount,
        'remove it: with autoscaling, minCapacity is the count a deployment starts from and the policies own it',
      );
    } else if (service.autoscaling === undefined) {
      intAtLeast(
        `${prefix}desiredCount`,
        service.desiredCount,
        1,
        'run at least 1 task (a whole number), or add autoscaling',
      );
    }
    if (
      service.cpuArchitecture !== undefined &&
      service.cpuArchitecture !== 'ARM64' &&
      service.cpuArchitecture !== 'X86_64'
    ) {
      add(`${prefix}cpuArchitecture`, service.cpuArchitecture, 'use "ARM64" (Graviton) or "X86_64"');
    }
    const scaling = service.autoscaling;
    if (scaling !== undefined) {
      if (!isObject(scaling)) {
        add(
          `${prefix}autoscaling`,
          scaling,
          'pass { minCapacity, maxCapacity, targetCpuUtilizationPercent }',
        );
      } else {
        const { minCapacity: min, maxCapacity: max } = scaling;
        intAtLeast(`${prefix}autoscaling.minCapacity`, min, 1, 'keep at least 1 task (a whole number)');
        intAtLeast(`${prefix}autoscaling.maxCapacity`, max, 1, 'allow at least 1 task (a whole number)');
        if (isInt(min) && isInt(max) && min > max) {
          add(
            `${prefix}autoscaling.minCapacity`,
            min,
            `must not exceed service.autoscaling.maxCapacity (${max}); raise maxCapacity or lower minCapacity`,
          );
        }
        const cpuTarget = scaling.targetCpuUtilizationPercent;
        if (
          !unresolved(cpuTarget) &&
          (typeof cpuTarget !== 'number' || !(cpuTarget >= 10 && cpuTarget <= 90))
        ) {
          add(
            `${prefix}autoscaling.targetCpuUtilizationPercent`,
            cpuTarget,
            'use a percentage between 10 and 90 (e.g. 60): headroom for spikes while new tasks start',
          );
        }
        if (scaling.requestsPerTarget !== undefined) {
          intAtLeast(
            `${prefix}autoscaling.requestsPerTarget`,
            scaling.requestsPerTarget,
            1,
            'use a positive whole number of requests per target per minute, or leave it out',
          );
        }
        for (const key of ['scaleInCooldown', 'scaleOutCooldown'] as const) {
          if (scaling[key] !== undefined && !isDuration(scaling[key])) {
            add(`${prefix}autoscaling.${key}`, scaling[key], 'use a Duration, e.g. Duration.minutes(5)');
          }
        }
      }
    }
  }
  return problems;
}

/**
 * Every problem of a database section (`DatabaseConfig`; `AuroraShard` checks its own with it).
 *
 * @param value - the section, treated as untyped (configs also come from JSON and tools)
 * @param prefix - put before each field name in a problem's key, e.g. `service.` or `config.`
 */
export function databaseConfigProblems(value: unknown, prefix = 'database.'): ConfigProblem[] {
  const { problems, add } = collector();
  const section = prefix.replace(/\.$/, '');
  const database = value as Loose;
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
    add(section, database, 'add a database section with a writer: { writer: { instanceType } }');
  } else {
    if (!isObject(database.writer)) {
      add(
        `${prefix}writer`,
        database.writer,
        database.readers !== undefined
          ? 'readers replicate from a writer: add database.writer, or remove database.readers'
          : 'add database.writer: { instanceType }',
      );
    } else {
      checkInstanceType(`${prefix}writer.instanceType`, database.writer);
    }
    const readers = database.readers;
    if (readers !== undefined) {
      if (!isObject(readers)) {
        add(`${prefix}readers`, readers, 'pass { count, instanceType } or leave readers out');
      } else {
        if (
          !unresolved(readers.count) &&
          (!isInt(readers.count) || readers.count < 1 || readers.count > LIMITS.maxReaders)
        ) {
          add(
            `${prefix}readers.count`,
            readers.count,
            `use a whole number from 1 to ${LIMITS.maxReaders}, or remove database.readers for no readers`,
          );
        }
        checkInstanceType(`${prefix}readers.instanceType`, readers);
      }
    }
    const retention = database.backupRetention;
    if (retention !== undefined) {
      if (!isDuration(retention)) {
        add(`${prefix}backupRetention`, retention, 'use a Duration, e.g. Duration.days(7)');
      } else if (!unresolved(retention.toDays({ integral: false }))) {
        const days = retention.toDays({ integral: false });
        if (
          !Number.isInteger(days) ||
          days < LIMITS.minBackupRetentionDays ||
          days > LIMITS.maxBackupRetentionDays
        ) {
          add(
            `${prefix}backupRetention`,
            retention,
            `keep backups a whole number of days from ${LIMITS.minBackupRetentionDays} to ${LIMITS.maxBackupRetentionDays}`,
          );
        }
      }
    }
    if (database.databaseName !== undefined && !unresolved(database.databaseName)) {
      if (typeof database.databaseName !== 'string' || !DATABASE_NAME.test(database.databaseName)) {
        add(
          `${prefix}databaseName`,
          database.databaseName,
          'use lower-case letters, digits and underscores, starting with a letter (at most 63)',
        );
      }
    }
    if (database.performanceInsights !== undefined && !isObject(database.performanceInsights)) {
      add(
        `${prefix}performanceInsights`,
        database.performanceInsights,
        'pass { retention } or {} to turn it on',
      );
    }
    problems.push(
      ...logicalReplicationConfigProblems(database.logicalReplication, `${prefix}logicalReplication.`),
    );
  }
  return problems;
}

/**
 * Every problem of a logical replication section (`LogicalReplicationConfig`): whole numbers in range, and
 * at least as many WAL senders as slots (every active slot streams through one).
 *
 * @param value - the section, treated as untyped (configs also come from JSON and tools)
 * @param prefix - put before each field name in a problem's key, e.g. `database.logicalReplication.`
 */
export function logicalReplicationConfigProblems(
  value: unknown,
  prefix = 'database.logicalReplication.',
): ConfigProblem[] {
  const { problems, add, intAtLeast } = collector();
  if (value === undefined) return problems;
  if (!isObject(value)) {
    add(
      prefix.replace(/\.$/, ''),
      value,
      'pass {} (defaults) or { maxReplicationSlots, ... }, or leave it out',
    );
    return problems;
  }
  const counts = ['maxReplicationSlots', 'maxWalSenders', 'maxLogicalReplicationWorkers'] as const;
  for (const key of counts) {
    const count = value[key];
    if (count === undefined || unresolved(count)) continue;
    // PostgreSQL's own upper bound for these (and max_connections) is 262143; far below it is sane.
    if (!isInt(count) || count < 1 || count > 1000) {
      add(`${prefix}${key}`, count, 'use a whole number from 1 to 1000');
    }
  }
  for (const key of ['replicationSlotLagAlarmMiB', 'transactionLogsDiskUsageAlarmMiB'] as const) {
    intAtLeast(`${prefix}${key}`, value[key] ?? 1, 1, 'use a whole number of MiB, at least 1');
  }
  const slots = value.maxReplicationSlots ?? LOGICAL_REPLICATION_DEFAULTS.maxReplicationSlots;
  const senders = value.maxWalSenders ?? LOGICAL_REPLICATION_DEFAULTS.maxWalSenders;
  if (isInt(slots) && isInt(senders) && senders < slots) {
    add(
      `${prefix}maxWalSenders`,
      senders,
      `use at least maxReplicationSlots (${slots}): every active slot streams through its own WAL sender`,
    );
  }
  return problems;
}

/**
 * The SQS limits of a queue section's `maxReceiveCount` (redrive policy) and `retentionPeriod`, shared by the
 * invalidation queue and the domain events' queues.
 */
function queueLimitProblems(
  value: Record<string, unknown>,
  prefix: string,
  add: ReturnType<typeof collector>['add'],
): void {
  const receives = value.maxReceiveCount;
  if (
    receives !== undefined &&
    !unresolved(receives) &&
    (!isInt(receives) || receives < 1 || receives > 1000)
  ) {
    add(
      `${prefix}maxReceiveCount`,
      receives,
      'use a whole number from 1 to 1000 (the SQS redrive policy limits)',
    );
  }
  const retention = value.retentionPeriod;
  if (retention !== undefined) {
    const seconds = isDuration(retention) ? retention.toSeconds() : undefined;
    if (seconds === undefined || (!unresolved(seconds) && (seconds < 60 || seconds > 1_209_600))) {
      add(`${prefix}retentionPeriod`, retention, 'use a Duration from 1 minute to 14 days (SQS limits)');
    }
  }
}

/**
 * Every problem of the invalidation queue section (`InvalidationQueueConfig`), and a queue without a
 * cache when `cache` is given (`null` for "the stage has none").
 *
 * @param value - the section, treated as untyped (configs also come from JSON and tools)
 * @param prefix - put before each field name in a problem's key, e.g. `invalidationQueue.` or `config.`
 * @param cache - the stage's cache section, when the caller knows it
 */
export function invalidationQueueConfigProblems(
  value: unknown,
  prefix = 'invalidationQueue.',
  cache?: unknown,
): ConfigProblem[] {
  const { problems, add } = collector();
  const section = prefix.replace(/\.$/, '');
  if (value === undefined) return problems;
  if (cache !== undefined && !isObject(cache)) {
    add(
      section,
      value,
      'the queue carries invalidations of the shared Redis cache (the app refuses INVALIDATION_QUEUE=sqs ' +
        'with CACHE_STORE=memory): add cache, or remove invalidationQueue',
    );
  }
  if (!isObject(value)) {
    add(section, value, 'pass {} (defaults) or { maxReceiveCount, retentionPeriod, oldestMessageAgeAlarm }');
    return problems;
  }
  queueLimitProblems(value, prefix, add);
  const retention = value.retentionPeriod;
  const age = value.oldestMessageAgeAlarm;
  if (age !== undefined && (!isDuration(age) || age.toSeconds() <= 0)) {
    add(`${prefix}oldestMessageAgeAlarm`, age, 'use a positive Duration, e.g. Duration.minutes(1)');
  } else {
    // The alarm must be reachable: a message older than the retention period is gone before it fires.
    const alarmSeconds = (age ?? INVALIDATION_QUEUE_DEFAULTS.oldestMessageAgeAlarm).toSeconds();
    const kept = isDuration(retention) ? retention : INVALIDATION_QUEUE_DEFAULTS.retentionPeriod;
    if (!unresolved(kept.toSeconds()) && !unresolved(alarmSeconds) && alarmSeconds >= kept.toSeconds()) {
      add(
        `${prefix}oldestMessageAgeAlarm`,
        age ?? INVALIDATION_QUEUE_DEFAULTS.oldestMessageAgeAlarm,
        `use less than the retention period (${kept.toString()}): an older message is deleted before the alarm can fire`,
      );
    }
  }
  return problems;
}

/**
 * Every problem of a proxy section (`ProxyConfig`), and a proxy without a database writer when `database` is given.
 *
 * @param value - the section, treated as untyped (configs also come from JSON and tools)
 * @param prefix - put before each field name in a problem's key, e.g. `service.` or `config.`
 */
export function proxyConfigProblems(value: unknown, prefix = 'proxy.', database?: unknown): ConfigProblem[] {
  const { problems, add } = collector();
  const section = prefix.replace(/\.$/, '');
  const proxy = value;
  if (proxy !== undefined) {
    if (database !== undefined && (!isObject(database) || !isObject(database.writer))) {
      add(
        section,
        proxy,
        'an RDS Proxy pools connections to a database: add database.writer or remove proxy',
      );
    }
    if (!isObject(proxy)) {
      add(section, proxy, 'pass {} (defaults) or { maxConnectionsPercent }');
    } else {
      const percent = proxy.maxConnectionsPercent;
      if (
        percent !== undefined &&
        !unresolved(percent) &&
        (!isInt(percent) || percent < 1 || percent > 100)
      ) {
        add(`${prefix}maxConnectionsPercent`, percent, 'use a whole percentage from 1 to 100');
      }
      for (const key of ['idleClientTimeout', 'borrowTimeout'] as const) {
        const value = proxy[key];
        if (value === undefined) continue;
        if (!isDuration(value) || value.toSeconds() <= 0) {
          add(`${prefix}${key}`, value, 'use a positive Duration, e.g. Duration.minutes(30)');
        }
      }
    }
  }
  return problems;
}

/**
 * Every problem of a cache section (`CacheConfig`; `RedisCache` checks its own with it).
 *
 * @param value - the section, treated as untyped (configs also come from JSON and tools)
 * @param prefix - put before each field name in a problem's key, e.g. `service.` or `config.`
 */
export function cacheConfigProblems(value: unknown, prefix = 'cache.'): ConfigProblem[] {
  const { problems, add } = collector();
  const section = prefix.replace(/\.$/, '');
  const cache = value;
  if (cache !== undefined) {
    if (!isObject(cache)) {
      add(section, cache, 'pass { cacheNodeType, numCacheClusters } or leave cache out');
    } else {
      const nodeType = cache.cacheNodeType;
      if (!unresolved(nodeType) && (typeof nodeType !== 'string' || !CACHE_NODE_TYPE.test(nodeType))) {
        add(
          `${prefix}cacheNodeType`,
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
          `${prefix}numCacheClusters`,
          nodes,
          `use ${LIMITS.minCacheNodes}-${LIMITS.maxCacheNodes} nodes (a primary and at least one replica, for Multi-AZ failover)`,
        );
      }
      const version = cache.engineVersion;
      if (version !== undefined && !unresolved(version)) {
        const match = typeof version === 'string' ? REDIS_VERSION.exec(version) : null;
        if (!match || Number(match[1]) < 7) {
          add(
            `${prefix}engineVersion`,
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
        add(`${prefix}snapshotRetentionLimit`, snapshots, 'use a whole number of days from 0 (off) to 35');
      }
    }
  }
  return problems;
}

/** Listener-rule priorities a service may use: 1 is the platform's `/metrics` block. */
const MIN_ROUTE_PRIORITY = 2;
const MAX_ROUTE_PRIORITY = 50000;

/**
 * Every problem of the stage's further services (`services`): ids, routes (unique priorities, path
 * patterns) and each service's own section.
 */
export function servicesConfigProblems(value: unknown, prefix = 'services.'): ConfigProblem[] {
  const { problems, add } = collector();
  if (value === undefined) return problems;
  if (!isObject(value)) {
    add(
      prefix.replace(/\.$/, ''),
      value,
      'pass an object keyed by service id, e.g. { users: { ...service, route } }',
    );
    return problems;
  }
  const priorities = new Map<number, string>();
  for (const [id, service] of Object.entries(value)) {
    const key = `${prefix}${id}`;
    if (!STABLE_ID.test(id) || id === 'shop') {
      add(
        key,
        id,
        'use a service id of 1-12 lower-case letters and digits, starting with a letter (not "shop", the stage\'s first service)',
      );
    }
    problems.push(...serviceConfigProblems(service, `${key}.`));
    const route = isObject(service) ? service.route : undefined;
    if (!isObject(route)) {
      add(
        `${key}.route`,
        route,
        'give { pathPatterns: ["/api/users/*"], priority: 10 }: the paths this service answers',
      );
      continue;
    }
    const shardAccess = isObject(service) ? service.shardAccess : undefined;
    if (shardAccess !== undefined && shardAccess !== 'catalog' && shardAccess !== 'all') {
      add(
        `${key}.shardAccess`,
        shardAccess,
        'use "catalog" (shard 0 only) or "all" (every shard), or leave it out',
      );
    }
    const calls = isObject(service) ? service.calls : undefined;
    if (calls !== undefined) {
      if (!Array.isArray(calls)) {
        add(`${key}.calls`, calls, 'give the ids of the services it calls, e.g. ["products"]');
      } else {
        for (const called of calls) {
          const other = typeof called === 'string' ? value[called] : undefined;
          if (called === id || !isObject(other)) {
            add(`${key}.calls`, called, 'name another service under services (its id), e.g. "products"');
          } else if (Array.isArray(other.calls) && other.calls.includes(id)) {
            add(
              `${key}.calls`,
              called,
              `services.${called} calls ${id} too: a called service is deployed before its callers, so calls must not form a cycle`,
            );
          }
        }
      }
    }
    const patterns = route.pathPatterns;
    if (
      !Array.isArray(patterns) ||
      patterns.length < 1 ||
      patterns.length > 5 ||
      patterns.some(
        (pattern) => typeof pattern !== 'string' || !pattern.startsWith('/') || pattern.length > 128,
      )
    ) {
      add(
        `${key}.route.pathPatterns`,
        patterns,
        'give 1-5 path patterns starting with "/", e.g. ["/api/users/*"]',
      );
    }
    const priority = route.priority;
    if (!unresolved(priority)) {
      if (!isInt(priority) || priority < MIN_ROUTE_PRIORITY || priority > MAX_ROUTE_PRIORITY) {
        add(
          `${key}.route.priority`,
          priority,
          `use a whole number from ${MIN_ROUTE_PRIORITY} to ${MAX_ROUTE_PRIORITY} (1 is the /metrics block)`,
        );
      } else if (priorities.has(priority)) {
        add(
          `${key}.route.priority`,
          priority,
          `services.${priorities.get(priority)} has it already; give each service its own`,
        );
      } else {
        priorities.set(priority, id);
      }
    }
  }
  return problems;
}

/** A route key of an HTTP API: `POST /api/sessions`. */
const ROUTE_KEY = /^(ANY|GET|HEAD|OPTIONS|PATCH|POST|PUT|DELETE) \/[A-Za-z0-9._~\-/{}+]*$/;

/** Problems of one gateway throttle (`{ rateLimit, burstLimit }`). */
function throttleProblems(value: unknown, key: string): ConfigProblem[] {
  const { problems, add } = collector();
  const fix = 'give { rateLimit: <requests per second, > 0>, burstLimit: <whole number, 1-5000> }';
  if (!isObject(value)) {
    add(key, value, fix);
    return problems;
  }
  const { rateLimit, burstLimit } = value;
  if (!unresolved(rateLimit) && (typeof rateLimit !== 'number' || !(rateLimit > 0))) {
    add(`${key}.rateLimit`, rateLimit, fix);
  }
  if (!unresolved(burstLimit) && (!isInt(burstLimit) || burstLimit < 1 || burstLimit > 5000)) {
    add(`${key}.burstLimit`, burstLimit, fix);
  }
  return problems;
}

/**
 * Every problem of the API gateway (`gateway`): its default service is one of `services`, throttles are
 * positive, route keys are `METHOD /path`.
 */
export function gatewayConfigProblems(
  value: unknown,
  services: unknown,
  prefix = 'gateway.',
): ConfigProblem[] {
  const { problems, add } = collector();
  if (!isObject(value)) {
    add(prefix.replace(/\.$/, ''), value, 'pass { defaultService: "products" } or leave gateway out');
    return problems;
  }
  const ids = isObject(services) ? Object.keys(services) : [];
  if (typeof value.defaultService !== 'string' || !ids.includes(value.defaultService)) {
    add(
      `${prefix}defaultService`,
      value.defaultService,
      ids.length > 0
        ? `name one of the services (${ids.join(', ')}): it answers what no route matches`
        : 'add services first: the gateway routes to them',
    );
  }
  if (value.throttle !== undefined) problems.push(...throttleProblems(value.throttle, `${prefix}throttle`));
  if (value.routeThrottles !== undefined) {
    if (!isObject(value.routeThrottles)) {
      add(
        `${prefix}routeThrottles`,
        value.routeThrottles,
        'give { "POST /api/sessions": { rateLimit, burstLimit } }',
      );
    } else {
      for (const [routeKey, throttle] of Object.entries(value.routeThrottles)) {
        if (!ROUTE_KEY.test(routeKey)) {
          add(
            `${prefix}routeThrottles`,
            routeKey,
            'use a route key "METHOD /path", e.g. "POST /api/sessions"',
          );
        }
        problems.push(...throttleProblems(throttle, `${prefix}routeThrottles.${routeKey}`));
      }
    }
  }
  return problems;
}

/**
 * Every problem of the domain events (`events`): the invalidation queue exists (cache invalidations ride the
 * bus), every consumer of `EVENT_ROUTES` is one of `services`, and the queue settings are within SQS limits.
 */
export function eventsConfigProblems(
  value: unknown,
  services: unknown,
  invalidationQueue: unknown,
  prefix = 'events.',
): ConfigProblem[] {
  const { problems, add } = collector();
  const section = prefix.replace(/\.$/, '');
  if (!isObject(value)) {
    add(
      section,
      value,
      'pass {} (defaults) or { archiveRetention, maxReceiveCount, ... }, or leave events out',
    );
    return problems;
  }
  if (!isObject(invalidationQueue)) {
    add(
      section,
      value,
      'add invalidationQueue: CacheTagsInvalidated events are routed to it (cache invalidation rides the bus)',
    );
  }
  const ids = isObject(services) ? Object.keys(services) : [];
  for (const consumer of Object.keys(EVENT_ROUTES)) {
    if (!ids.includes(consumer)) {
      add(
        section,
        value,
        `add services.${consumer}: it consumes ${EVENT_ROUTES[consumer]!.join(', ')} (EVENT_ROUTES, lib/config/event-routes.ts)`,
      );
    }
  }
  queueLimitProblems(value, prefix, add);
  const archive = value.archiveRetention;
  if (archive !== undefined && (!isDuration(archive) || archive.toDays({ integral: false }) < 1)) {
    add(`${prefix}archiveRetention`, archive, 'use a Duration of at least a day, e.g. Duration.days(30)');
  }
  const age = value.oldestMessageAgeAlarm;
  if (age !== undefined && (!isDuration(age) || age.toSeconds() <= 0)) {
    add(`${prefix}oldestMessageAgeAlarm`, age, 'use a positive Duration, e.g. Duration.minutes(5)');
  }
  return problems;
}

/**
 * Every problem of the stage's further shards (`shards`): ids and each shard's database and proxy.
 * Shard ids are keys, so they are unique; that they are permanent across stages is
 * {@link shardIdsDropped}'s to check.
 */
export function shardsConfigProblems(value: unknown, prefix = 'shards.'): ConfigProblem[] {
  const { problems, add } = collector();
  if (value === undefined) return problems;
  if (!isObject(value)) {
    add(
      prefix.replace(/\.$/, ''),
      value,
      'pass an object keyed by a stable shard id, e.g. { s1: { writer: { instanceType } } }',
    );
    return problems;
  }
  for (const [id, shard] of Object.entries(value)) {
    const key = `${prefix}${id}`;
    if (!STABLE_ID.test(id) || id === SHARD_ZERO_ID) {
      add(
        key,
        id,
        `use a shard id of 1-12 lower-case letters and digits, starting with a letter (e.g. "s1"); ${SHARD_ZERO_ID} is the stage's database`,
      );
    }
    if (!isObject(shard)) {
      add(key, shard, "give the shard's cluster, e.g. { writer: { instanceType } }");
      continue;
    }
    const { proxy, ...database } = shard;
    problems.push(...databaseConfigProblems(database, `${key}.`));
    if (proxy !== undefined) problems.push(...proxyConfigProblems(proxy, `${key}.proxy.`, database));
  }
  return problems;
}

/**
 * Every shard whose database name differs from shard 0's: the app connects to every shard with `DB_NAME`
 * (`SHARD_ENDPOINTS` carries hosts, port and secret, not a name), so all shards use one database name.
 */
export function shardDatabaseNameProblems(database: unknown, shards: unknown): ConfigProblem[] {
  const { problems, add } = collector();
  if (!isObject(shards)) return problems;
  const nameOf = (section: unknown) =>
    (isObject(section) ? section.databaseName : undefined) ?? DATABASE_DEFAULTS.databaseName;
  const expected = nameOf(database);
  for (const [id, shard] of Object.entries(shards)) {
    const name = nameOf(shard);
    if (unresolved(name) || unresolved(expected) || name === expected) continue;
    add(
      `shards.${id}.databaseName`,
      name,
      `use shard 0's database name "${String(expected)}" (database.databaseName): the app reaches every shard with DB_NAME`,
    );
  }
  return problems;
}

/**
 * Shard ids of `previous` that `next` no longer has. A shard id is permanent (it names the shard's stack,
 * cluster and alarms): dropping one would delete a shard, so a later stage keeps every id of the one before.
 */
export function shardIdsDropped(previous: StageConfig, next: StageConfig): string[] {
  const ids = (config: StageConfig) => Object.keys(config.shards ?? {});
  const kept = new Set(ids(next));
  return ids(previous).filter((id) => !kept.has(id));
}

/**
 * Every problem of a stage configuration (empty when it is sound): each section with the same check its
 * construct runs on its own props, so that `cdk synth` reports them all in one error.
 *
 * The input is treated as untyped: configs also come from JSON, tests and tools, where the type
 * checker did not run.
 *
 * @param config - the stage configuration
 * @param availabilityZoneCount - zones the deployment context provides
 */
export function validateStageConfig(config: StageConfig, availabilityZoneCount?: number): ConfigProblem[] {
  const { problems, add } = collector();
  const raw = config as unknown as Record<string, unknown>;

  if (typeof raw.description !== 'string' || raw.description.trim() === '') {
    add('description', raw.description, 'describe in one line whom the stage serves');
  }
  problems.push(...networkConfigProblems(raw.network, 'network.', availabilityZoneCount));
  problems.push(...serviceConfigProblems(raw.service, 'service.'));
  if (isObject(raw.service) && raw.service.route !== undefined) {
    add('service.route', raw.service.route, "remove it: the stage's first service is the listener's default");
  }
  problems.push(...servicesConfigProblems(raw.services, 'services.'));
  problems.push(...databaseConfigProblems(raw.database, 'database.'));
  if (raw.proxy !== undefined)
    problems.push(...proxyConfigProblems(raw.proxy, 'proxy.', raw.database ?? null));
  problems.push(...shardsConfigProblems(raw.shards, 'shards.'));
  problems.push(...shardDatabaseNameProblems(raw.database, raw.shards));
  if (raw.cache !== undefined) problems.push(...cacheConfigProblems(raw.cache, 'cache.'));
  problems.push(
    ...invalidationQueueConfigProblems(raw.invalidationQueue, 'invalidationQueue.', raw.cache ?? null),
  );

  if (raw.gateway !== undefined) problems.push(...gatewayConfigProblems(raw.gateway, raw.services));
  if (raw.events !== undefined) {
    problems.push(...eventsConfigProblems(raw.events, raw.services, raw.invalidationQueue));
  }
  problems.push(...globalSessionsConfigProblems(raw));

  if (raw.global !== undefined) problems.push(...globalConfigProblems(raw));

  if (raw.monitoring !== undefined && !isObject(raw.monitoring)) {
    add(
      'monitoring',
      raw.monitoring,
      'give the thresholds that differ from DEFAULT_MONITORING_CONFIG, or leave it out',
    );
  } else {
    // The same check as StageMonitoring's own, so a bad threshold is reported here with the rest.
    problems.push(
      ...monitoringConfigProblems({ ...DEFAULT_MONITORING_CONFIG, ...(raw.monitoring ?? {}) }, 'monitoring.'),
    );
  }
  return problems;
}

// --- stage global ----------------------------------------------------------------------------------------

/** The Aurora instance class fix for Global Database, which rejects burstable (`db.t*`) classes. */
const GLOBAL_DATABASE_CLASS_FIX =
  'Aurora Global Database rejects burstable db.t* classes: use a memory-optimised class, e.g. ' +
  'ec2.InstanceType.of(ec2.InstanceClass.R7G, ec2.InstanceSize.LARGE) (db.r7g.large)';

/** Whether an instance type (`t4g.medium`, `db.t3.large`) is a burstable class. */
function isBurstable(instanceType: unknown): boolean {
  if (instanceType === undefined || instanceType === null || unresolved(instanceType)) return false;
  return /^(db\.)?t\d/.test(String(instanceType));
}

/**
 * Every problem of a stage's `global` section and of what stage global needs from the rest of the stage: a cache
 * (sessions replicated to every region), the API gateway (each region's front door), readers for the secondary
 * clusters, memory-optimised instance classes on every Aurora cluster (Global Database rejects `db.t*`), and a
 * valid `global.database` section.
 *
 * @param raw - the stage configuration, treated as untyped (configs also come from JSON and tools)
 */
export function globalConfigProblems(raw: Record<string, unknown>): ConfigProblem[] {
  const { problems, add } = collector();
  const global = raw.global;
  if (!isObject(global)) {
    add('global', global, 'pass { database: {}, sessions: {}, edge: {}, routing: {} }, or leave global out');
    return problems;
  }
  for (const section of ['database', 'sessions', 'edge', 'routing'] as const) {
    if (!isObject(global[section]))
      add(`global.${section}`, global[section], `pass global.${section}: {} (its defaults)`);
  }
  if (raw.cache === undefined) {
    add(
      'cache',
      undefined,
      "stage global replicates sessions to every region (ElastiCache Global Datastore): add cache, e.g. { cacheNodeType: 'cache.r7g.large', numCacheClusters: 2 }",
    );
  }
  if (raw.gateway === undefined) {
    add(
      'gateway',
      undefined,
      "stage global routes each region's API through its gateway: add gateway and services (stage 1m)",
    );
  }
  const database = isObject(global.database) ? global.database : {};
  const secondaryReaders = database.secondaryReaders;
  if (secondaryReaders !== undefined) {
    if (!isObject(secondaryReaders)) {
      add(
        'global.database.secondaryReaders',
        secondaryReaders,
        'pass { count, instanceType } or leave it out (the home readers)',
      );
    } else {
      const count = secondaryReaders.count;
      if (!unresolved(count) && (!isInt(count) || count < 1 || count > LIMITS.maxReaders)) {
        add(
          'global.database.secondaryReaders.count',
          count,
          `use a whole number from 1 to ${LIMITS.maxReaders}: a secondary cluster with no instance serves no reads`,
        );
      }
      const type = secondaryReaders.instanceType;
      if (!unresolved(type) && !INSTANCE_TYPE.test(type === undefined || type === null ? '' : String(type))) {
        add('global.database.secondaryReaders.instanceType', type, GLOBAL_DATABASE_CLASS_FIX);
      } else if (isBurstable(type)) {
        add('global.database.secondaryReaders.instanceType', type, GLOBAL_DATABASE_CLASS_FIX);
      }
    }
  }
  const rpoLagAlarm = database.rpoLagAlarm;
  if (rpoLagAlarm !== undefined) {
    if (!isDuration(rpoLagAlarm)) {
      add('global.database.rpoLagAlarm', rpoLagAlarm, 'use a Duration, e.g. Duration.minutes(1)');
    } else if (!unresolved(rpoLagAlarm.toMilliseconds()) && rpoLagAlarm.toMilliseconds() < 1000) {
      add(
        'global.database.rpoLagAlarm',
        rpoLagAlarm,
        'use at least Duration.seconds(1): replication lag is normally under a second, a smaller bound only pages',
      );
    }
  }
  // Every Aurora cluster joins a global cluster: shard 0 and each further shard, writer and readers.
  const clusters: [string, unknown][] = [
    ['database', raw.database],
    ...Object.entries(isObject(raw.shards) ? raw.shards : {}).map(([id, shard]): [string, unknown] => [
      `shards.${id}`,
      shard,
    ]),
  ];
  for (const [key, cluster] of clusters) {
    if (!isObject(cluster)) continue;
    for (const role of ['writer', 'readers'] as const) {
      const instance = cluster[role];
      if (isObject(instance) && isBurstable(instance.instanceType)) {
        add(`${key}.${role}.instanceType`, instance.instanceType, GLOBAL_DATABASE_CLASS_FIX);
      }
    }
    if (secondaryReaders === undefined && !isObject(cluster.readers)) {
      add(
        `${key}.readers`,
        cluster.readers,
        "each secondary cluster needs reader instances: add readers (the secondaries copy the home cluster's), " +
          'or set global.database.secondaryReaders',
      );
    }
  }
  return problems;
}

/**
 * What stage global needs from the deployment context: at least three regions (home first), the domain and its
 * hosted zone (the edge's and every region's certificates and API hostnames), and the API gateway as the front
 * door. Empty for a stage without `global`.
 *
 * @param context - the deployment context as read by `readDeploymentContext`
 * @param hasGlobal - whether the stage has `global`
 */
export function globalContextProblems(context: DeploymentContext, hasGlobal: boolean): ConfigProblem[] {
  const { problems, add } = collector();
  if (!hasGlobal) {
    if (context.frontDoor === 'edge')
      add(
        `context.${CONTEXT_KEYS.frontDoor}`,
        context.frontDoor,
        'only stage global has the edge (CloudFront): use "-c frontDoor=gateway" or "-c frontDoor=alb"',
      );
    return problems;
  }
  const example = ['eu-west-1', 'ap-southeast-2', 'us-east-1', 'us-west-2'].filter(
    (r) => r !== context.region,
  );
  if (context.regions.length < 3) {
    add(
      `context.${CONTEXT_KEYS.regions}`,
      context.regions.map((entry) => entry.region).join(','),
      `stage global is deployed to at least 3 regions, the home region (context.region, ${context.region}) first: ` +
        `pass e.g. "-c ${CONTEXT_KEYS.regions}=${[context.region, ...example.slice(0, 2)].join(',')}"`,
    );
  }
  if (context.domainName === undefined) {
    add(
      `context.${CONTEXT_KEYS.domainName}`,
      undefined,
      'stage global serves the shop under a domain (CloudFront, api.<domain>, api-<region>.<domain>): pass e.g. ' +
        '"-c domainName=shop.example.com"',
    );
  }
  if (context.hostedZone === undefined) {
    add(
      `context.${CONTEXT_KEYS.hostedZoneId}`,
      undefined,
      "stage global writes its routing records and validates its certificates in the domain's public hosted zone: " +
        'pass "-c hostedZoneId=Z... -c hostedZoneName=example.com"',
    );
  }
  if (context.frontDoor !== 'gateway' && context.frontDoor !== 'edge') {
    add(
      `context.${CONTEXT_KEYS.frontDoor}`,
      context.frontDoor,
      "stage global routes every region's API through its gateway: finish the stage 1m cut-over, then pass " +
        '"-c frontDoor=gateway" for the upgrade (the domain stays on the gateway while the regions, the edge and the ' +
        'routing deploy), and "-c frontDoor=edge" once they have (the domain moves to CloudFront); keep it in ' +
        'cdk.json\'s "context"',
    );
  }
  return problems;
}

// --- network CIDR: the subnet layout, and what stays fixed once deployed -------------------------------

/** Prefix lengths AWS allows for a VPC's primary CIDR block. */
const VPC_PREFIX = { largest: 16, smallest: 28 } as const;

/** `10.0.0.0/16` as [address as a number, prefix length], or `undefined` when it is not an IPv4 CIDR. */
function parseCidr(cidr: unknown): [number, number] | undefined {
  const match = typeof cidr === 'string' ? CIDR.exec(cidr) : null;
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  if (octets.some((octet) => octet > 255)) return undefined;
  const address = octets.reduce((value, octet) => value * 256 + octet, 0);
  return [address, Number(match[5])];
}

/**
 * Whether the network stack's subnet layout (`SUBNET_LAYOUT`, one of each per AZ) fits into a CIDR, decided
 * by CDK's own allocator, so that the answer is what `cdk synth` would do.
 */
export function subnetLayoutFits(cidr: string, azCount: number): boolean {
  const zones = Array.from({ length: azCount }, (_, index) => `zone-${index + 1}`);
  try {
    ec2.IpAddresses.cidr(cidr).allocateSubnetsCidr({
      vpcCidr: cidr,
      requestedSubnets: SUBNET_LAYOUT.flatMap((configuration) =>
        zones.map((availabilityZone) => ({
          availabilityZone,
          configuration,
          subnetConstructId: `${configuration.name}-${availabilityZone}`,
        })),
      ),
    });
    return true;
  } catch {
    return false;
  }
}

/** The smallest VPC the subnet layout fits, as a prefix length (19 for 3 AZs: a /19 or larger). */
export function minimumVpcPrefix(azCount: number): number | undefined {
  for (let prefix: number = VPC_PREFIX.smallest; prefix >= VPC_PREFIX.largest; prefix--) {
    if (subnetLayoutFits(`10.0.0.0/${prefix}`, azCount)) return prefix;
  }
  return undefined;
}

/** `public /24, private /22, isolated /24` */
function describeLayout(): string {
  return SUBNET_LAYOUT.map((subnet) => `${subnet.name.toLowerCase()} /${subnet.cidrMask ?? '?'}`).join(', ');
}

/**
 * Problems of `network.cidr`: an IPv4 CIDR that AWS accepts for a VPC (/16 to /28, host bits zero) and that
 * the subnet layout fits for the stage's AZ count; the error names the smallest size that fits.
 *
 * @param cidr - the configured value (an unresolved token is skipped)
 * @param azCount - AZs the VPC spans (`network.maxAzs` or its default)
 */
export function networkCidrProblems(cidr: unknown, azCount: number): ConfigProblem[] {
  if (unresolved(cidr)) return [];
  const minimum = minimumVpcPrefix(azCount);
  const range = `/${VPC_PREFIX.largest} to /${minimum ?? VPC_PREFIX.smallest}`;
  const problem = (fix: string): ConfigProblem[] => [{ key: 'network.cidr', received: cidr, fix }];
  const parsed = parseCidr(cidr);
  if (!parsed || parsed[1] < VPC_PREFIX.largest || parsed[1] > VPC_PREFIX.smallest) {
    return problem(`use an IPv4 CIDR from ${range}, e.g. "${NETWORK_DEFAULTS.cidr}"`);
  }
  const [address, prefix] = parsed;
  const size = 2 ** (32 - prefix);
  if (address % size !== 0) {
    const network = address - (address % size);
    const text = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join('.');
    return problem(`use the network address "${text}/${prefix}": the bits after /${prefix} must be zero`);
  }
  if (!subnetLayoutFits(cidr as string, azCount)) {
    return problem(
      `the subnet layout (${describeLayout()} in each of ${azCount} AZs) needs at least a ` +
        `/${minimum ?? '?'}; use ${range}, e.g. "${NETWORK_DEFAULTS.cidr}"`,
    );
  }
  return [];
}

/**
 * Problems between a stage and the stage before it: the VPC's CIDR and AZ count are permanent once
 * deployed. Changing the CIDR replaces the VPC and every subnet; changing the AZ count moves or deletes
 * subnets; either strands the database, the proxy and the cache, which live in those subnets and cannot
 * move with them.
 *
 * @param previous - the stage before (its id, for the message, and its network section)
 * @param next - the network section of the stage being checked
 */
export function networkContinuityProblems(
  previous: { readonly id: string; readonly network: NetworkConfig },
  next: NetworkConfig,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const cidr = (network: NetworkConfig) => network.cidr ?? NETWORK_DEFAULTS.cidr;
  const azs = (network: NetworkConfig) => network.maxAzs ?? NETWORK_DEFAULTS.maxAzs;
  if (cidr(next) !== cidr(previous.network)) {
    problems.push({
      key: 'network.cidr',
      received: cidr(next),
      fix:
        `keep "${cidr(previous.network)}" as in stage ${previous.id}: a VPC's CIDR is permanent once deployed ` +
        '(a new one replaces the VPC and every subnet, which the database, proxy and cache cannot leave); ' +
        'for more addresses, add a secondary CIDR block instead',
    });
  }
  if (azs(next) !== azs(previous.network)) {
    problems.push({
      key: 'network.maxAzs',
      received: azs(next),
      fix:
        `keep ${azs(previous.network)} as in stage ${previous.id}: the AZ count is permanent once deployed ` +
        '(it fixes the subnet layout; a new count moves or deletes the subnets the database, proxy and cache live in)',
    });
  }
  return problems;
}
