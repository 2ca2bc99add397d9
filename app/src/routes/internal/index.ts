import type { FastifyInstance } from 'fastify';
import { afterWrite, catalogCache } from '../../context';
import { badRequest } from '../../errors';
import { SqlCatalogStock } from '../../orders/order-placement';
import type { RequestedLine } from '../../repositories/order-repository';
import { confirmStockSchema, releaseStockSchema, reserveStockSchema } from '../../schemas/internal';

/** The cache tags a stock change of these products changes. */
const stockTags = (productIds: readonly string[]) => [
  catalogCache.catalogTag,
  ...[...new Set(productIds)].map((id) => catalogCache.productTag(id)),
];

/**
 * The products service's internal API (stage 1m): stock reservations for the orders service, each idempotent
 * by the order id (a retried call finds the reservation it made). Registered only on the products service's
 * internal server (INTERNAL_PORT, services/internal-server.ts), never on a public port: the monolith reserves
 * in process, and `/internal/` is never routed by the gateway or the load balancers.
 */
export async function internalStockRoutes(app: FastifyInstance): Promise<void> {
  const shop = app.shop;
  const stock = new SqlCatalogStock(shop.db.writer);

  app.post<{ Params: { orderId: string }; Body: { userId: string; lines: RequestedLine[] } }>(
    '/internal/reservations/:orderId',
    { schema: reserveStockSchema },
    async (request) => {
      const { orderId } = request.params;
      const { userId, lines } = request.body;
      // One line per product (the orders service merges repeats): a repeat would collide in stock_reservations.
      const first = new Map<string, number>();
      for (const [i, line] of lines.entries()) {
        const earlier = first.get(line.productId.toLowerCase());
        if (earlier !== undefined)
          throw badRequest(
            `body/lines/${i}/productId: product ${line.productId} is also in body/lines/${earlier}; ` +
              'send each product once, with the summed quantity',
          );
        first.set(line.productId.toLowerCase(), i);
      }
      const tags = stockTags(lines.map((line) => line.productId));
      const reserved = await stock.reserve({ id: orderId, userId, lines }, tags);
      // The stock changed here: this instance's first level and the shared tags now, every instance by the event.
      await afterWrite(shop, undefined, tags);
      return { lines: reserved };
    },
  );

  app.post<{ Params: { orderId: string } }>(
    '/internal/reservations/:orderId/confirm',
    { schema: confirmStockSchema },
    async (request, reply) => {
      await stock.confirm(request.params.orderId);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { orderId: string } }>(
    '/internal/reservations/:orderId/release',
    { schema: releaseStockSchema },
    async (request) => {
      const { orderId } = request.params;
      const { rows } = await shop.db.writer.query<{ product_id: string }>(
        'SELECT product_id::text FROM stock_reservations WHERE order_id = $1 AND confirmed_at IS NULL',
        [orderId],
      );
      const tags = stockTags(rows.map((row) => row.product_id));
      const released = await stock.release(orderId, tags);
      if (released > 0) await afterWrite(shop, undefined, tags);
      return { released };
    },
  );
}
