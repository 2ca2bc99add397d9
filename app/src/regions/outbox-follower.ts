import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { SqlExecutor } from '../db/database';
import { EVERY_ENTRY_TAG } from '../invalidation/first-level-cache';
import { DEFAULT_KEEP_SENT_MS } from '../outbox/outbox-table-relay';

/** One database whose replicated invalidation outbox the follower reads. */
export interface FollowedOutbox {
  /** The database's id (`main`, `shard-<id>`): names its cursor. */
  source: string;
  /** The region's replica of that database (the follower only reads). */
  reader: SqlExecutor;
}

/** Where the follower reports problems (a pino logger fits). */
export interface FollowerLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Options of {@link OutboxFollower}. */
export interface OutboxFollowerOptions {
  sources: readonly FollowedOutbox[];
  /** The regional Redis: the cursor and the leader lease live there (they survive restarts). */
  redis: Redis;
  /** Key prefix (REDIS_KEY_PREFIX). */
  keyPrefix: string;
  /**
   * Applies tags to the regional cache (bump versions, evict first levels: the home consumer's
   * `applyInvalidation`); `['*']` invalidates everything. Throws when the cache cannot be reached.
   */
  apply(tags: readonly string[]): Promise<void>;
  /** Time between polls of each database. */
  pollMs: number;
  /** How long an id missing between seen rows is looked for before it counts as never committed. */
  gapGraceMs: number;
  /**
   * Tags are applied a second time this long after the first (0: never). The follower's query reaches one
   * reader; another reader behind the same endpoint (an Aurora secondary cluster with several) may replay the
   * row a little later, and a miss served there in between could cache the old value: the second pass drops it.
   * Longer than the readers' lag behind each other (AuroraReplicaLag). @default 1000
   */
  settleMs?: number;
  /** Rows per query. @default 500 */
  batchSize?: number;
  /**
   * A cursor older than this (no successful poll for so long) may have missed rows the home region has pruned
   * since: the follower then invalidates everything and starts again. Well below the outbox's retention of sent
   * rows. @default half of DEFAULT_KEEP_SENT_MS (30 min)
   */
  resumeWithinMs?: number;
  /** How long the leader lease lasts without renewal. @default max(2000, 10 x pollMs) */
  leaseMs?: number;
  /** Missing ids tracked per database; more invalidates everything instead. @default 10000 */
  maxGaps?: number;
  /** How far below the newest id a first start looks (ids of writes still in flight then). @default 1000 */
  initialWindow?: number;
  logger?: FollowerLogger;
  /** The clock (tests). @default Date.now */
  now?: () => number;
}

/** A database's cursor: everything up to `tail` was applied, except `gaps` (ids not seen yet, and since when). */
interface Cursor {
  tail: bigint;
  gaps: Map<bigint, number>;
  /** Last successful poll (epoch ms). */
  at: number;
}

interface StoredCursor {
  v: 1;
  tail: string;
  gaps: [string, number][];
  at: number;
}

