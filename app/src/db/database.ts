import type { ReplayPosition } from './replay-position';

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
  /**
   * How far the reader has replayed the writer's WAL (`primary` without a replica or when the reader endpoint
   * is the writer; `unknown` for a server in recovery that reports no position, e.g. an Aurora reader).
   */
  replicaReplayPosition(): Promise<ReplayPosition>;
  /**
   * True when the reader has replayed WAL up to `lsn` (always true without a replica; false when its position
   * is unknown). A pool may answer this on one connection and a later query on another (another reader
   * behind RDS Proxy or a reader endpoint): for a read that depends on the answer use
   * {@link Database.withReaderTransaction}.
   */
  replicaHasReplayed(lsn: string): Promise<boolean>;
  /**
   * Runs `fn` in a read-only transaction on one reader connection (a writer connection without a replica), so
   * that every statement of `fn` reaches the same server: RDS Proxy may move a client connection to another
   * database connection, and so another reader, between transactions but never inside one. Commits when
   * `fn` resolves, rolls back when it throws; the connection always goes back to its pool.
   */
  withReaderTransaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Runs one read on a reader connection (the writer without a replica) and gives up after `timeoutMs`, counted
   * from the call (waiting for a connection included): it then rejects with a {@link QueryTimeoutError}, whether
   * the server is slow, frozen or unreachable. A connection that timed out is closed, never reused.
   */
  readWithin<R = Record<string, unknown>>(
    text: string,
    params: unknown[] | undefined,
    timeoutMs: number,
  ): Promise<{ rows: R[] }>;
  /** Checks that the writer (and the reader) answer. */
  ping(): Promise<void>;
  /** Closes every pool. */
  close(): Promise<void>;
}

/** Called for every query with the pool it went to (metrics). */
export type QueryObserver = (pool: 'writer' | 'reader') => void;

/** A read given up by {@link Database.readWithin} after its time limit. */
export class QueryTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'QueryTimeoutError';
  }
}

/**
 * A promise that rejects with a {@link QueryTimeoutError} after `timeoutMs`, and the function that disarms it.
 * Its rejection is pre-handled: only those who race it see it.
 */
export function deadline(timeoutMs: number): { expired: Promise<never>; disarm: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueryTimeoutError(timeoutMs)), timeoutMs);
  });
  expired.catch(() => {});
  return { expired, disarm: () => clearTimeout(timer) };
}
