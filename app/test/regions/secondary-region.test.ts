import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import Redis from 'ioredis';
import { Client, Pool } from 'pg';
import {
  startReplicatedPostgres,
  type ReplicatedPostgres,
} from '../../../tools/local-topology/postgres-replication';
import { buildApp } from '../../src/app';
import { OutboxFollower } from '../../src/regions/outbox-follower';
import { HOME_PIN_COOKIE } from '../../src/regions/region-role';
import { ReadOnlySessionStore } from '../../src/sessions/session-stores';
import { signUp, signUpAdmin, testConfig, uniqueEmail } from '../support/app';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from '../support/redis';
import { startPrivateRedis, type PrivateRedis } from '../support/redis-server';
import { until } from '../support/wait';
import { THROWAWAY_POSTGRES_SETTINGS } from '../../../tools/local-topology/services';

// Two regions on one machine: the home region (the primary, its cache in the test Redis, sessions in a Redis
// of their own) and a secondary region (the streaming replica as writer and reader, a regional cache Redis of
// its own, and a read-only replica of the home session Redis, like an ElastiCache global datastore secondary).
let pg: ReplicatedPostgres;
let homeCache: TestRedisPrefix;
let sessionsPrimary: PrivateRedis;
let sessionsReplica: PrivateRedis;
let regionalCache: PrivateRedis;
let home: FastifyInstance;
let secondary: FastifyInstance;
const apps: FastifyInstance[] = [];
const adminEmail = 'regions-admin@example.test';
const SECRET = 'regions-session-secret-of-32-chars!!';
const WINDOW_MS = 1500;
let admin: string;

async function homeInstance(): Promise<FastifyInstance> {
  const app = await buildApp({
    config: testConfig({
      REGION_ROLE: 'home',
      HOME_REGION: 'us-east-1',
      DATABASE_URL: pg.primaryUrl,
      DATABASE_READER_URL: pg.replicaUrl,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: homeCache.prefix,
      SESSION_REDIS_URL: sessionsPrimary.url,
      SESSION_SECRET: SECRET,
      ADMIN_EMAILS: adminEmail,
      READ_YOUR_WRITES_WINDOW_MS: String(WINDOW_MS),
    }),
    logger: false,
  });
  apps.push(app);
  return app;
}

async function secondaryInstance(): Promise<FastifyInstance> {
  const app = await buildApp({
    config: testConfig({
      REGION_ROLE: 'secondary',
      HOME_REGION: 'us-east-1',
      DATABASE_URL: pg.replicaUrl,
      DATABASE_READER_URL: pg.replicaUrl,
      REDIS_URL: regionalCache.url,
      // The same prefix as home: session keys are the home region's, replicated.
      REDIS_KEY_PREFIX: homeCache.prefix,
      SESSION_REDIS_URL: sessionsReplica.url,
      SESSION_SECRET: SECRET,
      READ_YOUR_WRITES_WINDOW_MS: String(WINDOW_MS),
      REGION_FOLLOWER_POLL_MS: '50',
      REGION_FOLLOWER_SETTLE_MS: '300',
    }),
    logger: false,
  });
  apps.push(app);
  return app;
}

/** Write commands the session replica has executed (replication from its primary included). */
async function sessionWritesOn(redis: Redis): Promise<Record<string, number>> {
  const stats = await redis.info('commandstats');
  const writes: Record<string, number> = {};
  for (const line of stats.split('\n')) {
    const match = /^cmdstat_(set|setex|del|unlink|expire|pexpire|getex|getdel)\b.*calls=(\d+)/.exec(line);
    if (match) writes[match[1]] = Number(match[2]);
  }
  return writes;
}

/** Every session the replica holds, by key. */
async function sessionsIn(redis: Redis): Promise<Record<string, string | null>> {
  const keys = (await redis.keys(`${homeCache.prefix}sess:*`)).sort();
  const values = keys.length > 0 ? await redis.mget(...keys) : [];
  return Object.fromEntries(keys.map((key, i) => [key, values[i]]));
}

