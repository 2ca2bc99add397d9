/**
 * The benchmark's app processes against the real app: each has a metrics listener of its own (the main port
 * answers 404 for /metrics), and the admin is made the supported way (the admin command's grant) and acts as
 * an admin on another process. Real Postgres (a scratch database) and Redis (a key prefix of its own).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { hashPassword } from '../app/src/passwords';
import { createTestDatabase, type TestDatabase } from '../app/test/support/postgres';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from '../app/test/support/redis';
import { scrapeApp } from './metrics';
import type { ManagedProcess } from './processes';
import {
  EDGE_HEADERS,
  grantAdmin,
  logIn,
  migrateAndSeed,
  signUpAdmin,
  startAppProcess,
  type AppLauncher,
  type AppProcess,
  type SeededData,
} from './topology';

const repoRoot = path.resolve(__dirname, '..');
// The sources under tsx, not a possibly stale bundle in app/dist.
const launcher: AppLauncher = {
  command: process.execPath,
  args: ['--import', 'tsx', path.join(repoRoot, 'app', 'src', 'server.ts')],
  description: 'tsx',
};
const ADMIN = 'bench-topology-admin@example.test';
const PASSWORD = 'bench-password-1';

let database: TestDatabase;
let redis: TestRedisPrefix;
let seeded: SeededData;
let env: Record<string, string>;
const apps: AppProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  redis = createTestRedisPrefix();
  seeded = await migrateAndSeed(
    database.url,
    { products: 3, users: 2, ordersPerUser: 0 },
    await hashPassword(PASSWORD),
  );
  env = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    SESSION_SECRET: randomBytes(32).toString('hex'),
    ADMIN_EMAILS: ADMIN,
    SEED_DEMO_DATA: 'false',
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: redis.prefix,
    CACHE_STORE: 'redis',
    SESSION_STORE: 'redis',
  };
  for (const name of ['app 1', 'app 2']) apps.push(await startAppProcess(launcher, name, env, repoRoot));
}, 120_000);

afterAll(async () => {
  await Promise.all(apps.map((app: ManagedProcess) => app.stop()));
  await redis?.cleanup();
  await database?.drop();
});

describe('startAppProcess', () => {
  it('gives every process a metrics port of its own, where /metrics is served (404 on the main port)', async () => {
    const metricsUrls = apps.map((a) => a.metricsUrl);
    expect(new Set([...metricsUrls, ...apps.map((a) => a.url)]).size).toBe(4);
    for (const app of apps) {
      const scrape = await scrapeApp(app.metricsUrl);
      expect(scrape.counters.dbWriter).toBeGreaterThan(0); // /readyz pinged the database
      expect((await fetch(new URL('/metrics', app.url))).status).toBe(404);
      await expect(scrapeApp(app.url)).rejects.toThrow(/answered 404 \(is this the app's METRICS_PORT/);
    }
  });
});

describe('signUpAdmin', () => {
  const patchPrice = (baseUrl: string, cookie: string) =>
    fetch(new URL(`/api/products/${seeded.productIds[0]}`, baseUrl), {
      method: 'PATCH',
      headers: { ...EDGE_HEADERS, 'content-type': 'application/json', cookie },
      body: JSON.stringify({ priceCents: 1234 }),
    });

  it('grants the role through the admin command, so the admin can update prices on any process', async () => {
    const cookie = await signUpAdmin(apps[0].url, ADMIN, PASSWORD, env);
    const response = await patchPrice(apps[1].url, cookie);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { priceCents: number }).priceCents).toBe(1234);
  });

  it('refuses to grant an email the processes do not list in ADMIN_EMAILS, and that user stays a customer', async () => {
    const customer = seeded.customerEmails[0];
    await expect(grantAdmin(env, customer)).rejects.toThrow(`${customer} is not in the app's ADMIN_EMAILS`);
    const response = await patchPrice(apps[0].url, await logIn(apps[0].url, customer, PASSWORD));
    expect(response.status).toBe(403);
  });
});
