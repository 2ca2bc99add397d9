import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Which pool a query went to: the primary (writer) or a replica (reader). */
export type PoolRole = 'writer' | 'reader';

/** Result of a cache lookup as counted in `cache_requests_total`. */
export type CacheResult = 'hit' | 'miss' | 'error';

/**
 * The app's Prometheus metrics, in a registry of their own so that several app instances in one process
 * (tests) never collide.
 */
export class AppMetrics {
  /** The registry `/metrics` renders. */
  readonly registry = new Registry();
  /** Queries sent to each pool. */
  readonly dbQueries = new Counter({
    name: 'db_queries_total',
    help: 'SQL queries sent to the database, by pool',
    labelNames: ['pool'] as const,
    registers: [this.registry],
  });
  /** Cache lookups by result. */
  readonly cacheRequests = new Counter({
    name: 'cache_requests_total',
    help: 'Cache lookups, by result (hit, miss, error = cache unavailable, served from the database)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  /** HTTP request latency. */
  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency in seconds, by method, route and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Make the series exist from the start so dashboards and tests see zeros rather than gaps.
    for (const pool of ['writer', 'reader'] as const) this.dbQueries.inc({ pool }, 0);
    for (const result of ['hit', 'miss', 'error'] as const) this.cacheRequests.inc({ result }, 0);
  }

  /** Current value of a labelled counter (used by tests and the benchmark). */
  async counterValue(name: 'db_queries_total' | 'cache_requests_total', label: string): Promise<number> {
    const metric = name === 'db_queries_total' ? this.dbQueries : this.cacheRequests;
    const { values } = await metric.get();
    return values.find((v) => Object.values(v.labels).includes(label))?.value ?? 0;
  }
}
