/**
 * Which metrics the advisor reads for a deployment (one `GetMetricData` query per metric, resource and
 * statistic), and how their series feed the rules.
 */
import type { MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import type { AdvisorStageId, Deployment } from './deployment';
import {
  cacheSignals,
  contextSignals,
  globalSignals,
  loadBalancerSignals,
  NO_DATA,
  readerSignals,
  serviceSignals,
  sizeSignals,
  writerSignals,
  type RuleContext,
  type Series,
  type Signal,
} from './rules';

/** One metric of one resource with one statistic, in one region. */
export interface MetricRef {
  readonly region: string;
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
  /** `p95`, `p99`, `p5`, `Maximum`, `Sum`, ... */
  readonly stat: string;
}

/** A stable key of a metric reference (also the fixtures' key). */
export function metricKey(ref: MetricRef): string {
  const dimensions = Object.entries(ref.dimensions)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, value]) => `${name}=${value}`)
    .join(',');
  return `${ref.region}|${ref.namespace}|${ref.metricName}|${dimensions}|${ref.stat}`;
}

/** The `GetMetricData` query of a metric reference. Ids must match `^[a-z][a-zA-Z0-9_]*$`. */
export function toQuery(id: string, ref: MetricRef, periodSeconds: number): MetricDataQuery {
  return {
    Id: id,
    Label: metricKey(ref),
    ReturnData: true,
    MetricStat: {
      Metric: {
        Namespace: ref.namespace,
        MetricName: ref.metricName,
        Dimensions: Object.entries(ref.dimensions).map(([Name, Value]) => ({ Name, Value })),
      },
      Period: periodSeconds,
      Stat: ref.stat,
    },
  };
}

/** Series by metric key; a metric without data is absent. */
export type SeriesByKey = ReadonlyMap<string, Series>;

const rds = (
  region: string,
  metricName: string,
  dimensions: Record<string, string>,
  stat: string,
): MetricRef => ({
  region,
  namespace: 'AWS/RDS',
  metricName,
  dimensions,
  stat,
});

/**
 * Everything the advisor reads of a deployment, and how it turns the series into signals: the two share
 * one description, so a rule cannot read a metric that was not queried.
 */
