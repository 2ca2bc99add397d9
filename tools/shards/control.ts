/**
 * The shard manager's view of the control schema (on shard 0): the shard map and the state of moves in flight.
 *
 * The move engine only talks to {@link ShardControl}, so pointing it at another control layout is one adapter.
 * {@link PgShardControl} is the adapter for the names the app's sharded layout uses
 * (`app/migrations/control/001_shard_map.sql`): `control.shard_map(logical_shard, shard_id, state, epoch)`, where
 * every change of a row sets its epoch to `max(epoch) + 1` (the map's version that app instances poll), and the
 * states `active | moving | fenced` (the app refuses writes to the last two: they wait, then 503).
 * The manager's own tables `control.shard_moves` and `control.shard_move_history` come with the app's control
 * migration 002_shard_moves (app/migrations/control).
 */
import type { ClientBase } from 'pg';

/** What the app allows on a logical shard (app/src/sharding/shard-map.ts). */
export type LogicalShardState = 'active' | 'moving' | 'fenced';

/** One row of the shard map. */
export interface ShardMapRow {
  readonly logicalShard: number;
  readonly shardId: string;
  readonly state: LogicalShardState;
  readonly epoch: number;
}

/** The steps of a move, in order; a move's row records the last one completed. */
export const MOVE_STEPS = [
  'started', // the move is recorded; nothing done yet
  'schema_copied', // 1. target schema: tables and primary keys, no secondary indexes; app writes revoked there
  'subscribed', // 2. publication on the source, subscription (copy_data) on the target
  'synced', // 2. every table 'r' and the slot's lag about zero
  'indexed', // 1. secondary indexes, unique and foreign keys built on the target (post-data)
  'verified', // 3. row counts and per-PK-range hashes compared while writes continue
  'fenced', // 4. map state 'fenced', app writes revoked on the source, writers drained, fence LSN taken
  'caught_up', // 5. the subscription confirmed the fence LSN; exact verify passed; sequences copied
  'flipped', // 6. writes granted on the target; map points at the target (epoch + 1)
] as const;

/** A completed step of a move (see {@link MOVE_STEPS}); `aborting` while an abort is unfinished. */
export type MoveStep = (typeof MOVE_STEPS)[number] | 'aborting';

/** A move in flight, as recorded in the control schema. */
export interface MoveRecord {
  readonly logicalShard: number;
  readonly sourceShard: string;
  readonly targetShard: string;
  readonly step: MoveStep;
  /** True once the manager decided to create the target schema (so abort drops it rather than emptying it). */
  readonly targetSchemaCreated: boolean;
  /** The subscription's oid on the target: names its table-sync slots (`pg_<oid>_sync_<relid>_<sysid>`). */
  readonly subscriptionOid: number | null;
  /** The source's WAL position once writes were fenced. */
  readonly fenceLsn: string | null;
  readonly flippedAt: Date | null;
  readonly startedAt: Date;
  readonly updatedAt: Date;
  /** The last error the manager recorded for this move. */
  readonly error: string | null;
}

/** Fields of a move that a step may set. */
export type MovePatch = Partial<
  Pick<MoveRecord, 'step' | 'targetSchemaCreated' | 'subscriptionOid' | 'fenceLsn' | 'error'>
>;

/** The control schema as the move engine needs it. Every method is idempotent. */
export interface ShardControl {
  /** Checks that the control schema has the map and the manager's tables (the app's control migrations ran); idempotent. */
  ensure(): Promise<void>;
  /** The whole map, ordered by logical shard. */
  map(): Promise<ShardMapRow[]>;
  /** One logical shard's row; throws naming the logical shard when it has none. */
  entry(logicalShard: number): Promise<ShardMapRow>;
  /** Sets a logical shard's state (epoch + 1) when it is on `shardId` and not already in that state. */
  setState(logicalShard: number, shardId: string, state: LogicalShardState): Promise<void>;
  /**
   * Points a logical shard at `to` (state active, epoch + 1) and records the move's step `flipped`, in one
   * transaction, when it is still on `from`. Returns false when it was already on `to`.
   */
  flip(logicalShard: number, from: string, to: string): Promise<boolean>;
  /** Moves in flight, ordered by logical shard. */
  moves(): Promise<MoveRecord[]>;
  move(logicalShard: number): Promise<MoveRecord | undefined>;
  /** Records a new move (step `started`); throws when one is already in flight for the logical shard. */
  startMove(logicalShard: number, source: string, target: string): Promise<MoveRecord>;
  updateMove(logicalShard: number, patch: MovePatch): Promise<MoveRecord>;
  /** Removes a finished or aborted move, keeping a line of history. */
  finishMove(logicalShard: number, outcome: 'completed' | 'aborted', detail?: string): Promise<void>;
}

