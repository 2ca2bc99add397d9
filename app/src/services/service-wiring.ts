import fastifyStatic from '@fastify/static';
import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync } from 'fastify';
import { existsSync } from 'node:fs';
import type { AppConfig } from '../config';
import { CrossDatabaseOrderPlacement, type OrderPlacement } from '../orders/order-placement';
import { publicDir } from '../paths';
import type { OrderRepository } from '../repositories/order-repository';
import { adminOrderRoutes, adminUserRoutes } from '../routes/admin';
import { orderRoutes } from '../routes/orders';
import { opsRoutes } from '../routes/ops';
import { productRoutes } from '../routes/products';
import { sessionRoutes } from '../routes/sessions';
import { userRoutes } from '../routes/users';
import { HttpCatalogStock } from './http-catalog-stock';
import { ServiceClient } from './service-client';
import { INTERNAL_PREFIX, ownerOf, serves, type ServiceId, type ServiceSelection } from './service-routes';

/** Rate limit of log-in and sign-up (route config of @fastify/rate-limit). */
export interface AuthRateLimit {
  max: number;
  timeWindow: number;
}

/** The route plugins of each service: what a process with SERVICE=<id> registers. */
function routePlugins(authLimit: AuthRateLimit): Record<ServiceId, [FastifyPluginAsync<never>, object?][]> {
  return {
    users: [
      [userRoutes as FastifyPluginAsync<never>, { rateLimit: authLimit }],
      [sessionRoutes as FastifyPluginAsync<never>, { rateLimit: authLimit }],
      [adminUserRoutes],
    ],
    orders: [[orderRoutes], [adminOrderRoutes]],
    // The internal API is not here: the products service serves it on INTERNAL_PORT only (internal-server.ts),
    // and the monolith reserves in process.
    products: [[productRoutes]],
  };
}

/**
 * Registers the public routes of `service` (every service's for the monolith; never the internal API), the probes,
 * and the storefront's static files where the default service runs. A guard refuses, at start-up, any public
 * route the process registers that services/service-routes.ts gives to another service: the table is what runs.
 */
export async function registerServiceRoutes(
  app: FastifyInstance,
  service: ServiceSelection,
  authLimit: AuthRateLimit,
): Promise<void> {
  app.addHook('onRoute', (route) => {
    const path = route.url;
    if (path.startsWith(INTERNAL_PREFIX))
      throw new Error(`${path}: the internal API is served on INTERNAL_PORT only, never on the public port`);
    // Static files (wildcards) belong to the default service, which `serves` already says.
    if (!serves(service, path.replace(/[:*].*$/, '')))
      throw new Error(`route ${path} belongs to the ${ownerOf(path)} service, not SERVICE=${service}`);
  });
  await app.register(opsRoutes);
  const plugins = routePlugins(authLimit);
  const ids: ServiceId[] = service === 'all' ? ['users', 'products', 'orders'] : [service];
  for (const id of ids) {
    for (const [plugin, options] of plugins[id]) await app.register(plugin, options as never);
  }
  if ((service === 'all' || service === ownerOf('/')) && existsSync(publicDir)) {
    await app.register(fastifyStatic, { root: publicDir, index: 'index.html', wildcard: true });
  }
}

/**
 * The 404 message for a path this process does not answer: for a path another service owns it says which
 * (a request that reached the wrong service, e.g. a listener rule out of step with the route table).
 */
export function notFoundMessage(service: ServiceSelection, method: string, path: string): string {
  if (service !== 'all' && path.startsWith('/api/') && !serves(service, path)) {
    return `no route for ${method} ${path} here: the ${ownerOf(path)} service owns it, this is the ${service} service`;
  }
  return `no route for ${method} ${path}`;
}

/** The order placement of the orders service: reservations in the products service, over HTTP. */
export interface ServicePlacement {
  readonly placement: OrderPlacement;
  readonly client: ServiceClient;
}

/**
 * The placement of a process that reaches the catalog over HTTP (SERVICE=orders), else undefined (the catalog
 * is in this process's database: the monolith's placements).
 */
export function servicePlacement(
  config: AppConfig,
  orders: OrderRepository,
  log: FastifyBaseLogger,
): ServicePlacement | undefined {
  if (config.service !== 'orders' || !config.products) return undefined;
  const client = new ServiceClient({
    name: 'products',
    ...config.products,
    onStateChange: (state) =>
      (state === 'open' ? log.warn : log.info).call(
        log,
        { dependency: 'products', breaker: state },
        state === 'open'
          ? 'products service is not answering: orders fail fast with 503 until a probe succeeds'
          : `products circuit breaker ${state}`,
      ),
  });
  return { placement: new CrossDatabaseOrderPlacement(new HttpCatalogStock(client), orders), client };
}

/**
 * Whether this process runs the reservation reconciler: where the reservations live and are locked (the
 * catalog database) with the shard router to find their orders. The monolith runs it in the sharded layout; of
 * the services, products does (it owns stock_reservations, and reads only whether an order exists on its
 * shard), in any layout, because the orders service places every order across the two services.
 */
export function runsReservationReconciler(service: ServiceSelection, sharded: boolean): boolean {
  return service === 'products' || (service === 'all' && sharded);
}
