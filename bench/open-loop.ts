/**
 * An open-loop load generator: requests are sent at a fixed arrival rate whatever the server does, and each
 * request's latency is measured from the moment it was *scheduled*, not from the moment it was sent.
 *
 * Why not autocannon's `overallRate` / `connectionRate` (autocannon 9, lib/httpClient.js and lib/run.js): a
 * rate-limited autocannon connection is still a closed loop. It sends its next request only when the previous
 * response has arrived, up to `rate` requests per one-second tick, and then pauses until the next tick. A
 * slow server therefore slows the generator down (coordinated omission), requests leave in bursts at each
 * second boundary, and the latency is measured from the actual send time. Its correction
 * (`recordValueWithExpectedInterval(responseTime, Math.ceil(1 / rate))`) passes the expected interval in the
 * wrong unit: `1 / rate` is in seconds while latencies are in milliseconds, so the interval is always 1 ms and
 * every slow response is back-filled with one synthetic sample per millisecond. Neither the load nor the
 * corrected histogram is what an open-loop test measures.
 *
 * Here: request `i` is due at `i / rate` seconds after the start. A timer dispatches every due request at
 * once (never waiting for responses) onto an undici Pool with many keep-alive connections; a request that
 * finds every connection busy waits in the pool's queue, and that wait counts in its latency, as it would
 * for a user. Latencies go into an HdrHistogram (hdr-histogram-js, microsecond resolution). The generator's
 * own lateness (dispatch time minus scheduled time) is reported separately, so a run where the generator,
 * not the server, fell behind is visible.
 */
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';
import type { Operation, PlannedRequest } from './workload';