const setCookies = (response: LightMyRequestResponse): string[] => {
  const header = response.headers['set-cookie'];
  return Array.isArray(header) ? header : header ? [header] : [];
};

async function createProduct(priceCents: number): Promise<{ id: string; priceCents: number }> {
  const response = await home.inject({
    method: 'POST',
    url: '/api/products',
    headers: { cookie: admin },
    payload: { sku: `reg-${Date.now()}-${Math.random()}`, name: 'Regional thing', priceCents, stock: 5 },
  });
  expect(response.statusCode).toBe(201);
  return response.json();
}

const priceOn = async (app: FastifyInstance, id: string): Promise<number> => {
  const response = await app.inject({ method: 'GET', url: `/api/products/${id}` });
  expect(response.statusCode).toBe(200);
  return response.json().priceCents;
};

beforeAll(async () => {
  pg = await startReplicatedPostgres({ settings: THROWAWAY_POSTGRES_SETTINGS });
  homeCache = createTestRedisPrefix();
  sessionsPrimary = await startPrivateRedis();
  sessionsReplica = await startPrivateRedis(['--replicaof', '127.0.0.1', String(sessionsPrimary.port)]);
  regionalCache = await startPrivateRedis();
  home = await homeInstance();
  admin = (await signUpAdmin(home, adminEmail)).cookie;
  // The secondary starts on the replica once it has the home region's schema (it migrates nothing itself).
  await pg.waitForCatchUp();
  secondary = await secondaryInstance();
  await until(() => secondary.shop.follower?.isLeader === true, 'the secondary follower to take the lease');
}, 120_000);

afterAll(async () => {
  for (const app of apps.reverse()) await app.close();
  await regionalCache?.stop();
  await sessionsReplica?.stop();
  await sessionsPrimary?.stop();
  await homeCache?.cleanup();
  await pg?.stop();
});

