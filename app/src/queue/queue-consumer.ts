import type { Delivery, MessageQueue } from './message-queue';

/**
 * Thrown by a handler when a dependency it needs is down (Redis unreachable), not when the message is bad.
 * The consumer then keeps the message, renews its lease and retries with a backoff instead of letting it
 * count towards the dead-letter limit: an outage must not dead-letter every message that arrives during it.
 */
export class DependencyUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DependencyUnavailableError';
  }
}

/** What happened to one delivery, as counted in `queue_messages_total{result}`. */
export type ConsumeResult = 'processed' | 'failed' | 'dead_lettered' | 'retried';

/** Where the consumer reports problems (a pino logger fits). */
export interface ConsumerLogger {
  warn(obj: object, msg: string): void;
}

/** Options of {@link QueueConsumer}. */
export interface QueueConsumerOptions {
  /** Messages per receive (SQS allows at most 10). @default 10 */
  batchSize?: number;
  /** Long-poll wait of one receive. @default 1000 */
  waitMs?: number;
  /** First backoff after a failed receive or an unavailable dependency; doubles up to 5 s. @default 100 */
  backoffMs?: number;
  /** Counts each outcome (metrics). */
  observe?: (result: ConsumeResult) => void;
  logger?: ConsumerLogger;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Pulls batches from a {@link MessageQueue} and runs a handler on each message, concurrently within a batch.
 *
 * - Partial batch failure: only the messages whose handler succeeded are acknowledged (one batch call); a
 *   failed one stays leased until its lease runs out and is then redelivered, or dead-lettered by the queue
 *   once it has been received `maxReceives` times. A failure on that last receive counts as `dead_lettered`.
 * - Leases are renewed every third of `leaseMs` while a handler runs, so a slow handler keeps its message.
 * - A {@link DependencyUnavailableError} holds the message and retries it with a backoff (the lease kept
 *   renewed) and no new batch is received meanwhile.
 * - `stop()` lets the running batch finish; `abandon()` drops it unacknowledged, like a crash.
 */
export class QueueConsumer {
  private running?: Promise<void>;
  private stopping = false;
  private abandoned = false;
  private abandonNow!: () => void;
  /** Settles when the consumer is abandoned: a handler still running is no longer waited for. */
  private abandonedSignal = new Promise<void>((resolve) => (this.abandonNow = resolve));
  private readonly batchSize: number;
  private readonly waitMs: number;
  private readonly backoffMs: number;

  constructor(
    private readonly queue: MessageQueue,
    private readonly handler: (body: string, delivery: Delivery) => Promise<void>,
    private readonly options: QueueConsumerOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 10;
    this.waitMs = options.waitMs ?? 1_000;
    this.backoffMs = options.backoffMs ?? 100;
  }

  /** Starts the receive loop (idempotent). */
  start(): void {
    this.stopping = false;
    this.running ??= this.loop().finally(() => (this.running = undefined));
  }

  /** Whether the consumer is running (started and not stopped). */
  get started(): boolean {
    return this.running !== undefined;
  }

  /** Stops receiving and waits for the current batch to be handled and acknowledged. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  /** Stops at once without acknowledging the current batch (tests: a consumer that dies mid-message). */
  async abandon(): Promise<void> {
    this.abandoned = true;
    this.stopping = true;
    this.abandonNow();
  }

  private async loop(): Promise<void> {
    let backoff = this.backoffMs;
    while (!this.stopping) {
      let batch: Delivery[];
      try {
        batch = await this.queue.receive(this.batchSize, this.waitMs);
        backoff = this.backoffMs;
      } catch (err) {
        this.options.logger?.warn(
          { err: (err as Error).message, queue: this.queue.kind },
          'queue receive failed',
        );
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5_000);
        continue;
      }
      if (batch.length > 0) await this.handleBatch(batch);
      // An empty receive that returned at once (no long poll) must not starve timers and I/O.
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private async handleBatch(batch: Delivery[]): Promise<void> {
    const inFlight = new Set(batch);
    const heartbeat = setInterval(
      () => {
        if (this.abandoned || inFlight.size === 0) return;
        this.queue.extendLease([...inFlight]).catch((err) => {
          this.options.logger?.warn({ err: (err as Error).message }, 'lease renewal failed');
        });
      },
      Math.max(10, Math.floor(this.queue.leaseMs / 3)),
    );
    heartbeat.unref();
    try {
      const outcomes = await Promise.all(
        batch.map(async (delivery) => {
          const ok = await this.handleOne(delivery);
          inFlight.delete(delivery);
          return ok;
        }),
      );
      if (this.abandoned) return;
      const done = batch.filter((_, i) => outcomes[i]);
      try {
        await this.queue.ack(done);
      } catch (err) {
        // The messages come back after their lease: handlers are idempotent, a duplicate is harmless.
        this.options.logger?.warn({ err: (err as Error).message, count: done.length }, 'queue ack failed');
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Runs the handler; true when the message may be acknowledged. */
  private async handleOne(delivery: Delivery): Promise<boolean> {
    let backoff = this.backoffMs;
    for (;;) {
      if (this.abandoned) return false;
      try {
        await Promise.race([this.handler(delivery.body, delivery), this.abandonedSignal]);
        if (this.abandoned) return false;
        this.options.observe?.('processed');
        return true;
      } catch (err) {
        if (err instanceof DependencyUnavailableError) {
          // Stopping: leave it unacknowledged for another consumer; it was not the message's fault.
          if (this.stopping) return false;
          this.options.observe?.('retried');
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 5_000);
          continue;
        }
        const last = delivery.receiveCount >= this.queue.maxReceives;
        this.options.observe?.(last ? 'dead_lettered' : 'failed');
        this.options.logger?.warn(
          { err: (err as Error).message, messageId: delivery.id, receiveCount: delivery.receiveCount },
          last
            ? 'message failed its last attempt; it goes to the dead-letter queue'
            : 'message failed; it will be redelivered',
        );
        return false;
      }
    }
  }
}
