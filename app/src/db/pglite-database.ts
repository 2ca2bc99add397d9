import { PGlite } from '@electric-sql/pglite';
import {
  deadline,
  type Database,
  type QueryObserver,
  type SqlConnection,
  type SqlExecutor,
} from './database';
import type { ReplayPosition } from './replay-position';

/**
 * The embedded database adapter: PostgreSQL compiled to WebAssembly, in process, in memory or in a folder.
 * One connection, no replica: reads and writes both go to the writer.
 */
export class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  readonly hasReplica = false;
  readonly writer: SqlExecutor;
  readonly reader: SqlExecutor;

  private constructor(
    private readonly db: PGlite,
    private readonly observe: QueryObserver,
  ) {
    this.writer = {
      query: async <R>(text: string, params?: unknown[]) => {
        this.observe('writer');
        const result = await this.db.query<R>(text, params as unknown[]);
        return { rows: result.rows };
      },
    };
    this.reader = this.writer;
  }

  /** Starts PGlite (about 4 s on a laptop): in memory, or persisted in `dataDir`. */
  static async create(options: { dataDir?: string; observe?: QueryObserver } = {}): Promise<PgliteDatabase> {
    const db = new PGlite(options.dataDir);
    await db.waitReady;
    return new PgliteDatabase(db, options.observe ?? (() => {}));
  }

  /** Wraps a PGlite instance the caller started (tests share one per file); close() closes it. */
  static wrap(db: PGlite, options: { observe?: QueryObserver } = {}): PgliteDatabase {
    return new PgliteDatabase(db, options.observe ?? (() => {}));
  }

  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return this.writer.query<R>(text, params);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) =>
      fn({
        query: async <R>(text: string, params?: unknown[]) => {
          this.observe('writer');
          const result = await tx.query<R>(text, params as unknown[]);
          return { rows: result.rows };
        },
      }),
    );
  }

  async withConnection<T>(fn: (conn: SqlConnection) => Promise<T>): Promise<T> {
    return fn({
      query: (text, params) => this.writer.query(text, params),
      exec: async (sql) => {
        this.observe('writer');
        await this.db.exec(sql);
      },
    });
  }

  async withReaderTransaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    // One connection and no replica: the reader is the writer.
    return this.transaction(fn);
  }

  async readWithin<R = Record<string, unknown>>(
    text: string,
    params: unknown[] | undefined,
    timeoutMs: number,
  ): Promise<{ rows: R[] }> {
    // In process: nothing to disconnect, and a statement cannot be interrupted; the caller stops waiting.
    const { expired, disarm } = deadline(timeoutMs);
    try {
      return await Promise.race([this.writer.query<R>(text, params), expired]);
    } finally {
      disarm();
    }
  }

  async writerLsn(): Promise<string | null> {
    return null;
  }

  async replicaReplayPosition(): Promise<ReplayPosition> {
    return { state: 'primary' };
  }

  async replicaHasReplayed(): Promise<boolean> {
    return true;
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (!this.db.closed) await this.db.close();
  }
}
