/**
 * Command-line flags and environment variables of `npm run bench`, validated all at once (every bad
 * value is named in one error).
 */
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_MIX, validateMix, type WorkloadMix } from './workload';

/** Everything a benchmark run can be told. */
export interface BenchOptions {
  /** Measured seconds per scenario (`--duration`, `BENCH_DURATION`). */
  readonly durationSeconds: number;
  /**
   * Unmeasured seconds at the fixed rate before the measured window (`--warmup`, `BENCH_WARMUP`); the default,
   * 60 s, is the app's cache TTL, so the window sees the cache in its steady state, not filling up.
   */
  readonly warmupSeconds: number;
  /** Fixed arrival rate of the measured window, the same for every topology (`--rate`, `BENCH_RATE`). */
  readonly rate: number;
  /** Keep-alive connections of the load generator's pool (`--connections`, `BENCH_CONNECTIONS`). */
  readonly connections: number;
  /** Share of product and catalog page views made by logged-in customers (`--customer-browse-share`). */
  readonly customerBrowseShare: number;
  /** Shortest gap between two requests of one customer, ms (`--think-ms`). */
  readonly minThinkMs: number;
  /** Run the max-throughput sweep (`--sweep=on|off`). */
  readonly sweep: boolean;
  /** First rate of the sweep (`--sweep-start`). */
  readonly sweepStart: number;
  /** Factor between two sweep steps (`--sweep-factor`). */
  readonly sweepFactor: number;
  /** Most steps of a sweep (`--sweep-steps`). */
  readonly sweepSteps: number;
  /** Measured seconds per sweep step (`--sweep-duration`). */
  readonly sweepDurationSeconds: number;
  /**
   * Keep stepping past the knee (`--sweep-past-knee=on`): every step is measured, for per-request CPU at the
   * same rates on a machine too busy for the p99 limit. The knee is still the last step of the passing prefix.
   */
  readonly sweepPastKnee: boolean;
  /** Orders placed one at a time to measure statements per order (`--order-probe`, 0 = skip). */
  readonly orderProbe: number;
  /** Products seeded (`--products`). */
  readonly products: number;
  /** Customers seeded (`--users`). */
  readonly users: number;
  /** Orders seeded per customer (`--orders-per-user`). */
  readonly ordersPerUser: number;
  /** Customers logged in before the run: the population of distinct customers (`--logins`). */
  readonly logins: number;
  /** App processes behind the balancer in stage 10k (`--app-processes`). */
  readonly appProcesses: number;
  /** Zipf exponent of product and catalog-page popularity (`--zipf`). */
  readonly zipfExponent: number;
  /** Seed of the workload's random choices (`--seed`). */
  readonly seed: number;
  /** Scenario ids to run (`--only=a,b`); empty = all. */
  readonly only: readonly string[];
  /** Where results are written (`--out`); a quick run defaults to a temporary directory. */
  readonly outDir: string;
  /** The request mix of the stage scenarios (`--mix=productPage:0.7,catalogPage:0.3`, unnamed = 0). */
  readonly mix: WorkloadMix;
  /** A smoke run: short, small data set (`--quick`). */
  readonly quick: boolean;
  /** Redis server (`BENCH_REDIS_URL`). */
  readonly redisUrl: string;
}

/** Scenario ids accepted by `--only`. */
export const ALL_SCENARIOS = ['bare-fastify', 'stage-1k', 'stage-10k', 'app-cached-reads'] as const;

const USAGE = `usage: npm run bench -- [--quick] [--rate=R] [--duration=S] [--warmup=S] [--connections=N]
       [--products=N] [--users=N] [--orders-per-user=N] [--logins=N] [--customer-browse-share=X]
       [--think-ms=MS] [--app-processes=N] [--zipf=X] [--seed=N] [--sweep=on|off] [--sweep-start=R]
       [--sweep-factor=X] [--sweep-steps=N] [--sweep-duration=S] [--sweep-past-knee=on|off] [--order-probe=N]
       [--only=${ALL_SCENARIOS.join(',')}] [--out=DIR] [--mix=productPage:0.6,catalogPage:0.2,...]
env:   BENCH_RATE, BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_REDIS_URL`;

/** Help text printed by `--help` and after a bad flag. */
export function usage(): string {
  return USAGE;
}

/**
 * Parses flags (`--name=value` or `--name value`) over environment variables over defaults.
 * @throws Error naming every bad flag or variable, with the value received
 */
