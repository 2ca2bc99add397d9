import type { Session } from 'fastify';
import type { Database, SqlExecutor } from './db/database';
import { hasReplayed, readReplayPosition } from './db/replay-position';

/** Marker kept in the user's session after a write: read only from connections that have replayed `lsn`. */
export interface ReadYourWritesMarker {
  /** Writer WAL position right after the write committed. */
  lsn: string;
  /** Epoch ms after which reads go back to the replica whatever its position (bounded window). */
  until: number;
}

declare module 'fastify' {
  interface Session {
    userId?: string;
    ryw?: ReadYourWritesMarker;
    /** Markers of writes on physical shards other than shard 0 (their WAL positions are their own). */
    rywShards?: Record<string, ReadYourWritesMarker>;
  }
}

/** The marker position recorded when the writer could not report its WAL position: never replayed. */
const UNKNOWN_WRITE_POSITION = 'FFFFFFFF/FFFFFFFF';

/** Thrown inside the reader transaction when that reader has not replayed the write: read on the writer. */
const NOT_CAUGHT_UP = Symbol('not caught up');

/**
 * The reads of a user whose own write may not have reached the replica yet. Every query checks out one reader
 * connection, reads that server's replay position and, when it has replayed the user's write, runs the query
 * there, in the same read-only transaction; otherwise (behind, position unknown, unreachable) it runs on the
 * writer. Checking on one connection and reading on another would be unsound: behind RDS Proxy's read-only
 * endpoint or an Aurora reader endpoint the two can reach different readers with different lag.
 */
class ReadYourWritesReader implements SqlExecutor {
  constructor(
    private readonly db: Database,
    private readonly lsn: string,
  ) {}

  async query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    let reading = false;
    try {
      return await this.db.withReaderTransaction(async (tx) => {
        if (!hasReplayed(await readReplayPosition(tx), this.lsn)) throw NOT_CAUGHT_UP;
        reading = true;
        return tx.query<R>(text, params);
      });
    } catch (err) {
      // The read itself failed on a reader that had the write: a real error, not a routing question.
      if (reading) throw err;
      // Behind, position unknown, or the reader is unreachable: the writer has the write.
      return this.db.writer.query<R>(text, params);
    }
  }
}

/**
 * Read/write split with read-your-writes.
 *
 * Reads that may be stale go to the replica. After a user writes, the writer's WAL position is stored in
 * the user's session (so every instance sees it) for a bounded window. While it is there, each of that
 * user's reads runs on a reader connection that has been seen, on that same connection, to have replayed
 * past the position (`pg_is_in_recovery()` false, or `pg_last_wal_replay_lsn() >= lsn`), and on the writer
 * otherwise. The marker stays until the window ends: one reader having caught up says nothing about the
 * others behind the same endpoint. A reader in recovery that reports no replay position (Aurora) never
 * counts as caught up, so there the window alone decides. Other users keep reading from the replica.
 */
export class ReadRouter {
  /**
   * @param db the database port
   * @param windowMs longest time a user's reads stay on the writer after a write
   * @param shardId the physical shard `db` is: a WAL position means something on its own server only, so each
   *   shard keeps its own marker in the session (shard 0's is the unsharded layout's `ryw`)
   */
  constructor(
    private readonly db: Database,
    private readonly windowMs: number,
    private readonly shardId = '0',
  ) {}

  private marker(session: Session): ReadYourWritesMarker | undefined {
    return this.shardId === '0' ? session.ryw : session.rywShards?.[this.shardId];
  }

  private setMarker(session: Session, marker: ReadYourWritesMarker | undefined): void {
    if (this.shardId === '0') {
      session.ryw = marker;
      return;
    }
    const rest = { ...session.rywShards };
    if (marker) rest[this.shardId] = marker;
    else delete rest[this.shardId];
    session.rywShards = Object.keys(rest).length > 0 ? rest : undefined;
  }

  /**
   * Where this session's reads go now: the replica, or while the session's read-your-writes marker is
   * active, an executor that reads from a reader only when that very connection has the user's write.
   * Clears the marker once its window has elapsed.
   */
  async readerFor(session: Session | undefined): Promise<SqlExecutor> {
    if (!this.db.hasReplica) return this.db.reader;
    const marker = session && this.marker(session);
    if (!session || !marker) return this.db.reader;
    if (Date.now() >= marker.until) {
      this.setMarker(session, undefined);
      return this.db.reader;
    }
    // No recorded position: no reader can be shown to have the write, so skip the check.
    if (marker.lsn === UNKNOWN_WRITE_POSITION) return this.db.writer;
    return new ReadYourWritesReader(this.db, marker.lsn);
  }

  /**
   * True when reads through `source` (from {@link ReadRouter.readerFor}) must bypass the cache: they read the
   * user's own recent write, which a cache entry filled from a lagging replica may not have.
   */
  readsOwnWrites(source: SqlExecutor): boolean {
    return this.db.hasReplica && (source === this.db.writer || source instanceof ReadYourWritesReader);
  }

  /**
   * Records a committed write by this session's user and returns the writer's WAL position after it (null
   * without a replica, or when the writer could not say). Never throws: the write already succeeded.
   */
  async recordWrite(session: Session | undefined): Promise<string | null> {
    if (!this.db.hasReplica) return null;
    let lsn: string | null = null;
    try {
      lsn = await this.db.writerLsn();
    } catch {
      // Without a position the window alone applies.
    }
    if (session)
      this.setMarker(session, { lsn: lsn ?? UNKNOWN_WRITE_POSITION, until: Date.now() + this.windowMs });
    return lsn;
  }
}
