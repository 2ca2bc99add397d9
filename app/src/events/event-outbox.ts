import type { SqlExecutor } from '../db/database';
import type { DomainEvent, DomainEventType } from './domain-event';
import { validateDomainEvent } from './event-validation';

/** The LISTEN/NOTIFY channel of the event outbox (migration 006). */
export const EVENT_OUTBOX_CHANNEL = 'event_outbox';

/**
 * Records a domain event built by the app in the transaction `tx` of the change it reports (validated against
 * its schema first: an invalid event fails the write, it is never committed). `tx` must be on the database the
 * change is on; the outbox is `public.event_outbox` of that database.
 */
export async function recordDomainEvent(tx: SqlExecutor, event: DomainEvent): Promise<void> {
  validateDomainEvent(event);
  await tx.query('INSERT INTO public.event_outbox (event_id, type, envelope) VALUES ($1, $2, $3)', [
    event.id,
    event.type,
    JSON.stringify(event),
  ]);
}

/**
 * SQL for the envelope of an event built inside a statement (the order statements write their event in a CTE of
 * the same statement): `$idParam` is the event id parameter (uuid), `data` a jsonb expression. The relay checks
 * such an event against its schema before publishing it (and a contract test checks every producer).
 */
export function envelopeSql(idParam: string, type: DomainEventType, data: string): string {
  return `jsonb_build_object('id', ${idParam}::text, 'type', '${type}', 'version', 1,
    'occurredAt', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'data', ${data})`;
}

/** `INSERT INTO public.event_outbox ... SELECT <envelope> FROM <from>`, for a CTE of a producing statement. */
export function insertEventSql(idParam: string, type: DomainEventType, data: string, from: string): string {
  return `INSERT INTO public.event_outbox (event_id, type, envelope)
    SELECT ${idParam}, '${type}', ${envelopeSql(idParam, type, data)} FROM ${from}`;
}
