import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { migrationsDir } from '../paths';
import type { Database } from './database';

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
 * Applies pending migrations, each in its own transaction, under a PostgreSQL advisory lock so that several
 * instances starting together apply each migration exactly once.
 *
 * @returns the versions this call applied (empty when the database was up to date).
 */
export async function runMigrations(db: Database, migrations?: Migration[]): Promise<number[]> {
  const all = migrations ?? (await loadMigrations());
  return db.withConnection(async (conn) => {
    await conn.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await conn.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version integer PRIMARY KEY,
           name text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const { rows } = await conn.query<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((row) => Number(row.version)));
      const done: number[] = [];
      for (const migration of all) {
        if (applied.has(migration.version)) continue;
        await conn.exec('BEGIN');
        try {
          await conn.exec(migration.sql);
          await conn.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
            migration.version,
            migration.name,
          ]);
          await conn.exec('COMMIT');
        } catch (err) {
          await conn.exec('ROLLBACK');
          throw new Error(
            `Migration ${migration.version}_${migration.name} failed: ${(err as Error).message}`,
            {
              cause: err,
            },
          );
        }
        done.push(migration.version);
      }
      return done;
    } finally {
      await conn.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  });
}
