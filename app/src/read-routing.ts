import type { Session } from 'fastify';
import type { Database, SqlExecutor } from './db/database';

/** Marker kept in the user's session after a write: read from the writer until the replica passed `lsn`. */
export interface ReadYourWritesMarker {
  /** Writer WAL position right after the write committed. */
  lsn: string;
  /** Epoch ms after which reads go back to the replica whatever its position (bounded window). */
  until: number;
}

declare module 'fastify' {
  interface Session {
    userId?: string;
    role?: 'customer' | 'admin';
    ryw?: ReadYourWritesMarker;
  }
}

/**
 * Read/write split with read-your-writes.
 *
 * Reads that may be stale go to the replica. After a user writes, the writer's WAL position is stored in
 * the user's session (so every instance sees it); that user's reads then go to the writer until the
 * replica has replayed past that position (`pg_last_wal_replay_lsn() >= lsn`) or the window has elapsed.
 * Other users keep reading from the replica.
 */
export class ReadRouter {
  /**
   * @param db the database port
   * @param windowMs longest time a user's reads stay on the writer after a write
   */
  constructor(
    private readonly db: Database,
    private readonly windowMs: number,
  ) {}

  /** Where this session's reads go now. Clears the marker once the replica has caught up or it expired. */
  async readerFor(session: Session | undefined): Promise<SqlExecutor> {
    if (!this.db.hasReplica) return this.db.reader;
    const marker = session?.ryw;
    if (!session || !marker) return this.db.reader;
    if (Date.now() >= marker.until) {
      session.ryw = undefined;
      return this.db.reader;
    }
    let caughtUp = false;
    try {
      caughtUp = await this.db.replicaHasReplayed(marker.lsn);
    } catch {
      // Replica unreachable: the writer is the safe choice.
    }
    if (caughtUp) {
      session.ryw = undefined;
      return this.db.reader;
    }
    return this.db.writer;
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
    if (session) session.ryw = { lsn: lsn ?? 'FFFFFFFF/FFFFFFFF', until: Date.now() + this.windowMs };
    return lsn;
  }
}
