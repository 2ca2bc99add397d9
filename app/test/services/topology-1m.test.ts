// Stage 1m with real processes: the local topology (tools/local-topology/services.ts: 2 private PostgreSQL shards,
// Redis under a prefix of its own, the migration task, the products, users and orders services, the gateway).
// The shop's HTTP contract (shop-api-cases.ts, unchanged) runs through the gateway, and the storefront's shopper
// journey in headless Chromium (app/test/e2e/storefront-browser.ts, the storefront test's); then route ownership,
// the internal API's isolation, shared sessions, and the products service killed and restarted under orders.
import type { FastifyInstance } from 'fastify';
import {
  THROWAWAY_POSTGRES_SETTINGS,
  startLocalTopology,
  type LocalTopology,
} from '../../../tools/local-topology/services';
import { buildApp } from '../../src/app';
import { MAIN_OUTBOX } from '../../src/context';
import { DEFAULT_KEEP_ALIVE_TIMEOUT_MS } from '../../src/config';
import { ReservationReconciler } from '../../src/orders/reservation-reconciler';
import { invalidationsApplied, sessionCookie, signUp, signUpAdmin, testConfig } from '../support/app';
import { describeShopApi } from '../support/shop-api-cases';
import { shopOverHttp } from '../support/shop-over-http';
import { until } from '../support/wait';
import { call, orderPlacer } from '../support/http-calls';
import {
  createJourneyKettlesThrough,
  launchChromium,
  openWatchedPage,
  shopperJourney,
} from '../e2e/storefront-browser';

jest.setTimeout(240_000);

const adminEmail = 'admin-1m@example.test';
/** The orders service's budget for one call to products (all attempts): an order's 503 comes within it. */
const PRODUCTS_BUDGET_MS = 3000;
const BREAKER_RESET_MS = 2000;

let topology: LocalTopology;
let inspector: FastifyInstance;
let shop: FastifyInstance;

const urlOf = (name: 'users' | 'products' | 'orders' | 'gateway') => topology.processes.get(name)!.url;

beforeAll(async () => {
  topology = await startLocalTopology({
    stage: '1m',
    postgresSettings: THROWAWAY_POSTGRES_SETTINGS,
    env: {
      ADMIN_EMAILS: adminEmail,
      // The suite signs many users up from one address; the limits themselves are tested in gateway.test.ts.
      RATE_LIMIT_AUTH_MAX: '100000',
      PRODUCTS_TIMEOUT_MS: '1000',
      PRODUCTS_RETRIES: '2',
      PRODUCTS_BUDGET_MS: String(PRODUCTS_BUDGET_MS),
      PRODUCTS_BREAKER_RESET_MS: String(BREAKER_RESET_MS),
      // Quiet background: the shared cases count database queries summed over every process (a cached read
      // must make none), and four processes each polling two outboxes and the shard map would be counted too.
      // Writers wake their own relays, so invalidation does not wait for the poll.
      OUTBOX_POLL_MS: '60000',
      SHARD_MAP_REFRESH_MS: '60000',
    },
    gatewayEnv: {
      GATEWAY_AUTH_RATE_LIMIT_MAX: '100000',
      GATEWAY_RATE_LIMIT_MAX: '1000000',
      LOG_LEVEL: 'warn',
    },
  });
  // An in-process app on the same databases and Redis prefix: the database checks and the admin grant of the
  // shared cases go through it (it is one more instance of the shop, as a monolith would be).
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
  const metricsUrls = ['users', 'products', 'orders'].map(
    (name) => topology.processes.get(name as 'users')!.metricsUrl!,
  );
  shop = shopOverHttp(topology.url, metricsUrls, inspector);
});

afterAll(async () => {
  await inspector?.close();
  await topology?.stop();
});

describeShopApi('stage 1m: three services behind the local gateway', () => ({ app: shop, adminEmail }));

