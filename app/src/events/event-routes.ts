import type { DomainEventType } from './domain-event';

/** The services that consume domain events, each with its own queue (CONTRACT-1m). */
export const EVENT_CONSUMERS = ['products', 'users'] as const;

/** One of {@link EVENT_CONSUMERS}. */
export type EventConsumer = (typeof EVENT_CONSUMERS)[number];

/**
 * The routing table: which event types reach which consumer's queue. The single source in the app; the
 * infrastructure mirrors it as one EventBridge rule per consumer (a test keeps both equal), and the Redis Streams
 * and in-process buses route by it directly.
 * - products: OrderCancelled (release the order's stock)
 * - users: OrderPlaced (the order count on the profile)
 */
export const EVENT_ROUTES: Readonly<Record<EventConsumer, readonly DomainEventType[]>> = {
  products: ['OrderCancelled'],
  users: ['OrderPlaced'],
};

/** The EventBridge `Source` of each event type: `shop.<producing service>` (the monolith uses the same). */
export const EVENT_SOURCES: Readonly<Record<DomainEventType, string>> = {
  OrderPlaced: 'shop.orders',
  OrderCancelled: 'shop.orders',
  ProductChanged: 'shop.products',
  UserRegistered: 'shop.users',
};

/** DetailType of cache invalidations on the bus (EVENT_BUS=eventbridge), routed to the invalidation queue. */
export const CACHE_INVALIDATION_DETAIL_TYPE = 'CacheTagsInvalidated';

/** The consumers whose queues receive `type`. */
export function consumersOf(type: DomainEventType): EventConsumer[] {
  return EVENT_CONSUMERS.filter((consumer) => EVENT_ROUTES[consumer].includes(type));
}

/** Physical names of the bus and queues for a deployment prefix (CONTRACT-1m "Physical names"). */
export function eventResourceNames(prefix: string) {
  return {
    bus: `${prefix}-events`,
    archive: `${prefix}-events-archive`,
    queue: (consumer: EventConsumer) => `${prefix}-${consumer}-events`,
    deadLetterQueue: (consumer: EventConsumer) => `${prefix}-${consumer}-events-dlq`,
  };
}

/**
 * The EventBridge `Source` of this process's cache invalidations: `shop.<service>`; the monolith uses the
 * products service's (the cache holds the catalog).
 */
export function invalidationSource(service: 'all' | 'users' | 'products' | 'orders'): string {
  return `shop.${service === 'all' ? 'products' : service}`;
}

/**
 * The event types a process publishes: its own service's (`Source` shop.<service>), every type in the monolith.
 * Another service's events in the same outbox are left to that service's relay.
 */
export function typesPublishedBy(service: 'all' | 'users' | 'products' | 'orders'): DomainEventType[] {
  const types = Object.keys(EVENT_SOURCES) as DomainEventType[];
  return service === 'all' ? types : types.filter((type) => EVENT_SOURCES[type] === `shop.${service}`);
}
