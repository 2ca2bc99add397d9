import type { FastifyInstance } from 'fastify';
import { afterWrite, catalogCache, MAIN_OUTBOX, requireAdmin } from '../../context';
import { notFound } from '../../errors';
import { existingSession } from '../../sessions/lazy-session';
import { withProductChanged } from '../../events/producers';
import { RenderedJson } from './rendered-json';
import type { NewProduct, ProductChanges } from '../../repositories/catalog-repository';
import {
  createProductSchema,
  getProductSchema,
  listProductsSchema,
  updateProductSchema,
} from '../../schemas/products';

/**
 * Catalog routes: cached reads (cache-aside), admin writes that invalidate what they change and never fill
 * the cache themselves. Ids arrive canonical (lower case) from the validator, so they key the cache as is.
 */
export async function productRoutes(app: FastifyInstance): Promise<void> {
  const shop = app.shop;
  const { db, pageCache: cache, catalog, reads } = shop;
  const outbox = shop.invalidation.outbox(MAIN_OUTBOX);
  // Cached pages are sent as the JSON rendered when they were cached, not serialised again per request.
  const rendered = new RenderedJson();

  app.get<{ Querystring: { limit: number; cursor?: string; q?: string } }>(
    '/api/products',
    { schema: listProductsSchema },
    async (request, reply) => {
      const { limit, cursor, q } = request.query;
      const source = await reads.readerFor(existingSession(request));
      // A user reading their own write bypasses the cache: it may still hold the pre-write page.
      if (reads.readsOwnWrites(source)) return catalog.list(source, { limit, cursor, q });
      const page = await cache.getOrLoad(
        catalogCache.listKey(limit, cursor, q),
        [catalogCache.catalogTag],
        () => catalog.list(source, { limit, cursor, q }),
      );
      return rendered.send(reply, page);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/products/:id',
    { schema: getProductSchema },
    async (request, reply) => {
      const { id } = request.params;
      const source = await reads.readerFor(existingSession(request));
      const product = reads.readsOwnWrites(source)
        ? await catalog.get(source, id)
        : await cache.getOrLoad(catalogCache.productKey(id), [catalogCache.productTag(id)], () =>
            catalog.get(source, id),
          );
      if (!product) throw notFound(`product ${id} does not exist`);
      return rendered.send(reply, product);
    },
  );

  app.post<{ Body: NewProduct }>('/api/products', { schema: createProductSchema }, async (request, reply) => {
    await requireAdmin(request, shop);
    const tagsOf = (p: { id: string }) => [catalogCache.catalogTag, catalogCache.productTag(p.id)];
    // The invalidation event is recorded in the insert's own transaction (the outbox): no commit, no event.
    const product = await outbox.transaction(
      db,
      async (tx) => withProductChanged(tx, await catalog.create(tx, request.body), 'created'),
      tagsOf,
    );
    await afterWrite(shop, request.session, tagsOf(product));
    return reply.code(201).send(product);
  });

  app.patch<{ Params: { id: string }; Body: ProductChanges }>(
    '/api/products/:id',
    { schema: updateProductSchema },
    async (request) => {
      await requireAdmin(request, shop);
      const { id } = request.params;
      const tags = [catalogCache.catalogTag, catalogCache.productTag(id)];
      const product = await outbox.transaction(
        db,
        async (tx) => {
          const updated = await catalog.update(tx, id, request.body);
          return updated && withProductChanged(tx, updated, 'updated');
        },
        (updated) => (updated ? tags : []),
      );
      if (!product) throw notFound(`product ${id} does not exist`);
      // Invalidate only; the next read fills the cache. A copy of this row put into the cache here would be
      // marked valid while missing an order that committed after the UPDATE (a stock too high for a whole
      // TTL). A refill from a lagging replica is covered by the second invalidation once it has replayed.
      await afterWrite(shop, request.session, tags);
      return product;
    },
  );
}
