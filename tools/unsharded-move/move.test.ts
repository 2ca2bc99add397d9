import type { FastifyInstance } from 'fastify';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Client } from 'pg';
import { buildApp } from '../../app/src/app';
import { hashPassword } from '../../app/src/passwords';
import { logicalShard, shardSchema } from '../../app/src/sharding/logical-shard';
import { sessionCookie, testConfig, uniqueEmail } from '../../app/test/support/app';
import { createTestDatabase, TEST_PG_ADMIN_URL, type TestDatabase } from '../../app/test/support/postgres';
import { dropRoles, loginUrl, uniqueRoleName } from '../../app/test/support/roles';
import { until } from '../../app/test/support/wait';
import { UnshardedMover } from './move';

// The move from the unsharded layout on the test server (PostgreSQL on 127.0.0.1:5432), one database per test:
// a 10k database seeded in SQL with 10,000 users and 30,000 orders, the app then deployed with SHARD_ENDPOINTS
// (the layout stays unsharded), and the move run under a write load. The 10k database is built once and each test
// gets its own copy of it (CREATE DATABASE ... TEMPLATE).
const repoRoot = path.resolve(__dirname, '../..');
const PASSWORD = 'correct horse battery';
const appUser = uniqueRoleName('shop_app_layout');
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
    ...(sharded ? { SHARD_ENDPOINTS: '[]', SHARD_MAP_REFRESH_MS: '200', SHARD_WRITE_WAIT_MS: '3000' } : {}),
    RATE_LIMIT_AUTH_MAX: '100000',
  };
}

/**
 * A 10k database: migrated by the unsharded app, seeded with 10,000 users and 30,000 orders (1–3 lines each)
 * by generate_series, then migrated again with SHARD_ENDPOINTS=[] (256 schemas, the map, layout unsharded).
 * Built once per file (the template of each test's database).
 */
async function buildTenK(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  const unsharded = await buildApp({ config: testConfig(env(db, false)), logger: false });
  await unsharded.close();
  const client = await connect(db.url);
  try {
    const hash = await hashPassword(PASSWORD);
    const statements = [
      `INSERT INTO products (id, sku, name, price_cents, stock)
       SELECT gen_random_uuid(), 'SKU-' || i, 'Product ' || i, 100 + i, 1000000 FROM generate_series(1, 20) AS i`,
      `INSERT INTO users (id, email, name, password_hash)
       SELECT gen_random_uuid(), 'seed' || i || '@example.test', 'Seed ' || i, $1 FROM generate_series(1, 10000) AS i`,
      `INSERT INTO orders (id, user_id, total_cents, created_at)
       SELECT gen_random_uuid(), u.id, 0, now() - make_interval(mins => k) FROM users u, generate_series(1, 3) AS k`,
      // 1-3 lines per order, distinct products
      `INSERT INTO order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
       SELECT o.id, l, o.user_id, p.id, p.name, l, p.price_cents
       FROM orders o CROSS JOIN LATERAL generate_series(1, 1 + (get_byte(uuid_send(o.id), 15) % 3)) AS l
       JOIN (SELECT id, name, price_cents, row_number() OVER (ORDER BY sku) AS n FROM products) p ON p.n = l`,
      `UPDATE orders o SET total_cents = (SELECT sum(quantity * unit_price_cents) FROM order_items i WHERE i.order_id = o.id)`,
      'ANALYZE',
    ];
    for (const sql of statements) await client.query(sql, sql.includes('$1') ? [hash] : []);
  } finally {
    await client.end();
  }
  // The 100k configuration's first start: schemas and control, the layout stays unsharded (users exist).
  const sharded = await buildApp({ config: testConfig(env(db, true)), logger: false });
  await sharded.close();
  return db;
}

let template: TestDatabase;
beforeAll(async () => {
  template = await buildTenK();
}, 300_000);

/** A test's own 10k database: a copy of the one built once (nothing connected to it since). */
async function tenKDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase(TEST_PG_ADMIN_URL, { template: template.name });
  databases.push(db);
  return db;
}

interface Snapshot {
  users: Map<string, string>;
  orders: Map<string, string>;
  items: number;
}

/**
 * Every user and order row as text, by id (asserting each id exactly once), from public or from all 256 schemas;
 * from the schemas, also that every row is in the schema of its user's logical shard.
 */
