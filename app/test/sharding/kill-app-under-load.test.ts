import type { FastifyInstance } from 'fastify';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { buildApp } from '../../src/app';
import { appEntryArgs } from '../../../tools/local-topology/app-entry';
import { ReservationReconciler } from '../../src/orders/reservation-reconciler';
import { shardSchema } from '../../src/sharding/logical-shard';
import { signUp, signUpAdmin, testConfig } from '../support/app';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from '../support/redis';
import { startTwoShards, type TwoShards } from '../support/shards';
import { until } from '../support/wait';
import { withClient } from '../support/postgres';

// Issue #11's proof at the level of the process: the real HTTP server (app/src/server.ts) on two shards,
// under a concurrent HTTP load of order placements, is SIGKILLed at random moments and restarted, three times.
// The reconciler's timeout (RESERVATION_TIMEOUT_SECONDS, at least 60 s) is longer than the test, so it runs the app's own ReservationReconciler
// with timeout 0 once the load has stopped and every connection of the killed servers has gone.
const repoRoot = path.resolve(__dirname, '../../..');
const adminEmail = 'kill-admin@example.test';
const KILLS = 3;
const WORKERS = 8;
let shards: TwoShards;
let redis: TestRedisPrefix;
let setup: FastifyInstance;
let server: ChildProcess | undefined;
let env: Record<string, string>;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

