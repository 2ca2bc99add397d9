import type { FastifyRequest, Session } from 'fastify';
import type { Cache } from './cache/cache';
import type { ReplicaInvalidation } from './cache/replica-invalidation';
import type { AppConfig } from './config';
import type { Database } from './db/database';
import type { DomainEventPipeline } from './events/event-pipeline';
import type { InvalidationPipeline } from './invalidation/invalidation-pipeline';
import { forbidden, unauthorized } from './errors';
import type { AppMetrics } from './metrics';
import type { ReadRouter } from './read-routing';
import type { RedisBreaker } from './redis-breaker';
import { toSearchQuery, type CatalogRepository } from './repositories/catalog-repository';
import type { OrderPlacement } from './orders/order-placement';
import type { ReservationReconciler } from './orders/reservation-reconciler';
import type { OrderRepository } from './repositories/order-repository';
import type { AdminReports } from './repositories/admin-reports';
import type { UserRepository } from './repositories/user-repository';
import type { RoleReader } from './roles';
import type { UserAccounts } from './sharding/user-accounts';
import type { UserDataPlace, UserDataRouter } from './sharding/user-data-router';
import type { CheckedSessionStore } from './sessions/session-stores';
import type { OutboxFollower } from './regions/outbox-follower';

/** Everything routes need, built once per app instance. */
export interface ShopContext {
  config: AppConfig;
  db: Database;
  /** The shared cache (Redis or in process): roles and anything without a first level. */
  cache: Cache;
  /**
   * Product and catalog pages: the first-level cache in this process in front of `cache`'s store (a
   * TieredCache), or `cache` itself when caching is off.
   */
  pageCache: Cache;
  /** The outbox, relay and consumer of event-based invalidation (outbox `main`: the one database). */
  invalidation: InvalidationPipeline;
  /** Domain events (stage 1m): outbox relays to the bus, and this process's consumers. */
  events?: DomainEventPipeline;
  /** A secondary region's follower of the replicated invalidation outbox (stage global, REGION_ROLE=secondary). */
  follower?: OutboxFollower;
  /** Second invalidation of a write's tags once the replica has replayed it. */
  replicaInvalidation: ReplicaInvalidation;
  /** Reads of shard 0 (the catalog; everything in the unsharded layout). */
  reads: ReadRouter;
  /** Where each user's data lives: the user's logical shard schema on its physical shard, or public. */
  userData: UserDataRouter;
  /** Users by id and email across shards (the global email directory in the sharded layout). */
  accounts: UserAccounts;
  /** How an order is placed: one statement, or reservation in the catalog + order on the user's shard. */
  placement: OrderPlacement;
  /** Settles reservations an interrupted placement left (sharded layout only). */
  reconciler?: ReservationReconciler;
  metrics: AppMetrics;
  catalog: CatalogRepository;
  users: UserRepository;
  orders: OrderRepository;
  /** Admin reports across every user: scatter-gather over the physical shards (one query unsharded). */
  reports: AdminReports;
  /** Effective roles, read per request. */
  roles: RoleReader;
  /** The session store, asked before log-in and sign-up whether it can keep a session. */
  sessions: CheckedSessionStore;
  /** The circuit breaker in front of Redis, when Redis is used. */
  redisBreaker?: RedisBreaker;
}

declare module 'fastify' {
  interface FastifyInstance {
    shop: ShopContext;
  }
}

/** The logged-in user's id; 401 when the request has no user session. */
export function requireUser(request: FastifyRequest): { userId: string } {
  const userId = request.session?.userId;
  if (!userId) throw unauthorized();
  return { userId };
}

/**
 * The logged-in admin's id; 401 without a session (or when the user is gone), 403 for anyone whose current
 * role is not admin. The role is read per request: a demotion applies to sessions already open.
 */
export async function requireAdmin(request: FastifyRequest, shop: ShopContext): Promise<string> {
  const { userId } = requireUser(request);
  const role = await shop.roles.currentRole(userId);
  if (role === null) throw unauthorized();
  if (role !== 'admin') throw forbidden();
  return userId;
}

/**
 * Cache keys and tags of the catalog, in one place so writes invalidate exactly what reads cache. Keys are
 * built from canonical values only: ids arrive lower-cased from the validator, and a search is keyed by the
 * query it runs (`mug`, `MUG` and `mug!` are one entry), so no spelling of a request gets an entry of its own.
 */
export const catalogCache = {
  productKey: (id: string) => `product:${id}`,
  productTag: (id: string) => `product:${id}`,
  listKey: (limit: number, cursor?: string, q?: string) =>
    `products:${limit}:${cursor ?? ''}:${(q === undefined ? null : toSearchQuery(q)) ?? ''}`,
  catalogTag: 'catalog',
} as const;

/** The outbox the catalog's and orders' writes record their invalidations in (one database today). */
export const MAIN_OUTBOX = 'main';

/**
 * Everything that follows a committed write whose tags are already in the outbox (recorded in the write's
 * own transaction): wake this instance's relay, so the event reaches every instance within the invalidation
 * delay; invalidate here at once too (the shared tag versions and this process's first level), so this
 * instance never answers with the old value after the write's response, even before the event arrives; route
 * this user's reads to the writer until the replica has it (read-your-writes); and invalidate again once the
 * replica has replayed it. Never throws: the write already succeeded, and the outbox is the guarantee.
 */
export async function afterWrite(
  shop: ShopContext,
  session: Session | undefined,
  tags: readonly string[],
  userShard?: UserDataPlace,
) {
  // The write may have recorded a domain event in its database's event outbox: relay it now, not at the poll.
  shop.events?.wake();
  if (tags.length > 0) {
    shop.invalidation.wake(MAIN_OUTBOX);
    shop.invalidation.firstLevel.evictTags(tags);
    await shop.pageCache.invalidateTags(tags);
  }
  const lsn = await shop.reads.recordWrite(session);
  shop.replicaInvalidation.schedule(tags, lsn);
  // The user's own rows were written on their shard: read-your-writes there too (its own WAL position).
  if (userShard && userShard.shard.id !== '0') await userShard.shard.reads.recordWrite(session);
}
