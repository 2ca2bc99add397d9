import type { FastifyRequest } from 'fastify';
import type { Cache } from './cache/cache';
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
