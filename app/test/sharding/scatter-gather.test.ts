import type { FastifyInstance } from 'fastify';
import { Client } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { buildApp } from '../../src/app';
import { likePrefix } from '../../src/repositories/admin-reports';
import { logicalShard, shardSchema } from '../../src/sharding/logical-shard';
import { grantAdmin, signUp, testConfig } from '../support/app';
import { TEST_PG_ADMIN_URL, withClient } from '../support/postgres';
import { dropRoles, loginUrl, uniqueRoleName } from '../support/roles';
import { startTwoShards, type TwoShards } from '../support/shards';
import { startStallProxy, type StallProxy } from '../support/stall-proxy';
import { until } from '../support/wait';

// The admin reports that need every user, scatter-gathered over 2 physical shards on 2 real PostgreSQL servers.
// Shard 1 is reached through a proxy that can stall (accepts, keeps connections, answers nothing), which is
// how a frozen server or a black-holed network looks to the app. Expected answers are computed by brute force
// from every row of every logical shard schema at the place the shard map gives it.
let shards: TwoShards;
let proxy: StallProxy;
let app: FastifyInstance;
let admin: string;
// The admin's own account is read on its shard for every request's role check (a single-user read, with no
// deadline of its own), so the admin must live on shard 0, the one that never stalls here: candidates are
// signed up until one lands there.
const adminCandidates = Array.from({ length: 40 }, (_, i) => `admin-scatter-${i}@example.test`);
let adminEmail: string;
const appUser = uniqueRoleName('shop_app_scatter');
// Each shard's deadline for a scatter read. Long enough that a healthy shard's aggregate answers within it on a
// loaded CI machine (at 800 ms, the sales-per-day query missed it there once and the answer came back partial);
// the stalled-shard tests still wait it out and check the answer comes within it plus a margin.
const TIMEOUT_MS = 2_000;
const productA = '01900000-0000-7000-8000-00000000000a';
const productB = '01900000-0000-7000-8000-00000000000b';
const NAMES = ['Ada Lovelace', 'Alan Turing', 'alice liddell', 'Bob', '_under%score', 'Grace Hopper'];

/** readWithin calls each shard received while `fn` ran, by shard id. */
let calls: Map<string, number> | undefined;
async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; perShard: Record<string, number> }> {
  calls = new Map();
  try {
    const result = await fn();
    return { result, perShard: Object.fromEntries(calls) };
  } finally {
    calls = undefined;
  }
}

const urlOf = (shardId: string) => (shardId === '0' ? shards.shard0.url : shards.shard1.url);
const placeOf = (userId: string) => app.shop.userData.map!.entry(logicalShard(userId)).shardId;

interface SeedOrder {
  id: string;
  userId: string;
  createdAt: string;
  totalCents: number;
  lines: { productId: string; quantity: number }[];
}
interface SeedUser {
  id: string;
  email: string;
  name: string;
  shardId: string;
}
const users: SeedUser[] = [];
const orders: SeedOrder[] = [];
let ghost: { userId: string; orderId: string };

