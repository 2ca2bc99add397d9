import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app';
import { metricValue, signUp, testConfig, uniqueEmail } from './support/app';
import { createTestDatabase, type TestDatabase } from './support/postgres';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server';

// A Redis that hangs (SIGSTOP: connections stay open, nothing answers) and one that refuses writes, on a
// redis-server process of this file's own, with the app's real Redis adapters and Postgres.
let database: TestDatabase;
let redis: PrivateRedis;
const apps: FastifyInstance[] = [];
const RESET_MS = 1_500;

async function instance(env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await buildApp({
    config: testConfig({
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      SESSION_SECRET: 'a-session-secret-of-at-least-32-characters',
      // These tests time each read's path through Redis: no first level in front to answer from the process.
      FIRST_LEVEL_CACHE_MAX_ENTRIES: '0',
      ...env,
    }),
    logger: false,
    redisBreaker: { resetTimeoutMs: RESET_MS },
  });
  apps.push(app);
  return app;
}

const timed = async <T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> => {
  const start = performance.now();
  const value = await work();
  return { value, ms: performance.now() - start };
};

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  database = await createTestDatabase();
  redis = await startPrivateRedis();
});

afterEach(() => redis.resume());

afterAll(async () => {
  for (const app of apps) await app.close();
  await redis?.stop();
  await database?.drop();
});

describe('circuit breaker around the Redis adapters (item: a hung Redis)', () => {
  test('after a few timeouts requests fail fast from the database; a probe after the reset time closes it again', async () => {
    const app = await instance();
    const breaker = app.shop.redisBreaker!;
    const list = () => app.inject({ method: 'GET', url: '/api/products?limit=5' });
    expect((await list()).statusCode).toBe(200);
    expect((await list()).statusCode).toBe(200);
    expect(breaker.state).toBe('closed');

    // WHEN Redis hangs
    redis.pause();
    // THEN the first requests wait for the 1 s command timeout and are served from the database...
    let slow = 0;
    while (breaker.state !== 'open') {
      const { value, ms } = await timed(list);
      expect(value.statusCode).toBe(200);
      expect(ms).toBeGreaterThan(900);
      slow += 1;
      expect(slow).toBeLessThanOrEqual(5);
    }
    // ...and once the breaker is open, requests no longer wait on Redis at all.
    for (let i = 0; i < 5; i++) {
      const { value, ms } = await timed(list);
      expect(value.statusCode).toBe(200);
      expect(ms).toBeLessThan(500);
    }
    const ready = await timed(() => app.inject({ method: 'GET', url: '/readyz' }));
    expect(ready.value.json()).toMatchObject({ status: 'ready', cache: 'degraded' });
    expect(ready.ms).toBeLessThan(500);

    // WHEN the reset time passes with Redis still hung THEN one probe waits, fails, and re-opens it
    await waitFor(() => breaker.state === 'half-open', 'half-open');
    const probe = await timed(list);
    expect(probe.value.statusCode).toBe(200);
    expect(probe.ms).toBeGreaterThan(900);
    expect(breaker.state).toBe('open');

    // WHEN Redis answers again THEN the next probe closes the breaker and the cache serves hits again
    redis.resume();
    await waitFor(() => breaker.state === 'half-open', 'half-open');
    expect((await list()).statusCode).toBe(200);
    expect(breaker.state).toBe('closed');
    await list();
    const hits = await metricValue(app, 'cache_requests_total{result="hit"}');
    await list();
    expect(await metricValue(app, 'cache_requests_total{result="hit"}')).toBe(hits + 1);
  }, 60_000);
});

describe('log-in and sign-up while Redis is unavailable (items: password oracle, sign-up)', () => {
  test('log-in refuses with the same 503 whether the password is right or wrong, and never answers 401', async () => {
    const app = await instance({ RATE_LIMIT_AUTH_MAX: '25' });
    const { email, password } = await signUp(app);
    redis.pause();
    const attempt = (pw: string) =>
      app.inject({
        method: 'POST',
        url: '/api/sessions',
        remoteAddress: '198.51.100.20',
        payload: { email, password: pw },
      });
    const right = await attempt(password);
    const wrong = await attempt('not the password');
    expect([right.statusCode, wrong.statusCode]).toEqual([503, 503]);
    expect(right.json()).toEqual(wrong.json());
    // 40 wrong passwords with a limit of 25: none of them is checked.
    const statuses = new Set<number>();
    for (let i = 0; i < 40; i++) statuses.add((await attempt(`wrong ${i}`)).statusCode);
    expect([...statuses]).toEqual([503]);
    expect((await attempt(password)).statusCode).toBe(503);
  }, 60_000);

  test('with sessions in process but rate-limit counters in Redis, log-in still refuses instead of going unlimited', async () => {
    const app = await instance({ SESSION_STORE: 'memory', RATE_LIMIT_AUTH_MAX: '25' });
    const { email, password } = await signUp(app);
    redis.pause();
    for (const pw of [password, 'not the password']) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/sessions',
        remoteAddress: '198.51.100.21',
        payload: { email, password: pw },
      });
      expect(response.statusCode).toBe(503);
      expect(response.json().message).toBe('log-in and sign-up are unavailable right now; try again shortly');
    }
  }, 60_000);

  test('sign-up during the outage saves no user, so the retry after it succeeds (not a 409)', async () => {
    const app = await instance();
    const email = uniqueEmail('outage');
    const payload = { email, password: 'long enough password', name: 'Retry' };
    redis.pause();
    const during = await app.inject({ method: 'POST', url: '/api/users', payload });
    expect(during.statusCode).toBe(503);
    const rows = await app.shop.db.query('SELECT 1 FROM users WHERE email = $1', [email]);
    expect(rows.rows).toHaveLength(0);

    redis.resume();
    await waitFor(() => app.shop.redisBreaker!.state !== 'open', 'the breaker to let a probe through');
    const after = await app.inject({ method: 'POST', url: '/api/users', payload });
    expect(after.statusCode).toBe(201);
  }, 60_000);

  test('a session store that answers but cannot store the session: the new user is taken back out', async () => {
    // GIVEN a Redis user that may do everything except SET (ping, rate-limit scripts and reads still work)
    const admin = redis.client();
    await admin.call('ACL', 'SETUSER', 'nosets', 'on', '>nosets-password', '~*', '+@all', '-set');
    const app = await instance({
      REDIS_URL: redis.url.replace('redis://', 'redis://nosets:nosets-password@'),
    });
    const email = uniqueEmail('noset');
    const payload = { email, password: 'long enough password', name: 'No set' };
    // WHEN signing up THEN 503, and no user row is left behind to turn the retry into a 409
    const first = await app.inject({ method: 'POST', url: '/api/users', payload });
    expect(first.statusCode).toBe(503);
    expect((await app.shop.db.query('SELECT 1 FROM users WHERE email = $1', [email])).rows).toHaveLength(0);
    const retry = await app.inject({ method: 'POST', url: '/api/users', payload });
    expect(retry.statusCode).toBe(503);
    await admin.call('ACL', 'SETUSER', 'nosets', '+set');
    const fixed = await app.inject({ method: 'POST', url: '/api/users', payload });
    expect(fixed.statusCode).toBe(201);
  }, 60_000);
});
