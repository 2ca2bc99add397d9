import type Redis from 'ioredis';
import type { Registry } from 'prom-client';
import { eventBridgeClient, sqsClient } from '../aws-clients';
import type { AppConfig } from '../config';
import type { InvalidationPipeline } from '../invalidation/invalidation-pipeline';
import type { ConsumerLogger } from '../queue/queue-consumer';
import type { UserDataRouter } from '../sharding/user-data-router';
import { orderCountEffect } from './consumers/order-count';
import { stockReleaseEffect } from './consumers/stock-release';
import type { DomainEvent } from './domain-event';
import type { EventBus } from './event-bus';
import { typesPublishedBy, type EventConsumer } from './event-routes';
import type { EventEffects } from './event-consumer';
import { EventBridgeEventBus } from './eventbridge-event-bus';
import { MemoryEventBus } from './memory-event-bus';
import { DomainEventMetrics } from './event-metrics';
import { DomainEventPipeline } from './event-pipeline';
import { RedisEventBus } from './redis-event-bus';

/** What {@link createDomainEvents} needs from the app. */
export interface DomainEventsDeps {
  config: AppConfig;
  /** The app's Redis client (EVENT_BUS=redis). */
  redis?: Redis;
  userData: UserDataRouter;
  /** The invalidation pipeline: stock released by the products consumer invalidates the catalog's pages. */
  invalidation: InvalidationPipeline;
  /** The invalidation outbox of the catalog's database. */
  catalogOutbox: string;
  /** Cache tags of changed products. */
  productTags: (productIds: readonly string[]) => string[];
  onHandled?: (event: DomainEvent, outcome: 'applied' | 'duplicate') => void;
  /** The app's metrics registry: domain_events_* and domain_event_* are registered on it. */
  registry?: Registry;
  logger?: ConsumerLogger;
}

/** The bus EVENT_BUS names. */
export function openEventBus(config: AppConfig, redis: Redis | undefined): EventBus {
  const { bus, busName, queueUrl, maxReceives } = config.events;
  if (bus === 'eventbridge' && busName)
    return new EventBridgeEventBus(eventBridgeClient(), {
      busName,
      maxReceives,
      ...(queueUrl ? { queueUrl, sqsClient: sqsClient() } : {}),
    });
  if (bus === 'redis' && redis && config.redis)
    return new RedisEventBus(redis, { prefix: config.redis.keyPrefix, maxReceives });
  return new MemoryEventBus({ maxReceives });
}

/**
 * Builds this process's domain events: relays for every outbox database (shard 0 and each other physical
 * shard), and the consumers of its SERVICE (both in the monolith): `users` keeps the order count from
 * OrderPlaced, `products` releases stock on OrderCancelled.
 */
export function createDomainEvents(deps: DomainEventsDeps): DomainEventPipeline {
  const { config, userData, invalidation } = deps;
  const effects: Record<EventConsumer, EventEffects> = {
    users: { OrderPlaced: orderCountEffect(userData) },
    products: {
      OrderCancelled: stockReleaseEffect({
        catalog: userData.shard0.db,
        invalidation: invalidation.outbox(deps.catalogOutbox),
        tagsOf: deps.productTags,
        afterRelease: () => invalidation.wake(deps.catalogOutbox),
      }),
    },
  };
  const metrics = deps.registry ? new DomainEventMetrics(deps.registry) : undefined;
  return new DomainEventPipeline({
    sources: [...userData.shards.values()].map((shard) => ({
      source: shard.id === '0' ? 'main' : `shard-${shard.id}`,
      db: shard.db,
    })),
    bus: openEventBus(config, deps.redis),
    consumers: Object.fromEntries(config.events.consumers.map((c) => [c, effects[c]])),
    relay: {
      // OUTBOX_POLL_MS, as for the invalidation relays (writers in this process wake the relay themselves).
      pollMs: config.outboxPollMs,
      // Only this service's own events: the others in the same outbox are its producers' to publish.
      types: typesPublishedBy(config.events.service),
      onAccepted: (event) => metrics?.published.inc({ type: event.type }),
    },
    consumer: { observe: (result) => metrics?.onMessage(result) },
    onHandled: (event, outcome) => {
      metrics?.onHandled(event, outcome);
      deps.onHandled?.(event, outcome);
    },
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
}