/** Seeds users and orders straight into their schemas on their shards (many more than sign-ups would give). */
async function seed(): Promise<void> {
  for (let i = 0; i < 90; i++) {
    const id = uuidv7();
    users.push({
      id,
      email: `${i % 3 === 0 ? 'ab' : i % 3 === 1 ? 'a_' : 'zed'}${i}.scatter@example.test`,
      name: NAMES[i % NAMES.length],
      shardId: placeOf(id),
    });
  }
  const day0 = Date.parse('2026-03-01T00:00:00Z');
  for (const [i, user] of users.entries()) {
    for (let k = 0; k < i % 4; k++) {
      const lines = [
        ...(k % 2 === 0 ? [{ productId: productA, quantity: 1 + (i % 3) }] : []),
        ...((i + k) % 3 !== 0 ? [{ productId: productB, quantity: 2 }] : []),
      ];
      if (lines.length === 0) lines.push({ productId: productB, quantity: 1 });
      orders.push({
        id: uuidv7(),
        userId: user.id,
        // Spread over 5 days, some right at a day's boundaries (UTC).
        createdAt: new Date(
          day0 + ((i * 7 + k * 13) % 5) * 86_400_000 + (k === 2 ? 86_399_999 : i * 1000),
        ).toISOString(),
        totalCents: 100 * (i + 1) + k,
        lines,
      });
    }
  }
  for (const shardId of ['0', '1']) {
    await withClient(urlOf(shardId), async (client) => {
      for (const user of users.filter((u) => u.shardId === shardId)) {
        const s = shardSchema(logicalShard(user.id));
        await client.query(
          `INSERT INTO ${s}.users (id, email, name, password_hash) VALUES ($1, $2, $3, 'x')`,
          [user.id, user.email, user.name],
        );
        for (const order of orders.filter((o) => o.userId === user.id)) {
          await client.query(
            `INSERT INTO ${s}.orders (id, user_id, total_cents, created_at) VALUES ($1, $2, $3, $4)`,
            [order.id, user.id, order.totalCents, order.createdAt],
          );
          for (const [n, line] of order.lines.entries()) {
            await client.query(
              `INSERT INTO ${s}.order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
               VALUES ($1, $2, $3, $4, 'p', $5, 1)`,
              [order.id, n + 1, user.id, line.productId, line.quantity],
            );
          }
        }
      }
    });
  }
  // A copy of a user in the schema of the shard the map does NOT place it on (what a move leaves behind, or is
  // building): a scatter must not read it.
  const id = uuidv7();
  const elsewhere = placeOf(id) === '0' ? '1' : '0';
  const s = shardSchema(logicalShard(id));
  ghost = { userId: id, orderId: uuidv7() };
  await withClient(urlOf(elsewhere), async (client) => {
    await client.query(
      `INSERT INTO ${s}.users (id, email, name, password_hash) VALUES ($1, $2, 'Ada Ghost', 'x')`,
      [id, 'ab-ghost.scatter@example.test'],
    );
    await client.query(
      `INSERT INTO ${s}.orders (id, user_id, total_cents, created_at) VALUES ($1, $2, 999, '2026-03-02T12:00:00Z')`,
      [ghost.orderId, id],
    );
    await client.query(
      `INSERT INTO ${s}.order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
       VALUES ($1, 1, $2, $3, 'p', 1, 1)`,
      [ghost.orderId, id, productA],
    );
  });
}

/** Every user and order row the map places, read straight from each shard (plus users made by sign-up). */
async function everything(): Promise<{
  users: { id: string; email: string; name: string; shardId: string }[];
  orders: {
    id: string;
    userId: string;
    totalCents: number;
    createdAt: Date;
    lines: { productId: string; quantity: number }[];
    shardId: string;
  }[];
}> {
  const map = app.shop.userData.map!.entries;
  const result: Awaited<ReturnType<typeof everything>> = { users: [], orders: [] };
  for (const shardId of ['0', '1']) {
    await withClient(urlOf(shardId), async (client) => {
      for (const entry of map.filter((e) => e.shardId === shardId)) {
        const s = shardSchema(entry.logicalShard);
        const u = await client.query(`SELECT id, email, name FROM ${s}.users`);
        result.users.push(...u.rows.map((row) => ({ ...row, shardId })));
        const o = await client.query(
          `SELECT o.id, o.user_id, o.total_cents, o.created_at,
                  json_agg(json_build_object('productId', i.product_id, 'quantity', i.quantity)) AS lines
           FROM ${s}.orders o JOIN ${s}.order_items i ON i.order_id = o.id GROUP BY o.id`,
        );
        result.orders.push(
          ...o.rows.map((row) => ({
            id: row.id,
            userId: row.user_id,
            totalCents: Number(row.total_cents),
            createdAt: row.created_at,
            lines: row.lines,
            shardId,
          })),
        );
      }
    });
  }
  return result;
}

async function get(url: string, cookie = admin) {
  return app.inject({ method: 'GET', url, headers: { cookie } });
}

