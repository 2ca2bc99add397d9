import { Client } from 'pg';
import type { Database } from '../src/db/database';
import { loadMigrations, runMigrations } from '../src/db/migrations';
import { seedUsers } from '../src/db/seed';
import { loadShardLayoutMigrations, migrateShardLayout } from '../src/sharding/shard-migrations';
import { createTestDatabase, type TestDatabase } from './support/postgres';

// Migrations never scan a table under ACCESS EXCLUSIVE (006 / shard 002 add order_count without a scan; the CHECK
// is validated in a later transaction) and never wait for a lock longer than their lock_timeout. PostgreSQL tells
// a table scan of ALTER TABLE by the DEBUG1 message `verifying table "users"`, caught here on the migrator's
// connection.

/** A Database on one pg client (all the runners need), with its server messages collected. */
function oneClientDatabase(client: Client): Database {
  const conn = {
    query: (text: string, params?: unknown[]) => client.query(text, params),
    exec: async (sql: string) => {
      await client.query(sql);
    },
  };
  return {
    ...conn,
    writer: conn,
    withConnection: (fn: (c: typeof conn) => Promise<unknown>) => fn(conn),
  } as unknown as Database;
}

describe('migration locks (real Postgres)', () => {
  let database: TestDatabase;
  let client: Client;
  let db: Database;
  const notices: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    client = new Client({ connectionString: database.url });
    await client.connect();
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    db = oneClientDatabase(client);
  });
  afterAll(async () => {
    await client.end();
    await database.drop();
  });

  test('006 adds users.order_count without scanning users; 007 validates its CHECK in a later transaction', async () => {
    const all = await loadMigrations();
    await runMigrations(
      db,
      all.filter((m) => m.version < 6),
    );
    await seedUsers(client, 3, { passwordHash: 'x' });
    await client.query('SET client_min_messages = debug1');
    notices.length = 0;
    expect(
      await runMigrations(
        db,
        all.filter((m) => m.version <= 6),
      ),
    ).toEqual([6]);
    expect(notices.filter((n) => n.includes('verifying table "users"'))).toEqual([]);
    // The check catches a scan: the validation (its own transaction, SHARE UPDATE EXCLUSIVE) does scan users.
    expect(await runMigrations(db, all)).toContain(7);
    expect(notices.filter((n) => n.includes('verifying table "users"'))).toHaveLength(1);
    await client.query('SET client_min_messages = notice');
    const { rows } = await client.query<{ convalidated: boolean }>(
      `SELECT convalidated FROM pg_constraint WHERE conname = 'users_order_count_check'
         AND conrelid = 'public.users'::regclass`,
    );
    expect(rows).toEqual([{ convalidated: true }]);
  });

  test('shard 002 adds order_count to every ls_NNN.users without a scan; shard 003 validates', async () => {
    const layout = await loadShardLayoutMigrations();
    const upTo = (version: number) => ({
      control: [],
      shard: layout.shard.filter((m) => m.version <= version),
    });
    await migrateShardLayout(db, { logicalShards: 2, control: false, migrations: upTo(1) });
    await client.query(
      `INSERT INTO ls_000.users (id, email, password_hash, name)
       SELECT gen_random_uuid(), 'u' || i || '@example.com', 'x', 'u' FROM generate_series(1, 3) i`,
    );
    await client.query('SET client_min_messages = debug1');
    notices.length = 0;
    await migrateShardLayout(db, { logicalShards: 2, control: false, migrations: upTo(2) });
    expect(notices.filter((n) => n.includes('verifying table "users"'))).toEqual([]);
    await migrateShardLayout(db, { logicalShards: 2, control: false, migrations: upTo(3) });
    expect(notices.filter((n) => n.includes('verifying table "users"'))).toHaveLength(2);
    await client.query('SET client_min_messages = notice');
  });

  test('a migration waits at most lock_timeout per attempt, retries a bounded number of times, then says why', async () => {
    const holder = new Client({ connectionString: database.url });
    await holder.connect();
    try {
      // A long transaction that has read users: an ALTER on users must wait for it.
      await holder.query('BEGIN');
      await holder.query('SELECT count(*) FROM users');
      await holder.query('SELECT count(*) FROM ls_000.users');
      const extra = [{ version: 90, name: 'nickname', sql: 'ALTER TABLE users ADD COLUMN nickname text' }];
      const all = [...(await loadMigrations()), ...extra];
      const started = Date.now();
      await expect(runMigrations(db, all, { lockTimeoutMs: 100, lockAttempts: 2 })).rejects.toThrow(
        /90_nickname could not take its locks within 100 ms \(lock_timeout\) in 2 attempt/,
      );
      expect(Date.now() - started).toBeLessThan(5_000);
      // The shard runner too.
      await expect(
        migrateShardLayout(db, {
          logicalShards: 2,
          control: false,
          migrations: { control: [], shard: extra },
          lockTimeoutMs: 100,
          lockAttempts: 1,
        }),
      ).rejects.toThrow(/lock_timeout/);
      // Nothing half-applied; once the long transaction ends the migration goes through.
      await holder.query('ROLLBACK');
      expect(await runMigrations(db, all, { lockTimeoutMs: 100, lockAttempts: 2 })).toEqual([90]);
    } finally {
      await holder.end();
    }
  });
});
