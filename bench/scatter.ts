/**
 * Scatter-gather latency over 1, 2 and 3 physical shards (stage 100k's cross-shard admin reads), and the shape
 * of its growth. A script that measures and reports, not a test:
 *
 *   npx tsx bench/scatter.ts [--users=30000] [--orders-per-user=2] [--rate=10] [--warmup=5] [--duration=20]
 *
 * It starts 3 private PostgreSQL servers (`startShardedPostgres`), and for each topology of 1, 2 and 3 shards a
 * fresh database on the first n of them, migrated to the sharded layout (the first start spreads the 256 logical
 * shards over the n shards in contiguous ranges). The same users and orders go into every topology, into each
 * user's logical shard schema on the shard the map gives it. One app process per topology (the TypeScript
 * sources under tsx: a stale bundle would lack the routes) serves the admin routes; an open-loop generator
 * (`bench/open-loop.ts`, latency from the scheduled time) sends the same mix at the same fixed rate to each:
 * a third each of "orders containing a product" (first page of 20, one of 50 products), "sales per day" (30
 * days) and "users by prefix" (first page of 20). Results: bench/results/scatter.json and a table on stdout.
 *
 * On one machine the servers share its cores, so more shards do not add capacity here: what the run shows is
 * the cost of fanning out (one more statement, connection and merge per shard, the slowest shard deciding),
 * not the speed-up real separate hosts would give.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../app/src/config';
import { migrateDatabase } from '../app/src/db/migrate-database';
import { logicalShard, LOGICAL_SHARDS, shardSchema } from '../app/src/sharding/logical-shard';
import { startShardedPostgres } from '../tools/local-topology/postgres-shards';
import { runWithCleanup, type CleanupStack } from './cleanup';
import { runOpenLoop, type LoadResult } from './open-loop';
import {
  createScratchDatabases,
  EDGE_HEADERS,
  scratchName,
  signUpAdmin,
  sourcesLauncher,
  startAppProcess,
} from './topology';
import type { Operation } from './workload';

const repoRoot = path.resolve(__dirname, '..');

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) return fallback;
  const value = Number(arg.slice(name.length + 3));
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number, got "${arg.slice(name.length + 3)}"`);
  return value;
}

const options = {
  users: option('users', 30_000),
  ordersPerUser: option('orders-per-user', 2),
  rate: option('rate', 10),
  warmupSeconds: option('warmup', 5),
  durationSeconds: option('duration', 20),
};
const PRODUCTS = Array.from({ length: 50 }, () => uuidv7());
const DAY0 = Date.parse('2026-10-01T00:00:00Z');
const ADMIN_EMAIL = 'bench-scatter-admin@example.test';
const PASSWORD = 'bench-password-1';

/** The same users and orders for every topology. */
function dataset() {
  const users = Array.from({ length: options.users }, (_, i) => ({
    id: uuidv7(),
    email: `c${i}@scatter.bench`,
    name: `Customer ${i}`,
  }));
  const orders = users.flatMap((user, u) =>
    Array.from({ length: options.ordersPerUser }, (_, k) => ({
      id: uuidv7(),
      userId: user.id,
      productId: PRODUCTS[(u * 7 + k) % PRODUCTS.length],
      createdAt: new Date(DAY0 + ((u * 13 + k * 5) % (30 * 24)) * 3_600_000).toISOString(),
      totalCents: 100 + ((u + k) % 900),
    })),
  );
  return { users, orders };
}

/** Inserts every user and order into its logical shard schema on the shard `placement` gives it. */
async function seed(
  urls: readonly string[],
  placement: Map<number, string>,
  data: ReturnType<typeof dataset>,
) {
  const bySchema = new Map<number, { users: typeof data.users; orders: typeof data.orders }>();
  for (const user of data.users) {
    const ls = logicalShard(user.id);
    const group = bySchema.get(ls) ?? { users: [], orders: [] };
    group.users.push(user);
    bySchema.set(ls, group);
  }
  for (const order of data.orders) bySchema.get(logicalShard(order.userId))!.orders.push(order);
  for (const [i, url] of urls.entries()) {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      for (const [ls, group] of bySchema) {
        if (placement.get(ls) !== String(i)) continue;
        const s = shardSchema(ls);
        await client.query(
          `INSERT INTO ${s}.users (id, email, name, password_hash)
           SELECT id, email, name, 'x' FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(id, email, name)`,
          [group.users.map((u) => u.id), group.users.map((u) => u.email), group.users.map((u) => u.name)],
        );
        const o = group.orders;
        await client.query(
          `INSERT INTO ${s}.orders (id, user_id, total_cents, created_at)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::timestamptz[])`,
          [o.map((x) => x.id), o.map((x) => x.userId), o.map((x) => x.totalCents), o.map((x) => x.createdAt)],
        );
        await client.query(
          `INSERT INTO ${s}.order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
           SELECT id, 1, user_id, product_id, 'Product', 1, cents
           FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[]) AS t(id, user_id, product_id, cents)`,
          [o.map((x) => x.id), o.map((x) => x.userId), o.map((x) => x.productId), o.map((x) => x.totalCents)],
        );
      }
      await client.query('ANALYZE');
    } finally {
      await client.end();
    }
  }
}

type Report = 'productOrders' | 'salesPerDay' | 'userSearch';
const REPORTS: readonly Report[] = ['productOrders', 'salesPerDay', 'userSearch'];