/** Every page of a paginated admin report, following nextCursor. */
async function allPages(base: string, limit: number) {
  const pages: {
    items: { id: string; email?: string }[];
    nextCursor: string | null;
    partial: boolean;
    perShard: Record<string, number>;
  }[] = [];
  let cursor: string | null = null;
  do {
    const url: string = `${base}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const { result, perShard } = await counted(() => get(url));
    expect(result.statusCode).toBe(200);
    const body = result.json();
    pages.push({ ...body, perShard });
    cursor = body.nextCursor;
  } while (cursor !== null && pages.length < 100);
  return pages;
}

beforeAll(async () => {
  shards = await startTwoShards();
  proxy = await startStallProxy(shards.shard1.url);
  app = await buildApp({
    config: testConfig({
      // The app as a DML-only login, the owner migrating, as in AWS; shard 1 through the proxy.
      DATABASE_URL: loginUrl(shards.shard0.url, appUser),
      MIGRATION_DATABASE_URL: shards.shard0.url,
      SHARD_ENDPOINTS: JSON.stringify([
        { id: '1', url: proxy.via(loginUrl(shards.shard1.url, appUser)), migrationUrl: shards.shard1.url },
      ]),
      ADMIN_EMAILS: adminCandidates.join(','),
      SCATTER_SHARD_TIMEOUT_MS: String(TIMEOUT_MS),
      RATE_LIMIT_AUTH_MAX: '100000',
    }),
    logger: false,
  });
  for (const shard of app.shop.userData.shards.values()) {
    const readWithin = shard.db.readWithin.bind(shard.db);
    shard.db.readWithin = (text, params, timeoutMs) => {
      if (calls) calls.set(shard.id, (calls.get(shard.id) ?? 0) + 1);
      return readWithin(text, params, timeoutMs);
    };
  }
  for (const email of adminCandidates) {
    const candidate = await signUp(app, email);
    if (placeOf(candidate.user.id) !== '0') continue;
    await grantAdmin(app, email);
    adminEmail = email;
    admin = candidate.cookie;
    break;
  }
  expect(admin).toBeDefined();
  await seed();
  // The seed must cover both shards, or the merge would prove nothing.
  expect(new Set(users.map((u) => u.shardId))).toEqual(new Set(['0', '1']));
}, 300_000);

afterAll(async () => {
  proxy?.resume();
  await app?.close();
  await proxy?.close();
  await shards?.stop();
  await dropRoles(TEST_PG_ADMIN_URL, [appUser]);
});

describe('admin only, and bad input names the field', () => {
  test('401 without a session, 403 for a customer', async () => {
    const customer = (await signUp(app)).cookie;
    for (const url of [
      `/api/admin/orders?productId=${productA}`,
      '/api/admin/sales?from=2026-03-01&to=2026-03-05',
      '/api/admin/users?q=a',
    ]) {
      expect((await app.inject({ method: 'GET', url })).statusCode).toBe(401);
      expect((await get(url, customer)).statusCode).toBe(403);
    }
  });

  test.each([
    ['/api/admin/orders', 'querystring/productId is required'],
    ['/api/admin/orders?productId=nope', 'querystring/productId must be a UUID'],
    [`/api/admin/orders?productId=${productA}&cursor=x`, 'querystring/cursor must be a UUID'],
    [`/api/admin/orders?productId=${productA}&limit=0`, 'querystring/limit must be >= 1'],
    ['/api/admin/sales?from=2026-03-01', 'querystring/to is required'],
    ['/api/admin/sales?from=2026-02-30&to=2026-03-05', 'querystring/from must match format "date"'],
    ['/api/admin/sales?from=2026-03-05&to=2026-03-01', 'querystring/to must not be before querystring/from'],
    ['/api/admin/sales?from=2025-01-01&to=2026-03-01', 'querystring/to: at most 366 days'],
    ['/api/admin/users', 'querystring/q is required'],
    ['/api/admin/users?q=', 'querystring/q must NOT have fewer than 1 characters'],
    ['/api/admin/users?q=a&limit=101', 'querystring/limit must be <= 100'],
  ])('GET %s is a 400: %s', async (url, message) => {
    const response = await get(url);
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain(message);
  });
});

describe('complete answers across both shards', () => {
  test.each([
    [productA, 7],
    [productB, 10],
  ])(
    'orders containing %s, newest first: every page merged across shards equals the brute-force list',
    async (product, limit) => {
      const all = await everything();
      const expected = all.orders
        .filter((o) => o.lines.some((l) => l.productId === product))
        .sort((a, b) => (a.id < b.id ? 1 : -1));
      // Both shards contribute, and interleave.
      expect(new Set(expected.map((o) => o.shardId))).toEqual(new Set(['0', '1']));
      const pages = await allPages(`/api/admin/orders?productId=${product}`, limit);
      expect(pages.length).toBe(Math.ceil(expected.length / limit));
      const got = pages.flatMap((page) => page.items);
      expect(got.map((o) => o.id)).toEqual(expected.map((o) => o.id));
      const first = pages[0].items[0] as unknown as Record<string, unknown>;
      const source = expected[0];
      expect(first).toEqual({
        id: source.id,
        userId: source.userId,
        status: 'placed',
        totalCents: source.totalCents,
        createdAt: new Date(source.createdAt).toISOString(),
        quantity: source.lines.filter((l) => l.productId === product).reduce((n, l) => n + l.quantity, 0),
      });
      for (const page of pages) {
        expect(page.partial).toBe(false);
        // One statement per physical shard per page.
        expect(page.perShard).toEqual({ '0': 1, '1': 1 });
      }
      expect(pages.at(-1)!.nextCursor).toBeNull();
      expect(got.map((o) => o.id)).not.toContain(ghost.orderId);
    },
  );

  test('sales per day: the per-shard aggregates summed equal the brute-force sums, every day listed', async () => {
    const all = await everything();
    const from = '2026-02-28';
    const to = '2026-03-06';
    const expected = new Map<string, { orders: number; totalCents: number }>();
    for (const order of all.orders) {
      const day = new Date(order.createdAt).toISOString().slice(0, 10);
      if (day < from || day > to) continue;
      const sums = expected.get(day) ?? { orders: 0, totalCents: 0 };
      sums.orders += 1;
      sums.totalCents += order.totalCents;
      expected.set(day, sums);
    }
    const { result, perShard } = await counted(() => get(`/api/admin/sales?from=${from}&to=${to}`));
    expect(result.statusCode).toBe(200);
    const body = result.json();
    expect(perShard).toEqual({ '0': 1, '1': 1 });
    expect(body.partial).toBe(false);
    expect(body.missingShards).toEqual([]);
    expect(body.days.map((d: { day: string }) => d.day)).toEqual([
      '2026-02-28',
      '2026-03-01',
      '2026-03-02',
      '2026-03-03',
      '2026-03-04',
      '2026-03-05',
      '2026-03-06',
    ]);
    for (const day of body.days) {
      expect({ day: day.day, orders: day.orders, totalCents: day.totalCents }).toEqual({
        day: day.day,
        ...(expected.get(day.day) ?? { orders: 0, totalCents: 0 }),
      });
    }
    const total = [...expected.values()].reduce((sum, d) => sum + d.totalCents, 0);
    expect(body.totalCents).toBe(total);
    expect(body.orders).toBe([...expected.values()].reduce((sum, d) => sum + d.orders, 0));
    // Both shards sold something: the sum is across them.
    const perShardTotals = new Set(all.orders.map((o) => o.shardId));
    expect(perShardTotals).toEqual(new Set(['0', '1']));
    // A day is bounded by UTC midnights: one day alone has exactly its own orders.
    const one = (await get('/api/admin/sales?from=2026-03-02&to=2026-03-02')).json();
    expect(one.days).toEqual([
      { day: '2026-03-02', ...(expected.get('2026-03-02') ?? { orders: 0, totalCents: 0 }) },
    ]);
  });

  test.each([
    ['ada', 4],
    ['ab', 5],
    ['A_', 3],
    ['_', 10],
    ['zed1', 2],
  ])(
    'users whose email or name starts with %p, by email, pages of %d, equal the brute-force list',
    async (q, limit) => {
      const all = await everything();
      const prefix = q.toLowerCase();
      const expected = all.users
        .filter((u) => u.email.startsWith(prefix) || u.name.toLowerCase().startsWith(prefix))
        .sort((a, b) => Buffer.compare(Buffer.from(a.email), Buffer.from(b.email)));
      expect(expected.length).toBeGreaterThan(0);
      const pages = await allPages(`/api/admin/users?q=${encodeURIComponent(q)}`, limit);
      const got = pages.flatMap((page) => page.items);
      expect(got.map((u) => u.email)).toEqual(expected.map((u) => u.email));
      for (const page of pages) expect(page.perShard).toEqual({ '0': 1, '1': 1 });
      expect(got.map((u) => u.id)).not.toContain(ghost.userId);
    },
  );

  test('LIKE wildcards in the prefix match literally', () => {
    expect(likePrefix('a_b%c\\')).toBe('a\\_b\\%c\\\\%');
  });

  test("the admin's effective role is shown", async () => {
    const body = (await get(`/api/admin/users?q=${encodeURIComponent(adminEmail)}`)).json();
    expect(body.items).toEqual([expect.objectContaining({ email: adminEmail, role: 'admin' })]);
  });
});

describe('a shard that does not answer', () => {
  afterEach(() => proxy.resume());

  test('stalled shard 1: every report answers within the timeout with partial: true and shard 1 missing', async () => {
    const all = await everything();
    proxy.stall();
    // Pooled connections and new ones alike hang now.
    const started = Date.now();
    const responses = await Promise.all([
      get(`/api/admin/orders?productId=${productA}&limit=100`),
      get('/api/admin/sales?from=2026-03-01&to=2026-03-05'),
      get('/api/admin/users?q=a&limit=100'),
    ]);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 3_000);
    const [ordersPage, sales, found] = responses.map((response) => {
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.partial).toBe(true);
      expect(body.missingShards).toEqual(['1']);
      return body;
    });
    // What is there is exactly shard 0's part.
    const shard0 = all.orders.filter((o) => o.shardId === '0');
    expect(ordersPage.items.map((o: { id: string }) => o.id)).toEqual(
      shard0
        .filter((o) => o.lines.some((l) => l.productId === productA))
        .sort((a, b) => (a.id < b.id ? 1 : -1))
        .map((o) => o.id),
    );
    expect(sales.totalCents).toBe(
      shard0
        .filter((o) => {
          const day = new Date(o.createdAt).toISOString().slice(0, 10);
          return day >= '2026-03-01' && day <= '2026-03-05';
        })
        .reduce((sum, o) => sum + o.totalCents, 0),
    );
    expect(found.items.length).toBeGreaterThan(0);
    for (const user of found.items) expect(placeOf(user.id)).toBe('0');
    // Many more of these while stalled do not pile up: each one ends at its deadline.
    const again = await get('/api/admin/sales?from=2026-03-01&to=2026-03-01');
    expect(again.json().missingShards).toEqual(['1']);
  });

  test('a shard stuck behind a lock: partial at the deadline, and its statement is cancelled on the server', async () => {
    // An open transaction holds an exclusive lock on one of shard 1's user tables: the scatter's statement there
    // waits on the lock (the server is alive, so closing the socket alone would leave it waiting).
    const schema = shardSchema(app.shop.userData.map!.entries.find((e) => e.shardId === '1')!.logicalShard);
    const waiting = () =>
      withClient(shards.shard1.url, async (client) => {
        const { rows } = await client.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND wait_event_type = 'Lock'",
          [appUser],
        );
        return rows[0].n as number;
      });
    const locker = new Client({ connectionString: shards.shard1.url });
    await locker.connect();
    try {
      await locker.query(`BEGIN; LOCK TABLE ${schema}.users IN ACCESS EXCLUSIVE MODE`);
      const started = Date.now();
      const response = get('/api/admin/users?q=ada');
      await until(async () => (await waiting()) === 1, "the scatter's statement waiting on the lock", 5_000);
      const body = (await response).json();
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 3_000);
      expect(body.partial).toBe(true);
      expect(body.missingShards).toEqual(['1']);
      // Cancelled on the server while the lock is still held: nothing is left waiting.
      await until(async () => (await waiting()) === 0, 'the timed-out statement to be cancelled', 5_000);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
  });

  test('after the shard answers again, results are complete again', async () => {
    proxy.stall();
    expect((await get('/api/admin/users?q=ada')).json().partial).toBe(true);
    proxy.resume();
    await until(
      async () => (await get('/api/admin/users?q=ada')).json().partial === false,
      'a complete answer',
      10_000,
    );
    const body = (await get('/api/admin/users?q=ada&limit=100')).json();
    const all = await everything();
    expect(body.items.length).toBe(
      all.users.filter((u) => u.email.startsWith('ada') || u.name.toLowerCase().startsWith('ada')).length,
    );
  });
});
