/**
 * Turns measured scenarios into the report: derived figures (queries per 1,000 requests, hit ratio),
 * the targets with pass/fail, and the Markdown table. Pure functions, unit-tested.
 */
import type { ErrorCounts, LatencyFigures } from './load';
import type { AppCounters } from './metrics';
import type { Operation } from './workload';

/** Which database server a connection pool of the app reaches in a topology. */
export type ServerRole = 'primary' | 'replica';

/** Database load measured during a scenario, from the app's own counters. */
export interface DbFigures {
  readonly primaryQueries: number;
  readonly replicaQueries: number;
  readonly primaryPer1000: number;
  readonly replicaPer1000: number;
}

/** Cache effectiveness measured during a scenario. */
export interface CacheFigures {
  readonly hits: number;
  readonly misses: number;
  readonly errors: number;
  /** hits / (hits + misses + errors); `null` when the cache was never asked (no cache). */
  readonly hitRatio: number | null;
}

/** One measured scenario (a topology, the framework baseline, or the single-process check). */
export interface ScenarioResult {
  readonly id: string;
  readonly label: string;
  readonly description: string;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: LatencyFigures;
  readonly errors: ErrorCounts;
  readonly statusCodes: Readonly<Record<string, number>>;
  /** Requests and non-2xx answers per operation of the workload. */
  readonly operations?: Readonly<
    Partial<Record<Operation, { readonly count: number; readonly non2xx: number }>>
  >;
  /** Absent for the bare-framework baseline (it has no database). */
  readonly db?: DbFigures;
  /** Absent for the bare-framework baseline. */
  readonly cache?: CacheFigures;
  /** Server-side mean latency per route (the app's own histogram), to show where time goes. */
  readonly serverRoutes?: Readonly<Record<string, { readonly count: number; readonly meanMs: number }>>;
  /** First few non-2xx answers (status and a body excerpt), to explain errors. */
  readonly sampleFailures?: readonly string[];
  readonly notes?: readonly string[];
}

/** A target from the issue, evaluated against this run. */
export interface TargetResult {
  readonly id: string;
  readonly description: string;
  readonly measured: string;
  readonly met: boolean;
}

/** The whole report as written to bench/results/runtime.json. */
export interface BenchmarkReport {
  readonly generatedAt: string;
  readonly machine: {
    readonly cpus: number;
    readonly cpuModel: string;
    readonly node: string;
    readonly os: string;
    /** 1-minute load average when the run started (other work on the machine skews every figure). */
    readonly loadAverageAtStart?: number;
  };
  readonly options: Readonly<Record<string, unknown>>;
  readonly scenarios: readonly ScenarioResult[];
  readonly targets: readonly TargetResult[];
  readonly notes: readonly string[];
}

/** Scenario ids the targets refer to. */
export const SCENARIO_IDS = {
  baseline: 'bare-fastify',
  stage1k: 'stage-1k',
  stage10k: 'stage-10k',
  cachedReads: 'app-cached-reads',
} as const;

/** Target thresholds from issue 5 (not to be loosened). */
export const TARGETS = {
  primaryReduction: 0.9,
  cachedReadShareOfBaseline: 0.4,
  p99Ms: 200,
} as const;

/**
 * Queries per server and per 1,000 requests. `roles` says which server each app pool reached in the
 * topology (in stage 1k both pools are the one primary; in 10k the reader pool is the replica).
 */
export function dbFigures(
  counters: AppCounters,
  requests: number,
  roles: { readonly writer: ServerRole; readonly reader: ServerRole },
): DbFigures {
  const on = (role: ServerRole) =>
    (roles.writer === role ? counters.dbWriter : 0) + (roles.reader === role ? counters.dbReader : 0);
  const per1000 = (n: number) => (requests > 0 ? (n * 1000) / requests : 0);
  const primaryQueries = on('primary');
  const replicaQueries = on('replica');
  return {
    primaryQueries,
    replicaQueries,
    primaryPer1000: per1000(primaryQueries),
    replicaPer1000: per1000(replicaQueries),
  };
}

/** Cache figures from counter deltas. */
export function cacheFigures(counters: AppCounters): CacheFigures {
  const asked = counters.cacheHit + counters.cacheMiss + counters.cacheError;
  return {
    hits: counters.cacheHit,
    misses: counters.cacheMiss,
    errors: counters.cacheError,
    hitRatio: asked > 0 ? counters.cacheHit / asked : null,
  };
}