function plan(index: number, cookie: string) {
  const report = REPORTS[index % REPORTS.length];
  const n = Math.floor(index / REPORTS.length);
  const path =
    report === 'productOrders'
      ? `/api/admin/orders?productId=${PRODUCTS[n % PRODUCTS.length]}&limit=20`
      : report === 'salesPerDay'
        ? '/api/admin/sales?from=2026-10-01&to=2026-10-30'
        : `/api/admin/users?q=c${n % 100}&limit=20`;
  // The open-loop generator tallies by operation name; these reports are not in the stage workload's mix.
  return { op: report as unknown as Operation, method: 'GET' as const, path, headers: { cookie } };
}

interface TopologyResult {
  readonly shards: number;
  readonly load: LoadResult;
  readonly partialAnswers: number;
}

async function measure(
  urls: readonly string[],
  data: ReturnType<typeof dataset>,
  cleanup: CleanupStack,
): Promise<TopologyResult> {
  const n = urls.length;
  const dbUrls = await createScratchDatabases(urls, scratchName(`scatter${n}`), cleanup);
  const env = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    SESSION_SECRET: 'a benchmark session secret of 32+ chars',
    ADMIN_EMAILS: ADMIN_EMAIL,
    AUTO_MIGRATE: 'false',
    SEED_DEMO_DATA: 'false',
    DATABASE_URL: dbUrls[0],
    SHARD_ENDPOINTS: JSON.stringify(dbUrls.slice(1).map((url, i) => ({ id: String(i + 1), url }))),
  };
  const started = Date.now();
  await migrateDatabase(loadConfig(env, { migrator: true }));
  const control = new Client({ connectionString: dbUrls[0] });
  await control.connect();
  const { rows } = await control
    .query<{ logical_shard: number; shard_id: string }>(
      'SELECT logical_shard, shard_id FROM control.shard_map',
    )
    .finally(() => control.end());
  if (rows.length !== LOGICAL_SHARDS)
    throw new Error(`the map has ${rows.length} rows, not ${LOGICAL_SHARDS}`);
  await seed(dbUrls, new Map(rows.map((r) => [r.logical_shard, r.shard_id])), data);
  console.log(`  ${n} shard(s): migrated and seeded in ${((Date.now() - started) / 1000).toFixed(0)} s`);

  const app = await startAppProcess(sourcesLauncher(repoRoot), `app-${n}`, env, repoRoot);
  const stopApp = cleanup.defer(`stop app-${n}`, () => app.stop());
  try {
    const cookie = await signUpAdmin(app.url, ADMIN_EMAIL, PASSWORD, env);
    const run = (seconds: number) =>
      runOpenLoop({
        url: app.url,
        ratePerSecond: options.rate,
        durationSeconds: seconds,
        headers: EDGE_HEADERS,
        connections: 32,
        plan: (scheduledMs) => plan(Math.round((scheduledMs * options.rate) / 1000), cookie),
      });
    await run(options.warmupSeconds);
    const load = await run(options.durationSeconds);
    // Whether any answer was partial (a shard over SCATTER_SHARD_TIMEOUT_MS) would skew the figures: check one of each.
    let partialAnswers = 0;
    for (let i = 0; i < REPORTS.length; i++) {
      const planned = plan(i, cookie);
      const response = await fetch(new URL(planned.path, app.url), { headers: { ...EDGE_HEADERS, cookie } });
      if (((await response.json()) as { partial?: boolean }).partial) partialAnswers++;
    }
    return { shards: n, load, partialAnswers };
  } finally {
    await stopApp();
  }
}

async function main(): Promise<void> {
  await runWithCleanup(async (cleanup) => {
    console.log(
      `scatter-gather benchmark: ${options.users} users, ${options.users * options.ordersPerUser} orders, ` +
        `${options.rate} req/s open loop, ${options.warmupSeconds} s warm-up + ${options.durationSeconds} s per topology`,
    );
    const servers = await startShardedPostgres({ shards: 3, settings: { max_connections: '100' } });
    cleanup.defer('stop the shard servers', () => servers.stop());
    const data = dataset();
    const results: TopologyResult[] = [];
    for (const n of [1, 2, 3]) {
      results.push(await measure(servers.urls.slice(0, n), data, cleanup));
    }
    const base = results[0].load.latencyMs;
    const table = results.map((r) => ({
      shards: r.shards,
      requestsPerSecond: Math.round(r.load.requestsPerSecond * 10) / 10,
      p50Ms: r.load.latencyMs.p50,
      p99Ms: r.load.latencyMs.p99,
      p50VsOneShard: Math.round((r.load.latencyMs.p50 / base.p50) * 100) / 100,
      errors: r.load.errors,
      partialAnswers: r.partialAnswers,
      byReport: Object.fromEntries(
        Object.entries(r.load.operations).map(([op, t]) => [op, { meanMs: t?.meanMs, p99Ms: t?.p99Ms }]),
      ),
    }));
    console.table(table.map(({ byReport: _byReport, errors: _errors, ...row }) => row));
    for (const row of table) console.log(`  ${row.shards} shard(s) by report:`, JSON.stringify(row.byReport));
    const out = path.join(repoRoot, 'bench', 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(
      path.join(out, 'scatter.json'),
      `${JSON.stringify({ measuredAt: new Date().toISOString(), options, results: table }, null, 2)}\n`,
    );
    console.log(`written: ${path.relative(repoRoot, path.join(out, 'scatter.json'))}`);
  });
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
