/**
 * The move from the unsharded layout: a running 10k database's users, orders and order lines, kept in its public
 * tables, are copied into their logical shard schemas (`ls_NNN`) on shard 0 while the app keeps writing to public,
 * then a short fence copies the rest, verifies, and flips `control.settings.user_data_layout` to `sharded`. See
 * the README ("The move from the unsharded layout").
 */
import type { Client } from 'pg';
import { APP_ROLE, MIGRATION_LOCK_KEY, OWNER_ROLE } from '../../app/src/db/migrations';
import { logicalShard, shardSchema } from '../../app/src/sharding/logical-shard';
import { USER_DATA_LAYOUT_KEY } from '../../app/src/sharding/shard-map';

/** The shard manager's lock (tools/shards): a layout move and shard moves exclude each other. */
export const MOVER_LOCK_KEY = MIGRATION_LOCK_KEY + 1;

/** The public tables that hold user data, parent first. */
export const USER_TABLES = ['users', 'orders', 'order_items'] as const;
type UserTable = (typeof USER_TABLES)[number];

/** Each table's key (keyset pagination, ON CONFLICT, checksum order) and the column that routes its rows. */
const KEY: Record<UserTable, readonly string[]> = {
  users: ['id'],
  orders: ['id'],
  order_items: ['order_id', 'line_no'],
};
const USER_COLUMN: Record<UserTable, string> = { users: 'id', orders: 'user_id', order_items: 'user_id' };

/** The trigger that records changed keys in control.layout_move_changes (control migration 003). */
const TRIGGER = 'shop_layout_move';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `'{…}'::uuid[]` for splicing into a multi-statement script; only canonical UUIDs get through. */
function uuids(values: Iterable<string>): string {
  const list = [...new Set(values)];
  for (const value of list) if (!UUID.test(value)) throw new Error(`not a canonical uuid: ${value}`);
  return `'{${list.join(',')}}'::uuid[]`;
}

/**
 * Added to the instances' map refresh interval before the REVOKE (one epoch check and one map load on shard 0, and a
 * write that read the old map just before its instance reloaded it); as the shard manager's fence.
 */
export const MAP_SETTLE_MARGIN_MS = 250;

/** The steps after which {@link UnshardedMoverOptions.afterStep} is called. */
export type LayoutMoveHook = 'started' | 'copied' | 'fenced' | 'revoked' | 'verified';

/**
 * The mover's advisory lock on shard 0 is gone (its session was reset or replaced, e.g. by a pooler): another mover
 * or the shard manager may run now, so this run stopped without acting further (not even lifting a fence). Check
 * that none runs, then rerun (it resumes) or abort.
 */
export class LayoutMoveLockLostError extends Error {
  constructor(when: string) {
    super(
      `the move lost its advisory lock ${MOVER_LOCK_KEY} on shard 0 (${when}): another mover or the shard manager ` +
        'may run now, so this run stopped without acting further (a fence stays up: writes wait, then 503); check ' +
        'that none runs, then rerun npm run migrate-to-shards to resume, or abort it',
    );
    this.name = 'LayoutMoveLockLostError';
  }
}

/**
 * A step failed while the fence was up; the fence was lifted (writes granted back on public, every logical shard
 * `active`, the move back at `copying`), nothing flipped. A rerun resumes from the copy (CLI exit 3).
 */
export class FenceLiftedError extends Error {
  constructor(message: string, cause: Error) {
    super(message, { cause });
    this.name = 'FenceLiftedError';
  }
}

/** A problem an operator fixes before (re)running; the CLI exits 2 with it. */
export class MoveConfigurationError extends Error {}

/** The verification found differences; the fence was lifted and nothing flipped (CLI exit 1). */
export class MoveVerificationError extends Error {
  constructor(readonly differences: readonly VerifyDifference[]) {
    super(
      `verification failed, the layout stays unsharded and writes are allowed again: ${differences
        .slice(0, 10)
        .map(
          (d) => `${d.table} ls ${d.logicalShard}: public ${d.expected.count} rows, schema ${d.found.count}`,
        )
        .join('; ')}${differences.length > 10 ? ` (and ${differences.length - 10} more)` : ''}`,
    );
    this.name = 'MoveVerificationError';
  }
}

/** Count and checksum of one table's rows of one logical shard. */
export interface ShardChecksum {
  readonly count: number;
  readonly md5: string | null;
}

/** A logical shard whose rows differ between public and its schema. */
export interface VerifyDifference {
  readonly table: UserTable | 'email_directory';
  readonly logicalShard: number;
  readonly expected: ShardChecksum;
  readonly found: ShardChecksum;
}

