import type { FastifyInstance } from 'fastify';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { buildApp } from '../../src/app';
import { CrossDatabaseOrderPlacement, orderCertainlyNotWritten } from '../../src/orders/order-placement';
import type { SqlExecutor } from '../../src/db/database';
import type { OrderRepository } from '../../src/repositories/order-repository';
import { loadShardMap, ShardMapCache, ShardUnavailableError } from '../../src/sharding/shard-map';
import { UserAccounts } from '../../src/sharding/user-accounts';
import { UserDataRouter } from '../../src/sharding/user-data-router';
import { ReservationReconciler } from '../../src/orders/reservation-reconciler';
import { loadConfig, type AppConfig } from '../../src/config';
import { logicalShard, shardSchema } from '../../src/sharding/logical-shard';
import { loadShardLayoutMigrations } from '../../src/sharding/shard-migrations';
import { sessionCookie, signUp, signUpAdmin, testConfig, uniqueEmail } from '../support/app';
import { createTestDatabase, TEST_PG_ADMIN_URL, withClient } from '../support/postgres';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from '../support/redis';
import { dropRoles, loginUrl, uniqueRoleName } from '../support/roles';
import { startTwoShards, type TwoShards } from '../support/shards';
import { describeShopApi } from '../support/shop-api-cases';
import { until } from '../support/wait';
import {
  createJourneyKettlesThrough,
  launchChromium,
  openWatchedPage,
  shopperJourney,
} from '../e2e/storefront-browser';

// The shop on two physical shards on two real PostgreSQL servers (the test server and a private one), as in
// stage 100k: the app logs in as a DML-only member of the app role on both, the owner migrates both. The
// HTTP contract suite runs here unchanged, and the storefront's shopper journey in headless Chromium
// (app/test/e2e/storefront-browser.ts, the storefront test's); the tests below are what sharding adds.
let shards: TwoShards;
let redis: TestRedisPrefix;
let config: AppConfig;
let app: FastifyInstance;
let other: FastifyInstance;
const repoRoot = path.resolve(__dirname, '../../..');
const crashWorker = path.join(__dirname, 'fixtures/placement-crash-worker.ts');
const adminEmail = 'admin-sharded@example.test';
const shardAdminEmail = 'shard-admin@example.test';
let shardAdmin: string;
const appUser = uniqueRoleName('shop_app_shards');

/**
 * The statements each shard received while `fn` ran, by shard id. Every executor of every shard records its
 * statements; the instance's background work (outbox relays, the shard map's epoch check) is left out by its
 * tables, so what remains is the request's own work.
 */
let recording: Map<string, string[]> | undefined;
const BACKGROUND = /invalidation_outbox|control\.shard_map/;
function recordQueries(instance: FastifyInstance): void {
  for (const shard of instance.shop.userData.shards.values()) {
    for (const executor of new Set([shard.db.writer, shard.db.reader])) {
      const query = executor.query.bind(executor);
      executor.query = (text: string, params?: unknown[]) => {
        if (recording && !BACKGROUND.test(text))
          recording.set(shard.id, [...(recording.get(shard.id) ?? []), text]);
        return query(text, params);
      };
    }
  }
}
async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; perShard: Record<string, number> }> {
  recording = new Map();
  try {
    const result = await fn();
    return { result, perShard: Object.fromEntries([...recording].map(([id, texts]) => [id, texts.length])) };
  } finally {
    recording = undefined;
  }
}

/** Which shard the map gives a user's logical shard (read as the owner, straight from the control schema). */
async function shardOfUser(userId: string): Promise<string> {
  return withClient(shards.shard0.url, async (client) => {
    const { rows } = await client.query('SELECT shard_id FROM control.shard_map WHERE logical_shard = $1', [
      logicalShard(userId),
    ]);
    return rows[0].shard_id as string;
  });
}

/** Signs users up until one lands on `shardId`. */
async function userOn(shardId: string): Promise<Awaited<ReturnType<typeof signUp>>> {
  for (let i = 0; i < 50; i++) {
    const user = await signUp(app);
    if ((await shardOfUser(user.user.id)) === shardId) return user;
  }
  throw new Error(`no user landed on shard ${shardId} in 50 sign-ups`);
}

beforeAll(async () => {
  shards = await startTwoShards();
  redis = createTestRedisPrefix();
  config = testConfig({
    DATABASE_URL: loginUrl(shards.shard0.url, appUser),
    MIGRATION_DATABASE_URL: shards.shard0.url,
    SHARD_ENDPOINTS: JSON.stringify([
      { id: '1', url: loginUrl(shards.shard1.url, appUser), migrationUrl: shards.shard1.url },
    ]),
    SHARD_MAP_REFRESH_MS: '200',
    SHARD_WRITE_WAIT_MS: '1500',
    RATE_LIMIT_AUTH_MAX: '100000',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: redis.prefix,
    ADMIN_EMAILS: `${adminEmail},${shardAdminEmail}`,
    SESSION_SECRET: 'a session secret shared by both instances!',
  });
  app = await buildApp({ config, logger: false });
  recordQueries(app);
  expect(app.shop.userData.sharded).toBe(true);
  expect([...app.shop.userData.shards.keys()]).toEqual(['0', '1']);
}, 180_000);

afterAll(async () => {
  await app?.close();
  await other?.close();
  await redis?.cleanup();
  await shards?.stop();
  await dropRoles(TEST_PG_ADMIN_URL, [appUser]);
});

describeShopApi('2 shards: Postgres on two servers, Redis cache and sessions', () => ({ app, adminEmail }));

