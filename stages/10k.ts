/**
 * Stage `10k`: stage `1k` plus read replicas, connection pooling, a cache and horizontal scaling. Only what
 * differs from `1k` and from the defaults (`lib/config/defaults.ts`) is written here.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { StageConfig } from '../lib/config';
import { stage1k } from './1k';

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
      requestsPerTarget: 1000,
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
