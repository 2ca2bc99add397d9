import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { SqlExecutor } from '../src/db/database';
import { loadMigrations, runMigrations } from '../src/db/migrations';
import { PgDatabase } from '../src/db/pg-database';
import { hashPassword, seedCatalog, seedUsers } from '../src/db/seed';
import { verifyPassword } from '../src/passwords';
import { CatalogRepository } from '../src/repositories/catalog-repository';
import { OrderRepository } from '../src/repositories/order-repository';
import { UserRepository } from '../src/repositories/user-repository';
import { createTestDatabase, type TestDatabase } from './support/postgres';

const repoRoot = path.resolve(__dirname, '../..');
const tsx = path.join(repoRoot, 'node_modules/.bin/tsx');

describe('migrations', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.drop());

  test('several instances migrating one fresh database at once apply each migration exactly once', async () => {
    const migrators = Array.from(
      { length: 6 },
      () => new PgDatabase({ writer: { connectionString: database.url } }),
    );
    try {
      const results = await Promise.all(migrators.map((db) => runMigrations(db)));
      const versions = (await loadMigrations()).map((m) => m.version);
      // Exactly one migrator applied everything; the others found nothing pending.
      expect(results.flat().sort()).toEqual(versions);
      expect(results.filter((applied) => applied.length > 0)).toHaveLength(1);
      const { rows } = await migrators[0].query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY version',
      );
      expect(rows.map((r) => r.version)).toEqual(versions);
      expect(await runMigrations(migrators[0])).toEqual([]);
    } finally {
      await Promise.all(migrators.map((db) => db.close()));
    }
  });

  test('a failing migration rolls back and names itself', async () => {
    const db = new PgDatabase({ writer: { connectionString: database.url } });
    try {
      await expect(
        runMigrations(db, [{ version: 999, name: 'broken', sql: 'CREATE TABLE t999 (a int); SELECT nope;' }]),
      ).rejects.toThrow(/Migration 999_broken failed: column "nope" does not exist/);
      const { rows } = await db.query("SELECT to_regclass('t999') AS t");
      expect(rows[0]).toEqual({ t: null });
      // The lock was released: another run goes through.
      expect(await runMigrations(db)).toEqual([]);
    } finally {
      await db.close();
    }
  });

  test('`npm run migrate` (app/src/migrate.ts) migrates a database and exits 0; a bad variable exits 1', async () => {
    const fresh = await createTestDatabase();
    try {
      const run = () =>
        spawnSync(tsx, ['app/src/migrate.ts'], {
          cwd: repoRoot,
          env: { ...process.env, DATABASE_URL: fresh.url },
          encoding: 'utf8',
        });
      const first = run();
      expect(first.status).toBe(0);
      expect(JSON.parse(first.stdout.trim())).toEqual({
        msg: 'migrations applied',
        applied: (await loadMigrations()).map((m) => m.version),
      });
      const second = run();
      expect(JSON.parse(second.stdout.trim())).toEqual({ msg: 'database is up to date', applied: [] });

      // As an ECS one-off task: production, and no SESSION_SECRET (migrations serve no sessions).
      expect(process.env.SESSION_SECRET).toBeUndefined();
      const production = spawnSync(tsx, ['app/src/migrate.ts'], {
        cwd: repoRoot,
        env: { ...process.env, DATABASE_URL: fresh.url, NODE_ENV: 'production' },
        encoding: 'utf8',
      });
      expect(production.stderr).toBe('');
      expect(production.status).toBe(0);

      const bad = spawnSync(tsx, ['app/src/migrate.ts'], {
        cwd: repoRoot,
        env: { ...process.env, DATABASE_URL: fresh.url, DB_SSL: 'sometimes' },
        encoding: 'utf8',
      });
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain('DB_SSL must be equal to one of the allowed values');
    } finally {
      await fresh.drop();
    }
  });
});

