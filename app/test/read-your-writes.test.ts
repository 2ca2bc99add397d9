import type { FastifyInstance, Session } from 'fastify';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Client } from 'pg';
import {
  startReplicatedPostgres,
  type ReplicatedPostgres,
} from '../../tools/local-topology/postgres-replication';
import { buildApp } from '../src/app';
import type { Database, SqlExecutor } from '../src/db/database';
import { PgDatabase } from '../src/db/pg-database';
import { readReplayPosition, REPLAY_POSITION_SQL, replayPositionOf } from '../src/db/replay-position';
import { ReadRouter } from '../src/read-routing';
import { metricValue, signUp, signUpAdmin, testConfig } from './support/app';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from './support/redis';
import { THROWAWAY_POSTGRES_SETTINGS } from '../../tools/local-topology/services';

// A real streaming replica (initdb + pg_basebackup from the local Postgres 15 binaries). Two app instances
// share Redis sessions (the read-your-writes marker written by one is honoured by the other) and the Redis
// cache (an invalidation by one is seen by the other).
let pg: ReplicatedPostgres;
let redis: TestRedisPrefix;
const apps: FastifyInstance[] = [];
const adminEmail = 'ryw-admin@example.test';

async function instance(env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await buildApp({
    config: testConfig({
      DATABASE_URL: pg.primaryUrl,
      DATABASE_READER_URL: pg.replicaUrl,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redis.prefix,
      CACHE_STORE: 'redis',
      SESSION_STORE: 'redis',
      SESSION_SECRET: 'read-your-writes-secret-32-characters!',
      ADMIN_EMAILS: adminEmail,
      READ_YOUR_WRITES_WINDOW_MS: '60000',
      ...env,
    }),
    logger: false,
  });
  apps.push(app);
  return app;
}

