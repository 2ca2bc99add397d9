import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app';
import { sessionCookie, signUp, testConfig } from './support/app';
import { createTestDatabase, type TestDatabase } from './support/postgres';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from './support/redis';

// Several app instances against one Postgres database and one Redis key prefix, as behind a load balancer.
let database: TestDatabase;
let redis: TestRedisPrefix;
const apps: FastifyInstance[] = [];
const secret = 'a-session-secret-of-at-least-32-characters';

async function instance(env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await buildApp({
    config: testConfig({
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redis.prefix,
      SESSION_SECRET: secret,
      ...env,
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
  await redis.cleanup();
  await database.drop();
});

test('a session made on one instance is recognised by another sharing Redis, and log-out ends it on both', async () => {
  const [a, b] = [await instance(), await instance()];
  const { user, email, password } = await signUp(a);
  const login = await a.inject({ method: 'POST', url: '/api/sessions', payload: { email, password } });
  const cookie = sessionCookie(login);

  const me = await b.inject({ method: 'GET', url: '/api/me', headers: { cookie } });
  expect(me.statusCode).toBe(200);
  expect(me.json().user.id).toBe(user.id);

  expect((await b.inject({ method: 'DELETE', url: '/api/sessions', headers: { cookie } })).statusCode).toBe(
    204,
  );
  expect((await a.inject({ method: 'GET', url: '/api/me', headers: { cookie } })).statusCode).toBe(401);
});

test('with in-process sessions a second instance does not know the session (why Redis is needed)', async () => {
  const [a, b] = [await instance({ SESSION_STORE: 'memory' }), await instance({ SESSION_STORE: 'memory' })];
  const { cookie } = await signUp(a);
  expect((await a.inject({ method: 'GET', url: '/api/me', headers: { cookie } })).statusCode).toBe(200);
  expect((await b.inject({ method: 'GET', url: '/api/me', headers: { cookie } })).statusCode).toBe(401);
});

test('a cookie signed with another secret is rejected', async () => {
  const a = await instance();
  const b = await instance({ SESSION_SECRET: 'another-secret-that-is-32-characters-long' });
  const { cookie } = await signUp(a);
  expect((await b.inject({ method: 'GET', url: '/api/me', headers: { cookie } })).statusCode).toBe(401);
});

test('in production the cookie is Secure and only sent over HTTPS (as seen through the ALB)', async () => {
  const app = await instance({ NODE_ENV: 'production' });
  // Sign-up over plain HTTP works, but no cookie may be set on an insecure connection.
  const plain = await app.inject({
    method: 'POST',
    url: '/api/users',
    payload: { email: `plain-${Date.now()}@example.test`, password: 'password123', name: 'P' },
  });
  expect(plain.statusCode).toBe(201);
  expect(plain.headers['set-cookie']).toBeUndefined();

  const https = await app.inject({
    method: 'POST',
    url: '/api/users',
    headers: { 'x-forwarded-proto': 'https' },
    payload: { email: `tls-${Date.now()}@example.test`, password: 'password123', name: 'T' },
  });
  expect(https.statusCode).toBe(201);
  const cookie = String(https.headers['set-cookie']);
  expect(cookie).toContain('Secure');
  expect(cookie).toContain('HttpOnly');
});

test('log-in and sign-up are rate limited per client across instances (shared counters in Redis)', async () => {
  const env = { RATE_LIMIT_AUTH_MAX: '3', RATE_LIMIT_AUTH_WINDOW_MS: '60000' };
  const [a, b] = [await instance(env), await instance(env)];
  const attempt = (app: FastifyInstance) =>
    app.inject({
      method: 'POST',
      url: '/api/sessions',
      remoteAddress: '203.0.113.7',
      payload: { email: 'someone@example.test', password: 'wrong password' },
    });
  expect((await attempt(a)).statusCode).toBe(401);
  expect((await attempt(b)).statusCode).toBe(401);
  expect((await attempt(a)).statusCode).toBe(401);
  const limited = await attempt(b);
  expect(limited.statusCode).toBe(429);
  expect(limited.json()).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
  expect(limited.headers['retry-after']).toBeDefined();

  // Another client is not affected; sign-up has its own limit.
  const other = await a.inject({
    method: 'POST',
    url: '/api/sessions',
    remoteAddress: '203.0.113.8',
    payload: { email: 'someone@example.test', password: 'wrong password' },
  });
  expect(other.statusCode).toBe(401);
  const signUps = [];
  for (let i = 0; i < 4; i++) {
    signUps.push(
      (
        await b.inject({
          method: 'POST',
          url: '/api/users',
          remoteAddress: '203.0.113.9',
          payload: { email: `rl-${i}-${Date.now()}@example.test`, password: 'password123', name: 'R' },
        })
      ).statusCode,
    );
  }
  expect(signUps).toEqual([201, 201, 201, 429]);
});

describe('start-up warning: Redis sessions signed with a random secret', () => {
  const startWith = async (env: Record<string, string>) => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const app = await buildApp({
      config: testConfig({
        DATABASE_URL: database.url,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: redis.prefix,
        ...env,
      }),
      logger: { level: 'warn', stream },
    });
    apps.push(app);
    return { app, warnings: lines.map((line) => JSON.parse(line)).filter((entry) => entry.level === 40) };
  };

  test('Redis sessions without SESSION_SECRET warn, and two such instances indeed do not share sessions', async () => {
    const [a, b] = [await startWith({}), await startWith({})];
    expect(a.warnings.map((w) => w.msg)).toEqual([
      expect.stringMatching(
        /^SESSION_SECRET is unset: sessions are shared in Redis but signed with a random secret/,
      ),
    ]);
    const { cookie } = await signUp(a.app);
    expect((await a.app.inject({ method: 'GET', url: '/api/me', headers: { cookie } })).statusCode).toBe(200);
    expect((await b.app.inject({ method: 'GET', url: '/api/me', headers: { cookie } })).statusCode).toBe(401);
  });

  test('no warning with SESSION_SECRET set, or with sessions in process', async () => {
    expect((await startWith({ SESSION_SECRET: secret })).warnings).toEqual([]);
    expect((await startWith({ SESSION_STORE: 'memory' })).warnings).toEqual([]);
  });
});
