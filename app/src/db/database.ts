/** Minimal SQL execution interface shared by `pg` pools/clients, PGlite and the app's pool wrappers. */
export interface SqlExecutor {
  /** Runs one parameterised statement. */
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

/** One dedicated connection: can also run a script of several statements (migrations). */
export interface SqlConnection extends SqlExecutor {
  /** Runs a script of one or more statements without parameters. */
  exec(sql: string): Promise<void>;
}

/**
 * The database port: a writer, a reader (the writer itself when there is no replica), transactions and
 * replication positions for read-your-writes.
 */
export interface Database extends SqlExecutor {
  /** `pglite` (embedded, in process) or `postgres` (pg pools). */
  readonly kind: 'pglite' | 'postgres';
  /** True when reads can go to a separate replica. */
  readonly hasReplica: boolean;
  /** Queries on the primary. `query()` on the database itself is the same as `writer.query()`. */
  readonly writer: SqlExecutor;
  /** Queries that may be stale: the replica, or the writer when there is none. */
  readonly reader: SqlExecutor;
  /** Runs `fn` in a transaction on the writer; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Runs `fn` on one dedicated writer connection (session-level advisory locks, scripts). */
  withConnection<T>(fn: (conn: SqlConnection) => Promise<T>): Promise<T>;
  /** The writer's current WAL position, or null when there is no replica to compare with. */
  writerLsn(): Promise<string | null>;
  /** The replica's last replayed WAL position; null without a replica (or when the reader is a primary). */
  replicaReplayLsn(): Promise<string | null>;
  /** True when the replica has replayed WAL up to `lsn` (always true without a replica). */
  replicaHasReplayed(lsn: string): Promise<boolean>;
  /** Checks that the writer (and the reader) answer. */
  ping(): Promise<void>;
  /** Closes every pool. */
  close(): Promise<void>;
}

/** Called for every query with the pool it went to (metrics). */
export type QueryObserver = (pool: 'writer' | 'reader') => void;
