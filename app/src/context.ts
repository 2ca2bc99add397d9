import type { FastifyRequest, Session } from 'fastify';
import type { Cache } from './cache/cache';
import type { ReplicaInvalidation } from './cache/replica-invalidation';
import type { AppConfig } from './config';
import type { Database } from './db/database';
import { forbidden, unauthorized } from './errors';
import type { AppMetrics } from './metrics';
import type { ReadRouter } from './read-routing';
import type { RedisBreaker } from './redis-breaker';
import { toSearchQuery, type CatalogRepository } from './repositories/catalog-repository';
import type { OrderRepository } from './repositories/order-repository';
import type { UserRepository } from './repositories/user-repository';
import type { RoleReader } from './roles';
import type { CheckedSessionStore } from './sessions/session-stores';

/** Everything routes need, built once per app instance. */
export interface ShopContext {
  config: AppConfig;
  db: Database;
  cache: Cache;
  /** Second invalidation of a write's tags once the replica has replayed it. */
  replicaInvalidation: ReplicaInvalidation;
  reads: ReadRouter;
  metrics: AppMetrics;
  catalog: CatalogRepository;
  users: UserRepository;
  orders: OrderRepository;
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

/**
 * Everything that follows a committed write: invalidate the tags it changed, route this user's reads to the
 * writer until the replica has it (read-your-writes), and invalidate the tags again once the replica has
 * replayed it. Never throws: the write already succeeded.
 */
export async function afterWrite(shop: ShopContext, session: Session | undefined, tags: readonly string[]) {
  if (tags.length > 0) await shop.cache.invalidateTags(tags);
  const lsn = await shop.reads.recordWrite(session);
  shop.replicaInvalidation.schedule(tags, lsn);
}
