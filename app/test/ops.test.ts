import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app';
import { until } from './support/wait';
import { metricValue, testConfig } from './support/app';
import { createTestDatabase, type TestDatabase } from './support/postgres';

let database: TestDatabase;
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  for (const app of apps) await app.close().catch(() => {});
  await database.drop();
});

test('Redis unreachable: the app starts, serves from the database, reports the cache as degraded and counts errors', async () => {
  const app = await buildApp({
    // Nothing listens on port 1: every cache call fails at once; sessions stay in process here.
    config: testConfig({
      DATABASE_URL: database.url,
      REDIS_URL: 'redis://127.0.0.1:1',
      SESSION_STORE: 'memory',
    }),
    logger: false,
  });
  apps.push(app);
  expect(app.shop.cache.store.kind).toBe('redis');

  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  expect(ready.statusCode).toBe(200);
  expect(ready.json()).toEqual({ status: 'ready', database: 'ok', cache: 'degraded' });

  // Three different pages: each misses the first-level cache in this process and so reaches Redis.
  for (let i = 1; i <= 3; i++) {
    const list = await app.inject({ method: 'GET', url: `/api/products?limit=${i}` });
    expect(list.statusCode).toBe(200);
  }
  // Log-in and sign-up refuse: their rate-limit counters live in Redis, and an unlimited log-in would be a
  // password oracle.
  const refused = await app.inject({
    method: 'POST',
    url: '/api/users',
    payload: { email: `no-limit-${Date.now()}@example.test`, password: 'password123', name: 'N' },
  });
  expect(refused.statusCode).toBe(503);
  expect(await metricValue(app, 'cache_requests_total{result="error"}')).toBeGreaterThanOrEqual(3);
  expect(await metricValue(app, 'cache_requests_total{result="hit"}')).toBe(0);
});

test('database unreachable: /readyz is 503 (the load balancer stops routing), /healthz stays ok', async () => {
  const app = await buildApp({ config: testConfig({ DATABASE_URL: database.url }), logger: false });
  apps.push(app);
  expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  await app.shop.db.close(); // as if the writer went away
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  expect(ready.statusCode).toBe(503);
  expect(ready.json()).toEqual({ status: 'unavailable', database: 'error', cache: 'memory' });
  expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  const products = await app.inject({ method: 'GET', url: '/api/products' });
  expect(products.statusCode).toBe(500);
  expect(products.json().message).not.toMatch(/pool|end/i);
});

test('the request latency histogram records each route by its pattern', async () => {
  const app = await buildApp({ config: testConfig({ DATABASE_URL: database.url }), logger: false });
  apps.push(app);
  await app.inject({ method: 'GET', url: '/api/products/01900000-0000-7000-8000-000000000000' });
  const count = await metricValue(
    app,
    'http_request_duration_seconds_count{method="GET",route="/api/products/:id",status_code="404"}',
  );
  expect(count).toBe(1);
  // The route's quantiles too (what CloudWatch receives as the per-route p99).
  expect(
    await metricValue(app, 'http_request_duration_quantile_seconds_count{route="/api/products/:id"}'),
  ).toBe(1);
  const p99 = await metricValue(
    app,
    'http_request_duration_quantile_seconds{quantile="0.99",route="/api/products/:id"}',
  );
  expect(p99).toBeGreaterThan(0);
  expect(p99).toBeLessThan(5);
});

test('session store unreachable: anonymous browsing works, session requests get a 503 that says why', async () => {
  const app = await buildApp({
    config: testConfig({
      DATABASE_URL: database.url,
      REDIS_URL: 'redis://127.0.0.1:1',
      CACHE_STORE: 'memory',
    }),
    logger: false,
  });
  apps.push(app);
  expect((await app.inject({ method: 'GET', url: '/api/products' })).statusCode).toBe(200);
  const signUp = await app.inject({
    method: 'POST',
    url: '/api/users',
    payload: { email: `no-redis-${Date.now()}@example.test`, password: 'password123', name: 'N' },
  });
  expect(signUp.statusCode).toBe(503);
  // The rate limit (also in Redis) refuses first; the session store would too, before any user is saved.
  expect(signUp.json()).toEqual({
    statusCode: 503,
    error: 'Service Unavailable',
    message: 'log-in and sign-up are unavailable right now; try again shortly',
  });
  await expect(app.shop.sessions.ensureAvailable()).rejects.toMatchObject({
    statusCode: 503,
    message: 'sessions are unavailable; try again shortly',
  });
});

test('CACHE_STORE=none turns caching off: every read reaches the database (the benchmark baseline)', async () => {
  const app = await buildApp({
    // The outbox relays' idle polls (every 500 ms by default) would be counted with the reads under a loaded CI.
    config: testConfig({ DATABASE_URL: database.url, CACHE_STORE: 'none', OUTBOX_POLL_MS: '60000' }),
    logger: false,
  });
  apps.push(app);
  expect((await app.inject({ method: 'GET', url: '/readyz' })).json().cache).toBe('none');
  // The relays run one batch right after start (then idle for the poll above): count from when it is done, i.e.
  // when the counter has stopped moving (unchanged over three 50 ms looks).
  let last = -1;
  let unchanged = 0;
  await until(async () => {
    const now = await metricValue(app, 'db_queries_total{pool="writer"}');
    unchanged = now === last ? unchanged + 1 : 0;
    last = now;
    if (unchanged < 3) await new Promise((resolve) => setTimeout(resolve, 50));
    return unchanged >= 3;
  }, "the relays' start-up batch");
  const before = await metricValue(app, 'db_queries_total{pool="writer"}');
  for (let i = 0; i < 3; i++)
    expect((await app.inject({ method: 'GET', url: '/api/products' })).statusCode).toBe(200);
  expect((await metricValue(app, 'db_queries_total{pool="writer"}')) - before).toBe(3);
  expect(await metricValue(app, 'cache_requests_total{result="miss"}')).toBe(3);
  expect(await metricValue(app, 'cache_requests_total{result="hit"}')).toBe(0);
});
