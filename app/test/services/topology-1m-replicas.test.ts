// Stage 1m with two products processes (as AWS runs at least 2 tasks): the local topology with productsReplicas 2,
// the gateway balancing across them and the orders service reaching them through a round-robin (Service Connect's
// part in AWS). One killed: catalog reads keep coming (from the shared Redis cache, no database read) with no 5xx,
// and orders keep succeeding. Both killed: orders 503 within the budget, catalog reads 503 quickly. Restarted:
// everything recovers.
import type { FastifyInstance } from 'fastify';
import {
  THROWAWAY_POSTGRES_SETTINGS,
  startLocalTopology,
  type LocalTopology,
} from '../../../tools/local-topology/services';
import { buildApp } from '../../src/app';
import { sessionCookie, signUp, signUpAdmin, testConfig } from '../support/app';
import { shopOverHttp } from '../support/shop-over-http';
import { until } from '../support/wait';
import { call, orderPlacer } from '../support/http-calls';

jest.setTimeout(240_000);

const adminEmail = 'admin-1m-replicas@example.test';
const PRODUCTS_BUDGET_MS = 3000;
const BREAKER_RESET_MS = 2000;

let topology: LocalTopology;
let inspector: FastifyInstance;
let shop: FastifyInstance;

beforeAll(async () => {
  topology = await startLocalTopology({
    stage: '1m',
    postgresSettings: THROWAWAY_POSTGRES_SETTINGS,
    productsReplicas: 2,
    env: {
      ADMIN_EMAILS: adminEmail,
      PRODUCTS_TIMEOUT_MS: '1000',
      PRODUCTS_RETRIES: '2',
      PRODUCTS_BUDGET_MS: String(PRODUCTS_BUDGET_MS),
      PRODUCTS_BREAKER_RESET_MS: String(BREAKER_RESET_MS),
      // No in-process first level: every catalog read is a lookup in the shared Redis cache, counted as such.
      FIRST_LEVEL_CACHE_MAX_ENTRIES: '0',
      // Quiet background: the database reads counted below are the requests' own.
      OUTBOX_POLL_MS: '60000',
      SHARD_MAP_REFRESH_MS: '60000',
    },
    gatewayEnv: { GATEWAY_UPSTREAM_COOLDOWN_MS: '1000', LOG_LEVEL: 'warn' },
  });
  inspector = await buildApp({
    config: testConfig({
      ...topology.env,
      ADMIN_EMAILS: adminEmail,
      METRICS_PORT: '0',
      OUTBOX_POLL_MS: '60000',
      SHARD_MAP_REFRESH_MS: '60000',
    }),
    logger: false,
  });
  const metricsUrls = ['users', 'products', 'products-2', 'orders'].map(
    (name) => topology.processes.get(name as 'users')!.metricsUrl!,
  );
  shop = shopOverHttp(topology.url, metricsUrls, inspector);
});

afterAll(async () => {
  await inspector?.close();
  await topology?.stop();
});

