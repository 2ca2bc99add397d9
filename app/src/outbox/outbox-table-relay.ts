import type { Database, SqlExecutor } from '../db/database';

/** Wakes a relay when a writer commits (LISTEN/NOTIFY); see `listenForOutbox`. */
export interface OutboxWakeSource {
  /** Calls `wake` on each notification until closed. */
  subscribe(wake: () => void): void;
  close(): Promise<void>;
}

/** Where the relay reports problems (a pino logger fits). */
export interface RelayLogger {
  warn(obj: object, msg: string): void;
}

/** The common part of every outbox row: its key in the table. */
export interface OutboxRow {
  /** The row's `id` (bigint, as text). */
  id: string;
}

/** What publishing one batch did, row by row (by {@link OutboxRow.id}). */
export interface BatchOutcome {
  /** Rows the destination accepted: marked sent in the batch's transaction. */
  sent: readonly string[];
  /**
   * Rows that can never be published (they fail their schema): marked failed with the reason, kept for an
   * operator, never retried. Only for tables with `failed_at` and `error` columns.
   */
  rejected?: readonly { id: string; error: string }[];
}

/**
 * One outbox table and how its rows are published. The invalidation outbox coalesces a batch into one queue
 * message; the domain-event outbox publishes each row as an event on the bus, some of which may be refused.
 */
export interface OutboxTable<Row extends OutboxRow> {
  /** The table (`invalidation_outbox`, `event_outbox`). Must have `id`, `sent_at`. */
  readonly name: string;
  /** The columns the relay selects (`id` must be among them, as `id::text`). */
  readonly columns: string;
  /**
   * Publishes a batch. Rows missing from both lists of the outcome stay unsent and are retried (a partial
   * failure); throwing leaves the whole batch unsent.
   */
  publish(rows: readonly Row[]): Promise<BatchOutcome>;
  /**
   * More pruning with the outbox's, once a tick (the consumers' dedupe records beside the domain-event outbox).
   * Returns the rows deleted.
   */
  pruneAlso?(db: SqlExecutor, batches: { batch: number; maxBatches: number }): Promise<number>;
  /** The table has `failed_at` and `error` (refused rows are kept, not pruned). @default false */
  readonly keepsFailed?: boolean;
  /**
   * Only rows whose `column` is one of `values` are this relay's (the domain events a service may publish).
   * @default - every row
   */
  readonly only?: { readonly column: string; readonly values: readonly string[] };
}

/**
 * How long sent rows stay in an outbox before the relay prunes them (1 h): a secondary region's follower of the
 * replicated outbox must read them within that time (regions/outbox-follower.ts).
 */
export const DEFAULT_KEEP_SENT_MS = 3_600_000;

/** Rows one prune statement deletes. */
export const PRUNE_BATCH = 5_000;
/** Prune statements per table and tick (one tick a minute): at most 100,000 rows a minute each. */
export const PRUNE_MAX_BATCHES = 20;

/**
 * Runs `deleteSql` (a `DELETE ... WHERE key IN (SELECT key ... LIMIT $1)`, its further parameters `params`) until
 * it deletes less than a full batch or `maxBatches` statements ran: pruning keeps up with any steady rate below
 * `batch x maxBatches` per tick, and no tick runs unbounded. Returns the rows deleted.
 */
export async function pruneInBatches(
  db: SqlExecutor,
  deleteSql: string,
  params: readonly unknown[] = [],
  options: { batch?: number; maxBatches?: number } = {},
): Promise<number> {
  const batch = options.batch ?? PRUNE_BATCH;
  const maxBatches = options.maxBatches ?? PRUNE_MAX_BATCHES;
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const { rows } = await db.query<{ n: number }>(
      `WITH deleted AS (${deleteSql} RETURNING 1) SELECT count(*)::int AS n FROM deleted`,
      [batch, ...params],
    );
    total += rows[0].n;
    if (rows[0].n < batch) break;
  }
  return total;
}

/** Options of {@link OutboxTableRelay}. */
export interface OutboxTableRelayOptions {
  /** The database's id, for logs (`main`, `shard-1`). */
  source: string;
  /** Outbox rows per batch. @default 50 */
  batchSize?: number;
  /** How often the relay looks for rows without a notification. @default 500 */
  pollMs?: number;
  /** LISTEN/NOTIFY wake-ups. @default - polling only */
  wake?: OutboxWakeSource;
  /** Sent rows are deleted after this long. @default 3600000 (1 h) */
  keepSentMs?: number;
  /** Rows per prune statement. @default 5000 */
  pruneBatch?: number;
  /** Prune statements per table and tick (a tick a minute), while they delete full batches. @default 20 */
  pruneMaxBatches?: number;
  /** Counts published rows. */
  onPublished?: (rows: number) => void;
  logger?: RelayLogger;
  /**
   * Called after a batch is published and before it is marked sent. A test seam: a crash here is the case
   * at-least-once delivery is about (the rows are published again: a duplicate, never a loss).
   */
  afterPublish?: () => Promise<void> | void;
}

/** A batch whose publication left some rows unsent (they are retried with a backoff). */
export class PartialPublishError extends Error {
  constructor(
    readonly unsent: number,
    readonly total: number,
  ) {
    super(`${unsent} of ${total} outbox rows were not accepted; they stay unsent and are retried`);
    this.name = 'PartialPublishError';
  }
}