describe('a secondary region', () => {
  test('starts without writer work: no relay, no consumer, no domain events, no migration', async () => {
    const shop = secondary.shop;
    expect(shop.config.autoMigrate).toBe(false);
    expect([...shop.invalidation.relays.values()].map((relay) => relay.started)).toEqual([false]);
    expect(shop.invalidation.consumer.started).toBe(false);
    expect(shop.events).toBeUndefined();
    expect(shop.reconciler).toBeUndefined();
    // ...while the home region runs all of them.
    expect(home.shop.invalidation.consumer.started).toBe(true);
    expect(home.shop.events).toBeDefined();
  });

  test('/readyz is ready on the replica and the regional Redis alone', async () => {
    const response = await secondary.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ready', database: 'ok', cache: 'ok' });
  });

  test('serves reads from its replica', async () => {
    const product = await createProduct(1234);
    await pg.waitForCatchUp();
    expect(await priceOn(secondary, product.id)).toBe(1234);
    const list = await secondary.inject({ method: 'GET', url: '/api/products?limit=100' });
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((p: { id: string }) => p.id)).toContain(product.id);
  });

  test.each([
    ['POST', '/api/users', { email: 'x@example.test', password: 'correct horse battery', name: 'X' }],
    ['POST', '/api/orders', { items: [] }],
    ['DELETE', '/api/sessions', undefined],
    ['PATCH', '/api/products/00000000-0000-4000-8000-000000000000', { priceCents: 1 }],
    ['PUT', '/api/anything', undefined],
  ])('answers %s %s with 421 naming the home region, before any handler', async (method, url, payload) => {
    const response = await secondary.inject({
      method: method as 'POST',
      url,
      ...(payload ? { payload } : {}),
    });
    expect(response.statusCode).toBe(421);
    expect(response.json()).toEqual({ error: 'writes are served by the home region us-east-1' });
    expect(setCookies(response)).toEqual([]);
  });

  test('a write that reaches the read-only replica anyway (a GET that writes) is the same 421, never a 500', async () => {
    // GIVEN a second secondary instance with a route that writes on a GET (as a bug would)
    const other = await secondaryInstance();
    other.get('/test/writes-on-get', async () => {
      await other.shop.db.writer.query('INSERT INTO invalidation_outbox (tags) VALUES ($1)', [['x']]);
      return { wrote: true };
    });
    // WHEN it is called
    const response = await other.inject({ method: 'GET', url: '/test/writes-on-get' });
    // THEN Postgres refused it (25006) and the client got the 421
    expect(response.statusCode).toBe(421);
    expect(response.json()).toEqual({ error: 'writes are served by the home region us-east-1' });
    // AND the region still has one follower: the first instance keeps the lease
    expect(other.shop.follower?.isLeader).toBe(false);
    expect(secondary.shop.follower?.isLeader).toBe(true);
  });

  test('a session made at home is valid here, and GETs here write nothing to the session replica', async () => {
    // GIVEN a user who signed up at home and then wrote there (a read-your-writes marker in the session)
    const { cookie, user } = await signUp(home);
    const product = await createProduct(500);
    const order = await home.inject({
      method: 'POST',
      url: '/api/orders',
      headers: { cookie },
      payload: { items: [{ productId: product.id, quantity: 1 }] },
    });
    expect(order.statusCode).toBe(201);
    const wroteAt = Date.now();
    await pg.waitForCatchUp();
    // WHEN the session has replicated to the region's read-only session store
    const replica = sessionsReplica.client();
    await until(
      async () =>
        (await secondary.inject({ method: 'GET', url: '/api/me', headers: { cookie } })).statusCode === 200,
      'the session to reach the session replica',
    );
    // AND the marker's window has passed, so reading it would clear it (a modified session)
    await until(() => Date.now() > wroteAt + WINDOW_MS + 50, 'the read-your-writes window to end');
    const before = await sessionWritesOn(replica);
    const stored = await sessionsIn(replica);
    expect(Object.keys(stored).length).toBeGreaterThan(0);
    // THEN the user is logged in on the secondary, across several reads
    for (const url of ['/api/me', '/api/orders', `/api/products/${product.id}`, '/api/me']) {
      const response = await secondary.inject({ method: 'GET', url, headers: { cookie } });
      expect({ url, status: response.statusCode }).toEqual({ url, status: 200 });
      if (url === '/api/me') expect(response.json().user.id).toBe(user.id);
      // AND no response refreshes or replaces the session cookie
      expect(setCookies(response)).toEqual([]);
    }
    // AND nothing was written to the session store: no command, no refused write, the stored session unchanged
    expect(await sessionWritesOn(replica)).toEqual(before);
    expect((secondary.shop.sessions as ReadOnlySessionStore).refusedWrites).toBe(0);
    expect(await sessionsIn(replica)).toEqual(stored);
    // AND an anonymous read creates no session either
    const anonymous = await secondary.inject({ method: 'GET', url: '/api/me' });
    expect(anonymous.statusCode).toBe(401);
    expect(setCookies(anonymous)).toEqual([]);
    expect(await sessionWritesOn(replica)).toEqual(before);
  });

  test('a price change at home reaches the regional cache only once the replica has it, then never reverts', async () => {
    // GIVEN a product cached in the secondary region
    const product = await createProduct(1000);
    await pg.waitForCatchUp();
    expect(await priceOn(secondary, product.id)).toBe(1000);
    const regional = regionalCache.client();
    const tagKey = `${homeCache.prefix}t:product:${product.id}`;
    // (the creation's outbox row seen by a follower poll that began after the catch-up, and its own second
    // application done, so the version only moves for the change below)
    const caughtUpPolls = secondary.shop.follower!.polls;
    await until(
      () => secondary.shop.follower!.polls >= caughtUpPolls + 2,
      'a follower poll after the catch-up',
    );
    await until(() => secondary.shop.follower!.pendingSecondPasses === 0, 'the settle passes');
    const versionBefore = await regional.get(tagKey);
    // WHEN the price changes at home while the region's replica is paused
    await pg.pauseReplay();
    try {
      const patch = await home.inject({
        method: 'PATCH',
        url: `/api/products/${product.id}`,
        headers: { cookie: admin },
        payload: { priceCents: 2000 },
      });
      expect(patch.statusCode).toBe(200);
      // THEN several follower polls later the region still serves the old price, from its cache, unbumped: the
      // outbox row is not on the replica, and neither is the new price
      const polls = secondary.shop.follower!.polls;
      await until(() => secondary.shop.follower!.polls >= polls + 5, 'five follower polls');
      expect(await priceOn(secondary, product.id)).toBe(1000);
      expect(await regional.get(tagKey)).toBe(versionBefore);
    } finally {
      await pg.resumeReplay();
    }
    // WHEN the replica replays the write
    const resumed = Date.now();
    await until(
      async () => (await priceOn(secondary, product.id)) === 2000,
      'the new price on the secondary',
      5_000,
    );
    const delayMs = Date.now() - resumed;
    // THEN the new price shows within a bound (replica replay plus a follower poll), the tag was bumped, and every
    // later read (the cache refilled after the follower applied the row) has it
    expect(delayMs).toBeLessThan(5_000);
    expect(Number(await regional.get(tagKey))).toBeGreaterThan(Number(versionBefore ?? 0));
    for (let i = 0; i < 20; i++) expect(await priceOn(secondary, product.id)).toBe(2000);
  });
});

