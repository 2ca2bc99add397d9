import { randomUUID } from 'node:crypto';
import type { Client } from 'pg';
import type { PrivatePostgres } from '../local-topology/postgres-replication';
import { until } from '../../app/test/support/wait';
import { loadShardMap, ShardMapCache, ShardUnavailableError } from '../../app/src/sharding/shard-map';
import { MANAGER_LOCK_KEY, MAP_SETTLE_MARGIN_MS, ManagerLockLostError, MoveAbortedError } from './move';
import { appUrl, connect, createLayout, leftovers, moverFor, startShardServers } from './test-support';

/** count + md5 of a table's rows in key order (what "untouched" means). */
async function digest(db: Client, table: string, key: string): Promise<string> {
  const { rows } = await db.query<{ n: string; h: string | null }>(
    `SELECT count(*) AS n, md5(string_agg(t::text, ',' ORDER BY ${key})) AS h FROM ${table} t`,
  );
  return `${rows[0].n}:${rows[0].h}`;
}

async function seed(db: Client, schema: string, users: number, ordersPerUser: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO ${schema}.users (id, email, name, password_hash)
     SELECT gen_random_uuid(), '${schema}-' || i || '@example.com', 'user ' || i, 'x' FROM generate_series(1, $1) i
     RETURNING id`,
    [users],
  );
  await db.query(
    `WITH o AS (
       INSERT INTO ${schema}.orders (id, user_id, total_cents)
       SELECT gen_random_uuid(), u.id, 100 * g FROM ${schema}.users u, generate_series(1, $1) g RETURNING id, user_id)
     INSERT INTO ${schema}.order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
     SELECT id, 1, user_id, gen_random_uuid(), 'mug', 1, 100 FROM o`,
    [ordersPerUser],
  );
  return rows.map((r) => r.id);
}

describe('moving a logical shard online (real servers, wal_level=logical)', () => {
  let servers: PrivatePostgres[];
  let admin: Client[];

  beforeAll(async () => {
    servers = await startShardServers(3);
    // ls 0-7 on shard 0; every schema on every shard (the app's layout).
    await createLayout(
      servers.map((s) => s.url),
      { logicalShards: 8 },
    );
    admin = await Promise.all(servers.map((s) => connect(s.url)));
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled((admin ?? []).map((db) => db.end()));
    await Promise.allSettled((servers ?? []).map((s) => s.stop()));
  });

  it('moves ls 1 from shard 0 to shard 1 while 4 connections place orders: none lost, none duplicated', async () => {
    // GIVEN 300 users with 2,000 orders in ls_001, and 4 writers acting as the app role: each reads the map
    // (refreshed every 100 ms like the app's cache), waits while the logical shard is fenced, and writes to
    // the shard the map names
    const users = await seed(admin[0], 'ls_001', 300, 7);
    const appDb = await Promise.all(servers.slice(0, 2).map((s) => connect(appUrl(s.url))));
    const mapReader = await connect(appUrl(servers[0].url));
    let map = { shardId: '0', state: 'active' };
    let stop = false;
    const refresher = (async () => {
      while (!stop) {
        const { rows } = await mapReader.query(
          'SELECT shard_id, state FROM control.shard_map WHERE logical_shard = 1',
        );
        map = { shardId: rows[0].shard_id, state: rows[0].state };
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const written: string[] = [];
    const outcomes = {
      ok: { '0': 0, '1': 0 } as Record<string, number>,
      fencedWait: 0,
      denied: 0,
      other: [] as string[],
    };
    const writers = Array.from({ length: 4 }, async (_, w) => {
      const conns = await Promise.all(servers.slice(0, 2).map((s) => connect(appUrl(s.url))));
      let i = 0;
      while (!stop) {
        const seen = map;
        if (seen.state !== 'active') {
          outcomes.fencedWait++; // the app waits, then answers 503 with Retry-After
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        const db = conns[Number(seen.shardId)];
        const id = randomUUID();
        const user = users[(w * 7919 + i++) % users.length];
        try {
          await db.query('BEGIN');
          await db.query('INSERT INTO ls_001.orders (id, user_id, total_cents) VALUES ($1, $2, 777)', [
            id,
            user,
          ]);
          await db.query(
            `INSERT INTO ls_001.order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
             VALUES ($1, 1, $2, gen_random_uuid(), 'mug', 2, 700)`,
            [id, user],
          );
          await db.query('COMMIT');
          written.push(id);
          outcomes.ok[seen.shardId]++;
        } catch (err) {
          await db.query('ROLLBACK').catch(() => undefined);
          // 42501: the fence (REVOKE) met a router with a stale map: the app turns it into a 503.
          if ((err as { code?: string }).code === '42501') outcomes.denied++;
          else outcomes.other.push((err as Error).message);
        }
      }
      await Promise.all(conns.map((c) => c.end()));
    });
    const { mover, control, close } = await moverFor(servers, { rollbackWindowMs: 300 });
    const epochBefore = (await control.entry(1)).epoch;
    try {
      // WHEN the move runs while the writers write (once they have written on the source), and a few more
      // writes land after it
      await until(() => outcomes.ok['0'] >= 20 || outcomes.other.length > 0, 'writes on the source', 30_000);
      const result = await mover.move(1, '1');
      const after = outcomes.ok['1'];
      const deadline = Date.now() + 10_000;
      while (outcomes.ok['1'] < after + 20 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      stop = true;
      await Promise.all(writers);
      await refresher;

      // THEN every acknowledged order is on shard 1 exactly once, with its line, and nothing else is
      expect(outcomes.other).toEqual([]);
      expect(outcomes.ok['0']).toBeGreaterThan(0);
      expect(outcomes.ok['1']).toBeGreaterThan(20);
      const { rows: orders } = await admin[1].query<{ id: string }>(
        'SELECT id FROM ls_001.orders WHERE total_cents = 777',
      );
      const stored = orders.map((r) => r.id).sort();
      expect(new Set(written).size).toBe(written.length);
      const acknowledged = new Set(written);
      const unacknowledged = stored.filter((id) => !acknowledged.has(id));
      const lost = written.filter((id) => !stored.includes(id));
      expect({ lost, unacknowledged }).toEqual({ lost: [], unacknowledged: [] });
      expect(await digest(admin[1], 'ls_001.orders', 'id')).toMatch(new RegExp(`^${2100 + written.length}:`));
      const { rows: lines } = await admin[1].query(
        'SELECT count(*)::int AS n FROM ls_001.orders o JOIN ls_001.order_items i ON i.order_id = o.id',
      );
      expect(lines[0].n).toBe(2100 + written.length);
      // the map points at shard 1, active, two epochs later (fenced, then flipped)
      expect(await control.entry(1)).toEqual({
        logicalShard: 1,
        shardId: '1',
        state: 'active',
        epoch: epochBefore + 2,
      });
      expect(await control.moves()).toEqual([]);
      // the source's schema stays (the layout keeps it everywhere) but is empty and not writable by the app
      const { rows: left } = await admin[0].query('SELECT count(*)::int AS n FROM ls_001.orders');
      expect(left[0].n).toBe(0);
      await expect(
        appDb[0].query(
          "INSERT INTO ls_001.users (id, email, name, password_hash) VALUES (gen_random_uuid(), 'x@y', 'x', 'x')",
        ),
      ).rejects.toThrow(/permission denied/);
      // the target got its secondary indexes and keys back after the copy
      const { rows: objects } = await admin[1].query<{ name: string }>(
        `SELECT conname AS name FROM pg_constraint WHERE connamespace = 'ls_001'::regnamespace AND contype = 'f'
         UNION ALL SELECT indexname FROM pg_indexes WHERE schemaname = 'ls_001' ORDER BY 1`,
      );
      expect(objects.map((o) => o.name)).toEqual(
        expect.arrayContaining([
          'orders_user_id_fkey',
          'order_items_order_id_fkey',
          'users_email_key',
          'orders_user_id_id_idx',
        ]),
      );
      // no slot, publication or subscription anywhere
      for (const s of servers.slice(0, 2)) expect(await leftovers(s.url)).toEqual([]);
      expect(result.fenceMs).toBeDefined();
      process.stdout.write(
        `move under load: ${written.length} orders, fence ${result.fenceMs} ms, waits ${outcomes.fencedWait}, ` +
          `denied ${outcomes.denied}\n`,
      );
    } finally {
      stop = true;
      await Promise.allSettled(writers);
      await refresher.catch(() => undefined);
      await close();
      await Promise.all([...appDb, mapReader].map((c) => c.end()));
    }
  }, 120_000);

  it('fences in the map first: instances with the app map cache (refresh 500 ms) wait, none meets the REVOKE', async () => {
    // GIVEN ls 0 with data, and 4 app instances, each with the app's own ShardMapCache (epoch checked every
    // 500 ms, writes to a fenced logical shard wait up to 10 s) and its own connections as the app role, placing
    // orders in a loop where their map says
    const users = await seed(admin[0], 'ls_000', 100, 2);
    const refreshMs = 500;
    let stop = false;
    const written: string[] = [];
    const outcomes = { ok: { '0': 0, '1': 0 } as Record<string, number>, held: 0, denied: 0, unavailable: 0 };
    const other: string[] = [];
    const instances = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const mapDb = await connect(appUrl(servers[0].url));
        const conns = await Promise.all(servers.slice(0, 2).map((s) => connect(appUrl(s.url))));
        const cache = new ShardMapCache(mapDb, await loadShardMap(mapDb), () => undefined, {
          refreshMs,
          writeWaitMs: 10_000,
        });
        cache.start();
        return { mapDb, conns, cache };
      }),
    );
    const writers = instances.map(async ({ conns, cache }, w) => {
      let i = 0;
      while (!stop) {
        const asked = Date.now();
        let entry;
        try {
          entry = await cache.writable(0);
        } catch (err) {
          if (err instanceof ShardUnavailableError) outcomes.unavailable++;
          else other.push((err as Error).message);
          continue;
        }
        if (Date.now() - asked >= 100) outcomes.held++; // waited for the flip instead of writing
        const db = conns[Number(entry.shardId)];
        const id = randomUUID();
        const user = users[(w * 31 + i++) % users.length];
        try {
          await db.query('BEGIN');
          await db.query('INSERT INTO ls_000.orders (id, user_id, total_cents) VALUES ($1, $2, 555)', [
            id,
            user,
          ]);
          await db.query(
            `INSERT INTO ls_000.order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
             VALUES ($1, 1, $2, gen_random_uuid(), 'cup', 1, 555)`,
            [id, user],
          );
          await db.query('COMMIT');
          written.push(id);
          outcomes.ok[entry.shardId]++;
        } catch (err) {
          await db.query('ROLLBACK').catch(() => undefined);
          // 42501: a stale map met the REVOKE; the app answers 503 (what the two-phase fence avoids)
          if ((err as { code?: string }).code === '42501') outcomes.denied++;
          else other.push((err as Error).message);
        }
      }
    });
    // The manager knows the instances' refresh interval (SHARD_MAP_REFRESH_MS).
    const { mover, close } = await moverFor(servers, {
      rollbackWindowMs: 2 * refreshMs,
      mapRefreshMs: refreshMs,
    });
    try {
      // WHEN ls 0 moves to shard 1 while they write
      await until(() => outcomes.ok['0'] >= 40 || other.length > 0, 'writes on the source', 30_000);
      const result = await mover.move(0, '1');
      const after = outcomes.ok['1'];
      await until(() => outcomes.ok['1'] >= after + 20 || other.length > 0, 'writes on the target', 30_000);
      stop = true;
      await Promise.all(writers);

      // THEN no write met the REVOKE and none gave up: every instance saw `fenced` and held its writes until
      // the flip, which is the fence longer by the wait
      process.stdout.write(
        `two-phase fence: ${written.length} orders, fence ${result.fenceMs} ms of which ${result.settleMs} ms ` +
          `waiting for the instances; held ${outcomes.held}, denied ${outcomes.denied}, 503 ${outcomes.unavailable}\n`,
      );
      expect(other).toEqual([]);
      expect({ denied: outcomes.denied, unavailable: outcomes.unavailable }).toEqual({
        denied: 0,
        unavailable: 0,
      });
      expect(outcomes.held).toBeGreaterThan(0);
      expect(result.settleMs).toBeGreaterThanOrEqual(refreshMs + MAP_SETTLE_MARGIN_MS);
      expect(result.fenceMs).toBeGreaterThan(result.settleMs!);
      // AND every acknowledged order is on shard 1 exactly once, and nothing else is
      const { rows } = await admin[1].query<{ id: string }>(
        'SELECT id FROM ls_000.orders WHERE total_cents = 555',
      );
      expect(rows.map((r) => r.id).sort()).toEqual([...written].sort());
    } finally {
      stop = true;
      await Promise.allSettled(writers);
      await close();
      for (const { mapDb, conns, cache } of instances) {
        cache.stop();
        await Promise.allSettled([mapDb, ...conns].map((c) => c.end()));
      }
    }
  }, 120_000);

  it('aborts cleanly when a long transaction keeps writing to the source past the fence time limit', async () => {
    // GIVEN ls 3 with data, and an app transaction that wrote to it and stays open once the move is verified
    await seed(admin[0], 'ls_003', 50, 2);
    const before = await digest(admin[0], 'ls_003.orders', 'id');
    const longTx = await connect(appUrl(servers[0].url));
    const userId = (await admin[0].query('SELECT id FROM ls_003.users LIMIT 1')).rows[0].id as string;
    const { mover, control, close } = await moverFor(servers, {
      fenceTimeoutMs: 1000,
      afterStep: async (step) => {
        if (step !== 'verified') return;
        await longTx.query('BEGIN');
        await longTx.query(
          'INSERT INTO ls_003.orders (id, user_id, total_cents) VALUES (gen_random_uuid(), $1, 1)',
          [userId],
        );
      },
    });
    try {
      // WHEN the move reaches the fence
      const started = Date.now();
      const error = await mover.move(3, '1').catch((err: Error) => err);

      // THEN it gives up within about the limit, names the transaction, and is rolled back
      expect(error).toBeInstanceOf(MoveAbortedError);
      expect((error as Error).message).toMatch(/waited 1000 ms for transactions writing to ls_003.*pid \d+/);
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(await control.entry(3)).toMatchObject({ shardId: '0', state: 'active' });
      expect(await control.moves()).toEqual([]);
      for (const s of servers.slice(0, 2)) expect(await leftovers(s.url)).toEqual([]);
      // the open transaction is not lost: it commits on the source, which is writable again
      await longTx.query('COMMIT');
      expect(await digest(admin[0], 'ls_003.orders', 'id')).not.toBe(before);
      await longTx.query(
        'INSERT INTO ls_003.orders (id, user_id, total_cents) VALUES (gen_random_uuid(), $1, 2)',
        [userId],
      );
      // the target's schema is empty again, with its indexes back
      const { rows } = await admin[1].query(
        "SELECT (SELECT count(*)::int FROM ls_003.orders) AS n, (SELECT count(*)::int FROM pg_indexes WHERE schemaname = 'ls_003') AS idx",
      );
      // 4 primary keys, users_email_key, orders_user_id_id_idx, processed_events_processed_at_idx
      expect(rows[0]).toEqual({ n: 0, idx: 7 });
    } finally {
      await close();
      await longTx.end();
    }
  }, 120_000);

  /** The app role may write the logical shard's schema on the server (the fence is lifted there). */
  async function appCanWrite(url: string, schema: string): Promise<void> {
    const app = await connect(appUrl(url));
    try {
      await app.query(
        `INSERT INTO ${schema}.users (id, email, name, password_hash) VALUES (gen_random_uuid(), $1, 'w', 'x')`,
        [`writable-${randomUUID()}@example.com`],
      );
    } finally {
      await app.end();
    }
  }

  it('aborts a move that fails after the fence for any reason: the fence is lifted and the error recorded', async () => {
    // GIVEN ls 4 with data, and a failure (not a timeout) in the step after the fence
    await seed(admin[0], 'ls_004', 50, 2);
    const before = await digest(admin[0], 'ls_004.orders', 'id');
    const { mover, control, close } = await moverFor(servers, {
      beforeRecord: async (step) => {
        if (step === 'caught_up') throw new Error('injected: copying the sequences failed');
      },
    });
    try {
      // WHEN the move runs
      const error = await mover.move(4, '1').catch((err: Error) => err);

      // THEN it is rolled back: active on the source, writable by the app, nothing left on either side
      expect(error).toBeInstanceOf(MoveAbortedError);
      expect((error as Error).message).toMatch(
        /logical shard 4 failed while fenced: injected: copying the sequences failed; it was aborted/,
      );
      expect(await control.entry(4)).toMatchObject({ shardId: '0', state: 'active' });
      expect(await control.moves()).toEqual([]);
      for (const s of servers.slice(0, 2)) expect(await leftovers(s.url)).toEqual([]);
      expect(await digest(admin[0], 'ls_004.orders', 'id')).toBe(before);
      await appCanWrite(servers[0].url, 'ls_004');
      // AND the error is recorded in the move's history
      const { rows } = await admin[0].query(
        'SELECT outcome, detail FROM control.shard_move_history WHERE logical_shard = 4',
      );
      expect(rows).toEqual([
        { outcome: 'aborted', detail: expect.stringMatching(/failed while fenced: injected/) },
      ]);
    } finally {
      await close();
    }
  }, 120_000);

  it('stops waiting for the initial copy at its deadline, naming the logical shard and the lag', async () => {
    // GIVEN ls 5, whose orders table the target cannot fill (a transaction there holds it locked)
    await seed(admin[0], 'ls_005', 20, 1);
    const blocker = await connect(servers[1].url);
    const { mover, control, close } = await moverFor(servers, {
      syncTimeoutMs: 1000,
      afterStep: async (step) => {
        if (step !== 'schema_copied') return;
        await blocker.query('BEGIN');
        // EXCLUSIVE: CREATE SUBSCRIPTION may still read the table's definition, the copy may not write it
        await blocker.query('LOCK TABLE ls_005.orders IN EXCLUSIVE MODE');
      },
    });
    try {
      // WHEN the move waits for the copy
      const started = Date.now();
      const error = await mover.move(5, '1').catch((err: Error) => err);

      // THEN it gives up after the deadline with a message naming the logical shard and the lag, recorded on the
      // move row; the source stays active
      const message = (error as Error).message;
      expect(message).toMatch(
        /logical shard 5 did not synchronise with its source within 1000 ms \(--sync-timeout-ms\): \d+\/\d+ tables synchronised, slot lag (\d+ bytes|unknown)/,
      );
      // Not every table of the schema (as many as the shard migrations create) had synchronised.
      const [, synced, tables] = /(\d+)\/(\d+) tables/.exec(message)!;
      expect(Number(synced)).toBeLessThan(Number(tables));
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(await control.move(5)).toMatchObject({
        step: 'subscribed',
        error: expect.stringMatching(/did not synchronise/),
      });
      expect(await control.entry(5)).toMatchObject({ shardId: '0', state: 'active' });
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
      // the move can be rolled back, leaving nothing behind
      await mover.abort(5).catch(() => undefined);
      await close();
    }
    expect(await leftovers(servers[0].url)).toEqual([]);
    expect(await leftovers(servers[1].url)).toEqual([]);
  }, 120_000);

  it('stops before the next step when its advisory lock on shard 0 is lost, and a rerun resumes the move', async () => {
    // GIVEN ls 6, and the manager's lock connection on shard 0 terminated once the copy is synchronised
    await seed(admin[0], 'ls_006', 30, 2);
    const before = await digest(admin[0], 'ls_006.orders', 'id');
    const { mover, control, close } = await moverFor(servers, {
      afterStep: async (step) => {
        if (step !== 'synced') return;
        const { rows } = await admin[0].query(
          `SELECT pg_terminate_backend(pid) AS ok FROM pg_locks WHERE locktype = 'advisory' AND objid = $1`,
          [MANAGER_LOCK_KEY],
        );
        expect(rows).toEqual([{ ok: true }]);
      },
    });
    try {
      // WHEN the move goes on
      const error = await mover.move(6, '1').catch((err: Error) => err);

      // THEN it stops at once, acting no further: no fence, the move row at "synced" with the error
      expect(error).toBeInstanceOf(ManagerLockLostError);
      expect((error as Error).message).toMatch(/lost its advisory lock on shard "0"/);
      expect(await control.move(6)).toMatchObject({
        step: 'synced',
        error: expect.stringMatching(/lost its advisory lock/),
      });
      expect(await control.entry(6)).toMatchObject({ shardId: '0', state: 'active' });
      await appCanWrite(servers[0].url, 'ls_006');
    } finally {
      await close();
    }
    // AND a new run takes the lock and completes the move
    const rerun = await moverFor(servers);
    try {
      await rerun.mover.move(6, '1');
      expect(await rerun.control.entry(6)).toMatchObject({ shardId: '1', state: 'active' });
      const { rows } = await admin[1].query('SELECT count(*)::int AS n FROM ls_006.orders');
      expect(rows[0].n).toBe(Number(before.split(':')[0]));
    } finally {
      await rerun.close();
    }
  }, 120_000);

  it('records a failed clean-up on the move row, and a rerun finishes it', async () => {
    // GIVEN ls 7, and the source refusing to drop publications (an event trigger)
    await seed(admin[0], 'ls_007', 20, 1);
    await admin[0].query(`
      CREATE FUNCTION public.refuse_drop_publication() RETURNS event_trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'dropping publications is refused by a test trigger'; END $$;
      CREATE EVENT TRIGGER refuse_drop_publication ON ddl_command_start WHEN TAG IN ('DROP PUBLICATION')
        EXECUTE FUNCTION public.refuse_drop_publication();`);
    const { mover, control, close } = await moverFor(servers);
    try {
      // WHEN the move reaches its clean-up
      await expect(mover.move(7, '1')).rejects.toThrow(/refused by a test trigger/);

      // THEN the failure is on the move row, naming what failed
      expect(await control.move(7)).toMatchObject({
        step: 'flipped',
        error: expect.stringMatching(
          /clean-up: dropping the publication shard_move_ls_007 on shard "0" failed: .*refused by a test trigger/,
        ),
      });
    } finally {
      await admin[0].query(
        'DROP EVENT TRIGGER IF EXISTS refuse_drop_publication; DROP FUNCTION IF EXISTS public.refuse_drop_publication()',
      );
    }
    try {
      // AND a rerun finishes it
      await mover.move(7, '1');
      expect(await control.moves()).toEqual([]);
      for (const s of servers.slice(0, 2)) expect(await leftovers(s.url)).toEqual([]);
    } finally {
      await close();
    }
  }, 120_000);

  it('stops with a clear error when the target goes down during the copy, leaving the source untouched', async () => {
    // GIVEN ls 2 with data on shard 0, moving to shard 2
    await seed(admin[0], 'ls_002', 100, 5);
    const before = await digest(admin[0], 'ls_002.orders', 'id');
    const { mover, control, close } = await moverFor(servers, {
      afterStep: async (step) => {
        if (step === 'subscribed') await servers[2].stop(); // WHEN the target server stops mid-copy
      },
    });
    try {
      const error = await mover.move(2, '2').catch((err: Error) => err);

      // THEN the error says what happened and what to do; the source is as it was, with no slot retaining WAL
      expect(error).toBeInstanceOf(MoveAbortedError);
      expect((error as Error).message).toMatch(
        /target shard "2" became unreachable while copying logical shard 2/,
      );
      expect((error as Error).message).toMatch(/source shard "0" is untouched/);
      expect(await control.entry(2)).toMatchObject({ shardId: '0', state: 'active' });
      expect(await digest(admin[0], 'ls_002.orders', 'id')).toBe(before);
      expect(await leftovers(servers[0].url)).toEqual([]);
      const app = await connect(appUrl(servers[0].url));
      await app.query(
        "INSERT INTO ls_002.users (id, email, name, password_hash) VALUES (gen_random_uuid(), 'still@writable', 'w', 'x')",
      );
      await app.end();
      // and abort says the target is still unreachable rather than pretending it is clean
      await expect(mover.abort(2)).rejects.toThrow(/target shard "2" is unreachable.*run abort again/);
    } finally {
      await close();
    }
  }, 120_000);
});
