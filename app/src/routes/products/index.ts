import type { FastifyInstance } from 'fastify';
import { afterWrite, catalogCache, requireAdmin } from '../../context';
import { notFound } from '../../errors';
import type { NewProduct, ProductChanges } from '../../repositories/catalog-repository';
import {
  createProductSchema,
  getProductSchema,
  listProductsSchema,
  updateProductSchema,
} from '../../schemas/products';

/** Catalog routes: cached reads (cache-aside), admin writes that invalidate what they change. */
export async function productRoutes(app: FastifyInstance): Promise<void> {
  const shop = app.shop;
  const { db, cache, catalog, reads } = shop;

  app.get<{ Querystring: { limit: number; cursor?: string; q?: string } }>(
    '/api/products',
    { schema: listProductsSchema },
    async (request) => {
      const { limit, cursor, q } = request.query;
      const source = await reads.readerFor(request.session);
      // A user reading their own write bypasses the cache: it may still hold the pre-write page.
      if (reads.readsOwnWrites(source)) return catalog.list(source, { limit, cursor, q });
      return cache.getOrLoad(catalogCache.listKey(limit, cursor, q), [catalogCache.catalogTag], () =>
        catalog.list(source, { limit, cursor, q }),
      );
    },
  );

  app.get<{ Params: { id: string } }>('/api/products/:id', { schema: getProductSchema }, async (request) => {
    const { id } = request.params;
    const source = await reads.readerFor(request.session);
    const product = reads.readsOwnWrites(source)
      ? await catalog.get(source, id)
      : await cache.getOrLoad(catalogCache.productKey(id), [catalogCache.productTag(id)], () =>
          catalog.get(source, id),
        );
    if (!product) throw notFound(`product ${id} does not exist`);
    return product;
  });

  app.post<{ Body: NewProduct }>('/api/products', { schema: createProductSchema }, async (request, reply) => {
    requireAdmin(request);
    const product = await catalog.create(db.writer, request.body);
    await afterWrite(shop, request.session, [catalogCache.catalogTag, catalogCache.productTag(product.id)]);
    return reply.code(201).send(product);
  });

  app.patch<{ Params: { id: string }; Body: ProductChanges }>(
    '/api/products/:id',
    { schema: updateProductSchema },
    async (request) => {
      requireAdmin(request);
      const { id } = request.params;
      const product = await catalog.update(db.writer, id, request.body);
      if (!product) throw notFound(`product ${id} does not exist`);
      await afterWrite(shop, request.session, [catalogCache.catalogTag, catalogCache.productTag(id)]);
      // Write-through from the primary: otherwise the next miss could refill the entry from a replica that
      // has not replayed this update yet, and keep the old product cached for a whole TTL.
      await cache.put(catalogCache.productKey(id), [catalogCache.productTag(id)], product);
      return product;
    },
  );
}