describe('stage 1m storefront', () => {
  test("the storefront in a browser through the gateway: the shopper's journey, checked in the page, the API and the shards", async () => {
    // GIVEN the journey's two kettles (the only products matching "kettle" so far)
    const adminCookie = await logInAdmin();
    const products = await createJourneyKettlesThrough(shop, adminCookie);
    const browser = await launchChromium();
    try {
      const watched = await openWatchedPage(browser, topology.url, {});
      try {
        // WHEN a shopper searches, fills the cart, signs up, logs out and in, orders and sees the order
        // (THEN the page, the API and the shards agree: the checks are the storefront test's)
        await shopperJourney(watched.page, {
          baseUrl: topology.url,
          products,
          app: inspector,
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

describe('stage 1m processes', () => {
  test('the gateway refuses the internal API in any spelling; products answers it directly', async () => {
    const orderId = '01900000-0000-7000-8000-0000000000aa';
    for (const path of [
      `/internal/reservations/${orderId}/release`,
      `/%69nternal/reservations/${orderId}/release`,
      `//internal/reservations/${orderId}/release`,
      `/INTERNAL/reservations/${orderId}/release`,
      `/api/../internal/reservations/${orderId}/release`,
    ]) {
      const response = await call(`${topology.url}${path}`, { method: 'POST' });
      expect({ path, status: response.status }).toEqual({ path, status: 404 });
      expect((await response.json()).message).toBe('the internal API is not served here');
    }
    // products' public port (the load balancer's target) never serves it either, in any spelling ...
    for (const path of [
      `/internal/reservations/${orderId}/release`,
      `/%69nternal/reservations/${orderId}/release`,
      `/%2Finternal/reservations/${orderId}/release`,
      `/INTERNAL/reservations/${orderId}/release`,
    ]) {
      const response = await call(`${urlOf('products')}${path}`, { method: 'POST' });
      expect({ path, status: response.status }).toEqual({ path, status: 404 });
    }
    // ... only its internal port (INTERNAL_PORT, which the orders service calls) does
    const direct = await call(
      `${topology.processes.get('products')!.internalUrl}/internal/reservations/${orderId}/release`,
      { method: 'POST' },
    );
    expect(direct.status).toBe(200);
    expect(await direct.json()).toEqual({ released: 0 });
    // AND the monolith (SERVICE=all, stages 1k-100k behind a public load balancer) has no internal API at all
    const monolith = await inspector.inject({
      method: 'POST',
      url: `/internal/reservations/${orderId}/release`,
    });
    expect(monolith.statusCode).toBe(404);
  });

  test('each service refuses the routes it does not own, naming the owner; all answer the probes', async () => {
    const cases = [
      ['users', '/api/products', 'products'],
      ['users', '/api/orders', 'orders'],
      ['products', '/api/orders', 'orders'],
      ['products', '/api/me', 'users'],
      ['orders', '/api/sessions', 'users'],
      ['orders', '/api/products', 'products'],
    ] as const;
    for (const [service, path, owner] of cases) {
      const response = await call(`${urlOf(service)}${path}`);
      expect({ service, path, status: response.status }).toEqual({ service, path, status: 404 });
      expect((await response.json()).message).toBe(
        `no route for GET ${path} here: the ${owner} service owns it, this is the ${service} service`,
      );
    }
    // Only products serves the storefront (and the internal API, on its internal port only)
    expect(
      (await call(`${urlOf('orders')}/internal/reservations/x/release`, { method: 'POST' })).status,
    ).toBe(404);
    expect((await call(`${urlOf('users')}/index.html`)).status).toBe(404);
    expect((await call(`${urlOf('products')}/index.html`)).status).toBe(200);
    for (const service of ['users', 'products', 'orders'] as const) {
      expect((await call(`${urlOf(service)}/healthz`)).status).toBe(200);
      expect((await call(`${urlOf(service)}/readyz`)).status).toBe(200);
      const metrics = await call(`${topology.processes.get(service)!.metricsUrl}/metrics`);
      expect(await metrics.text()).toContain('http_request_duration_seconds');
    }
  });

  test('every service keeps idle connections longer than the 60 s idle timeout of the proxies in front', async () => {
    const internal = `${topology.processes.get('products')!.internalUrl}/internal/reservations/x`;
    for (const [service, url] of [
      ...(['users', 'products', 'orders'] as const).map((name) => [name, `${urlOf(name)}/healthz`]),
      // the internal port sits behind the Service Connect proxy
      ['products internal', internal],
    ]) {
      const response = await call(url, { method: url === internal ? 'POST' : 'GET' });
      // Node announces its keepAliveTimeout in seconds
      const announced = Number(/timeout=(\d+)/.exec(response.headers.get('keep-alive') ?? '')?.[1]);
      expect({ service, ms: announced * 1000 }).toEqual({ service, ms: DEFAULT_KEEP_ALIVE_TIMEOUT_MS });
      expect(announced * 1000).toBeGreaterThan(60_000);
    }
  });

  test('a session made by the users service is accepted by orders and products without calling users', async () => {
    const customer = await signUp(shop);
    const orders = await call(`${urlOf('orders')}/api/orders`, { headers: { cookie: customer.cookie } });
    expect(orders.status).toBe(200);
    expect(await orders.json()).toEqual({ items: [] });
    // logged out at users: no longer accepted by orders
    const logout = await call(`${topology.url}/api/sessions`, {
      method: 'DELETE',
      headers: { cookie: customer.cookie },
    });
    expect(logout.status).toBe(204);
    expect(
      (await call(`${urlOf('orders')}/api/orders`, { headers: { cookie: customer.cookie } })).status,
    ).toBe(401);
  });

  test('products hanging: an order is a 503 within the budget, and what products reserved meanwhile the reconciler gives back', async () => {
    // GIVEN a product with 10 in stock and a customer
    const adminCookie = await logInAdmin();
    const created = await shop.inject({
      method: 'POST',
      url: '/api/products',
      headers: { cookie: adminCookie },
      payload: { sku: `hang-${Date.now()}`, name: 'Patient teapot', priceCents: 2000, stock: 10 },
    });
    const product = created.json() as { id: string };
    const customer = await signUp(shop);
    // WHEN the products service stops answering (SIGSTOP: its connections stay open, nothing comes back)
    topology.signal('products', 'SIGSTOP');
    let elapsed: number;
    let refused: Response;
    try {
      const started = Date.now();
      refused = await call(`${topology.url}/api/orders`, {
        method: 'POST',
        headers: { cookie: customer.cookie, 'content-type': 'application/json' },
        body: JSON.stringify({ items: [{ productId: product.id, quantity: 3 }] }),
      });
      elapsed = Date.now() - started;
    } finally {
      topology.signal('products', 'SIGCONT');
    }
    // THEN the order is a 503 with Retry-After after the attempts' timeouts, within the budget: no hang
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(PRODUCTS_BUDGET_MS + 1000);
    // AND no order was written
    const mine = await call(`${topology.url}/api/orders`, { headers: { cookie: customer.cookie } });
    expect((await mine.json()).items).toEqual([]);
    // WHEN products has resumed and answered what it had queued (it may have reserved for the timed-out calls:
    // their fate was unknown to orders, which therefore released nothing) ...
    await until(
      async () => (await call(`${urlOf('products')}/healthz`)).status === 200,
      'products to resume',
    );
    // ... and the reconciler settles overdue reservations (here at once instead of after 300 s)
    const reconciler = new ReservationReconciler(inspector.shop.db, inspector.shop.userData, {
      timeoutSeconds: 0,
      batch: 1000,
      tagsOf: (ids) => ['catalog', ...ids.map((id) => `product:${id}`)],
    });
    // THEN the reconciler gives every reservation of the timed-out calls back: no reservation left open for the
    // product and all 10 in stock. (Products may still be working through the calls it had queued while stopped
    // after its health check answers, and each lands as one more reservation: settle until none is open.)
    const settled = async () => {
      const { rows } = await inspector.shop.db.writer.query<{ open: number; stock: number }>(
        `SELECT (SELECT count(*)::int FROM stock_reservations WHERE product_id = $1 AND confirmed_at IS NULL) AS open,
                (SELECT stock FROM products WHERE id = $1) AS stock`,
        [product.id],
      );
      return rows[0].open === 0 && rows[0].stock === 10;
    };
    await until(async () => {
      await reconciler.runOnce();
      return settled();
    }, 'the reconciler to give back what products reserved for the timed-out calls');
    // (its release records an invalidation in the catalog's outbox: the inspector relays it now, as the app's own
    // reconciler timer would be followed by the relay's poll, which this suite slows to a minute)
    inspector.shop.invalidation.wake(MAIN_OUTBOX);
    await invalidationsApplied(shop);
  });

  test('products killed: orders answer 503 with Retry-After within the budget and never hang; the cached catalog survives; on restart everything recovers', async () => {
    // GIVEN a product in the (Redis) cache and a customer
    const adminCookie = await logInAdmin();
    const created = await shop.inject({
      method: 'POST',
      url: '/api/products',
      headers: { cookie: adminCookie },
      payload: { sku: `kill-${Date.now()}`, name: 'Sturdy kettle', priceCents: 3000, stock: 10 },
    });
    expect(created.statusCode).toBe(201);
    const product = created.json() as { id: string };
    const productUrl = `${topology.url}/api/products/${product.id}`;
    await until(async () => (await call(productUrl)).status === 200, 'the product to be readable');
    const cached = await (await call(productUrl)).json();
    const customer = await signUp(shop);
    const order = orderPlacer(topology.url, customer.cookie, product.id);

    // WHEN the products service is killed
    await topology.kill('products');

    // THEN an order is a 503 with Retry-After, well within the orders service's budget
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const refused = await order(1);
      const elapsed = Date.now() - started;
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
      expect((await refused.json()).message).toMatch(/the products service is unavailable/);
      expect(elapsed).toBeLessThan(PRODUCTS_BUDGET_MS + 1000);
    }
    // AND once the breaker is open, at once
    const started = Date.now();
    expect((await order(1)).status).toBe(503);
    expect(Date.now() - started).toBeLessThan(500);
    // AND the other services keep serving (their own data, the shared sessions)
    expect((await call(`${topology.url}/api/me`, { headers: { cookie: customer.cookie } })).status).toBe(200);
    expect((await call(`${topology.url}/api/orders`, { headers: { cookie: customer.cookie } })).status).toBe(
      200,
    );
    // AND catalog reads through the gateway are refused quickly (503), not left hanging
    expect((await call(productUrl)).status).toBe(503);

    // WHEN products is back
    await topology.restart('products');
    const metrics = async (series: string) => {
      const text = await (await call(`${topology.processes.get('products')!.metricsUrl}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line ? Number(line.split(' ')[1]) : 0;
    };
    // THEN the product comes from the shared cache the outage left intact (a hit, no database read) ...
    expect(await (await call(productUrl)).json()).toEqual(cached);
    expect(await metrics('cache_requests_total{result="hit"}')).toBe(1);
    expect(await metrics('cache_requests_total{result="miss"}')).toBe(0);
    // ... and orders succeed again once the breaker's probe gets through
    let placed: Response | undefined;
    await until(
      async () => {
        placed = await order(2);
        return placed.status === 201;
      },
      'an order to be placed after the restart',
      BREAKER_RESET_MS + 15_000,
    );
    // AND no stock was lost or taken twice by the refused orders: only the placed one took any
    await until(
      async () => (await (await call(productUrl)).json()).stock === 8,
      'the stock to show the one placed order',
    );
    const mine = await (
      await call(`${topology.url}/api/orders`, { headers: { cookie: customer.cookie } })
    ).json();
    expect(mine.items).toHaveLength(1);
  });
});

/**
 * A session of the admin: the shared cases sign it up (with signUp's default password) and grant it; when they
 * did not run (a filtered run), this signs it up and grants it.
 */
async function logInAdmin(): Promise<string> {
  const login = await shop.inject({
    method: 'POST',
    url: '/api/sessions',
    payload: { email: adminEmail, password: 'correct horse battery' },
  });
  if (login.statusCode === 401) return (await signUpAdmin(shop, adminEmail)).cookie;
  expect(login.statusCode).toBe(200);
  return sessionCookie(login);
}