const RENEW_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const SAVE_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('set', KEYS[2], ARGV[2]) return 1 else return 0 end`;
const RELEASE_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** How often an unchanged cursor is saved anyway (its `at` says the follower is keeping up). */
const SAVE_UNCHANGED_MS = 60_000;

// The rows after the cursor in id order, and the missing ids that may still commit. Both parts are ranges of the
// primary key: one indexed query per database and poll whatever the write rate.
const POLL_SQL = `(SELECT id::text AS id, tags FROM invalidation_outbox WHERE id > $1 ORDER BY id LIMIT $2)
UNION ALL
(SELECT id::text AS id, tags FROM invalidation_outbox WHERE id = ANY($3::bigint[]))`;

/**
 * A secondary region's regional follower: keeps the region's own cache fresh by reading the invalidation outbox
 * as it arrives on the region's replica (every database that holds cached data: the catalog and each shard) and
 * applying each row's tags, as the home region's consumer does with the queue. A row is on the replica only once
 * the write that recorded it (same transaction) is, so an invalidation reaches the regional cache after the data
 * reaches the regional replica, never before: a miss after it loads the new value.
 *
 * Outbox ids come from a sequence and are taken at insert, not at commit, so a transaction that took id 7 may
 * commit after the one that took id 8. The cursor is therefore the highest id seen (`tail`) plus the ids below it
 * not seen yet (`gaps`, with when each was first missed): every poll reads the rows above the tail and the gap
 * ids, applies what it had not seen, and forgets a gap after `gapGraceMs` (it was rolled back, or never left a
 * transaction that would have to outlive the grace). Rows are applied before the cursor moves, so a crash
 * re-applies (an extra miss), never skips.
 *
 * One instance per region follows (a lease in the regional Redis, renewed every poll; another instance takes
 * over within `leaseMs` when it stops). The cursor is in the regional Redis, written only by the lease holder,
 * so a restart resumes where the region was. With no cursor (first start, Redis lost its data) or a cursor older
 * than `resumeWithinMs` (the home region may have pruned rows it never saw), the follower invalidates the whole
 * regional cache ({@link EVERY_ENTRY_TAG}) and starts at the newest rows: a burst of misses, never a stale read.
 */
export class OutboxFollower {
  /** This instance's id: the lease's value while it leads (logs, tests). */
  readonly instanceId = randomUUID();
  private readonly cursors = new Map<string, Cursor>();
  private readonly savedAt = new Map<string, number>();
  private leader = false;
  private running?: Promise<void>;
  private stopping = false;
  private timer?: NodeJS.Timeout;
  private wakeUp?: () => void;
  private readonly batchSize: number;
  private readonly resumeWithinMs: number;
  private readonly leaseMs: number;
  private readonly maxGaps: number;
  private readonly initialWindow: number;
  private readonly now: () => number;
  private readonly settleMs: number;
  private readonly settling = new Set<NodeJS.Timeout>();
  /** Flushes done (tests and logs). */
  flushes = 0;
  /** Polls completed as the leader (tests wait on it rather than sleep). */
  polls = 0;

  constructor(private readonly options: OutboxFollowerOptions) {
    this.batchSize = options.batchSize ?? 500;
    this.resumeWithinMs = options.resumeWithinMs ?? DEFAULT_KEEP_SENT_MS / 2;
    this.leaseMs = options.leaseMs ?? Math.max(2_000, 10 * options.pollMs);
    this.maxGaps = options.maxGaps ?? 10_000;
    this.initialWindow = options.initialWindow ?? 1_000;
    this.now = options.now ?? Date.now;
    this.settleMs = options.settleMs ?? 1_000;
    if (options.gapGraceMs >= this.resumeWithinMs)
      throw new Error('OutboxFollower: gapGraceMs must be shorter than resumeWithinMs');
  }

  /** Second applications still waiting for their `settleMs`. */
  get pendingSecondPasses(): number {
    return this.settling.size;
  }

  /** Ids of `source` missing below its cursor, still looked for (tests, logs). */
  missingIds(source: string): bigint[] {
    return [...(this.cursors.get(source)?.gaps.keys() ?? [])];
  }

  /** Whether this instance holds the region's lease (it is the one following). */
  get isLeader(): boolean {
    return this.leader;
  }

  private key(name: string) {
    return `${this.options.keyPrefix}region-follower:${name}`;
  }

  /** Starts following in the background (idempotent). */
  start(): void {
    this.stopping = false;
    this.running ??= this.loop().finally(() => (this.running = undefined));
  }

  /** Stops after the current poll and hands the lease back, so another instance takes over at once. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    for (const timer of this.settling) clearTimeout(timer);
    this.settling.clear();
    this.wakeUp?.();
    await this.running;
    if (this.leader) {
      this.leader = false;
      await this.options.redis
        .eval(RELEASE_SCRIPT, 1, this.key('lease'), this.instanceId)
        .catch(() => undefined);
    }
  }

  /**
   * One round: take or renew the lease, then, as the leader, poll every database once (again at once while a
   * database returns full batches). Returns the rows applied. Exposed for tests; the loop calls it.
   */
  async pollOnce(): Promise<number> {
    if (!(await this.holdLease())) return 0;
    let applied = 0;
    for (const source of this.options.sources) {
      for (;;) {
        const { rows, full } = await this.follow(source);
        applied += rows;
        if (!full || this.stopping) break;
      }
    }
    this.polls += 1;
    return applied;
  }

  private async loop(): Promise<void> {
    let backoff = this.options.pollMs;
    while (!this.stopping) {
      try {
        await this.pollOnce();
        backoff = this.options.pollMs;
      } catch (err) {
        this.options.logger?.warn(
          { err: (err as Error).message },
          'regional follower failed; retrying (the cursor stays where it was)',
        );
        backoff = Math.min(backoff * 2, 5_000);
      }
      if (this.stopping) break;
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        this.timer = setTimeout(resolve, backoff);
      });
    }
  }

  private async holdLease(): Promise<boolean> {
    const { redis } = this.options;
    if (this.leader) {
      const renewed = await redis.eval(
        RENEW_SCRIPT,
        1,
        this.key('lease'),
        this.instanceId,
        String(this.leaseMs),
      );
      if (renewed === 1) return true;
      this.leader = false;
      this.cursors.clear();
      this.options.logger?.warn({}, 'regional follower lost its lease; another instance follows');
      return false;
    }
    const taken = await redis.set(this.key('lease'), this.instanceId, 'PX', this.leaseMs, 'NX');
    if (taken !== 'OK') return false;
    this.leader = true;
    // Another instance may have moved the cursors since this one last held the lease: read them again.
    this.cursors.clear();
    return true;
  }

  private async cursorOf(source: FollowedOutbox): Promise<Cursor> {
    const known = this.cursors.get(source.source);
    const now = this.now();
    if (known && now - known.at <= this.resumeWithinMs) return known;
    let cursor: Cursor | undefined = known;
    if (!cursor) {
      const stored = await this.options.redis.get(this.key(`cursor:${source.source}`));
      if (stored) cursor = parseCursor(stored);
    }
    if (cursor && now - cursor.at <= this.resumeWithinMs) {
      this.cursors.set(source.source, cursor);
      return cursor;
    }
    // No cursor, or one so old that rows it never saw may be pruned: nothing proves the regional cache saw every
    // invalidation, so drop all of it, then start just below the newest row (writes still in flight included).
    const { rows } = await source.reader.query<{ max: string }>(
      'SELECT coalesce(max(id), 0)::text AS max FROM invalidation_outbox',
    );
    const newest = BigInt(rows[0].max);
    const window = BigInt(this.initialWindow);
    const fresh: Cursor = { tail: newest > window ? newest - window : 0n, gaps: new Map(), at: now };
    await this.apply([EVERY_ENTRY_TAG]);
    this.flushes += 1;
    this.options.logger?.info(
      { source: source.source, reason: cursor ? 'cursor too old' : 'no cursor', tail: fresh.tail.toString() },
      'regional follower invalidated the whole regional cache and starts from the newest outbox rows',
    );
    await this.save(source.source, fresh);
    this.cursors.set(source.source, fresh);
    return fresh;
  }

  /** Reads and applies one batch of one database; returns the rows applied and whether the batch was full. */
  private async follow(source: FollowedOutbox): Promise<{ rows: number; full: boolean }> {
    const cursor = await this.cursorOf(source);
    const { rows } = await source.reader.query<{ id: string; tags: string[] }>(POLL_SQL, [
      cursor.tail.toString(),
      this.batchSize,
      [...cursor.gaps.keys()].map(String),
    ]);
    const now = this.now();
    const next: Cursor = { tail: cursor.tail, gaps: new Map(cursor.gaps), at: now };
    const tags = new Set<string>();
    let tailRows = 0;
    let overflow = false;
    for (const row of rows.sort((a, b) => compare(BigInt(a.id), BigInt(b.id)))) {
      const id = BigInt(row.id);
      if (id <= cursor.tail) {
        // A row that committed after rows with higher ids: seen now.
        if (!next.gaps.delete(id)) continue;
      } else {
        tailRows += 1;
        if (id <= next.tail) continue;
        // Ids skipped between the previous row and this one are either rolled back or not committed yet.
        if (id - next.tail - 1n + BigInt(next.gaps.size) > BigInt(this.maxGaps)) overflow = true;
        else for (let missing = next.tail + 1n; missing < id; missing++) next.gaps.set(missing, now);
        next.tail = id;
      }
      for (const tag of row.tags) tags.add(tag);
    }
    for (const [id, since] of next.gaps) if (now - since > this.options.gapGraceMs) next.gaps.delete(id);
    if (overflow) {
      // Too many missing ids to track: some may yet commit, so invalidate everything rather than guess.
      await this.apply([EVERY_ENTRY_TAG]);
      this.flushes += 1;
      this.options.logger?.warn(
        { source: source.source, maxGaps: this.maxGaps },
        'regional follower saw more missing outbox ids than it tracks; invalidated the whole regional cache',
      );
    } else if (tags.size > 0) {
      await this.apply([...tags]);
    }
    const changed =
      tags.size > 0 || overflow || next.tail !== cursor.tail || next.gaps.size !== cursor.gaps.size;
    if (changed || now - (this.savedAt.get(source.source) ?? 0) >= SAVE_UNCHANGED_MS)
      await this.save(source.source, next);
    this.cursors.set(source.source, next);
    return { rows: rows.length, full: tailRows >= this.batchSize };
  }

  /** Applies `tags` now, and once more after `settleMs` (see the option). */
  private async apply(tags: readonly string[]): Promise<void> {
    await this.options.apply(tags);
    if (this.settleMs <= 0 || this.stopping) return;
    const timer = setTimeout(() => {
      this.settling.delete(timer);
      this.options
        .apply(tags)
        .catch((err: Error) =>
          this.options.logger?.warn(
            { err: err.message },
            "regional follower's second invalidation failed; entries expire with their TTL",
          ),
        );
    }, this.settleMs);
    timer.unref();
    this.settling.add(timer);
  }

  private async save(source: string, cursor: Cursor): Promise<void> {
    const stored: StoredCursor = {
      v: 1,
      tail: cursor.tail.toString(),
      gaps: [...cursor.gaps].map(([id, since]) => [id.toString(), since]),
      at: cursor.at,
    };
    // Only while this instance holds the lease: a follower that lost it must not move the cursor back.
    const saved = await this.options.redis.eval(
      SAVE_SCRIPT,
      2,
      this.key('lease'),
      this.key(`cursor:${source}`),
      this.instanceId,
      JSON.stringify(stored),
    );
    if (saved !== 1) {
      this.leader = false;
      this.cursors.clear();
      throw new Error('regional follower lost its lease while saving its cursor');
    }
    this.savedAt.set(source, this.now());
  }
}

function compare(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function parseCursor(text: string): Cursor | undefined {
  try {
    const stored = JSON.parse(text) as StoredCursor;
    if (stored.v !== 1) return undefined;
    return {
      tail: BigInt(stored.tail),
      gaps: new Map(stored.gaps.map(([id, since]) => [BigInt(id), since])),
      at: stored.at,
    };
  } catch {
    return undefined;
  }
}
