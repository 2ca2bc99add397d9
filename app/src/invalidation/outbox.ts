import type { Database, SqlExecutor } from '../db/database';
import type { MessageQueue } from '../queue/message-queue';
import type { InvalidationEvent } from './invalidation-event';

/** The channel the outbox trigger notifies on commit (migration 004). */
export const OUTBOX_CHANNEL = 'invalidation_outbox';

/**
 * The write side of the outbox of one database: records a change's invalidation in the change's own
 * transaction. One instance per database that holds cached data (today one; with sharding the catalog and
 * every shard), each with its own {@link OutboxRelay}.
 */
export class InvalidationOutbox {
  /** @param source the database's id, carried in every event (`main`, `catalog`, `shard-3`) */
  constructor(readonly source: string) {}

  /**
   * Inserts the event: one statement, on `tx`, which must be a transaction on this outbox's database (the
   * transaction that makes the change), never a separate connection.
   */
  async record(tx: SqlExecutor, tags: readonly string[]): Promise<void> {
    const unique = [...new Set(tags)];
    if (unique.length === 0) return;
    await tx.query('INSERT INTO invalidation_outbox (tags) VALUES ($1)', [unique]);
  }

  /** Runs `change` in a transaction on `db` and records `tags(result)` in it (no event when it throws). */
  async transaction<T>(
    db: Database,
    change: (tx: SqlExecutor) => Promise<T>,
    tags: (result: T) => readonly string[],
  ): Promise<T> {
    return db.transaction(async (tx) => {
      const result = await change(tx);
      await this.record(tx, tags(result));
      return result;
    });
  }
}

/** Wakes a relay when a writer commits (LISTEN/NOTIFY); see {@link listenForOutbox}. */
export interface OutboxWakeSource {
  /** Calls `wake` on each notification until closed. */
  subscribe(wake: () => void): void;
  close(): Promise<void>;
}

/** Where the relay reports problems (a pino logger fits). */
export interface RelayLogger {
  warn(obj: object, msg: string): void;
}

/** Options of {@link OutboxRelay}. */
export interface OutboxRelayOptions {
  /** The database's id (see {@link InvalidationOutbox}). */
  source: string;
  /** Outbox rows per batch (one queue message). @default 50 */
  batchSize?: number;
  /** How often the relay looks for rows without a notification. @default 500 */
  pollMs?: number;
  /** LISTEN/NOTIFY wake-ups. @default - polling only */
  wake?: OutboxWakeSource;
  /** Sent rows are deleted after this long. @default 3600000 (1 h) */
  keepSentMs?: number;
  /** Counts published rows. */
  onPublished?: (rows: number) => void;
  logger?: RelayLogger;
  /**
   * Called after a batch is published and before it is marked sent. A test seam: a crash here is the case
   * at-least-once delivery is about (the rows are published again: a duplicate, never a loss).
   */
  afterPublish?: () => Promise<void> | void;
}

interface OutboxRow {
  id: string;
  event_id: string;
  tags: string[];
  created_at: Date | string;
}

/**
 * Publishes a database's unsent outbox rows to the queue and marks them sent.
 *
 * Each batch runs in one transaction: `SELECT ... FOR UPDATE SKIP LOCKED` locks up to `batchSize` unsent
 * rows (a relay in every app instance is fine: they take disjoint batches), the batch is sent as one event,
 * then the rows are marked sent and the transaction commits. If the send fails the transaction rolls back
 * and the rows are retried with a backoff; if the process dies after the send and before the commit, the
 * lock goes with the connection and the rows are sent again: a duplicate, which consumers treat as harmless.
 * The relay sleeps until a NOTIFY from a committing writer or the poll interval, whichever comes first.
 */
export class OutboxRelay {
  private running?: Promise<void>;
  private stopping = false;
  private wakeUp?: () => void;
  private lastPrune = 0;
  private readonly batchSize: number;
  private readonly pollMs: number;
  private readonly keepSentMs: number;

  constructor(
    private readonly db: Database,
    private readonly queue: MessageQueue,
    private readonly options: OutboxRelayOptions,
  ) {
    this.batchSize = options.batchSize ?? 50;
    this.pollMs = options.pollMs ?? 500;
    this.keepSentMs = options.keepSentMs ?? 3_600_000;
    options.wake?.subscribe(() => this.wakeUp?.());
  }

  /** Starts relaying in the background (idempotent). */
  start(): void {
    this.stopping = false;
    this.running ??= this.loop().finally(() => (this.running = undefined));
  }

  /** Stops after the current batch. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.running;
    await this.options.wake?.close();
  }

  /**
   * Publishes one batch and marks it sent; returns how many rows it carried (0: nothing unsent, or every
   * unsent row is locked by another relay).
   */
  async publishBatch(): Promise<number> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<OutboxRow>(
        `SELECT id, event_id, tags, created_at FROM invalidation_outbox
          WHERE sent_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.batchSize],
      );
      if (rows.length === 0) return 0;
      const event: InvalidationEvent = {
        v: 1,
        source: this.options.source,
        eventIds: rows.map((r) => r.event_id),
        tags: [...new Set(rows.flatMap((r) => r.tags))],
        oldestAt: Math.min(...rows.map((r) => new Date(r.created_at).getTime())),
      };
      await this.queue.send([JSON.stringify(event)]);
      await this.options.afterPublish?.();
      await tx.query('UPDATE invalidation_outbox SET sent_at = now() WHERE id = ANY($1::bigint[])', [
        rows.map((r) => r.id),
      ]);
      return rows.length;
    });
  }

  /** Unsent rows (the outbox's backlog). */
  async pending(): Promise<number> {
    const { rows } = await this.db.writer.query<{ n: string }>(
      'SELECT count(*) AS n FROM invalidation_outbox WHERE sent_at IS NULL',
    );
    return Number(rows[0].n);
  }

  private async loop(): Promise<void> {
    let backoff = 100;
    while (!this.stopping) {
      let published = 0;
      try {
        published = await this.publishBatch();
        backoff = 100;
        if (published > 0) this.options.onPublished?.(published);
        await this.prune();
      } catch (err) {
        this.options.logger?.warn(
          { err: (err as Error).message, source: this.options.source },
          'outbox relay failed; retrying (the rows stay in the outbox)',
        );
        await this.pause(backoff);
        backoff = Math.min(backoff * 2, 5_000);
        continue;
      }
      // A full batch means more may be waiting: go on at once.
      if (published < this.batchSize) await this.pause(this.pollMs);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private async prune() {
    if (Date.now() - this.lastPrune < 60_000) return;
    this.lastPrune = Date.now();
    await this.db.writer.query(
      `DELETE FROM invalidation_outbox WHERE id IN (
         SELECT id FROM invalidation_outbox WHERE sent_at < now() - make_interval(secs => $1) LIMIT 5000)`,
      [this.keepSentMs / 1000],
    );
  }
}
