/**
 * An invalidation event as carried by the queue: the tags one relay batch of one database invalidated.
 * The relay coalesces the outbox rows of a batch into one event (a burst of writes touching `catalog`
 * becomes one message, not hundreds); `eventIds` lists the outbox rows it stands for.
 */
export interface InvalidationEvent {
  /** Format version. */
  v: 1;
  /** Which database's outbox it came from (`main` today; `catalog`, `shard-<id>` with sharding). */
  source: string;
  /** The outbox rows' event ids. */
  eventIds: string[];
  /** Every tag to invalidate (union of the rows'). */
  tags: string[];
  /** Commit time of the oldest row, epoch ms (for the invalidation delay metric). */
  oldestAt: number;
}

/** Why a message is not an invalidation event (the consumer fails it; repeated, it is dead-lettered). */
export class InvalidEventError extends Error {
  constructor(message: string) {
    super(`not an invalidation event: ${message}`);
    this.name = 'InvalidEventError';
  }
}

/** The EventBridge DetailType of an invalidation event on the bus (stage 1m; see events/event-routes). */
const WRAPPED_DETAIL_TYPE = 'CacheTagsInvalidated';

/**
 * Parses and checks a message body; throws {@link InvalidEventError} naming what is wrong. Accepts the raw
 * event (stage 100k: the relay sends it to the queue) and the EventBridge event a rule delivers (stage 1m with
 * EVENT_BUS=eventbridge: the event in `detail`, `detail-type` CacheTagsInvalidated).
 */
export function parseInvalidationEvent(body: string): InvalidationEvent {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new InvalidEventError('body is not JSON');
  }
  const wrapped = value as { 'detail-type'?: unknown; detail?: unknown } | null;
  if (wrapped && typeof wrapped === 'object' && 'detail-type' in wrapped) {
    if (wrapped['detail-type'] !== WRAPPED_DETAIL_TYPE)
      throw new InvalidEventError(
        `EventBridge detail-type must be ${WRAPPED_DETAIL_TYPE}, got ${JSON.stringify(wrapped['detail-type'])}`,
      );
    value = wrapped.detail;
  }
  const e = value as Partial<InvalidationEvent> | null;
  if (typeof e !== 'object' || e === null) throw new InvalidEventError('body is not an object');
  if (e.v !== 1) throw new InvalidEventError(`v must be 1, got ${JSON.stringify(e.v)}`);
  if (typeof e.source !== 'string') throw new InvalidEventError('source must be a string');
  if (!Array.isArray(e.tags) || e.tags.length === 0 || !e.tags.every((t) => typeof t === 'string' && t))
    throw new InvalidEventError('tags must be a non-empty array of strings');
  if (!Array.isArray(e.eventIds)) throw new InvalidEventError('eventIds must be an array');
  if (typeof e.oldestAt !== 'number') throw new InvalidEventError('oldestAt must be a number');
  return e as InvalidationEvent;
}
