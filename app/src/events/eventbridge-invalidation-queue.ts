import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Delivery, MessageQueue } from '../queue/message-queue';
import { putEntries } from './eventbridge-event-bus';
import { CACHE_INVALIDATION_DETAIL_TYPE } from './event-routes';

/** Options of {@link EventBridgeInvalidationQueue}. */
export interface EventBridgeInvalidationQueueOptions {
  /** EVENT_BUS_NAME. */
  busName: string;
  /** `shop.<service>` of this process. */
  source: string;
}

/**
 * Cache invalidation over the event bus (EVENT_BUS=eventbridge, stage 1m): the invalidation pipeline's queue
 * whose `send` is a PutEvents of DetailType `CacheTagsInvalidated` (a rule routes it to the invalidation queue
 * of stage 100k), and whose receive side is that SQS queue as before. The consumer accepts both the raw message
 * of 100k and the EventBridge-wrapped one (`parseInvalidationEvent`). A send resolves only when every entry was
 * accepted: failed entries are retried once, then it rejects and the relay leaves the rows unsent.
 */
export class EventBridgeInvalidationQueue implements MessageQueue {
  readonly kind: MessageQueue['kind'];
  readonly leaseMs: number;
  readonly maxReceives: number;

  /**
   * @param queue the invalidation SQS queue (received from; closed with this)
   * @param client the EventBridge client (destroyed on close)
   */
  constructor(
    private readonly queue: MessageQueue,
    private readonly client: EventBridgeClient,
    private readonly options: EventBridgeInvalidationQueueOptions,
  ) {
    this.kind = queue.kind;
    this.leaseMs = queue.leaseMs;
    this.maxReceives = queue.maxReceives;
  }

  async send(bodies: readonly string[]): Promise<void> {
    let entries = bodies.map((body) => ({
      EventBusName: this.options.busName,
      Source: this.options.source,
      DetailType: CACHE_INVALIDATION_DETAIL_TYPE,
      Detail: body,
    }));
    for (let attempt = 1; entries.length > 0; attempt++) {
      const results = await putEntries(this.client, entries);
      const failed = entries.filter((_, i) => !results[i].ok);
      if (failed.length === 0) return;
      const permanent = results.some((r) => !r.ok && r.permanent);
      if (attempt >= 2 || permanent) {
        const codes = results.flatMap((r) => (r.ok ? [] : [r.code]));
        throw new Error(`PutEvents: ${failed.length} invalidation entries failed (${codes.join(', ')})`);
      }
      entries = failed;
    }
  }

  receive(max: number, waitMs: number): Promise<Delivery[]> {
    return this.queue.receive(max, waitMs);
  }

  ack(deliveries: readonly Delivery[]): Promise<void> {
    return this.queue.ack(deliveries);
  }

  extendLease(deliveries: readonly Delivery[]): Promise<void> {
    return this.queue.extendLease(deliveries);
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.client.destroy();
  }
}
