/**
 * `npm run bench:first-level`: one app process serving cached product pages against the bare fastify process
 * (bench/baseline-server.ts: the same route and response schema, answered from a constant), both running at once
 * and loaded in turn: short open-loop slices at the same fixed rate, alternating (the order swapped every round),
 * so both see the same machine. This machine's speed drifts by 2x within a minute (shared cores), which no
 * sequential A-then-B comparison survives.
 *
 * Per slice: the server process's CPU (/proc utime + stime) divided by the requests it answered (µs per request:
 * the per-request cost, which carries over to other machines) and the requests per second it served. Reported:
 * the medians over the rounds and the median of each round's ratio, bare µs / app µs (the share of the bare
 * framework's throughput the app's CPU cost allows when both are CPU-bound, the issue's measure), plus how many
 * product pages went past the in-process first level to Redis (the app's own counters).
 *
 * `--products 48` (default): every page is a first-level hit after the first. `--products 10000`: Zipf pages over
 * a catalogue whose tail is read less often than the first-level TTL (2 s), so part of the pages go to Redis.
 *
 * Both servers run on the Node.js the image ships (the `node` package's binary, the current LTS), when installed:
 * the machine's own Node.js may be an older line whose HTTP stack costs differ.
 *
 * Options: --products N, --zipf X (1), --rate R (5000 per second), --saturate N (closed loop over N connections
 * instead of the open loop), --wrk (with --saturate: wrk drives the closed loop), --slice S (3 s), --rounds N (12),
 * --out DIR (bench/results/first-level). Builds the bundle first (node app/build.mjs), as the image runs it.
 * Environment: TEST_PG_URL, TEST_REDIS_URL (the test servers; a scratch database and key prefix, removed afterwards).
 */
import { randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { createDatabase } from '../app/src/db/create-database';
import { runMigrations } from '../app/src/db/migrations';
import { seedCatalog } from '../app/src/db/seed';
import { runWithCleanup } from './cleanup';
import { scrapeApp, diffCounters } from './metrics';
import { runOpenLoop } from './open-loop';
import { processCpuSeconds, type ManagedProcess } from './processes';
import { median, positiveArg, round2 } from './script-args';
import {
  appLauncher,
  createScratchDatabases,
  deleteRedisKeys,
  EDGE_HEADERS,
  preloadProducts,
  scratchName,
  shippedNode,
  startAppProcess,
  startBaselineProcess,
} from './topology';
import { createRandom, ZipfSampler } from './zipf';

const PG_ADMIN = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const repoRoot = path.resolve(__dirname, '..');

/** One server's measurement over one slice. */
export interface SliceFigures {
  /** Server CPU per answered request, µs. */
  readonly cpuUs: number;
  /** Requests answered per second of the slice. */
  readonly servedPerSecond: number;
  /**
   * The server's CPU over the slice's length, in cores: near 1 the server set the pace (its throughput is its
   * capacity); well below 1 under a closed loop, the load generator did.
   */
  readonly cores: number;
  /** Open loop only: a closed loop hides queueing. */
  readonly p99Ms?: number;
  /** Requests that failed or answered anything but 200. */
  readonly failures: number;
}

/** One round: the bare process's and the app's slice. */
export interface RoundFigures {
  readonly bare: SliceFigures;
  readonly app: SliceFigures;
}

/** What the report states, from the rounds. */
export interface FirstLevelSummary {
  readonly rounds: number;
  readonly bareCpuUs: number;
  readonly appCpuUs: number;
  /** Median over the rounds of bare µs / app µs (each round's pair measured back to back). */
  readonly cpuShare: number;
  readonly bareServedPerSecond: number;
  readonly appServedPerSecond: number;
  /** Median cores busy (see {@link SliceFigures.cores}). */
  readonly bareCores: number;
  readonly appCores: number;
  /** Rounds where either server failed a request or served under 95 % of the offered rate. */
  readonly roundsShort: number;
}

/**
 * The medians of the rounds. A round where a server fell behind the offered rate (below 95 %) or failed requests
 * is counted in `roundsShort`: its CPU per request is still a cost per request, but the rate was not the same.
 *
 * @throws Error when there is no round
 */
export function summariseRounds(rounds: readonly RoundFigures[], offeredRate: number): FirstLevelSummary {
  if (rounds.length === 0) throw new Error('summariseRounds: no rounds measured');
  const short = (s: SliceFigures) => s.failures > 0 || s.servedPerSecond < offeredRate * 0.95;
  return {
    rounds: rounds.length,
    bareCpuUs: round2(median(rounds.map((r) => r.bare.cpuUs))),
    appCpuUs: round2(median(rounds.map((r) => r.app.cpuUs))),
    cpuShare: Math.round(median(rounds.map((r) => r.bare.cpuUs / r.app.cpuUs)) * 1000) / 1000,
    bareServedPerSecond: Math.round(median(rounds.map((r) => r.bare.servedPerSecond))),
    appServedPerSecond: Math.round(median(rounds.map((r) => r.app.servedPerSecond))),
    bareCores: round2(median(rounds.map((r) => r.bare.cores))),
    appCores: round2(median(rounds.map((r) => r.app.cores))),
    roundsShort: rounds.filter((r) => short(r.bare) || short(r.app)).length,
  };
}

/**
 * Closed loop: `connections` requests in flight, each sent when the previous one on its connection was
 * answered, for `seconds`: the server's throughput when it is the bottleneck. No latency is reported from it
 * (a closed loop hides queueing: coordinated omission); the CPU per request and the rate are what it is for.
 */
async function closedLoopSlice(
  server: ManagedProcess,
  seconds: number,
  connections: number,
  nextPath: () => string,
): Promise<SliceFigures> {
  const pool = new Pool(server.url, { connections });
  try {
    const before = processCpuSeconds(server.pid);
    const started = performance.now();
    const end = started + seconds * 1000;
    let answered = 0;
    let failures = 0;
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < end) {
          try {
            const response = await pool.request({ method: 'GET', path: nextPath(), headers: EDGE_HEADERS });
            await response.body.arrayBuffer();
            if (response.statusCode === 200) answered += 1;
            else failures += 1;
          } catch {
            failures += 1;
          }
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    const after = processCpuSeconds(server.pid);
    if (before === undefined || after === undefined) throw new Error(`cannot read /proc/${server.pid}/stat`);
    return {
      cpuUs: round2(((after - before) * 1e6) / Math.max(1, answered + failures)),
      servedPerSecond: Math.round(answered / elapsed),
      cores: round2((after - before) / elapsed),
      failures,
    };
  } finally {
    await pool.close();
  }
}

/** wrk's own figures of one run: requests completed, and those that failed or answered anything but 2xx/3xx. */
export function parseWrkOutput(output: string): { readonly requests: number; readonly failures: number } {
  const requests = /(\d+) requests in /.exec(output);
  if (!requests) throw new Error(`wrk printed no request count:\n${output}`);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { requests: Number(requests[1]), failures: Number(non2xx?.[1] ?? 0) + socketErrors };
}

/**
 * Closed loop with wrk (`--wrk`; Debian's `wrk` package) instead of this process: wrk, written in C, costs a
 * fraction of the server's CPU per request, so on two cores both servers can be driven to a full core, where the
 * Node.js loop above runs out first and paces the bare process. `script` is {@link wrkScript}'s.
 */
async function wrkSlice(
  server: ManagedProcess,
  seconds: number,
  connections: number,
  script: string,
): Promise<SliceFigures> {
  const before = processCpuSeconds(server.pid);
  const started = performance.now();
  const output = execFileSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '-s', script, server.url], {
    encoding: 'utf8',
  });
  const elapsed = (performance.now() - started) / 1000;
  const after = processCpuSeconds(server.pid);
  if (before === undefined || after === undefined) throw new Error(`cannot read /proc/${server.pid}/stat`);
  const { requests, failures } = parseWrkOutput(output);
  return {
    cpuUs: round2(((after - before) * 1e6) / Math.max(1, requests)),
    servedPerSecond: Math.round((requests - failures) / seconds),
    cores: round2((after - before) / elapsed),
    failures,
  };
}

/** A wrk Lua script sending GET to `paths` in turn, with the edge headers. */
function wrkScript(paths: readonly string[]): string {
  const headers = Object.entries(EDGE_HEADERS)
    .map(([name, value]) => `[${JSON.stringify(name)}] = ${JSON.stringify(value)}`)
    .join(', ');
  return (
    `local paths = {${paths.map((p) => JSON.stringify(p)).join(',')}}\n` +
    `local i = 0\n` +
    `request = function()\n  i = i % #paths + 1\n  return wrk.format("GET", paths[i], {${headers}})\nend\n`
  );
}

