import type { Delivery } from '../queue/message-queue';
import { DependencyUnavailableError } from '../queue/queue-consumer';
import { ShardUnavailableError } from '../sharding/shard-map';
import type { DomainEvent, DomainEventType } from './domain-event';
import { InvalidDomainEventError, validateDomainEvent } from './event-validation';

/**
 * The envelope in a queue message: the body itself (in-process and Redis Streams buses), or the `detail` of an
 * EventBridge event (the SQS queue a rule delivers to), whose `detail-type` must match the envelope's type.
 * Checked against the type's schema; throws {@link InvalidDomainEventError} naming what is wrong.
 */
export function decodeEventMessage(body: string): DomainEvent {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new InvalidDomainEventError('message body is not JSON');
  }
  const wrapped = value as { 'detail-type'?: unknown; detail?: unknown } | null;
  if (wrapped && typeof wrapped === 'object' && 'detail' in wrapped && 'detail-type' in wrapped) {
    const event = validateDomainEvent(wrapped.detail);
    if (wrapped['detail-type'] !== event.type)
      throw new InvalidDomainEventError(
        `EventBridge detail-type ${JSON.stringify(wrapped['detail-type'])} differs from the envelope's type ${event.type}`,
      );
    return event;
  }
  return validateDomainEvent(value);
}

/**
 * Applies one event's effect exactly once: inserts the dedupe record `(consumer, event id)` and makes the change
 * in ONE transaction, and returns false (changing nothing) when the record was already there.
 */
export type EventEffect<T extends DomainEventType = DomainEventType> = (
  event: DomainEvent<T>,
) => Promise<boolean>;

/** The effects of one consumer, by the event types routed to it. */
export type EventEffects = { [T in DomainEventType]?: EventEffect<T> };

/** Options of {@link createDomainEventHandler}. */
export interface DomainEventHandlerOptions {
  /** Effects by type (the union of the consumers reading this queue). */
  effects: EventEffects;
  /** Told after each event: applied now, or a duplicate that changed nothing (metrics, tests, the benchmark). */
  onHandled?: (event: DomainEvent, outcome: 'applied' | 'duplicate') => void;
  /** Events of a type no effect here handles (a routing change): acknowledged and logged. */
  logger?: { warn(obj: object, msg: string): void };
}

/** True for errors that say a dependency is down, not that the event is bad (retry without spending receives). */
function isOutage(err: unknown): boolean {
  if (err instanceof ShardUnavailableError || err instanceof DependencyUnavailableError) return true;
  // A PostgreSQL error answer has a SQLSTATE: the statement was judged, that is the event's (or handler's)
  // fault. Without one (connection refused or lost, pool timeout) the database was not reached.
  const e = err as { severity?: unknown; code?: unknown } | null;
  if (typeof e?.severity === 'string') return /^(57P0[123]|53300|08...)$/.test(String(e.code));
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection terminated|timeout exceeded when trying to connect/i.test(
    (err as Error)?.message ?? '',
  );
}

/**
 * The queue handler of a domain-event consumer: decode and validate the message (a bad one throws and is
 * dead-lettered after EVENT_MAX_RECEIVES receives, without holding up the messages behind it), then run the
 * type's effect, which dedupes by event id in the effect's own transaction. A database outage becomes
 * {@link DependencyUnavailableError}: the consumer holds and retries the message instead of dead-lettering it.
 */
export function createDomainEventHandler(
  options: DomainEventHandlerOptions,
): (body: string, delivery: Delivery) => Promise<void> {
  return async (body) => {
    const event = decodeEventMessage(body);
    const effect = options.effects[event.type] as EventEffect | undefined;
    if (!effect) {
      options.logger?.warn(
        { eventId: event.id, type: event.type },
        'event type not consumed here; acknowledged',
      );
      return;
    }
    let applied: boolean;
    try {
      applied = await effect(event);
    } catch (err) {
      if (isOutage(err))
        throw new DependencyUnavailableError(`event ${event.id}: ${(err as Error).message}`, { cause: err });
      throw err;
    }
    options.onHandled?.(event, applied ? 'applied' : 'duplicate');
  };
}
