import type { FastifyInstance } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { afterWrite, catalogCache, requireUser } from '../../context';
import { badRequest, notFound } from '../../errors';
import { getOrderSchema, listOrdersSchema, MAX_LINE_QUANTITY, placeOrderSchema } from '../../schemas/orders';

/** Orders of the logged-in user: place one, list them, get one. */
export async function orderRoutes(app: FastifyInstance): Promise<void> {
  const shop = app.shop;
  const { db, orders, reads } = shop;

  app.post<{ Body: { items: { productId: string; quantity: number }[] } }>(
    '/api/orders',
    { schema: placeOrderSchema },
    async (request, reply) => {
      const { userId } = requireUser(request);
      // The same product twice becomes one line with the summed quantity (ids arrive lower-cased).
      const merged = new Map<string, { productId: string; quantity: number; field: string }>();
      request.body.items.forEach((item, i) => {
        const { productId } = item;
        const line = merged.get(productId);
        if (line) line.quantity += item.quantity;
        else
          merged.set(productId, { productId, quantity: item.quantity, field: `body/items/${i}/productId` });
      });
      for (const line of merged.values()) {
        if (line.quantity > MAX_LINE_QUANTITY) {
          throw badRequest(`${line.field}: at most ${MAX_LINE_QUANTITY} units of one product per order`);
        }
      }
      // Prices come from the catalog and stock is taken in the same statement as the order is written.
      // The order changes these products' stock, and with it every catalog page: the statement that places
      // it also records that invalidation in the outbox (same statement, same transaction).
      const tags = [
        catalogCache.catalogTag,
        ...[...merged.keys()].map((productId) => catalogCache.productTag(productId)),
      ];
      const order = await orders.place(
        db.writer,
        { id: uuidv7(), userId, lines: [...merged.values()] },
        tags,
      );
      await afterWrite(shop, request.session, tags);
      return reply.code(201).send(order);
    },
  );

  app.get('/api/orders', { schema: listOrdersSchema }, async (request) => {
    const { userId } = requireUser(request);
    return { items: await orders.listForUser(await reads.readerFor(request.session), userId) };
  });

  app.get<{ Params: { id: string } }>('/api/orders/:id', { schema: getOrderSchema }, async (request) => {
    const { userId } = requireUser(request);
    const order = await orders.getForUser(await reads.readerFor(request.session), userId, request.params.id);
    if (!order) throw notFound(`order ${request.params.id} does not exist`);
    return order;
  });
}
