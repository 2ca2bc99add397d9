import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { appEntryArgs } from '../../tools/local-topology/app-entry';
import { PgliteDatabase } from '../src/db/pglite-database';
import { buildApp } from '../src/app';
import { grantAdmin, signUp, testConfig, uniqueEmail } from './support/app';
import { startPglite } from './support/pglite';
import { createTestDatabase, type TestDatabase } from './support/postgres';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from './support/redis';

// Roles are read per request (cached, invalidated on change), never trusted from the session; admins are
// made only by the admin command, and only while their address is in ADMIN_EMAILS.
const repoRoot = path.resolve(__dirname, '../..');
const listed = 'boss@example.test';
const alsoListed = 'deputy@example.test';
let database: TestDatabase;
let redis: TestRedisPrefix;
const apps: FastifyInstance[] = [];

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: redis.prefix,
    SESSION_SECRET: 'a-session-secret-of-at-least-32-characters',
    ADMIN_EMAILS: `${listed},${alsoListed}`,
    ...extra,
  };
}

async function instance(extra: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await buildApp({ config: testConfig(env(extra)), logger: false });
  apps.push(app);
  return app;
}

/** Runs the admin command (`npm run admin -- <args>`, as app-entry.ts starts it) as the one-off command it is. */
function adminCommand(args: string[], extra: Record<string, string> = {}) {
  return spawnSync(process.execPath, [...appEntryArgs('admin'), ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, ...env(extra) },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

const createProduct = (app: FastifyInstance, cookie: string) =>
  app.inject({
    method: 'POST',
    url: '/api/products',
    headers: { cookie },
    payload: { sku: `ROLE-${Math.random().toString(36).slice(2, 10)}`, name: 'R', priceCents: 1, stock: 1 },
  });

beforeAll(async () => {
  database = await createTestDatabase();
  redis = createTestRedisPrefix();
});

afterAll(async () => {
  for (const app of apps) await app.close();
  await redis.cleanup();
  await database.drop();
});

describe('real adapters: Postgres, Redis cache and sessions, two instances', () => {
  test('signing up with a listed email makes a customer; the admin command grants, and revokes for open sessions on every instance', async () => {
    const [a, b] = [await instance(), await instance()];
    const { cookie } = await signUp(a, listed);
    expect((await a.inject({ method: 'GET', url: '/api/me', headers: { cookie } })).json().user.role).toBe(
      'customer',
    );
    expect((await createProduct(a, cookie)).statusCode).toBe(403);

    // WHEN the operator runs the one-off command
    const granted = adminCommand(['grant', listed.toUpperCase()]);
    expect(granted.stderr).toBe('');
    expect(granted.status).toBe(0);
    expect(JSON.parse(granted.stdout)).toMatchObject({
      msg: 'admin role granted',
      email: listed,
      cacheInvalidated: true,
    });
    // THEN the session already open is an admin on both instances (the role was cached as customer on A)
    expect((await createProduct(a, cookie)).statusCode).toBe(201);
    expect((await createProduct(b, cookie)).statusCode).toBe(201);

    // WHEN the role is revoked THEN the same session loses it at its next request, on both instances
    const revoked = adminCommand(['revoke', listed]);
    expect(revoked.status).toBe(0);
    expect((await createProduct(a, cookie)).statusCode).toBe(403);
    expect((await createProduct(b, cookie)).statusCode).toBe(403);
    expect((await b.inject({ method: 'GET', url: '/api/me', headers: { cookie } })).json().user.role).toBe(
      'customer',
    );
  }, 120_000);

  test('removing an address from ADMIN_EMAILS demotes it (instances started with the new list)', async () => {
    const before = await instance();
    const { cookie } = await signUp(before, alsoListed);
    await grantAdmin(before, alsoListed);
    expect((await createProduct(before, cookie)).statusCode).toBe(201);
    // The deployment's next version lists only the other address; the session cookie stays valid.
    const after = await instance({ ADMIN_EMAILS: listed });
    expect((await createProduct(after, cookie)).statusCode).toBe(403);
    expect(
      (await after.inject({ method: 'GET', url: '/api/me', headers: { cookie } })).json().user.role,
    ).toBe('customer');
  });

  test('a grant to an address not in ADMIN_EMAILS confers nothing, and the command says so', async () => {
    const app = await instance();
    const email = uniqueEmail('unlisted');
    const { cookie } = await signUp(app, email);
    const result = adminCommand(['grant', email]);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout).notes).toEqual([
      `${email} is not in ADMIN_EMAILS: the grant takes effect only once the address is listed there`,
    ]);
    expect((await createProduct(app, cookie)).statusCode).toBe(403);
  }, 60_000);

  test('the command fails with a message for an unknown user or a bad command line', () => {
    const unknown = adminCommand(['grant', 'nobody-here@example.test']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('no user with email nobody-here@example.test: they must sign up first');
    const usage = adminCommand(['promote', listed]);
    expect(usage.status).toBe(1);
    expect(usage.stderr).toContain('usage: npm run admin -- grant|revoke <email>');
  }, 60_000);

  test('a session whose user is deleted gets 401 on admin routes, not the role it had', async () => {
    const app = await instance();
    const email = uniqueEmail('gone');
    const { cookie, user } = await signUp(app, email);
    await app.shop.db.query('DELETE FROM users WHERE id = $1', [user.id]);
    expect((await createProduct(app, cookie)).statusCode).toBe(401);
  });

  test('an admin check costs no query while the role is cached', async () => {
    const app = await instance();
    const { cookie } = await signUp(app, listed.replace('boss', 'boss2'));
    await createProduct(app, cookie); // loads the role
    const queries = async () =>
      Number(
        (await app.metricsServer.inject({ method: 'GET', url: '/metrics' })).body.match(
          /^db_queries_total\{pool="writer"\} (\d+)/m,
        )?.[1],
      );
    const before = await queries();
    for (let i = 0; i < 5; i++) expect((await createProduct(app, cookie)).statusCode).toBe(403);
    expect((await queries()) - before).toBe(0);
  });
});

test('embedded: PGlite and the in-process cache apply a grant and a revocation to an open session', async () => {
  const app = await buildApp({
    config: testConfig({ ADMIN_EMAILS: 'embedded-admin@example.test' }),
    database: async (observe) => PgliteDatabase.wrap(await startPglite(), { observe }),
    logger: false,
  });
  apps.push(app);
  const { cookie } = await signUp(app, 'embedded-admin@example.test');
  expect((await createProduct(app, cookie)).statusCode).toBe(403);
  await grantAdmin(app, 'embedded-admin@example.test');
  expect((await createProduct(app, cookie)).statusCode).toBe(201);
  await grantAdmin(app, 'embedded-admin@example.test', 'revoke');
  expect((await createProduct(app, cookie)).statusCode).toBe(403);
}, 120_000);
