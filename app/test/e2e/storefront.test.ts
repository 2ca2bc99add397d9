// End to end: the real storefront (app/public) in headless Debian Chromium, served by the real app (buildApp)
// on real Postgres in a database of its own. The catalog is created through the admin API, then a shopper
// browses, searches, fills the cart, signs up, logs out and in, orders, and finds the order in "My orders".
// Assertions are on what the page shows, and then on the API and the database. The scenarios run twice: on one
// database (the unsharded layout) and on two physical shards on two real PostgreSQL servers (stage 100k's
// layout); the database checks find the user's rows through the app's own router, wherever they live. A third
// run is stage 1m: the users, products and orders services and the local API gateway as real processes on two
// shards (tools/local-topology/services.ts); the browser talks to the gateway, and the in-process app on the
// same databases and Redis prefix is used only for the admin grant and the database checks. A fourth run is stage
// global: three regions on one machine behind the geo router (tools/local-topology/global.ts), the browser a viewer
// in France (CloudFront's viewer-country header): its reads are served in eu-west-1 from that region's replicas,
// its writes and its reads within the read-your-writes window in the home region.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { changeAdminRole } from '../../src/admin';
import { buildApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { startLocalTopology } from '../../../tools/local-topology/services';
import { startGlobalTopology } from '../../../tools/local-topology/global';
import { VIEWER_COUNTRY_HEADER } from '../../../tools/local-topology/geo-router';
import { createTestDatabase } from '../support/postgres';
import { startTwoShards } from '../support/shards';

/**
 * Debian's Chromium package; playwright-core drives it (no browser download). `npm test` installs it first
 * (tools/test-setup.sh); CHROMIUM_PATH points the test at another Chromium or Chrome binary.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** What to do when the browser is missing or does not start. */
const CHROMIUM_FIX =
  "Fix: `npm run test:setup` (installs Debian's chromium with apt-get; `npm test` runs it first), or " +
  '`apt-get install -y chromium`, or set CHROMIUM_PATH to a Chromium or Chrome binary.';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ADMIN_EMAIL = 'catalog-admin@e2e.example';
const PASSWORD = 'correct horse battery staple';
/** Products per page in the storefront (app/public/app.js PAGE_SIZE). */
const PAGE_SIZE = 12;
const FILLERS = 14;

interface Product {
  id: string;
  sku: string;
  name: string;
  priceCents: number;
  stock: number;
}

jest.setTimeout(240_000);

/** A database layout the storefront runs on: `start` gives the app's database settings and a clean-up. */
interface Topology {
  name: string;
  /** Whether the app must come up in the sharded layout there. */
  sharded: boolean;
  /**
   * `url`: where the browser goes when the shop runs elsewhere (the gateway of stage 1m); absent = the in-process
   * app listens and is the shop.
   */
  start(): Promise<{
    env: Record<string, string>;
    stop(): Promise<void>;
    url?: string;
    /** Headers the browser sends with every request (the edge's, in front of stage global). */
    browserHeaders?: Record<string, string>;
    /** Waits until the catalog just created is readable everywhere the browser may be served. */
    catalogReplicated?(): Promise<void>;
  }>;
}
const TOPOLOGIES: Topology[] = [
  {
    name: 'one database (unsharded)',
    sharded: false,
    start: async () => {
      const db = await createTestDatabase();
      return { env: { DATABASE_URL: db.url }, stop: () => db.drop() };
    },
  },
  {
    name: '2 shards on two PostgreSQL servers',
    sharded: true,
    start: async () => {
      const shards = await startTwoShards();
      return {
        env: { DATABASE_URL: shards.shard0.url, SHARD_ENDPOINTS: shards.endpoints },
        stop: () => shards.stop(),
      };
    },
  },
  {
    name: 'stage 1m: three services behind the local gateway',
    sharded: true,
    start: async () => {
      const topology = await startLocalTopology({ stage: '1m', env: { ADMIN_EMAILS: ADMIN_EMAIL } });
      return { env: { ...topology.env }, stop: () => topology.stop(), url: topology.url };
    },
  },
  {
    name: 'stage global: three regions behind the geo router, the shopper in France',
    sharded: true,
    start: async () => {
      const topology = await startGlobalTopology({ env: { ADMIN_EMAILS: ADMIN_EMAIL } });
      // The in-process app is one more single-region instance on the home region's data.
      const { REGION_ROLE: _role, HOME_REGION: _home, ...homeData } = topology.env;
      return {
        env: homeData,
        stop: () => topology.stop(),
        url: topology.url,
        browserHeaders: { [VIEWER_COUNTRY_HEADER]: 'FR' },
        catalogReplicated: async () => {
          await Promise.all(topology.regions.map((region) => region.waitForReplication()));
        },
      };
    },
  },
];
/** Headers of every browser context (set per topology). */
let browserHeaders: Record<string, string> = {};
/** Where the geo router served each of the page's requests (stage global only: its `x-served-region`). */
let served: { method: string; path: string; region: string }[] = [];

let app: FastifyInstance;
let baseUrl: string;
let browser: Browser;
let products: Record<string, Product> = {};

/**
 * Calls the running app over real HTTP (like the browser does; fastify's inject is not needed).
 * @returns status, parsed JSON body and the `sid` cookie the response set, if any
 */
async function callApi(method: string, path: string, body?: unknown, cookie?: string) {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(cookie ? { cookie } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const sid = response.headers
    .getSetCookie()
    .map((c) => /^sid=([^;]*)/.exec(c)?.[1])
    .find((v) => v !== undefined);
  return { status: response.status, body: text ? JSON.parse(text) : undefined, sid };
}

/** Creates one product through the admin API; returns it. */
async function createProduct(cookie: string, product: Omit<Product, 'id'> & { description: string }) {
  const created = await callApi('POST', '/api/products', product, cookie);
  if (created.status !== 201)
    throw new Error(`creating ${product.sku}: ${created.status} ${JSON.stringify(created.body)}`);
  return created.body as Product;
}

/** Starts the browser, or fails with what is missing and how to get it (before any other set-up work). */
async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: the storefront test drives it with playwright-core. ${CHROMIUM_FIX}`,
    );
  }
  try {
    return await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  } catch (err) {
    throw new Error(`Chromium at ${CHROMIUM} did not start: ${(err as Error).message}\n${CHROMIUM_FIX}`);
  }
}

// One browser for both topologies.
beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

/** Starts the app on `topology` and creates the catalog; returns the clean-up. */
async function startShop(topology: Topology): Promise<() => Promise<void>> {
  const database = await topology.start();
  const config = loadConfig({
    ...database.env,
    SEED_DEMO_DATA: 'false',
    ADMIN_EMAILS: ADMIN_EMAIL,
    NODE_ENV: 'test',
  });
  products = {};
  try {
    app = await buildApp({ config, logger: false });
  } catch (err) {
    await database.stop();
    throw err;
  }
  const stop = async () => {
    await app.close();
    await database.stop();
  };
  try {
    // The topology is the one named (a wrong environment would pass the scenarios on one database).
    expect(app.shop.userData.sharded).toBe(topology.sharded);
    if (topology.sharded) expect([...app.shop.userData.shards.keys()]).toEqual(['0', '1']);
    await createCatalog(config, database.url);
    await database.catalogReplicated?.();
    browserHeaders = database.browserHeaders ?? {};
  } catch (err) {
    await stop();
    throw err;
  }
  return stop;
}

/** The catalog, created the way an operator would: an admin account and the product API. */
async function createCatalog(config: ReturnType<typeof loadConfig>, url?: string): Promise<void> {
  baseUrl = url ?? (await app.listen({ port: 0, host: '127.0.0.1' }));
  const signUp = await callApi('POST', '/api/users', {
    email: ADMIN_EMAIL,
    password: PASSWORD,
    name: 'Catalog admin',
  });
  expect(signUp.status).toBe(201);
  // Admins are made by the one-off admin command, never at sign-up.
  await changeAdminRole(app.shop.db.writer, config, 'grant', ADMIN_EMAIL);
  const login = await callApi('POST', '/api/sessions', { email: ADMIN_EMAIL, password: PASSWORD });
  expect(login.status).toBe(200);
  if (!login.sid) throw new Error('log-in set no sid cookie');
  const cookie = `sid=${login.sid}`;
  // Fillers first: ids are time ordered, so they fill page 1 and the kettles land on page 2.
  for (let i = 1; i <= FILLERS; i++) {
    const n = String(i).padStart(2, '0');
    products[`filler${n}`] = await createProduct(cookie, {
      sku: `CUP-${n}`,
      name: `Tea cup ${n}`,
      description: 'A plain porcelain cup.',
      priceCents: 450 + i,
      stock: 50,
    });
  }
  products.blue = await createProduct(cookie, {
    sku: 'KETTLE-BLUE',
    name: 'Blue Kettle',
    description: 'A stovetop kettle in deep blue enamel.',
    priceCents: 2599,
    stock: 10,
  });
  products.red = await createProduct(cookie, {
    sku: 'KETTLE-RED',
    name: 'Red Kettle',
    description: 'A stovetop kettle in bright red enamel.',
    priceCents: 1999,
    stock: 3,
  });
}

let context: BrowserContext;
let page: Page;
/** Everything that went wrong in the page: script errors, CSP violations, failed non-API loads. */
let problems: string[] = [];

/** Opens a fresh browser context (own cookies and storage) and watches it for problems. */
async function openPage(options: Parameters<Browser['newContext']>[0] = {}): Promise<Page> {
  context = await browser.newContext({ extraHTTPHeaders: browserHeaders, ...options });
  // Waits are for the page to react, not fixed sleeps; a busy CI machine may need longer than the default 30 s.
  context.setDefaultTimeout(60_000);
  const opened = await context.newPage();
  opened.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  opened.on('console', (message) => {
    // Chromium logs every 4xx/5xx response as "Failed to load resource"; API 4xx are part of the tests,
    // and failed non-API loads are caught by the response listener below.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  opened.on('response', (response) => {
    const { pathname } = new URL(response.url());
    if (response.status() >= 400 && !pathname.startsWith('/api/')) {
      problems.push(`${response.status()} for ${pathname}`);
    }
    if (response.status() >= 500) problems.push(`${response.status()} for ${pathname}`);
  });
  opened.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
  opened.on('response', (response) => {
    const region = response.headers()['x-served-region'];
    if (region)
      served.push({ method: response.request().method(), path: new URL(response.url()).pathname, region });
  });
  await opened.goto(baseUrl);
  await opened.locator('body[data-ready="true"]').waitFor({ state: 'attached' });
  return opened;
}

beforeEach(() => {
  problems = [];
  served = [];
});

afterEach(async () => {
  await context?.close();
  // THEN nothing went wrong in the page along the way (no script error, no CSP violation, no broken asset)
  expect(problems).toEqual([]);
  // AND behind the geo router (stage global) the French shopper's page was served in Europe, and every write home
  if (browserHeaders[VIEWER_COUNTRY_HEADER]) {
    expect(served.some((r) => r.method === 'GET' && r.region === 'eu-west-1')).toBe(true);
    expect(served.filter((r) => !['GET', 'HEAD', 'OPTIONS'].includes(r.method))).toEqual(
      served
        .filter((r) => !['GET', 'HEAD', 'OPTIONS'].includes(r.method))
        .map((r) => ({ ...r, region: 'us-east-1' })),
    );
  }
});

/** Waits until the locator's text matches, then returns the text (jest asserts on it afterwards). */
async function textWhen(locator: Locator, text: string | RegExp): Promise<string> {
  await locator.filter({ hasText: text }).first().waitFor();
  return (await locator.filter({ hasText: text }).first().textContent()) ?? '';
}

const main = () => page.locator('main');
const header = () => page.locator('header');
const status = () => page.locator('#status');
const heading = () => main().getByRole('heading', { level: 1 });

/** Clicks and returns the JSON answer of the API call the click causes. */
async function clickForApi(target: Locator, method: string, path: string) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === method && new URL(r.url()).pathname === path),
    target.click(),
  ]);
  return { status: response.status(), body: (await response.json()) as { message?: string } };
}

describe.each(TOPOLOGIES)('storefront on $name', (topology) => {
  let stopShop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    stopShop = await startShop(topology);
    // (stage global starts 3 regions: 6 Postgres servers, 5 Redis and 12 processes; slow on a busy machine)
  }, 900_000);
  afterAll(async () => {
    await stopShop?.();
  });

  test('browsing: the catalog pages forward and back, and a product opens with its details', async () => {
    page = await openPage();

    // GIVEN the first page of the catalog
    await textWhen(heading(), 'Products');
    const cards = main().getByRole('list', { name: 'Products' }).getByRole('listitem');
    expect(await cards.count()).toBe(PAGE_SIZE);
    expect(await cards.first().getByRole('heading').textContent()).toBe('Tea cup 01');
    expect(await main().getByRole('button', { name: 'Previous' }).isDisabled()).toBe(true);

    // WHEN the shopper goes to the next page
    await main().getByRole('button', { name: 'Next' }).click();
    await textWhen(main().getByTestId('page-number'), 'Page 2');
    // THEN it holds the rest, with the kettles, and there is no further page
    await main().getByRole('link', { name: 'Blue Kettle' }).waitFor();
    expect(await cards.count()).toBe(FILLERS + 2 - PAGE_SIZE);
    expect(await main().getByRole('button', { name: 'Next' }).isDisabled()).toBe(true);

    // WHEN they go back, page 1 is shown again
    await main().getByRole('button', { name: 'Previous' }).click();
    await textWhen(main().getByTestId('page-number'), 'Page 1');
    await main().getByRole('link', { name: 'Tea cup 01' }).waitFor();

    // WHEN they open a product
    await main().getByRole('link', { name: 'Tea cup 03' }).click();
    // THEN its details come from the API
    await textWhen(heading(), 'Tea cup 03');
    expect(await main().getByTestId('sku').textContent()).toBe('CUP-03');
    expect(await main().getByTestId('stock').textContent()).toBe('50 in stock');
    expect(await main().locator('.price').textContent()).toBe('$4.53');
    expect(page.url()).toBe(`${baseUrl}/#/products/${products.filler03.id}`);

    // AND the page's Content-Security-Policy blocks inline script (the storefront must not need any)
    const blocked = await page.evaluate(async () => {
      const script = document.createElement('script');
      script.textContent = 'window.inlineScriptRan = true;';
      const violation = new Promise((resolve) => {
        document.addEventListener('securitypolicyviolation', (e) => resolve(e.violatedDirective), {
          once: true,
        });
        setTimeout(() => resolve('no violation reported'), 2000);
      });
      document.body.appendChild(script);
      return {
        ran: (window as unknown as { inlineScriptRan?: boolean }).inlineScriptRan,
        directive: await violation,
      };
    });
    expect(blocked).toEqual({ ran: undefined, directive: 'script-src-elem' });
    // (the violation is reported on the console as well; that one was provoked on purpose)
    problems = problems.filter((p) => !p.includes('Content Security Policy'));
  });

  test('a shopper searches, fills the cart, signs up, logs out and in, orders, and sees the order', async () => {
    page = await openPage();
    const email = `shopper-${randomBytes(4).toString('hex')}@e2e.example`;

    // WHEN the shopper searches for kettles
    await main().getByLabel('Search products').fill('kettle');
    await main().getByRole('button', { name: 'Search' }).click();
    await textWhen(heading(), 'Results for “kettle”');
    const cards = main().getByRole('list', { name: 'Products' }).getByRole('listitem');
    // THEN only the two kettles are listed
    expect(await cards.getByRole('heading').allTextContents()).toEqual(['Blue Kettle', 'Red Kettle']);

    // WHEN they open the blue one and add two
    await main().getByRole('link', { name: 'Blue Kettle' }).click();
    await textWhen(heading(), 'Blue Kettle');
    await main().getByLabel('Quantity').fill('2');
    await main().getByRole('button', { name: 'Add to cart' }).click();
    expect(await textWhen(status(), 'Added')).toBe('Added 2 × Blue Kettle to your cart.');
    expect(await header().getByTestId('cart-count').textContent()).toBe('2');

    // AND one red one from the (still filtered) list
    await main().getByRole('link', { name: '← Back to products' }).click();
    await textWhen(heading(), 'Results for “kettle”');
    await main().getByRole('button', { name: 'Add Red Kettle to cart' }).click();
    await textWhen(header().getByTestId('cart-count'), '3');

    // THEN the cart shows both lines and the total
    await header().getByRole('link', { name: /^Cart/ }).click();
    await textWhen(heading(), 'Your cart');
    const lines = main().getByRole('list', { name: 'Items in your cart' }).getByRole('listitem');
    expect(await lines.count()).toBe(2);
    expect(await main().getByLabel('Quantity of Blue Kettle').inputValue()).toBe('2');
    expect(await main().getByTestId('cart-total').textContent()).toBe('$71.97');

    // WHEN they try to order while signed out, they are sent to log in first
    await main().getByRole('button', { name: 'Place order' }).click();
    await textWhen(heading(), 'Log in');
    expect(await status().textContent()).toBe('Log in to place your order.');

    // WHEN they create an account instead
    await main().getByRole('link', { name: 'Create an account' }).click();
    await textWhen(heading(), 'Create an account');
    await main().getByLabel('Name').fill('Ada Shopper');
    await main().getByLabel('Email', { exact: true }).fill(email);
    await main().getByLabel('Password', { exact: true }).fill(PASSWORD);
    const signUp = await clickForApi(main().getByRole('button', { name: 'Sign up' }), 'POST', '/api/users');
    expect(signUp.status).toBe(201);
    // THEN they are signed in and back at their cart
    await textWhen(header().getByTestId('account-name'), 'Signed in as Ada Shopper');
    await textWhen(heading(), 'Your cart');

    // WHEN they log out
    await header().getByRole('button', { name: 'Log out' }).click();
    expect(await textWhen(status(), 'logged out')).toBe('You are logged out.');
    await header().getByRole('link', { name: 'Log in' }).waitFor();
    // THEN the session is gone on the server too
    expect((await page.request.get(`${baseUrl}/api/me`)).status()).toBe(401);
    // AND "My orders" asks them to log in
    await header().getByRole('link', { name: 'My orders' }).click();
    await textWhen(heading(), 'My orders');
    await main().getByRole('link', { name: 'Log in' }).waitFor();

    // WHEN they log in from there (the form remembers the email of the sign-up)
    await main().getByRole('link', { name: 'Log in' }).click();
    await textWhen(heading(), 'Log in');
    expect(await main().getByLabel('Email', { exact: true }).inputValue()).toBe(email);
    await main().getByLabel('Password', { exact: true }).fill(PASSWORD);
    const login = await clickForApi(main().getByRole('button', { name: 'Log in' }), 'POST', '/api/sessions');
    expect(login.status).toBe(200);
    // THEN they land where they were headed, with no orders yet
    await textWhen(header().getByTestId('account-name'), 'Signed in as Ada Shopper');
    expect(await textWhen(status(), 'Welcome back')).toBe('Welcome back, Ada Shopper.');
    await textWhen(main(), 'You have no orders yet.');

    // WHEN they place the order from the cart, which kept its lines through all this
    await header().getByRole('link', { name: /^Cart/ }).click();
    await textWhen(heading(), 'Your cart');
    expect(await lines.count()).toBe(2);
    const placed = await clickForApi(
      main().getByRole('button', { name: 'Place order' }),
      'POST',
      '/api/orders',
    );
    expect(placed.status).toBe(201);
    const orderId = (placed.body as { id: string }).id;

    // THEN the confirmation shows the order with the catalog prices and total, and the cart is empty
    await textWhen(heading(), /^Order /);
    expect(await status().textContent()).toBe('Thank you! Your order is placed.');
    expect(await heading().textContent()).toBe(`Order ${orderId.slice(-8)}`);
    const rows = main().locator('tbody tr');
    expect(await rows.allInnerTexts()).toEqual([
      expect.stringMatching(/^Blue Kettle\s+2\s+\$25\.99\s+\$51\.98$/),
      expect.stringMatching(/^Red Kettle\s+1\s+\$19\.99\s+\$19\.99$/),
    ]);
    expect(await main().getByTestId('order-total').textContent()).toBe('$71.97');
    expect(await header().getByTestId('cart-count').textContent()).toBe('0');

    // AND "My orders" lists it
    await header().getByRole('link', { name: 'My orders' }).click();
    await textWhen(heading(), 'My orders');
    const orderCards = main().getByRole('list', { name: 'Your orders' }).getByRole('listitem');
    expect(await orderCards.count()).toBe(1);
    const card = orderCards.first();
    expect(await card.getAttribute('data-order-id')).toBe(orderId);
    expect(await card.locator('.order-items').textContent()).toBe('2 × Blue Kettle, 1 × Red Kettle');
    expect(await card.locator('.order-total').textContent()).toBe('Total: $71.97');

    // AND the API agrees, for this session
    const mine = await (await page.request.get(`${baseUrl}/api/orders`)).json();
    expect(mine.items).toEqual([
      expect.objectContaining({
        id: orderId,
        status: 'placed',
        totalCents: 2 * 2599 + 1999,
        items: [
          { productId: products.blue.id, name: 'Blue Kettle', quantity: 2, unitPriceCents: 2599 },
          { productId: products.red.id, name: 'Red Kettle', quantity: 1, unitPriceCents: 1999 },
        ],
      }),
    ]);
    const blue = await (await page.request.get(`${baseUrl}/api/products/${products.blue.id}`)).json();
    expect(blue.stock).toBe(8);

    // AND so does the database: one order of this user, its lines, and the stock taken. The user is found
    // through the app's accounts and their rows where the app's router puts them (the public tables, or their
    // logical shard's schema on their physical shard); the catalog is on shard 0.
    const found = await app.shop.accounts.findByEmail(email);
    expect(found && { id: found.user.id, name: found.user.name, role: found.user.role }).toEqual({
      id: expect.any(String),
      name: 'Ada Shopper',
      role: 'customer',
    });
    const { shard, schema } = app.shop.userData.forRead(found!.user.id);
    const userDb = shard.db.writer;
    const catalog = app.shop.userData.shard0.db.writer;
    const orders = await userDb.query(
      `SELECT id, total_cents, status FROM ${schema}.orders WHERE user_id = $1`,
      [found!.user.id],
    );
    expect(orders.rows).toEqual([{ id: orderId, total_cents: '7197', status: 'placed' }]);
    const orderLines = await userDb.query(
      `SELECT product_id, quantity, unit_price_cents FROM ${schema}.order_items WHERE order_id = $1 ORDER BY line_no`,
      [orderId],
    );
    expect(orderLines.rows).toEqual([
      { product_id: products.blue.id, quantity: 2, unit_price_cents: 2599 },
      { product_id: products.red.id, quantity: 1, unit_price_cents: 1999 },
    ]);
    const stock = await catalog.query(
      'SELECT sku, stock FROM public.products WHERE sku LIKE $1 ORDER BY sku',
      ['KETTLE-%'],
    );
    expect(stock.rows).toEqual([
      { sku: 'KETTLE-BLUE', stock: 8 },
      { sku: 'KETTLE-RED', stock: 2 },
    ]);
  });

  test("API errors reach the shopper with the server's own message", async () => {
    page = await openPage();

    // WHEN someone signs up with an email that is taken
    await header().getByRole('link', { name: 'Sign up' }).click();
    await textWhen(heading(), 'Create an account');
    await main().getByLabel('Name').fill('Mallory');
    await main().getByLabel('Email', { exact: true }).fill(ADMIN_EMAIL);
    await main().getByLabel('Password', { exact: true }).fill(PASSWORD);
    const taken = await clickForApi(main().getByRole('button', { name: 'Sign up' }), 'POST', '/api/users');
    // THEN the 409's message is what the form shows
    expect(taken.status).toBe(409);
    expect(await textWhen(main().getByRole('alert'), /./)).toBe(taken.body.message);

    // WHEN the password is too short, the 400's message (naming the field) is shown
    await main()
      .getByLabel('Email', { exact: true })
      .fill(`m-${randomBytes(4).toString('hex')}@e2e.example`);
    await main().getByLabel('Password', { exact: true }).fill('short');
    const short = await clickForApi(main().getByRole('button', { name: 'Sign up' }), 'POST', '/api/users');
    expect(short.status).toBe(400);
    expect(short.body.message).toMatch(/password/);
    await textWhen(main().getByRole('alert'), short.body.message!);

    // WHEN someone logs in with a wrong password, the 401's message is shown and nobody is signed in
    await header().getByRole('link', { name: 'Log in' }).click();
    await textWhen(heading(), 'Log in');
    await main().getByLabel('Email', { exact: true }).fill(ADMIN_EMAIL);
    await main().getByLabel('Password', { exact: true }).fill('not the password');
    const wrong = await clickForApi(main().getByRole('button', { name: 'Log in' }), 'POST', '/api/sessions');
    expect(wrong.status).toBe(401);
    expect(await textWhen(main().getByRole('alert'), /./)).toBe(wrong.body.message);
    expect(await header().getByTestId('account-name').isVisible()).toBe(false);

    // WHEN a signed-in shopper orders more than is in stock
    await header().getByRole('link', { name: 'Sign up' }).click();
    await textWhen(heading(), 'Create an account');
    await main().getByLabel('Name').fill('Bob');
    await main()
      .getByLabel('Email', { exact: true })
      .fill(`bob-${randomBytes(4).toString('hex')}@e2e.example`);
    await main().getByLabel('Password', { exact: true }).fill(PASSWORD);
    await main().getByRole('button', { name: 'Sign up' }).click();
    await textWhen(header().getByTestId('account-name'), 'Signed in as Bob');
    await page.goto(`${baseUrl}/#/products/${products.red.id}`);
    await textWhen(heading(), 'Red Kettle');
    await main().getByRole('button', { name: 'Add to cart' }).click();
    await header().getByRole('link', { name: /^Cart/ }).click();
    await textWhen(heading(), 'Your cart');
    await main().getByLabel('Quantity of Red Kettle').fill('50');
    await main().getByLabel('Quantity of Red Kettle').press('Tab');
    await textWhen(main().getByTestId('cart-total'), '$999.50');
    const tooMany = await clickForApi(
      main().getByRole('button', { name: 'Place order' }),
      'POST',
      '/api/orders',
    );
    // THEN the 409's message is shown in the cart, and the cart is kept for a retry
    expect(tooMany.status).toBe(409);
    expect(await textWhen(main().getByRole('alert'), /./)).toBe(tooMany.body.message);
    expect(await header().getByTestId('cart-count').textContent()).toBe('50');
  });

  test('the cart survives a reload, edits its lines, and ignores a corrupted stored cart', async () => {
    page = await openPage();

    // GIVEN two products in the cart
    await main().getByRole('button', { name: 'Add Tea cup 01 to cart' }).click();
    await main().getByRole('button', { name: 'Add Tea cup 02 to cart' }).click();
    await textWhen(header().getByTestId('cart-count'), '2');

    // WHEN the page is reloaded, the cart is still there
    await page.reload();
    await page.locator('body[data-ready="true"]').waitFor({ state: 'attached' });
    expect(await header().getByTestId('cart-count').textContent()).toBe('2');

    // WHEN a quantity changes, the line and the total follow
    await header().getByRole('link', { name: /^Cart/ }).click();
    await textWhen(heading(), 'Your cart');
    await main().getByLabel('Quantity of Tea cup 01').fill('3');
    await main().getByLabel('Quantity of Tea cup 01').press('Tab');
    // 3 × $4.51 + 1 × $4.52
    expect(await textWhen(main().getByTestId('cart-total'), '$18.05')).toBe('$18.05');
    expect(await header().getByTestId('cart-count').textContent()).toBe('4');

    // WHEN a line is removed, only the other one is left
    await main().getByRole('button', { name: 'Remove Tea cup 02 from cart' }).click();
    expect(await textWhen(status(), 'Removed')).toBe('Removed Tea cup 02 from your cart.');
    const lines = main().getByRole('list', { name: 'Items in your cart' }).getByRole('listitem');
    expect(await lines.count()).toBe(1);
    expect(await textWhen(main().getByTestId('cart-total'), '$13.53')).toBe('$13.53');

    // WHEN the stored cart is garbage (an old format, a manual edit), the page starts with an empty cart
    await page.evaluate(() => {
      for (let i = 0; i < window.localStorage.length; i++) {
        window.localStorage.setItem(window.localStorage.key(i)!, '{not json');
      }
    });
    await page.reload();
    await page.locator('body[data-ready="true"]').waitFor({ state: 'attached' });
    expect(await header().getByTestId('cart-count').textContent()).toBe('0');
    await header().getByRole('link', { name: /^Cart/ }).click();
    await textWhen(main(), 'Your cart is empty.');
  });

  test('is usable on a phone: nothing scrolls sideways, one column, finger-sized controls', async () => {
    page = await openPage({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    const overflow = () =>
      page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

    // GIVEN the catalog on a 360 px wide screen
    await textWhen(heading(), 'Products');
    expect(await overflow()).toBe(0);
    const cards = main().getByRole('list', { name: 'Products' }).getByRole('listitem');
    const [first, second] = [await cards.nth(0).boundingBox(), await cards.nth(1).boundingBox()];
    // THEN products stack in one column
    expect(second!.x).toBe(first!.x);
    expect(second!.y).toBeGreaterThan(first!.y);
    // AND buttons are at least 44 px tall (a fingertip)
    const add = await cards.nth(0).getByRole('button').boundingBox();
    expect(add!.height).toBeGreaterThanOrEqual(44);

    // AND the other views fit as well
    await cards.nth(0).getByRole('button').tap();
    for (const [hash, title] of [
      [`#/products/${products.blue.id}`, 'Blue Kettle'],
      ['#/cart', 'Your cart'],
      ['#/signup', 'Create an account'],
      ['#/login', 'Log in'],
    ]) {
      await page.goto(`${baseUrl}/${hash}`);
      await textWhen(heading(), title);
      expect([hash, await overflow()]).toEqual([hash, 0]);
    }
  });
});
