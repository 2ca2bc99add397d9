import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app';
import { metricValue, signUp, signUpAdmin, testConfig } from '../support/app';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from '../support/redis';
import { until } from '../support/wait';

// Two app instances (buildApp twice) on one real Postgres database and one Redis prefix, wired as in a
// deployment: outbox in the write's transaction, relay and Redis Streams consumer in each instance, eviction
// broadcast on Redis pub/sub, a first-level cache in each. The first-level TTL is a minute here, so an entry
// that goes away within the bound below was evicted by the event, not by its TTL.
const FIRST_LEVEL_TTL_MS = 60_000;
/** The bound on the invalidation delay in this test (the README's measured p99 is far below it). */
const DELAY_BOUND_MS = 2_000;

let database: TestDatabase;
let redis: TestRedisPrefix;
let a: FastifyInstance;
let b: FastifyInstance;
let admin: string;
let customer: string;
const adminEmail = 'admin-two-instances@example.test';

function instance() {
  return buildApp({
    config: testConfig({
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redis.prefix,
      ADMIN_EMAILS: adminEmail,
      FIRST_LEVEL_CACHE_TTL_MS: String(FIRST_LEVEL_TTL_MS),
      // One shared secret, as in a deployment, so either instance accepts either's session.
      SESSION_SECRET: 'two-instances-test-secret-of-at-least-32-chars',
    }),
    logger: false,
  });
}

beforeAll(async () => {
  database = await createTestDatabase();
  redis = createTestRedisPrefix();
  a = await instance();
  b = await instance();
  admin = (await signUpAdmin(a, adminEmail)).cookie;
  customer = (await signUp(a)).cookie;
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await redis?.cleanup();
  await database?.drop();
});

async function createProduct(sku: string, stock = 10): Promise<string> {
  const response = await a.inject({
    method: 'POST',
    url: '/api/products',
    headers: { cookie: admin },
    payload: { sku, name: `Product ${sku}`, description: 'two instances', priceCents: 1000, stock },
  });
  expect(response.statusCode).toBe(201);
  return response.json().id;
}

/** An anonymous read (no session, so no read-your-writes bypass): served through both cache levels. */
async function read(app: FastifyInstance, url: string) {
  const response = await app.inject({ method: 'GET', url });
  expect(response.statusCode).toBe(200);
  return response.json();
}

/**
 * Reads `url` on the instance until a read is answered by its first-level cache (a load that overlaps an
 * eviction, e.g. the event of the product's own creation arriving, is not kept, so the first may not stick).
 */
async function warm(app: FastifyInstance, url: string) {
  let value: unknown;
  await until(
    async () => {
      await read(app, url);
      const hits = await metricValue(app, 'first_level_cache_requests_total{result="hit"}');
      value = await read(app, url);
      return (await metricValue(app, 'first_level_cache_requests_total{result="hit"}')) === hits + 1;
    },
    `${url} to be kept in the first-level cache`,
    DELAY_BOUND_MS,
  );
  return value as { priceCents: number; stock: number; items: { id: string; priceCents: number }[] };
}

async function outboxRows(): Promise<{ tags: string[]; sent: boolean }[]> {
  const { rows } = await a.shop.db.query<{ tags: string[]; sent: boolean }>(
    'SELECT tags, sent_at IS NOT NULL AS sent FROM invalidation_outbox ORDER BY id',
  );
  return rows;
}

test('an update on A: the outbox row is committed with it, and neither A nor B serves the old price after the delay', async () => {
  const id = await createProduct('TWO-1');
  const url = `/api/products/${id}`;
  const list = '/api/products?limit=50';
  const listed = (page: { items: { id: string; priceCents: number }[] }) =>
    page.items.find((item) => item.id === id)?.priceCents;
  for (const app of [a, b]) {
    expect((await warm(app, url)).priceCents).toBe(1000);
    expect(listed(await warm(app, list))).toBe(1000);
  }
  // Only A consumes this event: B's first level can then only be evicted through the broadcast.
  await b.shop.invalidation.consumer.stop();
  const before = (await outboxRows()).length;

  const patch = await a.inject({
    method: 'PATCH',
    url,
    headers: { cookie: admin },
    payload: { priceCents: 1500 },
  });
  expect(patch.statusCode).toBe(200);
  const rows = await outboxRows();
  expect(rows.length).toBe(before + 1);
  expect(rows.at(-1)!.tags.sort()).toEqual(['catalog', `product:${id}`]);

  const fresh = async () =>
    (await read(a, url)).priceCents === 1500 &&
    (await read(b, url)).priceCents === 1500 &&
    listed(await read(a, list)) === 1500 &&
    listed(await read(b, list)) === 1500;
  await until(fresh, 'both instances to serve the new price', DELAY_BOUND_MS);
  // Every row was relayed and marked sent, and A applied the event (the delay metric counts it).
  await until(async () => (await outboxRows()).every((r) => r.sent), 'the outbox to drain', DELAY_BOUND_MS);
  expect(await metricValue(a, 'invalidation_delay_seconds_count')).toBeGreaterThanOrEqual(1);
  // And B keeps serving the new value (its first level refilled after the eviction, not with the old copy).
  expect((await read(b, url)).priceCents).toBe(1500);
  b.shop.invalidation.consumer.start();
});

test('an order on A takes stock: B stops serving the old stock after the delay; a refused order records no event', async () => {
  const id = await createProduct('TWO-2', 5);
  const url = `/api/products/${id}`;
  expect((await warm(b, url)).stock).toBe(5);
  const before = (await outboxRows()).length;

  const refused = await a.inject({
    method: 'POST',
    url: '/api/orders',
    headers: { cookie: customer },
    payload: { items: [{ productId: id, quantity: 6 }] },
  });
  expect(refused.statusCode).toBe(409);
  expect((await outboxRows()).length).toBe(before);

  const placed = await a.inject({
    method: 'POST',
    url: '/api/orders',
    headers: { cookie: customer },
    payload: { items: [{ productId: id, quantity: 2 }] },
  });
  expect(placed.statusCode).toBe(201);
  const rows = await outboxRows();
  expect(rows.length).toBe(before + 1);
  expect(rows.at(-1)!.tags.sort()).toEqual(['catalog', `product:${id}`]);
  await until(async () => (await read(b, url)).stock === 3, 'B to serve the new stock', DELAY_BOUND_MS);
});

test('a write that fails records no event (the outbox row rolls back with it)', async () => {
  const before = (await outboxRows()).length;
  const duplicate = await a.inject({
    method: 'POST',
    url: '/api/products',
    headers: { cookie: admin },
    payload: { sku: 'TWO-1', name: 'Duplicate', description: 'x', priceCents: 1, stock: 1 },
  });
  expect(duplicate.statusCode).toBe(409);
  expect((await outboxRows()).length).toBe(before);
});