describe('seeding and indexes (10,000 products, 10,000 users)', () => {
  let database: TestDatabase;
  let db: PgDatabase;
  let seeded: { productIds: string[]; userIds: string[]; emails: string[] };

  beforeAll(async () => {
    database = await createTestDatabase();
    db = new PgDatabase({ writer: { connectionString: database.url } });
    await runMigrations(db);
  });
  afterAll(async () => {
    await db.close();
    await database.drop();
  });

  test('seedCatalog and seedUsers insert 10,000 rows each quickly, with consistent orders', async () => {
    const started = Date.now();
    const { ids: productIds } = await seedCatalog(db, 10_000);
    const passwordHash = await hashPassword('seed password');
    const users = await seedUsers(db, 10_000, { ordersPerUser: 2, passwordHash });
    expect(Date.now() - started).toBeLessThan(20_000);
    seeded = { productIds, userIds: users.ids, emails: users.emails };

    const count = async (sql: string) => Number((await db.query<{ n: string }>(sql)).rows[0].n);
    expect(await count('SELECT count(*) AS n FROM products')).toBe(10_000);
    expect(await count('SELECT count(*) AS n FROM users')).toBe(10_000);
    expect(users.orderCount).toBe(20_000);
    expect(await count('SELECT count(*) AS n FROM orders')).toBe(20_000);
    // Order totals equal the sum of their lines.
    expect(
      await count(`SELECT count(*) AS n FROM orders o WHERE o.total_cents <>
                   (SELECT sum(quantity * unit_price_cents) FROM order_items i WHERE i.order_id = o.id)`),
    ).toBe(0);
    // Ids are UUIDv7 and seeded users can log in with the shared password.
    expect(productIds[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    const found = await new UserRepository().findByEmail(db, users.emails[123]);
    expect(await verifyPassword('seed password', found!.passwordHash)).toBe(true);
    await db.query('ANALYZE');
  });

  test('EXPLAIN: the hot queries use their indexes', async () => {
    // Record the SQL the repositories really send, then EXPLAIN each statement with its parameters.
    const sent: { text: string; params?: unknown[] }[] = [];
    const recorder: SqlExecutor = {
      query: (text, params) => {
        sent.push({ text, params });
        return db.query(text, params);
      },
    };
    const indexesUsed = async (action: () => Promise<unknown>) => {
      sent.length = 0;
      await action();
      return db.withConnection(async (conn) => {
        // The SSD cost model Aurora and RDS gp3 storage call for (see the report for the parameter group).
        await conn.query('SET random_page_cost = 1.1');
        const indexes: string[][] = [];
        for (const q of sent) {
          const { rows } = await conn.query<{ 'QUERY PLAN': unknown }>(
            `EXPLAIN (FORMAT JSON) ${q.text}`,
            q.params,
          );
          const plan = JSON.stringify(rows[0]['QUERY PLAN']);
          indexes.push([...plan.matchAll(/"Index Name":"([a-z_]+)"/g)].map((m) => m[1]));
        }
        return indexes;
      });
    };
    const catalog = new CatalogRepository();
    const orders = new OrderRepository();
    const users = new UserRepository();

    expect(await indexesUsed(() => catalog.get(recorder, seeded.productIds[5000]))).toEqual([
      ['products_pkey'],
    ]);
    expect(await indexesUsed(() => catalog.list(recorder, { limit: 20 }))).toEqual([['products_pkey']]);
    expect(
      await indexesUsed(() => catalog.list(recorder, { limit: 20, cursor: seeded.productIds[7000] })),
    ).toEqual([['products_pkey']]);
    expect(await indexesUsed(() => catalog.list(recorder, { limit: 20, q: 'copper kettle 4242' }))).toEqual([
      ['products_search_idx'],
    ]);
    expect(await indexesUsed(() => users.findByEmail(recorder, seeded.emails[4242]))).toEqual([
      ['users_email_key'],
    ]);
    expect(await indexesUsed(() => orders.listForUser(recorder, seeded.userIds[777]))).toEqual([
      ['orders_user_id_id_idx'],
      ['order_items_pkey'],
    ]);
  });
});
