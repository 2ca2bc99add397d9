/**
 * The main test, through the app: two app instances (buildApp, HTTP via inject) on two real Postgres
 * servers with wal_level=logical, Redis for sessions and cache. Several clients place orders through the HTTP API
 * as users of one logical shard while the shard manager moves that logical shard to the other server; a third
 * instance starts in the middle of the move.
 */
import type { FastifyInstance } from 'fastify';
import { Client } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { buildApp } from '../../app/src/app';
import { logicalShard, shardSchema } from '../../app/src/sharding/logical-shard';
import { sessionCookie, signUp, signUpAdmin, testConfig } from '../../app/test/support/app';
import { loginUrl } from '../../app/test/support/roles';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from '../../app/test/support/redis';
import { until } from '../../app/test/support/wait';
import { startShardedPostgres, type ShardedPostgres } from '../local-topology/postgres-shards';
import { PgShardControl } from './control';
import { ShardMover, type MoveResult } from './move';
import { connect, leftovers } from './test-support';

let servers: ShardedPostgres;
let redis: TestRedisPrefix;
let instances: FastifyInstance[] = [];
let config: ReturnType<typeof testConfig>;
const appUser = 'shop_app_move';
const adminEmail = 'move-admin@example.test';
const password = 'correct horse battery';

beforeAll(async () => {
  servers = await startShardedPostgres({
    shards: 2,
    settings: {
      max_connections: '200',
      max_replication_slots: '10',
      max_wal_senders: '10',
      fsync: 'off',
      // Subscriber feedback every second, and apply workers started without the default 5 s back-off.
      wal_receiver_status_interval: '1',
      wal_retrieve_retry_interval: '200ms',
    },
  });
  redis = createTestRedisPrefix();
  config = testConfig({
    DATABASE_URL: loginUrl(servers.urls[0], appUser),
    MIGRATION_DATABASE_URL: servers.urls[0],
    SHARD_ENDPOINTS: JSON.stringify([
      { id: '1', url: loginUrl(servers.urls[1], appUser), migrationUrl: servers.urls[1] },
    ]),
    SHARD_MAP_REFRESH_MS: '200',
    SHARD_WRITE_WAIT_MS: '1500',
    RATE_LIMIT_AUTH_MAX: '100000',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: redis.prefix,
    ADMIN_EMAILS: adminEmail,
    SESSION_SECRET: 'a session secret shared by both instances!',
  });
  instances.push(await buildApp({ config, logger: false }));
  instances.push(await buildApp({ config, logger: false }));
}, 180_000);

afterAll(async () => {
  await Promise.allSettled(instances.map((app) => app.close()));
  instances = [];
  await redis?.cleanup();
  await servers?.stop();
});

async function onServer<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect(url);
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** One HTTP write's outcome, as the client saw it. */
interface Outcome {
  readonly status: number;
  readonly retryAfter?: string;
  readonly orderId?: string;
}