async function snapshot(client: Client, where: 'public' | 'schemas'): Promise<Snapshot> {
  const schemas = where === 'public' ? ['public'] : Array.from({ length: 256 }, (_, i) => shardSchema(i));
  const from = (table: string, columns: string) =>
    `(${schemas.map((s) => `SELECT '${s}' AS s, ${columns} FROM ${s}.${table} t`).join(' UNION ALL ')}) AS x`;
  // A user's order_count is the users consumer's projection of OrderPlaced events (stage 1m), which the HTTP
  // load's orders legitimately change during the move: the rows are compared without it.
  const rows = async (table: string, user: string) => {
    const row = table === 'users' ? `(to_jsonb(t) - 'order_count')::text` : 't::text';
    const { rows } = await client.query<{ id: string; user_id: string; s: string; row: string }>(
      `SELECT * FROM ${from(table, `t.id, t.${user} AS user_id, ${row} AS row`)}`,
    );
    return rows;
  };
  const byId = (list: { id: string; user_id: string; s: string; row: string }[]) => {
    const map = new Map<string, string>();
    for (const r of list) {
      if (map.has(r.id)) throw new Error(`${r.id} is there twice`);
      if (where === 'schemas' && r.s !== shardSchema(logicalShard(r.user_id)))
        throw new Error(`${r.id} is in ${r.s}, not in its user's schema`);
      map.set(r.id, r.row);
    }
    return map;
  };
  const users = byId(await rows('users', 'id'));
  const orders = byId(await rows('orders', 'user_id'));
  const { rows: items } = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${from('order_items', '1')}`,
  );
  return { users, orders, items: Number(items[0].n) };
}

/**
 * The ids of `expected` whose row `found` lacks or holds differently: empty when every row is there unchanged. One
 * assertion on it is as strict as one per row, and costs milliseconds where 80,000 expect() calls cost seconds.
 */
function changedRows(expected: ReadonlyMap<string, string>, found: ReadonlyMap<string, string>): string[] {
  return [...expected].filter(([id, row]) => found.get(id) !== row).map(([id]) => id);
}

/** The CLI as a child process on `db`, with its output collected. */
function startCli(
  db: TestDatabase,
  args: string[],
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'tools/unsharded-move/cli.ts', ...args], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: db.url, SHARDS_ADMIN_URL: '', MIGRATION_DATABASE_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

afterAll(async () => {
  await Promise.all(databases.map((db) => db.drop()));
  await dropRoles(TEST_PG_ADMIN_URL, [appUser]);
}, 120_000);

describe('the move from the unsharded layout', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  test('moves 10,000 users and 30,000 orders online under an HTTP write load: nothing lost, writes blocked for seconds at most', async () => {
    // GIVEN a 10k database under the 100k configuration: the layout is still unsharded
    const db = await tenKDatabase();
    const owner = await connect(db.url);
    const config = testConfig(env(db, true));
    app = await buildApp({ config, logger: false });
    expect(app.shop.userData.sharded).toBe(true);
    expect(app.shop.userData.shardedNow).toBe(false);
    const before = await snapshot(owner, 'public');
    expect(before.users.size).toBe(10_000);
    expect(before.orders.size).toBe(30_000);
    const { rows: products } = await owner.query<{ id: string }>(
      'SELECT id FROM products ORDER BY sku LIMIT 5',
    );

    // ... and 4 clients placing orders through the app (logged-in seeded users), one signing users up
    const clients = await Promise.all(
      [1, 2, 3, 4].map(async (i) => {
        const response = await app!.inject({
          method: 'POST',
          url: '/api/sessions',
          payload: { email: `seed${i}@example.test`, password: PASSWORD },
        });
        expect(response.statusCode).toBe(200);
        return { cookie: sessionCookie(response) };
      }),
    );
    const acked: { id: string; at: number }[] = [];
    const signedUp: { id: string; email: string; at: number }[] = [];
    const statuses = new Map<number, number>();
    let running = true;
    const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);
    const load = [
      ...clients.map(async ({ cookie }, i) => {
        while (running) {
          const response = await app!.inject({
            method: 'POST',
            url: '/api/orders',
            headers: { cookie },
            payload: { items: [{ productId: products[i].id, quantity: 1 }] },
          });
          count(response.statusCode);
          if (response.statusCode === 201) acked.push({ id: response.json().id, at: Date.now() });
        }
      }),
      (async () => {
        while (running) {
          const email = uniqueEmail('during-move');
          const response = await app!.inject({
            method: 'POST',
            url: '/api/users',
            payload: { email, password: PASSWORD, name: 'During the move' },
          });
          count(response.statusCode);
          if (response.statusCode === 201)
            signedUp.push({ id: response.json().user.id, email, at: Date.now() });
        }
      })(),
    ];
    await until(() => acked.length >= 20, 'orders placed before the move', 30_000);

    // WHEN the move runs
    const mover = await connect(db.url);
    const events: Record<string, unknown>[] = [];
    const result = await new UnshardedMover(mover, {
      batchSize: 500,
      // The instances' SHARD_MAP_REFRESH_MS: the fence waits for them to see it before the REVOKE.
      mapRefreshMs: 200,
      onProgress: (e) => events.push({ ...e, t: Date.now() }),
    }).run();
    const flippedAt = Date.now();
    await until(() => app!.shop.userData.shardedNow, 'the instance to notice the flip', 5_000);
    const noticedMs = Date.now() - flippedAt;
    const orderedAfterFlip = acked.length;
    await until(() => acked.length >= orderedAfterFlip + 20, 'orders placed after the flip', 30_000);
    running = false;
    await Promise.all(load);
    await mover.end();

    // THEN every row is in its schema exactly once, unchanged, and every acknowledged write is there
    const after = await snapshot(owner, 'schemas');
    const publicNow = await snapshot(owner, 'public');
    expect(changedRows(before.users, after.users)).toEqual([]);
    expect(changedRows(before.orders, after.orders)).toEqual([]);
    expect(changedRows(publicNow.orders, after.orders)).toEqual([]);
    expect(changedRows(publicNow.users, after.users)).toEqual([]);
    expect(acked.filter((order) => !after.orders.has(order.id))).toEqual([]);
    expect(signedUp.filter((user) => !after.users.has(user.id))).toEqual([]);
    expect(after.orders.size).toBe(30_000 + acked.length);
    expect(after.users.size).toBe(10_000 + signedUp.length);
    // ... written after the flip only to the schemas; public is frozen and read-only for the app
    expect(publicNow.orders.size).toBeLessThan(after.orders.size);
    const { rows: dir } = await owner.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM control.email_directory',
    );
    expect(dir[0].n).toBe(after.users.size);
    const { rows: layout } = await owner.query(
      "SELECT value FROM control.settings WHERE key = 'user_data_layout'",
    );
    expect(layout[0].value).toBe('sharded');
    const { rows: map } = await owner.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM control.shard_map WHERE state = 'active' AND shard_id = '0'",
    );
    expect(map[0].n).toBe(256);
    const { rows: triggers } = await owner.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_trigger WHERE tgname = 'shop_layout_move'",
    );
    expect(triggers[0].n).toBe(0);
    // a seeded user logs in and reads their orders from their schema
    const login = await app.inject({
      method: 'POST',
      url: '/api/sessions',
      payload: { email: 'seed9999@example.test', password: PASSWORD },
    });
    expect(login.statusCode).toBe(200);
    const list = await app.inject({
      method: 'GET',
      url: '/api/orders',
      headers: { cookie: sessionCookie(login) },
    });
    expect(list.json().items).toHaveLength(3);
    // a 10k instance left behind (no SHARD_ENDPOINTS) cannot write to public any more: 503, nothing written
    const stale = await buildApp({ config: testConfig(env(db, false)), logger: false });
    try {
      const staleLogin = await stale.inject({
        method: 'POST',
        url: '/api/sessions',
        payload: { email: 'seed5@example.test', password: PASSWORD },
      });
      expect(staleLogin.statusCode).toBe(200);
      const refused = await stale.inject({
        method: 'POST',
        url: '/api/orders',
        headers: { cookie: sessionCookie(staleLogin) },
        payload: { items: [{ productId: products[0].id, quantity: 1 }] },
      });
      expect(refused.statusCode).toBe(503);
      expect(refused.headers['retry-after']).toBeDefined();
      const signUp = await stale.inject({
        method: 'POST',
        url: '/api/users',
        payload: { email: uniqueEmail('stale'), password: PASSWORD, name: 'Stale' },
      });
      expect(signUp.statusCode).toBe(503);
      expect((await snapshot(owner, 'public')).orders.size).toBe(publicNow.orders.size);
    } finally {
      await stale.close();
    }
    // only 201s and the fence's 503s
    expect([...statuses.keys()].filter((s) => s !== 201 && s !== 503)).toEqual([]);

    // ... and writes were blocked for seconds at most: the fence (database clock), and the longest gap between
    // acknowledged orders as the clients saw it
    const times = acked.map((o) => o.at).sort((a, b) => a - b);
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    const longestGapMs = Math.max(...gaps);
    process.stdout.write(
      `${JSON.stringify({ fenceMs: result.fenceMs, longestGapMs, batches: result.batches, changesApplied: result.changesApplied, statuses: Object.fromEntries(statuses), steps: events.filter((e) => e.step !== 'copy' && e.step !== 'changes'), noticedMs })}\n`,
    );
    expect(result.fenceMs).not.toBeNull();
    expect(result.fenceMs!).toBeLessThan(10_000);
    expect(longestGapMs).toBeLessThan(10_000);
    expect(result.rows.orders).toBeGreaterThanOrEqual(30_000);
    await owner.end();
  }, 300_000);

  test('a mover SIGKILLed while copying and again inside its fence is completed by a rerun, nothing lost or duplicated', async () => {
    // GIVEN a 10k database under the 100k configuration, and the app role writing orders into public
    const db = await tenKDatabase();
    const owner = await connect(db.url);
    const before = await snapshot(owner, 'public');
    const { rows: products } = await owner.query<{ id: string; name: string; price_cents: number }>(
      'SELECT id, name, price_cents FROM products ORDER BY sku LIMIT 1',
    );
    const writer = await connect(loginUrl(db.url, appUser));
    const acked: string[] = [];
    const unexpected: string[] = [];
    let running = true;
    const place = async () => {
      const users = [...before.users.keys()];
      let i = 0;
      while (running) {
        const userId = users[i++ % users.length];
        try {
          const { rows } = await writer.query<{ id: string }>(
            `WITH o AS (INSERT INTO orders (id, user_id, total_cents) VALUES (gen_random_uuid(), $1, $2) RETURNING id),
                  l AS (INSERT INTO order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
                        SELECT id, 1, $1, $3, $4, 1, $2 FROM o)
             SELECT id FROM o`,
            [userId, products[0].price_cents, products[0].id, products[0].name],
          );
          acked.push(rows[0].id);
          // About 150 orders a second, not as fast as one connection can insert.
          await new Promise((resolve) => setTimeout(resolve, 5));
        } catch (err) {
          const code = (err as { code?: string }).code ?? String(err);
          if (code !== '42501') unexpected.push(code); // only the fence may refuse a write
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    };
    const load = place();
    let output = '';
    const cli = (args: string[]): ChildProcess => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'tools/unsharded-move/cli.ts', ...args], {
        cwd: repoRoot,
        env: { ...process.env, DATABASE_URL: db.url, SHARDS_ADMIN_URL: '', MIGRATION_DATABASE_URL: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('exit', (code) => {
        if (code !== null && code !== 0) output += `exit ${code}\n`;
      });
      return child;
    };
    const runningCli = (child: ChildProcess) => () => {
      if (child.exitCode !== null) throw new Error(`the mover exited early: ${output}`);
    };
    const exited = (child: ChildProcess) =>
      new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on('exit', (code, signal) => resolve({ code, signal })),
      );
    const moveRow = async () =>
      (await owner.query<{ step: string; batches: number }>('SELECT step, batches FROM control.layout_move'))
        .rows[0];

    // WHEN the mover is killed mid-copy
    const first = cli(['run', '--batch-size', '200']);
    await until(
      async () => {
        runningCli(first)();
        return ((await moveRow())?.batches ?? 0) >= 5;
      },
      'five batches copied',
      120_000,
    );
    first.kill('SIGKILL');
    expect((await exited(first)).signal).toBe('SIGKILL');
    expect((await moveRow()).step).toBe('copying');

    // ... and, rerun while a transaction that wrote before the fence holds it open, killed inside the fence
    const longTx = await connect(loginUrl(db.url, appUser));
    await longTx.query('BEGIN');
    const { rows: late } = await longTx.query<{ id: string }>(
      `WITH o AS (INSERT INTO orders (id, user_id, total_cents) VALUES (gen_random_uuid(), $1, $2) RETURNING id),
            l AS (INSERT INTO order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
                  SELECT id, 1, $1, $3, $4, 1, $2 FROM o)
       SELECT id FROM o`,
      [[...before.users.keys()][0], products[0].price_cents, products[0].id, products[0].name],
    );
    // (batches of 1000 for the rest of the copy: only the first run's small batches matter, to be killed mid-copy)
    const second = cli(['run', '--batch-size', '1000', '--fence-timeout-ms', '60000']);
    await until(
      async () => {
        runningCli(second)();
        if ((await moveRow())?.step !== 'fenced') return false;
        // Past the map fence's wait: the REVOKE is in and the SHARE lock waits for that transaction.
        const { rows } = await owner.query(
          `SELECT 1 FROM pg_locks WHERE relation = 'public.orders'::regclass AND mode = 'ShareLock' AND NOT granted`,
        );
        return rows.length > 0;
      },
      'the fence waiting for the open transaction',
      120_000,
    );
    second.kill('SIGKILL');
    expect((await exited(second)).signal).toBe('SIGKILL');
    await longTx.query('COMMIT'); // it wrote before the fence: it commits, and must be moved
    await longTx.end();
    acked.push(late[0].id);

    // THEN a rerun completes: exit 0, layout sharded, every row exactly once in its schema
    output = '';
    const third = cli(['run', '--batch-size', '200']);
    expect((await exited(third)).code).toBe(0);
    running = false;
    await load;
    await writer.end();
    expect(unexpected).toEqual([]);
    expect(output).toContain('"step":"flipped"');
    const after = await snapshot(owner, 'schemas');
    expect(changedRows(before.users, after.users)).toEqual([]);
    expect(changedRows(before.orders, after.orders)).toEqual([]);
    expect(acked.filter((id) => !after.orders.has(id))).toEqual([]);
    expect(after.orders.size).toBe(30_000 + acked.length);
    expect(after.items).toBe(before.items + acked.length);
    expect(await new UnshardedMover(owner).verify()).toEqual([]);
    expect((await moveRow()).step).toBe('done');
    // writes into public are refused for the app role from now on
    const { rows: grants } = await owner.query<{ ok: boolean }>(
      "SELECT has_table_privilege('shop_app', 'public.orders', 'INSERT') AS ok",
    );
    expect(grants[0].ok).toBe(false);
    await owner.end();
  }, 300_000);

  test('a difference found under the fence lifts it and exits 1; abort empties the schemas; a rerun then completes', async () => {
    // GIVEN a move killed while copying, and a copied row changed in its schema behind the mover's back
    const db = await tenKDatabase();
    const owner = await connect(db.url);
    const first = startCli(db, ['run', '--batch-size', '200']);
    await until(
      async () => {
        if (first.child.exitCode !== null) throw new Error(`the mover exited early: ${first.output()}`);
        const { rows } = await owner.query<{ users_after: string | null }>(
          'SELECT users_after FROM control.layout_move',
        );
        return (rows[0]?.users_after ?? null) !== null;
      },
      'a batch of users copied',
      120_000,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    const { rows: copied } = await owner.query<{ id: string }>(
      'SELECT id FROM public.users WHERE id <= (SELECT users_after FROM control.layout_move) ORDER BY id LIMIT 1',
    );
    const tampered = shardSchema(logicalShard(copied[0].id));
    await owner.query(`UPDATE ${tampered}.users SET name = 'changed behind the mover' WHERE id = $1`, [
      copied[0].id,
    ]);

    // WHEN the move is rerun
    const second = startCli(db, ['run', '--batch-size', '1000']);
    // THEN the verification under the fence finds it: exit 1, the fence lifted, nothing flipped
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain(`users ls ${logicalShard(copied[0].id)}`);
    const state = async () =>
      (
        await owner.query<{ layout: string; active: number; insert: boolean }>(
          `SELECT (SELECT value FROM control.settings WHERE key = 'user_data_layout') AS layout,
                  (SELECT count(*)::int FROM control.shard_map WHERE state = 'active') AS active,
                  has_table_privilege('shop_app', 'public.orders', 'INSERT') AS insert`,
        )
      ).rows[0];
    expect(await state()).toEqual({ layout: 'unsharded', active: 256, insert: true });

    // WHEN aborted: the schemas and the directory are empty again, no trigger or move is left
    const abort = startCli(db, ['abort']);
    expect(await abort.exited).toBe(0);
    expect((await snapshot(owner, 'schemas')).users.size).toBe(0);
    const { rows: left } = await owner.query<{ dir: number; moves: number; triggers: number }>(
      `SELECT (SELECT count(*)::int FROM control.email_directory) AS dir,
              (SELECT count(*)::int FROM control.layout_move) AS moves,
              (SELECT count(*)::int FROM pg_trigger WHERE tgname = 'shop_layout_move') AS triggers`,
    );
    expect(left[0]).toEqual({ dir: 0, moves: 0, triggers: 0 });
    expect(await state()).toEqual({ layout: 'unsharded', active: 256, insert: true });

    // THEN a new run completes and matches public exactly
    const before = await snapshot(owner, 'public');
    const third = startCli(db, ['run']);
    expect(await third.exited).toBe(0);
    const after = await snapshot(owner, 'schemas');
    expect(after.users).toEqual(before.users);
    expect(after.orders).toEqual(before.orders);
    expect(after.items).toBe(before.items);
    expect((await state()).layout).toBe('sharded');
    // ... and a second abort is refused after the flip (exit 2)
    const late = startCli(db, ['abort']);
    expect(await late.exited).toBe(2);
    expect(late.output()).toContain('cannot be aborted');
    await owner.end();
  }, 300_000);
});
