/**
 * Reads the app's own Prometheus counters (db_queries_total{pool}, cache_requests_total{result}) so the
 * report counts queries and cache hits where they happen, not where the load generator guesses.
 */

/** One sample line of the Prometheus text format. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses Prometheus text exposition format (comments and blank lines are skipped). */
export function parsePrometheusText(text: string): PromSample[] {
  const samples: PromSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) {
      labels[key] = value.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const value = match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : Number(match[3]);
    samples.push({ name: match[1], labels, value });
  }
  return samples;
}

/** Sum of every sample called `name` whose labels include all of `where`. */
export function sumSamples(
  samples: readonly PromSample[],
  name: string,
  where: Readonly<Record<string, string>> = {},
): number {
  return samples
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** The counters the benchmark reads from one app process. */
export interface AppCounters {
  readonly dbWriter: number;
  readonly dbReader: number;
  readonly cacheHit: number;
  readonly cacheMiss: number;
  readonly cacheError: number;
}

/** An all-zero {@link AppCounters}. */
export const ZERO_COUNTERS: AppCounters = {
  dbWriter: 0,
  dbReader: 0,
  cacheHit: 0,
  cacheMiss: 0,
  cacheError: 0,
};

/** Extracts {@link AppCounters} from a /metrics body; fails when db_queries_total is absent. */
export function countersFromMetrics(text: string): AppCounters {
  const samples = parsePrometheusText(text);
  if (!samples.some((s) => s.name === 'db_queries_total')) {
    throw new Error(
      'the /metrics body has no db_queries_total counter (expected db_queries_total{pool="writer"|"reader"})',
    );
  }
  return {
    dbWriter: sumSamples(samples, 'db_queries_total', { pool: 'writer' }),
    dbReader: sumSamples(samples, 'db_queries_total', { pool: 'reader' }),
    cacheHit: sumSamples(samples, 'cache_requests_total', { result: 'hit' }),
    cacheMiss: sumSamples(samples, 'cache_requests_total', { result: 'miss' }),
    cacheError: sumSamples(samples, 'cache_requests_total', { result: 'error' }),
  };
}

/** Field-wise `after - before`. */
export function diffCounters(before: AppCounters, after: AppCounters): AppCounters {
  return {
    dbWriter: after.dbWriter - before.dbWriter,
    dbReader: after.dbReader - before.dbReader,
    cacheHit: after.cacheHit - before.cacheHit,
    cacheMiss: after.cacheMiss - before.cacheMiss,
    cacheError: after.cacheError - before.cacheError,
  };
}

/** Field-wise sum (e.g. across the app processes of a topology). */
export function addCounters(...all: AppCounters[]): AppCounters {
  return all.reduce(
    (sum, c) => ({
      dbWriter: sum.dbWriter + c.dbWriter,
      dbReader: sum.dbReader + c.dbReader,
      cacheHit: sum.cacheHit + c.cacheHit,
      cacheMiss: sum.cacheMiss + c.cacheMiss,
      cacheError: sum.cacheError + c.cacheError,
    }),
    ZERO_COUNTERS,
  );
}

/** Server-side request count and total seconds per "METHOD route" (http_request_duration_seconds). */
export type RouteTimes = Record<string, { readonly count: number; readonly seconds: number }>;

/** Extracts per-route totals from a /metrics body (all status codes together). */
export function routeTimesFromMetrics(text: string): RouteTimes {
  const times: Record<string, { count: number; seconds: number }> = {};
  for (const s of parsePrometheusText(text)) {
    const isCount = s.name === 'http_request_duration_seconds_count';
    if (!isCount && s.name !== 'http_request_duration_seconds_sum') continue;
    const key = `${s.labels.method ?? '?'} ${s.labels.route ?? '?'}`;
    const entry = (times[key] ??= { count: 0, seconds: 0 });
    if (isCount) entry.count += s.value;
    else entry.seconds += s.value;
  }
  return times;
}

/** Per-route `after - before`, summed over processes; routes without requests in between are dropped. */
export function diffRouteTimes(pairs: readonly { before: RouteTimes; after: RouteTimes }[]): RouteTimes {
  const out: Record<string, { count: number; seconds: number }> = {};
  for (const { before, after } of pairs) {
    for (const [route, a] of Object.entries(after)) {
      const b = before[route] ?? { count: 0, seconds: 0 };
      const entry = (out[route] ??= { count: 0, seconds: 0 });
      entry.count += a.count - b.count;
      entry.seconds += a.seconds - b.seconds;
    }
  }
  for (const route of Object.keys(out)) if (out[route].count <= 0) delete out[route];
  return out;
}

/** What one scrape of an app process gives the benchmark. */
export interface AppScrape {
  readonly counters: AppCounters;
  readonly routes: RouteTimes;
}

/**
 * Fetches and parses the counters of one app process. `metricsUrl` is the process's metrics listener
 * (METRICS_PORT), not its main port: the main port answers 404 for /metrics.
 */
export async function scrapeApp(metricsUrl: string): Promise<AppScrape> {
  const response = await fetch(new URL('/metrics', metricsUrl));
  if (!response.ok)
    throw new Error(
      `GET ${metricsUrl}/metrics answered ${response.status} (is this the app's METRICS_PORT listener?)`,
    );
  const text = await response.text();
  return { counters: countersFromMetrics(text), routes: routeTimesFromMetrics(text) };
}
