import path from 'node:path';
import type { Database, SqlConnection, SqlExecutor } from '../db/database';
import {
  isLockTimeout,
  loadMigrations,
  lockTimeoutMessage,
  lockTimeoutStatement,
  MIGRATION_LOCK_ATTEMPTS,
  MIGRATION_LOCK_KEY,
  OWNER_ROLE,
  type Migration,
  type MigrationLockOptions,
} from '../db/migrations';
import { migrationsDir } from '../paths';
import { shardSchema } from './logical-shard';

/** The control schema on shard 0 (shard map, shard list, email directory, settings). */
export const CONTROL_SCHEMA = 'control';

/** Migrations of the sharded layout, beside the numbered files of the unsharded (public) layout. */
export interface ShardLayoutMigrations {
  /** `app/migrations/control/*.sql`: run once, in the control schema, on shard 0 only. */
  readonly control: Migration[];
  /** `app/migrations/shard/*.sql`: run once per logical shard schema, on every physical shard. */
  readonly shard: Migration[];
}

/** Loads `app/migrations/control` and `app/migrations/shard`. */
export async function loadShardLayoutMigrations(dir: string = migrationsDir): Promise<ShardLayoutMigrations> {
  return {
    control: await loadMigrations(path.join(dir, 'control')),
    shard: await loadMigrations(path.join(dir, 'shard')),
  };
}

/** Schemas migrated per transaction: one round trip each, and few enough locks for max_locks_per_transaction. */
const SCHEMAS_PER_TRANSACTION = 32;

/** What {@link migrateShardLayout} did. */
export interface ShardLayoutMigrationResult {
  /** `schema:version` pairs applied now. */
  readonly applied: number;
  /** Schemas the layout has on this physical shard (control included on shard 0). */
  readonly schemas: number;
  /** Wall time of the whole call, lock wait included. */
  readonly ms: number;
}

/** Options of {@link migrateShardLayout}. */
export interface MigrateShardLayoutOptions extends MigrationLockOptions {
  /** The number of logical shards N: schemas ls_000 ... ls_(N-1) are created and migrated. */
  readonly logicalShards: number;
  /** True on shard 0, which also holds the control schema. */
  readonly control: boolean;
  /** @default - the files of app/migrations/control and app/migrations/shard */
  readonly migrations?: ShardLayoutMigrations;
  /** Runs on the same connection, under the same lock, after the schemas are current (shard map bootstrap). */
  readonly then?: (conn: SqlConnection) => Promise<void>;
  /**
   * Whether `then` has anything to do (read without the lock). When it has not and no step is pending, the call
   * returns without taking the lock. @default - `then` always has (the lock is taken whenever `then` is given)
   */
  readonly thenNeeded?: (db: SqlExecutor) => Promise<boolean>;
}

/**
 * Creates and migrates the schemas of the sharded layout on one physical shard, under the same session-level
 * advisory lock as the public migrations (so instances starting together, or the migration task, apply each
 * step once). Idempotent: what `public.shard_schema_migrations` records as applied is skipped. Fast for N
 * schemas: the applied set is read in one query, and each step runs as one script (one round trip) per 32
 * schemas, each batch its own transaction. Every physical shard gets every logical shard's schema (empty where
 * the logical shard does not live), so DDL never has to wait for a move and a move only copies rows.
 */
