import type { Database } from '../db/database';
import { QueueConsumer, type ConsumerLogger, type QueueConsumerOptions } from '../queue/queue-consumer';
import type { DomainEvent } from './domain-event';
import type { EventBus } from './event-bus';
import { createDomainEventHandler, type EventEffects } from './event-consumer';
import { DomainEventRelay, type DomainEventRelayOptions } from './event-relay';
import type { EventConsumer } from './event-routes';

/** Options of {@link DomainEventPipeline}. */
export interface DomainEventPipelineOptions {
  /** Every database with an event outbox this process relays (shard 0 and each other physical shard). */
  sources: { source: string; db: Database }[];
  bus: EventBus;
  /** The consumers this process runs and their effects. */
  consumers: Partial<Record<EventConsumer, EventEffects>>;
  /** Relay options other than the source. */
  relay?: Omit<DomainEventRelayOptions, 'source' | 'logger'>;
  consumer?: Omit<QueueConsumerOptions, 'logger'>;
  /** Told after each handled event (applied, or a duplicate that changed nothing). */
  onHandled?: (event: DomainEvent, outcome: 'applied' | 'duplicate') => void;
  logger?: ConsumerLogger;
}

/**
 * Domain events in one process: a relay per outbox database publishing to the bus, and a queue consumer per
 * consumer queue of this process, applying each event's effect exactly once (dedupe by event id). The same
 * relays and consumers run in the monolith (SERVICE=all, every consumer in process) and in the split services
 * (each its own), so behaviour is the same; only the bus adapter differs.
 */
export class DomainEventPipeline {
  /** The relay of each outbox database, by source id. */
  readonly relays = new Map<string, DomainEventRelay>();
  /** One consumer per queue this process reads. */
  readonly consumers: QueueConsumer[] = [];
  private readonly queues: ReturnType<EventBus['consumerQueues']>;

  constructor(private readonly options: DomainEventPipelineOptions) {
    for (const { source, db } of options.sources)
      this.relays.set(
        source,
        new DomainEventRelay(db, options.bus, { ...options.relay, source, logger: options.logger }),
      );
    const running = Object.keys(options.consumers) as EventConsumer[];
    this.queues = options.bus.consumerQueues(running);
    for (const { queue, consumers } of this.queues) {
      const effects: EventEffects = Object.assign({}, ...consumers.map((c) => options.consumers[c]));
      this.consumers.push(
        new QueueConsumer(
          queue,
          createDomainEventHandler({ effects, onHandled: options.onHandled, logger: options.logger }),
          { ...options.consumer, logger: options.logger },
        ),
      );
    }
  }

  /** Wakes every relay of this process (a write here just committed an event). */
  wake(): void {
    for (const relay of this.relays.values()) relay.wake();
  }

  /** Starts relays and consumers. */
  start(): void {
    for (const relay of this.relays.values()) relay.start();
    for (const consumer of this.consumers) consumer.start();
  }

  /** Stops relays and consumers after their current batch, then closes the queues and the bus. */
  async stop(): Promise<void> {
    await Promise.all([...this.relays.values()].map((relay) => relay.stop()));
    await Promise.all(this.consumers.map((consumer) => consumer.stop()));
    await Promise.all(this.queues.map(({ queue }) => queue.close()));
    await this.options.bus.close();
  }
}
