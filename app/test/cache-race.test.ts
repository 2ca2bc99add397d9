import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app';
import { signUp, signUpAdmin, testConfig } from './support/app';
import { createTestDatabase, type TestDatabase } from './support/postgres';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from './support/redis';

// A write path must never fill the cache: PATCH used to put its own copy of the row into the cache after the
// UPDATE, and an order committing in between was missing from that copy, which was still marked valid (the
// order's invalidation had already happened). Two instances on one Postgres database and one Redis prefix,
// real concurrency: a PATCH and four orders at once, many rounds; afterwards every instance must show the
// stock the database has.
//
// Instance A (where the PATCH runs) reaches Redis through a proxy that adds a few milliseconds each way, as a
// cache node in another availability zone would: that is what lets an order on B commit and invalidate while
// A's PATCH is between its UPDATE and its cache calls. Without the delay the race needs luck (the report saw
// it in 9 of 100 rounds over HTTP); with it, the old write-through showed stale stock in 9 of these 60 rounds.
let database: TestDatabase;
let redis: TestRedisPrefix;
let proxy: net.Server;
const sockets = new Set<net.Socket>();
const apps: FastifyInstance[] = [];
const adminEmail = 'race-admin@example.test';
const REDIS_DELAY_MS = 3;

/** A TCP proxy to the test Redis that delays every chunk by `delayMs` in each direction (order kept). */
async function startDelayingProxy(delayMs: number): Promise<string> {
  const target = new URL(TEST_REDIS_URL);
  proxy = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk) => setTimeout(() => upstream.write(chunk), delayMs));
    upstream.on('data', (chunk) => setTimeout(() => client.write(chunk), delayMs));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return `redis://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
}

async function instance(redisUrl: string): Promise<FastifyInstance> {
  const app = await buildApp({
    config: testConfig({
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: redis.prefix,
      SESSION_SECRET: 'a-session-secret-of-at-least-32-characters',
      ADMIN_EMAILS: adminEmail,
      DB_POOL_MAX: '20',
    }),
    logger: false,
  });
  apps.push(app);
  return app;
}

beforeAll(async () => {
  database = await createTestDatabase();
  redis = createTestRedisPrefix();
});

afterAll(async () => {
  for (const app of apps) await app.close();
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => proxy?.close(resolve));
  await redis.cleanup();
  await database.drop();
});

test('PATCH racing concurrent orders never leaves the cache showing stock the database does not have', async () => {
  const [a, b] = [await instance(await startDelayingProxy(REDIS_DELAY_MS)), await instance(TEST_REDIS_URL)];
  const admin = (await signUpAdmin(a, adminEmail)).cookie;
  const customers = [];
  for (let i = 0; i < 4; i++) customers.push((await signUp(b)).cookie);
  const created = await a.inject({
    method: 'POST',
    url: '/api/products',
    headers: { cookie: admin },
    payload: { sku: 'RACE-1', name: 'Contended kettle', priceCents: 1000, stock: 100_000 },
  });
  expect(created.statusCode).toBe(201);
  const { id } = created.json();
  const url = `/api/products/${id}`;
  const dbStock = async () =>
    (await a.shop.db.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [id])).rows[0]
      .stock;

  const mismatches: { round: number; database: number; a: number; b: number }[] = [];
  const ROUNDS = 60;
  const SPREAD_MS = 10;
  for (let round = 0; round < ROUNDS; round++) {
    // GIVEN the product cached on both instances (anonymous reads go through the shared cache)
    await a.inject({ method: 'GET', url });
    await b.inject({ method: 'GET', url });
    // WHEN an admin changes the price on A while four customers order on B, all at once
    const responses = await Promise.all([
      a.inject({ method: 'PATCH', url, headers: { cookie: admin }, payload: { priceCents: 1000 + round } }),
      // Orders start spread over a few milliseconds, so that some commit inside the PATCH's window.
      ...customers.map(async (cookie) => {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * SPREAD_MS));
        return b.inject({
          method: 'POST',
          url: '/api/orders',
          headers: { cookie },
          payload: { items: [{ productId: id, quantity: 1 }] },
        });
      }),
    ]);
    expect(responses.map((r) => r.statusCode)).toEqual([200, 201, 201, 201, 201]);
    // THEN both instances show what the database holds
    const stock = await dbStock();
    const shown = {
      a: (await a.inject({ method: 'GET', url })).json().stock,
      b: (await b.inject({ method: 'GET', url })).json().stock,
    };
    if (shown.a !== stock || shown.b !== stock) mismatches.push({ round, database: stock, ...shown });
  }
  expect(mismatches).toEqual([]);
  expect(await dbStock()).toBe(100_000 - ROUNDS * 4);
}, 120_000);