/** One counter of one products process (0 when it has not counted yet, or is not running). */
async function counter(name: 'products' | 'products-2', series: string): Promise<number> {
  if (topology.processes.get(name)!.pid === undefined) return 0;
  const text = await (await call(`${topology.processes.get(name)!.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
}
const dbReads = async (name: 'products' | 'products-2') =>
  (await counter(name, 'db_queries_total{pool="writer"}')) +
  (await counter(name, 'db_queries_total{pool="reader"}'));

test('the topology refuses a productsReplicas it cannot run, naming the option', async () => {
  await expect(startLocalTopology({ productsReplicas: 0 })).rejects.toThrow(
    /productsReplicas must be an integer/,
  );
  await expect(startLocalTopology({ stage: '100k', productsReplicas: 2 })).rejects.toThrow(
    /productsReplicas applies to stage 1m only/,
  );
});

test('two products processes: one killed, then both, then restarted', async () => {
  // GIVEN two products processes, both serving through the gateway
  const hits = async () => ({
    first: await counter('products', 'cache_requests_total{result="hit"}'),
    second: await counter('products-2', 'cache_requests_total{result="hit"}'),
  });
  const login = await shop.inject({
    method: 'POST',
    url: '/api/sessions',
    payload: { email: adminEmail, password: 'correct horse battery' },
  });
  const adminCookie =
    login.statusCode === 200 ? sessionCookie(login) : (await signUpAdmin(shop, adminEmail)).cookie;
  const created = await shop.inject({
    method: 'POST',
    url: '/api/products',
    headers: { cookie: adminCookie },
    payload: { sku: `replicas-${Date.now()}`, name: 'Twin teapot', priceCents: 2500, stock: 20 },
  });
  expect(created.statusCode).toBe(201);
  const product = created.json() as { id: string; stock: number };
  const productUrl = `${topology.url}/api/products/${product.id}`;
  // (reads until both processes have answered one from the shared cache: the gateway balances across them)
  await until(async () => {
    expect((await call(productUrl)).status).toBe(200);
    const h = await hits();
    return h.first > 0 && h.second > 0;
  }, 'both products processes to serve the product from the cache');
  const cached = await (await call(productUrl)).json();
  const customer = await signUp(shop);
  const order = orderPlacer(topology.url, customer.cookie, product.id);

  // WHEN one products process is killed (a crashed task)
  await topology.kill('products');

  // THEN catalog reads keep coming with no 5xx (the gateway fails a GET over to the surviving process) ...
  const readsBefore = await dbReads('products-2');
  const hitsBefore = await hits();
  const missesBefore = await counter('products-2', 'cache_requests_total{result="miss"}');
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) {
    const response = await call(productUrl);
    statuses.push(response.status);
    expect(await response.json()).toEqual(cached);
  }
  expect(statuses).toEqual(Array(10).fill(200));
  // ... every one answered by the survivor from the shared Redis cache: 10 hits, no database read
  expect((await hits()).second - hitsBefore.second).toBe(10);
  expect(await counter('products-2', 'cache_requests_total{result="miss"}')).toBe(missesBefore);
  expect((await dbReads('products-2')) - readsBefore).toBe(0);
  // AND orders keep succeeding (the reservation reaches the survivor; it is idempotent by order id when retried)
  for (let i = 0; i < 3; i++) expect((await order(1)).status).toBe(201);

  // WHEN the second products process is killed too
  await topology.kill('products-2');

  // THEN an order is a 503 with Retry-After within the orders service's budget: no hang
  for (let i = 0; i < 2; i++) {
    const started = Date.now();
    const refused = await order(1);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
    expect(Date.now() - started).toBeLessThan(PRODUCTS_BUDGET_MS + 1000);
  }
  // AND catalog reads are a 503 quickly (every process refused), not left hanging
  for (let i = 0; i < 3; i++) {
    const started = Date.now();
    const response = await call(productUrl);
    expect(response.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2000);
  }

  // WHEN both are restarted
  await Promise.all([topology.restart('products'), topology.restart('products-2')]);

  // THEN both serve catalog reads from the cache again (each gets traffic again after the gateway's cool-down)
  await until(async () => {
    expect((await call(productUrl)).status).toBe(200);
    const h = await hits();
    return h.first > 0 && h.second > 0;
  }, 'both restarted products processes to serve reads');
  // AND orders succeed again once the breaker's probe gets through
  await until(
    async () => (await order(2)).status === 201,
    'an order after the restart',
    BREAKER_RESET_MS + 15_000,
  );
  // AND the stock shows exactly the placed orders (3 x 1 while one process was down, 1 x 2 after): none lost or
  // taken twice by the retried or refused calls
  await until(
    async () => (await (await call(productUrl)).json()).stock === product.stock - 5,
    'the stock to show the placed orders',
  );
  const mine = await (
    await call(`${topology.url}/api/orders`, { headers: { cookie: customer.cookie } })
  ).json();
  expect(mine.items).toHaveLength(4);
});
