import type { Database } from '../../db/database';
import type { InvalidationOutbox } from '../../invalidation/outbox';
import type { EventEffect } from '../event-consumer';

/** The dedupe key's consumer name (processed_events.consumer). */
export const STOCK_RELEASE_CONSUMER = 'products';

/** Options of {@link stockReleaseEffect}. */
export interface StockReleaseOptions {
  /** The catalog's database (shard 0). */
  catalog: Database;
  /** The catalog's invalidation outbox: the stock change invalidates the products' pages. */
  invalidation: InvalidationOutbox;
  /** The cache tags of the changed products. */
  tagsOf: (productIds: readonly string[]) => string[];
  /** Called after an applied release committed (wake the invalidation relay). */
  afterRelease?: () => void;
}

/**
 * The products service's effect of OrderCancelled: gives the order's lines back to stock, on the catalog, in one
 * transaction with the dedupe record (`public.processed_events`) and the invalidation of the products' cache
 * tags. Idempotent twice over: by event id (a redelivery), and by order id (`stock_releases`: another
 * OrderCancelled of the same order releases nothing again).
 */
export function stockReleaseEffect(options: StockReleaseOptions): EventEffect<'OrderCancelled'> {
  return (event) =>
    options.catalog
      .transaction(async (tx) => {
        const { rows: fresh } = await tx.query(
          `INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)
         ON CONFLICT DO NOTHING RETURNING event_id`,
          [STOCK_RELEASE_CONSUMER, event.id],
        );
        if (fresh.length === 0) return false;
        const { rows: first } = await tx.query(
          'INSERT INTO stock_releases (order_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING order_id',
          [event.data.orderId],
        );
        if (first.length === 0) return true;
        const items = event.data.items;
        await tx.query(
          `UPDATE products p SET stock = p.stock + q.quantity, updated_at = now()
           FROM (SELECT id, sum(quantity)::int AS quantity FROM unnest($1::uuid[], $2::int[]) AS u(id, quantity)
                 GROUP BY id) q
          WHERE p.id = q.id`,
          [items.map((i) => i.productId), items.map((i) => i.quantity)],
        );
        await options.invalidation.record(tx, options.tagsOf(items.map((i) => i.productId)));
        return true;
      })
      .then((applied) => {
        if (applied) options.afterRelease?.();
        return applied;
      });
}
