import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app';
import { PgliteDatabase } from '../src/db/pglite-database';
import { testConfig } from './support/app';
import { startPglite } from './support/pglite';
import { describeShopApi } from './support/shop-api-cases';

// Embedded defaults: PGlite in memory, in-process cache and sessions (one PGlite for the whole file).
let app: FastifyInstance;
const adminEmail = 'admin-embedded@example.test';

beforeAll(async () => {
  app = await buildApp({
    config: testConfig({ ADMIN_EMAILS: adminEmail }),
    database: async (observe) => PgliteDatabase.wrap(await startPglite(), { observe }),
    logger: false,
  });
  expect(app.shop.db.kind).toBe('pglite');
  expect(app.shop.cache.store.kind).toBe('memory');
}, 120_000);

afterAll(async () => {
  await app?.close();
});

describeShopApi('embedded: PGlite, in-process cache and sessions', () => ({ app, adminEmail }));

test('readyz reports the in-process cache', async () => {
  expect((await app.inject({ method: 'GET', url: '/readyz' })).json().cache).toBe('memory');
});