/** The control schema's name in the app's layout. */
export const CONTROL_SCHEMA = 'control';

interface MoveRow {
  logical_shard: number;
  source_shard: string;
  target_shard: string;
  step: MoveStep;
  target_schema_created: boolean;
  subscription_oid: string | null;
  fence_lsn: string | null;
  flipped_at: Date | null;
  started_at: Date;
  updated_at: Date;
  error: string | null;
}

const toMove = (row: MoveRow): MoveRecord => ({
  logicalShard: Number(row.logical_shard),
  sourceShard: row.source_shard,
  targetShard: row.target_shard,
  step: row.step,
  targetSchemaCreated: row.target_schema_created,
  subscriptionOid: row.subscription_oid === null ? null : Number(row.subscription_oid),
  fenceLsn: row.fence_lsn,
  flippedAt: row.flipped_at,
  startedAt: row.started_at,
  updatedAt: row.updated_at,
  error: row.error,
});

/**
 * {@link ShardControl} over `control.shard_map` as the app's control migration creates it. The manager connects
 * as an administrator (it creates subscriptions), so it may write the map the app role only reads.
 */
export class PgShardControl implements ShardControl {
  constructor(
    private readonly db: ClientBase,
    private readonly schema: string = CONTROL_SCHEMA,
  ) {
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`control schema "${schema}" is not a plain name`);
  }

  async ensure(): Promise<void> {
    const s = this.schema;
    const { rows } = await this.db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
      `${s}.shard_map`,
    ]);
    if (rows[0].t === null)
      throw new Error(
        `${s}.shard_map does not exist on the control database: run the app's migrations (npm run migrate with ` +
          'SHARD_ENDPOINTS set) before using the shard manager',
      );
    for (const table of ['shard_moves', 'shard_move_history']) {
      const found = await this.db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
        `${s}.${table}`,
      ]);
      if (found.rows[0].t === null)
        throw new Error(
          `${s}.${table} does not exist on the control database: it comes with the app's control migration ` +
            '002_shard_moves; run the migrations (npm run migrate with SHARD_ENDPOINTS set) with this build first',
        );
    }
  }

  async map(): Promise<ShardMapRow[]> {
    const { rows } = await this.db.query<{
      logical_shard: number;
      shard_id: string;
      state: LogicalShardState;
      epoch: string;
    }>(`SELECT logical_shard, shard_id, state, epoch FROM ${this.schema}.shard_map ORDER BY logical_shard`);
    return rows.map((row) => ({
      logicalShard: Number(row.logical_shard),
      shardId: row.shard_id,
      state: row.state,
      epoch: Number(row.epoch),
    }));
  }

  async entry(logicalShard: number): Promise<ShardMapRow> {
    const { rows } = await this.db.query<{ shard_id: string; state: LogicalShardState; epoch: string }>(
      `SELECT shard_id, state, epoch FROM ${this.schema}.shard_map WHERE logical_shard = $1`,
      [logicalShard],
    );
    if (!rows[0]) throw new Error(`logical shard ${logicalShard} is not in ${this.schema}.shard_map`);
    return { logicalShard, shardId: rows[0].shard_id, state: rows[0].state, epoch: Number(rows[0].epoch) };
  }

  async setState(logicalShard: number, shardId: string, state: LogicalShardState): Promise<void> {
    await this.db.query(
      `UPDATE ${this.schema}.shard_map
       SET state = $3, epoch = (SELECT max(epoch) + 1 FROM ${this.schema}.shard_map)
       WHERE logical_shard = $1 AND shard_id = $2 AND state <> $3`,
      [logicalShard, shardId, state],
    );
  }

  async flip(logicalShard: number, from: string, to: string): Promise<boolean> {
    await this.db.query('BEGIN');
    try {
      // Serialises epoch allocation with any other writer of the map.
      await this.db.query(`LOCK TABLE ${this.schema}.shard_map IN SHARE ROW EXCLUSIVE MODE`);
      const { rowCount } = await this.db.query(
        `UPDATE ${this.schema}.shard_map
         SET shard_id = $3, state = 'active', epoch = (SELECT max(epoch) + 1 FROM ${this.schema}.shard_map)
         WHERE logical_shard = $1 AND shard_id = $2`,
        [logicalShard, from, to],
      );
      await this.db.query(
        `UPDATE ${this.schema}.shard_moves SET step = 'flipped', flipped_at = coalesce(flipped_at, now()),
           updated_at = now()
         WHERE logical_shard = $1
           AND EXISTS (SELECT 1 FROM ${this.schema}.shard_map WHERE logical_shard = $1 AND shard_id = $2)`,
        [logicalShard, to],
      );
      await this.db.query('COMMIT');
      return rowCount === 1;
    } catch (err) {
      await this.db.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  async moves(): Promise<MoveRecord[]> {
    const { rows } = await this.db.query<MoveRow>(
      `SELECT * FROM ${this.schema}.shard_moves ORDER BY logical_shard`,
    );
    return rows.map(toMove);
  }

  async move(logicalShard: number): Promise<MoveRecord | undefined> {
    const { rows } = await this.db.query<MoveRow>(
      `SELECT * FROM ${this.schema}.shard_moves WHERE logical_shard = $1`,
      [logicalShard],
    );
    return rows[0] ? toMove(rows[0]) : undefined;
  }

  async startMove(logicalShard: number, source: string, target: string): Promise<MoveRecord> {
    const { rows } = await this.db.query<MoveRow>(
      `INSERT INTO ${this.schema}.shard_moves (logical_shard, source_shard, target_shard, step)
       VALUES ($1, $2, $3, 'started') ON CONFLICT (logical_shard) DO NOTHING RETURNING *`,
      [logicalShard, source, target],
    );
    if (!rows[0]) throw new Error(`logical shard ${logicalShard} already has a move in flight`);
    return toMove(rows[0]);
  }

  async updateMove(logicalShard: number, patch: MovePatch): Promise<MoveRecord> {
    const columns: Record<keyof MovePatch, string> = {
      step: 'step',
      targetSchemaCreated: 'target_schema_created',
      subscriptionOid: 'subscription_oid',
      fenceLsn: 'fence_lsn',
      error: 'error',
    };
    const keys = Object.keys(patch) as (keyof MovePatch)[];
    const sets = keys.map((key, i) => `${columns[key]} = $${i + 2}`);
    const { rows } = await this.db.query<MoveRow>(
      `UPDATE ${this.schema}.shard_moves SET ${[...sets, 'updated_at = now()'].join(', ')}
       WHERE logical_shard = $1 RETURNING *`,
      [logicalShard, ...keys.map((key) => patch[key])],
    );
    if (!rows[0]) throw new Error(`logical shard ${logicalShard} has no move in flight`);
    return toMove(rows[0]);
  }

  async finishMove(logicalShard: number, outcome: 'completed' | 'aborted', detail?: string): Promise<void> {
    await this.db.query(
      `WITH done AS (DELETE FROM ${this.schema}.shard_moves WHERE logical_shard = $1 RETURNING *)
       INSERT INTO ${this.schema}.shard_move_history
         (logical_shard, source_shard, target_shard, outcome, detail, started_at)
       SELECT logical_shard, source_shard, target_shard, $2, $3, started_at FROM done`,
      [logicalShard, outcome, detail ?? null],
    );
  }
}
