/**
 * Every alarm of every stage can fire: its threshold lies inside the range its metric can reach with the
 * stage's sizes (instance classes, task counts, pool sizes, proxy settings). An alarm above what its metric
 * can reach is a silent alarm; one below the least (for a "less than" alarm) would always fire.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { envJsonSchema } from '../../app/src/config';
import { createBlueprintApp } from '../../lib/blueprint';
import { INVALIDATION_QUEUE_DEFAULTS, PROXY_DEFAULTS } from '../../lib/config/defaults';
import {
  appPoolConnections,
  APP_DB_POOL_MAX,
  AURORA_BYTES_PER_CONNECTION,
  AURORA_DOCUMENTED_MAX_CONNECTIONS,
  AURORA_INSTANCE_MEMORY_GIB,
  auroraMaxConnections,
  maxTaskCount,
} from '../../lib/config/monitoring-config';
import { pascalCase } from '../../lib/config/naming';
import type { DatabaseConfig, ProxyConfig, StageConfig } from '../../lib/config/stage-config';
import { auroraInstanceClass } from '../../lib/constructs/stage-monitoring';
import { stageById, stageContext, stageIds } from '../../stages';
import { maxConnections as advisorMaxConnections } from '../../tools/advisor/rules';

jest.setTimeout(120_000);

interface AlarmProperties {
  readonly AlarmName: string;
  readonly Threshold: number;
  readonly ComparisonOperator: string;
  readonly MetricName?: string;
  readonly Namespace?: string;
  readonly Dimensions?: readonly { Name: string; Value: unknown }[];
  readonly Metrics?: readonly {
    readonly Expression?: string;
    readonly MetricStat?: { readonly Metric: { readonly MetricName: string } };
  }[];
}

/** The range a metric can reach: [least, highest]. */
type Range = readonly [number, number];

/** The ALB answers 504 once a target takes longer than its idle timeout (default 60 s, not changed here). */
const ALB_IDLE_TIMEOUT_SECONDS = 60;

/** Names of the metrics an alarm reads (its own, or those of its metric math). */
function metricNames(alarm: AlarmProperties): string[] {
  if (alarm.MetricName !== undefined) return [alarm.MetricName];
  return (alarm.Metrics ?? []).flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric.MetricName] : []));
}

/** The shard an alarm watches, from its name (`<prefix>-Shard<Id>Writer-...`). */
function shardOf(config: StageConfig, name: string): { database: DatabaseConfig; proxy?: ProxyConfig } {
  const ids = ['0', ...Object.keys(config.shards ?? {})];
  const id = ids.find((shardId) => name.includes(`-Shard${pascalCase(shardId)}`));
  if (id === undefined) throw new Error(`${name}: no shard id in the name`);
  if (id === '0') return { database: config.database, ...(config.proxy ? { proxy: config.proxy } : {}) };
  const { proxy, ...database } = config.shards![id]!;
  return { database, ...(proxy ? { proxy } : {}) };
}

/** The range of the metric an alarm reads, for the stage's sizes; written from the sizes, not from the alarm. */
function reachable(config: StageConfig, alarm: AlarmProperties): Range {
  const names = metricNames(alarm);
  const name = alarm.AlarmName;
  const services = [config.service, ...Object.values(config.services ?? {})];
  const percent: Range = [0, 100];
  if (['HTTPCode_Target_5XX_Count', 'CacheHits', 'cache_requests_total'].some((m) => names.includes(m))) {
    return percent;
  }
  const [metric] = names;
  switch (metric) {
    case 'CPUUtilization':
    case 'MemoryUtilization':
    case 'EngineCPUUtilization':
    case 'DatabaseMemoryUsagePercentage':
      return percent;
    case 'TargetResponseTime':
      return [0, ALB_IDLE_TIMEOUT_SECONDS];
    case 'HealthyHostCount':
    case 'UnHealthyHostCount':
      // A target group holds the tasks of one service; the largest service bounds every one.
      return [0, Math.max(...services.map(maxTaskCount))];
    // Messages in the dead-letter queue; a slot's retained WAL and the transaction logs grow with the volume
    // (up to Aurora's 128 TiB).
    case 'Evictions':
    case 'AuroraReplicaLag':
    case 'ApproximateNumberOfMessagesVisible':
    case 'OldestReplicationSlotLag':
    case 'TransactionLogsDiskUsage':
    case 'AuroraGlobalDBRPOLag': // stage global: a secondary's lag has no upper bound (replication can stop)
    case 'AuroraGlobalDBReplicationLag':
      return [0, Number.POSITIVE_INFINITY];
    case 'ApproximateAgeOfOldestMessage':
      // A message older than the queue's retention period is deleted by SQS (the event queues of stage 1m keep
      // theirs longer than the invalidation queue: the smaller bound holds for every queue).
      return [
        0,
        (
          config.invalidationQueue?.retentionPeriod ?? INVALIDATION_QUEUE_DEFAULTS.retentionPeriod
        ).toSeconds(),
      ];
    // Stage 1m: an HTTP API answers within its 30 s integration timeout (Latency in ms); its 5xx rate is the
    // Average of the 5xx count, a fraction of the requests; EventBridge's failed deliveries grow with the volume.
    case 'Latency':
      return [0, 30_000];
    case '5xx':
      return [0, 1];
    case 'FailedInvocations':
      return [0, Number.POSITIVE_INFINITY];
    // Stage global: Route 53 publishes a health check's status as 1 (healthy) or 0.
    case 'HealthCheckStatus':
      return [0, 1];
    case 'DatabaseConnections':
    case 'FreeableMemory': {
      const { database, proxy } = shardOf(config, name);
      const instanceType = name.includes('Readers-')
        ? database.readers!.instanceType
        : database.writer.instanceType;
      const instanceClass = auroraInstanceClass(instanceType);
      if (metric === 'FreeableMemory') return [0, AURORA_INSTANCE_MEMORY_GIB[instanceClass]! * 1024 ** 3];
      const max = auroraMaxConnections(instanceClass)!;
      // Through a proxy the app never opens more than the proxy's share.
      const cap = proxy ? (proxy.maxConnectionsPercent ?? PROXY_DEFAULTS.maxConnectionsPercent) / 100 : 1;
      return [0, Math.floor(max * cap)];
    }
    case 'ClientConnections': {
      const { database } = shardOf(config, name);
      const pools = (database.readers?.count ?? 0) > 0 ? 2 : 1;
      return [0, appPoolConnections(services) * pools];
    }
    case 'DatabaseConnectionsBorrowLatency': {
      const { proxy } = shardOf(config, name);
      return [0, (proxy?.borrowTimeout ?? PROXY_DEFAULTS.borrowTimeout).toMilliseconds() * 1000];
    }
    default:
      throw new Error(`${name}: no known range for ${names.join(', ')}; add it to this test`);
  }
}