/** Spawns the shop server (app/src/server.ts, as app-entry.ts starts it) on `port` and waits until it listens. */
async function startServer(port: number): Promise<{ child: ChildProcess; exited: Promise<unknown> }> {
  // node itself, never the tsx CLI: the CLI runs the server in a child process, which a SIGKILL of the CLI
  // would not reach.
  const child = spawn(process.execPath, appEntryArgs('server'), {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server = child;
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await until(
    () => output.includes('shop listening') || child.exitCode !== null,
    'the server to listen',
    40_000,
  );
  expect(output).toContain('shop listening');
  return { child, exited };
}

beforeAll(async () => {
  shards = await startTwoShards();
  redis = createTestRedisPrefix();
  env = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    METRICS_PORT: '0',
    SEED_DEMO_DATA: 'false',
    DATABASE_URL: shards.shard0.url,
    SHARD_ENDPOINTS: shards.endpoints,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: redis.prefix,
    SESSION_SECRET: 'a session secret shared by every server of the test!',
    ADMIN_EMAILS: adminEmail,
    RATE_LIMIT_AUTH_MAX: '100000',
  };
  // The in-process instance migrates both shards, creates the products and users, and lends the test its
  // reconciler; its connections are named apart from the servers' ('shop').
  setup = await buildApp({ config: testConfig(env), logger: false, applicationName: 'kill-test-setup' });
  expect(setup.shop.userData.sharded).toBe(true);
}, 120_000);

afterAll(async () => {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  await setup?.close();
  await redis?.cleanup();
  await shards?.stop();
});

test(`${KILLS} SIGKILLs of the HTTP server under a concurrent order load: stock + ordered is conserved, every acknowledged order exists once with its confirmed reservation`, async () => {
  // GIVEN two products and 16 logged-in users spread over both shards
  const admin = (await signUpAdmin(setup, adminEmail)).cookie;
  const initial = new Map<string, number>();
  for (const stock of [5000, 5000]) {
    const created = await setup.inject({
      method: 'POST',
      url: '/api/products',
      headers: { cookie: admin },
      payload: { sku: `kill-${Date.now()}-${Math.random()}`, name: 'Kill mug', priceCents: 500, stock },
    });
    expect(created.statusCode).toBe(201);
    initial.set(created.json().id as string, stock);
  }
  const products = [...initial.keys()];
  const users = await Promise.all(Array.from({ length: 16 }, () => signUp(setup)));
  const shardIds = new Set(users.map(({ user }) => setup.shop.userData.forRead(user.id).shard.id));
  expect(shardIds).toEqual(new Set(['0', '1']));

  // AND the server running as its own process
  const port = await freePort();
  let current = await startServer(port);

  // WHEN 8 clients place orders (1 or 2 lines of 1 to 3) as fast as they can, retrying through the outages
  const acknowledged: { id: string; lines: Map<string, number> }[] = [];
  const statuses = new Map<number | string, number>();
  let stop = false;
  const worker = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const user = users[(w + i * WORKERS) % users.length];
      const lines = (i % 2 === 0 ? products : [products[(w + i) % 2]]).map((productId, k) => ({
        productId,
        quantity: 1 + ((w + i + k) % 3),
      }));
      try {
        const response = await fetch(`http://127.0.0.1:${port}/api/orders`, {
          method: 'POST',
          headers: { cookie: user.cookie, 'content-type': 'application/json' },
          body: JSON.stringify({ items: lines }),
        });
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const body = (await response.json()) as { id?: string };
        if (response.status === 201)
          acknowledged.push({ id: body.id!, lines: new Map(lines.map((l) => [l.productId, l.quantity])) });
      } catch {
        // The server died mid-request, or is not listening yet.
        statuses.set('network', (statuses.get('network') ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));

  // AND the server is SIGKILLed at a random moment of the load, then restarted on the same port, 3 times
  try {
    for (let kill = 0; kill < KILLS; kill++) {
      const before = acknowledged.length;
      await until(() => acknowledged.length >= before + 5, `orders to flow before kill ${kill + 1}`, 30_000);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 400)));
      current.child.kill('SIGKILL');
      await current.exited;
      expect(current.child.signalCode).toBe('SIGKILL');
      current = await startServer(port);
    }
    const beforeEnd = acknowledged.length;
    await until(() => acknowledged.length >= beforeEnd + 5, 'orders to flow after the last restart', 30_000);
  } finally {
    stop = true;
    await load;
  }
  current.child.kill('SIGKILL');
  await current.exited;
  // Every answer the server gave was a placement or a refusal (409 no stock, 503 shard busy), never an error
  expect([...statuses.keys()].filter((s) => ![201, 409, 503, 'network'].includes(s))).toEqual([]);

  // Statements the dead servers had sent still finish on the databases: settle only once every server
  // connection has gone (what the reconciler's 300 s timeout stands for in production).
  for (const [url, name] of [
    [shards.shard0.url, shards.shard0.name],
    [shards.shard1.url, shards.shard1.name],
  ]) {
    await until(
      () =>
        withClient(url, async (client) => {
          const { rows } = await client.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'shop' AND datname = $1",
            [name],
          );
          return rows[0].n === 0;
        }),
      "the killed servers' connections to close",
    );
  }

  // THEN the app's reconciler settles every reservation the kills left unconfirmed
  const reconciler = new ReservationReconciler(setup.shop.db, setup.shop.userData, {
    timeoutSeconds: 0,
    batch: 1000,
    tagsOf: (ids) => ids.map((id) => `product:${id}`),
  });
  await reconciler.runOnce();
  expect(await reconciler.runOnce()).toEqual({ confirmed: 0, released: 0, skipped: 0 });

  // AND no reservation is left unconfirmed
  const reservations = await withClient(shards.shard0.url, (client) =>
    client.query<{ order_id: string; product_id: string; quantity: number; confirmed: boolean }>(
      'SELECT order_id, product_id, quantity, confirmed_at IS NOT NULL AS confirmed FROM stock_reservations WHERE product_id = ANY($1::uuid[])',
      [products],
    ),
  );
  expect(reservations.rows.filter((row) => !row.confirmed)).toEqual([]);

  // AND every order line on either server (any schema) has exactly its confirmed reservation, and back
  const ordered = new Map<string, number>(); // `${order}/${product}` -> quantity
  const orderCount = new Map<string, number>(); // order id -> rows in orders, over all schemas and servers
  for (const url of [shards.shard0.url, shards.shard1.url]) {
    await withClient(url, async (client) => {
      const lines = Array.from(
        { length: 256 },
        (_, i) =>
          `SELECT order_id, product_id, quantity FROM ${shardSchema(i)}.order_items WHERE product_id = ANY($1::uuid[])`,
      );
      for (const row of (await client.query(lines.join(' UNION ALL '), [products])).rows)
        ordered.set(`${row.order_id}/${row.product_id}`, Number(row.quantity));
      const orders = Array.from({ length: 256 }, (_, i) => `SELECT id FROM ${shardSchema(i)}.orders`);
      for (const row of (await client.query(orders.join(' UNION ALL '))).rows)
        orderCount.set(row.id as string, (orderCount.get(row.id as string) ?? 0) + 1);
    });
  }
  const reserved = new Map(
    reservations.rows.map((row) => [`${row.order_id}/${row.product_id}`, Number(row.quantity)]),
  );
  expect(reserved).toEqual(ordered);

  // AND stock + ordered quantity is conserved, product by product
  const stock = await withClient(shards.shard0.url, (client) =>
    client.query<{ id: string; stock: number }>('SELECT id, stock FROM products WHERE id = ANY($1::uuid[])', [
      products,
    ]),
  );
  for (const { id, stock: left } of stock.rows) {
    const sold = [...ordered].filter(([key]) => key.endsWith(`/${id}`)).reduce((sum, [, q]) => sum + q, 0);
    expect({ id, total: left + sold }).toEqual({ id, total: initial.get(id) });
  }

  // AND every acknowledged (201) order exists exactly once, with its lines
  expect(new Set(acknowledged.map((a) => a.id)).size).toBe(acknowledged.length);
  for (const { id, lines } of acknowledged) {
    expect({ id, copies: orderCount.get(id) }).toEqual({ id, copies: 1 });
    for (const [productId, quantity] of lines)
      expect({ id, productId, quantity: ordered.get(`${id}/${productId}`) }).toEqual({
        id,
        productId,
        quantity,
      });
  }
  // The load did run through the kills: many orders acknowledged, requests lost to the kills
  expect(acknowledged.length).toBeGreaterThanOrEqual(5 * (KILLS + 1));
  expect(statuses.get('network') ?? 0).toBeGreaterThan(0);
}, 120_000);
