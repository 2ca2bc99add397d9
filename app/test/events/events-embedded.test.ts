import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app';
import { PgliteDatabase } from '../../src/db/pglite-database';
import { seedCatalog } from '../../src/db/seed';
import { signUp, testConfig } from '../support/app';
import { startPglite } from '../support/pglite';
import { until } from '../support/wait';

// The embedded default (`npm start`): PGlite and the in-process bus; the same relays and consumers as the
// real topologies, so the behaviour is the same.
let app: FastifyInstance;

beforeAll(async () => {
  app = await buildApp({
    config: testConfig(),
    database: async (observe) => PgliteDatabase.wrap(await startPglite(), { observe }),
    logger: false,
  });
}, 120_000);

afterAll(async () => {
  await app?.close();
});

test('embedded: the in-process bus counts orders and releases a cancelled order’s stock', async () => {
  expect(app.shop.config.events.bus).toBe('memory');
  const {
    ids: [productId],
  } = await seedCatalog(app.shop.db.writer, 1);
  const stock = async () =>
    Number(
      (await app.shop.db.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [productId]))
        .rows[0].stock,
    );
  const { cookie } = await signUp(app);
  const placed = await app.inject({
    method: 'POST',
    url: '/api/orders',
    headers: { cookie },
    payload: { items: [{ productId, quantity: 4 }] },
  });
  expect(placed.statusCode).toBe(201);
  const me = async () =>
    (await app.inject({ method: 'GET', url: '/api/me', headers: { cookie } })).json().user.orderCount;
  await until(async () => (await me()) === 1, 'the order to be counted');
  const before = await stock();
  const cancelled = await app.inject({
    method: 'POST',
    url: `/api/orders/${placed.json().id}/cancel`,
    headers: { cookie },
  });
  expect(cancelled.statusCode).toBe(200);
  await until(async () => (await stock()) === before + 4, 'the stock to come back');
});
