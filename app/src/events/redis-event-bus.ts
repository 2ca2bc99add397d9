import type Redis from 'ioredis';
import type { MessageQueueOptions } from '../queue/message-queue';
import { RedisStreamQueue } from '../queue/redis-stream-queue';
import type { DomainEvent } from './domain-event';
import type { ConsumerQueue, EventBus, PublishResult } from './event-bus';
import { consumersOf, type EventConsumer } from './event-routes';

/** Options of {@link RedisEventBus}. */
export interface RedisEventBusOptions extends MessageQueueOptions {
  /** Key prefix (REDIS_KEY_PREFIX). */
  prefix: string;
}

/** The queue name of a consumer: its stream is `<prefix>q:events.<consumer>`. */
export function eventQueueName(consumer: EventConsumer): string {
  return `events.${consumer}`;
}

/**
 * The bus on Redis Streams: one stream per consumer (the routing table decides which streams an event goes to),
 * each read by its consumer group through {@link RedisStreamQueue} (leases, XAUTOCLAIM redelivery, dead-letter
 * stream after `maxReceives`). A consumer that is down lets its stream grow; it drains on return.
 *
 * An event is accepted once it is in all of its streams, in one MULTI (all or nothing): a failure leaves it
 * unsent in the outbox, and a retry can only add a duplicate, which consumers drop by event id.
 */
export class RedisEventBus implements EventBus {
  readonly kind = 'redis' as const;
  private readonly queues = new Map<EventConsumer, RedisStreamQueue>();

  /** @param client a connected ioredis client (not closed by the bus) */
  constructor(
    private readonly client: Redis,
    private readonly options: RedisEventBusOptions,
  ) {}

  /** The queue of `consumer` (one per bus; its blocking connection is opened on first receive). */
  queue(consumer: EventConsumer): RedisStreamQueue {
    let queue = this.queues.get(consumer);
    if (!queue) {
      queue = new RedisStreamQueue(this.client, { ...this.options, name: eventQueueName(consumer) });
      this.queues.set(consumer, queue);
    }
    return queue;
  }

  async publish(events: readonly DomainEvent[]): Promise<PublishResult> {
    const adds: [key: string, body: string][] = [];
    for (const event of events) {
      const body = JSON.stringify(event);
      for (const consumer of consumersOf(event.type)) adds.push([this.queue(consumer).streamKey, body]);
    }
    if (adds.length > 0) {
      const multi = this.client.multi();
      for (const [key, body] of adds) multi.xadd(key, '*', 'body', body);
      const results = await multi.exec();
      if (!results) throw new Error('publishing events to Redis was aborted');
      for (const [err] of results) if (err) throw err;
    }
    return { accepted: events.map((e) => e.id), failed: [] };
  }

  consumerQueues(consumers: readonly EventConsumer[]): ConsumerQueue[] {
    return consumers.map((consumer) => ({ queue: this.queue(consumer), consumers: [consumer] }));
  }

  async close(): Promise<void> {}
}