/** Options of {@link UnshardedMover}. */
export interface UnshardedMoverOptions {
  /** Rows per batch (copy) and changes per batch (catch-up). @default 1000 */
  readonly batchSize?: number;
  /** The fence gives up (lifting it again) when a transaction that wrote before it runs longer. @default 5000 */
  readonly fenceTimeoutMs?: number;
  /** The fence starts once the change backlog is at most this many rows, or after 20 catch-up rounds. @default batchSize */
  readonly fenceBacklog?: number;
  /**
   * The app instances' shard map refresh interval (their SHARD_MAP_REFRESH_MS). The fence marks every logical shard
   * `fenced` in the map, then waits this plus {@link MAP_SETTLE_MARGIN_MS} before it revokes the app's writes on
   * public, so instances that read the map hold their writes instead of meeting the REVOKE. @default 1000
   */
  readonly mapRefreshMs?: number;
  /**
   * How long the work under the fence (the rest of the change log and the verification, after the writers drained)
   * may take; past it the fence is lifted and the run fails (rerun later, or raise it). @default 60000
   */
  readonly catchUpTimeoutMs?: number;
  /** Progress, one event per step or batch (the CLI prints them as JSON lines). */
  readonly onProgress?: (event: Record<string, unknown>) => void;
  /** Called after a step (tests inject failures here). */
  readonly afterStep?: (step: LayoutMoveHook) => Promise<void>;
}

/** What a run did. */
export interface UnshardedMoveResult {
  /** Rows in the logical shard schemas after the move, per table (and the email directory). */
  readonly rows: Record<UserTable | 'email_directory', number>;
  readonly batches: number;
  readonly changesApplied: number;
  /** Writes were refused from the fence to the flip for this long (from the database's clock). */
  readonly fenceMs: number | null;
  /** True when the layout was already sharded before this run (nothing moved now). */
  readonly alreadySharded: boolean;
}

interface MoveRow {
  step: 'copying' | 'fenced' | 'done';
  users_after: string | null;
  orders_after: string | null;
  changes_applied: string;
  batches: number;
  fence_ms: number | null;
}

/**
 * Moves the unsharded layout's user data into the logical shard schemas on shard 0, on one connection of a login
 * that may act as the owner role (the migration login). Every step is recorded in `control.layout_move` in the
 * transaction that does it, and every copy is idempotent (ON CONFLICT), so a run killed anywhere is completed by
 * the next; `abort` undoes a move that has not flipped.
 */
export class UnshardedMover {
  private readonly batchSize: number;
  private readonly fenceTimeoutMs: number;
  private readonly fenceBacklog: number;
  private readonly mapRefreshMs: number;
  private readonly catchUpTimeoutMs: number;
  private readonly afterStep: (step: LayoutMoveHook) => Promise<void>;
  private columns = new Map<UserTable, string[]>();
  private n = 0;

