/**
 * The advisor's rules: pure functions from metric series to a verdict per signal. Each threshold names its
 * source. A series holds one value per window (default one hour, each value the window's p95, or p99, p5,
 * maximum or sum as the rule says); a rule breaches when the value is past the threshold in at least
 * `minShare` of the windows (default 20 %: research notes, wave2.md section 5).
 */
import {
  AURORA_BYTES_PER_CONNECTION,
  AURORA_MAX_CONNECTIONS_CAP,
  auroraMaxConnections,
} from '../../lib/config/monitoring-config';
import { MEMORY_GIB, VCPUS } from '../cost/prices';
import { nextStage, stageBefore, type AdvisorStageId } from './deployment';

/** One metric's values over the look-back, one per window, oldest first. */
export interface Series {
  /** Window start times, epoch milliseconds, ascending. */
  readonly timestamps: readonly number[];
  readonly values: readonly number[];
}

/** An empty series (the metric had no data). */
export const NO_DATA: Series = { timestamps: [], values: [] };

/** Share of windows that must breach for a rule to breach (research notes, wave2.md section 5: "≥20% of windows"). */
export const DEFAULT_MIN_SHARE = 0.2;

/** What a signal recommends. */
export type Verdict =
  | { readonly kind: 'fine' }
  | { readonly kind: 'no-data' }
  | { readonly kind: 'scale'; readonly action: string }
  | { readonly kind: 'move'; readonly to: AdvisorStageId; readonly action: string };

/** How often and how far a series is past its threshold. */
export interface WindowStats {
  /** Windows with a value. */
  readonly windows: number;
  /** Windows past the threshold. */
  readonly breaching: number;
  /** `breaching / windows` (0 when there are no windows). */
  readonly share: number;
  /** The series' p95 (for "above" rules) or p5 (for "below" rules): the value the report shows. */
  readonly summary: number;
}

/** One evaluated signal. */
export interface Signal {
  /** Stable id, e.g. `writer.cpu`. */
  readonly id: string;
  readonly area: 'Writer' | 'Readers' | 'Size' | 'ECS' | 'ALB' | 'ElastiCache' | 'Global' | 'Context';
  /** What was measured, e.g. `eu-west-1 shop-db (shard 0)`. */
  readonly resource: string;
  /** The metric and statistic, e.g. `AWS/RDS CPUUtilization p95, Role=WRITER`. */
  readonly metric: string;
  readonly unit: string;
  readonly comparison: 'above' | 'below';
  readonly threshold: number;
  /** Where the threshold comes from. */
  readonly source: string;
  /** Absent for context signals (flags, not metrics). */
  readonly stats?: WindowStats;
  /** The window values (for the sparkline). */
  readonly values: readonly number[];
  readonly verdict: Verdict;
  /** Command-line flags the verdict used (context signals). */
  readonly flags?: readonly string[];
  /** A note on the evidence (e.g. why a metric stands in for another). */
  readonly note?: string;
}

/** Inputs to the rules that are not metrics. */
export interface RuleContext {
  /** The deployed stage. */
  readonly stage: AdvisorStageId;
  /** Share of windows that must breach. */
  readonly minShare: number;
  /** ALB alarm thresholds of the stage (the same as its alarms: lib/config/defaults.ts). */
  readonly albP99LatencyMs: number;
  readonly alb5xxRatePercent: number;
  /** What metrics cannot show (command-line flags). */
  readonly flags: ContextFlags;
}

/** What metrics cannot show: given as flags, and named in the verdicts that use them. */
export interface ContextFlags {
  /** Teams shipping the application (`--teams`). */
  readonly teams?: number;
  /** Continents the users are on (`--user-continents`). */
  readonly userContinents?: number;
  /** Recovery time objective for the loss of a region, minutes (`--rto-minutes`). */
  readonly rtoMinutes?: number;
  /** Recovery point objective for the loss of a region, seconds (`--rpo-seconds`). */
  readonly rpoSeconds?: number;
}

