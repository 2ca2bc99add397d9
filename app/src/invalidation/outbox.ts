import type { Database, SqlExecutor } from '../db/database';
import type { MessageQueue } from '../queue/message-queue';
import {
  OutboxTableRelay,
  type OutboxRow,
  type OutboxTableRelayOptions,
  type OutboxWakeSource,
  type RelayLogger,
} from '../outbox/outbox-table-relay';
import type { InvalidationEvent } from './invalidation-event';

/** The channel the outbox trigger notifies on commit (migration 004). */
export const OUTBOX_CHANNEL = 'invalidation_outbox';

/**
 * The write side of the outbox of one database: records a change's invalidation in the change's own
 * transaction. One instance per database that holds cached data (today one; with sharding the catalog and
 * every shard), each with its own {@link OutboxRelay}.
 */
export class InvalidationOutbox {
  /** @param source the database's id, carried in every event (`main`, `catalog`, `shard-3`) */
  constructor(readonly source: string) {}

  /**
   * Inserts the event: one statement, on `tx`, which must be a transaction on this outbox's database (the
   * transaction that makes the change), never a separate connection.
   */
  async record(tx: SqlExecutor, tags: readonly string[]): Promise<void> {
    const unique = [...new Set(tags)];
    if (unique.length === 0) return;
    await tx.query('INSERT INTO invalidation_outbox (tags) VALUES ($1)', [unique]);
  }

  /** Runs `change` in a transaction on `db` and records `tags(result)` in it (no event when it throws). */
  async transaction<T>(
    db: Database,
    change: (tx: SqlExecutor) => Promise<T>,
    tags: (result: T) => readonly string[],
  ): Promise<T> {
    return db.transaction(async (tx) => {
      const result = await change(tx);
      await this.record(tx, tags(result));
      return result;
    });
  }
}

/** @see OutboxWakeSource in outbox/outbox-table-relay (re-exported: the invalidation code imports it here). */
export type { OutboxWakeSource, RelayLogger };

/** Options of {@link OutboxRelay}. */
export type OutboxRelayOptions = OutboxTableRelayOptions;

interface InvalidationRow extends OutboxRow {
  event_id: string;
  tags: string[];
  created_at: Date | string;
}

/**
 * Publishes a database's unsent invalidation rows to the queue and marks them sent: the shared
 * {@link OutboxTableRelay} over `invalidation_outbox`, each batch coalesced into one
 * {@link InvalidationEvent} (one queue message), so the whole batch is accepted or none of it.
 */
export class OutboxRelay extends OutboxTableRelay<InvalidationRow> {
  constructor(db: Database, queue: MessageQueue, options: OutboxRelayOptions) {
    super(
      db,
      {
        name: 'invalidation_outbox',
        columns: 'id::text AS id, event_id, tags, created_at',
        publish: async (rows) => {
          const event: InvalidationEvent = {
            v: 1,
            source: options.source,
            eventIds: rows.map((r) => r.event_id),
            tags: [...new Set(rows.flatMap((r) => r.tags))],
            oldestAt: Math.min(...rows.map((r) => new Date(r.created_at).getTime())),
          };
          await queue.send([JSON.stringify(event)]);
          return { sent: rows.map((r) => r.id) };
        },
      },
      options,
    );
  }
}