export function plan(deployment: Deployment, stage: AdvisorStageId) {
  const refs: MetricRef[] = [];
  const evaluators: ((series: (ref: MetricRef) => Series, ctx: RuleContext) => Signal[])[] = [];
  const want = (ref: MetricRef): MetricRef => {
    refs.push(ref);
    return ref;
  };

  for (const cluster of deployment.clusters) {
    const { region, identifier } = cluster;
    const writer = { DBClusterIdentifier: identifier, Role: 'WRITER' };
    const reader = { DBClusterIdentifier: identifier, Role: 'READER' };
    const resource = `${region} ${identifier} (shard ${cluster.shard})`;
    const hasProxy = deployment.proxies.some((proxy) => proxy.region === region);
    const w = {
      cpu: want(rds(region, 'CPUUtilization', writer, 'p95')),
      dbLoad: want(rds(region, 'DBLoad', writer, 'p95')),
      connections: want(rds(region, 'DatabaseConnections', writer, 'p95')),
      freeableMemory: want(rds(region, 'FreeableMemory', writer, 'p5')),
      bufferCacheHitRatio: want(rds(region, 'BufferCacheHitRatio', writer, 'p5')),
    };
    const volume = want(rds(region, 'VolumeBytesUsed', { DBClusterIdentifier: identifier }, 'Maximum'));
    const xids = want(rds(region, 'MaximumUsedTransactionIDs', writer, 'Maximum'));
    evaluators.push((series, ctx) => [
      ...writerSignals(
        `${resource}, writer ${cluster.writerClass}`,
        cluster.writerClass,
        hasProxy,
        {
          cpu: series(w.cpu),
          dbLoad: series(w.dbLoad),
          connections: series(w.connections),
          freeableMemory: series(w.freeableMemory),
          bufferCacheHitRatio: series(w.bufferCacheHitRatio),
        },
        ctx,
      ),
      ...sizeSignals(resource, series(volume), series(xids), ctx),
    ]);
    if (cluster.readerClasses.length > 0) {
      const lag = want(rds(region, 'AuroraReplicaLag', reader, 'p99'));
      const cpu = want(rds(region, 'CPUUtilization', reader, 'p95'));
      evaluators.push((series, ctx) =>
        readerSignals(
          `${resource}, ${cluster.readerClasses.length} reader(s)`,
          series(lag),
          series(cpu),
          ctx,
        ),
      );
    }
    if (cluster.globalClusterIdentifier !== undefined) {
      // Published by secondary clusters; a primary has no data (the rule then reports no data for it).
      const rpo = want(rds(region, 'AuroraGlobalDBRPOLag', { DBClusterIdentifier: identifier }, 'Maximum'));
      evaluators.push((series, ctx) =>
        globalSignals(`${resource}, global ${cluster.globalClusterIdentifier}`, series(rpo), ctx),
      );
    }
  }

  for (const service of deployment.services) {
    const dimensions = { ClusterName: service.clusterName, ServiceName: service.serviceName };
    const cpu = want({
      region: service.region,
      namespace: 'AWS/ECS',
      metricName: 'CPUUtilization',
      dimensions,
      stat: 'p95',
    });
    const memory = want({
      region: service.region,
      namespace: 'AWS/ECS',
      metricName: 'MemoryUtilization',
      dimensions,
      stat: 'p95',
    });
    const tasks = want({
      region: service.region,
      namespace: 'ECS/ContainerInsights',
      metricName: 'RunningTaskCount',
      dimensions,
      stat: 'Maximum',
    });
    evaluators.push((series, ctx) =>
      serviceSignals(
        `${service.region} ${service.clusterName}/${service.serviceName} (${service.minTasks}-${service.maxTasks} tasks)`,
        service.maxTasks,
        { cpu: series(cpu), memory: series(memory), runningTasks: series(tasks) },
        ctx,
      ),
    );
  }

  for (const lb of deployment.loadBalancers) {
    const elb = (metricName: string, stat: string) =>
      want({
        region: lb.region,
        namespace: 'AWS/ApplicationELB',
        metricName,
        dimensions: { LoadBalancer: lb.dimension },
        stat,
      });
    const p99 = elb('TargetResponseTime', 'p99');
    const errors = elb('HTTPCode_Target_5XX_Count', 'Sum');
    const requests = elb('RequestCount', 'Sum');
    evaluators.push((series, ctx) =>
      loadBalancerSignals(
        `${lb.region} ${lb.dimension}`,
        { p99Seconds: series(p99), target5xx: series(errors), requests: series(requests) },
        ctx,
      ),
    );
  }

  for (const cache of deployment.caches) {
    const perNode = (metricName: string, stat: string) =>
      cache.nodeIds.map((node) =>
        want({
          region: cache.region,
          namespace: 'AWS/ElastiCache',
          metricName,
          dimensions: { CacheClusterId: node },
          stat,
        }),
      );
    const nodes = {
      engineCpu: perNode('EngineCPUUtilization', 'p95'),
      cpu: perNode('CPUUtilization', 'p95'),
      memory: perNode('DatabaseMemoryUsagePercentage', 'p95'),
      evictions: perNode('Evictions', 'Sum'),
      swap: perNode('SwapUsage', 'Maximum'),
      hitRate: perNode('CacheHitRate', 'p5'),
    };
    evaluators.push((series, ctx) =>
      cacheSignals(
        `${cache.region} ${cache.replicationGroupId} (${cache.nodeIds.length} × ${cache.nodeType})`,
        cache.nodeType,
        {
          engineCpu: nodes.engineCpu.map(series),
          cpu: nodes.cpu.map(series),
          memory: nodes.memory.map(series),
          evictions: nodes.evictions.map(series),
          swap: nodes.swap.map(series),
          hitRate: nodes.hitRate.map(series),
        },
        ctx,
      ),
    );
  }

  return {
    stage,
    refs,
    /** Evaluates every rule over the fetched series (a metric without data gives an empty series). */
    evaluate(seriesByKey: SeriesByKey, ctx: RuleContext): Signal[] {
      const series = (ref: MetricRef) => seriesByKey.get(metricKey(ref)) ?? NO_DATA;
      return [...evaluators.flatMap((evaluator) => evaluator(series, ctx)), ...contextSignals(ctx)];
    },
  };
}

/** What {@link plan} returns. */
export type AdvisorPlan = ReturnType<typeof plan>;
