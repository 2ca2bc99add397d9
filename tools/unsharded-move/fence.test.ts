import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { buildApp } from '../../app/src/app';
import { logicalShard } from '../../app/src/sharding/logical-shard';
import { loadShardMap, ShardMapCache, ShardUnavailableError } from '../../app/src/sharding/shard-map';
import { testConfig } from '../../app/test/support/app';
import { createTestDatabase, TEST_PG_ADMIN_URL, type TestDatabase } from '../../app/test/support/postgres';
import { dropRoles, loginUrl, sqlStateOf, uniqueRoleName } from '../../app/test/support/roles';
import { until } from '../../app/test/support/wait';
import {
  FenceLiftedError,
  LayoutMoveLockLostError,
  MAP_SETTLE_MARGIN_MS,
  MOVER_LOCK_KEY,
  UnshardedMover,
} from './move';

// The fence of the move from the unsharded layout and its failure paths, on the test server (127.0.0.1:5432): a
// small 10k database per test (300 users, 900 orders), deployed with SHARD_ENDPOINTS=[] (the layout stays
// unsharded); built once, each test gets its own copy (CREATE DATABASE ... TEMPLATE). move.test.ts has the
// full-size move under an HTTP load.
const appUser = uniqueRoleName('shop_app_fence');
const databases: TestDatabase[] = [];

async function connect(url: string): Promise<Client> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

function env(db: TestDatabase, sharded: boolean): Record<string, string> {
  return {
    DATABASE_URL: loginUrl(db.url, appUser),
    MIGRATION_DATABASE_URL: db.url,
    ...(sharded ? { SHARD_ENDPOINTS: '[]' } : {}),
  };
}

/** A small 10k database under the 100k configuration (layout unsharded), built once: the tests' template. */
async function buildSmallTenK(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  await (await buildApp({ config: testConfig(env(db, false)), logger: false })).close();
  const owner = await connect(db.url);
  try {
    await owner.query(
      `INSERT INTO users (id, email, name, password_hash)
       SELECT gen_random_uuid(), 'fence' || i || '@example.test', 'F ' || i, 'x' FROM generate_series(1, 300) i`,
    );
    await owner.query(
      `WITH o AS (INSERT INTO orders (id, user_id, total_cents)
                  SELECT gen_random_uuid(), u.id, 100 FROM users u, generate_series(1, 3) RETURNING id, user_id)
       INSERT INTO order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
       SELECT id, 1, user_id, gen_random_uuid(), 'mug', 1, 100 FROM o`,
    );
  } finally {
    await owner.end();
  }
  await (await buildApp({ config: testConfig(env(db, true)), logger: false })).close();
  return db;
}

let template: TestDatabase;
beforeAll(async () => {
  template = await buildSmallTenK();
}, 120_000);

/** A test's own small 10k database (a copy of the template); resolves to it and its seeded users. */
async function smallTenK(): Promise<{ db: TestDatabase; users: string[] }> {
  const db = await createTestDatabase(TEST_PG_ADMIN_URL, { template: template.name });
  databases.push(db);
  const owner = await connect(db.url);
  try {
    const { rows } = await owner.query<{ id: string }>('SELECT id FROM public.users ORDER BY email');
    return { db, users: rows.map((r) => r.id) };
  } finally {
    await owner.end();
  }
}

/** The layout, the map's states and the move's step: what "the fence is lifted" and "flipped" mean. */
async function state(owner: Client): Promise<{ layout: string; states: string[]; step: string | null }> {
  const { rows } = await owner.query<{ layout: string; states: string[]; step: string | null }>(
    `SELECT (SELECT value FROM control.settings WHERE key = 'user_data_layout') AS layout,
            (SELECT array_agg(DISTINCT state ORDER BY state) FROM control.shard_map) AS states,
            (SELECT step FROM control.layout_move) AS step`,
  );
  return rows[0];
}

/** SQLSTATE of an order written into public by the app role ('ok' when it may write there). */
async function appWrite(db: TestDatabase, userId: string): Promise<string> {
  return sqlStateOf(
    loginUrl(db.url, appUser),
    `INSERT INTO public.orders (id, user_id, total_cents) VALUES (gen_random_uuid(), '${userId}', 1)`,
  );
}

