/**
 * `npm run bench`: measures the local topologies of stages 1k and 10k at the same fixed arrival rate (open
 * loop), with a population of logged-in customers and anonymous browsers, and reads the database's own
 * statistics (pg_stat_statements) for the per-request costs; then sweeps each topology, the bare fastify
 * baseline and one cached-read app process to their knee. Writes bench/results/runtime.{json,md,svg} and says
 * whether each target of issue 17 is met.
 *
 * Exit codes: 0 all targets met, 3 measured but a target missed, 1 failure (e.g. a server unreachable),
 * 2 bad options.
 */
import { randomBytes, randomUUID, scrypt } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import {
  findPostgresBinDir,
  startPrivatePostgres,
  startReplicatedPostgres,
} from '../tools/local-topology/postgres-replication';
import { CleanupStack } from './cleanup';
import {
  addCounters,
  diffCounters,
  diffRouteTimes,
  scrapeApp,
  type AppCounters,
  type AppScrape,
} from './metrics';
import { runOpenLoop, type LoadResult } from './open-loop';
import { parseOptions, scenarioSelected, usage, type BenchOptions } from './options';
import {
  createStatementsExtension,
  PG_STAT_STATEMENTS_SETTINGS,
  readStatements,
  resetStatements,
  summariseStatements,
  type ServerStatements,
} from './pg-stats';
import { createPopulationPlanner, type PopulationPlanner } from './population';
import { processCpuSeconds } from './processes';
import {
  cacheFigures,
  evaluateTargets,
  kneeRate,
  orderCost,
  renderMarkdown,
  routeCacheFigures,
  SCENARIO_IDS,
  serverCost,
  sweepRates,
  sweepStepPassed,
  type BenchmarkReport,
  type OrderCost,
  type ScenarioResult,
  type SweepStep,
} from './report';
import { renderSvgChart } from './svg-chart';
import {
  appLauncher,
  catalogCursors,
  createScratchDatabase,
  databaseUrl,
  deleteRedisKeys,
  EDGE_HEADERS,
  logInMany,
  migrateAndSeed,
  preloadProducts,
  scratchName,
  SEED_PASSWORD,
  signUpAdmin,
  startAppProcess,
  startBalancerProcess,
  startBaselineProcess,
  type AppLauncher,
  type SeededData,
} from './topology';
import { PRODUCT_READS_MIX, writeShare, type PlannedRequest, type WorkloadData } from './workload';
import { createRandom, shuffled } from './zipf';

const repoRoot = path.resolve(__dirname, '..');
const ADMIN_EMAIL = 'bench-admin@example.test';
const CATALOG_PAGES = 50;
const CATALOG_PAGE_SIZE = 20;
/** The app's default READ_YOUR_WRITES_WINDOW_MS; the benchmark passes it explicitly so the two agree. */
const RYW_WINDOW_MS = 5000;

const log = (message: string) => console.log(`[bench] ${message}`);
const loadAverage = () => os.loadavg().map((x) => Math.round(x * 100) / 100);

