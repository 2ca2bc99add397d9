/** One message handed to a consumer, invisible to the others until it is acknowledged or its lease ends. */
export interface Delivery {
  /** The queue's id of the message (the same on every redelivery). */
  readonly id: string;
  /** The message as sent. */
  readonly body: string;
  /** How many times the message has been received, this time included (1 on the first delivery). */
  readonly receiveCount: number;
  /** Handle for {@link MessageQueue.ack} and {@link MessageQueue.extendLease} (SQS: the receipt handle). */
  readonly receipt: string;
}

/** Where an adapter that moves messages to its dead-letter store itself reports each one. */
export type DeadLetterObserver = (delivery: Delivery) => void;

/**
 * The queue port: at-least-once delivery with leases (SQS calls them visibility timeouts), batch
 * acknowledgement and a dead-letter store for messages received `maxReceives` times without an ack.
 *
 * Nothing is promised about order: a redelivered message comes after newer ones, and several consumers
 * work at once. Handlers must be idempotent, since a message can be delivered again after a consumer died
 * before acknowledging it, or when an acknowledgement is lost.
 */
export interface MessageQueue {
  /** `memory` (in process), `redis` (Redis Streams) or `sqs`. */
  readonly kind: 'memory' | 'redis' | 'sqs';
  /** How long a received message stays invisible to other consumers unless its lease is extended. */
  readonly leaseMs: number;
  /** Receives after which a message goes to the dead-letter store instead of being delivered again. */
  readonly maxReceives: number;
  /** Sends messages; resolves once the queue holds all of them durably, rejects if it may not. */
  send(bodies: readonly string[]): Promise<void>;
  /**
   * Receives up to `max` messages, waiting up to `waitMs` for the first one. Messages whose lease ran out
   * (their consumer died) come back here, with a higher `receiveCount`.
   */
  receive(max: number, waitMs: number): Promise<Delivery[]>;
  /** Acknowledges handled messages: they are never delivered again. */
  ack(deliveries: readonly Delivery[]): Promise<void>;
  /** Renews the lease of messages still being handled, for `leaseMs` from now. */
  extendLease(deliveries: readonly Delivery[]): Promise<void>;
  /** Stops waiting receives and releases the adapter's connections. */
  close(): Promise<void>;
}

/** Options every adapter takes. */
export interface MessageQueueOptions {
  /** @default 30000 */
  leaseMs?: number;
  /** @default 5 */
  maxReceives?: number;
  /** Told about each message the adapter dead-letters (SQS does it server-side: see SqsMessageQueue). */
  onDeadLetter?: DeadLetterObserver;
}

/** Default lease and dead-letter threshold, shared by the adapters. */
export const QUEUE_DEFAULTS = { leaseMs: 30_000, maxReceives: 5 } as const;