/** The `q`-quantile (0-1) of values, linear interpolation; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return (sorted[low] as number) + ((sorted[high] as number) - (sorted[low] as number)) * (position - low);
}

/** Counts the windows past a threshold. */
export function windowStats(
  values: readonly number[],
  threshold: number,
  comparison: 'above' | 'below',
): WindowStats {
  const breaching = values.filter((value) =>
    comparison === 'above' ? value > threshold : value < threshold,
  ).length;
  return {
    windows: values.length,
    breaching,
    share: values.length ? breaching / values.length : 0,
    summary: quantile(values, comparison === 'above' ? 0.95 : 0.05),
  };
}

/** Per-window worst value across several series (nodes of a cache): max for "above" rules, min for "below". */
export function worstPerWindow(series: readonly Series[], comparison: 'above' | 'below'): Series {
  const byTime = new Map<number, number>();
  for (const one of series) {
    one.timestamps.forEach((time, i) => {
      const value = one.values[i] as number;
      const current = byTime.get(time);
      byTime.set(
        time,
        current === undefined
          ? value
          : comparison === 'above'
            ? Math.max(current, value)
            : Math.min(current, value),
      );
    });
  }
  const timestamps = [...byTime.keys()].sort((a, b) => a - b);
  return { timestamps, values: timestamps.map((time) => byTime.get(time) as number) };
}

/** Per-window `numerator / denominator × 100`, over windows both have (and a non-zero denominator). */
export function ratioPercent(numerator: Series, denominator: Series): Series {
  const denominators = new Map(
    denominator.timestamps.map((time, i) => [time, denominator.values[i] as number]),
  );
  const timestamps: number[] = [];
  const values: number[] = [];
  numerator.timestamps.forEach((time, i) => {
    const d = denominators.get(time);
    if (d !== undefined && d > 0) {
      timestamps.push(time);
      values.push(((numerator.values[i] as number) / d) * 100);
    }
  });
  return { timestamps, values };
}

interface ThresholdSpec {
  readonly id: string;
  readonly area: Signal['area'];
  readonly resource: string;
  readonly metric: string;
  readonly unit: string;
  readonly comparison: 'above' | 'below';
  readonly threshold: number;
  readonly source: string;
  /** The verdict when the rule breaches. */
  readonly onBreach: Verdict;
  readonly note?: string;
}

/** Evaluates one threshold rule over a series. */
export function thresholdSignal(
  spec: ThresholdSpec,
  series: Series,
  ctx: Pick<RuleContext, 'minShare'>,
): Signal {
  const stats = windowStats(series.values, spec.threshold, spec.comparison);
  const verdict: Verdict =
    stats.windows === 0
      ? { kind: 'no-data' }
      : stats.share >= ctx.minShare
        ? spec.onBreach
        : { kind: 'fine' };
  return {
    id: spec.id,
    area: spec.area,
    resource: spec.resource,
    metric: spec.metric,
    unit: spec.unit,
    comparison: spec.comparison,
    threshold: spec.threshold,
    source: spec.source,
    stats,
    values: series.values,
    verdict,
    ...(spec.note !== undefined ? { note: spec.note } : {}),
  };
}

/**
 * What a saturated writer (or a database outgrowing one instance) calls for at each stage: at `1k` the
 * `10k` stage takes reads off it (readers, proxy, cache); at `10k` what is left on the writer is writes,
 * which only sharding (`100k`) spreads; from `100k` on, the same signal on one shard means one more shard.
 */
export function writerCapacityVerdict(stage: AdvisorStageId, within: string): Verdict {
  if (stage === '1k') {
    return {
      kind: 'move',
      to: '10k',
      action: 'readers, RDS Proxy and a cache take the reads off the writer',
    };
  }
  if (stage === '10k') {
    return {
      kind: 'move',
      to: '100k',
      action: 'readers already carry the reads; shard the writes by user_id (this cluster stays as shard 0)',
    };
  }
  return { kind: 'scale', action: `add a shard and move logical shards to it; ${within}` };
}

/**
 * Default `max_connections` of an instance class: the blueprint's own table and formula (the alarms use the same,
 * `lib/config/monitoring-config.ts`), else the formula LEAST(memory/9531392, 5000) over the priced classes' nominal
 * memory (slightly above the real figure).
 */
