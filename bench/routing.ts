/**
 * Routing overhead of stage 100k (issue #11): p50 and p99 of a single-user request on 2 physical shards
 * against the same request unsharded, in the same run. A script that measures and reports, not a test:
 *
 *   npm run bench:routing -- [--users=300] [--orders-per-user=5] [--rate=200] [--warmup=5] [--duration=20] [--rounds=2]
 *
 * It starts 2 private PostgreSQL servers (`startShardedPostgres`) and two app processes with the same settings
 * but for the layout: (A) unsharded, one database on server 0 in the public layout; (B) sharded, shard 0 on
 * server 0 and shard 1 on server 1 (SHARD_ENDPOINTS). Neither has a Redis cache, so every measured request reads
 * its database: with a cache both would mostly answer from it and hide the routing being measured.
 *
 * Each app gets the same number of users, signed up through its own HTTP API (so the sharded one writes its
 * email directory and places each user by the hash), and the same orders per user, inserted where the app reads
 * them (public tables, or the user's logical-shard schema on the shard the map gives it). The measured request is
 * GET /api/orders (the user's newest 50 orders), each request from the next user's session in turn, so both
 * shards are hit. After a warm-up of each app, the same open-loop rate (bench/open-loop.ts, latency from the
 * scheduled send time) goes to A, B, A, B, ... (`--rounds` rounds), to cancel drift of the machine's load.
 * Queries per request come from each app's db_queries_total. Results: bench/results/routing.json and stdout.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../app/src/config';
import { migrateDatabase } from '../app/src/db/migrate-database';
import { logicalShard, shardSchema } from '../app/src/sharding/logical-shard';
import { startShardedPostgres } from '../tools/local-topology/postgres-shards';
import { runWithCleanup, type CleanupStack } from './cleanup';
import { parsePrometheusText, sumSamples } from './metrics';
import { runOpenLoop } from './open-loop';
import {
  overhead,
  parseRoutingOptions,
  summariseVariant,
  type RoutingOptions,
  type RunFigures,
} from './routing-report';
import {
  createScratchDatabases,
  EDGE_HEADERS,
  scratchName,
  sessionCookie,
  sourcesLauncher,
  startAppProcess,
  type AppProcess,
} from './topology';

const repoRoot = path.resolve(__dirname, '..');
const PASSWORD = 'bench-password-1';

interface Variant {
  readonly name: 'unsharded' | 'sharded';
  readonly app: AppProcess;
  readonly cookies: readonly string[];
}

/** Signs up `count` users through the app (4 at a time: each costs a password hash) and returns ids and cookies. */
async function signUpUsers(baseUrl: string, count: number, tag: string) {
  const users: { id: string; cookie: string }[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < count) {
        const i = next++;
        const response = await fetch(new URL('/api/users', baseUrl), {
          method: 'POST',
          headers: { ...EDGE_HEADERS, 'content-type': 'application/json' },
          body: JSON.stringify({
            email: `r${i}@${tag}.routing.bench`,
            password: PASSWORD,
            name: `Customer ${i}`,
          }),
        });
        const body = (await response.json()) as { user?: { id: string } };
        if (response.status !== 201 || !body.user)
          throw new Error(`sign-up ${i} on ${tag} answered ${response.status}: ${JSON.stringify(body)}`);
        users[i] = {
          id: body.user.id,
          cookie: sessionCookie(response.headers.getSetCookie(), `sign-up ${i}`),
        };
      }
    }),
  );
  return users;
}

/** Inserts `perUser` orders of one line each for the given users into `schema` through `client`. */
async function insertOrders(client: Client, schema: string, userIds: readonly string[], perUser: number) {
  if (userIds.length === 0) return;
  const orders = userIds.flatMap((userId, u) =>
    Array.from({ length: perUser }, (_, k) => ({ id: uuidv7(), userId, cents: 100 + ((u * 7 + k) % 900) })),
  );
  await client.query(
    `INSERT INTO ${schema}.orders (id, user_id, total_cents)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[])`,
    [orders.map((o) => o.id), orders.map((o) => o.userId), orders.map((o) => o.cents)],
  );
  await client.query(
    `INSERT INTO ${schema}.order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
     SELECT id, 1, user_id, $4::uuid, 'Product', 1, cents
     FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS t(id, user_id, cents)`,
    [orders.map((o) => o.id), orders.map((o) => o.userId), orders.map((o) => o.cents), uuidv7()],
  );
}

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function queriesSoFar(app: AppProcess): Promise<number> {
  const response = await fetch(new URL('/metrics', app.metricsUrl));
  if (!response.ok) throw new Error(`GET ${app.metricsUrl}/metrics answered ${response.status}`);
  return sumSamples(parsePrometheusText(await response.text()), 'db_queries_total');
}

