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
  /**
   * Overdue reservations left for a later run: the user's logical shard is moving or fenced, or the map changed
   * while its shard was read (deciding then could look on the wrong physical shard).
   */
  readonly skipped: number;
}

/**
 * Settles the reservations a placement left unconfirmed (its process died between reserving and confirming, or
 * its release failed). For each one older than the timeout: if the order exists on its user's shard, confirm
 * the reservation; otherwise release it.
 *
 * The shard map is checked before each decision ({@link UserDataRouter.settledPlace}) and again after the
 * shard was read: a logical shard that is moving or fenced, or whose entry changed meanwhile, is skipped until
 * a later run, so no decision is made on the wrong physical shard. No lock is held while a shard is queried:
 * the overdue rows are listed without locks, and each order is settled in its own short catalog transaction
 * that locks its reservation rows (FOR UPDATE SKIP LOCKED, re-checking they are still unconfirmed), so every
 * instance may run it without two settling one order, and placements never wait on a shard's answer.
 */
export class ReservationReconciler {
  constructor(
    private readonly catalog: Database,
    private readonly router: UserDataRouter,
    private readonly options: ReservationReconcilerOptions,
  ) {}

  /** One pass over up to `batch` overdue reservation rows. */
  async runOnce(): Promise<ReconcileResult> {
    const { rows } = await this.catalog.writer.query<{
      order_id: string;
      user_id: string;
      product_ids: string[];
    }>(
      `SELECT order_id, user_id, array_agg(product_id::text) AS product_ids FROM (
         SELECT order_id, user_id, product_id FROM stock_reservations
         WHERE confirmed_at IS NULL AND reserved_at < now() - make_interval(secs => $1)
         ORDER BY reserved_at LIMIT $2
       ) overdue GROUP BY order_id, user_id`,
      [this.options.timeoutSeconds, this.options.batch],
    );
    let confirmed = 0;
    let released = 0;
    let skipped = 0;
    for (const row of rows) {
      const place = await this.router.settledPlace(row.user_id);
      if (!place) {
        skipped += 1;
        continue;
      }
      const found = await place.shard.db.writer.query(
        `SELECT 1 FROM ${safeSchema(place.schema)}.orders WHERE id = $1 AND user_id = $2`,
        [row.order_id, row.user_id],
      );
      if (!(await this.router.stillSettled(place))) {
        skipped += 1;
        continue;
      }
      const exists = found.rows.length > 0;
      const settled = await this.catalog.transaction(async (tx) => {
        const { rows: open } = await tx.query(
          `SELECT 1 FROM stock_reservations
           WHERE order_id = $1 AND confirmed_at IS NULL AND reserved_at < now() - make_interval(secs => $2)
           FOR UPDATE SKIP LOCKED`,
          [row.order_id, this.options.timeoutSeconds],
        );
        // Settled (or being settled) by another instance meanwhile.
        if (open.length === 0) return false;
        if (exists)
          await tx.query(
            'UPDATE stock_reservations SET confirmed_at = now() WHERE order_id = $1 AND confirmed_at IS NULL',
            [row.order_id],
          );
        else await releaseReservation(tx, row.order_id, this.options.tagsOf(row.product_ids));
        return true;
      });
      if (!settled) continue;
      if (exists) confirmed += 1;
      else released += 1;
    }
    return { confirmed, released, skipped };
  }
}