export function maxConnections(instanceClass: string): number | undefined {
  const known = auroraMaxConnections(instanceClass);
  if (known !== undefined) return known;
  const memory = MEMORY_GIB[instanceClass];
  return memory === undefined
    ? undefined
    : Math.min(Math.floor((memory * 1024 ** 3) / AURORA_BYTES_PER_CONNECTION), AURORA_MAX_CONNECTIONS_CAP);
}

/** The writer's series. */
export interface WriterSeries {
  readonly cpu: Series;
  readonly dbLoad: Series;
  readonly connections: Series;
  readonly freeableMemory: Series;
  readonly bufferCacheHitRatio: Series;
}

/** Writer rules: CPU, DBLoad against vCPUs, connections against max_connections, freeable memory, buffer cache. */
export function writerSignals(
  resource: string,
  writerClass: string,
  hasProxy: boolean,
  series: WriterSeries,
  ctx: RuleContext,
): Signal[] {
  const vcpus = VCPUS[writerClass];
  const memoryGib = MEMORY_GIB[writerClass];
  const connections = maxConnections(writerClass);
  const unknown = (what: string) => {
    throw new Error(`No ${what} known for instance class ${writerClass}: add it to tools/cost/prices.ts.`);
  };
  if (vcpus === undefined) unknown('vCPU count');
  if (memoryGib === undefined || connections === undefined) unknown('memory size');
  const capacity = writerCapacityVerdict(ctx.stage, 'or a larger writer class for this shard');
  const larger: Verdict = {
    kind: 'scale',
    action: `a larger writer class than ${writerClass} (more memory)`,
  };
  return [
    thresholdSignal(
      {
        id: 'writer.cpu',
        area: 'Writer',
        resource,
        metric: 'AWS/RDS CPUUtilization p95, Role=WRITER',
        unit: '%',
        comparison: 'above',
        threshold: 80,
        source:
          'AWS Aurora best practices: sustained CPU over 70-80 % (wave2.md section 5); upper end, as a move is costly',
        onBreach: capacity,
      },
      series.cpu,
      ctx,
    ),
    thresholdSignal(
      {
        id: 'writer.dbload',
        area: 'Writer',
        resource,
        metric: 'AWS/RDS DBLoad p95, Role=WRITER',
        unit: 'sessions',
        comparison: 'above',
        threshold: vcpus as number,
        source: `Performance Insights: average active sessions above the vCPU count (${writerClass}: ${vcpus}) means waiting`,
        onBreach: capacity,
        note: 'DBLoad needs Performance Insights (stage 10k on); without it this signal has no data.',
      },
      series.dbLoad,
      ctx,
    ),
    thresholdSignal(
      {
        id: 'writer.connections',
        area: 'Writer',
        resource,
        metric: 'AWS/RDS DatabaseConnections p95, Role=WRITER',
        unit: 'connections',
        comparison: 'above',
        threshold: Math.floor((connections as number) * 0.8),
        source: `80 % of max_connections (${writerClass}: ${connections}, LEAST(DBInstanceClassMemory/9531392, 5000))`,
        onBreach: hasProxy
          ? {
              kind: 'scale',
              action: `the proxy already pools; a larger writer class than ${writerClass} raises max_connections`,
            }
          : {
              kind: 'move',
              to: nextStage(ctx.stage) ?? ctx.stage,
              action: 'RDS Proxy pools the connections',
            },
      },
      series.connections,
      ctx,
    ),
    thresholdSignal(
      {
        id: 'writer.freeable-memory',
        area: 'Writer',
        resource,
        metric: 'AWS/RDS FreeableMemory p5, Role=WRITER',
        unit: 'MiB',
        comparison: 'below',
        threshold: Math.round((memoryGib as number) * 1024 * 0.1),
        source: `10 % of the class's memory (${writerClass}: ${memoryGib} GiB) (wave2.md section 5)`,
        onBreach: larger,
      },
      {
        timestamps: series.freeableMemory.timestamps,
        values: series.freeableMemory.values.map((b) => b / 2 ** 20),
      },
      ctx,
    ),
    thresholdSignal(
      {
        id: 'writer.buffer-cache',
        area: 'Writer',
        resource,
        metric: 'AWS/RDS BufferCacheHitRatio p5, Role=WRITER',
        unit: '%',
        comparison: 'below',
        threshold: 99,
        source:
          'Aurora PostgreSQL tuning guidance: the working set should be served from memory, ≥ 99 % hits',
        onBreach: larger,
      },
      series.bufferCacheHitRatio,
      ctx,
    ),
  ];
}

