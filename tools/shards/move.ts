/**
 * The move engine: moves one logical shard (one Postgres schema) from its physical shard to another with
 * Postgres logical replication, online, fenced only for the cut-over. The protocol and its reasons are in the
 * README ("Shard manager"); each step is idempotent and records its completion in the control schema, so a
 * manager killed at any point completes the move (or rolls it back) when run again.
 */
import { Client } from 'pg';
import { APP_ROLE, MIGRATION_LOCK_KEY } from '../../app/src/db/migrations';
import { shardSchema } from '../../app/src/sharding/logical-shard';
import { MOVE_STEPS, type MoveRecord, type MoveStep, type ShardControl } from './control';
import type { ShardEndpoint } from './endpoints';
import {
  buildPostData,
  createSchemaFromSource,
  dropSecondaryObjects,
  schemaExists,
  schemaTables,
  tableShapes,
} from './schema-copy';
import { compareSchema, describeVerify, type VerifyResult } from './verify';

/** Advisory lock key that keeps two shard managers from running at once (beside the migrations' key). */
export const MANAGER_LOCK_KEY = MIGRATION_LOCK_KEY + 1;

/**
 * Added to the instances' refresh interval before the REVOKE: one epoch check and one map load on shard 0, plus a
 * write that read the old map just before its instance reloaded it.
 */
export const MAP_SETTLE_MARGIN_MS = 250;

/** Publication, subscription and slot of a logical shard's move (one move per logical shard at a time). */
export function replicationName(logical: number): string {
  return `shard_move_${shardSchema(logical)}`;
}

/** Options of {@link ShardMover}. */
export interface ShardMoverOptions {
  readonly control: ShardControl;
  /** Every physical shard, shard 0 (the control database) included. */
  readonly shards: readonly ShardEndpoint[];
  /** An administrator connection to a shard (the same server and database as its endpoint). */
  readonly connect: (shard: ShardEndpoint) => Promise<Client>;
  /** @default 'shop_app' */
  readonly appRole?: string;
  /**
   * How long the source stays read-only after the flip before it is emptied: longer than the app's shard map
   * refresh bound (SHARD_MAP_REFRESH_MS), so no instance still reads the old place. @default 60000
   */
  readonly rollbackWindowMs?: number;
  /** How long the fence waits for transactions writing to the source schema to end. @default 5000 */
  readonly fenceTimeoutMs?: number;
  /**
   * The app instances' shard map refresh interval (their SHARD_MAP_REFRESH_MS). The fence marks the logical shard
   * `fenced` in the map, then waits this plus {@link MAP_SETTLE_MARGIN_MS} (the bound within which every instance
   * has reloaded the map) before it revokes the app's writes on the source, so no instance writes into the
   * REVOKE: they all wait for the flip instead. @default 1000 (the app's default)
   */
  readonly mapRefreshMs?: number;
  /** How long the fenced source waits for the subscription to confirm its WAL position. @default 30000 */
  readonly catchUpTimeoutMs?: number;
  /**
   * How long the initial copy may take to synchronise every table and bring the slot's lag under
   * `maxLagBytes` before the move stops with an error naming the lag (the source stays active). @default 900000
   */
  readonly syncTimeoutMs?: number;
  /** Slot lag (bytes) that counts as "about zero" before the fence. @default 1048576 */
  readonly maxLagBytes?: number;
  /** How long to wait for a running schema migration (its advisory lock). @default 60000 */
  readonly lockTimeoutMs?: number;
  /** Rows per primary-key range when verifying. @default 10000 */
  readonly chunkRows?: number;
  /** Progress lines. @default - none */
  readonly log?: (line: string) => void;
  /** Called after each step is recorded (crash-injection tests stop the process here). */
  readonly afterStep?: (step: MoveStep, logical: number) => Promise<void>;
  /** Called when a step's work is done but not yet recorded (crash-injection tests stop the process here). */
  readonly beforeRecord?: (step: MoveStep, logical: number) => Promise<void>;
}

/** A move that had to be rolled back; the source is active again and nothing is left on the target. */
export class MoveAbortedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MoveAbortedError';
  }
}

/**
 * An advisory lock this run held (the manager's, or the migrations' on a shard) is gone: its connection dropped
 * or its backend was terminated. Another manager or a migration may now run, so this run stops where it is
 * without acting further (not even an abort); the move row keeps its last step for a rerun or `abort`.
 */
export class ManagerLockLostError extends Error {
  constructor(
    readonly shardId: string,
    detail: string,
  ) {
    super(
      `the shard manager lost its advisory lock on shard "${shardId}" (${detail}): another manager or a ` +
        'migration may run now, so this run stopped without acting further; check that none is running, then ' +
        'rerun the same command to resume the move, or roll it back with npm run shards -- abort <ls>',
    );
    this.name = 'ManagerLockLostError';
  }
}

/** The physical shard is unreachable (down, or refusing connections). */
export class ShardUnreachableError extends Error {
  constructor(
    readonly shardId: string,
    cause: Error,
  ) {
    super(`shard "${shardId}" is unreachable: ${cause.message}`, { cause });
    this.name = 'ShardUnreachableError';
  }
}

const CONNECTION_ERROR =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|Connection terminated|terminating connection|not queryable|timeout expired|the database system is (shutting down|starting up)/i;