async function onReplica<T>(sql: string, params: unknown[]): Promise<T[]> {
  const client = new Client({ connectionString: pg.replicaUrl });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

const counters = async (app: FastifyInstance) => ({
  writer: await metricValue(app, 'db_queries_total{pool="writer"}'),
  reader: await metricValue(app, 'db_queries_total{pool="reader"}'),
});

/** Polls `condition` every 50 ms until it holds; fails after a deadline generous enough for a busy CI box. */
async function eventually(
  condition: () => Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A "reader endpoint" that hands each new connection to the next of several servers in turn, like RDS Proxy's
 * read-only endpoint or an Aurora reader endpoint in front of readers with different lag.
 */
async function roundRobinEndpoint(
  targetUrls: string[],
): Promise<{ url: string; opened: number[]; close(): Promise<void> }> {
  const ports = targetUrls.map((url) => Number(new URL(url).port));
  const opened = ports.map(() => 0);
  const sockets = new Set<Socket>();
  let next = 0;
  const server: Server = createServer((client) => {
    const target = next++ % ports.length;
    opened[target] += 1;
    const upstream = connect(ports[target], '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  const url = new URL(targetUrls[0]);
  url.port = String(address.port);
  return {
    url: url.toString(),
    opened,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

beforeAll(async () => {
  pg = await startReplicatedPostgres({ settings: THROWAWAY_POSTGRES_SETTINGS });
  redis = createTestRedisPrefix();
}, 120_000);

// A test that fails while replay is paused must not leave the replica paused for the tests after it (each
// would then fail waiting for catch-up, hiding the first failure).
afterEach(async () => {
  await pg?.resumeReplay();
});

afterAll(async () => {
  for (const app of apps) await app.close();
  await redis?.cleanup();
  await pg?.stop();
});

test('the writing user reads its own write from the writer while others read the (stale) replica; after catch-up reads go back to the replica', async () => {
  const [a, b] = [await instance(), await instance()];
  expect(a.shop.db.hasReplica).toBe(true);
  // B's outbox relays poll the writer in the background (every OUTBOX_POLL_MS, a transaction of 3 writer
  // queries each time): the invalidation outbox's and the domain events' (event_outbox). Both stopped, so that
  // B's writer-query counts below are its requests' alone (A's relays publish A's writes; B's consumers still run).
  for (const relay of b.shop.invalidation.relays.values()) await relay.stop();
  for (const relay of b.shop.events?.relays.values() ?? []) await relay.stop();
  expect(b.shop.events?.relays.size).toBeGreaterThan(0);

  // GIVEN a product with stock 10, two customers, and a replica that has caught up
  const admin = await signUpAdmin(a, adminEmail);
  const created = await a.inject({
    method: 'POST',
    url: '/api/products',
    headers: { cookie: admin.cookie },
    payload: { sku: 'RYW-1', name: 'Replicated Kettle', priceCents: 2500, stock: 10 },
  });
  expect(created.statusCode).toBe(201);
  const productId: string = created.json().id;
  const writer = await signUp(a);
  const other = await signUp(a);
  await pg.waitForCatchUp();

  // WHEN replay pauses on the replica and one user places an order through instance A
  await pg.pauseReplay();
  const placed = await a.inject({
    method: 'POST',
    url: '/api/orders',
    headers: { cookie: writer.cookie },
    payload: { items: [{ productId, quantity: 3 }] },
  });
  expect(placed.statusCode).toBe(201);
  const orderId: string = placed.json().id;
  // (the replica really is behind: it has neither the order nor the new stock)
  expect(await onReplica('SELECT id FROM orders WHERE id = $1', [orderId])).toEqual([]);
  expect(await onReplica('SELECT stock FROM products WHERE id = $1', [productId])).toEqual([{ stock: 10 }]);

  // (the order's OrderPlaced event is consumed by A's or B's users consumer, a writer transaction: waited for
  // here, on the primary, so that it cannot land in B's counts below)
  await eventually(
    async () =>
      (
        await a.shop.db.query<{ n: number }>('SELECT order_count AS n FROM users WHERE id = $1', [
          writer.user.id,
        ])
      ).rows[0]?.n === 1,
    'the OrderPlaced event to be consumed',
  );

  // THEN the writer sees its own order and the new stock, even through instance B (marker in the session)
  const before = await counters(b);
  const own = await b.inject({ method: 'GET', url: '/api/orders', headers: { cookie: writer.cookie } });
  expect(own.json().items.map((o: { id: string }) => o.id)).toEqual([orderId]);
  const ownView = await b.inject({
    method: 'GET',
    url: `/api/products/${productId}`,
    headers: { cookie: writer.cookie },
  });
  expect(ownView.json().stock).toBe(7);
  const after = await counters(b);
  expect(after.writer - before.writer).toBeGreaterThanOrEqual(3); // orders, order lines, product
  // ... while another user's read of the same product goes to the replica and is stale (their own marker,
  // from signing up, is one the replica had replayed), and so does an anonymous visitor's, which goes
  // through the cache and fills it with the stale stock
  const othersView = await b.inject({
    method: 'GET',
    url: `/api/products/${productId}`,
    headers: { cookie: other.cookie },
  });
  expect(othersView.json().stock).toBe(10);
  const anonymousView = await b.inject({ method: 'GET', url: `/api/products/${productId}` });
  expect(anonymousView.json().stock).toBe(10);
  expect((await counters(b)).writer).toBe(after.writer);

  // WHEN replay resumes and the replica catches up
  await pg.resumeReplay();
  await pg.waitForCatchUp();

  // THEN the writer's reads go back to the replica (no writer queries: each query's reader connection
  // reports it has replayed the order), and the replica has the order
  const resumed = await counters(b);
  const again = await b.inject({ method: 'GET', url: '/api/orders', headers: { cookie: writer.cookie } });
  expect(again.json().items.map((o: { id: string }) => o.id)).toEqual([orderId]);
  const end = await counters(b);
  expect(end.writer).toBe(resumed.writer);
  expect(end.reader - resumed.reader).toBeGreaterThanOrEqual(4); // (position check + query) x (orders, lines)

  // AND the stale stock the anonymous read put in the cache while the replica lagged is invalidated again
  // once the replica replayed the order (not left for a whole TTL)
  await eventually(async () => {
    const view = await b.inject({ method: 'GET', url: `/api/products/${productId}` });
    return view.json().stock === 7;
  }, 'the cached stale stock to be invalidated');
  await eventually(async () => a.shop.replicaInvalidation.pending === 0, 'the invalidation queue to drain');
});

test('the window is bounded: when the replica stays behind, reads return to it after READ_YOUR_WRITES_WINDOW_MS', async () => {
  const windowMs = 3_000;
  const app = await instance({ READ_YOUR_WRITES_WINDOW_MS: String(windowMs) });
  const user = await signUp(app);
  const { rows } = await app.shop.db.query<{ id: string }>("SELECT id FROM products WHERE sku = 'RYW-1'");
  await pg.waitForCatchUp();

  await pg.pauseReplay();
  try {
    const beforeWrite = Date.now();
    const placed = await app.inject({
      method: 'POST',
      url: '/api/orders',
      headers: { cookie: user.cookie },
      payload: { items: [{ productId: rows[0].id, quantity: 1 }] },
    });
    expect(placed.statusCode).toBe(201);
    const soon = await app.inject({ method: 'GET', url: '/api/orders', headers: { cookie: user.cookie } });
    // (only meaningful inside the window; a machine too slow for that fails here rather than passing wrongly)
    expect(Date.now() - beforeWrite).toBeLessThan(windowMs);
    expect(soon.json().items).toHaveLength(1);
    // The replica stays paused: once the window has passed, reads go back to it and no longer see the order.
    let staleAt = 0;
    await eventually(
      async () => {
        const later = await app.inject({
          method: 'GET',
          url: '/api/orders',
          headers: { cookie: user.cookie },
        });
        staleAt = Date.now();
        return later.json().items.length === 0;
      },
      'reads to return to the paused replica',
      windowMs + 15_000,
    );
    expect(staleAt - beforeWrite).toBeGreaterThanOrEqual(windowMs);
  } finally {
    await pg.resumeReplay();
  }
});

describe('read-your-writes check and read share one reader connection', () => {
  let endpoint: Awaited<ReturnType<typeof roundRobinEndpoint>>;
  let db: PgDatabase;
  const queries = { writer: 0, reader: 0 };
  const probe = 'SELECT pg_backend_pid() AS pid, count(*)::int AS seen FROM ryw_probe WHERE id = $1';

  beforeAll(async () => {
    // Two "readers" behind one endpoint: the paused streaming replica (lagging) and a server that has every
    // write (the primary, which reports it is not in recovery).
    endpoint = await roundRobinEndpoint([pg.replicaUrl, pg.primaryUrl]);
    db = new PgDatabase({
      writer: { connectionString: pg.primaryUrl },
      reader: { connectionString: endpoint.url },
      poolMax: 6,
      observe: (pool) => (queries[pool] += 1),
    });
    await db.query('CREATE TABLE IF NOT EXISTS ryw_probe (id int PRIMARY KEY)');
    await pg.waitForCatchUp();
  });

  afterAll(async () => {
    await db?.close();
    await endpoint?.close();
  });

  test('each read runs on the reader connection whose position was checked, else on the writer', async () => {
    // GIVEN replay paused and a row written after it, so the two readers disagree about it
    await pg.pauseReplay();
    try {
      await db.query('INSERT INTO ryw_probe (id) VALUES (1)');
      const lsn = await db.writerLsn();
      expect(lsn).not.toBeNull();
      const session = { ryw: { lsn: lsn as string, until: Date.now() + 60_000 } } as Session;
      const router = new ReadRouter(db, 60_000);

      // (the endpoint really mixes them: two fresh connections through it see different data)
      const seenThroughEndpoint: number[] = [];
      for (let i = 0; i < 2; i++) {
        const client = new Client({ connectionString: endpoint.url });
        await client.connect();
        try {
          seenThroughEndpoint.push((await client.query(probe, [1])).rows[0].seen);
        } finally {
          await client.end();
        }
      }
      expect(seenThroughEndpoint.sort()).toEqual([0, 1]);

      // WHEN the writing user runs six reads at once (the pool opens six connections, alternately to the
      // lagging replica and to the up-to-date server); each statement is recorded with the backend that ran it
      const statements: { tx: number; text: string; pid: number }[] = [];
      let transactions = 0;
      const spied: Database = Object.create(db, {
        withReaderTransaction: {
          value: <T>(fn: (tx: SqlExecutor) => Promise<T>) =>
            db.withReaderTransaction(async (tx) => {
              const id = transactions++;
              return fn({
                query: async <R>(text: string, params?: unknown[]) => {
                  const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
                  statements.push({ tx: id, text, pid: rows[0].pid });
                  return tx.query<R>(text, params);
                },
              });
            }),
        },
      });
      const source = await new ReadRouter(spied, 60_000).readerFor(session);
      expect(router.readsOwnWrites(source)).toBe(true);
      const before = { ...queries };
      const results = await Promise.all(
        Array.from({ length: 6 }, () => source.query<{ pid: number; seen: number }>(probe, [1])),
      );

      // THEN every read sees the user's write, whichever reader its connection reached
      expect(results.map((r) => r.rows[0].seen)).toEqual([1, 1, 1, 1, 1, 1]);
      expect(endpoint.opened[0]).toBeGreaterThanOrEqual(3); // the lagging replica was reached ...
      expect(endpoint.opened[1]).toBeGreaterThanOrEqual(3); // ... and so was the up-to-date server
      // Reads whose connection reached the lagging replica went to the writer; the others stayed on a reader.
      const onWriter = queries.writer - before.writer;
      expect(onWriter).toBeGreaterThanOrEqual(1);
      expect(onWriter).toBeLessThan(6);
      // In every reader transaction the position check came first, and the read (when there was one) ran on
      // the same backend as the check; the answering backend is the one the check ran on.
      const byTx = new Map<number, typeof statements>();
      for (const statement of statements)
        byTx.set(statement.tx, [...(byTx.get(statement.tx) ?? []), statement]);
      expect(byTx.size).toBe(6);
      let readsOnReader = 0;
      for (const txStatements of byTx.values()) {
        expect(txStatements[0].text).toBe(REPLAY_POSITION_SQL);
        expect(new Set(txStatements.map((s) => s.pid)).size).toBe(1);
        if (txStatements.length > 1) {
          expect(txStatements.map((s) => s.text)).toEqual([REPLAY_POSITION_SQL, probe]);
          readsOnReader += 1;
          const answered = results.find((r) => r.rows[0].pid === txStatements[0].pid);
          expect(answered).toBeDefined();
        }
      }
      expect(readsOnReader).toBe(6 - onWriter);
    } finally {
      await pg.resumeReplay();
    }
  });

  test('a reader in recovery that reports no replay position is not caught up: the read goes to the writer', async () => {
    await pg.waitForCatchUp();
    const lsn = (await db.writerLsn()) as string;
    const session = { ryw: { lsn, until: Date.now() + 60_000 } } as Session;
    // The real replica (in recovery, caught up) behind a position query that answers NULL, as an Aurora
    // reader may.
    const replicaOnly = new PgDatabase({
      writer: { connectionString: pg.primaryUrl },
      reader: { connectionString: pg.replicaUrl },
      observe: (pool) => (queries[pool] += 1),
    });
    try {
      const stubbed = (nullPosition: boolean): Database =>
        Object.create(replicaOnly, {
          withReaderTransaction: {
            value: <T>(fn: (tx: SqlExecutor) => Promise<T>) =>
              replicaOnly.withReaderTransaction((tx) =>
                fn({
                  query: async <R>(text: string, params?: unknown[]) => {
                    if (nullPosition && text === REPLAY_POSITION_SQL) {
                      const { rows } = await tx.query<{ in_recovery: boolean }>(
                        'SELECT pg_is_in_recovery() AS in_recovery, NULL::text AS lsn',
                      );
                      return { rows: rows as R[] };
                    }
                    return tx.query<R>(text, params);
                  },
                }),
              ),
          },
        });
      const read = async (db: Database) => {
        const before = { ...queries };
        const source = await new ReadRouter(db, 60_000).readerFor(session);
        const { rows } = await source.query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby');
        return { standby: rows[0].standby, writerQueries: queries.writer - before.writer };
      };
      // With its real position the caught-up replica answers ...
      expect(await read(stubbed(false))).toEqual({ standby: true, writerQueries: 0 });
      // ... with an unknown one the writer does.
      expect(await read(stubbed(true))).toEqual({ standby: false, writerQueries: 1 });
      // And the port itself reports it so (the poller of the second cache invalidation relies on that).
      expect(await readReplayPosition(replicaOnly.reader)).toEqual({
        state: 'replaying',
        lsn: expect.any(String),
      });
      expect(await readReplayPosition(replicaOnly.writer)).toEqual({ state: 'primary' });
      expect(await replicaOnly.replicaHasReplayed(lsn)).toBe(true);
      expect(await replicaOnly.replicaHasReplayed('FFFFFFFF/FFFFFFFF')).toBe(false);
    } finally {
      await replicaOnly.close();
    }
  });
});

test('replayPositionOf: only a server not in recovery is a primary; in recovery without a position is unknown', () => {
  expect(replayPositionOf({ in_recovery: false, lsn: null })).toEqual({ state: 'primary' });
  expect(replayPositionOf({ in_recovery: true, lsn: '0/3000060' })).toEqual({
    state: 'replaying',
    lsn: '0/3000060',
  });
  expect(replayPositionOf({ in_recovery: true, lsn: null })).toEqual({ state: 'unknown' });
  expect(replayPositionOf({ in_recovery: true, lsn: 'garbage' })).toEqual({ state: 'unknown' });
  expect(replayPositionOf({ in_recovery: null, lsn: '0/1' })).toEqual({ state: 'unknown' });
  expect(replayPositionOf(undefined)).toEqual({ state: 'unknown' });
});
