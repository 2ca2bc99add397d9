/**
 * The routing table of stage 1m's domain events, on the infrastructure side: which event types each consuming
 * service's queue receives. One place in lib/; the app's own table is `app/src/events/event-routes.ts` (the
 * stage 1m contract), and a test compares the two so that a rule never routes what no consumer handles, nor
 * misses what one does.
 */

/** Event types each consuming service receives on its queue (`<prefix>-<service>-events`). */
export const EVENT_ROUTES: Readonly<Record<string, readonly string[]>> = {
  // Release the stock an order had reserved.
  products: ['OrderCancelled'],
  // Keep the order count on the user's profile.
  users: ['OrderPlaced'],
};

/** DetailType of a cache invalidation, routed to the stage 100k invalidation queue. */
export const CACHE_INVALIDATION_EVENT_TYPE = 'CacheTagsInvalidated';

/** Every event's `Source` starts with this and names the producing service: `shop.orders`. */
export const EVENT_SOURCE_PREFIX = 'shop.';

/** The `Source` a service publishes with (`shop.<service id>`): its PutEvents permission is limited to it. */
export function eventSource(serviceId: string): string {
  return `${EVENT_SOURCE_PREFIX}${serviceId}`;
}
