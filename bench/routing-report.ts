/**
 * The pure parts of the routing-overhead benchmark (bench/routing.ts): its options and the arithmetic of its
 * report. Kept apart so that a test can check them without starting servers.
 */

/** Options of `npm run bench:routing -- [--users=300] ...`. */
export interface RoutingOptions {
  readonly users: number;
  readonly ordersPerUser: number;
  /** Open-loop arrivals per second, the same for both apps. */
  readonly rate: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  /** A/B rounds: each round measures the unsharded app, then the sharded one. */
  readonly rounds: number;
}

const FLAGS: Readonly<Record<string, keyof RoutingOptions>> = {
  users: 'users',
  'orders-per-user': 'ordersPerUser',
  rate: 'rate',
  warmup: 'warmupSeconds',
  duration: 'durationSeconds',
  rounds: 'rounds',
};

export const DEFAULT_ROUTING_OPTIONS: RoutingOptions = {
  users: 300,
  ordersPerUser: 5,
  rate: 200,
  warmupSeconds: 5,
  durationSeconds: 20,
  rounds: 2,
};

/**
 * Parses `--name=value` arguments (every value a positive number; users, orders per user and rounds whole).
 * @throws Error naming the flag and what it accepts
 */
export function parseRoutingOptions(argv: readonly string[]): RoutingOptions {
  const options: Record<keyof RoutingOptions, number> = { ...DEFAULT_ROUTING_OPTIONS };
  for (const arg of argv) {
    const match = /^--([a-z-]+)=(.*)$/.exec(arg);
    const key = match ? FLAGS[match[1]] : undefined;
    if (!match || key === undefined)
      throw new Error(
        `unknown argument "${arg}": use ${Object.keys(FLAGS)
          .map((f) => `--${f}=N`)
          .join(' ')}`,
      );
    const value = Number(match[2]);
    const whole = key === 'users' || key === 'ordersPerUser' || key === 'rounds';
    if (!Number.isFinite(value) || value <= 0 || (whole && !Number.isInteger(value)))
      throw new Error(`--${match[1]} must be a positive ${whole ? 'whole ' : ''}number, got "${match[2]}"`);
    options[key] = value;
  }
  return options;
}

/** What one measured run (one app, one round) gave. */
export interface RunFigures {
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Requests that got an answer. */
  readonly requests: number;
  /** Answers that were not 2xx, socket errors and timeouts. */
  readonly failures: number;
  /** db_queries_total of the app process, after minus before the run. */
  readonly queries: number;
}

/** One app's figures over the rounds: p50 and p99 are the means of the rounds' values. */
export interface VariantSummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  readonly failures: number;
  /** Queries per answered request (null when nothing was answered). */
  readonly queriesPerRequest: number | null;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Sums and averages the rounds of one app. @throws Error when there are none */
export function summariseVariant(runs: readonly RunFigures[]): VariantSummary {
  if (runs.length === 0) throw new Error('summariseVariant needs at least one run');
  const requests = runs.reduce((s, r) => s + r.requests, 0);
  const queries = runs.reduce((s, r) => s + r.queries, 0);
  return {
    p50Ms: round2(runs.reduce((s, r) => s + r.p50Ms, 0) / runs.length),
    p99Ms: round2(runs.reduce((s, r) => s + r.p99Ms, 0) / runs.length),
    requests,
    failures: runs.reduce((s, r) => s + r.failures, 0),
    queriesPerRequest: requests > 0 ? round2(queries / requests) : null,
  };
}

/** The routing overhead: sharded minus unsharded, and whether the p50 target holds. */
export interface Overhead {
  readonly addedP50Ms: number;
  readonly addedP99Ms: number;
  readonly targetAddedP50Ms: number;
  readonly p50TargetMet: boolean;
}

/** The issue's target: less than 0.5 ms added at p50. */
export const TARGET_ADDED_P50_MS = 0.5;

export function overhead(unsharded: VariantSummary, sharded: VariantSummary): Overhead {
  const addedP50Ms = round2(sharded.p50Ms - unsharded.p50Ms);
  return {
    addedP50Ms,
    addedP99Ms: round2(sharded.p99Ms - unsharded.p99Ms),
    targetAddedP50Ms: TARGET_ADDED_P50_MS,
    p50TargetMet: addedP50Ms < TARGET_ADDED_P50_MS,
  };
}
