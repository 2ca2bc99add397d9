import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SlidingQuantiles } from './sliding-quantiles';

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
  /**
   * HTTP request latency quantiles per route, over a sliding minute. The histogram above is the one to
   * aggregate; this is for collectors that cannot read histogram buckets: the ADOT collector's `awsemf`
   * exporter sends CloudWatch a histogram's count and sum only, but a summary's quantiles as they are, so
   * the dashboard can show each route's p99 (per task; CloudWatch takes the worst).
   *
   * A window of the last 40 to 60 s (3 age buckets rotated every 20 s; the collector scrapes once a minute).
   * Exported as prom-client's `Summary` would export it, but kept in DDSketches ({@link SlidingQuantiles}):
   * about 0.1 µs per request instead of prom-client's 2 µs.
   */
  readonly httpDurationQuantiles = new SlidingQuantiles({
    name: 'http_request_duration_quantile_seconds',
    help: 'HTTP request latency quantiles (p50, p99) in seconds over the last minute, by route',
    labelNames: ['route'] as const,
    quantiles: [0.5, 0.99],
    maxAgeSeconds: 60,
    ageBuckets: 3,
    registers: [this.registry],
  });

  /** Invalidation queue deliveries by outcome (a `dead_lettered` one failed its last attempt). */
  readonly queueMessages = new Counter({
    name: 'queue_messages_total',
    help: 'Invalidation queue deliveries, by result (processed, failed = will be redelivered, dead_lettered = failed its last attempt, retried = held while a dependency is down)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  /** Outbox rows the relay has published. */
  readonly outboxPublished = new Counter({
    name: 'outbox_rows_published_total',
    help: 'Invalidation outbox rows published to the queue by this instance',
    registers: [this.registry],
  });
  /** Time from a write's commit to its invalidation being applied (tag bump and broadcast). */
  readonly invalidationDelay = new Histogram({
    name: 'invalidation_delay_seconds',
    help: 'Seconds from the commit of a write to the application of its cache invalidation',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  /** First-level (in-process) cache lookups by result. */
  readonly firstLevelCacheRequests = new Counter({
    name: 'first_level_cache_requests_total',
    help: 'In-process first-level cache lookups, by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const result of ['processed', 'failed', 'dead_lettered', 'retried'] as const)
      this.queueMessages.inc({ result }, 0);
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
