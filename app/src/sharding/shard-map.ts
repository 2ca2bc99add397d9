import type { SqlExecutor } from '../db/database';
import { HttpError } from '../errors';

/** What a logical shard accepts: `active` everything; `moving` and `fenced` reads only (see the README). */
export type LogicalShardState = 'active' | 'moving' | 'fenced';

/** One row of `control.shard_map`. */
export interface ShardMapEntry {
  readonly logicalShard: number;
  readonly shardId: string;
  readonly state: LogicalShardState;
  readonly epoch: number;
}

/**
 * Where user data lives on a sharded deployment: `unsharded` while a 10k database's users and orders are still
 * in its public tables (until tools/unsharded-move flips it), `sharded` in the logical shard schemas.
 */
export type UserDataLayout = 'unsharded' | 'sharded';

/** The `control.settings` key of the {@link UserDataLayout} (absent: sharded). */
export const USER_DATA_LAYOUT_KEY = 'user_data_layout';

/** A loaded shard map: the entries by logical shard, and its version (the highest epoch). */
export interface ShardMapSnapshot {
  readonly epoch: number;
  readonly entries: readonly ShardMapEntry[];
  /** The logical shard count recorded in `control.settings` (null before the first bootstrap). */
  readonly logicalShards: number | null;
  /**
   * Where user data lives. Changed only together with the map's epoch (the move's flip raises it), so the
   * instances notice a switch as they notice a map change.
   * @default 'sharded'
   */
  readonly layout?: UserDataLayout;
}