/** Reader rules: replica lag (p99) and reader CPU. */
export function readerSignals(resource: string, lag: Series, cpu: Series, ctx: RuleContext): Signal[] {
  return [
    thresholdSignal(
      {
        id: 'readers.lag',
        area: 'Readers',
        resource,
        metric: 'AWS/RDS AuroraReplicaLag p99, Role=READER',
        unit: 'ms',
        comparison: 'above',
        threshold: 100,
        source:
          'Aurora replicas normally lag under 100 ms (wave2.md section 5); beyond it read-your-writes waits',
        onBreach: {
          kind: 'scale',
          action: 'readers as large as the writer; look for long write transactions',
        },
      },
      lag,
      ctx,
    ),
    thresholdSignal(
      {
        id: 'readers.cpu',
        area: 'Readers',
        resource,
        metric: 'AWS/RDS CPUUtilization p95, Role=READER',
        unit: '%',
        comparison: 'above',
        threshold: 80,
        source: 'as the writer: sustained CPU over 70-80 %',
        onBreach: { kind: 'scale', action: 'add readers (up to 15 per cluster)' },
      },
      cpu,
      ctx,
    ),
  ];
}

/** Size rules, the signals that it is time to shard: stored bytes and transaction-ID age. */
export function sizeSignals(
  resource: string,
  volumeBytes: Series,
  transactionIds: Series,
  ctx: RuleContext,
): Signal[] {
  const verdict = writerCapacityVerdict(ctx.stage, 'the shard has outgrown one instance');
  const sizeVerdict: Verdict =
    ctx.stage === '1k' ? { kind: 'move', to: '10k', action: 'one step at a time: 10k, then 100k' } : verdict;
  return [
    thresholdSignal(
      {
        id: 'size.volume',
        area: 'Size',
        resource,
        metric: 'AWS/RDS VolumeBytesUsed maximum',
        unit: 'GB',
        comparison: 'above',
        threshold: 500,
        source: 'Notion sharded Postgres when tables approached 500 GB (wave2.md section 5)',
        onBreach: sizeVerdict,
        note: 'Aurora publishes no per-table size: the cluster volume bounds the largest table from above.',
      },
      { timestamps: volumeBytes.timestamps, values: volumeBytes.values.map((bytes) => bytes / 1e9) },
      ctx,
    ),
    thresholdSignal(
      {
        id: 'size.transaction-ids',
        area: 'Size',
        resource,
        metric: 'AWS/RDS MaximumUsedTransactionIDs maximum, Role=WRITER',
        unit: 'million',
        comparison: 'above',
        threshold: 1000,
        source:
          'AWS recommends alarming at 1 billion (wraparound at about 2.1 billion): vacuum cannot keep up',
        onBreach: sizeVerdict,
      },
      { timestamps: transactionIds.timestamps, values: transactionIds.values.map((ids) => ids / 1e6) },
      ctx,
    ),
  ];
}

/**
 * ECS rules: CPU and memory over 70 % while the service runs at its maximum task count (autoscaling has
 * nothing left to add). Without task counts (Container Insights off), every window counts.
 */