afterAll(async () => {
  await Promise.all(databases.map((db) => db.drop()));
  await dropRoles(TEST_PG_ADMIN_URL, [appUser]);
}, 120_000);

describe('the fence of the move from the unsharded layout', () => {
  test('is two-phase: instances with the app map cache (refresh 500 ms) hold their writes, none meets the REVOKE', async () => {
    // GIVEN 4 app instances, each with the app's own ShardMapCache (refresh 500 ms, writes to a fenced logical
    // shard wait up to 10 s) on its own connection as the app role, placing orders in public (the layout is
    // unsharded) in a loop
    const { db, users } = await smallTenK();
    const refreshMs = 500;
    let stop = false;
    const written: string[] = [];
    const outcomes = { held: 0, denied: 0, unavailable: 0, other: [] as string[] };
    const instances = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const conn = await connect(loginUrl(db.url, appUser));
        const cache = new ShardMapCache(conn, await loadShardMap(conn), () => undefined, {
          refreshMs,
          writeWaitMs: 10_000,
        });
        cache.start();
        return { conn, cache };
      }),
    );
    const writers = instances.map(async ({ conn, cache }, w) => {
      for (let i = 0; !stop; i++) {
        const user = users[(w * 41 + i) % users.length];
        const asked = Date.now();
        try {
          await cache.writable(logicalShard(user));
        } catch (err) {
          if (err instanceof ShardUnavailableError) outcomes.unavailable++;
          else outcomes.other.push((err as Error).message);
          continue;
        }
        if (Date.now() - asked >= 100) outcomes.held++;
        if (cache.layout === 'sharded') break; // flipped: the app writes to the schemas now
        const id = randomUUID();
        try {
          await conn.query('BEGIN');
          await conn.query('INSERT INTO public.orders (id, user_id, total_cents) VALUES ($1, $2, 444)', [
            id,
            user,
          ]);
          await conn.query(
            `INSERT INTO public.order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
             VALUES ($1, 1, $2, gen_random_uuid(), 'cup', 1, 444)`,
            [id, user],
          );
          await conn.query('COMMIT');
          written.push(id);
        } catch (err) {
          await conn.query('ROLLBACK').catch(() => undefined);
          // 42501: a stale map met the REVOKE (the app's 503), what the two-phase fence avoids
          if ((err as { code?: string }).code === '42501') outcomes.denied++;
          else outcomes.other.push((err as Error).message);
        }
      }
    });
    const owner = await connect(db.url);
    const moverDb = await connect(db.url);
    try {
      // WHEN the move runs while they write, knowing the instances' refresh interval
      await until(() => written.length >= 40 || outcomes.other.length > 0, 'writes in public', 30_000);
      const result = await new UnshardedMover(moverDb, { mapRefreshMs: refreshMs, batchSize: 200 }).run();
      stop = true;
      await Promise.all(writers);

      // THEN every instance held its writes across the fence: none met the REVOKE, none gave up
      process.stdout.write(
        `unsharded two-phase fence: ${written.length} orders, fence ${result.fenceMs} ms; held ` +
          `${outcomes.held}, denied ${outcomes.denied}, 503 ${outcomes.unavailable}\n`,
      );
      expect(outcomes.other).toEqual([]);
      expect({ denied: outcomes.denied, unavailable: outcomes.unavailable }).toEqual({
        denied: 0,
        unavailable: 0,
      });
      expect(outcomes.held).toBeGreaterThan(0);
      expect(result.fenceMs).toBeGreaterThanOrEqual(refreshMs + MAP_SETTLE_MARGIN_MS);
      // AND the layout flipped with every acknowledged order moved
      expect(await state(owner)).toEqual({ layout: 'sharded', states: ['active'], step: 'done' });
      expect(result.rows.orders).toBe(900 + written.length);
    } finally {
      stop = true;
      await Promise.allSettled(writers);
      for (const { conn, cache } of instances) {
        cache.stop();
        await conn.end().catch(() => undefined);
      }
      await Promise.allSettled([owner.end(), moverDb.end()]);
    }
  }, 120_000);

  test('a failure of any kind under the fence lifts it; a rerun completes the move', async () => {
    // GIVEN a move whose verification step fails (injected) after the REVOKE
    const { db, users } = await smallTenK();
    const owner = await connect(db.url);
    const moverDb = await connect(db.url);
    try {
      const failing = new UnshardedMover(moverDb, {
        mapRefreshMs: 100,
        afterStep: async (step) => {
          if (step === 'revoked') expect(await appWrite(db, users[0])).toBe('42501'); // the fence is up
          if (step === 'verified') throw new Error('injected failure after the verification');
        },
      });

      // WHEN it runs
      const error = await failing.run().catch((err: Error) => err);

      // THEN it fails naming the error and saying the fence is lifted: writes allowed in public again, every
      // logical shard active, the layout unsharded, the move back at copying
      expect(error).toBeInstanceOf(FenceLiftedError);
      expect((error as Error).message).toMatch(/injected failure.*the fence was lifted/);
      expect(await state(owner)).toEqual({ layout: 'unsharded', states: ['active'], step: 'copying' });
      expect(await appWrite(db, users[1])).toBe('ok');

      // AND a rerun completes it, with the order written meanwhile
      const result = await new UnshardedMover(moverDb, { mapRefreshMs: 100 }).run();
      expect(await state(owner)).toEqual({ layout: 'sharded', states: ['active'], step: 'done' });
      expect(result.rows.orders).toBe(901);
      expect(await new UnshardedMover(moverDb).verify()).toEqual([]);
    } finally {
      await Promise.allSettled([owner.end(), moverDb.end()]);
    }
  }, 120_000);

  test('the work under the fence has a deadline: past --catch-up-timeout-ms the fence is lifted', async () => {
    // GIVEN a move allowed 1 ms for the change log and the verification under its fence
    const { db, users } = await smallTenK();
    const owner = await connect(db.url);
    const moverDb = await connect(db.url);
    try {
      // WHEN it runs
      const error = await new UnshardedMover(moverDb, { mapRefreshMs: 100, catchUpTimeoutMs: 1 })
        .run()
        .catch((err: Error) => err);

      // THEN it stops naming the option, with the fence lifted and nothing flipped
      expect(error).toBeInstanceOf(FenceLiftedError);
      expect((error as Error).message).toMatch(/--catch-up-timeout-ms \(1\).*the fence was lifted/);
      expect(await state(owner)).toEqual({ layout: 'unsharded', states: ['active'], step: 'copying' });
      expect(await appWrite(db, users[0])).toBe('ok');
    } finally {
      await Promise.allSettled([owner.end(), moverDb.end()]);
    }
  }, 120_000);

  test('a lost advisory lock stops the run before the fence, acting no further', async () => {
    // GIVEN a move whose session loses the mover's advisory lock once the copy is done (as when a pooler hands the
    // client another server session)
    const { db, users } = await smallTenK();
    const owner = await connect(db.url);
    const moverDb = await connect(db.url);
    try {
      const mover = new UnshardedMover(moverDb, {
        mapRefreshMs: 100,
        afterStep: async (step) => {
          if (step === 'copied') await moverDb.query('SELECT pg_advisory_unlock($1)', [MOVER_LOCK_KEY]);
        },
      });

      // WHEN it runs
      const error = await mover.run().catch((err: Error) => err);

      // THEN it stops with the lock error before fencing: the map stays active and writes allowed
      expect(error).toBeInstanceOf(LayoutMoveLockLostError);
      expect((error as Error).message).toMatch(/lost its advisory lock .* \(before the fence\)/);
      expect(await state(owner)).toEqual({ layout: 'unsharded', states: ['active'], step: 'copying' });
      expect(await appWrite(db, users[0])).toBe('ok');

      // AND a rerun resumes and completes the move
      await new UnshardedMover(moverDb, { mapRefreshMs: 100 }).run();
      expect(await state(owner)).toEqual({ layout: 'sharded', states: ['active'], step: 'done' });
    } finally {
      await Promise.allSettled([owner.end(), moverDb.end()]);
    }
  }, 120_000);
});
