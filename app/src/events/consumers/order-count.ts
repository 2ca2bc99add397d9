import { safeSchema } from '../../sharding/logical-shard';
import type { UserDataRouter } from '../../sharding/user-data-router';
import type { EventEffect } from '../event-consumer';

/** The dedupe key's consumer name (processed_events.consumer). */
export const ORDER_COUNT_CONSUMER = 'users';

/**
 * The users service's effect of OrderPlaced: +1 on the user's `order_count`, on the user's shard, in one
 * transaction with the dedupe record in the same schema (`ls_NNN.processed_events` sharded, `public` unsharded),
 * so the record moves with the row it guards. The write goes through the router: a logical shard being moved
 * waits, then answers 503 (retried by the consumer as an outage, not counted as a failed receive). A user that
 * does not exist fails the event (it ends in the dead-letter queue after the allowed receives).
 */
export function orderCountEffect(router: UserDataRouter): EventEffect<'OrderPlaced'> {
  return (event) =>
    router.write(event.data.userId, async ({ shard, schema }) => {
      const s = safeSchema(schema);
      // Applied before the move from the unsharded layout? Its record is then in shard 0's public table, which
      // that move does not copy and which no longer changes once user data is in the schemas (the move fenced
      // public.users before the flip): a lookup outside the transaction is enough.
      if (schema !== 'public') {
        const { rows: legacy } = await router.shard0.db.writer.query(
          'SELECT 1 FROM public.processed_events WHERE consumer = $1 AND event_id = $2',
          [ORDER_COUNT_CONSUMER, event.id],
        );
        if (legacy.length > 0) return false;
      }
      return shard.db.transaction(async (tx) => {
        const { rows: fresh } = await tx.query(
          `INSERT INTO ${s}.processed_events (consumer, event_id) VALUES ($1, $2)
           ON CONFLICT DO NOTHING RETURNING event_id`,
          [ORDER_COUNT_CONSUMER, event.id],
        );
        if (fresh.length === 0) return false;
        const { rows } = await tx.query(
          `UPDATE ${s}.users SET order_count = order_count + 1 WHERE id = $1 RETURNING id`,
          [event.data.userId],
        );
        // Throwing rolls the dedupe record back with it.
        if (rows.length === 0)
          throw new Error(`OrderPlaced ${event.id}: user ${event.data.userId} does not exist`);
        return true;
      });
    });
}
