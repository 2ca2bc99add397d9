import type { FastifyInstance } from 'fastify';
import { Client } from 'pg';
import {
  startReplicatedPostgres,
  type ReplicatedPostgres,
} from '../../tools/local-topology/postgres-replication';
import { buildApp } from '../src/app';
import { metricValue, signUp, testConfig } from './support/app';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from './support/redis';

// A real streaming replica (initdb + pg_basebackup from the local Postgres 15 binaries). Two app instances
// share Redis sessions (the read-your-writes marker written by one is honoured by the other) and the Redis
// cache (an invalidation by one is seen by the other).
let pg: ReplicatedPostgres;
let redis: TestRedisPrefix;
const apps: FastifyInstance[] = [];
const adminEmail = 'ryw-admin@example.test';

async function instance(env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await buildApp({
    config: testConfig({
      DATABASE_URL: pg.primaryUrl,
      DATABASE_READER_URL: pg.replicaUrl,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redis.prefix,
      CACHE_STORE: 'redis',
      SESSION_STORE: 'redis',
      SESSION_SECRET: 'read-your-writes-secret-32-characters!',
      ADMIN_EMAILS: adminEmail,
      READ_YOUR_WRITES_WINDOW_MS: '60000',
      ...env,
    }),
    logger: false,
  });
  apps.push(app);
  return app;
}

async function onReplica<T>(sql: string, params: unknown[]): Promise<T[]> {
  const client = new Client({ connectionString: pg.replicaUrl });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

const counters = async (app: FastifyInstance) => ({
  writer: await metricValue(app, 'db_queries_total{pool="writer"}'),
  reader: await metricValue(app, 'db_queries_total{pool="reader"}'),
});

beforeAll(async () => {
  pg = await startReplicatedPostgres();
  redis = createTestRedisPrefix();
}, 120_000);

afterAll(async () => {
  for (const app of apps) await app.close();
  await redis?.cleanup();
  await pg?.stop();
});

test('the writing user reads its own write from the writer while others read the (stale) replica; after catch-up reads go back to the replica', async () => {
  const [a, b] = [await instance(), await instance()];
  expect(a.shop.db.hasReplica).toBe(true);

  // GIVEN a product with stock 10, two customers, and a replica that has caught up
  const admin = await signUp(a, adminEmail);
  const created = await a.inject({
    method: 'POST',
    url: '/api/products',
    headers: { cookie: admin.cookie },
    payload: { sku: 'RYW-1', name: 'Replicated Kettle', priceCents: 2500, stock: 10 },
  });
  expect(created.statusCode).toBe(201);
  const productId: string = created.json().id;
  const writer = await signUp(a);
  const other = await signUp(a);
  await pg.waitForCatchUp();
  // The first read after catch-up clears each user's marker (the replica has passed their sign-up).
  await b.inject({ method: 'GET', url: '/api/orders', headers: { cookie: writer.cookie } });
  await b.inject({ method: 'GET', url: '/api/orders', headers: { cookie: other.cookie } });

  // WHEN replay pauses on the replica and one user places an order through instance A
  await pg.pauseReplay();
  const placed = await a.inject({
    method: 'POST',
    url: '/api/orders',
    headers: { cookie: writer.cookie },
    payload: { items: [{ productId, quantity: 3 }] },
  });
  expect(placed.statusCode).toBe(201);
  const orderId: string = placed.json().id;
  // (the replica really is behind: it has neither the order nor the new stock)
  expect(await onReplica('SELECT id FROM orders WHERE id = $1', [orderId])).toEqual([]);
  expect(await onReplica('SELECT stock FROM products WHERE id = $1', [productId])).toEqual([{ stock: 10 }]);

  // THEN the writer sees its own order and the new stock, even through instance B (marker in the session)
  const before = await counters(b);
  const own = await b.inject({ method: 'GET', url: '/api/orders', headers: { cookie: writer.cookie } });
  expect(own.json().items.map((o: { id: string }) => o.id)).toEqual([orderId]);
  const ownView = await b.inject({
    method: 'GET',
    url: `/api/products/${productId}`,
    headers: { cookie: writer.cookie },
  });
  expect(ownView.json().stock).toBe(7);
  const after = await counters(b);
  expect(after.writer - before.writer).toBeGreaterThanOrEqual(3); // orders, order lines, product
  // ... while another user's read of the same product goes to the replica and is stale
  const othersView = await b.inject({
    method: 'GET',
    url: `/api/products/${productId}`,
    headers: { cookie: other.cookie },
  });
  expect(othersView.json().stock).toBe(10);
  expect((await counters(b)).writer).toBe(after.writer);

  // WHEN replay resumes and the replica catches up
  await pg.resumeReplay();
  await pg.waitForCatchUp();

  // THEN the writer's reads go back to the replica (no writer queries), and the replica has the order
  const resumed = await counters(b);
  const again = await b.inject({ method: 'GET', url: '/api/orders', headers: { cookie: writer.cookie } });
  expect(again.json().items.map((o: { id: string }) => o.id)).toEqual([orderId]);
  const end = await counters(b);
  expect(end.writer).toBe(resumed.writer);
  expect(end.reader - resumed.reader).toBeGreaterThanOrEqual(3); // lag check, orders, order lines
  const stillReplica = await counters(b);
  await b.inject({ method: 'GET', url: '/api/orders', headers: { cookie: writer.cookie } });
  expect((await counters(b)).writer).toBe(stillReplica.writer);

  // AND the stale stock the other user's read put in the cache while the replica lagged is invalidated
  // again once the replica replayed the order (not left for a whole TTL)
  let seen = 10;
  for (let i = 0; i < 40 && seen !== 7; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const view = await b.inject({
      method: 'GET',
      url: `/api/products/${productId}`,
      headers: { cookie: other.cookie },
    });
    seen = view.json().stock;
  }
  expect(seen).toBe(7);
  expect(a.shop.replicaInvalidation.pending).toBe(0);
});

test('the window is bounded: when the replica stays behind, reads return to it after READ_YOUR_WRITES_WINDOW_MS', async () => {
  const app = await instance({ READ_YOUR_WRITES_WINDOW_MS: '500' });
  const user = await signUp(app);
  const { rows } = await app.shop.db.query<{ id: string }>("SELECT id FROM products WHERE sku = 'RYW-1'");
  await pg.waitForCatchUp();
  await app.inject({ method: 'GET', url: '/api/orders', headers: { cookie: user.cookie } });

  await pg.pauseReplay();
  try {
    const placed = await app.inject({
      method: 'POST',
      url: '/api/orders',
      headers: { cookie: user.cookie },
      payload: { items: [{ productId: rows[0].id, quantity: 1 }] },
    });
    expect(placed.statusCode).toBe(201);
    const soon = await app.inject({ method: 'GET', url: '/api/orders', headers: { cookie: user.cookie } });
    expect(soon.json().items).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const later = await app.inject({ method: 'GET', url: '/api/orders', headers: { cookie: user.cookie } });
    expect(later.json().items).toHaveLength(0); // the replica, still paused
  } finally {
    await pg.resumeReplay();
  }
});
