import type { SqlExecutor } from '../db/database';
import type { Product } from '../repositories/catalog-repository';
import { newDomainEvent } from './domain-event';
import { recordDomainEvent } from './event-outbox';

/**
 * Records ProductChanged for `product` (as it is after the change) in the change's transaction `tx` on the
 * catalog, and returns the product. The order and user events are written by their repositories' statements
 * (`insertEventSql`), since those changes are single statements.
 */
export async function withProductChanged(
  tx: SqlExecutor,
  product: Product,
  change: 'created' | 'updated',
): Promise<Product> {
  await recordDomainEvent(
    tx,
    newDomainEvent('ProductChanged', {
      productId: product.id,
      change,
      sku: product.sku,
      name: product.name,
      priceCents: product.priceCents,
      stock: product.stock,
    }),
  );
  return product;
}
