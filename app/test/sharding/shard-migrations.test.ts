import { createDatabase } from '../../src/db/create-database';
import type { Database } from '../../src/db/database';
import { Client } from 'pg';
import { MIGRATION_LOCK_KEY, runMigrations } from '../../src/db/migrations';
import { LOGICAL_SHARDS } from '../../src/sharding/logical-shard';
import {
  loadShardLayoutMigrations,
  migrateShardLayout,
  pendingShardLayout,
} from '../../src/sharding/shard-migrations';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { until } from '../support/wait';

let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  db = await createDatabase({ kind: 'postgres', writer: { connectionString: database.url }, poolMax: 4 });
  await runMigrations(db);
});

afterAll(async () => {
  await db?.close();
  await database?.drop();
});

test(`N=${LOGICAL_SHARDS} schemas migrate once under the lock, concurrently started, and fast`, async () => {
  // GIVEN a database with the public migrations only
  const layout = await loadShardLayoutMigrations();
  const steps = LOGICAL_SHARDS * layout.shard.length + layout.control.length;
  expect(await pendingShardLayout(db, { logicalShards: LOGICAL_SHARDS, control: true })).toBe(steps);
  // WHEN two migrators start together (two instances starting at once)
  const [a, b] = await Promise.all([
    migrateShardLayout(db, { logicalShards: LOGICAL_SHARDS, control: true }),
    migrateShardLayout(db, { logicalShards: LOGICAL_SHARDS, control: true }),
  ]);
  // THEN every schema's step was applied exactly once, by one of them
  expect([a.applied, b.applied].sort((x, y) => x - y)).toEqual([0, steps]);
  expect(await pendingShardLayout(db, { logicalShards: LOGICAL_SHARDS, control: true })).toBe(0);
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM information_schema.tables
     WHERE table_schema LIKE 'ls\\_%' AND table_name IN ('users', 'orders', 'order_items')`,
  );
  expect(rows[0].n).toBe(3 * LOGICAL_SHARDS);
  // AND a later run finds nothing to do, quickly
  const again = await migrateShardLayout(db, { logicalShards: LOGICAL_SHARDS, control: true });
  expect(again.applied).toBe(0);
  const first = Math.max(a.ms, b.ms);
  // The measurement the README quotes (one server, 2 shared cores).
  process.stdout.write(
    `shard layout: ${LOGICAL_SHARDS} schemas created and migrated in ${Math.round(first)} ms; ` +
      `an up-to-date check in ${Math.round(again.ms)} ms\n`,
  );
  expect(again.ms).toBeLessThan(first);
});

test('a new shard migration reaches every schema; the app role may use the tables but not change them', async () => {
  // GIVEN a second shard-scope migration
  const migrations = {
    control: [],
    shard: [
      { version: 1, name: 'user_data', sql: 'SELECT 1' },
      // (a version above the real shard migrations', which the first test applied)
      { version: 90, name: 'nickname', sql: 'ALTER TABLE users ADD COLUMN IF NOT EXISTS nickname text' },
    ],
  };
  const result = await migrateShardLayout(db, { logicalShards: LOGICAL_SHARDS, control: false, migrations });
  expect(result.applied).toBe(LOGICAL_SHARDS);
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM information_schema.columns
     WHERE table_schema LIKE 'ls\\_%' AND table_name = 'users' AND column_name = 'nickname'`,
  );
  expect(rows[0].n).toBe(LOGICAL_SHARDS);
  const { rows: grants } = await db.query<{ dml: boolean; ddl: boolean }>(
    `SELECT has_table_privilege('shop_app', 'ls_017.orders', 'INSERT') AS dml,
            has_schema_privilege('shop_app', 'ls_017', 'CREATE') AS ddl`,
  );
  expect(grants[0]).toEqual({ dml: true, ddl: false });
});

test('a failing shard migration names itself and the schemas, and leaves them unapplied', async () => {
  const migrations = {
    control: [],
    shard: [{ version: 3, name: 'broken', sql: 'ALTER TABLE no_such_table ADD COLUMN x int' }],
  };
  await expect(
    migrateShardLayout(db, { logicalShards: LOGICAL_SHARDS, control: false, migrations }),
  ).rejects.toThrow(/Shard migration 3_broken failed in one of ls_000..ls_031: .*no_such_table/);
  const { rows } = await db.query<{ n: number }>(
    // (the logical-shard schemas only: the control schema has a version 3 of its own)
    "SELECT count(*)::int AS n FROM shard_schema_migrations WHERE version = 3 AND schema_name LIKE 'ls\\_%'",
  );
  expect(rows[0].n).toBe(0);
});

/** `promise`, or a failure once `ms` have passed without it settling. */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`still waiting after ${ms} ms (on the migration lock?)`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

test('with nothing pending, migrators do not take the lock: an instance starting during a move does not wait for it', async () => {
  // GIVEN the shard manager's hold on the migration lock for a move (its own session)
  const manager = new Client({ connectionString: database.url });
  await manager.connect();
  try {
    await manager.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    // WHEN an instance starts and migrates a current database
    const bootstrapped: string[] = [];
    const [publicApplied, layout] = await within(
      10_000,
      Promise.all([
        runMigrations(db),
        migrateShardLayout(db, {
          logicalShards: LOGICAL_SHARDS,
          control: true,
          then: async () => void bootstrapped.push('then'),
          thenNeeded: async () => false,
        }),
      ]),
    );
    // THEN both return at once with nothing applied (a wait on the lock fails the test after 10 s)
    expect(publicApplied).toEqual([]);
    expect(layout.applied).toBe(0);
    expect(bootstrapped).toEqual([]);
    // AND a migrator with work to do waits for the lock, and runs once it is released
    const migrations = {
      control: [],
      shard: [
        { version: 4, name: 'waits', sql: 'ALTER TABLE users ADD COLUMN IF NOT EXISTS waited boolean' },
      ],
    };
    let done = false;
    const waiting = migrateShardLayout(db, { logicalShards: 2, control: false, migrations }).then((r) => {
      done = true;
      return r;
    });
    // It is blocked on the lock: pg_locks shows its session waiting for the advisory lock.
    await until(async () => {
      const { rows: waiters } = await manager.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1`,
        [MIGRATION_LOCK_KEY],
      );
      return waiters[0].n === 1;
    }, 'the migrator with work to wait on the lock');
    expect(done).toBe(false);
    await manager.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    expect((await waiting).applied).toBe(2);
  } finally {
    await manager.end();
  }
});
