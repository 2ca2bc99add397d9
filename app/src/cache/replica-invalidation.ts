import type { Database } from '../db/database';
import { parseLsn } from '../db/replay-position';
import type { Cache } from './cache';

/** Re-exported for callers that compare positions alongside the invalidation queue. */
export { parseLsn };

const CAUGHT_UP = (1n << 64n) - 1n;

interface PendingInvalidation {
  lsn: bigint;
  tags: string[];
  deadline: number;
}

/** Options of {@link ReplicaInvalidation}. */
export interface ReplicaInvalidationOptions {
  /** Give up waiting for the replica after this long and invalidate anyway. */
  maxWaitMs: number;
  /** How often the replica's replay position is polled while invalidations are pending. @default 50 */
  pollMs?: number;
}

/**
 * Invalidates a write's cache tags a second time once the replica has replayed the write.
 *
 * Invalidating at commit is not enough with replicas: a cache miss right after it may load from a replica
 * that has not replayed the write yet and cache the old value for a whole TTL. So each write is queued with
 * the writer's WAL position, one poller per instance reads `pg_last_wal_replay_lsn()` (a single query per
 * interval, whatever the write rate), and tags whose write the replica has passed are invalidated again —
 * or when `maxWaitMs` elapses, which is the only rule when the reader reports no replay position (an Aurora
 * reader: `ReplayPosition` "unknown"). Without a replica nothing is queued.
 */
export class ReplicaInvalidation {
  private queue: PendingInvalidation[] = [];
  private timer?: NodeJS.Timeout;
  private closed = false;
  private readonly pollMs: number;

  constructor(
    /** What invalidates (the cache, or the app's invalidation that also evicts every first-level cache). */
    private readonly cache: Pick<Cache, 'invalidateTags'>,
    private readonly db: Database,
    private readonly options: ReplicaInvalidationOptions,
  ) {
    this.pollMs = options.pollMs ?? 50;
  }

  /** Queues `tags` for re-invalidation once the replica has replayed up to `lsn` (null: after the wait). */
  schedule(tags: readonly string[], lsn: string | null): void {
    if (!this.db.hasReplica || tags.length === 0 || this.closed) return;
    this.queue.push({
      lsn: lsn ? parseLsn(lsn) : CAUGHT_UP,
      tags: [...tags],
      deadline: Date.now() + this.options.maxWaitMs,
    });
    this.arm();
  }

  /** Invalidations still waiting for the replica. */
  get pending(): number {
    return this.queue.length;
  }

  /** Stops polling; pending entries are dropped (their TTL still bounds them). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
  }

  private arm() {
    if (this.timer || this.closed || this.queue.length === 0) return;
    this.timer = setTimeout(() => void this.flush(), this.pollMs);
    // Never keep the process alive for this.
    this.timer.unref();
  }

  private async flush() {
    this.timer = undefined;
    let replayed: bigint | null = null;
    try {
      const position = await this.db.replicaReplayPosition();
      // A primary has everything; a reader that reports no position (Aurora) leaves only the deadline.
      if (position.state === 'primary') replayed = CAUGHT_UP;
      else if (position.state === 'replaying') replayed = parseLsn(position.lsn);
    } catch {
      // Replica unreachable: only the deadline applies this round.
    }
    const now = Date.now();
    const due = this.queue.filter(
      (entry) => (replayed !== null && entry.lsn <= replayed) || entry.deadline <= now,
    );
    if (due.length > 0) {
      this.queue = this.queue.filter((entry) => !due.includes(entry));
      await this.cache.invalidateTags([...new Set(due.flatMap((entry) => entry.tags))]);
    }
    this.arm();
  }
}
