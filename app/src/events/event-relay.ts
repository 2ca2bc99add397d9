import type { Database } from '../db/database';
import { OutboxTableRelay, type OutboxRow, type OutboxTableRelayOptions } from '../outbox/outbox-table-relay';
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
}

/**
 * Publishes a database's unsent domain events (`public.event_outbox`) to the bus: the shared outbox relay
 * ({@link OutboxTableRelay}: batches under FOR UPDATE SKIP LOCKED, wake-ups, backoff, pruning) with a per-event
 * outcome. Each envelope is checked against its schema first: one that fails is marked failed (`failed_at`,
 * `error`) and never published, so a producer bug cannot block the events behind it. Only events the bus
 * accepted are marked sent; the rest (an EventBridge partial failure) stay unsent and go again in the next batch.
 */
export class DomainEventRelay extends OutboxTableRelay<EventRow> {
  constructor(db: Database, bus: EventBus, options: DomainEventRelayOptions) {
    super(
      db,
      {
        name: 'event_outbox',
        columns: 'id::text AS id, event_id::text AS event_id, envelope, created_at',
        keepsFailed: true,
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
