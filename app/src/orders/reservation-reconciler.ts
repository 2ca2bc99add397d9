import type { Database } from '../db/database';
import { safeSchema } from '../sharding/logical-shard';
import type { UserDataRouter } from '../sharding/user-data-router';
import { releaseReservation } from './order-placement';

/** Options of {@link ReservationReconciler}. */
export interface ReservationReconcilerOptions {
  /**
   * Age after which an unconfirmed reservation is settled. It must exceed the longest an order's write on a
   * shard can take (a request's whole life), or a write still in flight could find its stock released.
   */
  readonly timeoutSeconds: number;
  /** Reservation rows settled per run. */
  readonly batch: number;
  /** The cache tags a release of these products changes (the catalog's stock). */
  readonly tagsOf: (productIds: readonly string[]) => string[];
}

/** What one run did. */
export interface ReconcileResult {
  /** Orders found on their shard: their reservations confirmed. */
  readonly confirmed: number;
  /** Orders not found on their shard: their stock given back. */
  readonly released: number;
}

/**
 * Settles the reservations a placement left unconfirmed (its process died between reserving and confirming, or
 * its release failed). For each one older than the timeout: if the order exists on its user's shard, confirm
 * the reservation; otherwise release it. The rows are locked for the run (FOR UPDATE SKIP LOCKED in one
 * catalog transaction), so every instance may run it without two settling one order.
 */
export class ReservationReconciler {
  constructor(
    private readonly catalog: Database,
    private readonly router: UserDataRouter,
    private readonly options: ReservationReconcilerOptions,
  ) {}

  /** One pass over up to `batch` overdue reservation rows. */
  runOnce(): Promise<ReconcileResult> {
    return this.catalog.transaction(async (tx) => {
      const { rows } = await tx.query<{ order_id: string; user_id: string; product_ids: string[] }>(
        `SELECT order_id, user_id, array_agg(product_id::text) AS product_ids FROM (
           SELECT order_id, user_id, product_id FROM stock_reservations
           WHERE confirmed_at IS NULL AND reserved_at < now() - make_interval(secs => $1)
           ORDER BY reserved_at LIMIT $2 FOR UPDATE SKIP LOCKED
         ) overdue GROUP BY order_id, user_id`,
        [this.options.timeoutSeconds, this.options.batch],
      );
      let confirmed = 0;
      let released = 0;
      for (const row of rows) {
        const { shard, schema } = this.router.forRead(row.user_id);
        const found = await shard.db.writer.query(
          `SELECT 1 FROM ${safeSchema(schema)}.orders WHERE id = $1 AND user_id = $2`,
          [row.order_id, row.user_id],
        );
        if (found.rows.length > 0) {
          await tx.query(
            'UPDATE stock_reservations SET confirmed_at = now() WHERE order_id = $1 AND confirmed_at IS NULL',
            [row.order_id],
          );
          confirmed += 1;
        } else {
          await releaseReservation(tx, row.order_id, this.options.tagsOf(row.product_ids));
          released += 1;
        }
      }
      return { confirmed, released };
    });
  }
}
