import type { Database } from '../db/database';
import type { ReadRouter } from '../read-routing';
import { logicalShard, shardSchema } from './logical-shard';
import { ShardUnavailableError, type ShardMapCache, type ShardMapEntry } from './shard-map';

/** SQLSTATE insufficient_privilege: what a write into a fenced schema (REVOKEd by the shard manager) gets. */
const INSUFFICIENT_PRIVILEGE = '42501';

/** One physical shard as the app uses it: its pools, and its read/write split with read-your-writes. */
export interface PhysicalShard {
  /** `0` for the database of DB_HOST / DATABASE_URL, else the id from SHARD_ENDPOINTS. */
  readonly id: string;
  readonly db: Database;
  readonly reads: ReadRouter;
}

/** Where one user's data lives, for one request. */
export interface UserDataPlace {
  readonly shard: PhysicalShard;
  /** The user's logical shard, or null in the unsharded layout. */
  readonly logicalShard: number | null;
  /** `public` (unsharded) or `ls_NNN`: every statement names it. */
  readonly schema: string;
}

/** A place read from a map just checked, with the map entry it came from (see {@link UserDataRouter.settledPlace}). */
export interface SettledPlace extends UserDataPlace {
  /** The logical shard's map entry when the place was taken (null without a map). */
  readonly entry: ShardMapEntry | null;
}

/**
 * Routes a user's data to its place: the user's logical shard schema on the physical shard the shard map gives
 * it (sharded layout), or the public tables of the one database (unsharded). Reads use the map in use as it is;
 * writes wait for a moving/fenced logical shard (see {@link ShardMapCache.writable}).
 */
export class UserDataRouter {
  private constructor(
    /** Every physical shard by id; `0` first. */
    readonly shards: ReadonlyMap<string, PhysicalShard>,
    /** The shard map (sharded layout only). */
    readonly map: ShardMapCache | undefined,
    /** N (sharded layout only). */
    readonly logicalShards: number | undefined,
  ) {}

  /** The unsharded layout: everything in the public tables of `shard`. */
  static unsharded(shard: PhysicalShard): UserDataRouter {
    return new UserDataRouter(new Map([[shard.id, shard]]), undefined, undefined);
  }

  /** The sharded layout: N logical shards over `shards`, placed by `map`. */
  static sharded(
    shards: readonly PhysicalShard[],
    map: ShardMapCache,
    logicalShards: number,
  ): UserDataRouter {
    return new UserDataRouter(new Map(shards.map((shard) => [shard.id, shard])), map, logicalShards);
  }

  /**
   * True when configured for the sharded layout (SHARD_ENDPOINTS): a shard map, the cross-database order
   * placement. The data may still be in the public tables until the move from the unsharded layout flips it:
   * see {@link UserDataRouter.shardedNow}.
   */
  get sharded(): boolean {
    return this.map !== undefined;
  }

  /** True when user data is in the logical shard schemas now (the map in use says so). */
  get shardedNow(): boolean {
    return this.map !== undefined && this.map.layout === 'sharded';
  }

  /** The unsharded layout's place: the public tables of shard 0. */
  private get unshardedPlace(): UserDataPlace {
    return { shard: this.shard0, logicalShard: null, schema: 'public' };
  }

  /** Shard 0: the catalog, the control schema, and the unsharded layout's user data. */
  get shard0(): PhysicalShard {
    return this.shards.get('0')!;
  }

  private place(logical: number, shardId: string): UserDataPlace {
    const shard = this.shards.get(shardId);
    // Start-up refuses a map that names an unconfigured shard; a reload that would is never applied.
    if (!shard) throw new Error(`logical shard ${logical} is mapped to unknown shard "${shardId}"`);
    return { shard, logicalShard: logical, schema: shardSchema(logical) };
  }

  /** Where to read a user's data now (the map in use; a moving logical shard still serves reads). */
  forRead(userId: string): UserDataPlace {
    if (!this.map || this.logicalShards === undefined || this.map.layout === 'unsharded')
      return this.unshardedPlace;
    const logical = logicalShard(userId, this.logicalShards);
    return this.place(logical, this.map.entry(logical).shardId);
  }

