/**
 * Drives one scenario with autocannon (programmatic API): fixed duration, fixed connections, and every
 * request planned on the fly by the workload (so the mix and the Zipf skew hold request by request).
 */
import autocannon from 'autocannon';
import type { Operation, PlannedRequest } from './workload';

/** Latency percentiles of a load run, in milliseconds. */
export interface LatencyFigures {
  readonly p50: number;
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

/** What one load run measured (autocannon's view; the app's counters are read separately). */
export interface LoadResult {
  readonly requests: number;
  readonly durationSeconds: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: LatencyFigures;
  readonly errors: ErrorCounts;
  readonly statusCodes: Record<string, number>;
  readonly operations: Partial<Record<Operation, { count: number; non2xx: number }>>;
  readonly sampleFailures: string[];
}

/** Options of {@link runLoad}. */
export interface RunLoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
  /** Stop after this many requests instead of after `durationSeconds` (warm-up passes). */
  readonly amount?: number;
  /** Plans the next request (see bench/workload.ts). */
  readonly plan: () => PlannedRequest;
  /** Headers added to every request (e.g. `x-forwarded-proto: https`, as the ALB sends). */
  readonly headers?: Record<string, string>;
  /** Per-request timeout. @default 10 */
  readonly timeoutSeconds?: number;
}

/** Runs the load and summarises it. */
export async function runLoad(options: RunLoadOptions): Promise<LoadResult> {
  const operations: Partial<Record<Operation, { count: number; non2xx: number }>> = {};
  const sampleFailures: string[] = [];
  const extra = options.headers ?? {};

  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    ...(options.amount ? { amount: options.amount } : { duration: options.durationSeconds }),
    timeout: options.timeoutSeconds ?? 10,
    requests: [
      {
        setupRequest: (request, context) => {
          const planned = options.plan();
          context.op = planned.op;
          return {
            ...request,
            method: planned.method,
            path: planned.path,
            headers: { ...request.headers, ...extra, ...planned.headers },
            body: planned.body,
          };
        },
        onResponse: (status, body, context) => {
          const op = context.op as Operation | undefined;
          if (!op) return;
          const tally = (operations[op] ??= { count: 0, non2xx: 0 });
          tally.count++;
          if (status < 200 || status > 299) {
            tally.non2xx++;
            if (sampleFailures.length < 10)
              sampleFailures.push(`${op} -> ${status}: ${String(body).slice(0, 200)}`);
          }
        },
      },
    ],
  });

  const statusCodes: Record<string, number> = {};
  for (const [code, value] of Object.entries(result.statusCodeStats ?? {})) {
    statusCodes[code] = (value as { count: number }).count;
  }
  const durationSeconds = result.duration;
  const requests = result.requests.total;
  return {
    requests,
    durationSeconds,
    requestsPerSecond: durationSeconds > 0 ? requests / durationSeconds : 0,
    latencyMs: {
      p50: result.latency.p50,
      p99: result.latency.p99,
      max: result.latency.max,
      mean: result.latency.average,
    },
    errors: { non2xx: result.non2xx, socket: result.errors - result.timeouts, timeouts: result.timeouts },
    statusCodes,
    operations,
    sampleFailures,
  };
}
