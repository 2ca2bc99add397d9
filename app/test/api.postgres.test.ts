import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app';
import { testConfig } from './support/app';
import { createTestDatabase, TEST_PG_ADMIN_URL, type TestDatabase } from './support/postgres';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from './support/redis';
import { dropRoles, loginUrl, uniqueRoleName } from './support/roles';
import { describeShopApi } from './support/shop-api-cases';

// Real adapters: Postgres (own database) and Redis (own key prefix) for cache and sessions. As in production,
// the app logs in as a DML-only member of the app role; the owner (the server's superuser here) migrates.
let app: FastifyInstance;
let database: TestDatabase;
let redis: TestRedisPrefix;
const adminEmail = 'admin-postgres@example.test';
const appUser = uniqueRoleName('shop_app_api');

beforeAll(async () => {
  database = await createTestDatabase();
  redis = createTestRedisPrefix();
  app = await buildApp({
    config: testConfig({
      DATABASE_URL: loginUrl(database.url, appUser),
      MIGRATION_DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redis.prefix,
      ADMIN_EMAILS: adminEmail,
    }),
    logger: false,
  });
  expect(app.shop.db.kind).toBe('postgres');
  expect(app.shop.cache.store.kind).toBe('redis');
  const { rows } = await app.shop.db.query<{ user: string; owner: boolean }>(
    "SELECT current_user AS user, pg_has_role('shop_owner', 'MEMBER') AS owner",
  );
  expect(rows[0]).toEqual({ user: appUser, owner: false });
});

afterAll(async () => {
  await app?.close();
  await redis?.cleanup();
  await database?.drop();
  await dropRoles(TEST_PG_ADMIN_URL, [appUser]);
});

describeShopApi('real: Postgres, Redis cache and sessions', () => ({ app, adminEmail }));

test('sessions and cache entries live under the configured Redis prefix', async () => {
  const keys = await redis.keys();
  expect(keys.some((key) => key.startsWith(`${redis.prefix}sess:`))).toBe(true);
  expect(keys.some((key) => key.startsWith(`${redis.prefix}c:product:`))).toBe(true);
  expect((await app.inject({ method: 'GET', url: '/readyz' })).json().cache).toBe('ok');
});

test('a database failure is a 500 that names no internals, only the request id', async () => {
  // The owner's connection: the app role cannot rename a table (which is the point of it).
  const failing = await buildApp({
    config: testConfig({ DATABASE_URL: database.url, AUTO_MIGRATE: 'false' }),
    logger: false,
  });
  try {
    await failing.shop.db.query('ALTER TABLE products RENAME TO products_gone');
    const response = await failing.inject({ method: 'GET', url: '/api/products?limit=3&q=xyz' });
    expect(response.statusCode).toBe(500);
    const body = response.json();
    expect(body).toEqual({
      statusCode: 500,
      error: 'Internal Server Error',
      message: `something went wrong; quote request id ${response.headers['x-request-id']}`,
    });
    expect(response.body).not.toMatch(/products|relation|SELECT|at /);
  } finally {
    await failing.shop.db.query('ALTER TABLE products_gone RENAME TO products');
    await failing.close();
  }
});
