import type { CacheStore } from '../cache/cache-store';
import { DependencyUnavailableError } from '../queue/queue-consumer';
import type { EvictionBroadcast } from './eviction-broadcast';
import { parseInvalidationEvent, type InvalidationEvent } from './invalidation-event';

/** Options of {@link createInvalidationHandler}. */
export interface InvalidationHandlerOptions {
  /** The shared cache store (its tag versions are what the event bumps). */
  store: CacheStore;
  /** Fan-out to every instance's first-level cache. */
  broadcast: EvictionBroadcast;
  /** Told when an event has been applied (metrics: the invalidation delay). */
  onApplied?: (event: InvalidationEvent) => void;
}

/**
 * The queue handler that applies an invalidation event: bump the tags' versions in the shared store (the
 * cache's own tag mechanism, so every entry loaded before the write becomes a miss in every instance), then
 * broadcast the eviction to the first-level caches.
 *
 * Idempotent in effect: applying an event twice (a duplicate from the relay or a redelivery) bumps the
 * versions once more, which only costs one extra miss per tag; it never brings a stale value back.
 * A message that is not an event throws and is dead-lettered after `maxReceives`; a store or broadcast
 * failure throws {@link DependencyUnavailableError}, so the consumer holds the message and retries instead
 * of spending its attempts during an outage.
 */
export function createInvalidationHandler(
  options: InvalidationHandlerOptions,
): (body: string) => Promise<void> {
  return async (body) => {
    const event = parseInvalidationEvent(body);
    await applyInvalidation(options, event.tags);
    options.onApplied?.(event);
  };
}

/**
 * Applies invalidated tags to a region's cache: bumps their versions in the shared store, then broadcasts the
 * eviction to every instance's first-level cache. The home region's queue consumer ({@link
 * createInvalidationHandler}) and a secondary region's follower of the replicated outbox both apply through it.
 *
 * @throws DependencyUnavailableError when the store or the broadcast fails (the caller keeps the work and retries).
 */
export async function applyInvalidation(
  options: Pick<InvalidationHandlerOptions, 'store' | 'broadcast'>,
  tags: readonly string[],
): Promise<void> {
  try {
    await options.store.bumpTags(tags);
    await options.broadcast.publish(tags);
  } catch (err) {
    throw new DependencyUnavailableError(`cache store unavailable: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