/** Total failed requests of a scenario: non-2xx answers, socket errors and timeouts. */
export function totalErrors(s: ScenarioResult): number {
  return s.errors.non2xx + s.errors.socket + s.errors.timeouts;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const num = (x: number, digits = 1) => x.toFixed(digits);

/** Evaluates the three targets (the third one per scenario) for this run. */
export function evaluateTargets(scenarios: readonly ScenarioResult[]): TargetResult[] {
  const byId = (id: string) => scenarios.find((s) => s.id === id);
  const targets: TargetResult[] = [];

  const s1k = byId(SCENARIO_IDS.stage1k);
  const s10k = byId(SCENARIO_IDS.stage10k);
  const reductionDescription =
    `stage 10k sends >= ${pct(TARGETS.primaryReduction)} fewer queries per 1,000 requests to the primary ` +
    'than stage 1k';
  if (s1k?.db && s10k?.db && s1k.db.primaryPer1000 > 0) {
    const reduction = 1 - s10k.db.primaryPer1000 / s1k.db.primaryPer1000;
    targets.push({
      id: 'primary-query-reduction',
      description: reductionDescription,
      measured:
        `${pct(reduction)} fewer (${num(s1k.db.primaryPer1000)} -> ${num(s10k.db.primaryPer1000)} primary ` +
        'queries per 1,000 requests)',
      met: reduction >= TARGETS.primaryReduction,
    });
  } else {
    targets.push({
      id: 'primary-query-reduction',
      description: reductionDescription,
      measured: 'not measured (stage 1k or 10k missing, or no primary queries counted in 1k)',
      met: false,
    });
  }

  const base = byId(SCENARIO_IDS.baseline);
  const cached = byId(SCENARIO_IDS.cachedReads);
  const shareDescription =
    `a single app process serving cached product reads reaches >= ${pct(TARGETS.cachedReadShareOfBaseline)} ` +
    'of the bare fastify throughput';
  if (base && cached && base.requestsPerSecond > 0) {
    const share = cached.requestsPerSecond / base.requestsPerSecond;
    targets.push({
      id: 'cached-read-throughput',
      description: shareDescription,
      measured: `${pct(share)} (${num(cached.requestsPerSecond, 0)} vs ${num(base.requestsPerSecond, 0)} req/s)`,
      met: share >= TARGETS.cachedReadShareOfBaseline,
    });
  } else {
    targets.push({
      id: 'cached-read-throughput',
      description: shareDescription,
      measured: 'not measured (baseline or cached-read scenario missing)',
      met: false,
    });
  }

  for (const s of scenarios) {
    const errors = totalErrors(s);
    targets.push({
      id: `p99-and-errors:${s.id}`,
      description: `${s.label}: p99 < ${TARGETS.p99Ms} ms at ${s.connections} connections, zero errors`,
      measured: `p99 ${num(s.latencyMs.p99, 0)} ms, ${errors} errors`,
      met: s.latencyMs.p99 < TARGETS.p99Ms && errors === 0 && s.requests > 0,
    });
  }
  return targets;
}

const dash = '–';

/** The results table (one row per scenario) followed by the targets, as GitHub Markdown. */
export function renderMarkdown(report: BenchmarkReport): string {
  const lines = [
    `Measured ${report.generatedAt} on ${report.machine.cpus} cores (${report.machine.cpuModel}), ` +
      `Node ${report.machine.node}; ${String(report.options.durationSeconds)} s per scenario, ` +
      `${String(report.options.connections)} connections` +
      (report.machine.loadAverageAtStart !== undefined
        ? `; load average ${report.machine.loadAverageAtStart.toFixed(2)} at start.`
        : '.'),
    '',
    '| scenario | req/s | p50 ms | p99 ms | max ms | errors | primary q / 1k req | replica q / 1k req | cache hit ratio |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const s of report.scenarios) {
    lines.push(
      `| ${s.label} | ${num(s.requestsPerSecond, 0)} | ${num(s.latencyMs.p50)} | ${num(s.latencyMs.p99)} | ` +
        `${num(s.latencyMs.max)} | ${totalErrors(s)} | ${s.db ? num(s.db.primaryPer1000) : dash} | ` +
        `${s.db ? num(s.db.replicaPer1000) : dash} | ` +
        `${s.cache?.hitRatio != null ? pct(s.cache.hitRatio) : dash} |`,
    );
  }
  const withRoutes = report.scenarios.filter((s) => s.serverRoutes && Object.keys(s.serverRoutes).length);
  if (withRoutes.length) {
    const routes = [...new Set(withRoutes.flatMap((s) => Object.keys(s.serverRoutes!)))].sort();
    lines.push(
      '',
      `| server-side mean latency, ms (app histogram) | ${withRoutes.map((s) => s.label).join(' | ')} |`,
      `|---|${withRoutes.map(() => '--:').join('|')}|`,
    );
    for (const route of routes) {
      const cells = withRoutes.map((s) => {
        const t = s.serverRoutes![route];
        return t ? `${num(t.meanMs)} (${t.count})` : dash;
      });
      lines.push(`| \`${route}\` | ${cells.join(' | ')} |`);
    }
  }
  lines.push('', '| target | measured | met |', '|---|---|---|');
  for (const t of report.targets) {
    lines.push(`| ${t.description} | ${t.measured} | ${t.met ? 'yes' : '**no**'} |`);
  }
  const notes = [...report.notes, ...report.scenarios.flatMap((s) => s.notes ?? [])];
  if (notes.length) {
    lines.push('', ...[...new Set(notes)].map((n) => `- ${n}`));
  }
  return lines.join('\n') + '\n';
}
