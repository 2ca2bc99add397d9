import type { MessageQueue } from '../queue/message-queue';
import type { DomainEvent } from './domain-event';
import type { EventConsumer } from './event-routes';

/** What a bus did with a batch of events, by event id. */
export interface PublishResult {
  /** Events the bus accepted (the relay marks their outbox rows sent). */
  readonly accepted: readonly string[];
  /**
   * Events the bus did not accept; their rows stay unsent and are retried, unless `permanent` (the event can
   * never be accepted, e.g. too large): then the row is marked failed.
   */
  readonly failed: readonly { eventId: string; code: string; message?: string; permanent?: boolean }[];
}

/** The queues of this process's consumers: one queue and the consumers reading it. */
export interface ConsumerQueue {
  readonly queue: MessageQueue;
  readonly consumers: readonly EventConsumer[];
}

/**
 * The event-bus port: publishes domain events to every consumer the routing table names
 * (`event-routes.ts`) and gives each consumer its queue.
 *
 * - `memory` (embedded default): in-process queues, one per consumer.
 * - `redis` (local topology, tests): one Redis stream per consumer (`<prefix>q:events.<consumer>`, dead letters
 *   in `...:dead`), consumer groups, leases and dead-lettering of the queue port.
 * - `eventbridge` (AWS): PutEvents to the bus; rules route each type to per-consumer SQS queues with DLQs; this
 *   process reads its own queue (EVENT_QUEUE_URL).
 */
export interface EventBus {
  readonly kind: 'memory' | 'redis' | 'eventbridge';
  /** Publishes events; never reports an event accepted that the bus did not durably take. */
  publish(events: readonly DomainEvent[]): Promise<PublishResult>;
  /** The queues `consumers` read (grouped: with EventBridge one SQS queue may serve several). */
  consumerQueues(consumers: readonly EventConsumer[]): ConsumerQueue[];
  /** Closes the bus's clients (the consumer queues are closed by whoever reads them). */
  close(): Promise<void>;
}