describe('storefront on 2 shards', () => {
  test("the shopper's journey in a browser: the page, the API and the user's rows on their shard agree", async () => {
    // GIVEN the journey's two kettles (the only products matching "kettle"), and the app listening
    const login = await app.inject({
      method: 'POST',
      url: '/api/sessions',
      payload: { email: adminEmail, password: 'correct horse battery' },
    });
    const adminCookie =
      login.statusCode === 200 ? sessionCookie(login) : (await signUpAdmin(app, adminEmail)).cookie;
    const products = await createJourneyKettlesThrough(app, adminCookie);
    const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' });
    const browser = await launchChromium();
    try {
      const watched = await openWatchedPage(browser, baseUrl, {});
      try {
        // WHEN a shopper searches, fills the cart, signs up, logs out and in, orders and sees the order
        // (THEN the page, the API and the database agree, the user's rows found through the app's router)
        await shopperJourney(watched.page, {
          baseUrl,
          products,
          app,
          password: 'correct horse battery staple',
        });
      } finally {
        await watched.context.close();
      }
      // AND nothing went wrong in the page (no script error, no CSP violation, no broken asset)
      expect(watched.problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

describe('sharded layout', () => {
  // A second instance on the same shards and Redis; started after the contract suite, whose invalidation
  // checks need the app to be the only consumer of its queue.
  beforeAll(async () => {
    other = await buildApp({ config, logger: false });
    shardAdmin = (await signUpAdmin(app, shardAdminEmail)).cookie;
  });
  test('the first start spread the logical shards over both shards and recorded N and the endpoints', async () => {
    await withClient(shards.shard0.url, async (client) => {
      const { rows } = await client.query(
        'SELECT shard_id, count(*)::int AS n, min(logical_shard) AS lo, max(logical_shard) AS hi FROM control.shard_map GROUP BY 1 ORDER BY 1',
      );
      expect(rows).toEqual([
        { shard_id: '0', n: 128, lo: 0, hi: 127 },
        { shard_id: '1', n: 128, lo: 128, hi: 255 },
      ]);
      const settings = await client.query("SELECT value FROM control.settings WHERE key = 'logical_shards'");
      expect(settings.rows).toEqual([{ value: '256' }]);
      const endpoints = await client.query('SELECT shard_id, writer FROM control.shards ORDER BY 1');
      expect(endpoints.rows.map((row) => row.shard_id)).toEqual(['0', '1']);
      // No credentials in the control schema.
      expect(JSON.stringify(endpoints.rows)).not.toContain(appUser + '@');
    });
  });

  test("a user's rows live in their logical shard's schema on the shard the map gives, and nowhere else", async () => {
    const users = await Promise.all(Array.from({ length: 12 }, () => signUp(app)));
    const landed = new Set<string>();
    for (const { user } of users) {
      const shardId = await shardOfUser(user.id);
      landed.add(shardId);
      const schema = shardSchema(logicalShard(user.id));
      const counts = await Promise.all(
        [shards.shard0.url, shards.shard1.url].map((url) =>
          withClient(url, async (client) => {
            const { rows } = await client.query(
              `SELECT count(*)::int AS n FROM ${schema}.users WHERE id = $1`,
              [user.id],
            );
            return rows[0].n as number;
          }),
        ),
      );
      expect(counts).toEqual(shardId === '0' ? [1, 0] : [0, 1]);
    }
    // 12 random users on two halves of the map: both shards hold some (1 in 2^11 that they do not).
    expect(landed).toEqual(new Set(['0', '1']));
  });

  test.each(['0', '1'])(
    'single-user requests of a user on shard %s touch exactly that shard',
    async (shardId) => {
      const user = await userOn(shardId);
      const headers = { cookie: user.cookie };
      const me = await counted(() => app.inject({ method: 'GET', url: '/api/me', headers }));
      expect(me.result.statusCode).toBe(200);
      expect(me.perShard).toEqual({ [shardId]: 1 });
      const list = await counted(() => app.inject({ method: 'GET', url: '/api/orders', headers }));
      expect(list.result.statusCode).toBe(200);
      expect(Object.keys(list.perShard)).toEqual([shardId]);
      const missing = await counted(() =>
        app.inject({ method: 'GET', url: '/api/orders/01900000-0000-7000-8000-000000000000', headers }),
      );
      expect(missing.result.statusCode).toBe(404);
      expect(Object.keys(missing.perShard)).toEqual([shardId]);
    },
  );

  test('concurrent sign-ups of one email on two instances: exactly one account, on one shard', async () => {
    for (let round = 0; round < 8; round++) {
      const email = uniqueEmail('race');
      const responses = await Promise.all(
        [app, other].map((instance) =>
          instance.inject({
            method: 'POST',
            url: '/api/users',
            payload: { email, password: 'correct horse battery', name: `Racer ${round}` },
          }),
        ),
      );
      expect(responses.map((r) => r.statusCode).sort()).toEqual([201, 409]);
      const winner = responses.find((r) => r.statusCode === 201)!.json().user;
      // One directory entry, one user row in all 256 schemas of both servers together.
      const rows = await Promise.all(
        [shards.shard0.url, shards.shard1.url].map((url) =>
          withClient(url, async (client) => {
            const union = Array.from(
              { length: 256 },
              (_, i) => `SELECT id FROM ${shardSchema(i)}.users WHERE email = $1`,
            );
            const { rows: found } = await client.query(union.join(' UNION ALL '), [email]);
            return found.map((row) => row.id as string);
          }),
        ),
      );
      expect(rows.flat()).toEqual([winner.id]);
      const directory = await withClient(shards.shard0.url, (client) =>
        client.query('SELECT user_id FROM control.email_directory WHERE email = $1', [email]),
      );
      expect(directory.rows).toEqual([{ user_id: winner.id }]);
      // And the account works on the other instance.
      const login = await other.inject({
        method: 'POST',
        url: '/api/sessions',
        payload: { email, password: 'correct horse battery' },
      });
      expect(login.statusCode).toBe(200);
    }
  });

  test('an email claim left by a sign-up that died before creating its user is taken over once stale, not before', async () => {
    const email = uniqueEmail('orphan');
    const signUpWith = () =>
      app.inject({
        method: 'POST',
        url: '/api/users',
        payload: { email, password: 'correct horse battery', name: 'Late' },
      });
    // GIVEN a claim whose user was never created (the process died between the two steps)
    const claim = (age: string) =>
      withClient(shards.shard0.url, (client) =>
        client.query(
          `INSERT INTO control.email_directory (email, user_id, created_at) VALUES ($1, $2, now() - $3::interval)
           ON CONFLICT (email) DO UPDATE SET created_at = excluded.created_at`,
          [email, uuidv7(), age],
        ),
      );
    await claim('5 seconds');
    // THEN while it may still be a sign-up in progress, the email is taken
    expect((await signUpWith()).statusCode).toBe(409);
    // AND once stale, a new sign-up takes it over
    await claim('2 minutes');
    const response = await signUpWith();
    expect(response.statusCode).toBe(201);
    const directory = await withClient(shards.shard0.url, (client) =>
      client.query('SELECT user_id FROM control.email_directory WHERE email = $1', [email]),
    );
    expect(directory.rows).toEqual([{ user_id: response.json().user.id }]);
  });

  /** Sets a logical shard's state in the map (epoch + 1), as the shard manager does. */
  const setLogicalState = (logical: number, state: 'active' | 'moving' | 'fenced') =>
    withClient(shards.shard0.url, (client) =>
      client.query(
        `UPDATE control.shard_map SET state = $2, epoch = (SELECT max(epoch) + 1 FROM control.shard_map)
         WHERE logical_shard = $1`,
        [logical, state],
      ),
    );

  /**
   * A router over the app's shards whose map is stale: one version old, with `logical` still on `shardId` (as an
   * instance that has not yet seen a move's flip). It is not started, so only an explicit check refreshes it.
   */
  async function staleRouter(logical: number, shardId: string): Promise<UserDataRouter> {
    const control = app.shop.userData.shard0.db.writer;
    const real = await loadShardMap(control);
    const entries = real.entries.map((e) => (e.logicalShard === logical ? { ...e, shardId } : e));
    const map = new ShardMapCache(control, { ...real, entries, epoch: real.epoch - 1 }, () => {}, {
      refreshMs: 60_000,
      writeWaitMs: 0,
    });
    expect(map.entry(logical).shardId).toBe(shardId);
    return UserDataRouter.sharded(
      [...app.shop.userData.shards.values()],
      map,
      app.shop.userData.logicalShards!,
    );
  }

  test('the email-claim takeover is not decided on a stale map: the holder is found on its real shard (409)', async () => {
    // GIVEN a user on shard 1 whose directory claim is old, and an instance whose map still puts the user's
    // logical shard on shard 0
    const holder = await userOn('1');
    await withClient(shards.shard0.url, (client) =>
      client.query(
        "UPDATE control.email_directory SET created_at = now() - interval '2 minutes' WHERE user_id = $1",
        [holder.user.id],
      ),
    );
    const accounts = new UserAccounts(await staleRouter(logicalShard(holder.user.id), '0'), app.shop.users);
    // WHEN a sign-up with the same email runs there
    const failure = await accounts
      .create({ email: holder.email, name: 'Usurper', passwordHash: 'x', role: 'customer' })
      .catch((err: unknown) => err);
    // THEN the map was checked first, the holder found on shard 1: the email is taken, the claim unchanged
    expect(failure).toMatchObject({ statusCode: 409 });
    const directory = await withClient(shards.shard0.url, (client) =>
      client.query('SELECT user_id FROM control.email_directory WHERE email = $1', [holder.email]),
    );
    expect(directory.rows).toEqual([{ user_id: holder.user.id }]);
  });

  test("the email-claim takeover waits while the holder's logical shard is moving: 503, the claim kept", async () => {
    // GIVEN a stale claim whose user was never created, in a logical shard that is being moved
    const email = uniqueEmail('moving-claim');
    const holderId = uuidv7();
    await withClient(shards.shard0.url, (client) =>
      client.query(
        "INSERT INTO control.email_directory (email, user_id, created_at) VALUES ($1, $2, now() - interval '2 minutes')",
        [email, holderId],
      ),
    );
    const signUpWith = () =>
      app.inject({
        method: 'POST',
        url: '/api/users',
        payload: { email, password: 'correct horse battery', name: 'Later' },
      });
    await setLogicalState(logicalShard(holderId), 'moving');
    try {
      // WHEN a sign-up wants the email
      const response = await signUpWith();
      // THEN it is told to retry, and the claim is not taken over on a shard whose data is changing place
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBeDefined();
      const directory = await withClient(shards.shard0.url, (client) =>
        client.query('SELECT user_id FROM control.email_directory WHERE email = $1', [email]),
      );
      expect(directory.rows).toEqual([{ user_id: holderId }]);
    } finally {
      await setLogicalState(logicalShard(holderId), 'active');
    }
    // AND once it is active again, the stale claim is taken over
    expect((await signUpWith()).statusCode).toBe(201);
  });

  test('a fenced logical shard: the change reaches every instance within the refresh bound; writes wait, then 503 with Retry-After, and nothing is written', async () => {
    const user = await userOn('1');
    const logical = logicalShard(user.user.id);
    const bump = (state: string) =>
      withClient(shards.shard0.url, (client) =>
        client.query(
          `UPDATE control.shard_map SET state = $2, epoch = (SELECT max(epoch) + 1 FROM control.shard_map)
           WHERE logical_shard = $1 RETURNING epoch`,
          [logical, state],
        ),
      );
    const { rows } = await bump('fenced');
    // Everything after the fence runs under try/finally: a failure cannot leave the logical shard fenced for the
    // tests that follow.
    try {
      const epoch = Number(rows[0].epoch);
      const flipped = Date.now();
      await until(
        () => app.shop.userData.map!.epoch === epoch && other.shop.userData.map!.epoch === epoch,
        'both instances to load the new epoch',
      );
      // SHARD_MAP_REFRESH_MS=200, plus a query and timer slack on a loaded machine.
      expect(Date.now() - flipped).toBeLessThan(200 + 800);
      const started = Date.now();
      const response = await app.inject({
        method: 'POST',
        url: '/api/orders',
        headers: { cookie: user.cookie },
        payload: { items: [{ productId: '01900000-0000-7000-8000-000000000001', quantity: 1 }] },
      });
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('1');
      expect(response.json().message).toMatch(/being moved/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
      // Reads still work while it is fenced.
      const me = await app.inject({ method: 'GET', url: '/api/me', headers: { cookie: user.cookie } });
      expect(me.statusCode).toBe(200);
      // A sign-up that lands on a fenced logical shard leaves no directory claim behind (checked in
      // UserAccounts before the claim); and no order rows were written on either shard.
      const orders = await withClient(shards.shard1.url, (client) =>
        client.query(`SELECT count(*)::int AS n FROM ${shardSchema(logical)}.orders WHERE user_id = $1`, [
          user.user.id,
        ]),
      );
      expect(orders.rows[0].n).toBe(0);
    } finally {
      await bump('active');
    }
    // Back to active: the write goes through again once the instance has the new epoch.
    await until(() => app.shop.userData.map!.entry(logical).state === 'active', 'the shard to be active');
    const ok = await app.inject({
      method: 'POST',
      url: '/api/orders',
      headers: { cookie: user.cookie },
      payload: { items: [{ productId: '01900000-0000-7000-8000-000000000001', quantity: 1 }] },
    });
    expect(ok.statusCode).toBe(400); // unknown product: the request reached the catalog
  });

  test('a write waiting on a moving logical shard proceeds when it becomes active within the wait', async () => {
    const user = await userOn('0');
    const logical = logicalShard(user.user.id);
    const map = app.shop.userData.map!;
    await setLogicalState(logical, 'moving');
    try {
      await until(() => map.entry(logical).state === 'moving', 'the move to be seen');
      // Reads are served from where the logical shard is while it moves.
      const me = await app.inject({ method: 'GET', url: '/api/me', headers: { cookie: user.cookie } });
      expect(me.statusCode).toBe(200);
      // The write waits: still pending after the map was checked three more times (each check still says moving)
      const checks = jest.spyOn(map, 'check');
      let stateWhenResolved: string | undefined;
      const waiting = app.shop.userData.forWrite(user.user.id).then((place) => {
        stateWhenResolved = map.entry(logical).state;
        return place;
      });
      try {
        await until(() => checks.mock.calls.length >= 3, 'three checks of the map');
      } finally {
        checks.mockRestore();
      }
      expect(stateWhenResolved).toBeUndefined();
      // ... and proceeds once the logical shard is active again, within the wait
      await setLogicalState(logical, 'active');
      await expect(waiting).resolves.toMatchObject({ schema: shardSchema(logical) });
      expect(stateWhenResolved).toBe('active');
    } finally {
      await setLogicalState(logical, 'active');
    }
  });

  /** A new product with `stock`, created by the admin through the API. */
  async function createProduct(stock: number): Promise<string> {
    const product = await app.inject({
      method: 'POST',
      url: '/api/products',
      headers: { cookie: shardAdmin },
      payload: { sku: `shard-${Date.now()}-${Math.random()}`, name: 'Sharded mug', priceCents: 700, stock },
    });
    expect(product.statusCode).toBe(201);
    return product.json().id as string;
  }

  const stockOf = async (productId: string) =>
    (
      await withClient(shards.shard0.url, (client) =>
        client.query('SELECT stock FROM products WHERE id = $1', [productId]),
      )
    ).rows[0].stock as number;

  test('the orders across two databases: stock reserved in the catalog, keyed by the order, and confirmed', async () => {
    const productId = await createProduct(3);
    const user = await userOn('1');
    const order = await app.inject({
      method: 'POST',
      url: '/api/orders',
      headers: { cookie: user.cookie },
      payload: { items: [{ productId, quantity: 2 }] },
    });
    expect(order.statusCode).toBe(201);
    const orderId = order.json().id as string;
    const reservation = await withClient(shards.shard0.url, (client) =>
      client.query(
        'SELECT quantity, confirmed_at IS NOT NULL AS confirmed FROM stock_reservations WHERE order_id = $1',
        [orderId],
      ),
    );
    expect(reservation.rows).toEqual([{ quantity: 2, confirmed: true }]);
    expect(await stockOf(productId)).toBe(1);
    // Not enough left: 409, nothing reserved.
    const tooMany = await app.inject({
      method: 'POST',
      url: '/api/orders',
      headers: { cookie: user.cookie },
      payload: { items: [{ productId, quantity: 2 }] },
    });
    expect(tooMany.statusCode).toBe(409);
    const held = await withClient(shards.shard0.url, (client) =>
      client.query('SELECT count(*)::int AS n FROM stock_reservations WHERE product_id = $1', [productId]),
    );
    expect(held.rows).toEqual([{ n: 1 }]);
  });

  test('a stale map meets the fence in the database: the write is a 503 with Retry-After, the reserved stock goes back', async () => {
    // GIVEN a user on shard 1 whose logical shard the shard manager has fenced on the database (REVOKE), while
    // this instance's map still says active (it has not been flipped yet)
    const productId = await createProduct(4);
    const user = await userOn('1');
    const schema = shardSchema(logicalShard(user.user.id));
    const fence = (sql: string) =>
      withClient(shards.shard1.url, (client) =>
        client.query(
          `${sql} ON ALL TABLES IN SCHEMA ${schema} ${sql.startsWith('REVOKE') ? 'FROM' : 'TO'} shop_app`,
        ),
      );
    await fence('REVOKE INSERT, UPDATE, DELETE');
    try {
      expect(app.shop.userData.map!.entry(logicalShard(user.user.id)).state).toBe('active');
      // WHEN the user orders
      const response = await app.inject({
        method: 'POST',
        url: '/api/orders',
        headers: { cookie: user.cookie },
        payload: { items: [{ productId, quantity: 3 }] },
      });
      // THEN 503 with Retry-After, no order, and the stock reserved for it was released
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('1');
      expect(await stockOf(productId)).toBe(4);
      const held = await withClient(shards.shard0.url, (client) =>
        client.query('SELECT count(*)::int AS n FROM stock_reservations WHERE product_id = $1', [productId]),
      );
      expect(held.rows).toEqual([{ n: 0 }]);
    } finally {
      await fence('GRANT INSERT, UPDATE, DELETE');
    }
    // AND once the fence is lifted, the same order goes through
    const again = await app.inject({
      method: 'POST',
      url: '/api/orders',
      headers: { cookie: user.cookie },
      payload: { items: [{ productId, quantity: 3 }] },
    });
    expect(again.statusCode).toBe(201);
    expect(await stockOf(productId)).toBe(1);
  });

  test('a write whose connection is lost after the commit keeps its reservation: no order is left without one', async () => {
    // GIVEN a placement whose order write commits on the shard and then loses its connection (no answer)
    const productId = await createProduct(5);
    const user = await userOn('1');
    const real = app.shop.placement as unknown as { catalog: SqlExecutor; orders: OrderRepository };
    const orders = Object.create(real.orders) as OrderRepository;
    orders.insertPriced = async (...args: Parameters<OrderRepository['insertPriced']>) => {
      await real.orders.insertPriced(...args);
      throw new Error('Connection terminated unexpectedly');
    };
    const placement = new CrossDatabaseOrderPlacement(real.catalog, orders);
    const place = app.shop.userData.forRead(user.user.id);
    const order = {
      id: uuidv7(),
      userId: user.user.id,
      lines: [{ productId, quantity: 2, field: 'body/items/0/productId' }],
    };
    // WHEN it is placed
    await expect(
      placement.place(order, { writer: place.shard.db.writer, schema: place.schema }, []),
    ).rejects.toThrow('Connection terminated unexpectedly');
    // THEN the order exists and its stock is still reserved (not released on an answer that never came) ...
    const reservation = await withClient(shards.shard0.url, (client) =>
      client.query(
        'SELECT quantity, confirmed_at IS NULL AS open FROM stock_reservations WHERE order_id = $1',
        [order.id],
      ),
    );
    expect(reservation.rows).toEqual([{ quantity: 2, open: true }]);
    expect(await stockOf(productId)).toBe(3);
    // ... and the reconciler, once it is overdue, confirms it because the order is there
    const reconciler = new ReservationReconciler(app.shop.db, app.shop.userData, {
      timeoutSeconds: 0,
      batch: 1000,
      tagsOf: (ids) => ids.map((id) => `product:${id}`),
    });
    expect((await reconciler.runOnce()).confirmed).toBeGreaterThanOrEqual(1);
    expect(await stockOf(productId)).toBe(3);
  });

  test('only an error answer from PostgreSQL (or a refusal by the app itself) means the order write wrote nothing', () => {
    expect(
      orderCertainlyNotWritten(
        Object.assign(new Error('permission denied'), { severity: 'ERROR', code: '42501' }),
      ),
    ).toBe(true);
    expect(orderCertainlyNotWritten(new ShardUnavailableError(3, 1))).toBe(true);
    expect(orderCertainlyNotWritten(new Error('Connection terminated unexpectedly'))).toBe(false);
    expect(orderCertainlyNotWritten(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).toBe(false);
    expect(
      orderCertainlyNotWritten(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })),
    ).toBe(false);
  });

  test('interrupted placements under concurrency: the reconciler settles every reservation, stock + ordered is conserved', async () => {
    // GIVEN a product with 45 in stock and 30 users on both shards, who will ask for 60 in all
    const initial = 45;
    const productId = await createProduct(initial);
    const placement = app.shop.placement as CrossDatabaseOrderPlacement;
    const users = await Promise.all(Array.from({ length: 30 }, () => signUp(app)));
    // WHEN each places an order of 1 to 3, concurrently, and a third of the placements "die" after reserving,
    // a third after writing the order (before confirming), and a third complete; some ask for more than is left
    const outcomes = await Promise.all(
      users.map(async ({ user }, i) => {
        const order = {
          id: uuidv7(),
          userId: user.id,
          lines: [{ productId, quantity: 1 + (i % 3), field: 'body/items/0/productId' }],
        };
        const place = app.shop.userData.forRead(user.id);
        const target = { writer: place.shard.db.writer, schema: place.schema };
        try {
          const lines = await placement.reserve(order, []);
          if (i % 3 === 0) return 'died after reserve';
          await placement.write(order, lines, target);
          if (i % 3 === 1) return 'died after write';
          await placement.confirm(order.id);
          return 'placed';
        } catch (err) {
          if ((err as { statusCode?: number }).statusCode === 409) return 'out of stock';
          throw err;
        }
      }),
    );
    expect(outcomes).toContain('died after reserve');
    expect(outcomes).toContain('died after write');
    expect(outcomes).toContain('out of stock'); // never oversold: the reservation is the gate
    // THEN a reservation not yet overdue is left alone
    const tags = (ids: readonly string[]) => ids.map((id) => `product:${id}`);
    const patient = new ReservationReconciler(app.shop.db, app.shop.userData, {
      timeoutSeconds: 3600,
      batch: 1000,
      tagsOf: tags,
    });
    expect(await patient.runOnce()).toEqual({ confirmed: 0, released: 0, skipped: 0 });
    // AND once overdue, each interrupted one is confirmed (its order exists) or released (it does not)
    const reconciler = new ReservationReconciler(app.shop.db, app.shop.userData, {
      timeoutSeconds: 0,
      batch: 1000,
      tagsOf: tags,
    });
    const result = await reconciler.runOnce();
    expect(result).toEqual({
      confirmed: outcomes.filter((o) => o === 'died after write').length,
      released: outcomes.filter((o) => o === 'died after reserve').length,
      skipped: 0,
    });
    expect(await reconciler.runOnce()).toEqual({ confirmed: 0, released: 0, skipped: 0 });
    // AND stock + ordered quantity is conserved, every order has its confirmed reservation, and no
    // reservation is left unconfirmed
    const ordered = new Map<string, number>();
    for (const url of [shards.shard0.url, shards.shard1.url]) {
      await withClient(url, async (client) => {
        const union = Array.from(
          { length: 256 },
          (_, i) => `SELECT order_id, quantity FROM ${shardSchema(i)}.order_items WHERE product_id = $1`,
        );
        const { rows } = await client.query(union.join(' UNION ALL '), [productId]);
        for (const row of rows) ordered.set(row.order_id as string, Number(row.quantity));
      });
    }
    const sum = [...ordered.values()].reduce((a, b) => a + b, 0);
    expect((await stockOf(productId)) + sum).toBe(initial);
    const reservations = await withClient(shards.shard0.url, (client) =>
      client.query(
        'SELECT order_id, quantity, confirmed_at IS NOT NULL AS confirmed FROM stock_reservations WHERE product_id = $1',
        [productId],
      ),
    );
    expect(reservations.rows.every((row) => row.confirmed)).toBe(true);
    expect(new Map(reservations.rows.map((row) => [row.order_id as string, Number(row.quantity)]))).toEqual(
      ordered,
    );
  });

  /** A placement of `quantity` of `productId` by `userId` that died after reserving (or after writing the order). */
  async function interruptedPlacement(
    userId: string,
    productId: string,
    diedAfter: 'reserve' | 'write',
    quantity = 1,
  ): Promise<string> {
    const placement = app.shop.placement as CrossDatabaseOrderPlacement;
    const order = { id: uuidv7(), userId, lines: [{ productId, quantity, field: 'body/items/0/productId' }] };
    const lines = await placement.reserve(order, []);
    if (diedAfter === 'write') {
      const place = app.shop.userData.forRead(userId);
      await placement.write(order, lines, { writer: place.shard.db.writer, schema: place.schema });
    }
    return order.id;
  }

  const overdue = (router: UserDataRouter = app.shop.userData) =>
    new ReservationReconciler(app.shop.db, router, {
      timeoutSeconds: 0,
      batch: 1000,
      tagsOf: (ids) => ids.map((id) => `product:${id}`),
    });

  const reservationOpen = async (orderId: string) =>
    (
      await withClient(shards.shard0.url, (client) =>
        client.query('SELECT 1 FROM stock_reservations WHERE order_id = $1 AND confirmed_at IS NULL', [
          orderId,
        ]),
      )
    ).rows.length > 0;

  test('the reconciler checks the map before deciding: an order on its real shard is confirmed, not released', async () => {
    // GIVEN an order written on shard 1 whose placement died before confirming, and an instance whose map still
    // puts the user's logical shard on shard 0 (where the order is not)
    const productId = await createProduct(5);
    const user = await userOn('1');
    const orderId = await interruptedPlacement(user.user.id, productId, 'write', 2);
    const router = await staleRouter(logicalShard(user.user.id), '0');
    // WHEN that instance's reconciler runs
    const result = await overdue(router).runOnce();
    // THEN it refreshed the map, found the order on shard 1 and confirmed it: the stock stays taken
    expect(result).toEqual({ confirmed: 1, released: 0, skipped: 0 });
    expect(await reservationOpen(orderId)).toBe(false);
    expect(await stockOf(productId)).toBe(3);
  });

  test('the reconciler skips a logical shard that is moving or fenced, and settles it once active', async () => {
    // GIVEN a placement that died after reserving, in a logical shard being moved
    const productId = await createProduct(5);
    const user = await userOn('0');
    const logical = logicalShard(user.user.id);
    const orderId = await interruptedPlacement(user.user.id, productId, 'reserve', 2);
    for (const state of ['moving', 'fenced'] as const) {
      await setLogicalState(logical, state);
      try {
        // WHEN the reconciler runs
        const result = await overdue().runOnce();
        // THEN it leaves the reservation for later rather than look for the order where it may no longer be
        expect(result).toEqual({ confirmed: 0, released: 0, skipped: 1 });
        expect(await reservationOpen(orderId)).toBe(true);
        expect(await stockOf(productId)).toBe(3);
      } finally {
        await setLogicalState(logical, 'active');
      }
    }
    // AND once the logical shard is active again, the reservation is released (no order was written)
    expect(await overdue().runOnce()).toEqual({ confirmed: 0, released: 1, skipped: 0 });
    expect(await stockOf(productId)).toBe(5);
  });

  test('the reconciler holds no product or reservation lock while it queries a shard', async () => {
    // GIVEN two placements of one product that died after reserving, by users on both shards
    const productId = await createProduct(6);
    const users = [await userOn('0'), await userOn('1')];
    for (const user of users) await interruptedPlacement(user.user.id, productId, 'reserve', 2);
    // WHEN the reconciler runs, and each time it asks a shard for an order, another session tries to lock the
    // product and its reservations without waiting
    let probes = 0;
    const locked: string[] = [];
    const probe = () =>
      withClient(shards.shard0.url, async (client) => {
        probes += 1;
        await client.query('BEGIN');
        try {
          await client.query('SELECT 1 FROM products WHERE id = $1 FOR UPDATE NOWAIT', [productId]);
          await client.query('SELECT 1 FROM stock_reservations WHERE product_id = $1 FOR UPDATE NOWAIT', [
            productId,
          ]);
        } catch (err) {
          if ((err as { code?: string }).code !== '55P03') throw err;
          locked.push((err as Error).message);
        } finally {
          await client.query('ROLLBACK');
        }
      });
    const restore: (() => void)[] = [];
    for (const shard of app.shop.userData.shards.values()) {
      const executor = shard.db.writer;
      const query = executor.query;
      executor.query = async <R>(text: string, params?: unknown[]) => {
        if (/\.orders WHERE id = \$1 AND user_id = \$2/.test(text)) await probe();
        return query.call(executor, text, params) as Promise<{ rows: R[] }>;
      };
      restore.push(() => {
        executor.query = query;
      });
    }
    let result;
    try {
      result = await overdue().runOnce();
    } finally {
      for (const undo of restore) undo();
    }
    // THEN both were released, and no probe found a lock held
    expect(probes).toBe(2);
    expect(locked).toEqual([]);
    expect(result).toEqual({ confirmed: 0, released: 2, skipped: 0 });
    expect(await stockOf(productId)).toBe(6);
  });

  test.each(['reserve', 'write'])(
    'a real kill (SIGKILL) after the %s step of one placement among 12 in flight: the reconciler leaves stock + ordered conserved',
    async (step) => {
      // GIVEN 12 users on both shards ordering 2 each of a product with 100 in stock, in another process
      const initial = 100;
      const productId = await createProduct(initial);
      const users = await Promise.all(Array.from({ length: 12 }, () => signUp(app)));
      const orders = users.map(({ user }) => {
        const place = app.shop.userData.forRead(user.id);
        return {
          id: uuidv7(),
          userId: user.id,
          shardId: place.shard.id,
          schema: place.schema,
          productId,
          quantity: 2,
        };
      });
      // WHEN that process is killed right after the step, for the first order, while the others run
      const run = spawnSync(process.execPath, ['--import', 'tsx', crashWorker], {
        cwd: repoRoot,
        env: {
          ...process.env,
          CATALOG_URL: shards.shard0.url,
          SHARD_URLS: JSON.stringify({ '0': shards.shard0.url, '1': shards.shard1.url }),
          ORDERS: JSON.stringify(orders),
          CRASH_AFTER: step,
          CRASH_ORDER: '0',
        },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(run.stderr).toBe('');
      expect(run.signal).toBe('SIGKILL');
      expect(run.stdout.trim()).toBe(
        `killed after ${step === 'reserve' ? 'reserving' : 'writing'} ${orders[0].id}`,
      );
      // Statements the dead process had sent still finish on the servers: settle only once they have (what
      // the reconciler's 300 s timeout stands for in production).
      for (const url of [shards.shard0.url, shards.shard1.url]) {
        await until(
          () =>
            withClient(url, async (client) => {
              const { rows } = await client.query(
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'placement-crash-worker'",
              );
              return rows[0].n === 0;
            }),
          "the dead worker's connections to close",
        );
      }
      const killed = await withClient(shards.shard0.url, (client) =>
        client.query(
          'SELECT confirmed_at IS NULL AS unconfirmed FROM stock_reservations WHERE order_id = $1',
          [orders[0].id],
        ),
      );
      expect(killed.rows).toEqual([{ unconfirmed: true }]);

      // THEN the reconciler settles what the kill left: the killed order (released, or confirmed if written)
      // and any other placement the kill interrupted
      const reconciler = new ReservationReconciler(app.shop.db, app.shop.userData, {
        timeoutSeconds: 0,
        batch: 1000,
        tagsOf: (ids) => ids.map((id) => `product:${id}`),
      });
      const result = await reconciler.runOnce();
      expect(result.confirmed + result.released).toBeGreaterThanOrEqual(1);
      const { rows: unconfirmed } = await withClient(shards.shard0.url, (client) =>
        client.query(
          'SELECT count(*)::int AS n FROM stock_reservations WHERE product_id = $1 AND confirmed_at IS NULL',
          [productId],
        ),
      );
      expect(unconfirmed).toEqual([{ n: 0 }]);
      // AND stock + ordered is conserved, and every order that exists has exactly its confirmed reservation
      const ordered = new Map<string, number>();
      for (const url of [shards.shard0.url, shards.shard1.url]) {
        await withClient(url, async (client) => {
          const union = Array.from(
            { length: 256 },
            (_, i) => `SELECT order_id, quantity FROM ${shardSchema(i)}.order_items WHERE product_id = $1`,
          );
          const { rows } = await client.query(union.join(' UNION ALL '), [productId]);
          for (const row of rows) ordered.set(row.order_id as string, Number(row.quantity));
        });
      }
      const sum = [...ordered.values()].reduce((a, b) => a + b, 0);
      expect((await stockOf(productId)) + sum).toBe(initial);
      const reservations = await withClient(shards.shard0.url, (client) =>
        client.query('SELECT order_id, quantity FROM stock_reservations WHERE product_id = $1', [productId]),
      );
      expect(new Map(reservations.rows.map((row) => [row.order_id as string, Number(row.quantity)]))).toEqual(
        ordered,
      );
      // The killed order itself: gone with its stock after the reserve step, kept after the write step.
      expect(ordered.has(orders[0].id)).toBe(step === 'write');
    },
  );

  test('`npm run migrate` with SHARD_ENDPOINTS checks every shard and reports each', () => {
    const run = spawnSync(path.join(repoRoot, 'node_modules/.bin/tsx'), ['app/src/migrate.ts'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        DATABASE_URL: config.env.DATABASE_URL,
        MIGRATION_DATABASE_URL: config.env.MIGRATION_DATABASE_URL,
        SHARD_ENDPOINTS: config.env.SHARD_ENDPOINTS,
      },
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout.trim())).toEqual({
      msg: 'database is up to date',
      applied: [],
      appLogin: { username: appUser, outcome: 'unchanged' },
      shards: { '0': { applied: 0, ms: expect.any(Number) }, '1': { applied: 0, ms: expect.any(Number) } },
    });
  });

  test('one more shard: a third endpoint is migrated and recorded, and the map is left to the shard manager', async () => {
    const third = await createTestDatabase(shards.server.urls[0]);
    // The same configuration with a third SHARD_ENDPOINTS entry.
    const [thirdEndpoint] = loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: shards.shard0.url,
      SHARD_ENDPOINTS: JSON.stringify([{ id: '2', url: third.url }]),
    }).sharding!.shards;
    const grown: AppConfig = {
      ...config,
      sharding: { ...config.sharding!, shards: [...config.sharding!.shards, thirdEndpoint] },
    };
    const before = await withClient(shards.shard0.url, (client) =>
      client.query('SELECT logical_shard, shard_id, epoch FROM control.shard_map ORDER BY 1'),
    );
    const instance = await buildApp({ config: grown, logger: false });
    try {
      expect([...instance.shop.userData.shards.keys()]).toEqual(['0', '1', '2']);
      const after = await withClient(shards.shard0.url, (client) =>
        client.query('SELECT logical_shard, shard_id, epoch FROM control.shard_map ORDER BY 1'),
      );
      expect(after.rows).toEqual(before.rows);
      const recorded = await withClient(shards.shard0.url, (client) =>
        client.query('SELECT shard_id FROM control.shards ORDER BY 1'),
      );
      expect(recorded.rows.map((row) => row.shard_id)).toEqual(['0', '1', '2']);
      const schemas = await withClient(third.url, (client) =>
        client.query("SELECT count(*)::int AS n FROM pg_namespace WHERE nspname LIKE 'ls\\_%'"),
      );
      expect(schemas.rows).toEqual([{ n: 256 }]);
      // The instance still serves everyone from where they are.
      const { user, cookie } = await signUp(instance);
      const me = await instance.inject({ method: 'GET', url: '/api/me', headers: { cookie } });
      expect(me.json().user.id).toBe(user.id);
    } finally {
      await instance.close();
      await third.drop();
    }
  });

  test('without AUTO_MIGRATE the app checks every shard: a complete layout starts, a shard without it stops start-up', async () => {
    const checked = await buildApp({
      config: { ...config, autoMigrate: false },
      logger: false,
    });
    await checked.close();
    // Every logical shard's schema lacks every shard migration (app/migrations/shard).
    const steps = 256 * (await loadShardLayoutMigrations()).shard.length;
    const empty = await createTestDatabase(shards.server.urls[0]);
    try {
      await expect(
        buildApp({
          config: {
            ...config,
            autoMigrate: false,
            sharding: {
              ...config.sharding!,
              shards: [
                {
                  ...config.sharding!.shards[0],
                  database: {
                    ...config.sharding!.shards[0].database,
                    writer: { connectionString: empty.url },
                  },
                },
              ],
            },
          },
          logger: false,
        }),
      ).rejects.toThrow(
        `Shard "1" lacks ${steps} steps of the sharded layout: run the migration task (npm run migrate, with the same SHARD_ENDPOINTS) before starting the app, or set AUTO_MIGRATE=true`,
      );
    } finally {
      await empty.drop();
    }
  });

  test('start-up stops, naming the key and the fix, when the map points at a shard SHARD_ENDPOINTS no longer lists', async () => {
    await expect(
      buildApp({
        config: { ...config, sharding: { ...config.sharding!, shards: [] } },
        logger: false,
      }),
    ).rejects.toThrow(
      /SHARD_ENDPOINTS: control.shard_map assigns logical shards 128-255 to shard "1", which SHARD_ENDPOINTS does not list/,
    );
  });

  test('start-up stops when N changed after data exists, before creating anything', async () => {
    await expect(
      buildApp({
        config: { ...config, sharding: { ...config.sharding!, logicalShards: 480 } },
        logger: false,
      }),
    ).rejects.toThrow(
      /control.settings records 256 .* this build uses 480; N cannot change once data exists/,
    );
    const { rows } = await withClient(shards.shard0.url, (client) =>
      client.query("SELECT count(*)::int AS n FROM pg_namespace WHERE nspname LIKE 'ls\\_%'"),
    );
    expect(rows[0].n).toBe(256);
  });
});
