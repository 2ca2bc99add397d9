import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { QUEUE_DEFAULTS, type Delivery, type MessageQueue } from './message-queue';

/** Options of {@link SqsMessageQueue}. */
export interface SqsMessageQueueOptions {
  /** The queue's URL. */
  queueUrl: string;
  /**
   * The queue's visibility timeout, applied to every receive. @default 30000
   */
  leaseMs?: number;
  /**
   * `maxReceiveCount` of the queue's redrive policy: SQS itself moves a message received that many times to
   * the dead-letter queue, so this adapter only needs it to tell the consumer which attempt is the last.
   * @default 5
   */
  maxReceives?: number;
}

/** SQS batch calls take at most 10 entries. */
const BATCH = 10;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += BATCH) out.push(items.slice(i, i + BATCH));
  return out;
}

/** A batch call that left some entries undone (SQS answers 200 with a `Failed` list). */
export class SqsBatchError extends Error {
  constructor(
    operation: string,
    readonly failed: { Id?: string; Code?: string; Message?: string; SenderFault?: boolean }[],
  ) {
    super(
      `${operation}: ${failed.length} entr${failed.length === 1 ? 'y' : 'ies'} failed (${failed
        .map((f) => `${f.Id}: ${f.Code}`)
        .join(', ')})`,
    );
    this.name = 'SqsBatchError';
  }
}

/**
 * The queue on Amazon SQS (standard queue: at-least-once, no order). Batch send, long-poll receive of up to
 * 10 messages with their `ApproximateReceiveCount`, batch delete, and lease renewal through
 * ChangeMessageVisibilityBatch. Dead-lettering is the queue's redrive policy, done by SQS.
 *
 * SQS answers batch calls with per-entry results: a send whose entries partly failed retries those entries
 * once and then rejects (the outbox relay then leaves the rows unsent and tries again: a message sent twice
 * is a harmless duplicate); a delete that partly failed rejects with {@link SqsBatchError} (those messages
 * come back after their visibility timeout).
 *
 * This is the one adapter not run against a real server in this repository: its calls are tested against
 * recorded request and response shapes (aws-sdk-client-mock), and the port's contract runs against the
 * in-process and Redis Streams adapters.
 */
export class SqsMessageQueue implements MessageQueue {
  readonly kind = 'sqs' as const;
  readonly leaseMs: number;
  readonly maxReceives: number;
  private readonly queueUrl: string;

  /** @param client an SQSClient (closed by {@link SqsMessageQueue.close}) */
  constructor(
    private readonly client: SQSClient,
    options: SqsMessageQueueOptions,
  ) {
    this.queueUrl = options.queueUrl;
    this.leaseMs = options.leaseMs ?? QUEUE_DEFAULTS.leaseMs;
    this.maxReceives = options.maxReceives ?? QUEUE_DEFAULTS.maxReceives;
  }

  async send(bodies: readonly string[]): Promise<void> {
    for (const chunk of chunks(bodies)) {
      let entries = chunk.map((body, i) => ({ Id: String(i), MessageBody: body }));
      for (let attempt = 1; ; attempt++) {
        const { Failed = [] } = await this.client.send(
          new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }),
        );
        if (Failed.length === 0) break;
        // A sender fault (bad entry) will not succeed on retry; a server fault might, once.
        if (attempt >= 2 || Failed.some((f) => f.SenderFault))
          throw new SqsBatchError('SendMessageBatch', Failed);
        const retry = new Set(Failed.map((f) => f.Id));
        entries = entries.filter((e) => retry.has(e.Id));
      }
    }
  }

  async receive(max: number, waitMs: number): Promise<Delivery[]> {
    const { Messages = [] } = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: Math.min(Math.max(max, 1), BATCH),
        // Long polling in whole seconds, 0 to 20.
        WaitTimeSeconds: Math.min(Math.ceil(waitMs / 1000), 20),
        VisibilityTimeout: Math.ceil(this.leaseMs / 1000),
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    return Messages.map((m) => ({
      id: m.MessageId ?? '',
      body: m.Body ?? '',
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
      receipt: m.ReceiptHandle ?? '',
    }));
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    const failed: SqsBatchError['failed'] = [];
    for (const chunk of chunks(deliveries)) {
      const { Failed = [] } = await this.client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((d, i) => ({ Id: String(i), ReceiptHandle: d.receipt })),
        }),
      );
      failed.push(...Failed.map((f) => ({ ...f, Id: chunk[Number(f.Id)]?.id ?? f.Id })));
    }
    if (failed.length > 0) throw new SqsBatchError('DeleteMessageBatch', failed);
  }

  async extendLease(deliveries: readonly Delivery[]): Promise<void> {
    for (const chunk of chunks(deliveries)) {
      const { Failed = [] } = await this.client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((d, i) => ({
            Id: String(i),
            ReceiptHandle: d.receipt,
            VisibilityTimeout: Math.ceil(this.leaseMs / 1000),
          })),
        }),
      );
      if (Failed.length > 0) throw new SqsBatchError('ChangeMessageVisibilityBatch', Failed);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
