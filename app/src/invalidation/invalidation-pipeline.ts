import type { CacheStore } from '../cache/cache-store';
import type { Database } from '../db/database';
import type { AppMetrics } from '../metrics';
import type { MessageQueue } from '../queue/message-queue';
import { QueueConsumer, type ConsumerLogger, type QueueConsumerOptions } from '../queue/queue-consumer';
import type { EvictionBroadcast } from './eviction-broadcast';
import { FirstLevelCache, type FirstLevelCacheOptions } from './first-level-cache';
import { createInvalidationHandler } from './invalidation-consumer';
import { InvalidationOutbox, OutboxRelay, type OutboxRelayOptions } from './outbox';

/** One database whose outbox this instance relays. */
export interface OutboxSource {
  /** The database's id (`main`; later `catalog`, `shard-<id>`). */
  source: string;
  db: Database;
  /** Relay options other than the source. */
  relay?: Omit<OutboxRelayOptions, 'source' | 'onPublished' | 'logger'>;
}

/** Options of {@link InvalidationPipeline}. */
export interface InvalidationPipelineOptions {
  /** Every database that holds cached data, each with its outbox and relay. */
  sources: OutboxSource[];
  queue: MessageQueue;
  /** The shared cache store whose tag versions events bump. */
  store: CacheStore;
  broadcast: EvictionBroadcast;
  firstLevel?: FirstLevelCacheOptions;
  consumer?: Omit<QueueConsumerOptions, 'observe' | 'logger'>;
  metrics?: AppMetrics;
  logger?: ConsumerLogger;
}

/**
 * Event-based invalidation in one app instance: an outbox and a relay per database, the queue consumer
 * that applies events, and this instance's first-level cache subscribed to the eviction broadcast.
 *
 * Every instance runs a relay and a consumer: the relays take disjoint batches (SKIP LOCKED) and the
 * consumers share the queue, so there is no extra service to deploy, scale or monitor, and the delay does
 * not depend on one process being up.
 */
export class InvalidationPipeline {
  /** The outbox of each database, by source id. */
  readonly outboxes = new Map<string, InvalidationOutbox>();
  /** The relay of each database, by source id. */
  readonly relays = new Map<string, OutboxRelay>();
  readonly consumer: QueueConsumer;
  readonly firstLevel: FirstLevelCache;
  /** Wakes each source's relay from this process (a write here just committed a row). */
  private readonly wakers = new Map<string, () => void>();

  constructor(private readonly options: InvalidationPipelineOptions) {
    const { metrics, logger } = options;
    this.firstLevel = new FirstLevelCache({
      ...options.firstLevel,
      observe: (result) => metrics?.firstLevelCacheRequests.inc({ result }),
    });
    for (const { source, db, relay } of options.sources) {
      this.outboxes.set(source, new InvalidationOutbox(source));
      // This process's own writes wake the relay directly; other processes' through `relay.wake` (NOTIFY)
      // when given; rows nobody woke it for (a writer that died) are found by the poll.
      let wakeRelay = () => {};
      this.wakers.set(source, () => wakeRelay());
      const external = relay?.wake;
      const wake = {
        subscribe(listener: () => void) {
          wakeRelay = listener;
          external?.subscribe(listener);
        },
        close: async () => external?.close(),
      };
      this.relays.set(
        source,
        new OutboxRelay(db, options.queue, {
          ...relay,
          wake,
          source,
          logger,
          onPublished: (rows) => metrics?.outboxPublished.inc(rows),
        }),
      );
    }
    this.consumer = new QueueConsumer(
      options.queue,
      createInvalidationHandler({
        store: options.store,
        broadcast: options.broadcast,
        onApplied: (event) =>
          metrics?.invalidationDelay.observe(Math.max(0, Date.now() - event.oldestAt) / 1000),
      }),
      { ...options.consumer, logger, observe: (result) => metrics?.queueMessages.inc({ result }) },
    );
  }

  /** The outbox of one database (throws naming the source when there is none). */
  outbox(source: string): InvalidationOutbox {
    const outbox = this.outboxes.get(source);
    if (!outbox) throw new Error(`no invalidation outbox for database "${source}"`);
    return outbox;
  }

  /** Wakes the relay of `source` now (called after a write in this process committed its outbox row). */
  wake(source: string): void {
    this.wakers.get(source)?.();
  }

  /**
   * Starts the relays and the consumer, then subscribes the first-level cache to the broadcast (which
   * rejects when the broadcast cannot subscribe, e.g. Redis down: relays and consumer run regardless).
   *
   * @param options.relay false in a secondary region, which has no writer: no relay, no consumer (its regional
   *   follower applies the replicated outbox), only the first-level cache's subscription. @default true
   */
  async start(options: { relay?: boolean } = {}): Promise<void> {
    if (options.relay ?? true) {
      for (const relay of this.relays.values()) relay.start();
      this.consumer.start();
    }
    await this.options.broadcast.subscribe(this.firstLevel);
  }

  /** Stops relays and consumer after their current batch, then closes the queue and the broadcast. */
  async stop(): Promise<void> {
    await Promise.all([...this.relays.values()].map((relay) => relay.stop()));
    await this.consumer.stop();
    await this.options.queue.close();
    await this.options.broadcast.close();
  }
}
