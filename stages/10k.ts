/**
 * Stage `10k`: stage `1k` plus read replicas, connection pooling, a cache and horizontal scaling. Only what
 * differs from `1k` and from the defaults (`lib/config/defaults.ts`) is written here.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { StageConfig } from '../lib/config';
import { stage1k } from './1k';

/**
 * Requests per second one app process served when saturated: stage 1k's single process (no cache, one
 * Postgres) at 100 req/s offered, open loop, in `npm run bench` of 2026-11-30 (README "Benchmarks",
 * `bench/results/runtime-2026-11-30-loaded.json`, scenario `stage-1k`, `fixed.requestsPerSecond` = 72.5). A
 * lower bound for a 10k task: that process shared 2 cores with a load average of about 34, where a 10k task has
 * a whole vCPU to itself and answers most reads from Redis (on an idle machine, 2026-12-01, one such process
 * passed every sweep step up to 2,563 req/s). `test/stages/scaling-target.test.ts` checks this against the JSON.
 */
export const MEASURED_REQUESTS_PER_SECOND_PER_TASK = 72;

/**
 * Share of the measured capacity request-count scaling holds each task at: half, so that a burst has room
 * while the new tasks start (about a minute), and the same margin as the CPU target (60 %).
 */
export const REQUEST_SCALING_HEADROOM = 0.5;

/** Stage `10k`: from about 1,000 to 10,000 users. */
export const stage10k = {
  ...stage1k,
  description: '1K to 10K: 3 Aurora readers, RDS Proxy, Redis cache and sessions, 3+ tasks with autoscaling',
  network: {
    ...stage1k.network,
    // One NAT gateway per AZ: with 3+ tasks spread over 3 AZs, an AZ outage must not cut the others off.
    natGateways: 3,
  },
  // Autoscaling owns the task count (from minCapacity): a fixed desiredCount is no longer part of the service.
  service: {
    cpu: 1024,
    memoryLimitMiB: 2048,
    autoscaling: {
      minCapacity: 3,
      maxCapacity: 12,
      targetCpuUtilizationPercent: 60,
      // Per minute (ALBRequestCountPerTarget): 72 req/s x 60 s x 0.5 = 2,160. The old 1,000 (17 req/s) was a
      // quarter of what one task serves and would have held the service at its maximum under modest load.
      requestsPerTarget: Math.round(MEASURED_REQUESTS_PER_SECOND_PER_TASK * 60 * REQUEST_SCALING_HEADROOM),
    },
  },
  database: {
    ...stage1k.database,
    // The writer keeps its instance class: changing it is an in-place modification, but a separate step.
    readers: { count: 3, instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MEDIUM) },
    // Performance Insights with the default (free, 7-day) retention.
    performanceInsights: {},
  },
  proxy: {},
  cache: {
    cacheNodeType: 'cache.t4g.small',
    numCacheClusters: 2,
  },
} satisfies StageConfig;