export async function migrateShardLayout(
  db: Database,
  options: MigrateShardLayoutOptions,
): Promise<ShardLayoutMigrationResult> {
  const started = performance.now();
  const setLockTimeout = lockTimeoutStatement(options);
  const lockAttempts = options.lockAttempts ?? MIGRATION_LOCK_ATTEMPTS;
  const migrations = options.migrations ?? (await loadShardLayoutMigrations());
  const shardSchemas = Array.from({ length: options.logicalShards }, (_, i) => shardSchema(i));
  const scopes: { schemas: string[]; migrations: Migration[] }[] = [
    ...(options.control ? [{ schemas: [CONTROL_SCHEMA], migrations: migrations.control }] : []),
    { schemas: shardSchemas, migrations: migrations.shard },
  ];
  // Nothing to do: no lock. The shard manager holds the migration lock for the whole of a move, and an instance
  // starting meanwhile must not wait for it (only a migration with work to do waits: moves and migrations
  // exclude each other). Checked again under the lock when there is work.
  const pending = await pendingShardLayout(db, { ...options, migrations });
  if (pending === 0 && !(options.then && (await (options.thenNeeded?.(db) ?? Promise.resolve(true)))))
    return {
      applied: 0,
      schemas: scopes.reduce((n, scope) => n + scope.schemas.length, 0),
      ms: performance.now() - started,
    };
  return db.withConnection(async (conn) => {
    await conn.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await conn.exec(
        `BEGIN;
         SET LOCAL ROLE ${OWNER_ROLE};
         CREATE TABLE IF NOT EXISTS public.shard_schema_migrations (
           schema_name text NOT NULL,
           version integer NOT NULL,
           name text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now(),
           PRIMARY KEY (schema_name, version)
         );
         REVOKE INSERT, UPDATE, DELETE ON public.shard_schema_migrations FROM shop_app;
         COMMIT;`,
      );
      // Schemas are created by the login user (CREATE on the database), owned by the owner role, which then
      // creates everything inside them.
      const all = scopes.flatMap((scope) => scope.schemas);
      await conn.query(
        `DO $$ DECLARE s text; BEGIN
           FOREACH s IN ARRAY string_to_array('${all.join(',')}', ',') LOOP
             EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION ${OWNER_ROLE}', s);
           END LOOP;
         END $$`,
      );
      const { rows } = await conn.query<{ schema_name: string; version: number }>(
        'SELECT schema_name, version FROM public.shard_schema_migrations',
      );
      const applied = new Set(rows.map((row) => `${row.schema_name}:${Number(row.version)}`));
      let count = 0;
      for (const scope of scopes) {
        for (const migration of scope.migrations) {
          const pending = scope.schemas.filter((schema) => !applied.has(`${schema}:${migration.version}`));
          for (let i = 0; i < pending.length; i += SCHEMAS_PER_TRANSACTION) {
            const batch = pending.slice(i, i + SCHEMAS_PER_TRANSACTION);
            const script = batch
              .map(
                (schema) =>
                  `SET LOCAL search_path TO ${schema};\n${migration.sql}\n;` +
                  `INSERT INTO public.shard_schema_migrations (schema_name, version, name) ` +
                  `VALUES ('${schema}', ${migration.version}, '${migration.name}');`,
              )
              .join('\n');
            const what = `Shard migration ${migration.version}_${migration.name} in ${batch[0]}..${batch.at(-1)}`;
            for (let attempt = 1; ; attempt++) {
              try {
                await conn.exec(
                  `BEGIN;\n${setLockTimeout};\nSET LOCAL ROLE ${OWNER_ROLE};\n${script}\nCOMMIT;`,
                );
                break;
              } catch (err) {
                await conn.exec('ROLLBACK').catch(() => {});
                if (isLockTimeout(err) && attempt < lockAttempts) continue;
                throw new Error(
                  isLockTimeout(err)
                    ? lockTimeoutMessage(what, options, attempt)
                    : `Shard migration ${migration.version}_${migration.name} failed in one of ${batch[0]}..${batch.at(-1)}: ${(err as Error).message}`,
                  { cause: err },
                );
              }
            }
            count += batch.length;
          }
        }
      }
      await options.then?.(conn);
      return { applied: count, schemas: all.length, ms: performance.now() - started };
    } finally {
      // A step that failed inside its BEGIN leaves the session in an aborted transaction, where the unlock
      // below would fail too and the pooled connection would keep the lock: end it first (a no-op otherwise).
      await conn.exec('ROLLBACK').catch(() => {});
      await conn.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  });
}

/**
 * The steps of the sharded layout this physical shard lacks (empty when current): the app, which may not
 * migrate, refuses to start on an incomplete layout.
 */
export async function pendingShardLayout(
  db: Database,
  options: Pick<MigrateShardLayoutOptions, 'logicalShards' | 'control' | 'migrations'>,
): Promise<number> {
  const migrations = options.migrations ?? (await loadShardLayoutMigrations());
  const expected =
    (options.control ? migrations.control.length : 0) + options.logicalShards * migrations.shard.length;
  const { rows: found } = await db.query<{ table: string | null }>(
    "SELECT to_regclass('public.shard_schema_migrations')::text AS table",
  );
  if (found[0].table === null) return expected;
  const versions = [
    ...(options.control ? migrations.control.map((m) => `${CONTROL_SCHEMA}:${m.version}`) : []),
    ...migrations.shard.flatMap((m) =>
      Array.from({ length: options.logicalShards }, (_, i) => `${shardSchema(i)}:${m.version}`),
    ),
  ];
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM public.shard_schema_migrations
     WHERE schema_name || ':' || version = ANY($1::text[])`,
    [versions],
  );
  return expected - rows[0].n;
}
