import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app';
import { seedCatalog } from '../../src/db/seed';
import { validateDomainEvent } from '../../src/events/event-validation';
import { withProductChanged } from '../../src/events/producers';
import { signUp, testConfig } from '../support/app';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from '../support/redis';
import { until } from '../support/wait';

// The monolith (SERVICE=all) on Postgres with the Redis Streams bus: producers, relay, both consumers in process.
let database: TestDatabase;
let redis: TestRedisPrefix;
let app: FastifyInstance;
let products: string[];

beforeAll(async () => {
  database = await createTestDatabase();
  redis = createTestRedisPrefix();
  app = await buildApp({
    config: testConfig({
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redis.prefix,
      EVENT_BUS: 'redis',
    }),
    logger: false,
  });
  expect(app.shop.config.events).toMatchObject({
    bus: 'redis',
    service: 'all',
    consumers: ['products', 'users'],
  });
  ({ ids: products } = await seedCatalog(app.shop.db.writer, 3));
});

afterAll(async () => {
  await app?.close();
  await redis?.cleanup();
  await database?.drop();
});

async function stockOf(id: string): Promise<number> {
  const { rows } = await app.shop.db.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [
    id,
  ]);
  return Number(rows[0].stock);
}

async function me(cookie: string): Promise<{ orderCount?: number }> {
  const response = await app.inject({ method: 'GET', url: '/api/me', headers: { cookie } });
  expect(response.statusCode).toBe(200);
  return response.json().user;
}

async function place(cookie: string, quantity = 2) {
  const response = await app.inject({
    method: 'POST',
    url: '/api/orders',
    headers: { cookie },
    payload: { items: [{ productId: products[0], quantity }] },
  });
  expect(response.statusCode).toBe(201);
  return response.json() as { id: string; status: string };
}

test('OrderPlaced reaches the users consumer: GET /api/me shows the order count', async () => {
  const { cookie, user } = await signUp(app);
  expect(await me(cookie)).toMatchObject({ orderCount: 0 });
  await place(cookie);
  await place(cookie);
  await until(async () => (await me(cookie)).orderCount === 2, 'the order count to reach 2');
  // Every event written is valid against its schema (the producer contract, on the real statements).
  const { rows } = await app.shop.db.query<{ type: string; envelope: unknown }>(
    `SELECT type, envelope FROM event_outbox WHERE envelope -> 'data' ->> 'userId' = $1 ORDER BY id`,
    [user.id],
  );
  expect(rows.map((r) => r.type)).toEqual(['UserRegistered', 'OrderPlaced', 'OrderPlaced']);
  for (const row of rows) expect(() => validateDomainEvent(row.envelope)).not.toThrow();
  // Metrics on the app's registry.
  const text = await app.shop.metrics.registry.metrics();
  expect(text).toMatch(/domain_events_handled_total\{type="OrderPlaced",outcome="applied"\} [1-9]/);
  expect(text).toMatch(/domain_event_delay_seconds_count\{type="OrderPlaced"\} [1-9]/);
  expect(text).toMatch(/domain_events_published_total\{type="UserRegistered"\} [1-9]/);
});

test('the owner cancels: 200, idempotent, stock released once by the products consumer', async () => {
  const { cookie } = await signUp(app);
  const before = await stockOf(products[0]);
  const order = await place(cookie, 3);
  expect(await stockOf(products[0])).toBe(before - 3);

  const first = await app.inject({
    method: 'POST',
    url: `/api/orders/${order.id}/cancel`,
    headers: { cookie },
  });
  expect(first.statusCode).toBe(200);
  expect(first.json()).toMatchObject({ id: order.id, status: 'cancelled' });
  await until(async () => (await stockOf(products[0])) === before, 'the stock to be released');

  const again = await app.inject({
    method: 'POST',
    url: `/api/orders/${order.id}/cancel`,
    headers: { cookie },
  });
  expect(again.statusCode).toBe(200);
  expect(again.json().status).toBe('cancelled');
  const { rows } = await app.shop.db.query<{ n: string }>(
    `SELECT count(*) AS n FROM event_outbox WHERE type = 'OrderCancelled' AND envelope -> 'data' ->> 'orderId' = $1`,
    [order.id],
  );
  expect(Number(rows[0].n)).toBe(1);
  // Nothing more is released: wait until the relay has nothing unsent and the stream is drained, then compare.
  await until(
    async () => (await app.shop.events!.relays.get('main')!.pending()) === 0,
    'the outbox to drain',
  );
  expect(await stockOf(products[0])).toBe(before);
});

test('cancel: 404 for an unknown or foreign order, 409 past the window, 401 without a session', async () => {
  const owner = await signUp(app);
  const other = await signUp(app);
  const order = await place(owner.cookie, 1);
  const foreign = await app.inject({
    method: 'POST',
    url: `/api/orders/${order.id}/cancel`,
    headers: { cookie: other.cookie },
  });
  expect(foreign.statusCode).toBe(404);
  const unknown = await app.inject({
    method: 'POST',
    url: '/api/orders/0190f5a4-7d3e-7c1a-9c1e-2b7f8a3c4d5e/cancel',
    headers: { cookie: owner.cookie },
  });
  expect(unknown.statusCode).toBe(404);
  const badId = await app.inject({
    method: 'POST',
    url: '/api/orders/nope/cancel',
    headers: { cookie: owner.cookie },
  });
  expect(badId.statusCode).toBe(400);
  expect((await app.inject({ method: 'POST', url: `/api/orders/${order.id}/cancel` })).statusCode).toBe(401);

  await app.shop.db.query("UPDATE orders SET created_at = now() - interval '2 days' WHERE id = $1", [
    order.id,
  ]);
  const late = await app.inject({
    method: 'POST',
    url: `/api/orders/${order.id}/cancel`,
    headers: { cookie: owner.cookie },
  });
  expect(late.statusCode).toBe(409);
  expect(late.json().message).toMatch(/can no longer be cancelled/);
  const { rows } = await app.shop.db.query<{ status: string }>('SELECT status FROM orders WHERE id = $1', [
    order.id,
  ]);
  expect(rows[0].status).toBe('placed');
});

test('ProductChanged is written with an admin change, in its transaction', async () => {
  // Written by the route's transaction; here through the same producer the route calls.
  const { rows: before } = await app.shop.db.query<{ n: string }>(
    "SELECT count(*) AS n FROM event_outbox WHERE type = 'ProductChanged'",
  );
  const product = await app.shop.db.transaction(async (tx) => {
    const p = await app.shop.catalog.update(tx, products[1], { priceCents: 1234 });
    return withProductChanged(tx, p!, 'updated');
  });
  const { rows } = await app.shop.db.query<{ envelope: { data: unknown } }>(
    "SELECT envelope FROM event_outbox WHERE type = 'ProductChanged' ORDER BY id DESC LIMIT 1",
  );
  const { rows: after } = await app.shop.db.query<{ n: string }>(
    "SELECT count(*) AS n FROM event_outbox WHERE type = 'ProductChanged'",
  );
  expect(Number(after[0].n)).toBe(Number(before[0].n) + 1);
  expect(rows[0].envelope.data).toMatchObject({ productId: product.id, change: 'updated', priceCents: 1234 });
  expect(() => validateDomainEvent(rows[0].envelope)).not.toThrow();
});
