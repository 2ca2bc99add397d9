import { LogCollapsingLowestDenseDDSketch } from '@datadog/sketches-js';
import type { Registry } from 'prom-client';

/** Options of {@link SlidingQuantiles}. */
export interface SlidingQuantilesOptions<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /** Quantiles exported, e.g. `[0.5, 0.99]`. */
  quantiles: readonly number[];
  /** The window: observations older than this are gone from the quantiles. */
  maxAgeSeconds: number;
  /** Sketches the window is made of; the window covers the last `(ageBuckets - 1) / ageBuckets` to all of it. */
  ageBuckets: number;
  /** Relative error of a quantile. @default 0.01 */
  relativeAccuracy?: number;
  registers: readonly Registry[];
  /** The clock, for tests. @default Date.now */
  now?: () => number;
}

/** Bins a sketch keeps at most; past that its lowest bins collapse (only the lowest quantiles lose accuracy). */
const BIN_LIMIT = 2048;

/** One exported sample, as prom-client's registry reads it. */
interface ExportedValue {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

interface Bucket {
  /** The rotation period this bucket holds, or -1 when it holds none yet. */
  period: number;
  sketch: LogCollapsingLowestDenseDDSketch;
}

interface Series {
  labels: Record<string, string | number>;
  buckets: Bucket[];
  count: number;
  sum: number;
}

/**
 * A Prometheus summary over a sliding window, exported exactly as prom-client's `Summary` exports one
 * (`<name>{quantile="0.99",...}`, `<name>_sum`, `<name>_count`, type `summary`), with DDSketch
 * (@datadog/sketches-js) in place of prom-client's t-digests.
 *
 * prom-client's summary pushes every observation into the t-digest of every age bucket, about 2 µs per
 * request with three buckets; here an observation goes into the current bucket's sketch only (a logarithmic
 * bin index and an increment, about 0.1 µs), and a scrape merges the buckets of the window. Each quantile is
 * within `relativeAccuracy` (1 %) of the true one.
 */
export class SlidingQuantiles<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'summary' as const;
  readonly labelNames: readonly L[];
  private readonly quantiles: readonly number[];
  private readonly rotateMs: number;
  private readonly ageBuckets: number;
  private readonly relativeAccuracy: number;
  private readonly now: () => number;
  private readonly series = new Map<string, Series>();

  constructor(options: SlidingQuantilesOptions<L>) {
    if (!(options.ageBuckets >= 1) || !(options.maxAgeSeconds > 0))
      throw new Error(`${options.name}: ageBuckets must be >= 1 and maxAgeSeconds > 0`);
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.quantiles = options.quantiles;
    this.ageBuckets = options.ageBuckets;
    this.rotateMs = (options.maxAgeSeconds * 1000) / options.ageBuckets;
    this.relativeAccuracy = options.relativeAccuracy ?? 0.01;
    this.now = options.now ?? Date.now;
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  /** Records one observation (e.g. a request's seconds) for a label set. */
  observe(labels: Record<L, string | number>, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`${this.name}: value is not a finite number: ${value}`);
    let key = '';
    for (const name of this.labelNames) key += `${labels[name]}\u0000`;
    let series = this.series.get(key);
    if (!series) {
      const copy: Record<string, string | number> = {};
      for (const name of this.labelNames) copy[name] = labels[name];
      series = { labels: copy, buckets: [], count: 0, sum: 0 };
      for (let i = 0; i < this.ageBuckets; i++) series.buckets.push({ period: -1, sketch: this.sketch() });
      this.series.set(key, series);
    }
    const period = Math.floor(this.now() / this.rotateMs);
    const bucket = series.buckets[period % this.ageBuckets];
    if (bucket.period !== period) {
      bucket.period = period;
      bucket.sketch = this.sketch();
    }
    // A duration of 0 is kept as the sketch's zero count.
    bucket.sketch.accept(Math.max(0, value));
    series.count += 1;
    series.sum += value;
  }

  /** The metric as prom-client's registry renders it. */
  async get(): Promise<{
    name: string;
    help: string;
    type: 'summary';
    values: ExportedValue[];
    aggregator: 'sum';
  }> {
    const values: ExportedValue[] = [];
    const period = Math.floor(this.now() / this.rotateMs);
    for (const series of this.series.values()) {
      const window = this.sketch();
      for (const bucket of series.buckets)
        if (bucket.period > period - this.ageBuckets && bucket.period <= period) window.merge(bucket.sketch);
      for (const quantile of this.quantiles) {
        values.push({
          labels: { quantile, ...series.labels },
          // An empty window reads 0, as prom-client's summary reads it.
          value: window.count > 0 ? window.getValueAtQuantile(quantile) : 0,
        });
      }
      values.push({ metricName: `${this.name}_sum`, labels: series.labels, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: series.labels, value: series.count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  /** Forgets every observation (the registry's resetMetrics). */
  reset(): void {
    this.series.clear();
  }

  private sketch() {
    return new LogCollapsingLowestDenseDDSketch({
      relativeAccuracy: this.relativeAccuracy,
      binLimit: BIN_LIMIT,
    });
  }
}
