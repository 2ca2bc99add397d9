import type { FastifyInstance } from 'fastify';
import { requireAdmin } from '../../context';
import { badRequest } from '../../errors';
import {
  adminProductOrdersSchema,
  adminSalesSchema,
  adminUserSearchSchema,
  MAX_SALES_DAYS,
} from '../../schemas/admin';

/**
 * Admin reports across every user (scatter-gather over the physical shards; one query unsharded). Admins only.
 * A shard that does not answer within SCATTER_SHARD_TIMEOUT_MS leaves the answer `partial: true` with its id in
 * `missingShards`: still a 200, never a hang or a 500.
 */
export async function adminRoutes(app: FastifyInstance): Promise<void> {
  await adminOrderRoutes(app);
  await adminUserRoutes(app);
}

/** The admin reports over orders (the orders service of stage 1m): orders with a product, sales per day. */
export async function adminOrderRoutes(app: FastifyInstance): Promise<void> {
  const shop = app.shop;
  const { reports } = shop;

  app.get<{ Querystring: { productId: string; limit: number; cursor?: string } }>(
    '/api/admin/orders',
    { schema: adminProductOrdersSchema },
    async (request) => {
      await requireAdmin(request, shop);
      const { productId, limit, cursor } = request.query;
      return reports.ordersWithProduct(productId, limit, cursor);
    },
  );

  app.get<{ Querystring: { from: string; to: string } }>(
    '/api/admin/sales',
    { schema: adminSalesSchema },
    async (request) => {
      await requireAdmin(request, shop);
      const { from, to } = request.query;
      const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000 + 1;
      if (days < 1) throw badRequest(`querystring/to must not be before querystring/from (${from})`);
      if (days > MAX_SALES_DAYS)
        throw badRequest(
          `querystring/to: at most ${MAX_SALES_DAYS} days from querystring/from; ask in parts`,
        );
      return reports.salesPerDay(from, to);
    },
  );
}

/** The admin user search (the users service of stage 1m). */
export async function adminUserRoutes(app: FastifyInstance): Promise<void> {
  const shop = app.shop;
  const { reports, roles } = shop;
  app.get<{ Querystring: { q: string; limit: number; cursor?: string } }>(
    '/api/admin/users',
    { schema: adminUserSearchSchema },
    async (request) => {
      await requireAdmin(request, shop);
      const { q, limit, cursor } = request.query;
      const found = await reports.searchUsers(q, limit, cursor);
      return { ...found, items: found.items.map((user) => roles.withEffectiveRole(user)) };
    },
  );
}