describe('the home region', () => {
  test('pins the viewer home after a successful write, not after a failed one or a read', async () => {
    const { cookie } = await signUp(home);
    const product = await createProduct(300);
    // A successful POST: the pin cookie with the window as Max-Age (1500 ms -> 2 s)
    const ok = await home.inject({
      method: 'POST',
      url: '/api/orders',
      headers: { cookie },
      payload: { items: [{ productId: product.id, quantity: 1 }] },
    });
    expect(ok.statusCode).toBe(201);
    const pin = setCookies(ok).find((c) => c.startsWith(`${HOME_PIN_COOKIE}=`));
    expect(pin).toBeDefined();
    expect(pin!.split('; ').sort()).toEqual(
      [`${HOME_PIN_COOKIE}=1`, 'Max-Age=2', 'Path=/', 'HttpOnly', 'SameSite=Lax'].sort(),
    );
    // A failed POST (validation), a failed POST (not logged in), and a GET: no pin
    const invalid = await home.inject({
      method: 'POST',
      url: '/api/orders',
      headers: { cookie },
      payload: { items: 'none' },
    });
    expect(invalid.statusCode).toBe(400);
    const anonymous = await home.inject({
      method: 'POST',
      url: '/api/orders',
      payload: { items: [{ productId: product.id, quantity: 1 }] },
    });
    expect(anonymous.statusCode).toBe(401);
    const read = await home.inject({ method: 'GET', url: '/api/orders', headers: { cookie } });
    expect(read.statusCode).toBe(200);
    for (const response of [invalid, anonymous, read])
      expect(setCookies(response).filter((c) => c.startsWith(`${HOME_PIN_COOKIE}=`))).toEqual([]);
    // Sign-up is a write too
    const signedUp = await home.inject({
      method: 'POST',
      url: '/api/users',
      payload: { email: uniqueEmail('pin'), password: 'correct horse battery', name: 'Pin' },
    });
    expect(signedUp.statusCode).toBe(201);
    expect(setCookies(signedUp).some((c) => c.startsWith(`${HOME_PIN_COOKIE}=1`))).toBe(true);
  });
});

