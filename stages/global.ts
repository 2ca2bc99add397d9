/**
 * Stage `global`: stage `1m` deployed to every region of the context (`-c regions=home,second,third`, home
 * first), with Aurora Global Database for shard 0 and every further shard, sessions replicated to every
 * region, CloudFront and WAF at the edge, and Route 53 routing the API hostname by continent with health checks
 * and failover. Only what differs from `1m` and from the defaults (`lib/config/defaults.ts`) is written here.
 *
 * Aurora Global Database and ElastiCache Global Datastore need memory-optimised instances (no burstable
 * `db.t*` / `cache.t*`), so every Aurora instance and every cache node moves to an r7g class: an in-place
 * modification of each instance (a reboot, a failover for the writers), listed as an interruption by
 * `npm run diff -- --from 1m --to global` and in docs/upgrades/1m-to-global.md.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { DatabaseConfig, ShardConfig, StageConfig } from '../lib/config';
import { stage1m } from './1m';

/** The memory-optimised Aurora class Global Database supports (Graviton3, 2 vCPU, 16 GiB). */
const MEMORY_OPTIMISED = ec2.InstanceType.of(ec2.InstanceClass.R7G, ec2.InstanceSize.LARGE);

/** One cluster's writer and readers on the memory-optimised class; the reader count stays. */
function memoryOptimised<T extends DatabaseConfig>(database: T): T {
  return {
    ...database,
    writer: { ...database.writer, instanceType: MEMORY_OPTIMISED },
    ...(database.readers !== undefined
      ? { readers: { ...database.readers, instanceType: MEMORY_OPTIMISED } }
      : {}),
  };
}

/** Every further shard of `1m`, keyed by its permanent id, on the memory-optimised class. */
const shards: Record<string, ShardConfig> = Object.fromEntries(
  Object.entries(stage1m.shards).map(([id, shard]) => [id, memoryOptimised<ShardConfig>(shard)]),
);

/** Stage `global`: 1M+ users, worldwide. */
export const stageGlobal = {
  ...stage1m,
  description:
    '1M+ worldwide: every region of the context, Aurora Global Database, replicated sessions, CloudFront and ' +
    'WAF, Route 53 geolocation routing with health checks and failover',
  database: memoryOptimised(stage1m.database),
  shards,
  // Global Datastore needs nodes of size large or bigger, the same type in every region.
  cache: { ...stage1m.cache, cacheNodeType: 'cache.r7g.large' },
  global: {
    // Secondary clusters: the home readers (3 x db.r7g.large) in each region; RPO lag alarm at 1 minute.
    database: {},
    // Sessions: the cache's node type in every region.
    sessions: {},
    edge: {},
    routing: {},
  },
} satisfies StageConfig;