async function startVariant(
  name: Variant['name'],
  serverUrls: readonly string[],
  options: RoutingOptions,
  cleanup: CleanupStack,
): Promise<Variant> {
  const dbUrls = await createScratchDatabases(serverUrls, scratchName(`routing_${name}`), cleanup);
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    SESSION_SECRET: 'a benchmark session secret of 32+ chars',
    AUTO_MIGRATE: 'false',
    SEED_DEMO_DATA: 'false',
    // The seeding signs every user up from one address; only sign-up and log-in are rate-limited.
    RATE_LIMIT_AUTH_MAX: '1000000',
    DATABASE_URL: dbUrls[0],
  };
  if (name === 'sharded')
    env.SHARD_ENDPOINTS = JSON.stringify(dbUrls.slice(1).map((url, i) => ({ id: String(i + 1), url })));
  await migrateDatabase(loadConfig(env, { migrator: true }));
  // The TypeScript sources under tsx for both (as bench/scatter.ts: a stale bundle would lack the routes).
  const app = await startAppProcess(sourcesLauncher(repoRoot), `app-${name}`, env, repoRoot);
  cleanup.defer(`stop app-${name}`, () => app.stop());
  const users = await signUpUsers(app.url, options.users, name);
  if (name === 'unsharded') {
    await withClient(dbUrls[0], async (c) => {
      await insertOrders(
        c,
        'public',
        users.map((u) => u.id),
        options.ordersPerUser,
      );
      await c.query('ANALYZE');
    });
  } else {
    const { rows } = await withClient(dbUrls[0], (c) =>
      c.query<{ logical_shard: number; shard_id: string }>(
        'SELECT logical_shard, shard_id FROM control.shard_map',
      ),
    );
    const placement = new Map(rows.map((r) => [r.logical_shard, Number(r.shard_id)]));
    for (const [i, url] of dbUrls.entries()) {
      await withClient(url, async (c) => {
        const bySchema = new Map<number, string[]>();
        for (const u of users) {
          const ls = logicalShard(u.id);
          if (placement.get(ls) === i) bySchema.set(ls, [...(bySchema.get(ls) ?? []), u.id]);
        }
        for (const [ls, ids] of bySchema) await insertOrders(c, shardSchema(ls), ids, options.ordersPerUser);
        await c.query('ANALYZE');
      });
    }
  }
  // Each user sees exactly its own orders: the seeding went where the app reads.
  for (const u of [users[0], users[users.length - 1]]) {
    const response = await fetch(new URL('/api/orders', app.url), {
      headers: { ...EDGE_HEADERS, cookie: u.cookie },
    });
    const items = ((await response.json()) as { items?: unknown[] }).items;
    if (response.status !== 200 || items?.length !== Math.min(options.ordersPerUser, 50))
      throw new Error(`${name}: GET /api/orders answered ${response.status} with ${items?.length} orders`);
  }
  return { name, app, cookies: users.map((u) => u.cookie) };
}

async function load(variant: Variant, options: RoutingOptions, seconds: number): Promise<RunFigures> {
  const before = await queriesSoFar(variant.app);
  const result = await runOpenLoop({
    url: variant.app.url,
    ratePerSecond: options.rate,
    durationSeconds: seconds,
    headers: EDGE_HEADERS,
    connections: 32,
    plan: (scheduledMs) => ({
      op: 'myOrders',
      method: 'GET',
      path: '/api/orders',
      headers: {
        cookie: variant.cookies[Math.round((scheduledMs * options.rate) / 1000) % variant.cookies.length],
      },
    }),
  });
  const after = await queriesSoFar(variant.app);
  return {
    p50Ms: result.latencyMs.p50,
    p99Ms: result.latencyMs.p99,
    requests: result.requests,
    failures: result.errors.non2xx + result.errors.socket + result.errors.timeouts,
    queries: after - before,
  };
}

async function main(): Promise<void> {
  const options = parseRoutingOptions(process.argv.slice(2));
  await runWithCleanup(async (cleanup) => {
    console.log(
      `routing benchmark: ${options.users} users × ${options.ordersPerUser} orders, GET /api/orders at ` +
        `${options.rate} req/s open loop, ${options.warmupSeconds} s warm-up, ${options.rounds} A/B rounds of ` +
        `${options.durationSeconds} s`,
    );
    const servers = await startShardedPostgres({ shards: 2, settings: { max_connections: '100' } });
    cleanup.defer('stop the shard servers', () => servers.stop());
    const variants = [
      await startVariant('unsharded', servers.urls.slice(0, 1), options, cleanup),
      await startVariant('sharded', servers.urls, options, cleanup),
    ];
    for (const v of variants) await load(v, options, options.warmupSeconds);
    const runs: { round: number; variant: Variant['name']; figures: RunFigures }[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      for (const v of variants) {
        const figures = await load(v, options, options.durationSeconds);
        runs.push({ round, variant: v.name, figures });
        console.log(`  round ${round} ${v.name}: ${JSON.stringify(figures)}`);
      }
    }
    const unsharded = summariseVariant(runs.filter((r) => r.variant === 'unsharded').map((r) => r.figures));
    const sharded = summariseVariant(runs.filter((r) => r.variant === 'sharded').map((r) => r.figures));
    const added = overhead(unsharded, sharded);
    console.table({ unsharded, sharded });
    console.log(`added by routing: ${JSON.stringify(added)}`);
    const out = path.join(repoRoot, 'bench', 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(
      path.join(out, 'routing.json'),
      `${JSON.stringify(
        {
          measuredAt: new Date().toISOString(),
          options,
          request: 'GET /api/orders',
          unsharded,
          sharded,
          overhead: added,
          runs,
        },
        null,
        2,
      )}\n`,
    );
    console.log('written: bench/results/routing.json');
  });
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