export function serviceSignals(
  resource: string,
  maxTasks: number,
  series: { readonly cpu: Series; readonly memory: Series; readonly runningTasks: Series },
  ctx: RuleContext,
): Signal[] {
  const atMax = new Set(
    series.runningTasks.timestamps.filter((_, i) => (series.runningTasks.values[i] as number) >= maxTasks),
  );
  const known = series.runningTasks.timestamps.length > 0;
  const evaluate = (spec: ThresholdSpec, one: Series): Signal => {
    if (!known) return thresholdSignal(spec, one, ctx);
    // Windows below the maximum count as "not breaching": autoscaling could still add tasks there. The
    // verdict comes from the masked series; the value shown stays the metric's own p95.
    const masked = thresholdSignal(
      spec,
      {
        timestamps: one.timestamps,
        values: one.values.map((v, i) => (atMax.has(one.timestamps[i] as number) ? v : 0)),
      },
      ctx,
    );
    const own = windowStats(one.values, spec.threshold, spec.comparison);
    return {
      ...masked,
      values: one.values,
      stats: { ...(masked.stats as WindowStats), summary: own.summary },
    };
  };
  const verdict: Verdict =
    ctx.stage === '1k'
      ? { kind: 'move', to: '10k', action: 'autoscaling from 3 to 12 tasks' }
      : { kind: 'scale', action: `raise the task maximum above ${maxTasks} (or a larger task size)` };
  const note = known
    ? `windows below ${maxTasks} running tasks count as fine (autoscaling had room)`
    : 'no RunningTaskCount (Container Insights off): every window counts';
  return (['cpu', 'memory'] as const).map((kind) =>
    evaluate(
      {
        id: `ecs.${kind}`,
        area: 'ECS',
        resource,
        metric: `AWS/ECS ${kind === 'cpu' ? 'CPUUtilization' : 'MemoryUtilization'} p95, at ${maxTasks} tasks`,
        unit: '%',
        comparison: 'above',
        threshold: 70,
        source: 'wave2.md section 5: over 70 % at the maximum task count',
        onBreach: verdict,
        note,
      },
      series[kind],
    ),
  );
}

/** ALB rules: p99 target response time and the target 5xx rate, against the stage's alarm thresholds. */
export function loadBalancerSignals(
  resource: string,
  series: { readonly p99Seconds: Series; readonly target5xx: Series; readonly requests: Series },
  ctx: RuleContext,
): Signal[] {
  const latency = {
    timestamps: series.p99Seconds.timestamps,
    values: series.p99Seconds.values.map((s) => s * 1000),
  };
  const half = Math.floor(latency.values.length / 2);
  const trend =
    half > 0
      ? `p95 of the window p99s: first half ${quantile(latency.values.slice(0, half), 0.95).toFixed(0)} ms, ` +
        `second half ${quantile(latency.values.slice(half), 0.95).toFixed(0)} ms`
      : undefined;
  return [
    thresholdSignal(
      {
        id: 'alb.p99',
        area: 'ALB',
        resource,
        metric: 'AWS/ApplicationELB TargetResponseTime p99',
        unit: 'ms',
        comparison: 'above',
        threshold: ctx.albP99LatencyMs,
        source: 'the stage alarm (monitoring.albP99LatencyMs, the seed guide\'s "under 200 ms")',
        onBreach: {
          kind: 'scale',
          action: 'find the saturated tier in the other signals (tasks, writer, cache)',
        },
        ...(trend !== undefined ? { note: trend } : {}),
      },
      latency,
      ctx,
    ),
    thresholdSignal(
      {
        id: 'alb.5xx',
        area: 'ALB',
        resource,
        metric: 'AWS/ApplicationELB HTTPCode_Target_5XX_Count / RequestCount, sum per window',
        unit: '%',
        comparison: 'above',
        threshold: ctx.alb5xxRatePercent,
        source: 'the stage alarm (monitoring.alb5xxRatePercent)',
        onBreach: {
          kind: 'scale',
          action: 'errors under load: read the service logs, then scale the failing tier',
        },
      },
      ratioPercent(series.target5xx, series.requests),
      ctx,
    ),
  ];
}