/**
 * Publishes a database's unsent rows of one outbox table and marks them sent: the relay machinery shared by the
 * invalidation outbox (stage 100k) and the domain-event outbox (stage 1m).
 *
 * Each batch runs in one transaction: `SELECT ... FOR UPDATE SKIP LOCKED` locks up to `batchSize` unsent
 * rows (a relay in every app instance is fine: they take disjoint batches), the table's `publish` sends them,
 * the rows it reports accepted are marked sent (and refused ones failed) and the transaction commits. If the
 * send throws, the transaction rolls back and the rows are retried with a backoff; rows neither accepted nor
 * refused (a partial failure) stay unsent and are retried the same way; if the process dies after the send and
 * before the commit, the lock goes with the connection and the rows are sent again: a duplicate, which
 * consumers treat as harmless. The relay sleeps until a wake-up (a NOTIFY, or a write in this process) or the
 * poll interval, whichever comes first.
 */
export class OutboxTableRelay<Row extends OutboxRow> {
  private running?: Promise<void>;
  private stopping = false;
  private wakeUp?: () => void;
  private woken = false;
  private lastPrune = 0;
  private readonly batchSize: number;
  private readonly pollMs: number;
  private readonly keepSentMs: number;

  constructor(
    protected readonly db: Database,
    protected readonly table: OutboxTable<Row>,
    protected readonly options: OutboxTableRelayOptions,
  ) {
    if (!/^[a-z_]+$/.test(table.name)) throw new Error(`"${table.name}" is not an outbox table name`);
    if (table.only && !/^[a-z_]+$/.test(table.only.column))
      throw new Error(`"${table.only.column}" is not a column name`);
    this.batchSize = options.batchSize ?? 50;
    this.pollMs = options.pollMs ?? 500;
    this.keepSentMs = options.keepSentMs ?? DEFAULT_KEEP_SENT_MS;
    options.wake?.subscribe(() => this.wake());
  }

  /** Whether the relay is running (started and not stopped). */
  get started(): boolean {
    return this.running !== undefined;
  }

  /** Starts relaying in the background (idempotent). */
  start(): void {
    this.stopping = false;
    this.running ??= this.loop().finally(() => (this.running = undefined));
  }

  /** Stops after the current batch. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.running;
    await this.options.wake?.close();
  }

  /** Ends the current pause now (a row was just committed). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /**
   * Publishes one batch and marks what was accepted; returns how many rows were marked sent (0: nothing
   * unsent, or every unsent row is locked by another relay). Throws {@link PartialPublishError} after
   * committing what was accepted when some rows were not.
   */
  async publishBatch(): Promise<number> {
    const { sent, total, unsent } = await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<Row>(
        `SELECT ${this.table.columns} FROM ${this.table.name}
          WHERE sent_at IS NULL ${this.onlyClause(2)} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.batchSize, ...this.onlyParams()],
      );
      if (rows.length === 0) return { sent: 0, total: 0, unsent: 0 };
      const outcome = await this.table.publish(rows);
      await this.options.afterPublish?.();
      await this.mark(tx, outcome);
      const done = outcome.sent.length + (outcome.rejected?.length ?? 0);
      return { sent: outcome.sent.length, total: rows.length, unsent: rows.length - done };
    });
    if (unsent > 0) throw new PartialPublishError(unsent, total);
    return sent;
  }

  /** Unsent rows of this relay (the outbox's backlog). */
  async pending(): Promise<number> {
    const { rows } = await this.db.writer.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${this.table.name} WHERE sent_at IS NULL ${this.onlyClause(1)}`,
      this.onlyParams(),
    );
    return Number(rows[0].n);
  }

  private onlyClause(param: number): string {
    return this.table.only ? `AND ${this.table.only.column} = ANY($${param}::text[])` : '';
  }

  private onlyParams(): unknown[] {
    return this.table.only ? [[...this.table.only.values]] : [];
  }

  private async mark(tx: SqlExecutor, outcome: BatchOutcome): Promise<void> {
    if (outcome.sent.length > 0)
      await tx.query(`UPDATE ${this.table.name} SET sent_at = now() WHERE id = ANY($1::bigint[])`, [
        [...outcome.sent],
      ]);
    const rejected = outcome.rejected ?? [];
    if (rejected.length > 0) {
      // Marked sent too, so the batch query skips them; failed_at tells them apart for an operator.
      await tx.query(
        `UPDATE ${this.table.name} t SET sent_at = now(), failed_at = now(), error = r.error
           FROM unnest($1::bigint[], $2::text[]) AS r(id, error) WHERE t.id = r.id`,
        [rejected.map((r) => r.id), rejected.map((r) => r.error)],
      );
      this.options.logger?.warn(
        { source: this.options.source, table: this.table.name, rejected },
        'outbox rows refused as invalid; marked failed and not published',
      );
    }
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
          { err: (err as Error).message, source: this.options.source, table: this.table.name },
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
    // A wake-up that came while the batch ran (its row was not in the batch) must not wait for the poll.
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }

  private async prune() {
    if (Date.now() - this.lastPrune < 60_000) return;
    this.lastPrune = Date.now();
    await this.pruneNow();
  }

  /**
   * Deletes sent rows older than `keepSentMs` (and whatever the table prunes with them), in batches while
   * batches come back full, bounded per call; returns the rows deleted. The loop runs it once a minute.
   */
  async pruneNow(): Promise<number> {
    const batches = {
      batch: this.options.pruneBatch ?? PRUNE_BATCH,
      maxBatches: this.options.pruneMaxBatches ?? PRUNE_MAX_BATCHES,
    };
    const outbox = await pruneInBatches(
      this.db.writer,
      `DELETE FROM ${this.table.name} WHERE id IN (
         SELECT id FROM ${this.table.name} WHERE sent_at < now() - make_interval(secs => $2)
         ${this.table.keepsFailed ? 'AND failed_at IS NULL' : ''} LIMIT $1)`,
      [this.keepSentMs / 1000],
      batches,
    );
    return outbox + ((await this.table.pruneAlso?.(this.db.writer, batches)) ?? 0);
  }
}