/** Stops with a message that says what is missing and how to fix it. */
async function preflight(options: BenchOptions): Promise<void> {
  const problems: string[] = [];
  for (const file of ['app/src/server.ts', 'app/src/db/seed.ts', 'app/build.mjs']) {
    if (!existsSync(path.join(repoRoot, file)))
      problems.push(`${file} is missing (the sample app is needed)`);
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
  try {
    findPostgresBinDir();
  } catch (error) {
    problems.push((error as Error).message);
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

/**
 * A password hash in the app's format (`scrypt$N$r$p$salt$hash`) with a low cost (N = 2^10): the app verifies
 * with the parameters stored in the hash, so logging in the whole population takes seconds instead of the
 * minutes that N = 2^14 would cost. Log-ins happen before the measured window.
 */
function cheapPasswordHash(password: string): Promise<string> {
  const salt = randomBytes(16);
  const [N, r, p] = [1024, 8, 1];
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, 32, { N, r, p }, (error, key) =>
      error
        ? reject(error)
        : resolve(['scrypt', N, r, p, salt.toString('base64'), key.toString('base64')].join('$')),
    ),
  );
}

/** Environment shared by every app process of every topology. */
function commonAppEnv(): Record<string, string> {
  return {
    NODE_ENV: 'production',
    // Request logging off the hot path: the benchmark measures the app, not a pipe to the terminal.
    LOG_LEVEL: 'warn',
    SESSION_SECRET: randomBytes(32).toString('hex'),
    ADMIN_EMAILS: ADMIN_EMAIL,
    // Logging in the population before the run is many log-ins from one address.
    RATE_LIMIT_AUTH_MAX: '1000000',
    SEED_DEMO_DATA: 'false',
    READ_YOUR_WRITES_WINDOW_MS: String(RYW_WINDOW_MS),
  };
}

/** A started topology: where the load goes, its app processes, its database servers. */
interface Topology {
  readonly entryUrl: string;
  /** The metrics listener (METRICS_PORT) of each app process, where its /metrics is scraped. */
  readonly metricsUrls: readonly string[];
  readonly database: string;
  readonly primaryUrl: string;
  /** Absent without a replica. */
  readonly replicaUrl?: string;
  readonly data: WorkloadData;
}

async function workloadData(
  entryUrl: string,
  seeded: SeededData,
  options: BenchOptions,
  appEnv: Readonly<Record<string, string>>,
): Promise<WorkloadData> {
  log(
    `  logging in ${options.logins} customers and the admin (granted with the admin command's function)...`,
  );
  const adminCookie = await signUpAdmin(entryUrl, ADMIN_EMAIL, SEED_PASSWORD, appEnv);
  const customerCookies = await logInMany(
    entryUrl,
    seeded.customerEmails.slice(0, options.logins),
    SEED_PASSWORD,
    8,
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

/** The statement sums of every server of a topology for a window: reset before, read after. */
async function statementWindow<T>(
  topology: Topology,
  run: () => Promise<T>,
): Promise<{
  result: T;
  primary: ServerStatements;
  replica?: ServerStatements;
  counters: AppCounters;
  scrapes: { before: AppScrape[]; after: AppScrape[] };
}> {
  const servers = [topology.primaryUrl, ...(topology.replicaUrl ? [topology.replicaUrl] : [])];
  const scrape = () => Promise.all(topology.metricsUrls.map((url) => scrapeApp(url)));
  await Promise.all(servers.map((url) => resetStatements(url)));
  const before = await scrape();
  const result = await run();
  const after = await scrape();
  const [primary, replica] = await Promise.all(servers.map((url) => readStatements(url, topology.database)));
  const counters = addCounters(...after.map((a, i) => diffCounters(before[i].counters, a.counters)));
  return {
    result,
    primary: summariseStatements(primary),
    ...(replica ? { replica: summariseStatements(replica) } : {}),
    counters,
    scrapes: { before, after },
  };
}

function population(
  data: WorkloadData,
  options: BenchOptions,
  seed: number,
  mix = options.mix,
): PopulationPlanner {
  return createPopulationPlanner(data, {
    mix,
    random: createRandom(seed),
    zipfExponent: options.zipfExponent,
    catalogPageSize: CATALOG_PAGE_SIZE,
    customerBrowseShare: mix === options.mix ? options.customerBrowseShare : 0,
    minThinkMs: options.minThinkMs,
    rywWindowMs: RYW_WINDOW_MS,
  });
}

/** Open-loop run against `url` at `rate` for `seconds`, planned by `plan`. */
function load(
  url: string,
  rate: number,
  seconds: number,
  plan: (at: number) => PlannedRequest,
  options: BenchOptions,
): Promise<LoadResult> {
  return runOpenLoop({
    url,
    ratePerSecond: rate,
    durationSeconds: seconds,
    plan,
    headers: { ...EDGE_HEADERS },
    connections: options.connections,
  });
}

/** Warm-up, then the measured window at the fixed rate with the database's statistics around it. */
async function measureFixedRate(
  id: string,
  label: string,
  description: string,
  topology: Topology,
  options: BenchOptions,
): Promise<ScenarioResult> {
  const loadStart = loadAverage();
  // One planner for warm-up and window: the customers' think time and read-your-writes windows carry over.
  const planner = population(topology.data, options, options.seed);
  let offset = 0;
  const plan = (at: number) => planner.next(offset + at);
  if (options.warmupSeconds > 0) {
    log(`  warm-up ${options.warmupSeconds} s at ${options.rate} req/s...`);
    await load(topology.entryUrl, options.rate, options.warmupSeconds, plan, options);
    offset = options.warmupSeconds * 1000;
  }
  const before = planner.stats();
  log(`  measuring ${options.durationSeconds} s at ${options.rate} req/s (open loop)...`);
  const window = await statementWindow(topology, () =>
    load(topology.entryUrl, options.rate, options.durationSeconds, plan, options),
  );
  const after = planner.stats();
  const run = window.result;
  const answered = run.requests;
  const routeTimes = diffRouteTimes(
    window.scrapes.after.map((a, i) => ({ before: window.scrapes.before[i].routes, after: a.routes })),
  );
  const serverRoutes = Object.fromEntries(
    Object.entries(routeTimes)
      .filter(([route]) => route.includes('/api/'))
      .map(([route, t]) => [
        route,
        { count: t.count, meanMs: Math.round((t.seconds / t.count) * 10_000) / 10 },
      ]),
  );
  const servers = [window.primary, ...(window.replica ? [window.replica] : [])];
  const result: ScenarioResult = {
    id,
    label,
    description,
    fixed: {
      offeredRate: run.offeredRate,
      durationSeconds: run.durationSeconds,
      scheduled: run.scheduled,
      requests: run.requests,
      requestsPerSecond: run.requestsPerSecond,
      latencyMs: run.latencyMs,
      dispatchLagMs: run.dispatchLagMs,
      errors: run.errors,
      statusCodes: run.statusCodes,
      operations: run.operations,
    },
    primary: serverCost(window.primary, answered),
    ...(window.replica ? { replica: serverCost(window.replica, answered) } : {}),
    appQueriesPerRequest: answered > 0 ? (window.counters.dbWriter + window.counters.dbReader) / answered : 0,
    cache: cacheFigures(window.counters),
    routeCache: {
      productPage: routeCacheFigures(run.operations.productPage?.count ?? 0, servers, 'productPage'),
      catalogPage: routeCacheFigures(run.operations.catalogPage?.count ?? 0, servers, 'catalogPage'),
    },
    population: {
      ...after,
      requests: after.requests - before.requests,
      byActor: {
        customer: after.byActor.customer - before.byActor.customer,
        anonymous: after.byActor.anonymous - before.byActor.anonymous,
        admin: after.byActor.admin - before.byActor.admin,
      },
      insideRywWindow: after.insideRywWindow - before.insideRywWindow,
      readsInsideRywWindow: after.readsInsideRywWindow - before.readsInsideRywWindow,
      reads: after.reads - before.reads,
    },
    serverRoutes,
    sampleFailures: run.sampleFailures,
    loadAverage: { start: loadStart, end: loadAverage() },
  };
  const f = result.fixed!;
  log(
    `  ${label}: ${f.requestsPerSecond.toFixed(0)} req/s served of ${f.offeredRate}, p50 ${f.latencyMs.p50} ms, ` +
      `p99 ${f.latencyMs.p99} ms, errors ${f.errors.non2xx + f.errors.socket + f.errors.timeouts}, generator lag p99 ` +
      `${f.dispatchLagMs.p99} ms; primary ${result.primary!.execMsPer1000.toFixed(1)} ms and ` +
      `${result.primary!.readsPer1000.toFixed(1)} reads per 1,000 requests; product-page hit ` +
      `${((result.routeCache?.productPage?.hitRatio ?? 0) * 100).toFixed(1)}%`,
  );
  for (const failure of run.sampleFailures.slice(0, 3)) log(`    e.g. ${failure}`);
  return result;
}

/** Places `count` orders one at a time (2 products each) and counts what each cost the database. */
async function measureOrderCost(topology: Topology, count: number, seed: number): Promise<OrderCost> {
  const random = createRandom(seed);
  const cookie = topology.data.customerCookies[0];
  const window = await statementWindow(topology, async () => {
    for (let i = 0; i < count; i++) {
      const ids = new Set<string>();
      while (ids.size < 2)
        ids.add(topology.data.productIds[Math.floor(random() * topology.data.productIds.length)]);
      const response = await fetch(new URL('/api/orders', topology.entryUrl), {
        method: 'POST',
        headers: { ...EDGE_HEADERS, 'content-type': 'application/json', cookie },
        body: JSON.stringify({ items: [...ids].map((productId) => ({ productId, quantity: 1 })) }),
      });
      if (response.status !== 201)
        throw new Error(
          `order probe: POST /api/orders answered ${response.status}: ${await response.text()}`,
        );
    }
  });
  return orderCost(
    count,
    window.primary,
    window.replica,
    window.counters.dbWriter + window.counters.dbReader,
  );
}

/** Max-throughput sweep: geometric rate steps until a step fails (p99 above the limit, errors, or not served). */
async function sweep(
  label: string,
  url: string,
  options: BenchOptions,
  plan: () => (at: number) => PlannedRequest,
  serverPid?: number,
): Promise<SweepStep[]> {
  const steps: SweepStep[] = [];
  for (const rate of sweepRates(options.sweepStart, options.sweepFactor, options.sweepSteps)) {
    const next = plan();
    let offset = 0;
    const planAt = (at: number) => next(offset + at);
    // A short unmeasured lead-in at the step's rate, then the measured step (one planner: time goes on).
    await load(url, rate, 2, planAt, options);
    offset = 2000;
    const cpuBefore = serverPid === undefined ? undefined : processCpuSeconds(serverPid);
    const run = await load(url, rate, options.sweepDurationSeconds, planAt, options);
    const cpuAfter = serverPid === undefined ? undefined : processCpuSeconds(serverPid);
    const answered = run.requests - run.errors.socket - run.errors.timeouts;
    const cpuUs =
      cpuBefore !== undefined && cpuAfter !== undefined && answered > 0
        ? ((cpuAfter - cpuBefore) * 1e6) / answered
        : undefined;
    const stepFigures = {
      rate,
      requestsPerSecond: run.requestsPerSecond,
      p99Ms: run.latencyMs.p99,
      errors: run.errors.non2xx + run.errors.socket + run.errors.timeouts,
      dispatchLagP99Ms: run.dispatchLagMs.p99,
    };
    const step: SweepStep = {
      ...stepFigures,
      passed: sweepStepPassed(stepFigures),
      ...(cpuUs !== undefined ? { serverCpuUsPerRequest: Math.round(cpuUs * 10) / 10 } : {}),
    };
    steps.push(step);
    log(
      `  sweep ${label}: ${rate} req/s -> p99 ${step.p99Ms} ms, served ${step.requestsPerSecond.toFixed(0)}/s, ` +
        `${step.errors} errors${cpuUs !== undefined ? `, server CPU ${cpuUs.toFixed(0)} µs/request` : ''}` +
        `${step.passed ? '' : options.sweepPastKnee ? ' (beyond the limit)' : ' (knee passed, stopping)'}`,
    );
    if (!step.passed && !options.sweepPastKnee) break;
    // Past the knee, stop once the rate is no longer served: CPU per request means nothing in a backlog.
    if (step.errors > 0 || step.requestsPerSecond < step.rate * 0.95) break;
  }
  return steps;
}

async function seedTopologyDatabase(
  writerUrl: string,
  options: BenchOptions,
  passwordHash: string,
): Promise<SeededData> {
  log(
    `  seeding ${options.products} products, ${options.users} users with ${options.ordersPerUser} orders each...`,
  );
  return migrateAndSeed(writerUrl, options, passwordHash);
}

async function runStage1k(
  options: BenchOptions,
  cleanup: CleanupStack,
  launcher: AppLauncher,
  passwordHash: string,
): Promise<ScenarioResult> {
  log(
    'scenario stage-1k: one app process, one private Postgres (pg_stat_statements), no cache, in-process sessions',
  );
  const scope = new CleanupStack();
  const release = cleanup.defer('stage 1k topology', async () => {
    const failures = await scope.runAll();
    if (failures.length) throw new Error(failures.join('; '));
  });
  try {
    const server = await startPrivatePostgres({ settings: PG_STAT_STATEMENTS_SETTINGS });
    scope.defer('stop the stage-1k Postgres, remove its data directory', () => server.stop());
    await createStatementsExtension(server.url);
    const name = scratchName('bench_1k');
    const url = await createScratchDatabase(server.url, name);
    const seeded = await seedTopologyDatabase(url, options, passwordHash);
    const env = { ...commonAppEnv(), DATABASE_URL: url, CACHE_STORE: 'none', SESSION_STORE: 'memory' };
    const app = await startAppProcess(launcher, 'app (stage 1k)', env, repoRoot);
    scope.defer('stop app (stage 1k)', () => app.stop());
    const data = await workloadData(app.url, seeded, options, env);
    const topology: Topology = {
      entryUrl: app.url,
      metricsUrls: [app.metricsUrl],
      database: name,
      primaryUrl: server.url,
      data,
    };
    const result = await measureFixedRate(
      SCENARIO_IDS.stage1k,
      'stage 1k',
      '1 app process -> 1 Postgres (no cache), in-process sessions',
      topology,
      options,
    );
    return await finishTopology(result, topology, options);
  } finally {
    await release();
  }
}

/** Order probe and sweep of a topology, after its fixed-rate window. */
async function finishTopology(
  result: ScenarioResult,
  topology: Topology,
  options: BenchOptions,
): Promise<ScenarioResult> {
  let orderCostFigures: OrderCost | undefined;
  if (options.orderProbe > 0) {
    log(`  placing ${options.orderProbe} orders one at a time (statements per order)...`);
    orderCostFigures = await measureOrderCost(topology, options.orderProbe, options.seed + 7);
    log(
      `  ${result.label}: ${orderCostFigures.primaryStatementsPerOrder.toFixed(2)} primary statements and ` +
        `${orderCostFigures.appRoundTripsPerOrder.toFixed(2)} app round trips per order`,
    );
  }
  let steps: SweepStep[] | undefined;
  if (options.sweep) {
    let seed = options.seed + 100;
    steps = await sweep(result.label, topology.entryUrl, options, () => {
      const planner = population(topology.data, options, seed++);
      return (at) => planner.next(at);
    });
  }
  return {
    ...result,
    ...(orderCostFigures ? { orderCost: orderCostFigures } : {}),
    ...(steps ? { sweep: steps, kneeRate: kneeRate(steps) ?? undefined } : {}),
  };
}

/** A sweep-only scenario (the baseline, the cached-read process): product pages, anonymous. */
async function sweepOnly(
  id: string,
  label: string,
  description: string,
  url: string,
  productIds: readonly string[],
  options: BenchOptions,
  serverPid?: number,
  metricsUrl?: string,
): Promise<ScenarioResult> {
  const loadStart = loadAverage();
  const before = metricsUrl ? await scrapeApp(metricsUrl) : undefined;
  let seed = options.seed + 200;
  const data: WorkloadData = { productIds, catalogCursors: [], customerCookies: [] };
  const steps = await sweep(
    label,
    url,
    options,
    () => {
      const planner = population(data, options, seed++, PRODUCT_READS_MIX);
      return (at) => planner.next(at);
    },
    serverPid,
  );
  const notes: string[] = [];
  if (metricsUrl && before) {
    // How much of the cached path went past the first level (the app's own counters, lead-ins included).
    const after = await scrapeApp(metricsUrl);
    const lookups = diffCounters(before.counters, after.counters);
    const served = diffRouteTimes([{ before: before.routes, after: after.routes }])['GET /api/products/:id'];
    if (served?.count) {
      const second = lookups.cacheHit + lookups.cacheMiss + lookups.cacheError;
      notes.push(
        `${label}: ${((100 * second) / served.count).toFixed(1)}% of the ${served.count} product pages went past the ` +
          `first level to the shared cache, ${lookups.dbReader + lookups.dbWriter} database queries`,
      );
    }
  }
  return {
    id,
    label,
    description,
    ...(notes.length ? { notes } : {}),
    sweep: steps,
    ...(kneeRate(steps) !== null ? { kneeRate: kneeRate(steps)! } : {}),
    loadAverage: { start: loadStart, end: loadAverage() },
  };
}

async function runBaseline(options: BenchOptions, cleanup: CleanupStack): Promise<ScenarioResult> {
  log('scenario bare-fastify: a bare fastify handler (framework baseline), swept');
  const baseline = await startBaselineProcess(repoRoot);
  const stop = cleanup.defer('stop bare fastify', () => baseline.stop());
  try {
    const productIds = Array.from({ length: options.products }, () => randomUUID());
    return await sweepOnly(
      SCENARIO_IDS.baseline,
      'bare fastify',
      'one process, GET /api/products/:id answered from a constant (no DB, cache, session)',
      baseline.url,
      productIds,
      options,
      baseline.pid,
    );
  } finally {
    await stop();
  }
}

/**
 * Stage 10k, then (on the same processes) the cached-read sweep. `baselineNext`, when given, runs the bare
 * fastify sweep right before the cached-read sweep, so the two are measured back to back.
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
      'streaming replica (pg_stat_statements on both), Redis cache and sessions',
  );
  const scope = new CleanupStack();
  const release = cleanup.defer('stage 10k topology', async () => {
    const failures = await scope.runAll();
    if (failures.length) throw new Error(failures.join('; '));
  });
  try {
    log('  starting a private primary and a streaming replica (initdb + pg_basebackup)...');
    const pair = await startReplicatedPostgres({ settings: PG_STAT_STATEMENTS_SETTINGS });
    scope.defer('stop primary + replica, remove their data directory', () => pair.stop());
    await createStatementsExtension(pair.primaryUrl);
    const prefix = `bench:${randomBytes(6).toString('hex')}:`;
    scope.defer(`delete Redis keys ${prefix}*`, async () => {
      await deleteRedisKeys(options.redisUrl, prefix);
    });
    const name = scratchName('bench_10k');
    const writerUrl = await createScratchDatabase(pair.primaryUrl, name);
    const seeded = await seedTopologyDatabase(writerUrl, options, passwordHash);
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
    const apps: Awaited<ReturnType<typeof startAppProcess>>[] = [];
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
    const data = await workloadData(balancer.url, seeded, options, env);
    const topology: Topology = {
      entryUrl: balancer.url,
      metricsUrls: apps.map((a) => a.metricsUrl),
      database: name,
      primaryUrl: pair.primaryUrl,
      replicaUrl: pair.replicaUrl,
      data,
    };

    if (scenarioSelected(options, SCENARIO_IDS.stage10k)) {
      const result = await measureFixedRate(
        SCENARIO_IDS.stage10k,
        'stage 10k',
        `balancer -> ${options.appProcesses} app processes -> writer + streaming replica, Redis cache and sessions`,
        topology,
        options,
      );
      results.push(await finishTopology(result, topology, options));
    }
    if (baselineNext) results.push(await baselineNext());
    if (scenarioSelected(options, SCENARIO_IDS.cachedReads) && options.sweep) {
      log('scenario app-cached-reads: one stage-10k app process, product pages only (Redis cache), swept');
      log(`  loading all ${data.productIds.length} products into the cache...`);
      const ids = data.productIds;
      await preloadProducts(apps[0].url, ids);
      results.push(
        await sweepOnly(
          SCENARIO_IDS.cachedReads,
          '1 app process, cached product reads',
          'one stage-10k app process hit directly, GET /api/products/:id (Zipf), Redis cache',
          apps[0].url,
          ids,
          options,
          apps[0].pid,
          apps[0].metricsUrl,
        ),
      );
    }
    return results;
  } finally {
    await release();
  }
}

function machine(start: number[]): BenchmarkReport['machine'] {
  const cpus = os.cpus();
  return {
    loadAverage: { start, end: loadAverage() },
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
      title: `Open loop at ${String(report.options.rate)} req/s, same machine (${report.machine.cpus} cores), ${report.generatedAt.slice(0, 10)}`,
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
  const loadStart = loadAverage();
  try {
    await preflight(options);
    log(`load average before the run: ${loadStart.join(' / ')} on ${os.cpus().length} cores`);
    const launcher = buildApp(notes);
    const passwordHash = await cheapPasswordHash(SEED_PASSWORD);
    notes.push(
      `app processes: ${launcher.description}, NODE_ENV=production, LOG_LEVEL=warn; load generator: open loop ` +
        `(bench/open-loop.ts, undici Pool of ${options.connections} connections, latency from the scheduled send ` +
        `time) in the harness process; workload ${Math.round((1 - writeShare(options.mix)) * 100)}% reads / ` +
        `${Math.round(writeShare(options.mix) * 100)}% writes (${Object.entries(options.mix)
          .map(([op, w]) => `${op} ${Math.round(w * 100)}%`)
          .join(', ')}), Zipf exponent ${options.zipfExponent}; population: ${options.logins} logged-in ` +
        `customers (at most one request per ${options.minThinkMs} ms each), anonymous browsers for ` +
        `${Math.round((1 - options.customerBrowseShare) * 100)}% of page views, one admin for the price updates`,
    );

    const scenarios: ScenarioResult[] = [];
    const wantsBaseline = scenarioSelected(options, SCENARIO_IDS.baseline) && options.sweep;
    const wantsCachedReads = scenarioSelected(options, SCENARIO_IDS.cachedReads) && options.sweep;
    if (wantsBaseline && !wantsCachedReads) scenarios.push(await runBaseline(options, cleanup));
    if (scenarioSelected(options, SCENARIO_IDS.stage1k)) {
      scenarios.push(await runStage1k(options, cleanup, launcher, passwordHash));
    }
    if (scenarioSelected(options, SCENARIO_IDS.stage10k) || wantsCachedReads) {
      const baselineNext =
        wantsBaseline && wantsCachedReads ? () => runBaseline(options, cleanup) : undefined;
      scenarios.push(...(await runStage10k(options, cleanup, launcher, passwordHash, baselineNext)));
    }
    const order: string[] = [
      SCENARIO_IDS.baseline,
      SCENARIO_IDS.stage1k,
      SCENARIO_IDS.stage10k,
      SCENARIO_IDS.cachedReads,
    ];
    scenarios.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));

    const { redisUrl: _redis, outDir: _out, ...reportedOptions } = options;
    const report: BenchmarkReport = {
      generatedAt: new Date().toISOString(),
      machine: machine(loadStart),
      options: reportedOptions,
      scenarios,
      targets: evaluateTargets(scenarios),
      notes,
    };
    const written = await writeReport(report, options.outDir);
    console.log('\n' + renderMarkdown(report));
    log(`wrote ${written.join(', ')}`);
    const missed = report.targets.filter((t) => t.met === false);
    for (const t of report.targets) {
      log(`${t.met === null ? 'REPORT' : t.met ? 'MET   ' : 'MISSED'} ${t.description}: ${t.measured}`);
    }
    return missed.length ? 3 : 0;
  } catch (error) {
    console.error(`[bench] ${(error as Error).stack ?? (error as Error).message}`);
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
