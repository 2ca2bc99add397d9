import type { FastifyRequest, Session } from 'fastify';
import type { Cache } from './cache/cache';
import type { ReplicaInvalidation } from './cache/replica-invalidation';
import type { AppConfig } from './config';
import type { Database } from './db/database';
import { forbidden, unauthorized } from './errors';
import type { AppMetrics } from './metrics';
import type { ReadRouter } from './read-routing';
import type { CatalogRepository } from './repositories/catalog-repository';
import type { OrderRepository } from './repositories/order-repository';
import type { UserRepository } from './repositories/user-repository';

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
}

declare module 'fastify' {
  interface FastifyInstance {
    shop: ShopContext;
  }
}

/** The logged-in user's id and role; 401 when the request has no user session. */
export function requireUser(request: FastifyRequest): { userId: string; role: 'customer' | 'admin' } {
  const { userId, role } = request.session ?? {};
  if (!userId || !role) throw unauthorized();
  return { userId, role };
}

/** The logged-in admin's id; 401 without a session, 403 for a customer. */
export function requireAdmin(request: FastifyRequest): string {
  const { userId, role } = requireUser(request);
  if (role !== 'admin') throw forbidden();
  return userId;
}

/** Cache keys and tags of the catalog, in one place so writes invalidate exactly what reads cache. */
export const catalogCache = {
  productKey: (id: string) => `product:${id}`,
  productTag: (id: string) => `product:${id}`,
  listKey: (limit: number, cursor?: string, q?: string) =>
    `products:${limit}:${cursor ?? ''}:${encodeURIComponent(q?.trim().toLowerCase() ?? '')}`,
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