/** ElastiCache rules over the worst node per window. */
export function cacheSignals(
  resource: string,
  nodeType: string,
  nodes: {
    readonly engineCpu: readonly Series[];
    readonly cpu: readonly Series[];
    readonly memory: readonly Series[];
    readonly evictions: readonly Series[];
    readonly swap: readonly Series[];
    readonly hitRate: readonly Series[];
  },
  ctx: RuleContext,
): Signal[] {
  const vcpus = VCPUS[nodeType];
  if (vcpus === undefined)
    throw new Error(`No vCPU count known for node type ${nodeType}: add it to tools/cost/prices.ts.`);
  const larger: Verdict = { kind: 'scale', action: `a larger node type than ${nodeType}` };
  const source = 'ElastiCache "Which metrics should I monitor?" (wave2.md section 5)';
  // Redis runs commands on one thread: on nodes of 2 vCPUs or fewer EngineCPUUtilization is not published
  // for every type, and host CPU over 90 / vCPUs means that thread is saturated.
  const cpu =
    vcpus >= 4
      ? {
          metric: 'AWS/ElastiCache EngineCPUUtilization p95, busiest node',
          threshold: 90,
          series: nodes.engineCpu,
        }
      : {
          metric: 'AWS/ElastiCache CPUUtilization p95, busiest node',
          threshold: 90 / vcpus,
          series: nodes.cpu,
        };
  return [
    thresholdSignal(
      {
        id: 'cache.cpu',
        area: 'ElastiCache',
        resource,
        metric: cpu.metric,
        unit: '%',
        comparison: 'above',
        threshold: cpu.threshold,
        source: `${source}: ${vcpus >= 4 ? 'engine CPU over 90 %' : `host CPU over 90 % / ${vcpus} vCPU`}`,
        onBreach: {
          kind: 'scale',
          action: 'reads: add a replica; writes: a larger node type (or cluster mode shards)',
        },
      },
      worstPerWindow(cpu.series, 'above'),
      ctx,
    ),
    thresholdSignal(
      {
        id: 'cache.memory',
        area: 'ElastiCache',
        resource,
        metric: 'AWS/ElastiCache DatabaseMemoryUsagePercentage p95, fullest node',
        unit: '%',
        comparison: 'above',
        threshold: 80,
        source,
        onBreach: larger,
      },
      worstPerWindow(nodes.memory, 'above'),
      ctx,
    ),
    thresholdSignal(
      {
        id: 'cache.evictions',
        area: 'ElastiCache',
        resource,
        metric: 'AWS/ElastiCache Evictions, sum per window, busiest node',
        unit: 'keys',
        comparison: 'above',
        threshold: 0,
        source: `${source}: evictions sustained above 0`,
        onBreach: larger,
      },
      worstPerWindow(nodes.evictions, 'above'),
      ctx,
    ),
    thresholdSignal(
      {
        id: 'cache.swap',
        area: 'ElastiCache',
        resource,
        metric: 'AWS/ElastiCache SwapUsage maximum, worst node',
        unit: 'MB',
        comparison: 'above',
        threshold: 50,
        source: `${source}: swap above 50 MB`,
        onBreach: larger,
      },
      (() => {
        const worst = worstPerWindow(nodes.swap, 'above');
        return { timestamps: worst.timestamps, values: worst.values.map((bytes) => bytes / 1e6) };
      })(),
      ctx,
    ),
    thresholdSignal(
      {
        id: 'cache.hit-rate',
        area: 'ElastiCache',
        resource,
        metric: 'AWS/ElastiCache CacheHitRate p5, lowest node',
        unit: '%',
        comparison: 'below',
        threshold: 80,
        source: `${source}: hit rate under 80 %`,
        onBreach: {
          kind: 'scale',
          action: 'review TTLs and what is cached; more memory if evictions breach too',
        },
      },
      worstPerWindow(nodes.hitRate, 'below'),
      ctx,
    ),
  ];
}

/** Global rule: Aurora Global Database RPO lag of a secondary cluster against the RPO target. */
export function globalSignals(resource: string, rpoLag: Series, ctx: RuleContext): Signal[] {
  const rpoSeconds = ctx.flags.rpoSeconds ?? 1;
  return [
    {
      ...thresholdSignal(
        {
          id: 'global.rpo-lag',
          area: 'Global',
          resource,
          metric: 'AWS/RDS AuroraGlobalDBRPOLag maximum',
          unit: 'ms',
          comparison: 'above',
          threshold: rpoSeconds * 1000,
          source:
            ctx.flags.rpoSeconds !== undefined
              ? 'the RPO target (--rpo-seconds)'
              : 'Aurora Global Database typically replicates within 1 s (no --rpo-seconds given)',
          onBreach: {
            kind: 'scale',
            action: 'the primary writes faster than the secondary applies: a larger secondary class',
          },
        },
        rpoLag,
        ctx,
      ),
      ...(ctx.flags.rpoSeconds !== undefined ? { flags: ['--rpo-seconds'] } : {}),
    },
  ];
}