  constructor(
    private readonly db: Client,
    options: UnshardedMoverOptions = {},
    private readonly progress: (event: Record<string, unknown>) => void = options.onProgress ?? (() => {}),
  ) {
    this.batchSize = options.batchSize ?? 1000;
    this.fenceTimeoutMs = options.fenceTimeoutMs ?? 5000;
    this.fenceBacklog = options.fenceBacklog ?? this.batchSize;
    this.mapRefreshMs = options.mapRefreshMs ?? 1000;
    this.catchUpTimeoutMs = options.catchUpTimeoutMs ?? 60_000;
    this.afterStep = options.afterStep ?? (async () => undefined);
    for (const [name, value] of [
      ['--map-refresh-ms', this.mapRefreshMs],
      ['--catch-up-timeout-ms', this.catchUpTimeoutMs],
    ] as const)
      if (!Number.isInteger(value) || value < 1)
        throw new MoveConfigurationError(`${name}: ${value} is not a positive integer`);
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1)
      throw new MoveConfigurationError(`--batch-size: ${this.batchSize} is not a positive integer`);
  }

  /** Runs (or resumes) the move to its end; see the README for the steps. */
  async run(): Promise<UnshardedMoveResult> {
    return this.locked(async () => {
      let move = await this.moveRow();
      if (!move) {
        if ((await this.layout()) === 'sharded') {
          this.progress({ step: 'done', note: 'the layout is already sharded: nothing to move' });
          return { ...(await this.result(null)), alreadySharded: true };
        }
        await this.assertAllOnShard0();
        await this.start();
        await this.afterStep('started');
        move = (await this.moveRow())!;
      }
      if (move.step === 'copying') {
        await this.copy('users', move.users_after);
        await this.copy('orders', move.orders_after);
        await this.afterStep('copied');
        await this.catchUp();
        await this.assertLock('before the fence');
      }
      try {
        if (move.step === 'copying') {
          await this.fence();
          await this.afterStep('fenced');
        }
        if (move.step !== 'done') {
          await this.finishFence();
          move = (await this.moveRow())!;
        }
      } catch (err) {
        throw await this.liftAfterFailure(err as Error);
      }
      await this.assertLock('before the clean-up');
      await this.cleanUp();
      return this.result(move.fence_ms);
    });
  }

  /** The move's row and the layout, for `status`. */
  async status(): Promise<Record<string, unknown>> {
    await this.prepare();
    const { rows } = await this.db.query(
      `SELECT m.*, (extract(epoch FROM m.flipped_at - m.fenced_at) * 1000)::int AS fence_ms,
              (SELECT count(*)::int FROM control.layout_move_changes) AS backlog
       FROM control.layout_move m`,
    );
    return { layout: await this.layout(), move: rows[0] ?? null };
  }

  /**
   * Undoes a move that has not flipped: writes granted back on public and the map active again, the triggers
   * dropped, and the logical shard schemas and the email directory emptied (they hold only the move's copies
   * while the layout is unsharded). Refused after the flip.
   */
  async abort(): Promise<void> {
    await this.locked(async () => {
      const move = await this.moveRow();
      if (move?.step === 'done')
        throw new MoveConfigurationError(
          'the move has flipped the layout to sharded; it cannot be aborted (the app writes to the schemas now)',
        );
      if ((await this.layout()) === 'sharded')
        throw new MoveConfigurationError('the layout is sharded: there is no move to abort');
      const schemas = Array.from({ length: this.n }, (_, i) => shardSchema(i));
      await this.transaction(async () => {
        // TRUNCATE waits for every reader of the directory (sign-in) and queues new ones behind it: bounded.
        await this.db.query(`SET LOCAL lock_timeout = ${this.fenceTimeoutMs}`);
        await this.unfenceStatements();
        await this.db.query(
          `TRUNCATE control.email_directory, ${schemas.flatMap((s) => USER_TABLES.map((t) => `${s}.${t}`)).join(', ')}`,
        );
        await this.db.query('DELETE FROM control.layout_move');
        await this.db.query('TRUNCATE control.layout_move_changes');
      });
      await this.dropTriggers();
      this.progress({ step: 'aborted' });
    });
  }

  /** Row counts per table and the fence time. */
  private async result(fenceMs: number | null): Promise<UnshardedMoveResult> {
    const rows = {} as Record<UserTable | 'email_directory', number>;
    for (const table of USER_TABLES) {
      const parts = Array.from(
        { length: this.n },
        (_, i) => `SELECT count(*) FROM ${shardSchema(i)}.${table}`,
      );
      const { rows: found } = await this.db.query<{ n: string }>(
        `SELECT coalesce(sum(count), 0)::bigint AS n FROM (${parts.join(' UNION ALL ')}) AS counts`,
      );
      rows[table] = Number(found[0].n);
    }
    const { rows: dir } = await this.db.query<{ n: string }>(
      'SELECT count(*) AS n FROM control.email_directory',
    );
    rows.email_directory = Number(dir[0].n);
    const move = await this.moveRow();
    return {
      rows,
      batches: move?.batches ?? 0,
      changesApplied: Number(move?.changes_applied ?? 0),
      fenceMs,
      alreadySharded: false,
    };
  }

  /** Session set-up and checks: the owner role, N, the control schema's migration, the tables' columns. */
  private async prepare(): Promise<void> {
    await this.db.query(`SET ROLE ${OWNER_ROLE}`);
    await this.db.query('SET statement_timeout = 0');
    const { rows } = await this.db.query<{ settings: string | null; move: string | null }>(
      "SELECT to_regclass('control.settings')::text AS settings, to_regclass('control.layout_move')::text AS move",
    );
    if (rows[0].settings === null || rows[0].move === null)
      throw new MoveConfigurationError(
        'shard 0 has no (current) control schema: deploy the 100k configuration first (SHARD_ENDPOINTS set, ' +
          'npm run migrate), which creates the logical shard schemas and records the unsharded layout',
      );
    const { rows: n } = await this.db.query<{ value: string }>(
      "SELECT value FROM control.settings WHERE key = 'logical_shards'",
    );
    if (!n[0])
      throw new MoveConfigurationError('control.settings has no logical_shards: run npm run migrate first');
    this.n = Number(n[0].value);
    const { rows: missing } = await this.db.query<{ n: number }>(
      `SELECT $1::int - count(DISTINCT schema_name)::int AS n FROM public.shard_schema_migrations
       WHERE schema_name ~ '^ls_[0-9]{3}$'`,
      [this.n],
    );
    if (missing[0].n > 0)
      throw new MoveConfigurationError(
        `${missing[0].n} logical shard schemas are not migrated on shard 0: run npm run migrate first`,
      );
    for (const table of USER_TABLES) {
      const { rows: cols } = await this.db.query<{ schema: string; columns: string }>(
        `SELECT table_schema AS schema, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) AS columns
         FROM information_schema.columns WHERE table_name = $1 AND table_schema IN ('public', 'ls_000')
         GROUP BY table_schema`,
        [table],
      );
      const pub = cols.find((c) => c.schema === 'public')?.columns;
      const ls = cols.find((c) => c.schema === 'ls_000')?.columns;
      if (!pub || pub !== ls)
        throw new MoveConfigurationError(
          `public.${table} (${pub ?? 'missing'}) and ls_000.${table} (${ls ?? 'missing'}) differ: ` +
            'migrate both layouts to the same version before moving',
        );
      this.columns.set(
        table,
        pub.split(', ').map((c) => c.split(' ')[0]),
      );
    }
  }

  /** Runs `fn` under the shard manager's lock (one mover or manager at a time), after {@link prepare}. */
  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    const { rows } = await this.db.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
      MOVER_LOCK_KEY,
    ]);
    if (!rows[0].ok)
      throw new MoveConfigurationError(
        `another move holds advisory lock ${MOVER_LOCK_KEY} on shard 0 (this mover or the shard manager): wait ` +
          'for it to finish, then rerun',
      );
    try {
      await this.prepare();
      return await fn();
    } finally {
      // A failed unlock is reported, not hidden; the lock goes with the session anyway (the CLI ends it).
      await this.db.query('SELECT pg_advisory_unlock($1)', [MOVER_LOCK_KEY]).catch((err: Error) => {
        this.progress({
          step: 'warning',
          note: `releasing advisory lock ${MOVER_LOCK_KEY} failed: ${err.message}`,
        });
      });
    }
  }

  /**
   * Throws {@link LayoutMoveLockLostError} unless this session still holds the mover's advisory lock (pg_locks). The
   * lock is session-level: a pooler that gives this client another server session, or a reset, drops it silently.
   */
  private async assertLock(when: string): Promise<void> {
    const { rows } = await this.db.query<{ held: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted
                      AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = $1) AS held`,
      [MOVER_LOCK_KEY],
    );
    if (!rows[0].held) throw new LayoutMoveLockLostError(when);
  }

  /**
   * A failure from the fence to the flip: nothing may stay refused for ever, so the fence is lifted (unless the
   * flip committed, or the lock is lost: then another run owns the move) and the error says so. When lifting fails
   * too, both errors are in the one thrown: writes stay refused until a rerun (which resumes the fence) or abort.
   */
  private async liftAfterFailure(err: Error): Promise<Error> {
    if (err instanceof LayoutMoveLockLostError) return err;
    try {
      await this.db.query('SET statement_timeout = 0');
      const move = await this.moveRow();
      if (move?.step !== 'fenced') return err; // lifted already (fence timeout, verification) or flipped
      await this.unfence();
    } catch (liftErr) {
      const message =
        `the move failed while fenced (${err.message}) and lifting the fence failed too ` +
        `(${(liftErr as Error).message}): writes to the user tables are still refused; rerun ` +
        'npm run migrate-to-shards (it resumes the fence), or abort it';
      this.progress({ step: 'error', error: message });
      return new Error(message, { cause: err });
    }
    const message =
      `the move failed while fenced: ${err.message}; the fence was lifted (writes allowed again on public, the ` +
      'layout still unsharded, every logical shard active): rerun to try again';
    this.progress({ step: 'error', error: message });
    return new FenceLiftedError(message, err);
  }

  private async transaction<T>(fn: () => Promise<T>): Promise<T> {
    await this.db.query('BEGIN');
    try {
      const result = await fn();
      await this.db.query('COMMIT');
      return result;
    } catch (err) {
      await this.db.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  private async layout(): Promise<'unsharded' | 'sharded'> {
    const { rows } = await this.db.query<{ value: string }>(
      'SELECT value FROM control.settings WHERE key = $1',
      [USER_DATA_LAYOUT_KEY],
    );
    return rows[0]?.value === 'unsharded' ? 'unsharded' : 'sharded';
  }

  private async moveRow(): Promise<MoveRow | undefined> {
    const { rows } = await this.db.query<MoveRow>(
      `SELECT step, users_after, orders_after, changes_applied, batches,
              (extract(epoch FROM flipped_at - fenced_at) * 1000)::int AS fence_ms
       FROM control.layout_move WHERE id = 1`,
    );
    return rows[0];
  }

  private async assertAllOnShard0(): Promise<void> {
    const { rows } = await this.db.query<{ n: number; total: number }>(
      `SELECT count(*) FILTER (WHERE shard_id <> '0' OR state <> 'active')::int AS n, count(*)::int AS total
       FROM control.shard_map`,
    );
    if (rows[0].n > 0 || rows[0].total !== this.n)
      throw new MoveConfigurationError(
        `control.shard_map must place all ${this.n} logical shards on shard 0, active, while the layout is ` +
          `unsharded (${rows[0].n} do not, ${rows[0].total} rows): the bootstrap does so; move them with ` +
          'npm run shards after this move',
      );
  }

  /**
   * Step 1: triggers on the public tables record every key written from now on, and the move is recorded, in one
   * transaction. CREATE TRIGGER waits for transactions writing those tables and makes new ones queue behind it,
   * so it waits at most `fenceTimeoutMs` (then the run stops and can be retried).
   */
  private async start(): Promise<void> {
    await this.transaction(async () => {
      await this.db.query(`SET LOCAL lock_timeout = ${this.fenceTimeoutMs}`);
      for (const table of USER_TABLES) {
        await this.db.query(`DROP TRIGGER IF EXISTS ${TRIGGER} ON public.${table}`);
        await this.db.query(
          `CREATE TRIGGER ${TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON public.${table}
           FOR EACH ROW EXECUTE FUNCTION control.record_layout_change()`,
        );
      }
      await this.db.query('TRUNCATE control.layout_move_changes');
      await this.db.query("INSERT INTO control.layout_move (id, step) VALUES (1, 'copying')");
    });
    this.progress({ step: 'started', logicalShards: this.n });
  }

  /**
   * Step 2: copies `users` (with their directory entries) or `orders` (with their users and lines), in key order
   * after `after`, one batch per transaction with the cursor recorded in it. Rows written behind the cursor or
   * after their batch are in the change log (step 3).
   */
  private async copy(table: 'users' | 'orders', after: string | null): Promise<void> {
    let cursor = after;
    for (;;) {
      const copied = await this.transaction(async () => {
        const { rows } = await this.db.query<{ id: string; user_id: string }>(
          `SELECT id, ${USER_COLUMN[table]} AS user_id FROM public.${table}
           WHERE $1::uuid IS NULL OR id > $1::uuid ORDER BY id LIMIT $2`,
          [cursor, this.batchSize],
        );
        if (rows.length === 0) return 0;
        const statements: string[] = [];
        for (const [ls, group] of this.bySchema(rows)) {
          const userIds = uuids(group.map((r) => r.user_id));
          statements.push(this.insertUsers(ls, userIds, 'NOTHING'));
          if (table === 'orders') {
            const orderIds = uuids(group.map((r) => r.id));
            statements.push(this.insert('orders', ls, `id = ANY(${orderIds})`, 'NOTHING'));
            statements.push(this.insert('order_items', ls, `order_id = ANY(${orderIds})`, 'NOTHING'));
          }
        }
        statements.push(this.insertDirectory(uuids(rows.map((r) => r.user_id))));
        await this.db.query(statements.join(';\n'));
        cursor = rows[rows.length - 1].id;
        await this.db.query(
          `UPDATE control.layout_move SET ${table}_after = $1, batches = batches + 1, rows_copied = rows_copied + $2`,
          [cursor, rows.length],
        );
        return rows.length;
      });
      if (copied === 0) break;
      this.progress({ step: 'copy', table, rows: copied, after: cursor });
    }
  }

  /**
   * Step 3: applies the change log until its backlog is small, or stops shrinking (writes arrive faster than they
   * are applied: the fence then applies the rest, and lasts longer), or after 20 rounds.
   */
  private async catchUp(): Promise<void> {
    let previous = Number.POSITIVE_INFINITY;
    for (let round = 0; round < 20; round++) {
      const { rows } = await this.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM control.layout_move_changes',
      );
      const backlog = rows[0].n;
      if (backlog <= this.fenceBacklog) return;
      if (backlog >= previous) {
        this.progress({ step: 'catch-up', backlog, note: 'the backlog does not shrink: fencing now' });
        return;
      }
      previous = backlog;
      await this.applyChanges(backlog);
    }
  }

  /**
   * Applies up to `limit` changes of the log, one batch per transaction: each changed key is deleted from its
   * schema when public no longer has it, and upserted from public otherwise; applied entries are deleted from the
   * log in the same transaction. Entries of transactions still running are invisible and applied later, so
   * nothing depends on the order in which sequence numbers were handed out.
   */
  private async applyChanges(
    limit = Number.POSITIVE_INFINITY,
    beforeBatch: () => Promise<void> = async () => undefined,
  ): Promise<number> {
    let total = 0;
    while (total < limit) {
      await beforeBatch();
      const applied = await this.transaction(async () => {
        const { rows } = await this.db.query<{
          table_name: UserTable;
          user_id: string;
          key_id: string;
          line_no: number;
        }>(
          `DELETE FROM control.layout_move_changes WHERE seq IN (
             SELECT seq FROM control.layout_move_changes ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING table_name, user_id, key_id, line_no`,
          [this.batchSize],
        );
        if (rows.length === 0) return 0;
        const statements: string[] = [];
        for (const [ls, group] of this.bySchema(rows)) {
          const s = shardSchema(ls);
          const users = uuids(group.map((r) => r.user_id));
          const orders = uuids(group.filter((r) => r.table_name !== 'users').map((r) => r.key_id));
          const items = group.filter((r) => r.table_name === 'order_items');
          const pairs = [...new Set(items.map((r) => `('${r.key_id}'::uuid, ${Number(r.line_no)})`))];
          // Changed lines by key, and every line of a changed order.
          const lines = (prefix: string) =>
            `(${pairs.length ? `(${prefix}order_id, ${prefix}line_no) IN (${pairs.join(', ')}) OR ` : ''}` +
            `${prefix}order_id = ANY(${orders}))`;
          // Deletes first, children before parents; then upserts, parents before children.
          statements.push(
            `DELETE FROM ${s}.order_items t WHERE ${lines('t.')}
               AND NOT EXISTS (SELECT 1 FROM public.order_items p WHERE p.order_id = t.order_id AND p.line_no = t.line_no)`,
            `DELETE FROM ${s}.orders t WHERE t.id = ANY(${orders})
               AND NOT EXISTS (SELECT 1 FROM public.orders p WHERE p.id = t.id)`,
            `DELETE FROM ${s}.users t WHERE t.id = ANY(${users})
               AND NOT EXISTS (SELECT 1 FROM public.users p WHERE p.id = t.id)`,
            this.insertUsers(ls, users, 'UPDATE'),
            this.insert('orders', ls, `id = ANY(${orders})`, 'UPDATE'),
            this.insert('order_items', ls, lines(''), 'UPDATE'),
          );
        }
        const users = uuids(rows.map((r) => r.user_id));
        statements.push(
          `DELETE FROM control.email_directory d WHERE d.user_id = ANY(${users})
             AND NOT EXISTS (SELECT 1 FROM public.users p WHERE p.id = d.user_id AND p.email = d.email)`,
          this.insertDirectory(users),
        );
        await this.db.query(statements.join(';\n'));
        await this.db.query('UPDATE control.layout_move SET changes_applied = changes_applied + $1', [
          rows.length,
        ]);
        return rows.length;
      });
      if (applied === 0) break;
      total += applied;
      this.progress({ step: 'changes', applied });
    }
    return total;
  }

  /**
   * Step 4: the fence's first phase, in one transaction: every logical shard `fenced` in the map (epoch + 1:
   * instances that see it hold their writes, up to SHARD_WRITE_WAIT_MS) and the step recorded. The REVOKE comes in
   * {@link UnshardedMover.finishFence}, once every instance has had one refresh bound to see this.
   */
  private async fence(): Promise<void> {
    await this.transaction(async () => {
      await this.db.query(
        `UPDATE control.shard_map SET state = 'fenced', epoch = (SELECT max(epoch) FROM control.shard_map) + 1`,
      );
      await this.db.query("UPDATE control.layout_move SET step = 'fenced', fenced_at = clock_timestamp()");
    });
    this.progress({ step: 'fenced' });
  }

  /**
   * Step 5, under the fence (and again on a rerun after a kill here): a wait of one map refresh bound
   * (`mapRefreshMs` + {@link MAP_SETTLE_MARGIN_MS}) so every instance holds its writes, then the REVOKE of the app
   * role's writes on public as the safety net (an instance that still did not see the fence, and 10k instances,
   * get permission denied: a 503), transactions that wrote before it waited for (a SHARE lock per table, one at a
   * time), the rest of the change log applied, the verification (both within `catchUpTimeoutMs`), and the flip:
   * layout `sharded` and the map `active` (epoch + 1) in one transaction. Any failure lifts the fence (see `run`).
   */
  private async finishFence(): Promise<void> {
    const settle = this.mapRefreshMs + MAP_SETTLE_MARGIN_MS;
    this.progress({ step: 'settle', waitMs: settle, note: 'waiting for every instance to see the fence' });
    // (a timer may fire a millisecond early by the wall clock: wait out what is left, so the bound always holds)
    const settleStart = Date.now();
    while (Date.now() - settleStart < settle)
      await new Promise((resolve) => setTimeout(resolve, settle - (Date.now() - settleStart)));
    await this.assertLock('before the revoke');
    await this.db.query(
      `REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ${USER_TABLES.map((t) => `public.${t}`).join(', ')} FROM ${APP_ROLE}`,
    );
    await this.afterStep('revoked');
    for (const table of USER_TABLES) {
      try {
        await this.transaction(async () => {
          await this.db.query(`SET LOCAL lock_timeout = ${this.fenceTimeoutMs}`);
          await this.db.query(`LOCK TABLE public.${table} IN SHARE MODE`);
        });
      } catch (err) {
        if ((err as { code?: string }).code !== '55P03') throw err;
        const { rows } = await this.db.query<{ pid: number; xact_start: Date; query: string }>(
          `SELECT a.pid, a.xact_start, a.query FROM pg_locks l JOIN pg_stat_activity a USING (pid)
           WHERE l.relation = $1::regclass AND l.mode = 'RowExclusiveLock' AND l.granted LIMIT 1`,
          [`public.${table}`],
        );
        await this.liftOrExplain(err as Error);
        const holder = rows[0]
          ? `pid ${rows[0].pid}, started ${rows[0].xact_start.toISOString()}: ${rows[0].query.slice(0, 200)}`
          : 'unknown';
        throw new MoveConfigurationError(
          `a transaction that wrote public.${table} before the fence ran longer than --fence-timeout-ms ` +
            `(${this.fenceTimeoutMs}) (${holder}); the fence is lifted and writes allowed again: rerun later`,
        );
      }
    }
    const deadline = Date.now() + this.catchUpTimeoutMs;
    const budget = async () => {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `the work under the fence took longer than --catch-up-timeout-ms (${this.catchUpTimeoutMs})`,
        );
      await this.db.query(`SET statement_timeout = ${Math.ceil(left)}`);
    };
    let differences: VerifyDifference[];
    try {
      await budget();
      await this.applyChanges(Number.POSITIVE_INFINITY, budget);
      await budget();
      differences = await this.verify();
      await this.afterStep('verified');
    } catch (err) {
      if ((err as { code?: string }).code !== '57014') throw err;
      throw new Error(
        `the work under the fence took longer than --catch-up-timeout-ms (${this.catchUpTimeoutMs}): ${(err as Error).message}`,
        { cause: err },
      );
    } finally {
      await this.db.query('SET statement_timeout = 0').catch(() => undefined);
    }
    if (differences.length > 0) {
      await this.liftOrExplain(new MoveVerificationError(differences));
      throw new MoveVerificationError(differences);
    }
    await this.assertLock('before the flip');
    await this.transaction(async () => {
      await this.db.query(
        `INSERT INTO control.settings (key, value) VALUES ($1, 'sharded')
         ON CONFLICT (key) DO UPDATE SET value = 'sharded'`,
        [USER_DATA_LAYOUT_KEY],
      );
      await this.db.query(
        `UPDATE control.shard_map SET state = 'active', epoch = (SELECT max(epoch) FROM control.shard_map) + 1`,
      );
      await this.db.query("UPDATE control.layout_move SET step = 'done', flipped_at = clock_timestamp()");
    });
    const move = await this.moveRow();
    this.progress({ step: 'flipped', fenceMs: move?.fence_ms });
  }

  /** Lifts the fence of a move that stays unsharded (verification or fence timeout): back to copying. */
  private async unfence(): Promise<void> {
    await this.transaction(() => this.unfenceStatements());
    this.progress({ step: 'unfenced' });
  }

  /** {@link UnshardedMover.unfence} for a known failure; when lifting fails too, throws one error naming both. */
  private async liftOrExplain(err: Error): Promise<void> {
    try {
      await this.unfence();
    } catch (liftErr) {
      throw new Error(
        `${err.message}; lifting the fence failed too (${(liftErr as Error).message}): writes to the user tables ` +
          'are still refused; rerun npm run migrate-to-shards (it resumes the fence), or abort it',
        { cause: err },
      );
    }
  }

  private async unfenceStatements(): Promise<void> {
    await this.db.query(
      `GRANT INSERT, UPDATE, DELETE ON ${USER_TABLES.map((t) => `public.${t}`).join(', ')} TO ${APP_ROLE}`,
    );
    await this.db.query(
      `UPDATE control.shard_map SET state = 'active', epoch = (SELECT max(epoch) FROM control.shard_map) + 1`,
    );
    await this.db.query("UPDATE control.layout_move SET step = 'copying', fenced_at = NULL");
  }

  /** After the flip: the triggers and the change log go; public keeps its rows, read-only for the app. */
  private async cleanUp(): Promise<void> {
    await this.dropTriggers();
    await this.db.query('TRUNCATE control.layout_move_changes');
  }

  private async dropTriggers(): Promise<void> {
    await this.transaction(async () => {
      await this.db.query(`SET LOCAL lock_timeout = ${this.fenceTimeoutMs}`);
      for (const table of USER_TABLES)
        await this.db.query(`DROP TRIGGER IF EXISTS ${TRIGGER} ON public.${table}`);
    });
  }

  /**
   * Count and md5 of every table's rows (in key order) per logical shard, public against the schemas, and of the
   * email directory against public.users; returns what differs (nothing when the move is exact).
   */
  async verify(): Promise<VerifyDifference[]> {
    if (this.n === 0) await this.prepare();
    const differences: VerifyDifference[] = [];
    const compare = (
      table: VerifyDifference['table'],
      expected: Map<number, ShardChecksum>,
      found: Map<number, ShardChecksum>,
    ) => {
      for (let ls = 0; ls < this.n; ls++) {
        const e = expected.get(ls) ?? { count: 0, md5: null };
        const f = found.get(ls) ?? { count: 0, md5: null };
        if (e.count !== f.count || e.md5 !== f.md5)
          differences.push({ table, logicalShard: ls, expected: e, found: f });
      }
    };
    const read = async (sql: string) => {
      const { rows } = await this.db.query<{ ls: number; count: number; md5: string | null }>(sql);
      return new Map(rows.map((r) => [Number(r.ls), { count: Number(r.count), md5: r.md5 }]));
    };
    for (const table of USER_TABLES) {
      const row = `ROW(${this.columns.get(table)!.join(', ')})::text`;
      const order = KEY[table].join(', ');
      const expected = await read(
        `SELECT control.logical_shard(${USER_COLUMN[table]}, ${this.n}) AS ls, count(*)::int AS count,
                md5(string_agg(${row}, '|' ORDER BY ${order})) AS md5
         FROM public.${table} GROUP BY 1`,
      );
      const found = await read(
        Array.from(
          { length: this.n },
          (_, i) =>
            `SELECT ${i} AS ls, count(*)::int AS count, md5(string_agg(${row}, '|' ORDER BY ${order})) AS md5 FROM ${shardSchema(i)}.${table}`,
        ).join(' UNION ALL '),
      );
      compare(table, expected, found);
    }
    compare(
      'email_directory',
      await read(
        `SELECT control.logical_shard(id, ${this.n}) AS ls, count(*)::int AS count,
                md5(string_agg(email || ' ' || id, '|' ORDER BY email)) AS md5
         FROM public.users GROUP BY 1`,
      ),
      await read(
        `SELECT control.logical_shard(user_id, ${this.n}) AS ls, count(*)::int AS count,
                md5(string_agg(email || ' ' || user_id, '|' ORDER BY email)) AS md5
         FROM control.email_directory GROUP BY 1`,
      ),
    );
    return differences;
  }

  /** Rows grouped by the logical shard of their `user_id`. */
  private bySchema<T extends { user_id: string }>(rows: readonly T[]): Map<number, T[]> {
    const groups = new Map<number, T[]>();
    for (const row of rows) {
      const ls = logicalShard(row.user_id, this.n);
      groups.set(ls, [...(groups.get(ls) ?? []), row]);
    }
    return groups;
  }

  /** INSERT … SELECT from public into one logical shard's table, ON CONFLICT on its key. */
  private insert(table: UserTable, ls: number, where: string, onConflict: 'NOTHING' | 'UPDATE'): string {
    const columns = this.columns.get(table)!;
    const key = KEY[table];
    const update = columns.filter((c) => !key.includes(c));
    const action =
      onConflict === 'NOTHING'
        ? 'DO NOTHING'
        : `DO UPDATE SET ${update.map((c) => `${c} = excluded.${c}`).join(', ')}`;
    return `INSERT INTO ${shardSchema(ls)}.${table} (${columns.join(', ')})
      SELECT ${columns.join(', ')} FROM public.${table} WHERE ${where}
      ON CONFLICT (${key.join(', ')}) ${action}`;
  }

  private insertUsers(ls: number, ids: string, onConflict: 'NOTHING' | 'UPDATE'): string {
    return this.insert('users', ls, `id = ANY(${ids})`, onConflict);
  }

  private insertDirectory(ids: string): string {
    return `INSERT INTO control.email_directory (email, user_id)
      SELECT email, id FROM public.users WHERE id = ANY(${ids}) ON CONFLICT DO NOTHING`;
  }
}