test('a logical shard moves while clients order through both instances: nothing lost or duplicated, readable, stock conserved, only 201 or 503 + Retry-After', async () => {
  const [a, b] = instances;
  // GIVEN a product with plenty of stock, created by an admin through the API
  const admin = await signUpAdmin(a, adminEmail);
  const initialStock = 1_000_000;
  const created = await a.inject({
    method: 'POST',
    url: '/api/products',
    headers: { cookie: admin.cookie },
    payload: { sku: 'move-mug', name: 'Moving mug', priceCents: 500, stock: initialStock },
  });
  expect(created.statusCode).toBe(201);
  const productId = created.json().id as string;

  // AND four users of one logical shard: the first signs up through the API; three more are given ids in the
  // same logical shard (rows made like the sign-up's, with its password hash) and log in through the API
  const first = await signUp(a);
  const logical = logicalShard(first.user.id);
  const schema = shardSchema(logical);
  const control = await connect(servers.urls[0]);
  const { rows: placed } = await control.query<{ shard_id: string }>(
    'SELECT shard_id FROM control.shard_map WHERE logical_shard = $1',
    [logical],
  );
  const from = placed[0].shard_id;
  const to = from === '0' ? '1' : '0';
  const fromUrl = servers.urls[Number(from)];
  const toUrl = servers.urls[Number(to)];
  const users = [{ id: first.user.id, email: first.email }];
  await onServer(fromUrl, async (source) => {
    for (let i = 1; i < 4; i++) {
      let id = uuidv7();
      while (logicalShard(id) !== logical) id = uuidv7();
      const email = `mover-${i}-${Date.now()}@example.test`;
      await control.query('INSERT INTO control.email_directory (email, user_id) VALUES ($1, $2)', [
        email,
        id,
      ]);
      await source.query(
        `INSERT INTO ${schema}.users (id, email, name, password_hash)
         SELECT $1, $2, 'Mover', password_hash FROM ${schema}.users WHERE id = $3`,
        [id, email, first.user.id],
      );
      users.push({ id, email });
    }
  });
  const sessions = await Promise.all(
    users.map(async (user) => {
      const login = await b.inject({
        method: 'POST',
        url: '/api/sessions',
        payload: { email: user.email, password },
      });
      expect(login.statusCode).toBe(200);
      return { ...user, cookie: sessionCookie(login) };
    }),
  );

  // WHEN 8 clients (2 per user) order in a loop, each request going to one instance or the other,
  const outcomes: Outcome[] = [];
  const acknowledged = new Map<string, { userId: string; quantity: number }>();
  let stop = false;
  const client = async (index: number) => {
    const user = sessions[index % sessions.length];
    for (let n = 0; !stop; n++) {
      const quantity = 1 + ((index + n) % 3);
      const response = await instances[(index + n) % 2].inject({
        method: 'POST',
        url: '/api/orders',
        headers: { cookie: user.cookie },
        payload: { items: [{ productId, quantity }] },
      });
      const retryAfter = response.headers['retry-after'];
      const outcome: Outcome = {
        status: response.statusCode,
        ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
        ...(response.statusCode === 201 ? { orderId: response.json().id as string } : {}),
      };
      outcomes.push(outcome);
      if (outcome.orderId) acknowledged.set(outcome.orderId, { userId: user.id, quantity });
      // A client told to retry later waits a little (shorter than Retry-After, to keep the pressure on).
      if (response.statusCode === 503) await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const load = Promise.all(Array.from({ length: 8 }, (_, i) => client(i)));
  await until(() => acknowledged.size >= 40, 'the load to place its first orders', 30_000);

  // AND the shard manager moves the logical shard to the other server meanwhile
  const mover = new ShardMover({
    control: new PgShardControl(control),
    shards: servers.urls.map((url, i) => ({ id: String(i), url, replicationUrl: url })),
    connect: (shard) => connect(shard.url),
    // Longer than SHARD_MAP_REFRESH_MS (200): every instance reads the new place before the source is emptied.
    rollbackWindowMs: 1000,
    fenceTimeoutMs: 5000,
    // The instances' SHARD_MAP_REFRESH_MS: the fence waits for both to see it before the REVOKE.
    mapRefreshMs: 200,
    // With the copy done, the manager holds the migration lock on both servers: a third instance starting now
    // (AUTO_MIGRATE, nothing pending) must start without waiting for the move.
    afterStep: async (step) => {
      if (step !== 'synced') return;
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([
        buildApp({ config, logger: false }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error('an instance starting during the move waited 30 s')),
            30_000,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      lateStarted = true;
      await late.close();
    },
  });
  let lateStarted = false;
  let result: MoveResult;
  try {
    result = await mover.move(logical, to);
  } finally {
    await mover.close();
  }
  const afterMove = acknowledged.size;
  // AND the clients keep ordering on the new shard for a while
  await until(() => acknowledged.size >= afterMove + 40, 'orders placed after the move', 30_000);
  stop = true;
  await load;

  // THEN the move completed, with a short fence
  expect(result).toMatchObject({ logicalShard: logical, from, to });
  expect(lateStarted).toBe(true);
  expect(result.fenceMs).toBeLessThan(5000);
  const { rows: entry } = await control.query(
    'SELECT shard_id, state FROM control.shard_map WHERE logical_shard = $1',
    [logical],
  );
  expect(entry).toEqual([{ shard_id: to, state: 'active' }]);

  // AND every write saw 201 or a 503 with Retry-After, never anything else (no 500)
  const statuses = new Map<number, number>();
  for (const o of outcomes) statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
  expect([...statuses.keys()].filter((s) => s !== 201 && s !== 503)).toEqual([]);
  expect(outcomes.filter((o) => o.status === 503 && !/^\d+$/.test(o.retryAfter ?? ''))).toEqual([]);
  process.stdout.write(
    `move of ${schema} (shard ${from} -> ${to}) under load: ${outcomes.length} writes, ` +
      `${JSON.stringify(Object.fromEntries(statuses))}, fence ${result.fenceMs} ms\n`,
  );

  // AND the database holds exactly the acknowledged orders, each once, all on the new shard, with their lines
  const ids = sessions.map((s) => s.id);
  const stored = async (url: string) =>
    onServer(url, async (db) => {
      const { rows } = await db.query<{ id: string; user_id: string; quantity: number }>(
        `SELECT o.id, o.user_id, sum(i.quantity)::int AS quantity FROM ${schema}.orders o
         LEFT JOIN ${schema}.order_items i ON i.order_id = o.id
         WHERE o.user_id = ANY($1::uuid[]) GROUP BY o.id, o.user_id`,
        [ids],
      );
      return rows;
    });
  const [onTarget, onSource] = await Promise.all([stored(toUrl), stored(fromUrl)]);
  expect(onSource).toEqual([]);
  expect(onTarget).toHaveLength(acknowledged.size);
  expect(new Map(onTarget.map((row) => [row.id, { userId: row.user_id, quantity: row.quantity }]))).toEqual(
    acknowledged,
  );

  // AND every order is readable through the API (both instances), from its new shard
  const byUser = new Map(sessions.map((s) => [s.id, s.cookie]));
  let read = 0;
  for (const [orderId, { userId }] of acknowledged) {
    const response = await instances[read++ % 2].inject({
      method: 'GET',
      url: `/api/orders/${orderId}`,
      headers: { cookie: byUser.get(userId)! },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().id).toBe(orderId);
  }
  for (const instance of instances) expect(instance.shop.userData.forRead(first.user.id).shard.id).toBe(to);

  // AND stock is conserved: what is left in the catalog plus what every order holds (all schemas, both servers)
  const { rows: stock } = await control.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [
    productId,
  ]);
  let ordered = 0;
  for (const url of servers.urls) {
    ordered += await onServer(url, async (db) => {
      const union = Array.from(
        { length: 256 },
        (_, i) => `SELECT quantity FROM ${shardSchema(i)}.order_items WHERE product_id = $1`,
      ).join(' UNION ALL ');
      const { rows } = await db.query<{ n: number }>(
        `SELECT coalesce(sum(quantity), 0)::int AS n FROM (${union}) q`,
        [productId],
      );
      return rows[0].n;
    });
  }
  expect(ordered).toBe([...acknowledged.values()].reduce((sum, o) => sum + o.quantity, 0));
  expect(Number(stock[0].stock) + ordered).toBe(initialStock);
  // No reservation is left unconfirmed (a 503 gave its stock back).
  const { rows: open } = await control.query(
    'SELECT count(*)::int AS n FROM stock_reservations WHERE product_id = $1 AND confirmed_at IS NULL',
    [productId],
  );
  expect(open).toEqual([{ n: 0 }]);

  // AND nothing of the move is left behind
  for (const url of servers.urls) expect(await leftovers(url)).toEqual([]);
  await control.end();
}, 240_000);
