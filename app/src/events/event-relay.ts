import type { Database } from '../db/database';
import type { SqlExecutor } from '../db/database';
import {
  OutboxTableRelay,
  pruneInBatches,
  type OutboxRow,
  type OutboxTableRelayOptions,
} from '../outbox/outbox-table-relay';
import type { DomainEvent, DomainEventType } from './domain-event';
import type { EventBus } from './event-bus';
import { validateDomainEvent } from './event-validation';

interface EventRow extends OutboxRow {
  event_id: string;
  envelope: unknown;
  created_at: Date | string;
}

/** Options of {@link DomainEventRelay}. */
export interface DomainEventRelayOptions extends OutboxTableRelayOptions {
  /**
   * The event types this relay publishes: a service publishes only its own (its PutEvents permission is
   * limited to its `Source`), the others are left to their producing service's relay. @default - every type
   */
  types?: readonly DomainEventType[];
  /** Told, per event the bus accepted, when its row was inserted (epoch ms): the publish delay metric. */
  onAccepted?: (event: DomainEvent, insertedAt: number) => void;
  /**
   * Age after which the consumers' dedupe records of this database are deleted: `processed_events` (public and
   * every logical shard schema) and `stock_releases`. Must exceed the longest a message can still be delivered
   * (SQS keeps a message 14 days at most, its DLQ included). @default 2592000000 (30 days)
   */
  keepProcessedMs?: number;
  /**
   * How often the dedupe records are pruned (one statement per schema that has them: 257 on a sharded database,
   * so not with every outbox prune), the first time this long after the relay is made. @default 3600000 (1 h)
   */
  pruneProcessedEveryMs?: number;
}

/** Default of {@link DomainEventRelayOptions.keepProcessedMs}: 30 days. */
export const KEEP_PROCESSED_MS = 30 * 24 * 3_600_000;

/**
 * Deletes dedupe records older than `keepMs` on `db`: `processed_events` in every schema that has one (public and
 * each ls_NNN) and `public.stock_releases`, each in batches (see {@link pruneInBatches}). Returns the rows deleted.
 */
export async function pruneDedupeRecords(
  db: SqlExecutor,
  keepMs: number,
  batches: { batch?: number; maxBatches?: number } = {},
): Promise<number> {
  const secs = keepMs / 1000;
  const { rows: schemas } = await db.query<{ schema: string }>(
    `SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname = 'processed_events' AND c.relkind IN ('r', 'p') ORDER BY 1`,
  );
  let deleted = 0;
  for (const { schema } of schemas) {
    const table = `"${schema.replace(/"/g, '""')}".processed_events`;
    deleted += await pruneInBatches(
      db,
      `DELETE FROM ${table} WHERE (consumer, event_id) IN (
         SELECT consumer, event_id FROM ${table} WHERE processed_at < now() - make_interval(secs => $2) LIMIT $1)`,
      [secs],
      batches,
    );
  }
  const { rows: releases } = await db.query<{ table: string | null }>(
    "SELECT to_regclass('public.stock_releases')::text AS table",
  );
  if (releases[0].table !== null)
    deleted += await pruneInBatches(
      db,
      `DELETE FROM public.stock_releases WHERE order_id IN (
         SELECT order_id FROM public.stock_releases WHERE released_at < now() - make_interval(secs => $2) LIMIT $1)`,
      [secs],
      batches,
    );
  return deleted;
}

/**
 * Publishes a database's unsent domain events (`public.event_outbox`) to the bus: the shared outbox relay
 * ({@link OutboxTableRelay}: batches under FOR UPDATE SKIP LOCKED, wake-ups, backoff, pruning, here with the
 * consumers' dedupe records of the same database: {@link pruneDedupeRecords}) with a per-event
 * outcome. Each envelope is checked against its schema first: one that fails is marked failed (`failed_at`,
 * `error`) and never published, so a producer bug cannot block the events behind it. Only events the bus
 * accepted are marked sent; the rest (an EventBridge partial failure) stay unsent and go again in the next batch.
 */
export class DomainEventRelay extends OutboxTableRelay<EventRow> {
  constructor(db: Database, bus: EventBus, options: DomainEventRelayOptions) {
    let lastDedupePrune = Date.now();
    super(
      db,
      {
        name: 'event_outbox',
        columns: 'id::text AS id, event_id::text AS event_id, envelope, created_at',
        keepsFailed: true,
        pruneAlso: async (writer, batches) => {
          if (Date.now() - lastDedupePrune < (options.pruneProcessedEveryMs ?? 3_600_000)) return 0;
          lastDedupePrune = Date.now();
          return pruneDedupeRecords(writer, options.keepProcessedMs ?? KEEP_PROCESSED_MS, batches);
        },
        ...(options.types ? { only: { column: 'type', values: options.types } } : {}),
        publish: async (rows) => {
          const rejected: { id: string; error: string }[] = [];
          const valid: { row: EventRow; event: DomainEvent }[] = [];
          for (const row of rows) {
            try {
              const envelope = typeof row.envelope === 'string' ? JSON.parse(row.envelope) : row.envelope;
              valid.push({ row, event: validateDomainEvent(envelope) });
            } catch (err) {
              rejected.push({ id: row.id, error: (err as Error).message });
            }
          }
          if (valid.length === 0) return { sent: [], rejected };
          const result = await bus.publish(valid.map((v) => v.event));
          const rowOf = new Map(valid.map((v) => [v.event.id, v]));
          const sent = result.accepted.flatMap((eventId) => {
            const v = rowOf.get(eventId);
            if (!v) return [];
            options.onAccepted?.(v.event, new Date(v.row.created_at).getTime());
            return [v.row.id];
          });
          for (const failure of result.failed) {
            const v = rowOf.get(failure.eventId);
            if (v && failure.permanent)
              rejected.push({ id: v.row.id, error: `${failure.code}: ${failure.message ?? ''}` });
          }
          const transient = result.failed.filter((f) => !f.permanent);
          if (transient.length > 0)
            options.logger?.warn(
              { source: options.source, failed: transient.slice(0, 10) },
              'the bus did not accept some events; they stay unsent and are retried',
            );
          return { sent, rejected };
        },
      },
      options,
    );
  }
}