  /**
   * Where a user's data is now, for work that decides from what it finds there (the reservation reconciler, the
   * email-claim takeover): the map is checked first, so a flip is seen at once rather than after the refresh
   * interval, and null when the user's logical shard is not `active` (moving or fenced: its data may be changing
   * place), so the caller skips it instead of deciding on the wrong physical shard. Throws when the map cannot
   * be checked. Confirm the decision with {@link UserDataRouter.stillSettled} after reading.
   */
  async settledPlace(userId: string): Promise<SettledPlace | null> {
    if (!this.map || this.logicalShards === undefined) return { ...this.unshardedPlace, entry: null };
    await this.map.refresh();
    const logical = logicalShard(userId, this.logicalShards);
    const entry = this.map.entry(logical);
    if (entry.state !== 'active') return null;
    const place = this.map.layout === 'unsharded' ? this.unshardedPlace : this.place(logical, entry.shardId);
    return { ...place, entry };
  }

  /**
   * True when the map, checked again, still has the logical shard of `place` where and as it was (same entry,
   * same layout): what was read there may be acted on. False when a move changed it meanwhile.
   */
  async stillSettled(place: SettledPlace): Promise<boolean> {
    if (!this.map || place.entry === null) return true;
    await this.map.refresh();
    const now = this.map.entry(place.entry.logicalShard);
    const schemaNow = this.map.layout === 'unsharded' ? 'public' : shardSchema(now.logicalShard);
    return (
      schemaNow === place.schema &&
      now.state === 'active' &&
      now.shardId === place.entry.shardId &&
      now.epoch === place.entry.epoch
    );
  }

  /** The 503 (with Retry-After) for work that found a user's logical shard moving. */
  unavailable(userId: string): ShardUnavailableError {
    const logical = this.logicalShards === undefined ? null : logicalShard(userId, this.logicalShards);
    return new ShardUnavailableError(logical, this.map?.retryAfterSeconds ?? 1);
  }

  /**
   * Where to write a user's data: waits while the logical shard is moving/fenced, then 503. While a sharded
   * deployment's data is still unsharded, the move fences every logical shard at once for its cut-over: a write
   * waits the same way and then goes to where the map says when it is active again (public, or after the flip
   * the user's schema).
   */
  async forWrite(userId: string): Promise<UserDataPlace> {
    if (!this.map || this.logicalShards === undefined) return this.unshardedPlace;
    const logical = logicalShard(userId, this.logicalShards);
    const entry = await this.map.writable(logical);
    if (this.map.layout === 'unsharded') return this.unshardedPlace;
    return this.place(logical, entry.shardId);
  }

  /**
   * Runs a write of a user's data at its place ({@link UserDataRouter.forWrite}). The map in use may be stale for
   * up to the refresh bound; the shard manager therefore fences a logical shard in the database itself (REVOKE
   * of the app role's writes on its schema) before it flips the map. A write that meets the fence was headed for
   * the old place: it fails as a 503 with Retry-After (and the map is re-checked at once), never succeeds there.
   */
  async write<T>(userId: string, fn: (place: UserDataPlace) => Promise<T>): Promise<T> {
    const place = await this.forWrite(userId);
    try {
      return await fn(place);
    } catch (err) {
      if ((err as { code?: string }).code !== INSUFFICIENT_PRIVILEGE) throw err;
      // The public tables are fenced the same way by the move from the unsharded layout, for instances still
      // writing there: a 10k instance (no map) or one whose map has not seen the flip yet.
      if (!this.map) throw new ShardUnavailableError(null, 1);
      void this.map.check();
      throw new ShardUnavailableError(place.logicalShard, this.map.retryAfterSeconds);
    }
  }

  /** Stops the map's refresh and closes the pools of every shard but shard 0 (the app closes that one). */
  async close(): Promise<void> {
    this.map?.stop();
    await Promise.all([...this.shards.values()].filter((s) => s.id !== '0').map((s) => s.db.close()));
  }
}
