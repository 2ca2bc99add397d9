/**
 * `npm run bench:shards`: the shard manager's benchmark (issue #12). Seeds users and orders over 2 physical shards
 * (SQL generate_series straight into the ls_NNN schemas), adds a third shard, and rebalances with the move
 * engine while an open-loop write load (orders, at a fixed rate) runs through two app instances over HTTP.
 * Measures copy throughput (rows/s, MB/s), the write fence per move (p50/p99/max), the app's write errors during
 * the moves and the total rebalance time; writes bench/results/shards.json and prints a summary.
 *
 *   npm run bench:shards -- [--users 100000] [--orders 300000] [--rate 50] [--max-moves 0] [--out <file>]
 */
import type { FastifyInstance } from 'fastify';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { Pool } from 'undici';
import { buildApp } from '../app/src/app';
import { loadConfig, type AppConfig } from '../app/src/config';
import { migrateDatabase } from '../app/src/db/migrate-database';
import { hashPassword } from '../app/src/passwords';
import { LOGICAL_SHARDS, shardSchema } from '../app/src/sharding/logical-shard';
import { startShardedPostgres, type ShardedPostgres } from '../tools/local-topology/postgres-shards';
import { PgShardControl } from '../tools/shards/control';
import { ShardMover, type MoveResult } from '../tools/shards/move';
import { planRebalance, type PlannedMove } from '../tools/shards/rebalance';
import { CleanupStack } from './cleanup';

/** Options of the shard benchmark. */
export interface ShardBenchOptions {
  /** Users seeded (100,000 in the issue). */
  readonly users: number;
  /** Orders seeded, one line each, spread evenly over the users (300,000 in the issue). */
  readonly orders: number;
  /** Open-loop write rate through the app, orders per second. */
  readonly ratePerSecond: number;
  /** Logged-in users the write load orders as (spread over the logical shards by their ids). */
  readonly loadUsers: number;
  /** Run only the first N moves of the plan (0 = all); for trying the benchmark out on a small size. */
  readonly maxMoves: number;
  /** How long each move keeps its source read-only after the flip (> SHARD_MAP_REFRESH_MS). */
  readonly rollbackWindowMs: number;
  /** The app instances' SHARD_MAP_REFRESH_MS. */
  readonly mapRefreshMs: number;
  /** Where the JSON report goes (null: nowhere). */
  readonly out: string | null;
}

/** The size. */
export const DEFAULT_SHARD_BENCH: ShardBenchOptions = {
  users: 100_000,
  orders: 300_000,
  ratePerSecond: 50,
  loadUsers: 64,
  maxMoves: 0,
  rollbackWindowMs: 1000,
  mapRefreshMs: 250,
  out: path.join(__dirname, 'results', 'shards.json'),
};

const FLAGS: Record<string, keyof ShardBenchOptions> = {
  '--users': 'users',
  '--orders': 'orders',
  '--rate': 'ratePerSecond',
  '--load-users': 'loadUsers',
  '--max-moves': 'maxMoves',
  '--rollback-window-ms': 'rollbackWindowMs',
  '--map-refresh-ms': 'mapRefreshMs',
  '--out': 'out',
};

/** Parses the command line; throws one error naming every bad flag and what it takes. */
export function parseShardBenchOptions(argv: readonly string[]): ShardBenchOptions {
  const options: Record<string, unknown> = { ...DEFAULT_SHARD_BENCH };
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const key = FLAGS[flag];
    if (!key) {
      problems.push(`unknown flag ${flag} (flags: ${Object.keys(FLAGS).join(', ')})`);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) {
      problems.push(`${flag} needs a value`);
    } else if (key === 'out') {
      options.out = value === '' || value === 'none' ? null : path.resolve(value);
    } else {
      const n = Number(value);
      const min = key === 'maxMoves' ? 0 : 1;
      if (!Number.isInteger(n) || n < min)
        problems.push(`${flag} must be an integer >= ${min}, got "${value}"`);
      else options[key] = n;
    }
  }
  const parsed = options as unknown as ShardBenchOptions;
  if (problems.length === 0 && parsed.orders < parsed.users)
    problems.push(
      `--orders (${parsed.orders}) must be at least --users (${parsed.users}): every user has an order`,
    );
  if (problems.length === 0 && parsed.loadUsers > parsed.users)
    problems.push(`--load-users (${parsed.loadUsers}) must not exceed --users (${parsed.users})`);
  if (problems.length === 0 && parsed.rollbackWindowMs <= parsed.mapRefreshMs)
    problems.push(
      `--rollback-window-ms (${parsed.rollbackWindowMs}) must exceed --map-refresh-ms (${parsed.mapRefreshMs}): ` +
        'the source is emptied only once every instance reads the new place',
    );
  if (problems.length > 0) throw new Error(`bench:shards: ${problems.join('; ')}`);
  return parsed;
}

