// Stage global on one machine, with real processes (tools/local-topology/global.ts): the home region's two
// PostgreSQL shards as primaries, a streaming standby of each per other region, Redis per region (home; a
// read-only session replica and a regional cache elsewhere), stage 1m's services and gateway per region, and the
// geo router in front. Every request goes through the router with the header CloudFront would set; the database
// checks read the home primaries through an in-process app on the home region's environment. The storefront's
// shopper journey (app/test/e2e/storefront-browser.ts) also runs here, in headless Chromium as a viewer in France:
// the page's reads served in eu-west-1, its writes (and its reads pinned home after them) in us-east-1. The last
// tests are destructive, in order: the home region's processes killed, the writers failed over to eu-west-1
// (failOverTo), then eu-west-1's processes killed.
import { Client } from 'pg';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { HOME_PIN_COOKIE, failoverRegionOf } from '../../lib/config/global-routing';
import { buildApp } from '../../app/src/app';
import { grantAdmin, testConfig } from '../../app/test/support/app';
import { until } from '../../app/test/support/wait';
import {
  createJourneyKettles,
  launchChromium,
  openWatchedPage,
  shopperJourney,
} from '../../app/test/e2e/storefront-browser';
import { SERVED_REGION_HEADER, VIEWER_COUNTRY_HEADER } from './geo-router';
import { startGlobalTopology, type GlobalTopology } from './global';
import { THROWAWAY_POSTGRES_SETTINGS } from './services';

jest.setTimeout(120_000);
/** Starting 3 regions (6 Postgres servers, 5 Redis, 12 processes) takes a while on a busy machine. */
const START_TIMEOUT_MS = 900_000;
/** The failover restarts the services of two regions, one process at a time: minutes on a busy small machine. */
const FAILOVER_TIMEOUT_MS = 600_000;

const HOME = 'us-east-1';
const EU = 'eu-west-1';
const AP = 'ap-southeast-2';
const INTERVAL_MS = 500;
const THRESHOLD = 2;
/** A health change comes within threshold checks after the failure, plus the check under way, plus slack. */
const MOVE_BOUND_MS = INTERVAL_MS * (THRESHOLD + 1) + 1000;
const ADMIN_EMAIL = 'global-admin@e2e.example';
const PASSWORD = 'correct horse battery staple';

let topology: GlobalTopology;
/** An in-process app on the home region's data (topology.env): rebuilt on the new writers after the failover. */
let inspector: FastifyInstance;
let admin: Viewer;
let productId: string;
let browser: Browser | undefined;

/** A viewer in one country with a cookie jar, talking to the router as a browser behind CloudFront would. */
class Viewer {
  readonly cookies = new Map<string, string>();
  constructor(readonly country: string) {}

  cookieHeader(only?: string[]): string {
    return [...this.cookies]
      .filter(([name]) => !only || only.includes(name))
      .map(([name, value]) => `${name}=${value}`)
      .join('; ');
  }