/** Latency percentiles of a load run, in milliseconds (measured from the scheduled send time). */
export interface LatencyFigures {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Failed requests of a load run, by kind. */
export interface ErrorCounts {
  readonly non2xx: number;
  readonly socket: number;
  readonly timeouts: number;
}

/** Requests and failures of one operation of the workload. */
export interface OperationTally {
  readonly count: number;
  readonly non2xx: number;
  /** Mean latency of the operation's requests, ms (from the scheduled time). */
  readonly meanMs: number;
  /** p99 latency of the operation's requests, ms. */
  readonly p99Ms: number;
}

/** What one open-loop run measured (the app's and the database's counters are read separately). */
export interface LoadResult {
  /** The arrival rate asked for. */
  readonly offeredRate: number;
  /** Requests scheduled (rate × duration). */
  readonly scheduled: number;
  /** Requests that got an HTTP answer (any status). */
  readonly requests: number;
  /** Scheduled length of the run, s. */
  readonly durationSeconds: number;
  /** Answered requests per second of the scheduled duration. */
  readonly requestsPerSecond: number;
  readonly latencyMs: LatencyFigures;
  /** How late the generator dispatched requests (p99 and max, ms); large values mean the generator lagged. */
  readonly dispatchLagMs: { readonly p99: number; readonly max: number };
  readonly errors: ErrorCounts;
  readonly statusCodes: Record<string, number>;
  readonly operations: Partial<Record<Operation, OperationTally>>;
  readonly sampleFailures: string[];
}

/** Options of {@link runOpenLoop}. */
export interface OpenLoopOptions {
  readonly url: string;
  /** Arrivals per second. */
  readonly ratePerSecond: number;
  readonly durationSeconds: number;
  /** Plans the request due at `scheduledMs` (ms after the start); called at dispatch time, in order. */
  readonly plan: (scheduledMs: number) => PlannedRequest;
  /** Headers added to every request (e.g. `x-forwarded-proto: https`, as the ALB sends). */
  readonly headers?: Record<string, string>;
  /** Keep-alive connections of the pool. @default 256 */
  readonly connections?: number;
  /** Per-request timeout (headers and body), s. @default 10 */
  readonly timeoutSeconds?: number;
}

/** The scheduled send time of request `index` at `ratePerSecond`, in ms after the start. */
export function scheduledTimeMs(index: number, ratePerSecond: number): number {
  return (index * 1000) / ratePerSecond;
}

/** Number of requests a run schedules. */
export function scheduledCount(ratePerSecond: number, durationSeconds: number): number {
  if (!(ratePerSecond > 0) || !(durationSeconds > 0)) {
    throw new Error(
      `open-loop run needs a rate and a duration above 0, got rate ${ratePerSecond}/s and ${durationSeconds} s`,
    );
  }
  return Math.max(1, Math.floor(ratePerSecond * durationSeconds));
}

function histogram(): hdr.Histogram {
  // Microseconds, 1 µs to 10 min, 3 significant digits.
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

const ms = (micros: number) => Math.round(micros / 10) / 100;

function isTimeout(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

/** Runs the open-loop load and summarises it. Resolves once every scheduled request has ended. */
export async function runOpenLoop(options: OpenLoopOptions): Promise<LoadResult> {
  const total = scheduledCount(options.ratePerSecond, options.durationSeconds);
  const timeoutMs = (options.timeoutSeconds ?? 10) * 1000;
  const origin = new URL(options.url).origin;
  const pool = new Pool(origin, {
    connections: options.connections ?? 256,
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 60_000,
  });
  const extra = options.headers ?? {};
  const latency = histogram();
  const lag = histogram();
  const perOp = new Map<Operation, { hist: hdr.Histogram; count: number; non2xx: number }>();
  const statusCodes: Record<string, number> = {};
  const sampleFailures: string[] = [];
  let answered = 0;
  let non2xx = 0;
  let socket = 0;
  let timeouts = 0;
  const pending = new Set<Promise<void>>();

  const send = async (planned: PlannedRequest, dueAt: number) => {
    let status = 0;
    let failure: string | undefined;
    try {
      const response = await pool.request({
        method: planned.method,
        path: planned.path,
        headers: { ...extra, ...planned.headers },
        body: planned.body,
      });
      status = response.statusCode;
      if (status >= 200 && status <= 299) await response.body.dump();
      else failure = (await response.body.text()).slice(0, 200);
    } catch (error) {
      if (isTimeout(error)) timeouts++;
      else socket++;
      failure = `${(error as Error).message}`;
    }
    const elapsed = Math.max(1, Math.round((performance.now() - dueAt) * 1000));
    if (status > 0) {
      answered++;
      statusCodes[status] = (statusCodes[status] ?? 0) + 1;
      if (status < 200 || status > 299) non2xx++;
    }
    // Failed requests are latency too: a timeout is at least as slow as its timeout.
    latency.recordValue(elapsed);
    const tally = perOp.get(planned.op) ?? { hist: histogram(), count: 0, non2xx: 0 };
    perOp.set(planned.op, tally);
    tally.count++;
    tally.hist.recordValue(elapsed);
    if (status < 200 || status > 299) {
      if (status > 0) tally.non2xx++;
      if (sampleFailures.length < 10)
        sampleFailures.push(`${planned.op} -> ${status || 'error'}: ${failure}`);
    }
  };

  const start = performance.now();
  await new Promise<void>((resolve) => {
    let next = 0;
    const tick = () => {
      const now = performance.now();
      while (next < total) {
        const dueAt = start + scheduledTimeMs(next, options.ratePerSecond);
        if (dueAt > now) break;
        lag.recordValue(Math.max(1, Math.round((now - dueAt) * 1000)));
        const planned = options.plan(dueAt - start);
        const request = send(planned, dueAt).finally(() => pending.delete(request));
        pending.add(request);
        next++;
      }
      if (next >= total) {
        resolve();
        return;
      }
      const wait = start + scheduledTimeMs(next, options.ratePerSecond) - performance.now();
      setTimeout(tick, Math.max(0, Math.floor(wait)));
    };
    tick();
  });
  await Promise.allSettled([...pending]);
  await pool.close();

  const operations: Partial<Record<Operation, OperationTally>> = {};
  for (const [op, t] of perOp) {
    operations[op] = {
      count: t.count,
      non2xx: t.non2xx,
      meanMs: ms(t.hist.mean),
      p99Ms: ms(t.hist.getValueAtPercentile(99)),
    };
  }
  return {
    offeredRate: options.ratePerSecond,
    scheduled: total,
    requests: answered,
    durationSeconds: options.durationSeconds,
    requestsPerSecond: answered / options.durationSeconds,
    latencyMs: {
      p50: ms(latency.getValueAtPercentile(50)),
      p90: ms(latency.getValueAtPercentile(90)),
      p99: ms(latency.getValueAtPercentile(99)),
      max: ms(latency.maxValue),
      mean: ms(latency.mean),
    },
    dispatchLagMs: { p99: ms(lag.getValueAtPercentile(99)), max: ms(lag.maxValue) },
    errors: { non2xx, socket, timeouts },
    statusCodes,
    operations,
    sampleFailures,
  };
}