describe('the regional follower', () => {
  let replicaPool: Pool;
  let cursorRedis: TestRedisPrefix;
  let redis: Redis;
  const followers: OutboxFollower[] = [];

  beforeAll(async () => {
    replicaPool = new Pool({ connectionString: pg.replicaUrl, max: 2 });
    cursorRedis = createTestRedisPrefix();
    redis = new Redis(TEST_REDIS_URL);
  });

  afterAll(async () => {
    for (const follower of followers) await follower.stop();
    redis?.disconnect();
    await cursorRedis?.cleanup();
    await replicaPool?.end();
  });

  /** A follower of the replica's main outbox recording what it applies (poll driven by the test). */
  function follower(now?: () => number, settleMs = 0) {
    const applied: string[][] = [];
    const instance = new OutboxFollower({
      sources: [{ source: 'main', reader: replicaPool }],
      redis,
      keyPrefix: cursorRedis.prefix,
      apply: async (tags) => {
        applied.push([...tags]);
      },
      pollMs: 50,
      gapGraceMs: 60_000,
      settleMs,
      ...(now ? { now } : {}),
    });
    followers.push(instance);
    return { instance, applied, tags: () => applied.flat() };
  }

  async function insertOnPrimary(client: Client, tag: string): Promise<bigint> {
    const { rows } = await client.query<{ id: string }>(
      'INSERT INTO invalidation_outbox (tags) VALUES ($1) RETURNING id::text AS id',
      [[tag]],
    );
    return BigInt(rows[0].id);
  }

  test('applies a row that commits after a row with a higher id (out-of-order commit)', async () => {
    let clock = Date.now();
    const first = follower(() => clock);
    // First start: no cursor, so it invalidates everything once
    await first.instance.pollOnce();
    expect(first.applied[0]).toEqual(['*']);
    expect(first.instance.flushes).toBe(1);
    const slow = new Client({ connectionString: pg.primaryUrl });
    const fast = new Client({ connectionString: pg.primaryUrl });
    await slow.connect();
    await fast.connect();
    try {
      // GIVEN a transaction that takes an outbox id and does not commit yet
      await slow.query('BEGIN');
      const slowId = await insertOnPrimary(slow, 'ooo:slow');
      // AND a later transaction that takes the next id and commits
      const fastId = await insertOnPrimary(fast, 'ooo:fast');
      expect(fastId).toBeGreaterThan(slowId);
      await pg.waitForCatchUp();
      // WHEN the follower reads past the higher id
      await first.instance.pollOnce();
      expect(first.tags()).toContain('ooo:fast');
      expect(first.tags()).not.toContain('ooo:slow');
      // AND the lower id commits afterwards
      await slow.query('COMMIT');
      await pg.waitForCatchUp();
      await first.instance.pollOnce();
      // THEN the follower applies it too (a plain `id > cursor` would have skipped it), exactly once
      expect(first.tags().filter((t) => t === 'ooo:slow')).toHaveLength(1);
      await first.instance.pollOnce();
      expect(first.tags().filter((t) => t === 'ooo:slow')).toHaveLength(1);
      expect(first.tags().filter((t) => t === 'ooo:fast')).toHaveLength(1);
      // AND a rolled-back id is forgotten after the grace, not waited for forever
      await slow.query('BEGIN');
      const neverId = await insertOnPrimary(slow, 'ooo:never');
      await insertOnPrimary(fast, 'ooo:after');
      await slow.query('ROLLBACK');
      await pg.waitForCatchUp();
      await first.instance.pollOnce();
      expect(first.tags()).toContain('ooo:after');
      expect(first.tags()).not.toContain('ooo:never');
      expect(first.instance.missingIds('main')).toEqual([neverId]);
      clock += 60_001;
      await first.instance.pollOnce();
      expect(first.instance.missingIds('main')).toEqual([]);
    } finally {
      await slow.end();
      await fast.end();
    }
    await first.instance.stop();
  });

  test('a restarted follower resumes from its cursor in Redis: new rows only, no flush', async () => {
    const writer = new Client({ connectionString: pg.primaryUrl });
    await writer.connect();
    try {
      // GIVEN rows committed while no follower runs (the previous test's follower stopped and saved its cursor)
      await insertOnPrimary(writer, 'restart:1');
      await insertOnPrimary(writer, 'restart:2');
      await pg.waitForCatchUp();
      // WHEN a new follower process starts
      const next = follower();
      await next.instance.pollOnce();
      // THEN it applies exactly the rows it had not seen, without invalidating everything
      expect(next.instance.flushes).toBe(0);
      expect(next.tags().sort()).toEqual(['restart:1', 'restart:2']);
      await next.instance.stop();
    } finally {
      await writer.end();
    }
  });

  test('applies each row a second time after settleMs (for readers that replay it later than the one read)', async () => {
    const writer = new Client({ connectionString: pg.primaryUrl });
    await writer.connect();
    try {
      const settled = follower(undefined, 100);
      await settled.instance.pollOnce();
      await insertOnPrimary(writer, 'settle:1');
      await pg.waitForCatchUp();
      await settled.instance.pollOnce();
      expect(settled.tags().filter((t) => t === 'settle:1')).toHaveLength(1);
      await until(
        () => settled.tags().filter((t) => t === 'settle:1').length === 2,
        'the second application of the row',
      );
      await settled.instance.stop();
    } finally {
      await writer.end();
    }
  });

  test('a follower away longer than the outbox keeps rows invalidates the whole regional cache', async () => {
    // GIVEN a cursor last moved 31 minutes ago (the home region prunes sent rows after an hour)
    const later = follower(() => Date.now() + 31 * 60_000);
    // WHEN it resumes
    await later.instance.pollOnce();
    // THEN it cannot know what was pruned meanwhile: everything in the regional cache is invalidated
    expect(later.instance.flushes).toBe(1);
    expect(later.applied[0]).toEqual(['*']);
    await later.instance.stop();
  });

  test('a region whose Redis lost the cursor invalidates its whole cache, first level included', async () => {
    // GIVEN a product cached on the secondary (Redis and first level)
    const product = await createProduct(700);
    await pg.waitForCatchUp();
    expect(await priceOn(secondary, product.id)).toBe(700);
    const misses = async () =>
      Number(
        (
          (await secondary.metricsServer.inject({ method: 'GET', url: '/metrics' })).body
            .split('\n')
            .find((l) => l.startsWith('cache_requests_total{result="miss"}')) ?? ' 0'
        ).split(' ')[1],
      );
    const before = await misses();
    const regional = regionalCache.client();
    const everyEntry = `${homeCache.prefix}t:*`;
    const version = Number((await regional.get(everyEntry)) ?? 0);
    // WHEN the regional Redis loses the follower's keys (a restart without persistence)
    const followers = apps.flatMap((app) => (app.shop.follower ? [app.shop.follower] : []));
    const flushes = () => followers.reduce((sum, f) => sum + f.flushes, 0);
    const flushed = flushes();
    await regional.del(
      `${homeCache.prefix}region-follower:cursor:main`,
      `${homeCache.prefix}region-follower:lease`,
    );
    // (whichever secondary instance takes the lease next finds no cursor)
    await until(() => flushes() > flushed, 'a follower of the region to invalidate the regional cache');
    // THEN the next read misses in both levels (the Redis entry carries the old `*` version) and reloads
    expect(Number(await regional.get(everyEntry))).toBe(version + 1);
    expect(await priceOn(secondary, product.id)).toBe(700);
    expect(await misses()).toBe(before + 1);
    // AND one follower of the region follows on from its new cursor: the one holding the lease (the former holder
    // learns it lost the lease at its next renewal, up to a poll later, so this waits for that)
    await until(
      () => followers.filter((f) => f.isLeader).length === 1,
      'exactly one follower of the region to believe it holds the lease',
    );
    const holder = await regional.get(`${homeCache.prefix}region-follower:lease`);
    expect(holder).not.toBeNull();
    expect(followers.filter((f) => f.isLeader).map((f) => f.instanceId)).toEqual([holder]);
  });
});
