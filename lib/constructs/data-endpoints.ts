/**
 * The data tier's public interface: what a service needs to reach the data of a region, as plain values
 * (tokens), never the constructs behind them. A consumer in another stack imports what it needs by id or
 * ARN in its own scope (secrets, keys, security groups), so the data stacks never depend on a service stack
 * and a service never reaches into a construct's internals.
 */
import { SHARD_ZERO_ID } from '../config/naming';

/** How to reach one Aurora shard (shard `0` is the stage's `database`). */
export interface DatabaseEndpoint {
  /** Stable shard id: `0` for `database`, the key under `shards` for the others. */
  readonly shardId: string;
  /** Host of the read/write endpoint (the proxy's when the shard has one, else the cluster's). */
  readonly writerHost: string;
  /**
   * Host of the read-only endpoint.
   *
   * @default - no readers: reads go to the writer
   */
  readonly readerHost?: string;
  /** Port of both endpoints. */
  readonly port: number;
  /**
   * Host of the cluster's own writer endpoint: where another shard's subscription connects during a move of
   * the shard manager (RDS Proxy carries no replication connections). Never a service's setting.
   */
  readonly replicationHost: string;
  /**
   * Security group of the cluster itself (not the proxy's): shards admit each other's on `port` for the shard
   * manager's subscriptions. Never a service's.
   */
  readonly clusterSecurityGroupId: string;
  /** Name of the app's database. */
  readonly databaseName: string;
  /**
   * ARN of the app's secret (`username`, `password`): a DML-only login (member of `shop_app`), rotated with
   * the alternating-users strategy. The only database secret a service may read.
   */
  readonly appSecretArn: string;
  /**
   * ARN of the schema owner's secret (the cluster's master user, a member of `shop_owner`): for the migration
   * task only, never for a service.
   */
  readonly migrationSecretArn: string;
  /** ARN of the key both secrets are encrypted with. */
  readonly secretKeyArn: string;
  /**
   * Security group a client must be admitted to (the proxy's when the shard has one, else the cluster's):
   * a service admits itself with an ingress rule on this group on `port`, created in its own stack.
   */
  readonly securityGroupId: string;
  /**
   * Identifier of the Aurora global cluster the shard's cluster belongs to (stage global): the same in every
   * region, for the switchover and failover runbooks.
   *
   * @default - not a global database
   */
  readonly globalClusterIdentifier?: string;
  /**
   * Whether this region's cluster is a read-only secondary of a global cluster (stage global, further regions):
   * `writerHost` is then the reader endpoint too, and writes are served by the home region.
   *
   * @default false
   */
  readonly readOnly?: boolean;
}

/** How to reach the Redis cache of a region. */
export interface CacheEndpoint {
  /** Host of the primary endpoint (follows failovers). */
  readonly host: string;
  /** Port. */
  readonly port: number;
  /** ARN of the AUTH token secret (TLS and the token are always required). */
  readonly authTokenSecretArn: string;
  /** ARN of the key the AUTH token secret is encrypted with. */
  readonly secretKeyArn: string;
  /** Security group a client must be admitted to on `port`. */
  readonly securityGroupId: string;
}

/** How to reach the queue of cache-invalidation events (stage 100k on). */
export interface QueueEndpoint {
  /** URL of the queue (the app's `INVALIDATION_QUEUE_URL`). */
  readonly queueUrl: string;
  /** ARN of the queue. */
  readonly queueArn: string;
  /** ARN of the customer-managed key the queue is encrypted with. */
  readonly keyArn: string;
  /** Receives before SQS dead-letters a message (the app's `INVALIDATION_MAX_RECEIVES`). */
  readonly maxReceiveCount: number;
}

/** How services reach the domain events (stage 1m on). */
export interface EventsEndpoint {
  /** Name of the EventBridge bus (the app's `EVENT_BUS_NAME`). */
  readonly busName: string;
  /** ARN of the bus (services may `events:PutEvents` on it, with their own source only). */
  readonly busArn: string;
  /** Each consuming service's queue (its `EVENT_QUEUE_URL`), by service id. */
  readonly queues: Readonly<Record<string, QueueEndpoint>>;
}

/** Everything a region's services may reach in its data tier. */
export interface DataEndpoints {
  /** Every shard, shard `0` first, then in the order of the stage's `shards`. */
  readonly shards: readonly DatabaseEndpoint[];
  /**
   * The cache.
   *
   * @default - no cache: the app caches and keeps sessions in memory
   */
  readonly cache?: CacheEndpoint;
  /**
   * Where sessions are read, when not on `cache` (stage global, a secondary region: the region's read-only member
   * of the sessions' Global Datastore; the app's `SESSION_REDIS_*`). Its AUTH token is the cache's.
   *
   * @default - sessions on the cache
   */
  readonly sessions?: CacheEndpoint;
  /**
   * The queue of cache-invalidation events.
   *
   * @default - no queue: the app's default (Redis Streams on the cache)
   */
  readonly invalidationQueue?: QueueEndpoint;
  /**
   * The domain-event bus and the consumers' queues.
   *
   * @default - no bus: the app's default event bus
   */
  readonly events?: EventsEndpoint;
  /** ARN of the secret the app signs session cookies with. */
  readonly sessionSecretArn: string;
  /** ARN of the key the session secret is encrypted with. */
  readonly sessionSecretKeyArn: string;
}

/**
 * The shard `0` endpoint of a set of endpoints.
 *
 * @throws Error when there is none (a data tier always has shard 0)
 */
export function shardZero(endpoints: DataEndpoints): DatabaseEndpoint {
  const shard = endpoints.shards[0];
  if (shard === undefined || shard.shardId !== SHARD_ZERO_ID) {
    throw new Error("DataEndpoints: the first shard must be shard 0 (the stage's database)");
  }
  return shard;
}