/** Raised at start-up when the control schema and the configuration disagree; names the key and the fix. */
export class ShardMapError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid shard configuration: ${problems.join('; ')}`);
    this.name = 'ShardMapError';
  }
}

/** Reads the whole map and the recorded N from the control schema (on shard 0). */
export async function loadShardMap(control: SqlExecutor): Promise<ShardMapSnapshot> {
  const { rows } = await control.query<{
    logical_shard: number;
    shard_id: string;
    state: LogicalShardState;
    epoch: string | number;
  }>('SELECT logical_shard, shard_id, state, epoch FROM control.shard_map ORDER BY logical_shard');
  const { rows: settings } = await control.query<{ key: string; value: string }>(
    "SELECT key, value FROM control.settings WHERE key IN ('logical_shards', $1)",
    [USER_DATA_LAYOUT_KEY],
  );
  const setting = (key: string) => settings.find((row) => row.key === key)?.value;
  const recordedN = setting('logical_shards');
  const entries = rows.map((row) => ({
    logicalShard: Number(row.logical_shard),
    shardId: row.shard_id,
    state: row.state,
    epoch: Number(row.epoch),
  }));
  return {
    entries,
    epoch: entries.reduce((max, entry) => Math.max(max, entry.epoch), 0),
    logicalShards: recordedN === undefined ? null : Number(recordedN),
    layout: setting(USER_DATA_LAYOUT_KEY) === 'unsharded' ? 'unsharded' : 'sharded',
  };
}

/** "3", "3-5", "3, 7-9": logical shard numbers as short ranges for messages. */
function ranges(numbers: number[]): string {
  const parts: string[] = [];
  let start = numbers[0];
  for (let i = 1; i <= numbers.length; i++) {
    if (numbers[i] !== numbers[i - 1] + 1) {
      parts.push(start === numbers[i - 1] ? `${start}` : `${start}-${numbers[i - 1]}`);
      start = numbers[i];
    }
  }
  return parts.join(', ');
}

/**
 * Checks a loaded map against this build's N and the configured shards; throws one {@link ShardMapError}
 * naming every problem and its fix: N changed after data exists, a logical shard unassigned (or beyond N),
 * a logical shard assigned to a shard that SHARD_ENDPOINTS no longer lists.
 */
export function assertShardMapUsable(
  map: ShardMapSnapshot,
  logicalShards: number,
  configuredShardIds: readonly string[],
): void {
  const problems: string[] = [];
  if (map.logicalShards !== null && map.logicalShards !== logicalShards) {
    problems.push(
      `logical shard count N: control.settings records ${map.logicalShards} (the data is laid out in that many ` +
        `schemas) but this build uses ${logicalShards}; N cannot change once data exists: deploy a build with ` +
        `LOGICAL_SHARDS = ${map.logicalShards} (app/src/sharding/logical-shard.ts)`,
    );
  } else {
    const assigned = new Set(map.entries.map((entry) => entry.logicalShard));
    const missing = Array.from({ length: logicalShards }, (_, i) => i).filter((i) => !assigned.has(i));
    if (missing.length > 0)
      problems.push(
        `control.shard_map leaves logical shards ${ranges(missing)} unassigned: assign each to a shard ` +
          `(INSERT INTO control.shard_map (logical_shard, shard_id) VALUES (<n>, '<shard id>'))`,
      );
    const beyond = map.entries.filter((entry) => entry.logicalShard >= logicalShards);
    if (beyond.length > 0)
      problems.push(
        `control.shard_map has logical shards ${ranges(beyond.map((e) => e.logicalShard))} but N is ${logicalShards}: delete those rows`,
      );
  }
  const configured = new Set(configuredShardIds);
  const unknown = new Map<string, number[]>();
  for (const entry of map.entries) {
    if (configured.has(entry.shardId)) continue;
    unknown.set(entry.shardId, [...(unknown.get(entry.shardId) ?? []), entry.logicalShard]);
  }
  for (const [shardId, logical] of unknown) {
    problems.push(
      `SHARD_ENDPOINTS: control.shard_map assigns logical shards ${ranges(logical)} to shard "${shardId}", which ` +
        `SHARD_ENDPOINTS does not list: add {"id":"${shardId}", ...} back to SHARD_ENDPOINTS, or move those ` +
        'logical shards to a configured shard before removing it',
    );
  }
  if (problems.length > 0) throw new ShardMapError(problems);
}

/** A 503 that tells the client when to retry: the logical shard is being moved. */
export class ShardUnavailableError extends HttpError {
  constructor(
    /** The logical shard being moved; null when the whole unsharded layout is (tools/unsharded-move). */
    readonly logicalShard: number | null,
    readonly retryAfterSeconds: number,
  ) {
    super(503, 'this account is being moved to another database; retry in a moment');
    this.name = 'ShardUnavailableError';
  }
}

/** Options of {@link ShardMapCache}. */
export interface ShardMapCacheOptions {
  /** How often the epoch is checked (one `max(epoch)` query on shard 0). */
  readonly refreshMs: number;
  /** How long a write to a moving/fenced logical shard waits for it to become active before the 503. */
  readonly writeWaitMs: number;
  /** Called when a reload failed (the last good map stays in use). */
  readonly onError?: (err: Error) => void;
}

/**
 * This instance's copy of the shard map. It checks the map's version (the highest epoch, an index-only look-up)
 * every `refreshMs` and reloads the map only when it changed, so a flip reaches every instance within
 * `refreshMs` plus one query; no request ever reads the map from the database. Writes to a logical shard that is
 * not active wait up to `writeWaitMs` (re-reading the map every 100 ms) and then fail with a 503 and
 * Retry-After: never to the old place. A stale copy cannot write to the old place either, because the shard
 * manager fences the source schema in the database (REVOKE) before it flips the map, and waits longer than the
 * refresh bound before it drops anything (see the README).
 */
export class ShardMapCache {
  private snapshot: ShardMapSnapshot;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  /** The last check's failure (undefined after a check that succeeded). */
  private checkError: Error | undefined;

  constructor(
    private readonly control: SqlExecutor,
    initial: ShardMapSnapshot,
    private readonly validate: (map: ShardMapSnapshot) => void,
    private readonly options: ShardMapCacheOptions,
  ) {
    this.snapshot = initial;
  }

  /** Where user data lives, per the map in use. */
  get layout(): UserDataLayout {
    return this.snapshot.layout ?? 'sharded';
  }

  /** The epoch of the map in use. */
  get epoch(): number {
    return this.snapshot.epoch;
  }

  /** What a 503 of a moving logical shard tells the client: about one refresh interval, at least 1 s. */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.options.refreshMs / 1000));
  }

  /** Starts the periodic epoch check. */
  start(): void {
    this.timer = setInterval(() => void this.check(), this.options.refreshMs);
    this.timer.unref();
  }

  /** Stops the periodic check. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Every logical shard's place, per the map in use (indexed by logical shard). */
  get entries(): readonly ShardMapEntry[] {
    return this.snapshot.entries;
  }

  /** Where a logical shard lives, per the map in use. */
  entry(logicalShard: number): ShardMapEntry {
    const entry = this.snapshot.entries[logicalShard];
    if (entry?.logicalShard !== logicalShard)
      throw new Error(`shard map has no entry for logical shard ${logicalShard}`);
    return entry;
  }

  /**
   * Checks the epoch now and reloads the map when it moved. Concurrent calls share one check. Never throws: a
   * failed check keeps the map in use (and reports through `onError`).
   */
  check(): Promise<void> {
    this.checking ??= (async () => {
      try {
        const { rows } = await this.control.query<{ epoch: string | number | null }>(
          'SELECT max(epoch) AS epoch FROM control.shard_map',
        );
        this.checkError = undefined;
        if (Number(rows[0]?.epoch ?? 0) === this.snapshot.epoch) return;
        const next = await loadShardMap(this.control);
        this.validate(next);
        this.snapshot = next;
      } catch (err) {
        this.checkError = err as Error;
        this.options.onError?.(err as Error);
      } finally {
        this.checking = undefined;
      }
    })();
    return this.checking;
  }

  /**
   * Checks the epoch now, like {@link ShardMapCache.check}, but throws when the check failed: for work that must
   * not decide on a map that may be stale (the reservation reconciler, the email-claim takeover).
   */
  async refresh(): Promise<void> {
    await this.check();
    if (this.checkError)
      throw new Error(`the shard map could not be checked on shard 0: ${this.checkError.message}`, {
        cause: this.checkError,
      });
  }

  /**
   * The map entry of a logical shard that accepts writes: at once when it is active, else after it becomes
   * active within `writeWaitMs`; otherwise a {@link ShardUnavailableError} (503, Retry-After).
   */
  async writable(logicalShard: number): Promise<ShardMapEntry> {
    let entry = this.entry(logicalShard);
    if (entry.state === 'active') return entry;
    const deadline = Date.now() + this.options.writeWaitMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(1, deadline - Date.now()))));
      await this.check();
      entry = this.entry(logicalShard);
      if (entry.state === 'active') return entry;
    }
    throw new ShardUnavailableError(logicalShard, this.retryAfterSeconds);
  }
}