/** p50, p99 and max of a list of durations (nearest rank), 0 for an empty list. */
export function percentiles(values: readonly number[]): { p50: number; p99: number; max: number } {
  if (values.length === 0) return { p50: 0, p99: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  return { p50: rank(50), p99: rank(99), max: sorted[sorted.length - 1] };
}

/** The SQL twin of logicalShard(): first 4 bytes of md5(id::text), unsigned, mod N (control.logical_shard). */
const LOGICAL_SHARD_SQL = `((('x' || substr(md5(id::text), 1, 8))::bit(32)::bigint) % ${LOGICAL_SHARDS})::int`;

/** The id and e-mail of seeded user `i` (1-based), the same on every server and in the load. */
export const seedEmail = (i: number) => `bench-${i}@example.test`;

/**
 * Seeds one physical shard: users 1..users and orders 1..orders (order o belongs to user ((o-1) mod users) + 1,
 * one line of `productId` each) whose logical shard `owned` lists, straight into their ls_NNN schemas, by
 * generate_series. Ids are md5-derived, so every server computes the same users and keeps its own.
 * @returns rows inserted (users + orders + lines)
 */
export async function seedShard(
  db: Client,
  options: {
    users: number;
    orders: number;
    owned: readonly number[];
    passwordHash: string;
    productId: string;
  },
): Promise<number> {
  const { users, orders } = options;
  await db.query(`
    CREATE TEMP TABLE seed_users AS
      SELECT i, id, ${LOGICAL_SHARD_SQL} AS ls
      FROM (SELECT i, md5('bench-user-' || i)::uuid AS id FROM generate_series(1, ${users}) i) s;
    CREATE INDEX ON seed_users (ls);
    CREATE TEMP TABLE seed_orders AS
      SELECT o, md5('bench-order-' || o)::uuid AS order_id, u.id AS user_id, u.ls
      FROM generate_series(1, ${orders}) o JOIN seed_users u ON u.i = ((o - 1) % ${users}) + 1;
    CREATE INDEX ON seed_orders (ls);`);
  let rows = 0;
  try {
    for (const ls of options.owned) {
      const schema = shardSchema(ls);
      const inserted = await db.query(
        `WITH u AS (
           INSERT INTO ${schema}.users (id, email, name, password_hash)
           SELECT id, 'bench-' || i || '@example.test', 'Bench ' || i, $1 FROM seed_users WHERE ls = $2
           RETURNING 1),
         o AS (
           INSERT INTO ${schema}.orders (id, user_id, total_cents, created_at)
           SELECT order_id, user_id, 700 * (1 + o % 3), now() - (o || ' seconds')::interval
           FROM seed_orders WHERE ls = $2 RETURNING 1)
         SELECT (SELECT count(*) FROM u)::int + (SELECT count(*) FROM o)::int AS n`,
        [options.passwordHash, ls],
      );
      // Lines after their orders (a foreign key), in a statement of their own.
      const lines = await db.query(
        `INSERT INTO ${schema}.order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
         SELECT order_id, 1, user_id, $1, 'Bench mug', 1 + o % 3, 700 FROM seed_orders WHERE ls = $2`,
        [options.productId, ls],
      );
      rows += Number(inserted.rows[0].n) + (lines.rowCount ?? 0);
    }
  } finally {
    await db.query('DROP TABLE IF EXISTS seed_users, seed_orders');
  }
  await db.query('ANALYZE');
  return rows;
}

/** One request of the write load, as it ended. */
interface WriteOutcome {
  readonly at: number;
  readonly status: number;
  readonly retryAfter: boolean;
  readonly ms: number;
}

/** An open-loop write load: order i is due at i / rate s, sent whatever the earlier ones are doing. */
class WriteLoad {
  readonly outcomes: WriteOutcome[] = [];
  private readonly pools: Pool[];
  private readonly pending = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;
  private start = 0;

  constructor(
    urls: readonly string[],
    private readonly cookies: readonly string[],
    private readonly productId: string,
    private readonly ratePerSecond: number,
  ) {
    this.pools = urls.map(
      (url) => new Pool(url, { connections: 64, headersTimeout: 30_000, bodyTimeout: 30_000 }),
    );
  }

  run(): void {
    this.start = performance.now();
    const tick = () => {
      const now = performance.now();
      while (this.start + (this.sent * 1000) / this.ratePerSecond <= now) {
        const due = this.start + (this.sent * 1000) / this.ratePerSecond;
        const request = this.send(this.sent, due).finally(() => this.pending.delete(request));
        this.pending.add(request);
        this.sent++;
      }
      this.timer = setTimeout(tick, Math.max(1, this.start + (this.sent * 1000) / this.ratePerSecond - now));
    };
    tick();
  }

  private async send(i: number, due: number): Promise<void> {
    let status = 0;
    let retryAfter = false;
    try {
      // Sessions are each instance's own (no Redis here): user k logged in on instance k mod 2, and orders there.
      const user = i % this.cookies.length;
      const response = await this.pools[user % this.pools.length].request({
        method: 'POST',
        path: '/api/orders',
        headers: { cookie: this.cookies[user], 'content-type': 'application/json' },
        body: JSON.stringify({ items: [{ productId: this.productId, quantity: 1 }] }),
      });
      status = response.statusCode;
      retryAfter = typeof response.headers['retry-after'] === 'string';
      await response.body.dump();
    } catch {
      status = 0;
    }
    this.outcomes.push({ at: due, status, retryAfter, ms: performance.now() - due });
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await Promise.allSettled([...this.pending]);
    await Promise.allSettled(this.pools.map((pool) => pool.close()));
  }
}

/** What one move measured. */
export interface MoveFigures {
  readonly logicalShard: number;
  readonly from: string;
  readonly to: string;
  readonly rows: number;
  readonly bytes: number;
  /** From `started` to `synced` (schema, subscription, initial copy, lag drained). */
  readonly copyMs: number;
  readonly fenceMs: number;
  readonly totalMs: number;
}

/** The benchmark's report. */
export interface ShardBenchReport {
  readonly options: Omit<ShardBenchOptions, 'out'>;
  readonly machine: { readonly cpus: number; readonly loadBefore: number[]; readonly loadAfter: number[] };
  readonly seed: { readonly rows: number; readonly seconds: number };
  readonly plan: { readonly moves: number; readonly run: number; readonly before: Record<string, number> };
  readonly after: Record<string, number>;
  /** Seeded users per physical shard, counted in the databases, before (2 shards) and after the rebalance. */
  readonly users: {
    readonly before: { readonly perShard: Record<string, number>; readonly maxOverMean: number };
    readonly after: { readonly perShard: Record<string, number>; readonly maxOverMean: number };
  };
  readonly copy: {
    readonly rows: number;
    readonly bytes: number;
    readonly rowsPerSecond: number;
    readonly mbPerSecond: number;
  };
  readonly fenceMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly rebalanceSeconds: number;
  readonly writes: {
    readonly duringMoves: number;
    readonly statuses: Record<string, number>;
    readonly serverErrors: number;
    readonly unavailableWithoutRetryAfter: number;
    readonly failed: number;
    readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  };
  readonly moves: MoveFigures[];
}

/** Rows and bytes (tables, without indexes) of a logical shard's schema on a server. */
/**
 * Users per physical shard, counted in the databases: the `users` rows of the logical shard schemas the map
 * places on each shard (what the balance target is about), and max/mean over the shards.
 */
export async function usersPerShard(
  admin: readonly Client[],
): Promise<{ readonly perShard: Record<string, number>; readonly maxOverMean: number }> {
  const { rows: map } = await admin[0].query<{ logical_shard: number; shard_id: string }>(
    'SELECT logical_shard, shard_id FROM control.shard_map ORDER BY 1',
  );
  const perShard: Record<string, number> = {};
  for (const shardId of [...new Set(map.map((m) => m.shard_id))].sort()) {
    const union = map
      .filter((m) => m.shard_id === shardId)
      .map((m) => `SELECT count(*)::int AS n FROM ${shardSchema(m.logical_shard)}.users`)
      .join(' UNION ALL ');
    const { rows } = await admin[Number(shardId)].query<{ n: number }>(
      `SELECT coalesce(sum(n), 0)::int AS n FROM (${union}) counts`,
    );
    perShard[shardId] = rows[0].n;
  }
  const counts = Object.values(perShard);
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
  return { perShard, maxOverMean: Math.round((Math.max(...counts) / mean) * 1000) / 1000 };
}

async function schemaSize(db: Client, schema: string): Promise<{ rows: number; bytes: number }> {
  const { rows } = await db.query<{ rows: string; bytes: string }>(
    `SELECT (SELECT count(*) FROM ${schema}.users) + (SELECT count(*) FROM ${schema}.orders)
              + (SELECT count(*) FROM ${schema}.order_items) AS rows,
            (SELECT coalesce(sum(pg_table_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind = 'r') AS bytes`,
    [schema],
  );
  return { rows: Number(rows[0].rows), bytes: Number(rows[0].bytes) };
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ connectionString: url, application_name: 'bench-shards' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Runs the benchmark; `log` gets progress lines. */
export async function runShardBench(
  options: ShardBenchOptions,
  log: (line: string) => void = () => undefined,
): Promise<ShardBenchReport> {
  const os = await import('node:os');
  const loadBefore = os.loadavg().map((l) => Math.round(l * 100) / 100);
  const cleanup = new CleanupStack();
  const clients: Client[] = [];
  try {
    log('starting 3 Postgres servers (wal_level=logical)');
    const servers: ShardedPostgres = await startShardedPostgres({
      shards: 3,
      settings: {
        max_connections: '200',
        max_replication_slots: '20',
        max_wal_senders: '20',
        fsync: 'off',
        synchronous_commit: 'off',
        wal_receiver_status_interval: '1',
        wal_retrieve_retry_interval: '200ms',
      },
    });
    cleanup.defer('postgres servers', () => servers.stop());
    const appUser = 'shop_app_bench';
    const login = (url: string) => {
      const u = new URL(url);
      u.username = appUser;
      return u.toString();
    };
    const endpoints = (count: number) =>
      JSON.stringify(
        servers.urls
          .slice(1, count)
          .map((url, i) => ({ id: String(i + 1), url: login(url), migrationUrl: url })),
      );
    const env = (count: number) => ({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      SEED_DEMO_DATA: 'false',
      DATABASE_URL: login(servers.urls[0]),
      MIGRATION_DATABASE_URL: servers.urls[0],
      SHARD_ENDPOINTS: endpoints(count),
      SHARD_MAP_REFRESH_MS: String(options.mapRefreshMs),
      SHARD_WRITE_WAIT_MS: '2000',
      RATE_LIMIT_AUTH_MAX: '1000000',
      SESSION_SECRET: 'the shard benchmark session secret, 32+',
      DB_POOL_MAX: '20',
    });
    // Two shards first: the map's bootstrap spreads the logical shards over them.
    await migrateDatabase(loadConfig(env(2)));
    const admin = await Promise.all(servers.urls.map(connect));
    clients.push(...admin);
    const productId = '01900000-0000-7000-8000-00000000b0b0';
    await admin[0].query(
      `INSERT INTO products (id, sku, name, price_cents, stock) VALUES ($1, 'bench-mug', 'Bench mug', 700, 100000000)`,
      [productId],
    );
    const password = 'bench password, not a secret';
    const passwordHash = await hashPassword(password);
    const seedStarted = performance.now();
    const { rows: map } = await admin[0].query<{ logical_shard: number; shard_id: string }>(
      'SELECT logical_shard, shard_id FROM control.shard_map ORDER BY 1',
    );
    const owned = (id: string) => map.filter((m) => m.shard_id === id).map((m) => m.logical_shard);
    log(`seeding ${options.users} users and ${options.orders} orders over shards 0 and 1`);
    const seeded = await Promise.all(
      ['0', '1'].map((id) =>
        seedShard(admin[Number(id)], { ...options, owned: owned(id), passwordHash, productId }),
      ),
    );
    await admin[0].query(
      `INSERT INTO control.email_directory (email, user_id)
       SELECT 'bench-' || i || '@example.test', md5('bench-user-' || i)::uuid FROM generate_series(1, $1) i`,
      [options.users],
    );
    const seed = { rows: seeded[0] + seeded[1], seconds: (performance.now() - seedStarted) / 1000 };
    log(`seeded ${seed.rows} rows in ${seed.seconds.toFixed(1)} s`);
    const usersBefore = await usersPerShard(admin);

    // The third shard: its layout migrated and recorded; the map is the manager's to change.
    log('adding shard 2');
    const config: AppConfig = loadConfig(env(3));
    await migrateDatabase(config);
    const instances: FastifyInstance[] = [];
    for (let i = 0; i < 2; i++) {
      const app = await buildApp({ config, logger: false });
      cleanup.defer(`app instance ${i}`, () => app.close());
      instances.push(app);
      await app.listen({ host: '127.0.0.1', port: 0 });
    }
    const urls = instances.map((app) => {
      const address = app.server.address();
      if (address === null || typeof address === 'string') throw new Error('app is not listening on TCP');
      return `http://127.0.0.1:${address.port}`;
    });
    // Load users spread over the user ids (and so over the logical shards).
    const cookies: string[] = [];
    for (let k = 0; k < options.loadUsers; k++) {
      const i = 1 + Math.floor((k * options.users) / options.loadUsers);
      const response = await instances[k % 2].inject({
        method: 'POST',
        url: '/api/sessions',
        payload: { email: seedEmail(i), password },
      });
      if (response.statusCode !== 200)
        throw new Error(`log-in of seeded user ${i} failed: ${response.statusCode} ${response.body}`);
      const sid = String(response.headers['set-cookie']).match(/sid=[^;]+/);
      if (!sid) throw new Error('log-in set no sid cookie');
      cookies.push(sid[0]);
    }

    const control = new PgShardControl(admin[0]);
    const plan = planRebalance({
      map: (await control.map()).map((m) => ({ logicalShard: m.logicalShard, shardId: m.shardId })),
      shards: ['0', '1', '2'],
      batchSize: 1,
    });
    const toRun: PlannedMove[] = options.maxMoves > 0 ? plan.moves.slice(0, options.maxMoves) : plan.moves;
    log(
      `plan: ${plan.moves.length} moves (${(plan.movedFraction * 100).toFixed(1)}%), running ${toRun.length}`,
    );

    const load = new WriteLoad(urls, cookies, productId, options.ratePerSecond);
    load.run();
    cleanup.defer('write load', () => load.stop());
    const steps = new Map<number, Map<string, number>>();
    const mover = new ShardMover({
      control,
      shards: servers.urls.map((url, i) => ({ id: String(i), url, replicationUrl: url })),
      connect: (shard) => connect(shard.url),
      rollbackWindowMs: options.rollbackWindowMs,
      // The instances' SHARD_MAP_REFRESH_MS: the fence waits for every instance to see it before the REVOKE.
      mapRefreshMs: options.mapRefreshMs,
      afterStep: async (step, logical) => {
        if (!steps.has(logical)) steps.set(logical, new Map());
        steps.get(logical)!.set(step, performance.now());
      },
    });
    cleanup.defer('mover', () => mover.close());
    const moves: MoveFigures[] = [];
    const rebalanceStarted = performance.now();
    for (const planned of toRun) {
      const schema = shardSchema(planned.logicalShard);
      const size = await schemaSize(admin[Number(planned.from)], schema);
      const began = performance.now();
      const result: MoveResult = await mover.move(planned.logicalShard, planned.to);
      const marks = steps.get(planned.logicalShard)!;
      moves.push({
        logicalShard: planned.logicalShard,
        from: planned.from,
        to: planned.to,
        ...size,
        copyMs: Math.round(marks.get('synced')! - (marks.get('started') ?? began)),
        fenceMs: result.fenceMs ?? 0,
        totalMs: Math.round(performance.now() - began),
      });
      if (moves.length % 10 === 0 || moves.length === toRun.length)
        log(
          `moved ${moves.length}/${toRun.length} (last: ls ${planned.logicalShard}, fence ${result.fenceMs} ms)`,
        );
    }
    const rebalanceEnded = performance.now();
    await load.stop();
    const during = load.outcomes.filter((o) => o.at >= rebalanceStarted && o.at <= rebalanceEnded);
    const statuses: Record<string, number> = {};
    for (const o of during) statuses[o.status] = (statuses[o.status] ?? 0) + 1;
    const { rows: after } = await admin[0].query<{ shard_id: string; n: number }>(
      'SELECT shard_id, count(*)::int AS n FROM control.shard_map GROUP BY 1 ORDER BY 1',
    );
    const usersAfter = await usersPerShard(admin);
    const copyRows = moves.reduce((s, m) => s + m.rows, 0);
    const copyBytes = moves.reduce((s, m) => s + m.bytes, 0);
    const copySeconds = moves.reduce((s, m) => s + m.copyMs, 0) / 1000;
    const { out, ...measured } = options;
    void out;
    return {
      options: measured,
      machine: {
        cpus: os.cpus().length,
        loadBefore,
        loadAfter: os.loadavg().map((l) => Math.round(l * 100) / 100),
      },
      seed,
      plan: { moves: plan.moves.length, run: toRun.length, before: plan.before },
      after: Object.fromEntries(after.map((r) => [r.shard_id, r.n])),
      users: { before: usersBefore, after: usersAfter },
      copy: {
        rows: copyRows,
        bytes: copyBytes,
        rowsPerSecond: Math.round(copyRows / copySeconds),
        mbPerSecond: Math.round((copyBytes / 1024 / 1024 / copySeconds) * 100) / 100,
      },
      fenceMs: percentiles(moves.map((m) => m.fenceMs)),
      rebalanceSeconds: Math.round((rebalanceEnded - rebalanceStarted) / 100) / 10,
      writes: {
        duringMoves: during.length,
        statuses,
        serverErrors: during.filter((o) => o.status >= 500 && o.status !== 503).length,
        unavailableWithoutRetryAfter: during.filter((o) => o.status === 503 && !o.retryAfter).length,
        failed: during.filter((o) => o.status === 0).length,
        latencyMs: percentiles(during.map((o) => Math.round(o.ms))),
      },
      moves,
    };
  } finally {
    await Promise.allSettled(clients.map((c) => c.end()));
    await cleanup.runAll();
  }
}

/** The summary lines printed at the end. */
export function describeShardBench(report: ShardBenchReport): string[] {
  const w = report.writes;
  return [
    `machine: ${report.machine.cpus} cpus, load ${report.machine.loadBefore.join(' ')} before, ${report.machine.loadAfter.join(' ')} after`,
    `seed: ${report.seed.rows} rows in ${report.seed.seconds.toFixed(1)} s`,
    `rebalance: ${report.plan.run} of ${report.plan.moves} planned moves in ${report.rebalanceSeconds} s; ` +
      `logical shards per shard before ${JSON.stringify(report.plan.before)}, after ${JSON.stringify(report.after)}`,
    `users per shard: before ${JSON.stringify(report.users.before.perShard)} (max/mean ` +
      `${report.users.before.maxOverMean}), after ${JSON.stringify(report.users.after.perShard)} (max/mean ` +
      `${report.users.after.maxOverMean})`,
    `copy: ${report.copy.rows} rows, ${(report.copy.bytes / 1024 / 1024).toFixed(1)} MB; ` +
      `${report.copy.rowsPerSecond} rows/s, ${report.copy.mbPerSecond} MB/s (started to synced, summed over moves)`,
    `fence per move: p50 ${report.fenceMs.p50} ms, p99 ${report.fenceMs.p99} ms, max ${report.fenceMs.max} ms`,
    `app writes during the moves: ${w.duringMoves} (${JSON.stringify(w.statuses)}); 5xx other than 503: ` +
      `${w.serverErrors}; 503 without Retry-After: ${w.unavailableWithoutRetryAfter}; no answer: ${w.failed}; ` +
      `latency p50 ${w.latencyMs.p50} ms, p99 ${w.latencyMs.p99} ms, max ${w.latencyMs.max} ms`,
  ];
}

async function main(): Promise<void> {
  const options = parseShardBenchOptions(process.argv.slice(2));
  const report = await runShardBench(options, (line) => process.stdout.write(`${line}\n`));
  for (const line of describeShardBench(report)) process.stdout.write(`${line}\n`);
  if (options.out) {
    mkdirSync(path.dirname(options.out), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`report: ${options.out}\n`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:shards failed: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