describe.each(stageIds)('stage %s: every alarm threshold can be reached', (id) => {
  const config = stageById(id);
  let alarms: AlarmProperties[];
  /** `<region>/<alarm name>`: alarm names are unique per account and region (stage global repeats them per region). */
  let regionalNames: string[];

  beforeAll(() => {
    // Synth prints its warnings (plain HTTP, ...) and the validation summary: not this test's subject.
    const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const app = createBlueprintApp({ config, context: stageContext(id), cloudFormationValidation: false });
    const stacks = app.node.findAll().filter((construct): construct is Stack => Stack.isStack(construct));
    alarms = [];
    regionalNames = [];
    for (const stack of stacks) {
      for (const resource of Object.values(
        Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm'),
      )) {
        const alarm = resource.Properties as AlarmProperties;
        alarms.push(alarm);
        regionalNames.push(`${stack.region}/${alarm.AlarmName}`);
      }
    }
    quiet.mockRestore();
  });

  test('the stage has alarms on the service, the load balancer and every shard writer', () => {
    const names = alarms.map((alarm) => alarm.AlarmName);
    expect(names).toEqual(
      expect.arrayContaining([
        'shop-Shard0Writer-Connections-Critical',
        'shop-Service-Healthy-Tasks-Critical',
      ]),
    );
    for (const shardId of Object.keys(config.shards ?? {})) {
      expect(names).toContain(`shop-Shard${pascalCase(shardId)}Writer-Connections-Critical`);
    }
    expect(new Set(regionalNames).size).toBe(regionalNames.length);
  });

  test('each threshold lies inside the range its metric reaches', () => {
    const unreachable = alarms.flatMap((alarm) => {
      const [least, highest] = reachable(config, alarm);
      const above = alarm.ComparisonOperator.startsWith('GreaterThan');
      const ok = above
        ? alarm.Threshold >= least && alarm.Threshold < highest
        : alarm.Threshold > least && alarm.Threshold <= highest;
      return ok
        ? []
        : [
            `${alarm.AlarmName}: ${alarm.ComparisonOperator} ${alarm.Threshold}, reachable ${least}..${highest}`,
          ];
    });
    expect(unreachable).toEqual([]);
    expect(alarms.length).toBeGreaterThan(8);
  });
});

describe('the sizes the thresholds come from', () => {
  test("the app's pool size is the one the blueprint counts with (app/src/config.ts DB_POOL_MAX default)", () => {
    expect(envJsonSchema.properties.DB_POOL_MAX.default).toBe(APP_DB_POOL_MAX);
  });

  test('each documented max_connections is the formula over a little less than the nominal memory', () => {
    for (const [instanceClass, documented] of Object.entries(AURORA_DOCUMENTED_MAX_CONNECTIONS)) {
      const nominal = (AURORA_INSTANCE_MEMORY_GIB[instanceClass]! * 1024 ** 3) / AURORA_BYTES_PER_CONNECTION;
      // DBInstanceClassMemory is the class's memory less what the OS and RDS keep: 85-100 % of nominal.
      expect([
        instanceClass,
        documented <= Math.min(nominal, 5000),
        documented >= 0.85 * Math.min(nominal, 5000),
      ]).toEqual([instanceClass, true, true]);
    }
  });

  test('the scale advisor (tools/advisor) counts with the same max_connections for every class', () => {
    for (const instanceClass of Object.keys(AURORA_INSTANCE_MEMORY_GIB)) {
      expect([instanceClass, advisorMaxConnections(instanceClass)]).toEqual([
        instanceClass,
        auroraMaxConnections(instanceClass),
      ]);
    }
  });

  test('every instance class a stage uses has a known memory and max_connections', () => {
    for (const id of stageIds) {
      const config = stageById(id);
      const shards = [config.database, ...Object.values(config.shards ?? {})];
      for (const database of shards) {
        for (const instanceType of [database.writer.instanceType, database.readers?.instanceType]) {
          if (instanceType === undefined) continue;
          expect(auroraMaxConnections(auroraInstanceClass(instanceType))).toBeGreaterThan(0);
        }
      }
    }
  });

  test("stage 10k's proxy alarm counts 12 tasks x 2 pools x 10 connections", () => {
    const config = stageById('10k');
    expect(appPoolConnections([config.service]) * 2).toBe(240);
  });
});
