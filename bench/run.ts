/**
 * `npm run bench`: measures the local topologies of stages 1k and 10k, a bare fastify baseline and a
 * single app process serving cached product reads, with the same seed and the same workload, in one
 * run; writes bench/results/runtime.{json,md,svg} and says whether each target of issue 5 is met.
 *
 * Exit codes: 0 all targets met, 3 measured but a target missed, 1 failure (e.g. a server unreachable),
 * 2 bad options.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { envJsonSchema } from '../app/src/config';
import { hashPassword } from '../app/src/db/seed';
import { findPostgresBinDir, startReplicatedPostgres } from '../tools/local-topology/postgres-replication';
import { CleanupStack } from './cleanup';
import { runLoad } from './load';
import { addCounters, diffCounters, diffRouteTimes, scrapeApp, type AppCounters } from './metrics';
import { parseOptions, scenarioSelected, usage, type BenchOptions } from './options';
import {
  cacheFigures,
  dbFigures,
  evaluateTargets,
  renderMarkdown,
  SCENARIO_IDS,
  type BenchmarkReport,
  type ScenarioResult,
  type ServerRole,
} from './report';
import { renderSvgChart } from './svg-chart';
import {
  appLauncher,
  catalogCursors,
  createScratchDatabase,
  databaseUrl,
  dropScratchDatabase,
  EDGE_HEADERS,
  logInMany,
  migrateAndSeed,
  scratchName,
  SEED_PASSWORD,
  signUpAdmin,
  startAppProcess,
  startBalancerProcess,
  startBaselineProcess,
  type AppLauncher,
  type SeededData,
} from './topology';
import {
  createRequestPlanner,
  PRODUCT_READS_MIX,
  writeShare,
  type WorkloadData,
  type WorkloadMix,
} from './workload';
import { createRandom, shuffled } from './zipf';

const repoRoot = path.resolve(__dirname, '..');
const ADMIN_EMAIL = 'bench-admin@example.test';
const CATALOG_PAGES = 50;
const CATALOG_PAGE_SIZE = 20;

const log = (message: string) => console.log(`[bench] ${message}`);

/** Stops with a message that says what is missing and how to fix it. */
async function preflight(options: BenchOptions): Promise<void> {
  const problems: string[] = [];
  for (const file of ['app/src/server.ts', 'app/src/db/seed.ts', 'app/build.mjs']) {
    if (!existsSync(path.join(repoRoot, file)))
      problems.push(`${file} is missing (the sample app is needed)`);
  }
  const pg = new Client({ connectionString: options.postgresUrl, connectionTimeoutMillis: 3_000 });
  try {
    await pg.connect();
    await pg.query('SELECT 1');
  } catch (error) {
    problems.push(
      `PostgreSQL is not reachable at ${options.postgresUrl} (${(error as Error).message || String(error)}): ` +
        'start it (.ci/run starts an installed server) or point BENCH_PG_URL at one',
    );
  } finally {
    await pg.end().catch(() => undefined);
  }
  const redis = new Redis(options.redisUrl, {
    lazyConnect: true,
    connectTimeout: 3_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  let lastError: Error | undefined;
  redis.on('error', (error: Error) => (lastError = error));
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    problems.push(
      `Redis is not reachable at ${options.redisUrl} (${(lastError ?? (error as Error)).message}): start redis-server or ` +
        'point BENCH_REDIS_URL at one',
    );
  } finally {
    redis.disconnect();
  }
  if (
    scenarioSelected(options, SCENARIO_IDS.stage10k) ||
    scenarioSelected(options, SCENARIO_IDS.cachedReads)
  ) {
    try {
      findPostgresBinDir();
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length) {
    throw new Error(`cannot run the benchmark:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Builds the app bundle; falls back to tsx (with a note) when the build fails. */
function buildApp(notes: string[]): AppLauncher {
  log('building the app bundle (npm run build:app)...');
  const build = spawnSync(process.execPath, [path.join(repoRoot, 'app', 'build.mjs')], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  if (build.status !== 0) {
    notes.push(
      `the app bundle did not build, so the app ran from sources under tsx: ${build.stderr.slice(0, 300)}`,
    );
  }
  const launcher = appLauncher(repoRoot);
  log(`app processes run as: ${launcher.description}`);
  return launcher;
}

/** Deletes every Redis key under `prefix` (SCAN, never KEYS). */
async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    redis.disconnect();
  }
}

/** Environment shared by every app process of every topology. */
function commonAppEnv(): Record<string, string> {
  return {
    NODE_ENV: 'production',
    // Request logging off the hot path: the benchmark measures the app, not a pipe to the terminal.
    LOG_LEVEL: 'warn',
    SESSION_SECRET: randomBytes(32).toString('hex'),
    ADMIN_EMAILS: ADMIN_EMAIL,
    // Logging in the session pool before the run is many log-ins from one address.
    RATE_LIMIT_AUTH_MAX: '1000000',
    SEED_DEMO_DATA: 'false',
  };
}

/** True when the app accepts CACHE_STORE=none (stage 1k runs without a cache then). */
function appSupportsNoCache(): boolean {
  const cacheStore = (envJsonSchema.properties as Record<string, { enum?: readonly string[] }>).CACHE_STORE;
  return cacheStore?.enum?.includes('none') ?? false;
}

async function workloadData(
  entryUrl: string,
  seeded: SeededData,
  options: BenchOptions,
): Promise<WorkloadData> {
  log(`  logging in ${options.logins} customers and the admin...`);
  const adminCookie = await signUpAdmin(entryUrl, ADMIN_EMAIL, SEED_PASSWORD);
  const customerCookies = await logInMany(
    entryUrl,
    seeded.customerEmails.slice(0, options.logins),
    SEED_PASSWORD,
  );
  const cursors = await catalogCursors(entryUrl, CATALOG_PAGES, CATALOG_PAGE_SIZE);
  return {
    // Hot products are spread over the catalog, the same ones in every topology (same seed).
    productIds: shuffled(seeded.productIds, createRandom(options.seed)),
    catalogCursors: cursors,
    customerCookies,
    adminCookie,
  };
}

interface MeasureInput {
  readonly id: string;
  readonly label: string;
  readonly description: string;
  readonly entryUrl: string;
  /** App processes to read counters from (none for the baseline). */
  readonly appUrls: readonly string[];
  readonly roles?: { readonly writer: ServerRole; readonly reader: ServerRole };
  readonly mix: WorkloadMix;
  readonly data: WorkloadData;
  readonly notes?: string[];
  /** Request every product once before the warm-up, so the measurement sees a warm cache. */
  readonly preloadProducts?: boolean;
}

async function measure(input: MeasureInput, options: BenchOptions): Promise<ScenarioResult> {
  const planner = (seed: number) =>
    createRequestPlanner(input.data, {
      mix: input.mix,
      random: createRandom(seed),
      zipfExponent: options.zipfExponent,
      catalogPageSize: CATALOG_PAGE_SIZE,
    });
  const common = { url: input.entryUrl, connections: options.connections, headers: { ...EDGE_HEADERS } };
  if (input.preloadProducts) {
    log(`  loading all ${input.data.productIds.length} products into the cache...`);
    let next = 0;
    const ids = input.data.productIds;
    await runLoad({
      ...common,
      durationSeconds: 0,
      amount: ids.length,
      plan: () => ({
        op: 'productPage',
        method: 'GET',
        path: `/api/products/${encodeURIComponent(ids[next++ % ids.length])}`,
        headers: {},
      }),
    });
  }
  if (options.warmupSeconds > 0) {
    log(`  warm-up ${options.warmupSeconds} s...`);
    await runLoad({ ...common, durationSeconds: options.warmupSeconds, plan: planner(options.seed + 1) });
  }
  const scrape = () => Promise.all(input.appUrls.map((url) => scrapeApp(url)));
  const before = await scrape();
  log(`  measuring ${options.durationSeconds} s at ${options.connections} connections...`);
  const load = await runLoad({
    ...common,
    durationSeconds: options.durationSeconds,
    plan: planner(options.seed),
  });
  const after = await scrape();
  const counters: AppCounters = addCounters(
    ...after.map((a, i) => diffCounters(before[i].counters, a.counters)),
  );
  const routeTimes = diffRouteTimes(after.map((a, i) => ({ before: before[i].routes, after: a.routes })));
  const serverRoutes = Object.fromEntries(
    Object.entries(routeTimes)
      .filter(([route]) => route.includes('/api/'))
      .map(([route, t]) => [
        route,
        { count: t.count, meanMs: Math.round((t.seconds / t.count) * 10_000) / 10 },
      ]),
  );
  const hasApp = input.appUrls.length > 0;
  const result: ScenarioResult & { notes: string[] } = {
    id: input.id,
    label: input.label,
    description: input.description,
    connections: options.connections,
    durationSeconds: load.durationSeconds,
    requests: load.requests,
    requestsPerSecond: load.requestsPerSecond,
    latencyMs: load.latencyMs,
    errors: load.errors,
    statusCodes: load.statusCodes,
    operations: load.operations,
    ...(hasApp && input.roles ? { db: dbFigures(counters, load.requests, input.roles) } : {}),
    ...(hasApp ? { cache: cacheFigures(counters) } : {}),
    ...(hasApp ? { serverRoutes } : {}),
    sampleFailures: load.sampleFailures,
    notes: [...(input.notes ?? [])],
  };
  const writes = (load.operations.placeOrder?.count ?? 0) + (load.operations.updateProduct?.count ?? 0);
  if (result.db && input.roles?.reader === 'replica' && writes > 0) {
    // Reads go to the replica here, so primary queries are (almost) all write work: say how much each costs.
    result.notes.push(
      `${result.label}: ${writes} write requests, ${(result.db.primaryQueries / writes).toFixed(1)} primary ` +
        'queries per write request (transaction statements, WAL position for read-your-writes)',
    );
  }
  log(
    `  ${result.label}: ${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.latencyMs.p50} ms, ` +
      `p99 ${result.latencyMs.p99} ms, errors ${result.errors.non2xx + result.errors.socket + result.errors.timeouts}` +
      (result.db ? `, primary q/1k ${result.db.primaryPer1000.toFixed(1)}` : ''),
  );
  for (const failure of load.sampleFailures.slice(0, 3)) log(`    e.g. ${failure}`);
  for (const [route, t] of Object.entries(serverRoutes))
    log(`    server ${route}: ${t.count} requests, mean ${t.meanMs} ms`);
  return result;
}

async function runBaseline(options: BenchOptions, cleanup: CleanupStack): Promise<ScenarioResult> {
  log('scenario bare-fastify: a bare fastify handler (framework baseline)');
  const baseline = await startBaselineProcess(repoRoot);
  const stop = cleanup.defer('stop bare fastify', () => baseline.stop());
  try {
    const productIds = Array.from({ length: options.products }, () => randomUUID());
    return await measure(
      {
        id: SCENARIO_IDS.baseline,
        label: 'bare fastify',
        description: 'one process, GET /api/products/:id answered from a constant (no DB, cache, session)',
        entryUrl: baseline.url,
        appUrls: [],
        mix: PRODUCT_READS_MIX,
        data: { productIds, catalogCursors: [], customerCookies: [] },
      },
      options,
    );
  } finally {
    await stop();
  }
}

async function runStage1k(
  options: BenchOptions,
  cleanup: CleanupStack,
  launcher: AppLauncher,
  passwordHash: string,
  notes: string[],
): Promise<ScenarioResult> {
  log('scenario stage-1k: one app process, one Postgres, no cache, in-process sessions');
  const name = scratchName('bench_1k');
  const url = await createScratchDatabase(options.postgresUrl, name);
  const drop = cleanup.defer(`drop database ${name}`, () => dropScratchDatabase(options.postgresUrl, name));
  try {
    log(
      `  seeding ${options.products} products, ${options.users} users with ${options.ordersPerUser} orders each...`,
    );
    const seeded = await migrateAndSeed(url, options, passwordHash);
    const noCache = appSupportsNoCache();
    const scenarioNotes: string[] = [];
    if (!noCache) {
      const note =
        'stage 1k ran with the in-process cache (CACHE_STORE=memory): the app offers no CACHE_STORE=none, so ' +
        '"no cache" could not be configured; 1k primary queries are lower than an uncached 1k would send';
      scenarioNotes.push(note);
      notes.push(note);
    }
    const app = await startAppProcess(
      launcher,
      'app (stage 1k)',
      {
        ...commonAppEnv(),
        DATABASE_URL: url,
        CACHE_STORE: noCache ? 'none' : 'memory',
        SESSION_STORE: 'memory',
      },
      repoRoot,
    );
    const stop = cleanup.defer('stop app (stage 1k)', () => app.stop());
    try {
      const data = await workloadData(app.url, seeded, options);
      return await measure(
        {
          id: SCENARIO_IDS.stage1k,
          label: 'stage 1k',
          description: `1 app process -> 1 Postgres (${noCache ? 'no cache' : 'in-process cache'}), in-process sessions`,
          entryUrl: app.url,
          appUrls: [app.url],
          roles: { writer: 'primary', reader: 'primary' },
          mix: options.mix,
          data,
          notes: scenarioNotes,
        },
        options,
      );
    } finally {
      await stop();
    }
  } finally {
    await drop();
  }
}

/**
 * Stage 10k, then (on the same processes) the cached-read check. `baselineNext`, when given, runs the
 * bare fastify baseline right before the cached-read check, so the two figures compared by the target are
 * measured back to back (the machine's other load drifts over minutes).
 */
async function runStage10k(
  options: BenchOptions,
  cleanup: CleanupStack,
  launcher: AppLauncher,
  passwordHash: string,
  baselineNext?: () => Promise<ScenarioResult>,
): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  log(
    `scenario stage-10k: ${options.appProcesses} app processes behind a round-robin balancer, writer + ` +
      'streaming replica, Redis cache and sessions',
  );
  // Everything of this topology goes into its own stack, itself one step of the run's stack (signals).
  const scope = new CleanupStack();
  const release = cleanup.defer('stage 10k topology', async () => {
    const failures = await scope.runAll();
    if (failures.length) throw new Error(failures.join('; '));
  });
  const apps: Awaited<ReturnType<typeof startAppProcess>>[] = [];
  try {
    log('  starting a private primary and a streaming replica (initdb + pg_basebackup)...');
    const pair = await startReplicatedPostgres();
    scope.defer('stop primary + replica, remove their data directory', () => pair.stop());
    const prefix = `bench:${randomBytes(6).toString('hex')}:`;
    scope.defer(`delete Redis keys ${prefix}*`, async () => {
      await deleteRedisKeys(options.redisUrl, prefix);
    });
    const name = scratchName('bench_10k');
    const writerUrl = await createScratchDatabase(pair.primaryUrl, name);
    log(
      `  seeding ${options.products} products, ${options.users} users with ${options.ordersPerUser} orders each...`,
    );
    const seeded = await migrateAndSeed(writerUrl, options, passwordHash);
    await pair.waitForCatchUp(120_000);
    const env = {
      ...commonAppEnv(),
      DATABASE_URL: writerUrl,
      DATABASE_READER_URL: databaseUrl(pair.replicaUrl, name),
      REDIS_URL: options.redisUrl,
      REDIS_KEY_PREFIX: prefix,
      CACHE_STORE: 'redis',
      SESSION_STORE: 'redis',
    };
    for (let i = 1; i <= options.appProcesses; i++) {
      const app = await startAppProcess(launcher, `app ${i} (stage 10k)`, env, repoRoot);
      apps.push(app);
      scope.defer(`stop app ${i} (stage 10k)`, () => app.stop());
    }
    const balancer = await startBalancerProcess(
      apps.map((a) => a.url),
      repoRoot,
    );
    scope.defer('stop balancer', () => balancer.stop());
    const data = await workloadData(balancer.url, seeded, options);

    if (scenarioSelected(options, SCENARIO_IDS.stage10k)) {
      results.push(
        await measure(
          {
            id: SCENARIO_IDS.stage10k,
            label: 'stage 10k',
            description:
              `balancer -> ${options.appProcesses} app processes -> writer + streaming replica, ` +
              'Redis cache and sessions',
            entryUrl: balancer.url,
            appUrls: apps.map((a) => a.url),
            roles: { writer: 'primary', reader: 'replica' },
            mix: options.mix,
            data,
          },
          options,
        ),
      );
    }
    if (baselineNext) results.push(await baselineNext());
    if (scenarioSelected(options, SCENARIO_IDS.cachedReads)) {
      log('scenario app-cached-reads: one stage-10k app process, product reads only (Redis cache)');
      results.push(
        await measure(
          {
            id: SCENARIO_IDS.cachedReads,
            label: '1 app process, cached product reads',
            description: 'one stage-10k app process hit directly, GET /api/products/:id (Zipf), Redis cache',
            entryUrl: apps[0].url,
            appUrls: [apps[0].url],
            roles: { writer: 'primary', reader: 'replica' },
            mix: PRODUCT_READS_MIX,
            data,
            preloadProducts: true,
          },
          options,
        ),
      );
    }
    return results;
  } finally {
    await release();
  }
}

function machine(loadAverageAtStart: number): BenchmarkReport['machine'] {
  const cpus = os.cpus();
  return {
    loadAverageAtStart,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    node: process.versions.node,
    os: `${os.type()} ${os.release()}`,
  };
}

async function writeReport(report: BenchmarkReport, outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const files = {
    'runtime.json': JSON.stringify(report, null, 2) + '\n',
    'runtime.md': renderMarkdown(report),
    'runtime.svg': renderSvgChart(report.scenarios, {
      title: `Same workload, same machine (${report.machine.cpus} cores), ${report.generatedAt.slice(0, 10)}`,
    }),
  };
  const written: string[] = [];
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(outDir, name);
    await writeFile(file, content);
    written.push(path.relative(process.cwd(), file) || file);
  }
  return written;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    console.log(usage());
    return 0;
  }
  let options: BenchOptions;
  try {
    options = parseOptions(argv, process.env, repoRoot);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }

  const cleanup = new CleanupStack();
  const removeSignalHandlers = cleanup.exitOnSignals((message) => console.error(`[bench] ${message}`));
  const notes: string[] = [];
  const load = os.loadavg()[0];
  try {
    await preflight(options);
    log(`load average before the run: ${load.toFixed(2)} on ${os.cpus().length} cores`);
    if (load > os.cpus().length * 0.5) {
      notes.push(`the machine was busy when the run started (1-minute load average ${load.toFixed(2)})`);
    }
    const launcher = buildApp(notes);
    const passwordHash = await hashPassword(SEED_PASSWORD);
    notes.push(
      `app processes: ${launcher.description}, NODE_ENV=production, LOG_LEVEL=warn; load generator: autocannon ` +
        `in the harness process; workload ${Math.round((1 - writeShare(options.mix)) * 100)}% reads / ` +
        `${Math.round(writeShare(options.mix) * 100)}% writes (${Object.entries(options.mix)
          .map(([op, w]) => `${op} ${Math.round(w * 100)}%`)
          .join(', ')}), Zipf exponent ${options.zipfExponent}, ${options.logins} logged-in customers`,
    );

    const scenarios: ScenarioResult[] = [];
    const wantsBaseline = scenarioSelected(options, SCENARIO_IDS.baseline);
    const wantsCachedReads = scenarioSelected(options, SCENARIO_IDS.cachedReads);
    if (wantsBaseline && !wantsCachedReads) scenarios.push(await runBaseline(options, cleanup));
    if (scenarioSelected(options, SCENARIO_IDS.stage1k)) {
      scenarios.push(await runStage1k(options, cleanup, launcher, passwordHash, notes));
    }
    if (scenarioSelected(options, SCENARIO_IDS.stage10k) || wantsCachedReads) {
      const baselineNext =
        wantsBaseline && wantsCachedReads ? () => runBaseline(options, cleanup) : undefined;
      scenarios.push(...(await runStage10k(options, cleanup, launcher, passwordHash, baselineNext)));
    }
    // Table order: the baseline first, then the stages, then the single-process check.
    const order: string[] = [
      SCENARIO_IDS.baseline,
      SCENARIO_IDS.stage1k,
      SCENARIO_IDS.stage10k,
      SCENARIO_IDS.cachedReads,
    ];
    scenarios.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));

    const report: BenchmarkReport = {
      generatedAt: new Date().toISOString(),
      machine: machine(load),
      options: {
        durationSeconds: options.durationSeconds,
        warmupSeconds: options.warmupSeconds,
        connections: options.connections,
        products: options.products,
        users: options.users,
        ordersPerUser: options.ordersPerUser,
        logins: options.logins,
        appProcesses: options.appProcesses,
        zipfExponent: options.zipfExponent,
        seed: options.seed,
        quick: options.quick,
        mix: options.mix,
      },
      scenarios,
      targets: evaluateTargets(scenarios),
      notes,
    };
    const written = await writeReport(report, options.outDir);
    console.log('\n' + renderMarkdown(report));
    log(`wrote ${written.join(', ')}`);
    const missed = report.targets.filter((t) => !t.met);
    for (const t of report.targets) log(`${t.met ? 'MET   ' : 'MISSED'} ${t.description}: ${t.measured}`);
    return missed.length ? 3 : 0;
  } catch (error) {
    console.error(`[bench] ${(error as Error).message}`);
    return 1;
  } finally {
    const failures = await cleanup.runAll();
    for (const failure of failures) console.error(`[bench] clean-up failed: ${failure}`);
    removeSignalHandlers();
  }
}

void main().then((code) => {
  // Exit explicitly: keep-alive sockets of fetch() would otherwise hold the process open for a while.
  process.exit(code);
});
