// The storefront in headless Debian Chromium, for the end-to-end tests: starting the browser, a page watched for
// problems, and the shopper's journey (search, cart, sign-up, log-out and in, order, "My orders", then the API and
// the database). app/test/e2e/storefront.test.ts runs every scenario on one database; the journey also runs where
// the other layouts are started anyway: app/test/sharding/two-shards.test.ts (two shards),
// app/test/services/topology-1m.test.ts (stage 1m's gateway) and tools/local-topology/global.test.ts (the geo
// router, as a shopper in France).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';

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

/** Starts the browser, or fails with what is missing and how to get it (before any other set-up work). */
export async function launchChromium(): Promise<Browser> {
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

/** A page in a fresh browser context (own cookies and storage), and what it saw. */
export interface WatchedPage {
  context: BrowserContext;
  page: Page;
  /** Everything that went wrong in the page: script errors, CSP violations, failed non-API loads. */
  problems: string[];
  /** Where a geo router served each of the page's responses (its `x-served-region` header), when one did. */
  served: { method: string; path: string; region: string }[];
}

/** Opens `baseUrl` in a fresh context sending `headers` with every request, and watches it for problems. */
export async function openWatchedPage(
  browser: Browser,
  baseUrl: string,
  headers: Record<string, string>,
  options: Parameters<Browser['newContext']>[0] = {},
): Promise<WatchedPage> {
  const context = await browser.newContext({ extraHTTPHeaders: headers, ...options });
  // Waits are for the page to react, not fixed sleeps; a busy CI machine may need longer than the default 30 s.
  context.setDefaultTimeout(60_000);
  const page = await context.newPage();
  const watched: WatchedPage = { context, page, problems: [], served: [] };
  page.on('pageerror', (err) => watched.problems.push(`page error: ${err.message}`));
  page.on('console', (message) => {
    // Chromium logs every 4xx/5xx response as "Failed to load resource"; API 4xx are part of the tests,
    // and failed non-API loads are caught by the response listener below.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      watched.problems.push(`console error: ${message.text()}`);
    }
  });
  page.on('response', (response) => {
    const { pathname } = new URL(response.url());
    if (response.status() >= 400 && !pathname.startsWith('/api/')) {
      watched.problems.push(`${response.status()} for ${pathname}`);
    }
    if (response.status() >= 500) watched.problems.push(`${response.status()} for ${pathname}`);
  });
  page.on('requestfailed', (request) => watched.problems.push(`request failed: ${request.url()}`));
  page.on('response', (response) => {
    const region = response.headers()['x-served-region'];
    if (region)
      watched.served.push({
        method: response.request().method(),
        path: new URL(response.url()).pathname,
        region,
      });
  });
  await page.goto(baseUrl);
  await page.locator('body[data-ready="true"]').waitFor({ state: 'attached' });
  return watched;
}

/** Waits until the locator's text matches, then returns the text (jest asserts on it afterwards). */
export async function textWhen(locator: Locator, text: string | RegExp): Promise<string> {
  await locator.filter({ hasText: text }).first().waitFor();
  return (await locator.filter({ hasText: text }).first().textContent()) ?? '';
}

/** Clicks and returns the JSON answer of the API call the click causes. */
export async function clickForApi(page: Page, target: Locator, method: string, path: string) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === method && new URL(r.url()).pathname === path),
    target.click(),
  ]);
  return { status: response.status(), body: (await response.json()) as { message?: string } };
}

/** What the shopper's journey needs: the catalog's two kettles and where to check the order afterwards. */
export interface JourneyShop {
  /** Where the page was opened. */
  baseUrl: string;
  /** Blue Kettle ($25.99, stock 10) and Red Kettle ($19.99, stock 3), the only products matching "kettle". */
  products: { blue: { id: string }; red: { id: string } };
  /** An in-process app on the shop's data: the user through its accounts, their rows through its router. */
  app: FastifyInstance;
  password: string;
}

/** A product as the admin API is asked to create it. */
export interface NewProduct {
  sku: string;
  name: string;
  description: string;
  priceCents: number;
  stock: number;
}

/**
 * Creates the journey's two kettles ({@link JourneyShop.products}) through `create` (the admin API of the layout
 * under test), which returns the created product's id or throws.
 */
export async function createJourneyKettles(
  create: (product: NewProduct) => Promise<string>,
): Promise<JourneyShop['products']> {
  const kettle = async (sku: string, name: string, priceCents: number, stock: number) => ({
    id: await create({ sku, name, description: `A stovetop kettle (${name}).`, priceCents, stock }),
  });
  return {
    blue: await kettle('KETTLE-BLUE', 'Blue Kettle', 2599, 10),
    red: await kettle('KETTLE-RED', 'Red Kettle', 1999, 3),
  };
}

/** An app (in process, or the HTTP shop of a topology) that the admin creates products through. */
export interface ProductAdminApi {
  inject(request: {
    method: 'POST';
    url: string;
    headers: Record<string, string>;
    payload: NewProduct;
  }): PromiseLike<{ statusCode: number; json(): unknown }>;
}

/** {@link createJourneyKettles} through `app`'s admin API, signed in as the admin (`adminCookie`). */
export function createJourneyKettlesThrough(
  app: ProductAdminApi,
  adminCookie: string,
): Promise<JourneyShop['products']> {
  return createJourneyKettles(async (payload) => {
    const created = await app.inject({
      method: 'POST',
      url: '/api/products',
      headers: { cookie: adminCookie },
      payload,
    });
    if (created.statusCode !== 201)
      throw new Error(`creating ${payload.sku}: ${created.statusCode} ${JSON.stringify(created.json())}`);
    return (created.json() as { id: string }).id;
  });
}

/**
 * A shopper searches, fills the cart, signs up, logs out and in, orders, and sees the order; then the API and
 * the database agree. `page` is a fresh page on the catalog.
 */
export async function shopperJourney(page: Page, shop: JourneyShop): Promise<void> {
  const { baseUrl, products, app } = shop;
  const main = () => page.locator('main');
  const header = () => page.locator('header');
  const status = () => page.locator('#status');
  const heading = () => main().getByRole('heading', { level: 1 });
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
  await main().getByLabel('Password', { exact: true }).fill(shop.password);
  const signUp = await clickForApi(
    page,
    main().getByRole('button', { name: 'Sign up' }),
    'POST',
    '/api/users',
  );
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
  await main().getByLabel('Password', { exact: true }).fill(shop.password);
  const login = await clickForApi(
    page,
    main().getByRole('button', { name: 'Log in' }),
    'POST',
    '/api/sessions',
  );
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
    page,
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
  const stock = await catalog.query('SELECT sku, stock FROM public.products WHERE sku LIKE $1 ORDER BY sku', [
    'KETTLE-%',
  ]);
  expect(stock.rows).toEqual([
    { sku: 'KETTLE-BLUE', stock: 8 },
    { sku: 'KETTLE-RED', stock: 2 },
  ]);
}