async function main() {
  const products = Math.round(positiveArg('products', 48));
  const exponent = positiveArg('zipf', 1);
  const rate = positiveArg('rate', 5000);
  // --saturate N: closed loop over N connections instead (as fast as each server answers: its throughput).
  const saturate = process.argv.includes('--saturate') ? Math.round(positiveArg('saturate', 64)) : 0;
  // --wrk: the closed loop is driven by wrk (on PATH) rather than by this process.
  const useWrk = process.argv.includes('--wrk');
  if (useWrk && !saturate) throw new Error('--wrk drives the closed loop: give --saturate N with it');
  if (useWrk && spawnSync('wrk', ['-v']).error)
    throw new Error('--wrk needs wrk on PATH (Debian: apt-get install wrk), or leave --wrk out');
  const sliceSeconds = positiveArg('slice', 3);
  const roundCount = Math.round(positiveArg('rounds', 12));
  const outAt = process.argv.indexOf('--out');
  const outDir = path.resolve(
    outAt >= 0 ? process.argv[outAt + 1] : path.join(repoRoot, 'bench/results/first-level'),
  );

  await runWithCleanup(async (cleanup) => {
    console.log('building the bundle (node app/build.mjs)...');
    execFileSync(process.execPath, ['app/build.mjs'], { cwd: repoRoot, stdio: 'inherit' });

    const name = scratchName('bench_first_level');
    const [url] = await createScratchDatabases([PG_ADMIN], name, cleanup);
    const db = await createDatabase({ kind: 'postgres', writer: { connectionString: url }, poolMax: 2 });
    let ids: readonly string[];
    try {
      await runMigrations(db);
      ids = (await seedCatalog(db, products)).ids;
    } finally {
      await db.close();
    }
    const prefix = `bench:fl:${randomBytes(4).toString('hex')}:`;
    cleanup.defer(`delete Redis keys ${prefix}*`, async () => {
      await deleteRedisKeys(REDIS_URL, prefix);
    });

    // Both servers on the Node.js the image runs (the current LTS), not necessarily the one running this script.
    const node = shippedNode(repoRoot);
    const nodeVersion = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
    const launcher = { ...appLauncher(repoRoot), command: node };
    const app = await startAppProcess(
      launcher,
      'app (stage 10k, first level in front of Redis)',
      {
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        SESSION_SECRET: randomBytes(32).toString('hex'),
        DATABASE_URL: url,
        REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        CACHE_STORE: 'redis',
        SESSION_STORE: 'redis',
        AUTO_MIGRATE: 'false',
        SEED_DEMO_DATA: 'false',
      },
      repoRoot,
    );
    cleanup.defer('stop the app', () => app.stop());
    const bare = await startBaselineProcess(repoRoot, node);
    cleanup.defer('stop bare fastify', () => bare.stop());

    // Every product once, so the slices measure a warm cache (Redis and first level).
    await preloadProducts(app.url, ids);

    const zipf = new ZipfSampler(ids.length, exponent);
    const random = createRandom(42);
    const nextPath = () => `/api/products/${ids[zipf.sample(random)]}`;
    let script = '';
    if (useWrk) {
      // The same Zipf sequence as the other loads, long enough that its repetition does not matter.
      script = path.join(await mkdtemp(path.join(os.tmpdir(), 'first-level-wrk-')), 'paths.lua');
      cleanup.defer('remove the wrk script', () =>
        rm(path.dirname(script), { recursive: true, force: true }),
      );
      await writeFile(script, wrkScript(Array.from({ length: 50_000 }, nextPath)));
    }
    const slice = async (server: ManagedProcess, seconds: number): Promise<SliceFigures> =>
      useWrk
        ? wrkSlice(server, seconds, saturate, script)
        : saturate
          ? closedLoopSlice(server, seconds, saturate, nextPath)
          : openLoopSlice(server, seconds);
    const openLoopSlice = async (server: ManagedProcess, seconds: number): Promise<SliceFigures> => {
      const before = processCpuSeconds(server.pid);
      const started = performance.now();
      const result = await runOpenLoop({
        url: server.url,
        ratePerSecond: rate,
        durationSeconds: seconds,
        headers: EDGE_HEADERS,
        plan: () => ({
          op: 'productPage',
          method: 'GET',
          path: `/api/products/${ids[zipf.sample(random)]}`,
          headers: {},
        }),
      });
      const after = processCpuSeconds(server.pid);
      const elapsed = (performance.now() - started) / 1000;
      if (before === undefined || after === undefined)
        throw new Error(`cannot read /proc/${server.pid}/stat`);
      const ok = result.statusCodes['200'] ?? 0;
      return {
        cpuUs: round2(((after - before) * 1e6) / Math.max(1, result.requests)),
        servedPerSecond: Math.round(result.requestsPerSecond),
        cores: round2((after - before) / elapsed),
        p99Ms: result.latencyMs.p99,
        failures: result.scheduled - ok,
      };
    };

    await slice(bare, 2);
    await slice(app, 2);
    const countersBefore = await scrapeApp(app.metricsUrl);
    const rounds: RoundFigures[] = [];
    for (let r = 0; r < roundCount; r++) {
      const order: ('bare' | 'app')[] = r % 2 === 0 ? ['bare', 'app'] : ['app', 'bare'];
      const figures: Partial<Record<'bare' | 'app', SliceFigures>> = {};
      for (const which of order) figures[which] = await slice(which === 'bare' ? bare : app, sliceSeconds);
      const round = figures as RoundFigures;
      rounds.push(round);
      console.log(
        `round ${r + 1}/${roundCount}: bare ${round.bare.cpuUs} µs (${round.bare.servedPerSecond}/s), ` +
          `app ${round.app.cpuUs} µs (${round.app.servedPerSecond}/s)`,
      );
    }
    const counters = diffCounters(countersBefore.counters, (await scrapeApp(app.metricsUrl)).counters);
    const appRequests = rounds.reduce((sum, r) => sum + r.app.servedPerSecond * sliceSeconds, 0);
    const pastFirstLevel = counters.cacheHit + counters.cacheMiss + counters.cacheError;
    const summary = summariseRounds(rounds, saturate ? 0 : rate);
    const report = {
      generatedAt: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
        node: process.versions.node,
        serversNode: nodeVersion,
        loadAverage: os.loadavg().map(round2),
      },
      settings: {
        products,
        zipfExponent: exponent,
        load: saturate
          ? `closed loop, ${saturate} connections${useWrk ? ' (wrk)' : ''}`
          : `open loop at ${rate}/s`,
        sliceSeconds,
        rounds: roundCount,
        app: launcher.description,
      },
      summary,
      pastFirstLevelShare: round2(pastFirstLevel / Math.max(1, appRequests)),
      rounds,
    };
    const file = `first-level-${products}-products-${saturate ? `saturated${useWrk ? '-wrk' : ''}` : `${rate}-per-s`}.json`;
    await mkdir(outDir, { recursive: true });
    await writeFile(path.join(outDir, file), `${JSON.stringify(report, null, 2)}\n`);
    console.log(
      `\n${products} products (Zipf ${exponent}), ${report.settings.load}, ${roundCount} rounds of ${sliceSeconds} s:\n` +
        `  server CPU per request, medians: bare ${summary.bareCpuUs} µs, app ${summary.appCpuUs} µs\n` +
        `  bare / app per round, median: ${(summary.cpuShare * 100).toFixed(1)} % (the issue's target: >= 60 %)\n` +
        `  served per second, medians: bare ${summary.bareServedPerSecond}, app ${summary.appServedPerSecond}` +
        `${summary.roundsShort ? ` (${summary.roundsShort} rounds where a server fell behind or failed)` : ''}\n` +
        `  cores busy, medians: bare ${summary.bareCores}, app ${summary.appCores}` +
        `${saturate && summary.bareCores < 0.9 ? ' (bare below 0.9: the load generator, not bare fastify, set its rate; compare CPU per request)' : ''}\n` +
        `  pages past the first level to Redis: ${(report.pastFirstLevelShare * 100).toFixed(1)} %\n` +
        `  written: ${path.relative(process.cwd(), path.join(outDir, file))}`,
    );
  });
}

if (require.main === module) void main();
