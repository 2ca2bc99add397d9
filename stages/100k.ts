/**
 * Stage `100k`: stage `10k` plus a second Aurora shard, logical replication for the shard manager's moves,
 * and cache invalidation over SQS. Only what differs from `10k` and from the defaults
 * (`lib/config/defaults.ts`) is written here.
 */
import type { StageConfig } from '../lib/config';
import { stage10k } from './10k';

/**
 * Logical replication on every shard: the shard manager moves a logical shard (one schema) between
 * clusters with a publication on the source and a subscription on the target, so every cluster may be
 * either. Defaults: 20 slots and WAL senders, 6 replication workers, alarms at 1 GiB slot lag and 10 GiB of
 * transaction logs.
 */
const logicalReplication = {};

/** Shard 0: the `10k` cluster, unchanged at its construct path, with logical replication turned on. */
const database = { ...stage10k.database, logicalReplication };

/** Stage `100k`: from about 10,000 to 100,000 users. */
export const stage100k = {
  ...stage10k,
  description:
    '10K to 100K: users sharded by user_id over 2 Aurora clusters (logical replication for moves), ' +
    'cache invalidation over SQS',
  database,
  // Shard s1 has the same settings as shard 0 (writer, 3 readers, Performance Insights, RDS Proxy): users
  // are spread evenly over the logical shards, so each physical shard carries about the same load.
  shards: {
    s1: { ...database, proxy: stage10k.proxy },
  },
  invalidationQueue: {},
} satisfies StageConfig;
