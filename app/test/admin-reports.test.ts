import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app';
import { PgliteDatabase } from '../src/db/pglite-database';
import { LOGICAL_SHARDS, shardSchema } from '../src/sharding/logical-shard';
import { signUp, signUpAdmin, testConfig, uniqueEmail } from './support/app';
import { startPglite } from './support/pglite';
import { createTestDatabase, TEST_PG_ADMIN_URL, type TestDatabase } from './support/postgres';
import { dropRoles, loginUrl, uniqueRoleName } from './support/roles';

// The cross-shard admin reports where there is one database: the unsharded layout (stages 1k, 10k: one query on
// the public tables), on PostgreSQL and on the embedded PGlite, and the sharded layout on the embedded PGlite
// (SHARD_ENDPOINTS=[]: one query, a UNION ALL over all 256 schemas). Data is made through the API, and the
// expected answers are read straight from the tables.
const adminEmail = 'admin-reports@example.test';
const appUser = uniqueRoleName('shop_app_reports');
let database: TestDatabase | undefined;

interface Setup {
  app: FastifyInstance;
  /** The schemas holding user data. */
  schemas: string[];
}

const setups: [string, () => Promise<Setup>][] = [
  [
    'unsharded, PostgreSQL',
    async () => {
      database = await createTestDatabase();
      const app = await buildApp({
        config: testConfig({
          DATABASE_URL: loginUrl(database.url, appUser),
          MIGRATION_DATABASE_URL: database.url,
          ADMIN_EMAILS: adminEmail,
          RATE_LIMIT_AUTH_MAX: '100000',
        }),
        logger: false,
      });
      return { app, schemas: ['public'] };
    },
  ],
  [
    'unsharded, embedded PGlite',
    async () => ({
      app: await buildApp({
        config: testConfig({ ADMIN_EMAILS: adminEmail, RATE_LIMIT_AUTH_MAX: '100000' }),
        database: async (observe) => PgliteDatabase.wrap(await startPglite(), { observe }),
        logger: false,
      }),
      schemas: ['public'],
    }),
  ],
  [
    'sharded, every logical shard on the embedded PGlite',
    async () => ({
      app: await buildApp({
        config: testConfig({
          ADMIN_EMAILS: adminEmail,
          RATE_LIMIT_AUTH_MAX: '100000',
          SHARD_ENDPOINTS: '[]',
        }),
        database: async (observe) => PgliteDatabase.wrap(await startPglite(), { observe }),
        logger: false,
      }),
      schemas: Array.from({ length: LOGICAL_SHARDS }, (_, i) => shardSchema(i)),
    }),
  ],
];

afterAll(async () => {
  await database?.drop();
  await dropRoles(TEST_PG_ADMIN_URL, [appUser]);
});

describe.each(setups)('%s', (_label, start) => {
  let setup: Setup;
  let admin: string;
  let productId: string;
  let reads = 0;

  beforeAll(async () => {
    setup = await start();
    const { app } = setup;
    const db = app.shop.db;
    const readWithin = db.readWithin.bind(db);
    db.readWithin = (text, params, timeoutMs) => {
      reads += 1;
      return readWithin(text, params, timeoutMs);
    };
    admin = (await signUpAdmin(app, adminEmail)).cookie;
    const product = await app.inject({
      method: 'POST',
      url: '/api/products',
      headers: { cookie: admin },
      payload: { sku: `scatter-${Date.now()}`, name: 'Scatter mug', priceCents: 250, stock: 1000 },
    });
    expect(product.statusCode).toBe(201);
    productId = product.json().id;
    // 6 customers, each with 1 to 3 orders of the mug (and the 3rd one also of nothing else).
    for (let i = 0; i < 6; i++) {
      const { cookie } = await signUp(app, uniqueEmail(`reports${i}`));
      for (let k = 0; k <= i % 3; k++) {
        const order = await app.inject({
          method: 'POST',
          url: '/api/orders',
          headers: { cookie },
          payload: { items: [{ productId, quantity: 1 + k }] },
        });
        expect(order.statusCode).toBe(201);
      }
    }
  }, 300_000);

  afterAll(async () => {
    await setup?.app.close();
  });

  /** Every order of every user-data schema, straight from the tables. */
  async function allOrders() {
    const rows: { id: string; total_cents: string | number }[] = [];
    for (const schema of setup.schemas) {
      const found = await setup.app.shop.db.query<{ id: string; total_cents: string | number }>(
        `SELECT id::text, total_cents FROM ${schema}.orders`,
      );
      rows.push(...found.rows);
    }
    return rows;
  }

  async function report(url: string) {
    reads = 0;
    const response = await setup.app.inject({ method: 'GET', url, headers: { cookie: admin } });
    expect(response.statusCode).toBe(200);
    // One database: one statement, whatever the layout.
    expect(reads).toBe(1);
    const body = response.json();
    expect(body.partial).toBe(false);
    expect(body.missingShards).toEqual([]);
    return body;
  }

  test('orders containing a product, newest first, in pages that add up to every such order', async () => {
    const expected = (await allOrders()).map((o) => o.id).sort((a, b) => (a < b ? 1 : -1));
    expect(expected.length).toBe(12);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const body: { items: { id: string }[]; nextCursor: string | null } = await report(
        `/api/admin/orders?productId=${productId}&limit=5${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...body.items.map((item) => item.id));
      cursor = body.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual(expected);
  });

  test('sales per day: today holds every order and its total', async () => {
    const all = await allOrders();
    const today = new Date().toISOString().slice(0, 10);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const body = await report(`/api/admin/sales?from=${yesterday}&to=${today}`);
    const total = all.reduce((sum, o) => sum + Number(o.total_cents), 0);
    expect(body.totalCents).toBe(total);
    expect(body.orders).toBe(all.length);
    // Every day of the range is listed (an order placed just before midnight UTC counts for yesterday).
    expect(body.days.map((d: { day: string }) => d.day)).toEqual([yesterday, today]);
  });

  test('user search by email prefix and by name prefix', async () => {
    const byEmail = await report('/api/admin/users?q=REPORTS3&limit=10');
    expect(byEmail.items).toHaveLength(1);
    expect(byEmail.items[0].email).toMatch(/^reports3-/);
    const byName = await report('/api/admin/users?q=test%20us&limit=100');
    // Every sign-up of the support helper is named "Test User".
    expect(byName.items.length).toBe(7);
    expect(byName.nextCursor).toBeNull();
  });
});