  /** One request through the router; `only` limits the cookies sent (e.g. the session without the home pin). */
  async call(method: string, path: string, body?: unknown, only?: string[]) {
    const response = await fetch(`${topology.url}${path}`, {
      method,
      headers: {
        [VIEWER_COUNTRY_HEADER]: this.country,
        cookie: this.cookieHeader(only),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair, ...attributes] = cookie.split(';');
      const [name, value] = pair.split('=');
      if (attributes.some((a) => /^\s*max-age=0\s*$/i.test(a))) this.cookies.delete(name.trim());
      else this.cookies.set(name.trim(), value);
    }
    const text = await response.text();
    return {
      status: response.status,
      served: response.headers.get(SERVED_REGION_HEADER),
      body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> & { items?: { id: string }[] },
    };
  }

  async signUp(email = `shopper-${Math.random().toString(36).slice(2)}@e2e.example`) {
    const response = await this.call('POST', '/api/users', { email, password: PASSWORD, name: 'Shopper' });
    if (response.status !== 201)
      throw new Error(`sign-up: ${response.status} ${JSON.stringify(response.body)}`);
    return { ...response, userId: (response.body.user as { id: string }).id, email };
  }

  order(quantity = 1) {
    return this.call('POST', '/api/orders', { items: [{ productId, quantity }] });
  }
}

/** The customers of the home region's outage (logged in before it) and the orders it acknowledged. */
let outage: {
  customers: { viewer: Viewer; userId: string }[];
  acknowledged: { userId: string; orderId: string }[];
};

/** An app on the home region's data (without its region role), for the admin grant and the checks on the writers. */
function buildInspector() {
  const { REGION_ROLE: _role, HOME_REGION: _home, ...homeData } = topology.env;
  return buildApp({
    config: testConfig({
      ...homeData,
      ADMIN_EMAILS: ADMIN_EMAIL,
      METRICS_PORT: '0',
      OUTBOX_POLL_MS: '60000',
    }),
    logger: false,
  });
}

/** Whether the order is on the home primary of its user's shard. */
async function orderOnPrimary(userId: string, orderId: string): Promise<boolean> {
  const { shard, schema } = inspector.shop.userData.forRead(userId);
  const { rows } = await shard.db.writer.query(`SELECT 1 FROM ${schema}.orders WHERE id = $1`, [orderId]);
  return rows.length === 1;
}

beforeAll(async () => {
  topology = await startGlobalTopology({
    healthCheckIntervalMs: INTERVAL_MS,
    failureThreshold: THRESHOLD,
    // The servers are deleted after the run and no test crashes PostgreSQL itself: no fsync, no full-page images
    // (the sharded layout's migration and the four clones were most of the start-up's time).
    postgresSettings: THROWAWAY_POSTGRES_SETTINGS,
    env: {
      ADMIN_EMAILS: ADMIN_EMAIL,
      RATE_LIMIT_AUTH_MAX: '100000',
      // The read-your-writes window the pin cookie lasts (and the app's own, at home).
      READ_YOUR_WRITES_WINDOW_MS: '30000',
    },
    gatewayEnv: {
      GATEWAY_AUTH_RATE_LIMIT_MAX: '100000',
      GATEWAY_RATE_LIMIT_MAX: '1000000',
      LOG_LEVEL: 'warn',
    },
  });
  // The home region's data, seen by one more (single-region) instance: the admin grant and the checks on the primary.
  inspector = await buildInspector();
  admin = new Viewer('US');
  await admin.signUp(ADMIN_EMAIL);
  await grantAdmin(inspector, ADMIN_EMAIL);
  const created = await admin.call('POST', '/api/products', {
    sku: 'GLOBE-1',
    name: 'Desk globe',
    description: 'A globe for the desk.',
    priceCents: 4200,
    stock: 100_000,
  });
  if (created.status !== 201) throw new Error(`product: ${created.status} ${JSON.stringify(created.body)}`);
  productId = created.body.id as string;
}, START_TIMEOUT_MS);

afterAll(async () => {
  await browser?.close();
  await inspector?.close();
  await topology?.stop();
});

test('reads are served in the caller region, from its own replica; its cache follows its replica', async () => {
  await Promise.all(topology.regions.map((r) => r.waitForReplication()));
  // GIVEN viewers on four continents, WHEN they read the product, THEN each is served in their region (South
  // America has no region: the default record, home)
  for (const [country, region] of [
    ['US', HOME],
    ['FR', EU],
    ['JP', AP],
    ['AU', AP],
    ['BR', HOME],
  ]) {
    const read = await new Viewer(country).call('GET', `/api/products/${productId}`);
    expect([country, read.status, read.served, read.body.name]).toEqual([country, 200, region, 'Desk globe']);
  }

  // GIVEN Europe's replica lagging (replay paused), WHEN the price changes at home
  await topology.region(EU).pauseReplication(true);
  try {
    const patched = await admin.call('PATCH', `/api/products/${productId}`, { priceCents: 4300 });
    expect([patched.status, patched.served]).toEqual([200, HOME]);
    // THEN home serves the new price, and Europe still the old one: its reads come from its own replica
    await until(
      async () => (await new Viewer('US').call('GET', `/api/products/${productId}`)).body.priceCents === 4300,
      'the new price at home',
    );
    const stale = await new Viewer('FR').call('GET', `/api/products/${productId}`);
    expect([stale.served, stale.body.priceCents]).toEqual([EU, 4200]);
  } finally {
    await topology.region(EU).pauseReplication(false);
  }
  // AND once the change reaches Europe's replica, its regional cache (filled with the old price just now) follows:
  // the regional follower applies the invalidation that came with the data
  await until(
    async () => (await new Viewer('FR').call('GET', `/api/products/${productId}`)).body.priceCents === 4300,
    'the new price in Europe',
  );
});

test('writes from any region land on the home primary; a secondary region refuses them with 421', async () => {
  // WHEN a viewer in France signs up and orders
  const viewer = new Viewer('FR');
  const signedUp = await viewer.signUp();
  // THEN both went home, and home pinned the viewer there for the read-your-writes window
  expect(signedUp.served).toBe(HOME);
  expect(viewer.cookies.get(HOME_PIN_COOKIE)).toBe('1');
  const order = await viewer.order();
  expect([order.status, order.served]).toEqual([201, HOME]);
  expect(await orderOnPrimary(signedUp.userId, order.body.id as string)).toBe(true);

  // WHEN a write reaches Europe's front door directly (no router), THEN it is refused and nothing is written
  const email = `direct-${Math.random().toString(36).slice(2)}@e2e.example`;
  const direct = await fetch(`${topology.region(EU).url}/api/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD, name: 'Direct' }),
  });
  expect(direct.status).toBe(421);
  expect(await direct.json()).toEqual({ error: `writes are served by the home region ${HOME}` });
  expect(await inspector.shop.accounts.findByEmail(email)).toBeFalsy();
});

/**
 * Read-your-writes while the viewer's own region (`lagging`) does not replay: the viewer orders (served by `writer`,
 * the pin cookie set), their next read goes to `writer` with the pin and has the order; the same read without the pin
 * is served by `lagging`'s replica (the session replicated there) without it, so the pin is what gave
 * read-your-writes. Once replay resumes the unpinned read has it too. Returns the order's id.
 */
async function expectReadYourWrites(
  viewer: Viewer,
  { writer, lagging }: { writer: string; lagging: string },
): Promise<string> {
  await topology.region(lagging).waitForReplication();
  await topology.region(lagging).pauseReplication(true);
  let orderId: string;
  try {
    const order = await viewer.order();
    expect([order.status, order.served, viewer.cookies.get(HOME_PIN_COOKIE)]).toEqual([201, writer, '1']);
    orderId = order.body.id as string;
    const pinned = await viewer.call('GET', '/api/orders');
    expect([pinned.status, pinned.served]).toEqual([200, writer]);
    expect(pinned.body.items!.map((o) => o.id)).toContain(orderId);
    const unpinned = await viewer.call('GET', '/api/orders', undefined, ['sid']);
    expect([unpinned.status, unpinned.served]).toEqual([200, lagging]);
    expect(unpinned.body.items!.map((o) => o.id)).not.toContain(orderId);
  } finally {
    await topology.region(lagging).pauseReplication(false);
  }
  await until(
    async () =>
      ((await viewer.call('GET', '/api/orders', undefined, ['sid'])).body.items ?? []).some(
        (o) => o.id === orderId,
      ),
    `the order made in ${writer} in ${lagging}'s reads once replayed`,
  );
  return orderId;
}

test("read-your-writes: a European viewer's order is in their next read, whatever Europe's replica lag", async () => {
  const viewer = new Viewer('FR');
  const { userId } = await viewer.signUp();
  const orderId = await expectReadYourWrites(viewer, { writer: HOME, lagging: EU });
  expect(await orderOnPrimary(userId, orderId)).toBe(true);
});

test("the storefront in a browser in France: the shopper's journey, its reads served in Europe and its writes at home", async () => {
  // GIVEN the journey's two kettles in the catalog (created at home), replicated to every region
  const products = await createJourneyKettles(async (payload) => {
    const created = await admin.call('POST', '/api/products', payload);
    if (created.status !== 201)
      throw new Error(`${payload.sku}: ${created.status} ${JSON.stringify(created.body)}`);
    return created.body.id as string;
  });
  await Promise.all(topology.regions.map((r) => r.waitForReplication()));
  browser = await launchChromium();
  const watched = await openWatchedPage(browser, topology.url, { [VIEWER_COUNTRY_HEADER]: 'FR' });
  try {
    // WHEN a shopper in France searches, fills the cart, signs up, logs out and in, orders and sees the order
    // (THEN the page, the API and the home primary agree: the checks are the storefront test's)
    await shopperJourney(watched.page, {
      baseUrl: topology.url,
      products,
      app: inspector,
      password: PASSWORD,
    });
  } finally {
    await watched.context.close();
  }
  // AND nothing went wrong in the page (no script error, no CSP violation, no broken asset)
  expect(watched.problems).toEqual([]);
  // AND the page was served in Europe, and every write at home
  expect(watched.served.some((r) => r.method === 'GET' && r.region === EU)).toBe(true);
  const writes = watched.served.filter((r) => !['GET', 'HEAD', 'OPTIONS'].includes(r.method));
  expect(writes.length).toBeGreaterThan(0);
  expect(writes).toEqual(writes.map((r) => ({ ...r, region: HOME })));
});

/** Reads in a loop from one country until stopped; records when each answer came and from where. */
function readLoop(country: string) {
  // sentAt: when the router got to decide; at: when the answer came
  const answers: { sentAt: number; at: number; status: number; served: string | null }[] = [];
  let running = true;
  const done = (async () => {
    const viewer = new Viewer(country);
    while (running) {
      const sentAt = performance.now();
      try {
        const read = await viewer.call('GET', `/api/products/${productId}`);
        answers.push({ sentAt, at: performance.now(), status: read.status, served: read.served });
      } catch {
        answers.push({ sentAt, at: performance.now(), status: 0, served: null });
      }
    }
  })();
  return {
    answers,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

test('a failover is refused while the home region runs, and to a region that is not a secondary', async () => {
  // (checked before anything is touched: the topology is left as it was)
  await expect(topology.failOverTo(EU)).rejects.toThrow(
    /^the home region us-east-1 still runs products, users, orders, gateway: only a failover is emulated/,
  );
  await expect(topology.failOverTo(HOME)).rejects.toThrow('us-east-1 is the home region');
  await expect(topology.failOverTo('sa-east-1')).rejects.toThrow('no region "sa-east-1" in the topology');
  expect([topology.home, topology.router.writerRegion, topology.region(EU).role]).toEqual([
    HOME,
    HOME,
    'secondary',
  ]);
});

// (the home region first: its reads fail over to Europe, which the next test kills)
test("the home region's processes killed: reads move, and no acknowledged write is lost", async () => {
  const customers = await Promise.all(
    ['US', 'FR', 'JP'].map(async (country) => {
      const viewer = new Viewer(country);
      return { viewer, userId: (await viewer.signUp()).userId };
    }),
  );
  // GIVEN writes (orders) and reads in flight from every continent
  const writes: { userId: string; status: number; orderId?: string }[] = [];
  let writing = true;
  const writers = customers.map(async ({ viewer, userId }) => {
    while (writing) {
      try {
        const order = await viewer.order();
        writes.push({ userId, status: order.status, orderId: order.body?.id as string | undefined });
      } catch {
        writes.push({ userId, status: 0 });
      }
    }
  });
  const reads = readLoop('US');
  let killedAt = 0;
  try {
    await until(
      () => writes.filter((w) => w.status === 201).length >= 6,
      'orders acknowledged before the kill',
    );
    // WHEN every app process of the home region is killed (its databases and Redis stay: a regional app outage)
    killedAt = performance.now();
    await topology.killRegion(HOME);
    const change = await topology.router.waitForHealth(HOME, false, 10 * MOVE_BOUND_MS);
    // THEN home is marked unhealthy within the bound and its reads are served by the next region
    expect(change!.at - killedAt).toBeLessThanOrEqual(MOVE_BOUND_MS);
    await until(
      () => reads.answers.some((a) => a.at > change!.at && a.served === EU),
      'home reads served in Europe',
    );
  } finally {
    writing = false;
    await Promise.all(writers);
    await reads.stop();
  }
  const after = reads.answers.filter((a) => a.sentAt > topology.router.healthChanges.at(-1)!.at);
  expect(after.length).toBeGreaterThan(0);
  expect(new Set(after.map((a) => `${a.status} ${a.served}`))).toEqual(new Set([`200 ${EU}`]));
  // AND every write was either acknowledged (and is on the primary) or failed to the client; none answered 2xx
  // without its row, and writes are never moved to a region without a writer
  const acknowledged = writes.filter((w) => w.status === 201);
  expect(acknowledged.length).toBeGreaterThanOrEqual(6);
  for (const w of acknowledged)
    expect([w.orderId, await orderOnPrimary(w.userId, w.orderId!)]).toEqual([w.orderId, true]);
  for (const w of writes.filter((x) => x.status !== 201)) expect([0, 502, 503, 504]).toContain(w.status);
  expect(writes.filter((w) => w.status !== 201).length).toBeGreaterThan(0);
  outage = {
    customers,
    acknowledged: acknowledged.map((w) => ({ userId: w.userId, orderId: w.orderId! })),
  };
});

test(
  "failover to Europe after the home region's outage: writes land on its promoted primary, nothing acknowledged is lost, sessions and read-your-writes hold",
  async () => {
    // GIVEN the home region's processes down (the test before), with customers logged in and orders acknowledged
    expect(outage?.acknowledged.length).toBeGreaterThanOrEqual(6);
    expect(topology.router.healthy(HOME)).toBe(false);
    // (the in-process app's pools point at the home region's servers, which the failover stops)
    await inspector.close();

    // WHEN the writers move to Europe (Aurora's global failover, the Global Datastore's promotion, -c writerRegion)
    await topology.failOverTo(EU);
    inspector = await buildInspector();
    await Promise.all([EU, AP].map((r) => topology.router.waitForHealth(r, true)));

    // THEN Europe is the home region for the topology, the router and the in-process app's data
    expect(topology.regions.map((r) => [r.name, r.role])).toEqual([
      [HOME, 'failed'],
      [EU, 'home'],
      [AP, 'secondary'],
    ]);
    expect([topology.home, topology.router.writerRegion]).toEqual([EU, EU]);
    expect(topology.env.DATABASE_URL).toBe(topology.region(EU).databaseEnv.DATABASE_URL);
    // AND the old primaries are gone (no write can land there any more)
    const oldPrimary = new Client({ connectionString: topology.region(HOME).databaseEnv.DATABASE_URL });
    await expect(oldPrimary.connect()).rejects.toThrow(/ECONNREFUSED/);
    // AND every order acknowledged before the outage is on Europe's promoted primary
    for (const { userId, orderId } of outage.acknowledged)
      expect([orderId, await orderOnPrimary(userId, orderId)]).toEqual([orderId, true]);

    // AND the customers of three continents, logged in before the failover, still are and write to Europe
    for (const { viewer, userId } of outage.customers) {
      const me = await viewer.call('GET', '/api/me', undefined, ['sid']);
      expect([viewer.country, me.status, (me.body.user as { id: string } | undefined)?.id]).toEqual([
        viewer.country,
        200,
        userId,
      ]);
      const order = await viewer.order();
      expect([viewer.country, order.status, order.served]).toEqual([viewer.country, 201, EU]);
      expect(await orderOnPrimary(userId, order.body.id as string)).toBe(true);
    }
    // AND a viewer no region claims (South America) reaches the writers by default, as the moved `*` record does
    const brazil = new Viewer('BR');
    const signedUp = await brazil.signUp();
    expect(signedUp.served).toBe(EU);
    expect(await inspector.shop.accounts.findByEmail(signedUp.email)).toBeTruthy();

    // AND a write sent straight to Asia-Pacific's gateway names the new home region
    const direct = await fetch(`${topology.region(AP).url}/api/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items: [{ productId, quantity: 1 }] }),
    });
    expect([direct.status, await direct.json()]).toEqual([
      421,
      { error: `writes are served by the home region ${EU}` },
    ]);

    // AND Asia-Pacific's standbys stream from Europe's promoted primaries
    const euPorts = [
      topology.region(EU).databaseEnv.DATABASE_URL,
      ...(JSON.parse(topology.region(EU).databaseEnv.SHARD_ENDPOINTS) as { url: string }[]).map((s) => s.url),
    ].map((url) => Number(new URL(url).port));
    const apUrls = [
      topology.region(AP).databaseEnv.DATABASE_URL,
      ...(JSON.parse(topology.region(AP).databaseEnv.SHARD_ENDPOINTS) as { url: string }[]).map((s) => s.url),
    ];
    const senders = await Promise.all(
      apUrls.map(async (url) => {
        const client = new Client({ connectionString: url });
        await client.connect();
        try {
          const { rows } = await client.query<{ port: number }>(
            "SELECT sender_port AS port FROM pg_stat_wal_receiver WHERE status = 'streaming'",
          );
          return rows.map((r) => r.port);
        } finally {
          await client.end();
        }
      }),
    );
    expect(senders).toEqual(euPorts.map((port) => [port]));

    // AND read-your-writes for a viewer in Japan while Asia-Pacific's replica lags: the order is written in Europe,
    // the pinned read goes there and has it, the unpinned one (Asia-Pacific's replica) not yet
    const japan = outage.customers.find((c) => c.viewer.country === 'JP')!;
    await expectReadYourWrites(japan.viewer, { writer: EU, lagging: AP });
  },
  FAILOVER_TIMEOUT_MS,
);

test("Europe's processes killed (the home region since the failover): its reads move to the next region within interval × threshold", async () => {
  const reads = readLoop('DE');
  try {
    await until(
      () => reads.answers.some((a) => a.served === EU && a.status === 200),
      'a read served in Europe',
    );
    // WHEN every process of Europe is killed
    const killedAt = performance.now();
    await topology.killRegion(EU);
    const change = await topology.router.waitForHealth(EU, false, 10 * MOVE_BOUND_MS);
    // THEN the router marks it unhealthy within the bound, and Europe's viewers are served by the next region
    expect(change!.at - killedAt).toBeLessThanOrEqual(MOVE_BOUND_MS);
    const next = failoverRegionOf(
      EU,
      topology.regions.map((r) => r.name),
    );
    await until(
      () => reads.answers.some((a) => a.at > change!.at && a.served === next),
      'a read served elsewhere',
    );
    const moved = reads.answers.find((a) => a.at > killedAt && a.status === 200 && a.served === next)!;
    expect(moved.at - killedAt).toBeLessThanOrEqual(MOVE_BOUND_MS + 500);
  } finally {
    await reads.stop();
  }
  // AND every request sent after the health change is answered 200 from there
  const after = reads.answers.filter((a) => a.sentAt > topology.router.healthChanges.at(-1)!.at);
  expect(after.length).toBeGreaterThan(0);
  expect(new Set(after.map((a) => `${a.status} ${a.served}`))).toEqual(new Set([`200 ${AP}`]));
});
