import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { migrationsDir } from '../paths';
import type { Database, SqlExecutor } from './database';

/** One numbered SQL file of app/migrations. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Arbitrary constant key of the session-level advisory lock that serialises migrators: every instance that
 * starts at once waits on it, the first applies the pending migrations, the others then find none pending.
 */
export const MIGRATION_LOCK_KEY = 7_262_001;

/**
 * The role that owns the schema (created by migration 003). Every later migration runs as this role
 * (`SET LOCAL ROLE`), whoever logged in: its objects are owned by it, not by the login user, so the default
 * privileges that give the app role DML on new tables apply to them.
 */
export const OWNER_ROLE = 'shop_owner';

/**
 * The first migration version run as {@link OWNER_ROLE}. Earlier ones run as the login user: 001 and 002
 * predate the role, and 003 creates it, grants the login user membership and hands their objects over (which
 * needs the login user's own rights on the schema and on objects it owns).
 */
export const FIRST_OWNER_MIGRATION = 4;

/** The DML-only group role the app's login users belong to (created by migration 003). */
export const APP_ROLE = 'shop_app';

/** How long a migration's transaction waits for a lock (`SET LOCAL lock_timeout`) before it gives up. */
export const MIGRATION_LOCK_TIMEOUT_MS = 5_000;
/** Attempts of a migration whose locks were not granted within the lock timeout. */
export const MIGRATION_LOCK_ATTEMPTS = 3;

/**
 * Lock waits of the migration runners. A DDL statement queued behind a long transaction would otherwise hold
 * its place in the lock queue, and every query on the table would wait behind it: with a lock timeout the
 * migration steps aside, and is tried again a bounded number of times.
 */
export interface MigrationLockOptions {
  /** `lock_timeout` of each migration transaction, in ms. @default 5000 */
  readonly lockTimeoutMs?: number;
  /** Attempts before the runner gives up with an error naming the lock timeout. @default 3 */
  readonly lockAttempts?: number;
}

/** True for PostgreSQL's `lock_not_available` (55P03): the lock timeout ran out. */
export function isLockTimeout(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === '55P03';
}

/** The `SET LOCAL lock_timeout` statement of a migration transaction (validated: a whole number of ms). */
export function lockTimeoutStatement(options: MigrationLockOptions = {}): string {
  const ms = options.lockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS;
  if (!Number.isInteger(ms) || ms < 1)
    throw new Error(`lockTimeoutMs must be a whole number of ms >= 1, got ${ms}`);
  return `SET LOCAL lock_timeout = ${ms}`;
}

/** The message of a migration that never got its locks. */
export function lockTimeoutMessage(what: string, options: MigrationLockOptions, attempts: number): string {
  const ms = options.lockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS;
  return (
    `${what} could not take its locks within ${ms} ms (lock_timeout) in ${attempts} attempt(s): a long ` +
    `transaction holds a table it alters (see pg_stat_activity / pg_locks); end it or run the migration again later`
  );
}

/** Reads `NNN_name.sql` files in version order; rejects duplicates and badly named files. */
export async function loadMigrations(dir: string = migrationsDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => file.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = /^(\d{3,})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match) throw new Error(`Migration file name "${file}" does not match NNN_name.sql`);
    const version = Number(match[1]);
    if (migrations.some((m) => m.version === version))
      throw new Error(`Duplicate migration version ${version}`);
    migrations.push({ version, name: match[2], sql: await readFile(path.join(dir, file), 'utf8') });
  }
  return migrations;
}

/**
 * The shipped migrations the database has not applied (empty when it is current). The app role may run this:
 * it reads `schema_migrations` only.
 */
export async function pendingMigrations(db: SqlExecutor, migrations?: Migration[]): Promise<Migration[]> {
  const all = migrations ?? (await loadMigrations());
  const { rows: found } = await db.query<{ table: string | null }>(
    "SELECT to_regclass('schema_migrations')::text AS table",
  );
  if (found[0].table === null) return all;
  const { rows } = await db.query<{ version: number }>('SELECT version FROM schema_migrations');
  const applied = new Set(rows.map((row) => Number(row.version)));
  return all.filter((migration) => !applied.has(migration.version));
}

/**
 * Applies pending migrations, each in its own transaction, under a PostgreSQL advisory lock so that several
 * instances starting together apply each migration exactly once. With nothing pending it returns without
 * taking the lock: the shard manager holds that lock for the whole of a move (moves and migrations exclude each
 * other), and an instance starting meanwhile must not wait for the move to end.
 *
 * @returns the versions this call applied (empty when the database was up to date).
 */
export async function runMigrations(
  db: Database,
  migrations?: Migration[],
  lockOptions: MigrationLockOptions = {},
): Promise<number[]> {
  const setLockTimeout = lockTimeoutStatement(lockOptions);
  const lockAttempts = lockOptions.lockAttempts ?? MIGRATION_LOCK_ATTEMPTS;
  const all = migrations ?? (await loadMigrations());
  // Read without the lock; what is pending is checked again under it (another instance may have applied it).
  if ((await pendingMigrations(db, all)).length === 0) return [];
  return db.withConnection(async (conn) => {
    await conn.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      // Checked before creating: CREATE TABLE IF NOT EXISTS needs CREATE on the schema even when the table
      // exists, and a role without it (the app role, with AUTO_MIGRATE on) may still check for pending work.
      const { rows: found } = await conn.query<{ table: string | null }>(
        "SELECT to_regclass('schema_migrations')::text AS table",
      );
      if (found[0].table === null) {
        await conn.query(
          `CREATE TABLE IF NOT EXISTS schema_migrations (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
           )`,
        );
      }
      const { rows } = await conn.query<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((row) => Number(row.version)));
      const done: number[] = [];
      for (const migration of all) {
        if (applied.has(migration.version)) continue;
        const what = `Migration ${migration.version}_${migration.name}`;
        for (let attempt = 1; ; attempt++) {
          await conn.exec('BEGIN');
          try {
            // Never queue every query on a table behind this DDL for long: give up after the lock timeout.
            await conn.exec(setLockTimeout);
            // A login user that may not act as the owner fails here, by name, rather than creating objects the
            // app role's default privileges would not cover.
            if (migration.version >= FIRST_OWNER_MIGRATION) await conn.exec(`SET LOCAL ROLE ${OWNER_ROLE}`);
            await conn.exec(migration.sql);
            await conn.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
              migration.version,
              migration.name,
            ]);
            await conn.exec('COMMIT');
            break;
          } catch (err) {
            await conn.exec('ROLLBACK');
            if (isLockTimeout(err) && attempt < lockAttempts) continue;
            const message = isLockTimeout(err)
              ? lockTimeoutMessage(what, lockOptions, attempt)
              : `${what} failed: ${(err as Error).message}`;
            throw new Error(message, { cause: err });
          }
        }
        done.push(migration.version);
      }
      return done;
    } finally {
      await conn.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  });
}
