import type { FastifyInstance } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { afterWrite, catalogCache, requireUser } from '../../context';
import { badRequest, conflict, notFound } from '../../errors';
import {
  cancelOrderSchema,
  getOrderSchema,
  listOrdersSchema,
  MAX_LINE_QUANTITY,
  ORDER_CANCEL_WINDOW_SECONDS,
  placeOrderSchema,
} from '../../schemas/orders';

/** Orders of the logged-in user: place one, list them, get one. */
export async function orderRoutes(app: FastifyInstance): Promise<void> {
  const shop = app.shop;
  const { orders, placement, userData } = shop;

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
      // Prices come from the catalog and stock is taken by the same statement that writes the order (one
      // database), or that reserves it for the order (sharded: see CrossDatabaseOrderPlacement). The order
      // changes these products' stock, and with it every catalog page: that statement also records the
      // invalidation in the outbox (same statement, same transaction).
      const tags = [
        catalogCache.catalogTag,
        ...[...merged.keys()].map((productId) => catalogCache.productTag(productId)),
      ];
      const { order, place } = await userData.write(userId, async (place) => ({
        place,
        order: await placement.place(
          { id: uuidv7(), userId, lines: [...merged.values()] },
          { writer: place.shard.db.writer, schema: place.schema },
          tags,
        ),
      }));
      await afterWrite(shop, request.session, tags, place);
      return reply.code(201).send(order);
    },
  );

  app.get('/api/orders', { schema: listOrdersSchema }, async (request) => {
    const { userId } = requireUser(request);
    const { shard, schema } = userData.forRead(userId);
    return {
      items: await orders.listForUser(await shard.reads.readerFor(request.session), userId, 50, schema),
    };
  });

  app.get<{ Params: { id: string } }>('/api/orders/:id', { schema: getOrderSchema }, async (request) => {
    const { userId } = requireUser(request);
    const { shard, schema } = userData.forRead(userId);
    const order = await orders.getForUser(
      await shard.reads.readerFor(request.session),
      userId,
      request.params.id,
      schema,
    );
    if (!order) throw notFound(`order ${request.params.id} does not exist`);
    return order;
  });

  // The owner cancels: the status change and OrderCancelled in one statement on the user's shard; the products
  // service gives the stock back when the event reaches it (eventually consistent: README "Domain events").
  app.post<{ Params: { id: string } }>(
    '/api/orders/:id/cancel',
    { schema: cancelOrderSchema },
    async (request) => {
      const { userId } = requireUser(request);
      const { id } = request.params;
      const { outcome, place } = await userData.write(userId, async (place) => ({
        place,
        outcome: await orders.cancel(
          place.shard.db.writer,
          place.schema,
          userId,
          id,
          ORDER_CANCEL_WINDOW_SECONDS,
        ),
      }));
      if (outcome === 'not_found') throw notFound(`order ${id} does not exist`);
      if (outcome === 'too_late')
        throw conflict(
          `order ${id} was placed more than ${ORDER_CANCEL_WINDOW_SECONDS / 3600} h ago and can no longer be cancelled`,
        );
      if (outcome === 'cancelled') await afterWrite(shop, request.session, [], place);
      const order = await orders.getForUser(place.shard.db.writer, userId, id, place.schema);
      if (!order) throw notFound(`order ${id} does not exist`);
      return order;
    },
  );
}