/**
 * Context rules: the moves to `1m` and `global` depend on what metrics cannot show. Each applies at the
 * stage just before its target; at earlier stages it says so and stays fine (upgrades go stage by stage).
 */
export function contextSignals(ctx: RuleContext): Signal[] {
  const signals: Signal[] = [];
  const context = (
    id: string,
    metric: string,
    threshold: number,
    comparison: 'above' | 'below',
    value: number,
    flags: string[],
    source: string,
    target: AdvisorStageId,
    action: string,
  ): Signal => {
    const breached = comparison === 'above' ? value >= threshold : value < threshold;
    const at = target === '1m' ? '100k' : '1m';
    const verdict: Verdict = !breached
      ? { kind: 'fine' }
      : ctx.stage === at
        ? { kind: 'move', to: target, action }
        : { kind: 'fine' };
    const note =
      breached && stageBefore(ctx.stage, at as AdvisorStageId)
        ? `applies from stage ${at}: upgrade stage by stage`
        : undefined;
    return {
      id,
      area: 'Context',
      resource: 'flags',
      metric,
      unit: '',
      comparison,
      threshold,
      source,
      values: [value],
      verdict,
      flags,
      ...(note !== undefined ? { note } : {}),
    };
  };
  const { teams, userContinents, rtoMinutes, rpoSeconds } = ctx.flags;
  if (teams !== undefined) {
    signals.push(
      context(
        'context.teams',
        'teams shipping the app',
        3,
        'above',
        teams,
        ['--teams'],
        'three or more teams on one deployable block each other (Conway): split into services',
        '1m',
        'split users, products and orders into services, each team owning one',
      ),
    );
  }
  if (userContinents !== undefined) {
    signals.push(
      context(
        'context.geography',
        'continents with users',
        2,
        'above',
        userContinents,
        ['--user-continents'],
        'users on another continent pay 100-250 ms per round trip to one region',
        'global',
        'serve each continent from a region near it',
      ),
    );
  }
  if (rtoMinutes !== undefined) {
    signals.push(
      context(
        'context.rto',
        'RTO for a region outage, minutes',
        60,
        'below',
        rtoMinutes,
        ['--rto-minutes'],
        'one region recovers from a regional outage by restoring copied backups elsewhere: hours, not minutes',
        'global',
        'a standby region with Aurora Global Database and Route 53 failover (about 10 minutes)',
      ),
    );
  }
  if (rpoSeconds !== undefined) {
    signals.push(
      context(
        'context.rpo',
        'RPO for a region outage, seconds',
        300,
        'below',
        rpoSeconds,
        ['--rpo-seconds'],
        'cross-region backup copies lose minutes to hours of writes; a global database loses about a second',
        'global',
        'Aurora Global Database replicates to the other regions within about a second',
      ),
    );
  }
  return signals;
}

/** The overall recommendation: the furthest move, else any scale action, else fine. */
export interface Recommendation {
  readonly kind: 'fine' | 'scale' | 'move';
  /** Set for `move`. */
  readonly to?: AdvisorStageId;
  /** Signals behind the recommendation. */
  readonly because: readonly Signal[];
}

/** Combines the signals' verdicts into one recommendation. */
export function recommend(signals: readonly Signal[]): Recommendation {
  const moves = signals.filter((signal) => signal.verdict.kind === 'move');
  if (moves.length > 0) {
    const furthest = moves
      .map((signal) => (signal.verdict as { to: AdvisorStageId }).to)
      .reduce((a, b) => (stageBefore(a, b) ? b : a));
    return {
      kind: 'move',
      to: furthest,
      because: moves.filter((signal) => (signal.verdict as { to: AdvisorStageId }).to === furthest),
    };
  }
  const scales = signals.filter((signal) => signal.verdict.kind === 'scale');
  if (scales.length > 0) return { kind: 'scale', because: scales };
  return { kind: 'fine', because: [] };
}
