import { MemoryMessageQueue } from '../queue/memory-queue';
import type { MessageQueueOptions } from '../queue/message-queue';
import type { DomainEvent } from './domain-event';
import type { ConsumerQueue, EventBus, PublishResult } from './event-bus';
import { consumersOf, EVENT_CONSUMERS, type EventConsumer } from './event-routes';

/**
 * The embedded bus: one in-process queue per consumer, routed by the routing table. Holds nothing across a
 * restart (an event marked sent and not yet applied is lost with the process); it suits the single embedded
 * process and tests. Use `redis` for anything with more than one process.
 */
export class MemoryEventBus implements EventBus {
  readonly kind = 'memory' as const;
  /** Each consumer's queue. */
  readonly queues: ReadonlyMap<EventConsumer, MemoryMessageQueue>;

  constructor(options: MessageQueueOptions = {}) {
    this.queues = new Map(EVENT_CONSUMERS.map((c) => [c, new MemoryMessageQueue(options)]));
  }

  async publish(events: readonly DomainEvent[]): Promise<PublishResult> {
    for (const event of events) {
      const body = JSON.stringify(event);
      for (const consumer of consumersOf(event.type)) await this.queues.get(consumer)!.send([body]);
    }
    return { accepted: events.map((e) => e.id), failed: [] };
  }

  consumerQueues(consumers: readonly EventConsumer[]): ConsumerQueue[] {
    return consumers.map((consumer) => ({ queue: this.queues.get(consumer)!, consumers: [consumer] }));
  }

  async close(): Promise<void> {}
}
