// End to end: the real storefront (app/public) in headless Debian Chromium, served by the real app (buildApp)
// on real Postgres in a database of its own (the unsharded layout). The catalog is created through the admin API,
// then a shopper browses, searches, fills the cart, signs up, logs out and in, orders, and finds the order in "My
// orders". Assertions are on what the page shows, and then on the API and the database. The shopper's journey
// (app/test/e2e/storefront-browser.ts: the scenario whose API calls and database rows depend on the layout) also
// runs in the files that start the other layouts anyway: two physical shards on two PostgreSQL servers in
// app/test/sharding/two-shards.test.ts, stage 1m's services behind the local gateway in
// app/test/services/topology-1m.test.ts, and stage global's geo router, as a viewer in France, in
// tools/local-topology/global.test.ts. (The other scenarios are the page's own behaviour; the API answers they
// show are the HTTP contract suite's, which runs on one database, two shards and stage 1m.)
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { changeAdminRole } from '../../src/admin';
import { buildApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createTestDatabase } from '../support/postgres';
import {
  clickForApi as clickForApiOn,
  launchChromium,
  openWatchedPage,
  shopperJourney,
  textWhen,
} from './storefront-browser';

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
  /** The in-process app listens and is the shop. */
  start(): Promise<{
    env: Record<string, string>;
    stop(): Promise<void>;
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
];
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

// One browser for every topology.
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
    await createCatalog(config);
  } catch (err) {
    await stop();
    throw err;
  }
  return stop;
}

/** The catalog, created the way an operator would: an admin account and the product API. */
async function createCatalog(config: ReturnType<typeof loadConfig>): Promise<void> {
  baseUrl = await app.listen({ port: 0, host: '127.0.0.1' });
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

/** Opens a fresh browser context (own cookies and storage) on the shop and watches it for problems. */
async function openPage(options: Parameters<Browser['newContext']>[0] = {}): Promise<Page> {
  const watched = await openWatchedPage(browser, baseUrl, {}, options);
  context = watched.context;
  problems = watched.problems;
  return watched.page;
}

beforeEach(() => {
  problems = [];
});

afterEach(async () => {
  await context?.close();
  // THEN nothing went wrong in the page along the way (no script error, no CSP violation, no broken asset)
  expect(problems).toEqual([]);
});

const main = () => page.locator('main');
const header = () => page.locator('header');
const status = () => page.locator('#status');
const heading = () => main().getByRole('heading', { level: 1 });

/** Clicks and returns the JSON answer of the API call the click causes. */
const clickForApi = (target: Locator, method: string, path: string) =>
  clickForApiOn(page, target, method, path);

describe.each(TOPOLOGIES)('storefront on $name', (topology) => {
  let stopShop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    stopShop = await startShop(topology);
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
    problems.splice(0, problems.length, ...problems.filter((p) => !p.includes('Content Security Policy')));
  });

  test('a shopper searches, fills the cart, signs up, logs out and in, orders, and sees the order', async () => {
    page = await openPage();
    await shopperJourney(page, {
      baseUrl,
      products: { blue: products.blue, red: products.red },
      app,
      password: PASSWORD,
    });
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