function isConnectionError(err: unknown): boolean {
  if (
    err instanceof ShardUnreachableError ||
    err instanceof MoveAbortedError ||
    err instanceof ManagerLockLostError
  )
    return false;
  const e = err as { code?: string; message?: string };
  return (
    (typeof e.code === 'string' && (/^(08|57P0)/.test(e.code) || CONNECTION_ERROR.test(e.code))) ||
    CONNECTION_ERROR.test(e.message ?? '')
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;

/** What `move` did. */
export interface MoveResult {
  readonly logicalShard: number;
  readonly from: string;
  readonly to: string;
  /** Milliseconds writes were fenced (map state fenced to flip), when this run did the fence and the flip. */
  readonly fenceMs?: number;
  /** Of `fenceMs`, the wait for every instance to see `fenced` before the REVOKE ({@link ShardMoverOptions.mapRefreshMs}). */
  readonly settleMs?: number;
  readonly alreadyThere?: boolean;
}

/** A move in flight, with its slot's lag on the source. */
export interface MoveStatus extends MoveRecord {
  readonly slotLagBytes: number | null;
}

/**
 * Moves logical shards between physical shards. One instance per run; `close()` releases its connections (and
 * with them its advisory locks).
 */
/** A dedicated connection holding session-level advisory locks on one shard, and what became of it. */
interface LockHolder {
  readonly client: Client;
  /** The lock keys taken on this connection. */
  readonly keys: Set<number>;
  /** Why the locks are gone (the connection reported an error or ended), once they are. */
  lost?: string;
}

export class ShardMover {
  private readonly clients = new Map<string, Client>();
  /** Lock connections by shard id: never used for work, so a reconnect of a work connection cannot drop a lock. */
  private readonly locks = new Map<string, LockHolder>();
  private readonly appRole: string;
  private readonly log: (line: string) => void;
  private managerLocked = false;

  constructor(private readonly options: ShardMoverOptions) {
    this.appRole = options.appRole ?? APP_ROLE;
    if (!/^[a-z_][a-z0-9_]*$/.test(this.appRole))
      throw new Error(`app role "${this.appRole}" is not a plain name`);
    this.log = options.log ?? (() => undefined);
    if (!options.shards.some((s) => s.id === '0')) throw new Error('the shards must include shard "0"');
    const refresh = options.mapRefreshMs;
    if (refresh !== undefined && (!Number.isInteger(refresh) || refresh < 0))
      throw new Error(
        `mapRefreshMs (--map-refresh-ms) must be the app instances' SHARD_MAP_REFRESH_MS in ms, got ${refresh}`,
      );
  }

  private endpoint(id: string): ShardEndpoint {
    const found = this.options.shards.find((s) => s.id === id);
    if (!found)
      throw new Error(
        `shard "${id}" is not configured: add {"id":"${id}","url":"postgres://…"} to SHARD_ENDPOINTS ` +
          `(configured: ${this.options.shards.map((s) => s.id).join(', ')})`,
      );
    return found;
  }

  /** The admin connection to a shard (opened once; a shard that cannot be reached throws ShardUnreachableError). */
  private async db(id: string): Promise<Client> {
    const open = this.clients.get(id);
    if (open) return open;
    try {
      const client = await this.options.connect(this.endpoint(id));
      // A server that goes away mid-run surfaces as a failed query; the event must not crash the process.
      client.on('error', () => undefined);
      this.clients.set(id, client);
      return client;
    } catch (err) {
      if (isConnectionError(err)) throw new ShardUnreachableError(id, err as Error);
      throw err;
    }
  }

  /** Runs `fn` against a shard, turning connection failures into ShardUnreachableError (and forgetting the client). */
  private async on<T>(id: string, fn: (db: Client) => Promise<T>): Promise<T> {
    const db = await this.db(id);
    try {
      return await fn(db);
    } catch (err) {
      if (!isConnectionError(err)) throw err;
      this.clients.delete(id);
      await db.end().catch(() => undefined);
      throw new ShardUnreachableError(id, err as Error);
    }
  }

  /**
   * Forgets the lock connection of a shard other than 0 whose locks are gone (the shard went away or restarted),
   * so that the next {@link ShardMover.lockMigrations} takes them again. Only the abort does this: rolling back
   * is the safe direction, and it re-checks what it touches.
   */
  private forgetLostLock(id: string): void {
    const holder = this.locks.get(id);
    if (id === '0' || !holder?.lost) return;
    this.locks.delete(id);
    void holder.client.end().catch(() => undefined);
  }

  /** Releases every connection (and so every advisory lock this run holds). */
  async close(): Promise<void> {
    const clients = [...this.clients.values(), ...[...this.locks.values()].map((holder) => holder.client)];
    this.clients.clear();
    this.locks.clear();
    await Promise.allSettled(clients.map((client) => client.end()));
  }

  /**
   * Takes a session-level advisory lock on a shard on this run's lock connection to it (opened on first use;
   * its 'error' or 'end' marks the locks lost). False when someone else holds it.
   */
  private async tryLock(id: string, key: number): Promise<boolean> {
    let holder = this.locks.get(id);
    if (!holder) {
      let client: Client;
      try {
        client = await this.options.connect(this.endpoint(id));
      } catch (err) {
        if (isConnectionError(err)) throw new ShardUnreachableError(id, err as Error);
        throw err;
      }
      const opened: LockHolder = { client, keys: new Set() };
      client.on('error', (err: Error) => {
        opened.lost ??= err.message;
      });
      client.on('end', () => {
        opened.lost ??= 'its connection ended';
      });
      this.locks.set(id, opened);
      holder = opened;
    }
    if (holder.lost) throw new ManagerLockLostError(id, holder.lost);
    try {
      const { rows } = await holder.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
        key,
      ]);
      if (rows[0].ok) holder.keys.add(key);
      return rows[0].ok;
    } catch (err) {
      if (!isConnectionError(err)) throw err;
      holder.lost ??= (err as Error).message;
      // Nothing was held on it yet: forget it, so a retry (an abort with the target back) opens a new one.
      if (holder.keys.size === 0) {
        this.locks.delete(id);
        await holder.client.end().catch(() => undefined);
      }
      throw new ShardUnreachableError(id, err as Error);
    }
  }

  /**
   * Throws {@link ManagerLockLostError} unless every advisory lock this run took is still held: its connection
   * reported no error or end, and pg_locks still lists each key for that session. Called before every step;
   * `only` checks one shard's.
   */
  private async assertLocks(only?: string): Promise<void> {
    for (const [id, holder] of this.locks) {
      if (holder.keys.size === 0 || (only !== undefined && id !== only)) continue;
      if (!holder.lost) {
        try {
          const { rows } = await holder.client.query<{ key: string }>(
            `SELECT ((classid::bigint << 32) | objid::bigint)::text AS key FROM pg_locks
             WHERE locktype = 'advisory' AND objsubid = 1 AND granted AND pid = pg_backend_pid()`,
          );
          const held = new Set(rows.map((row) => Number(row.key)));
          const missing = [...holder.keys].filter((key) => !held.has(key));
          if (missing.length > 0) holder.lost = `lock ${missing.join(', ')} is no longer held`;
        } catch (err) {
          holder.lost = (err as Error).message;
        }
      }
      if (holder.lost) throw new ManagerLockLostError(id, holder.lost);
    }
  }

  /** Takes the manager lock on the control database: one manager at a time. */
  private async lockManager(): Promise<void> {
    if (this.managerLocked) return this.assertLocks('0');
    await this.options.control.ensure();
    if (!(await this.tryLock('0', MANAGER_LOCK_KEY)))
      throw new Error(
        `another shard manager is running (advisory lock ${MANAGER_LOCK_KEY} on shard 0 is held): wait for it, ` +
          "or find it with SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = " +
          `${MANAGER_LOCK_KEY}`,
      );
    this.managerLocked = true;
  }

  /**
   * Takes the migrations' advisory lock on each shard the move touches, waiting up to `lockTimeoutMs` for a
   * running migration: migrations and moves exclude each other (a migration started meanwhile waits for us).
   */
  private async lockMigrations(ids: string[]): Promise<void> {
    const timeoutMs = this.options.lockTimeoutMs ?? 60_000;
    for (const id of [...new Set(ids)].sort()) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (this.locks.get(id)?.keys.has(MIGRATION_LOCK_KEY)) break;
        if (await this.tryLock(id, MIGRATION_LOCK_KEY)) break;
        if (Date.now() > deadline)
          throw new Error(
            `a schema migration holds the migration lock (${MIGRATION_LOCK_KEY}) on shard "${id}" for more than ` +
              `${timeoutMs} ms: moves and migrations exclude each other; run the move after the migration`,
          );
        await sleep(200);
      }
    }
  }

  private async step(logical: number, step: MoveStep, patch: Parameters<ShardControl['updateMove']>[1] = {}) {
    await this.assertLocks();
    await this.options.beforeRecord?.(step, logical);
    const move = await this.options.control.updateMove(logical, { ...patch, step, error: null });
    this.log(`ls ${logical}: ${step}`);
    await this.options.afterStep?.(step, logical);
    return move;
  }

  /**
   * Moves a logical shard to `to`, or resumes its move from the last recorded step. Resolves once the move is
   * complete (source emptied after the rollback window). Throws {@link MoveAbortedError} when the move had to be
   * rolled back (a writer kept the fence waiting, the exact verify failed, the target went away during the copy).
   */
  async move(logical: number, to: string): Promise<MoveResult> {
    this.endpoint(to);
    await this.lockManager();
    const control = this.options.control;
    let move = await control.move(logical);
    if (move?.step === 'aborting') {
      this.log(`ls ${logical}: finishing the abort an earlier run started`);
      await this.abort(logical);
      move = undefined;
    }
    if (move && move.targetShard !== to)
      throw new Error(
        `logical shard ${logical} has a move to shard "${move.targetShard}" in flight (step ${move.step}): ` +
          `resume it with --to ${move.targetShard}, or roll it back with: npm run shards -- abort ${logical}`,
      );
    if (!move) {
      const entry = await control.entry(logical);
      if (entry.shardId === to) return { logicalShard: logical, from: to, to, alreadyThere: true };
      if (entry.state !== 'active')
        throw new Error(
          `logical shard ${logical} is "${entry.state}" in the shard map but no move is recorded: ` +
            `set it back with UPDATE control.shard_map SET state = 'active' after checking its data`,
        );
      this.endpoint(entry.shardId);
      move = await control.startMove(logical, entry.shardId, to);
      this.log(`ls ${logical}: started (shard "${entry.shardId}" -> "${to}")`);
      await this.options.afterStep?.('started', logical);
    }
    const { sourceShard: from } = move;
    await this.lockMigrations(['0', from, to]);
    const schema = shardSchema(logical);
    const name = replicationName(logical);
    let fencedAt: number | undefined;
    let settleMs: number | undefined;
    const order = (step: MoveStep) => MOVE_STEPS.indexOf(step as (typeof MOVE_STEPS)[number]);
    /** True from the moment this run (or an earlier one) raised the fence until the flip: writes are refused. */
    let fenceUp = order(move.step) >= order('fenced') && order(move.step) < order('flipped');
    /** Whether `step` is still to do. */
    const at = (step: MoveStep) => order(move!.step) < order(step);

    try {
      if (at('schema_copied')) move = await this.copySchema(move, schema);
      if (at('subscribed')) move = await this.subscribe(move, schema, name);
      if (at('synced')) {
        await this.waitForSync(move, name);
        move = await this.step(logical, 'synced');
      }
      if (at('indexed')) {
        const built = await this.on(from, (source) =>
          this.on(to, (target) => buildPostData(source, target, schema)),
        );
        this.log(`ls ${logical}: built ${built.length} indexes and constraints on the target`);
        move = await this.step(logical, 'indexed');
      }
      if (at('verified')) {
        await this.verifyOnline(move, schema, name);
        move = await this.step(logical, 'verified');
      }
      if (at('fenced')) {
        await this.assertLocks();
        fencedAt = Date.now();
        fenceUp = true;
        ({ move, settleMs } = await this.fence(move, schema));
      }
      if (at('caught_up')) move = await this.catchUp(move, schema, name);
      if (at('flipped')) {
        await this.on(to, (target) =>
          target.query(
            `GRANT USAGE ON SCHEMA ${q(schema)} TO ${this.appRole};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${q(schema)} TO ${this.appRole}`,
          ),
        );
        await this.assertLocks();
        await this.options.beforeRecord?.('flipped', logical);
        const flipped = await control.flip(logical, from, to);
        fenceUp = false;
        if (!flipped) {
          const entry = await control.entry(logical);
          if (entry.shardId !== to)
            throw new Error(
              `logical shard ${logical} is on shard "${entry.shardId}" in the map, neither the move's source ` +
                `"${from}" nor its target "${to}": someone changed the map during the move; check both copies`,
            );
        }
        move = (await control.move(logical))!;
        this.log(`ls ${logical}: flipped`);
        await this.options.afterStep?.('flipped', logical);
      }
    } catch (err) {
      if (err instanceof MoveAbortedError) throw err;
      // The manager's lock on shard 0 lost: another manager may be acting on this move now, so this run must not
      // touch it (not even to abort); only the error is recorded, on the control connection. A migration lock
      // lost on the source or target while fenced still aborts: the abort takes it again first.
      if (fenceUp && !(err instanceof ManagerLockLostError && err.shardId === '0'))
        return this.abortAfterFenceFailure(move, err as Error);
      await this.recordError(logical, (err as Error).message);
      throw err;
    }
    const fenceMs = fencedAt === undefined ? undefined : Date.now() - fencedAt;
    await this.cleanup(move, schema, name);
    return {
      logicalShard: logical,
      from,
      to,
      ...(fenceMs === undefined ? {} : { fenceMs }),
      ...(settleMs === undefined ? {} : { settleMs }),
    };
  }

  /** Records an error on the move's row; a failure to record is added to the log, never hides the error. */
  private async recordError(logical: number, message: string): Promise<void> {
    await this.options.control.updateMove(logical, { error: message }).catch((recordErr: Error) => {
      this.log(`ls ${logical}: could not record the error on the move row: ${recordErr.message}`);
    });
  }

  /**
   * A step failed while the fence was up (map `fenced`, app writes revoked on the source): nothing may stay
   * refused for ever, so the move is aborted (grants back, map active, subscription, slots and publication
   * dropped, the target's copy removed) and the error recorded in its history. When the abort fails too, both
   * errors are recorded on the move row, which stays `aborting` for `abort` to finish.
   */
  private async abortAfterFenceFailure(move: MoveRecord, err: Error): Promise<never> {
    const { logicalShard: logical, sourceShard: from } = move;
    const reason = `failed while fenced: ${err.message}`;
    this.log(`ls ${logical}: ${reason}; aborting the move`);
    try {
      await this.abort(logical, reason);
    } catch (abortErr) {
      const message =
        `the move of logical shard ${logical} ${reason}; the abort that should lift the fence failed too ` +
        `(${(abortErr as Error).message}): writes to it may still be refused; run npm run shards -- abort ${logical}`;
      await this.recordError(logical, message);
      throw new Error(message, { cause: err });
    }
    throw new MoveAbortedError(
      `the move of logical shard ${logical} ${reason}; it was aborted: the source shard "${from}" is active and ` +
        'writable again, and its subscription, slots and publication were dropped',
    );
  }

  /** Runs one piece of clean-up; its failure is recorded on the move row (naming `what`) and rethrown. */
  private async cleanupStep<T>(logical: number, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      await this.recordError(logical, `clean-up: ${what} failed: ${(err as Error).message}`);
      throw err;
    }
  }

  /** Step 1: the target schema with its tables and primary keys only; the app may read it, not write it. */
  private async copySchema(move: MoveRecord, schema: string): Promise<MoveRecord> {
    const { logicalShard: logical, sourceShard: from, targetShard: to } = move;
    const fromEndpoint = this.endpoint(from);
    await this.on(from, async (source) => {
      if (!(await schemaExists(source, schema)))
        throw new Error(`schema ${schema} does not exist on the source shard "${from}"`);
      const missing = await source.query<{ t: string }>(
        `SELECT c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind = 'r'
           AND NOT EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = c.oid AND x.indisprimary)`,
        [schema],
      );
      if (missing.rows.length > 0)
        throw new Error(
          `tables ${missing.rows.map((r) => r.t).join(', ')} of ${schema} have no primary key: logical ` +
            'replication cannot apply their updates and deletes; add one with a migration before moving',
        );
    });
    let created = move.targetSchemaCreated;
    await this.on(to, async (target) => {
      const exists = await schemaExists(target, schema);
      if (exists && !created) {
        // The app's layout keeps every logical shard's schema, empty, on every physical shard: only rows move.
        const [sourceShapes, targetShapes] = await Promise.all([
          this.on(from, (source) => tableShapes(source, schema)),
          tableShapes(target, schema),
        ]);
        const diff = [...sourceShapes].filter(([t, cols]) => targetShapes.get(t) !== cols).map(([t]) => t);
        if (diff.length > 0 || targetShapes.size !== sourceShapes.size)
          throw new Error(
            `schema ${schema} on the target shard "${to}" does not match the source (tables ${diff.join(', ') || '(extra)'}): ` +
              'run the migrations on every shard first',
          );
        for (const table of targetShapes.keys()) {
          const { rows } = await target.query(`SELECT 1 FROM ${q(schema)}.${q(table)} LIMIT 1`);
          if (rows.length > 0)
            throw new Error(
              `${schema}.${table} on the target shard "${to}" is not empty: a logical shard is only moved into an ` +
                'empty schema (rows left by something else?); empty it after checking what they are',
            );
        }
        const dropped = await dropSecondaryObjects(target, schema);
        await buildPostData(await this.db(from), target, schema, ['primary key']);
        this.log(
          `ls ${logical}: target schema exists (empty); dropped ${dropped} secondary objects for the copy`,
        );
      } else {
        if (!created) {
          // Recorded before creating, so an abort after a crash here knows the schema is ours to drop.
          await this.options.control.updateMove(logical, { targetSchemaCreated: true });
          created = true;
        }
        if (!exists) {
          await createSchemaFromSource(fromEndpoint.url, await this.db(from), target, schema);
          this.log(`ls ${logical}: created ${schema} on the target (pg_dump pre-data + primary keys)`);
        } else {
          await buildPostData(await this.db(from), target, schema, ['primary key']);
        }
      }
      await target.query(
        `GRANT USAGE ON SCHEMA ${q(schema)} TO ${this.appRole};
         GRANT SELECT ON ALL TABLES IN SCHEMA ${q(schema)} TO ${this.appRole};
         REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA ${q(schema)} FROM ${this.appRole}`,
      );
    });
    return this.step(logical, 'schema_copied');
  }

  /** Step 2a: publication on the source, subscription (copying the data) on the target. */
  private async subscribe(move: MoveRecord, schema: string, name: string): Promise<MoveRecord> {
    const { logicalShard: logical, sourceShard: from, targetShard: to } = move;
    await this.on(from, async (source) => {
      const { rows } = await source.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [name]);
      if (rows.length === 0)
        await source.query(`CREATE PUBLICATION ${q(name)} FOR TABLES IN SCHEMA ${q(schema)}`);
    });
    const oid = await this.on(to, async (target) => {
      const found = await target.query<{ oid: string }>(
        'SELECT oid FROM pg_subscription WHERE subname = $1 AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())',
        [name],
      );
      if (found.rows[0]) return Number(found.rows[0].oid);
      // A slot without its subscription (a crash of an earlier abort) would make CREATE SUBSCRIPTION fail.
      await this.dropSlots(from, name, null);
      const conninfo = this.endpoint(from).replicationUrl;
      await target.query(
        `CREATE SUBSCRIPTION ${q(name)} CONNECTION ${literal(conninfo)} PUBLICATION ${q(name)}
         WITH (copy_data = true, streaming = on)`,
      );
      const created = await target.query<{ oid: string }>(
        'SELECT oid FROM pg_subscription WHERE subname = $1',
        [name],
      );
      return Number(created.rows[0].oid);
    });
    return this.step(logical, 'subscribed', { subscriptionOid: oid });
  }

  /** Step 2b: every table synchronised ('r') and the slot's lag about zero. Target down: source cleaned, clear error. */
  private async waitForSync(move: MoveRecord, name: string): Promise<void> {
    const { logicalShard: logical, sourceShard: from, targetShard: to } = move;
    const maxLag = this.options.maxLagBytes ?? 1024 * 1024;
    const timeoutMs = this.options.syncTimeoutMs ?? 900_000;
    const deadline = Date.now() + timeoutMs;
    const tables = (await this.on(from, (source) => schemaTables(source, shardSchema(logical)))).length;
    let lastLog = 0;
    for (;;) {
      let state: { pending: number; total: number; errors: number };
      try {
        state = await this.on(to, async (target) => {
          const { rows } = await target.query<{ pending: string; total: string; errors: string | null }>(
            `SELECT count(*) FILTER (WHERE r.srsubstate <> 'r') AS pending, count(*) AS total,
                    (SELECT sync_error_count + apply_error_count FROM pg_stat_subscription_stats s
                     WHERE s.subid = $1) AS errors
             FROM pg_subscription_rel r WHERE r.srsubid = $1`,
            [move.subscriptionOid],
          );
          return {
            pending: Number(rows[0].pending),
            total: Number(rows[0].total),
            errors: Number(rows[0].errors ?? 0),
          };
        });
      } catch (err) {
        if (err instanceof ShardUnreachableError && err.shardId === to) {
          await this.abortAfterTargetLoss(move, err);
        }
        throw err;
      }
      if (state.errors > 0)
        throw new Error(
          `the subscription ${name} on the target shard "${to}" reports ${state.errors} errors while copying ` +
            `(see the target server's log); roll back with: npm run shards -- abort ${logical}`,
        );
      const lag = await this.slotLag(from, name);
      if (state.pending === 0 && state.total >= tables && lag !== null && lag <= maxLag) return;
      if (Date.now() > deadline)
        throw new Error(
          `logical shard ${logical} did not synchronise with its source within ${timeoutMs} ms ` +
            `(--sync-timeout-ms): ${state.total - state.pending}/${tables} tables synchronised, slot lag ` +
            `${lag === null ? 'unknown (no slot)' : `${lag} bytes`} (at most ${maxLag} allowed) on shard "${from}". ` +
            `The source is still active and written to; rerun the move to keep waiting, or roll it back with: ` +
            `npm run shards -- abort ${logical}`,
        );
      if (Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        this.log(`ls ${logical}: copying, ${state.total - state.pending}/${tables} tables synchronised`);
      }
      await sleep(200);
    }
  }

  /** The target went away while copying: drop the slots and publication on the source, keep the move "aborting". */
  private async abortAfterTargetLoss(move: MoveRecord, cause: ShardUnreachableError): Promise<never> {
    const { logicalShard: logical, sourceShard: from, targetShard: to } = move;
    const name = replicationName(logical);
    await this.cleanupStep(logical, `dropping the replication slots of ${name} on shard "${from}"`, () =>
      this.dropSlots(from, name, move.subscriptionOid),
    );
    await this.cleanupStep(logical, `dropping the publication ${name} on shard "${from}"`, () =>
      this.on(from, (source) => source.query(`DROP PUBLICATION IF EXISTS ${q(name)}`)),
    );
    const message =
      `the target shard "${to}" became unreachable while copying logical shard ${logical} (${cause.message}). ` +
      `The source shard "${from}" is untouched (still active and written to; the move's replication slot and ` +
      `publication were dropped there, so no WAL is retained). When shard "${to}" is back, run ` +
      `npm run shards -- abort ${logical} to remove the subscription and partial copy there, then move again.`;
    await this.options.control.updateMove(logical, { step: 'aborting', error: message });
    throw new MoveAbortedError(message);
  }

  /** The slot's lag behind the source's current WAL position, in bytes (null when it has no slot). */
  private async slotLag(shard: string, name: string): Promise<number | null> {
    const { rows } = await this.on(shard, (db) =>
      db.query<{ lag: string | null }>(
        `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) AS lag FROM pg_replication_slots
         WHERE slot_name = $1`,
        [name],
      ),
    );
    return rows[0]?.lag == null ? null : Number(rows[0].lag);
  }

  /**
   * Step 3: verify while the app still writes. Ranges that differ are re-checked after the lag drains (writes
   * in flight make the newest ranges move); what still differs is reported, and the exact verify after the
   * fence decides.
   */
  private async verifyOnline(move: MoveRecord, schema: string, name: string): Promise<void> {
    const { logicalShard: logical, sourceShard: from, targetShard: to } = move;
    const compare = (only?: VerifyResult['differences']) =>
      this.on(from, (source) =>
        this.on(to, (target) =>
          compareSchema(source, target, schema, {
            chunkRows: this.options.chunkRows,
            ...(only ? { only } : {}),
          }),
        ),
      );
    let result = await compare();
    if (result.problems.length > 0)
      throw new Error(`verify of logical shard ${logical} failed: ${result.problems.join('; ')}`);
    for (let round = 0; round < 5 && result.differences.length > 0; round++) {
      await this.waitForLag(from, name, this.options.maxLagBytes ?? 1024 * 1024, 10_000);
      result = await compare(result.differences);
    }
    const rows = result.tables.reduce((sum, t) => sum + t.sourceRows, 0);
    this.log(
      `ls ${logical}: verified ${result.tables.length} tables, ${rows} rows` +
        (result.differences.length
          ? `; ${result.differences.length} ranges still changing under writes (checked again after the fence)`
          : ', identical'),
    );
  }

  private async waitForLag(shard: string, name: string, maxLag: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const lag = await this.slotLag(shard, name);
      if (lag !== null && lag <= maxLag) return;
      await sleep(100);
    }
  }

  /**
   * Step 4: fence, in two phases. First the map says `fenced` (epoch + 1); the manager then waits one refresh
   * bound of the instances' map cache (`mapRefreshMs` + {@link MAP_SETTLE_MARGIN_MS}), so every instance has seen it
   * and holds its writes (they wait, then answer 503 with Retry-After) instead of writing. Only then does the
   * database enforce it, as the safety net for an instance that still did not see it (cut off from shard 0, or
   * stalled): the app role loses INSERT/UPDATE/DELETE on the source schema, so such a router fails with
   * "permission denied" instead of writing to the old place (every new statement checks privileges anew). A
   * SHARE lock on each table of the schema in turn then waits for the transactions that already wrote there
   * (they hold ROW EXCLUSIVE until they end), at most `fenceTimeoutMs` in all; after that nothing can change
   * the schema, and the WAL position taken is the fence LSN. Lock loss during the wait is checked before the
   * REVOKE; any failure from here to the flip aborts the move (see `move`).
   */
  private async fence(move: MoveRecord, schema: string): Promise<{ move: MoveRecord; settleMs: number }> {
    const { logicalShard: logical, sourceShard: from } = move;
    const timeoutMs = this.options.fenceTimeoutMs ?? 5000;
    await this.options.control.setState(logical, from, 'fenced');
    const settleStart = Date.now();
    const settle = (this.options.mapRefreshMs ?? 1000) + MAP_SETTLE_MARGIN_MS;
    this.log(`ls ${logical}: fenced in the map; waiting ${settle} ms for every instance to see it`);
    // (a timer may fire a millisecond early by the wall clock: wait out what is left, so the bound always holds)
    while (Date.now() - settleStart < settle) await sleep(settle - (Date.now() - settleStart));
    const settleMs = Date.now() - settleStart;
    await this.assertLocks();
    const tables = await this.on(from, (source) => schemaTables(source, schema));
    const lsn = await this.on(from, async (source) => {
      await source.query(
        `REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA ${q(schema)} FROM ${this.appRole}`,
      );
      // One table at a time, holding nothing while waiting: locking them all in one transaction would hold
      // the first while waiting for the second, and a writer moving from the second to the first deadlocks.
      const deadline = Date.now() + timeoutMs;
      for (const table of tables) {
        await source.query('BEGIN');
        try {
          await source.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(deadline - Date.now()))}`);
          await source.query(`LOCK TABLE ${q(schema)}.${q(table)} IN SHARE MODE`);
          await source.query('COMMIT');
        } catch (err) {
          await source.query('ROLLBACK').catch(() => undefined);
          if ((err as { code?: string }).code !== '55P03') throw err;
          return null;
        }
      }
      const { rows } = await source.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      return rows[0].lsn;
    });
    if (lsn === null) {
      const writers = await this.on(from, (source) =>
        source.query<{ pid: number; xact_start: Date; query: string }>(
          `SELECT DISTINCT a.pid, a.xact_start, left(a.query, 80) AS query FROM pg_locks l
           JOIN pg_stat_activity a ON a.pid = l.pid JOIN pg_class c ON c.oid = l.relation
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND l.mode = 'RowExclusiveLock' AND l.granted AND a.pid <> pg_backend_pid()`,
          [schema],
        ),
      );
      const who = writers.rows
        .map((w) => `pid ${w.pid} (transaction open since ${w.xact_start.toISOString()}: ${w.query})`)
        .join(', ');
      await this.abort(logical, 'fence timed out');
      throw new MoveAbortedError(
        `the fence of logical shard ${logical} waited ${timeoutMs} ms for transactions writing to ${schema} on ` +
          `shard "${from}" to end (${who || 'they ended meanwhile'}); the move was aborted: the source is active ` +
          'and writable again, the slot is dropped. Retry when no long transaction writes there, or raise --fence-timeout.',
      );
    }
    return { move: await this.step(logical, 'fenced', { fenceLsn: lsn }), settleMs };
  }

  /** Step 5: the subscription confirms the fence LSN; the exact verify; sequences copied. Failure: abort. */
  private async catchUp(move: MoveRecord, schema: string, name: string): Promise<MoveRecord> {
    const { logicalShard: logical, sourceShard: from, targetShard: to } = move;
    const timeoutMs = this.options.catchUpTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await this.on(from, (source) =>
        source.query<{ done: boolean | null }>(
          'SELECT confirmed_flush_lsn >= $2::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $1',
          [name, move.fenceLsn],
        ),
      );
      if (rows[0]?.done) break;
      if (Date.now() > deadline) {
        await this.abort(logical, 'catch-up timed out');
        throw new MoveAbortedError(
          `the subscription did not confirm the source's fence position ${move.fenceLsn} within ${timeoutMs} ms ` +
            `(slot ${rows[0] ? 'behind' : 'missing'}); the move of logical shard ${logical} was aborted and the ` +
            'source is writable again',
        );
      }
      await sleep(50);
    }
    const result = await this.on(from, (source) =>
      this.on(to, (target) => compareSchema(source, target, schema, { chunkRows: this.options.chunkRows })),
    );
    if (!result.ok) {
      await this.abort(logical, 'verify after the fence failed');
      throw new MoveAbortedError(
        `logical shard ${logical} differs between source and target after the fence; the move was aborted and ` +
          `the source is writable again:\n${describeVerify(result)}`,
      );
    }
    const copied = await this.copySequences(from, to, schema);
    this.log(
      `ls ${logical}: caught up at ${move.fenceLsn}; exact verify identical ` +
        `(${result.tables.map((t) => `${t.table} ${t.sourceRows}`).join(', ')})` +
        (copied ? `; ${copied} sequences copied` : ''),
    );
    return this.step(logical, 'caught_up');
  }

  /** Sequences are not replicated: set each target sequence to the fenced source's value. */
  private async copySequences(from: string, to: string, schema: string): Promise<number> {
    const { rows } = await this.on(from, (source) =>
      source.query<{ name: string; last_value: string | null; is_called: boolean }>(
        `SELECT sequencename AS name, last_value, last_value IS NOT NULL AS is_called FROM pg_sequences
         WHERE schemaname = $1`,
        [schema],
      ),
    );
    for (const seq of rows.filter((s) => s.last_value !== null))
      await this.on(to, (target) =>
        target.query('SELECT setval($1::regclass, $2, true)', [
          `${q(schema)}.${q(seq.name)}`,
          seq.last_value,
        ]),
      );
    return rows.length;
  }

  /**
   * Step 7: after the rollback window (counted from the flip, so a rerun waits only what is left), drop the
   * subscription, its slots and the publication, and empty the source: its tables are truncated when the
   * app's layout keeps the schema on every shard (`public.shard_schema_migrations` lists it), else the schema
   * is dropped. App writes stay revoked there.
   */
  private async cleanup(move: MoveRecord, schema: string, name: string): Promise<void> {
    const { logicalShard: logical, sourceShard: from, targetShard: to } = move;
    const windowMs = this.options.rollbackWindowMs ?? 60_000;
    // Both times are the control database's clock, so the manager's own clock does not matter.
    const { rows } = await this.on('0', (db) => db.query<{ now: Date }>('SELECT now() AS now'));
    const left = (move.flippedAt?.getTime() ?? 0) + windowMs - rows[0].now.getTime();
    if (left > 0) {
      this.log(`ls ${logical}: source read-only for the rollback window, ${Math.ceil(left / 1000)} s left`);
      await sleep(left);
    }
    await this.assertLocks();
    await this.cleanupStep(logical, `dropping the subscription ${name} on shard "${to}"`, () =>
      this.dropSubscription(to, name),
    );
    await this.cleanupStep(logical, `dropping the replication slots of ${name} on shard "${from}"`, () =>
      this.dropSlots(from, name, move.subscriptionOid),
    );
    await this.cleanupStep(logical, `dropping the publication ${name} on shard "${from}"`, () =>
      this.on(from, (source) => source.query(`DROP PUBLICATION IF EXISTS ${q(name)}`)),
    );
    await this.cleanupStep(logical, `emptying ${schema} on the source shard "${from}"`, () =>
      this.emptySource(from, schema),
    );
    await this.options.control.finishMove(logical, 'completed');
    this.log(`ls ${logical}: complete (on shard "${to}"; source shard "${from}" emptied, no slot left)`);
  }

  /** Truncates the source's tables when the app's layout keeps the schema, else drops the schema. */
  private async emptySource(from: string, schema: string): Promise<void> {
    await this.on(from, async (source) => {
      if (await this.layoutKeepsSchema(source, schema)) {
        const tables = await schemaTables(source, schema);
        if (tables.length)
          await source.query(`TRUNCATE ${tables.map((t) => `${q(schema)}.${q(t)}`).join(', ')}`);
      } else {
        await source.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
      }
    });
  }

  private async layoutKeepsSchema(db: Client, schema: string): Promise<boolean> {
    const { rows } = await db.query<{ t: string | null }>(
      "SELECT to_regclass('public.shard_schema_migrations')::text AS t",
    );
    if (rows[0].t === null) return false;
    const found = await db.query(
      'SELECT 1 FROM public.shard_schema_migrations WHERE schema_name = $1 LIMIT 1',
      [schema],
    );
    return found.rows.length > 0;
  }

  /** Drops the subscription on the target (which drops its slot on the source when it can reach it). */
  private async dropSubscription(to: string, name: string): Promise<void> {
    await this.on(to, async (target) => {
      const { rows } = await target.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [name]);
      if (rows.length === 0) return;
      try {
        await target.query(`DROP SUBSCRIPTION ${q(name)}`);
      } catch (err) {
        if (isConnectionError(err) && !(err as { code?: string }).code?.startsWith('57P')) throw err;
        // The source is unreachable: detach the slot (dropped on the source later) so the subscription can go.
        await target.query(`ALTER SUBSCRIPTION ${q(name)} DISABLE`);
        await target.query(`ALTER SUBSCRIPTION ${q(name)} SET (slot_name = NONE)`);
        await target.query(`DROP SUBSCRIPTION ${q(name)}`);
      }
    });
  }

  /**
   * Drops the move's slot and its table-sync slots (`pg_<subscription oid>_sync_…`) on the source, ending the
   * walsenders that hold them first. A forgotten slot keeps WAL for ever.
   */
  private async dropSlots(from: string, name: string, subscriptionOid: number | null): Promise<void> {
    await this.on(from, async (source) => {
      for (let attempt = 0; ; attempt++) {
        const { rows } = await source.query<{ slot_name: string; active_pid: number | null }>(
          `SELECT slot_name, active_pid FROM pg_replication_slots
           WHERE database = current_database() AND (slot_name = $1 OR ($2::text IS NOT NULL AND slot_name LIKE $2))`,
          [name, subscriptionOid === null ? null : `pg\\_${subscriptionOid}\\_sync\\_%`],
        );
        if (rows.length === 0) return;
        for (const slot of rows) {
          try {
            if (slot.active_pid !== null)
              await source.query('SELECT pg_terminate_backend($1)', [slot.active_pid]);
            await source.query('SELECT pg_drop_replication_slot($1)', [slot.slot_name]);
          } catch (err) {
            // 55006: active again (the subscriber reconnected), 42704: already gone; retry a few times.
            if (attempt > 50) throw err;
          }
        }
        await sleep(100);
      }
    });
  }

  /**
   * Rolls a move back to its source: the source writable and active again, the subscription, slots and
   * publication dropped, the target's copy removed. Refuses once the map points at the target (the move is
   * then complete but for its clean-up: run `move` again). Also removes leftovers when no move is recorded.
   */
  async abort(logical: number, reason = 'aborted by the operator'): Promise<{ aborted: boolean }> {
    await this.lockManager();
    const control = this.options.control;
    const move = await control.move(logical);
    const schema = shardSchema(logical);
    const name = replicationName(logical);
    if (!move) {
      this.log(`ls ${logical}: no move in flight`);
      return { aborted: false };
    }
    const { sourceShard: from, targetShard: to } = move;
    const entry = await control.entry(logical);
    if (entry.shardId === to)
      throw new Error(
        `logical shard ${logical} already points at the target shard "${to}" (the move is past the flip and ` +
          `writes go there); finish its clean-up with: npm run shards -- move ${logical} --to ${to}`,
      );
    this.forgetLostLock(from);
    this.forgetLostLock(to);
    await this.lockMigrations(['0', from]);
    // The target may be down (that may be why we abort): what needs it is retried by the next abort.
    await this.lockMigrations([to]).catch((err: unknown) => {
      if (!(err instanceof ShardUnreachableError)) throw err;
    });
    await this.assertLocks();
    if (move.step !== 'aborting') await control.updateMove(logical, { step: 'aborting', error: reason });
    // Writable first, then active: an instance that sees "active" must find the grant in place.
    await this.on(from, (source) =>
      source.query(
        `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${q(schema)} TO ${this.appRole}`,
      ),
    );
    if (entry.state !== 'active') await control.setState(logical, from, 'active');
    let targetError: Error | undefined;
    try {
      await this.dropSubscription(to, name);
    } catch (err) {
      if (!(err instanceof ShardUnreachableError)) {
        await this.recordError(
          logical,
          `abort (${reason}): dropping the subscription ${name} on shard "${to}" failed: ${(err as Error).message}`,
        );
        throw err;
      }
      targetError = err;
    }
    await this.cleanupStep(
      logical,
      `abort (${reason}): dropping the replication slots of ${name} on shard "${from}"`,
      () => this.dropSlots(from, name, move.subscriptionOid),
    );
    await this.cleanupStep(
      logical,
      `abort (${reason}): dropping the publication ${name} on shard "${from}"`,
      () => this.on(from, (source) => source.query(`DROP PUBLICATION IF EXISTS ${q(name)}`)),
    );
    if (targetError) {
      const message =
        `abort of logical shard ${logical}: the source is active and writable and has no slot left, but the ` +
        `target shard "${to}" is unreachable (${targetError.message}); run abort again when it is back to remove ` +
        'the subscription and the partial copy there';
      await control.updateMove(logical, { error: message });
      throw new Error(message);
    }
    await this.cleanupStep(logical, `abort (${reason}): removing the copy on the target shard "${to}"`, () =>
      this.removeTargetCopy(move, from, to, schema),
    );
    await control.finishMove(logical, 'aborted', reason);
    this.log(`ls ${logical}: aborted (${reason}); back on shard "${from}", no slot left`);
    return { aborted: true };
  }

  /** Drops the target schema the move created, or empties the layout's schema and rebuilds its indexes. */
  private async removeTargetCopy(move: MoveRecord, from: string, to: string, schema: string): Promise<void> {
    await this.on(to, async (target) => {
      if (move.targetSchemaCreated) {
        await target.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
      } else if (await schemaExists(target, schema)) {
        // Rows arrive only once subscribed, into a schema checked empty before: only then is emptying it safe.
        const tables = move.subscriptionOid === null ? [] : await schemaTables(target, schema);
        if (tables.length)
          await target.query(`TRUNCATE ${tables.map((t) => `${q(schema)}.${q(t)}`).join(', ')}`);
        // Give the layout's empty schema back its indexes and keys, as the source defines them.
        await buildPostData(await this.db(from), target, schema);
      }
    });
  }

  /** Compares a logical shard on the source and the target of its move in flight. */
  async verify(logical: number): Promise<VerifyResult & { from: string; to: string }> {
    const move = await this.options.control.move(logical);
    if (!move)
      throw new Error(
        `logical shard ${logical} has no move in flight: verify compares a move's source and target`,
      );
    const schema = shardSchema(logical);
    const result = await this.on(move.sourceShard, (source) =>
      this.on(move.targetShard, (target) =>
        compareSchema(source, target, schema, { chunkRows: this.options.chunkRows }),
      ),
    );
    return { ...result, from: move.sourceShard, to: move.targetShard };
  }

  /** Moves in flight with their slot lag (null when the slot is missing or the source unreachable). */
  async moves(): Promise<MoveStatus[]> {
    await this.options.control.ensure();
    const moves = await this.options.control.moves();
    return Promise.all(
      moves.map(async (move) => ({
        ...move,
        slotLagBytes: await this.slotLag(move.sourceShard, replicationName(move.logicalShard)).catch(
          () => null,
        ),
      })),
    );
  }

  /** Replication slots of moves on each shard (a slot without a move in flight is a leftover to drop). */
  async slots(): Promise<{ shardId: string; slot: string; lagBytes: number | null; active: boolean }[]> {
    const out: { shardId: string; slot: string; lagBytes: number | null; active: boolean }[] = [];
    for (const shard of this.options.shards) {
      const found = await this.on(shard.id, (db) =>
        db.query<{ slot_name: string; lag: string | null; active: boolean }>(
          `SELECT slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) AS lag, active
           FROM pg_replication_slots WHERE slot_name LIKE 'shard\\_move\\_%' OR slot_name LIKE 'pg\\_%\\_sync\\_%'`,
        ),
      ).catch(() => ({ rows: [] }));
      for (const row of found.rows)
        out.push({
          shardId: shard.id,
          slot: row.slot_name,
          lagBytes: row.lag === null ? null : Number(row.lag),
          active: row.active,
        });
    }
    return out;
  }
}