export function parseOptions(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  repoRoot: string,
): BenchOptions {
  const flags = new Map<string, string>();
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) {
      problems.push(`unexpected argument "${arg}"`);
      continue;
    }
    const [, name, inline] = match;
    if (name === 'quick' || name === 'help') flags.set(name, 'true');
    else if (inline !== undefined) flags.set(name, inline);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags.set(name, argv[++i]);
    else problems.push(`--${name} needs a value`);
  }
  const known = new Set([
    'quick',
    'help',
    'duration',
    'warmup',
    'rate',
    'connections',
    'customer-browse-share',
    'think-ms',
    'sweep',
    'sweep-start',
    'sweep-factor',
    'sweep-steps',
    'sweep-duration',
    'sweep-past-knee',
    'order-probe',
    'products',
    'users',
    'orders-per-user',
    'logins',
    'app-processes',
    'zipf',
    'seed',
    'only',
    'out',
    'mix',
  ]);
  for (const name of flags.keys()) if (!known.has(name)) problems.push(`unknown flag --${name}`);

  const quick = flags.has('quick');
  const number = (
    flag: string,
    envName: string | undefined,
    fallback: number,
    check: { min: number; max: number; integer: boolean },
  ): number => {
    const raw = flags.get(flag) ?? (envName ? env[envName] : undefined);
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    const source = flags.has(flag) ? `--${flag}` : envName!;
    if (!Number.isFinite(value) || (check.integer && !Number.isInteger(value))) {
      problems.push(`${source} must be ${check.integer ? 'an integer' : 'a number'}, got "${raw}"`);
    } else if (value < check.min || value > check.max) {
      problems.push(`${source} must be between ${check.min} and ${check.max}, got ${value}`);
    }
    return value;
  };
  const int = (min: number, max: number) => ({ min, max, integer: true });

  const only = (flags.get('only') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const id of only) {
    if (!(ALL_SCENARIOS as readonly string[]).includes(id)) {
      problems.push(`--only: unknown scenario "${id}" (known: ${ALL_SCENARIOS.join(', ')})`);
    }
  }

  let mix: WorkloadMix = DEFAULT_MIX;
  if (flags.has('mix')) {
    const weights: Record<string, number> = Object.fromEntries(Object.keys(DEFAULT_MIX).map((op) => [op, 0]));
    for (const part of flags.get('mix')!.split(',')) {
      const [op, value] = part.split(':');
      if (!(op in DEFAULT_MIX))
        problems.push(`--mix: unknown operation "${op}" (known: ${Object.keys(DEFAULT_MIX).join(', ')})`);
      else weights[op] = Number(value);
    }
    try {
      validateMix(weights as unknown as WorkloadMix);
      mix = weights as unknown as WorkloadMix;
    } catch (error) {
      problems.push(`--mix: ${(error as Error).message}`);
    }
  }

  const sweepFlag = flags.get('sweep') ?? (quick ? 'off' : 'on');
  if (sweepFlag !== 'on' && sweepFlag !== 'off')
    problems.push(`--sweep must be on or off, got "${sweepFlag}"`);
  const pastKneeFlag = flags.get('sweep-past-knee') ?? 'off';
  if (pastKneeFlag !== 'on' && pastKneeFlag !== 'off')
    problems.push(`--sweep-past-knee must be on or off, got "${pastKneeFlag}"`);
  const rate = number('rate', 'BENCH_RATE', quick ? 100 : 250, { min: 1, max: 100_000, integer: false });
  const options: BenchOptions = {
    mix,
    quick,
    rate,
    durationSeconds: number('duration', 'BENCH_DURATION', quick ? 3 : 30, {
      min: 1,
      max: 3600,
      integer: false,
    }),
    warmupSeconds: number('warmup', 'BENCH_WARMUP', quick ? 1 : 60, { min: 0, max: 600, integer: false }),
    connections: number('connections', 'BENCH_CONNECTIONS', 256, int(1, 10_000)),
    customerBrowseShare: number('customer-browse-share', undefined, 0.5, { min: 0, max: 1, integer: false }),
    minThinkMs: number('think-ms', undefined, 1000, { min: 0, max: 600_000, integer: false }),
    sweep: sweepFlag === 'on',
    sweepStart: number('sweep-start', undefined, rate, { min: 1, max: 100_000, integer: false }),
    sweepFactor: number('sweep-factor', undefined, 1.5, { min: 1.01, max: 10, integer: false }),
    sweepSteps: number('sweep-steps', undefined, 8, int(1, 50)),
    sweepDurationSeconds: number('sweep-duration', undefined, 8, { min: 1, max: 600, integer: false }),
    sweepPastKnee: pastKneeFlag === 'on',
    orderProbe: number('order-probe', undefined, quick ? 20 : 100, int(0, 100_000)),
    products: number('products', undefined, quick ? 1_000 : 10_000, int(1, 10_000_000)),
    users: number('users', undefined, quick ? 1_000 : 10_000, int(1, 10_000_000)),
    ordersPerUser: number('orders-per-user', undefined, 3, int(0, 100)),
    logins: number('logins', undefined, quick ? 1_000 : 10_000, int(1, 100_000)),
    appProcesses: number('app-processes', undefined, 3, int(1, 64)),
    zipfExponent: number('zipf', undefined, 1, { min: 0, max: 5, integer: false }),
    seed: number('seed', undefined, 20_261_128, int(0, 2 ** 32 - 1)),
    only,
    outDir: path.resolve(
      repoRoot,
      flags.get('out') ??
        (quick ? path.join(tmpdir(), 'bench-quick-results') : path.join('bench', 'results')),
    ),
    redisUrl: env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
  };
  if (options.logins > options.users) {
    problems.push(`--logins (${options.logins}) cannot exceed --users (${options.users})`);
  }
  if (problems.length) throw new Error(`invalid benchmark options: ${problems.join('; ')}\n${USAGE}`);
  return options;
}

/** True when the scenario is selected by `--only` (or no filter was given). */
export function scenarioSelected(options: BenchOptions, id: string): boolean {
  return options.only.length === 0 || options.only.includes(id);
}
