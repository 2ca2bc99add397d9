/**
 * `npm run bench:synth`: how long synthesising the blueprint takes, against a trivial one-bucket CDK app
 * measured in the same run on the same machine.
 *
 *   tsx bench/synth.ts [--reps 3] [--warm 3] [--profile] [--out bench/results/synth.json]
 *
 * Cold: each target runs in a fresh child process (`tsx bench/synth-worker.ts`, the way cdk.json runs
 * bin/app.ts), timed from spawn to exit: node start, tsx, loading aws-cdk-lib, building and synthesising.
 * That is what a user waits for with `cdk synth` (minus the CLI's own start-up, the same for every app).
 * Targets: the trivial app, each stage alone, and all stages one after another in ONE process.
 * Warm: the same process synthesises its target again; the median of the repeats is reported.
 * Variants: `default` (as `cdk synth`, with CDK's built-in CloudFormation validation) and `no-validation`
 * (as `cdk synth --no-validation`, i.e. CDK_VALIDATION=false), so the cost of that validation is visible.
 * `--profile` also records a CPU profile of one cold all-stages run and breaks it down.
 *
 * Target (issues 2 and 5): all stages in one process in at most 2x the trivial app's cold time.
 * A benchmark, not a test: it reports, it does not assert.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SynthTiming, WorkerResult } from './synth-worker';

const repoRoot = path.resolve(__dirname, '..');
const workerPath = path.join(__dirname, 'synth-worker.ts');
const tsxBin = path.join(repoRoot, 'node_modules', '.bin', 'tsx');
const TARGET_RATIO = 2;

/** Variants of the environment a target is synthesised in. */
const VARIANTS = {
  default: {},
  'no-validation': { CDK_VALIDATION: 'false' },
} as const;
type Variant = keyof typeof VARIANTS;

interface Options {
  readonly reps: number;
  readonly warm: number;
  readonly profile: boolean;
  readonly out: string;
}

function parseOptions(argv: string[]): Options {
  let reps = 3;
  let warm = 3;
  let profile = false;
  let out = path.join(__dirname, 'results', 'synth.json');
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--reps') reps = Number(argv[++i]);
    else if (arg === '--warm') warm = Number(argv[++i]);
    else if (arg === '--profile') profile = true;
    else if (arg === '--out') out = path.resolve(argv[++i] ?? '');
    else problems.push(`unknown argument "${arg}"`);
  }
  if (!Number.isInteger(reps) || reps < 1)
    problems.push(`--reps: received ${reps}; give a whole number of 1 or more`);
  if (!Number.isInteger(warm) || warm < 1)
    problems.push(`--warm: received ${warm}; give a whole number of 1 or more`);
  if (problems.length > 0) {
    throw new Error(
      `bench:synth: ${problems.join('; ')}\nusage: tsx bench/synth.ts [--reps 3] [--warm 3] [--profile] [--out file]`,
    );
  }
  return { reps, warm, profile, out };
}

/** One child process: its wall time from spawn to exit and what the worker reported. */
interface Run {
  readonly wallMs: number;
  readonly result: WorkerResult;
}

function runWorker(
  target: string,
  variant: Variant,
  rounds: number,
  nodeOptions: string[] = [],
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const args = [workerPath, '--target', target, '--rounds', String(rounds)];
    const env: NodeJS.ProcessEnv = { ...process.env, ...VARIANTS[variant] };
    delete env.CDK_CONTEXT_JSON;
    if (nodeOptions.length > 0) env.NODE_OPTIONS = [env.NODE_OPTIONS ?? '', ...nodeOptions].join(' ').trim();
    const start = process.hrtime.bigint();
    const child = spawn(tsxBin, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
      const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (code !== 0 || !line) {
        reject(new Error(`worker ${target} (${variant}) exited with ${code}:\n${stderr.slice(-2000)}`));
        return;
      }
      resolve({ wallMs, result: JSON.parse(line.slice('BENCH_RESULT '.length)) as WorkerResult });
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const round1 = (x: number): number => Math.round(x * 10) / 10;
const ratio = (x: number, base: number): number => Math.round((x / base) * 100) / 100;

/** Per-target figures in one variant. */
interface TargetFigures {
  readonly target: string;
  readonly coldWallMs: number[];
  readonly coldMedianMs: number;
  readonly coldRatio: number;
  readonly warmMedianMs?: number;
  readonly warmRatio?: number;
  /** Phases of the cold run closest to the median. */
  readonly coldPhases: Phases;
}

/** Where one cold run spent its time. */
interface Phases {
  /** Node start, tsx registration, worker transpile (until the worker's first line). */
  readonly bootMs: number;
  /** Loading aws-cdk-lib, cdk-nag and the blueprint modules. */
  readonly loadMs: number;
  readonly apps: SynthTiming[];
  /** Spawn-to-exit minus the above: process exit, stdout, untimed glue. */
  readonly otherMs: number;
}

function phasesOf(run: Run): Phases {
  const apps = run.result.rounds[0];
  const accounted = run.result.bootMs + run.result.loadMs + run.result.roundMs[0];
  return {
    bootMs: round1(run.result.bootMs),
    loadMs: round1(run.result.loadMs),
    apps,
    otherMs: round1(run.wallMs - accounted),
  };
}

function closestToMedian(runs: Run[]): Run {
  const m = median(runs.map((r) => r.wallMs));
  return runs.reduce((best, r) => (Math.abs(r.wallMs - m) < Math.abs(best.wallMs - m) ? r : best));
}

function log(message: string): void {
  process.stderr.write(`[bench:synth] ${message}\n`);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = new Date();
  const loadBefore = os.loadavg();
  log(`cold reps ${options.reps}, warm repeats ${options.warm}; 2-core machines: expect several minutes`);

  // Round-robin over targets so that drift in machine load affects every target alike.
  const cold = new Map<string, Run[]>();
  const push = (key: string, run: Run) => cold.set(key, [...(cold.get(key) ?? []), run]);
  let stageIds: string[] = [];
  let stub = false;
  for (let rep = 0; rep < options.reps; rep++) {
    for (const variant of Object.keys(VARIANTS) as Variant[]) {
      for (const target of ['trivial', 'all']) {
        const run = await runWorker(target, variant, 1);
        if (target === 'all') {
          stageIds = run.result.stageIds;
          stub = run.result.stub;
          const failed = run.result.rounds[0].filter((t) => t.error);
          if (failed.length > 0) {
            throw new Error(`synth failed: ${failed.map((t) => `${t.app}: ${t.error}`).join('\n')}`);
          }
        }
        push(`${variant}:${target}`, run);
        log(`rep ${rep + 1} ${variant} ${target}: ${round1(run.wallMs)} ms`);
      }
    }
    for (const id of stageIds) {
      const run = await runWorker(`stage:${id}`, 'default', 1);
      push(`default:stage:${id}`, run);
      log(`rep ${rep + 1} default stage ${id}: ${round1(run.wallMs)} ms`);
    }
  }

  // Warm: one process per target and variant synthesises 1 + warm times; the first round is discarded.
  const warm = new Map<string, { roundMs: number[]; perApp: Record<string, number[]> }>();
  for (const variant of Object.keys(VARIANTS) as Variant[]) {
    for (const target of ['trivial', 'all']) {
      const run = await runWorker(target, variant, 1 + options.warm);
      const rounds = run.result.rounds.slice(1);
      const perApp: Record<string, number[]> = {};
      for (const round of rounds) {
        for (const t of round) (perApp[t.app] ??= []).push(t.constructMs + t.synthMs);
      }
      warm.set(`${variant}:${target}`, { roundMs: run.result.roundMs.slice(1), perApp });
      log(`warm ${variant} ${target}: ${run.result.roundMs.slice(1).map(round1).join(', ')} ms`);
    }
  }

  const figures: Record<Variant, TargetFigures[]> = { default: [], 'no-validation': [] };
  for (const variant of Object.keys(VARIANTS) as Variant[]) {
    const trivialCold = median(cold.get(`${variant}:trivial`)!.map((r) => r.wallMs));
    const trivialWarm = median(warm.get(`${variant}:trivial`)!.roundMs);
    const targets = ['trivial', ...(variant === 'default' ? stageIds.map((id) => `stage:${id}`) : []), 'all'];
    for (const target of targets) {
      const runs = cold.get(`${variant}:${target}`)!;
      const coldMedianMs = median(runs.map((r) => r.wallMs));
      let warmMedianMs: number | undefined;
      if (target === 'trivial' || target === 'all')
        warmMedianMs = median(warm.get(`${variant}:${target}`)!.roundMs);
      else warmMedianMs = median(warm.get(`${variant}:all`)!.perApp[target.slice('stage:'.length)] ?? [NaN]);
      figures[variant].push({
        target,
        coldWallMs: runs.map((r) => round1(r.wallMs)),
        coldMedianMs: round1(coldMedianMs),
        coldRatio: ratio(coldMedianMs, trivialCold),
        warmMedianMs: round1(warmMedianMs),
        warmRatio: ratio(warmMedianMs, trivialWarm),
        coldPhases: phasesOf(closestToMedian(runs)),
      });
    }
  }

  const allDefault = figures.default.find((f) => f.target === 'all')!;
  const allNoValidation = figures['no-validation'].find((f) => f.target === 'all')!;
  const sumOfStages = figures.default
    .filter((f) => f.target.startsWith('stage:'))
    .reduce((sum, f) => sum + f.coldMedianMs, 0);

  let profile: ProfileSummary | undefined;
  if (options.profile) {
    log('profiling one cold all-stages run (--cpu-prof)');
    profile = await profileAllStages();
  }

  const report = {
    benchmark: 'synth',
    date: started.toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: round1(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      loadAverageBefore: loadBefore.map(round1),
      loadAverageAfter: os.loadavg().map(round1),
    },
    method: {
      cold: `fresh process per run (${path.relative(repoRoot, tsxBin)} bench/synth-worker.ts), spawn to exit, median of ${options.reps}`,
      warm: `same process, median of ${options.warm} repeats after a first synth`,
      context:
        'cdk.json context (feature flags, account, region, AZs) passed as CDK_CONTEXT_JSON, as cdk synth does',
    },
    stub,
    stageIds,
    target: {
      description: `all stages synthesised in one process in at most ${TARGET_RATIO}x the trivial app's cold time`,
      ratio: allDefault.coldRatio,
      met: allDefault.coldRatio <= TARGET_RATIO,
      ratioWithoutBuiltinValidation: allNoValidation.coldRatio,
      metWithoutBuiltinValidation: allNoValidation.coldRatio <= TARGET_RATIO,
    },
    sumOfSeparateStageRunsMs: round1(sumOfStages),
    variants: figures,
    ...(profile ? { profile } : {}),
  };
  fs.mkdirSync(path.dirname(options.out), { recursive: true });
  fs.writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${markdown(report)}\n`);
  log(`wrote ${path.relative(process.cwd(), options.out)}`);
}

function markdown(report: {
  machine: { cpus: number; cpuModel: string; node: string; loadAverageBefore: number[] };
  stub: boolean;
  target: {
    ratio: number;
    met: boolean;
    ratioWithoutBuiltinValidation: number;
    metWithoutBuiltinValidation: boolean;
  };
  sumOfSeparateStageRunsMs: number;
  variants: Record<Variant, TargetFigures[]>;
  profile?: ProfileSummary;
}): string {
  const lines: string[] = [];
  lines.push(
    `Synth time, ${report.machine.cpus} cores (${report.machine.cpuModel}), Node ${report.machine.node}, load average at start ${report.machine.loadAverageBefore[0]}${report.stub ? ' — STUB blueprint (stages/index.ts or lib/blueprint.ts missing)' : ''}`,
    '',
    '| variant | target | cold, median (ms) | × trivial | warm, median (ms) | × trivial |',
    '|---|---|---:|---:|---:|---:|',
  );
  for (const [variant, rows] of Object.entries(report.variants)) {
    for (const row of rows) {
      const name = row.target === 'all' ? 'all stages, one process' : row.target.replace('stage:', 'stage ');
      lines.push(
        `| ${variant} | ${name} | ${row.coldMedianMs} | ${row.coldRatio} | ${row.warmMedianMs ?? '–'} | ${row.warmRatio ?? '–'} |`,
      );
    }
  }
  lines.push(
    '',
    `Sum of the stages synthesised in separate processes: ${report.sumOfSeparateStageRunsMs} ms.`,
    `Target "all stages in one process ≤ ${TARGET_RATIO}× the trivial app" (cold, default): ${report.target.ratio}× — ${report.target.met ? 'MET' : 'MISSED'}` +
      ` (without the built-in CloudFormation validation: ${report.target.ratioWithoutBuiltinValidation}× — ${report.target.metWithoutBuiltinValidation ? 'met' : 'missed'}).`,
    '',
    'Where the cold all-stages run (default) spends its time (ms):',
    '',
    '| phase | ms |',
    '|---|---:|',
  );
  const all = report.variants.default.find((f) => f.target === 'all')!.coldPhases;
  lines.push(
    `| node start + tsx | ${all.bootMs} |`,
    `| loading aws-cdk-lib, cdk-nag, blueprint modules | ${all.loadMs} |`,
  );
  for (const app of all.apps) {
    lines.push(
      `| ${app.app}: construct tree (incl. asset hashing ${round1(app.fingerprintMs)}, copying ${round1(app.copyMs)}) | ${round1(app.constructMs)} |`,
    );
    const validation = Object.entries(app.validationMs)
      .map(([name, ms]) => `${name} ${round1(ms)}`)
      .join(', ');
    lines.push(
      `| ${app.app}: app.synth() (validation plugins: ${validation || 'none'}) | ${round1(app.synthMs)} |`,
    );
  }
  lines.push(`| exit, other | ${all.otherMs} |`);
  if (report.profile) {
    lines.push(
      '',
      `CPU profile of one cold all-stages run (${report.profile.totalMs} ms sampled):`,
      '',
      '| where | self ms |',
      '|---|---:|',
    );
    for (const [where, ms] of Object.entries(report.profile.byCategory)) lines.push(`| ${where} | ${ms} |`);
    lines.push('', '| under (inclusive) | ms |', '|---|---:|');
    for (const [where, ms] of Object.entries(report.profile.byPhase)) lines.push(`| ${where} | ${ms} |`);
  }
  return lines.join('\n');
}

/** Sampled CPU time of one cold all-stages run, by code location (self) and by enclosing phase (inclusive). */
interface ProfileSummary {
  readonly totalMs: number;
  readonly byCategory: Record<string, number>;
  readonly byPhase: Record<string, number>;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** Classifies a sample by the code it was in. First match wins. */
const CATEGORIES: [string, (url: string, fn: string) => boolean][] = [
  ['CloudFormation validation engine (WASM)', (url) => url.startsWith('wasm://')],
  ['CloudFormation validation (JS)', (url) => url.includes('@aws/cloudformation-validate')],
  ['cdk-nag rules', (url) => url.includes('/cdk-nag/')],
  [
    'module loading and tsx transpiling',
    (url) => /node:internal\/(modules|deps\/cjs-module-lexer)|\/tsx\/|\/esbuild\/|source_map/.test(url),
  ],
  ['cdk-monitoring-constructs', (url) => url.includes('/cdk-monitoring-constructs/')],
  ['aws-cdk-lib and constructs', (url) => /\/aws-cdk-lib\/|\/constructs\/|@aws-cdk\//.test(url)],
  ['file system', (url) => /^node:(fs|internal\/fs)/.test(url)],
  [
    'blueprint code (lib/, stages/, bench/)',
    (url) => url.startsWith('file://') && !url.includes('/node_modules/'),
  ],
  ['garbage collection', (_url, fn) => fn === '(garbage collector)'],
  ['idle (waiting on I/O, workers)', (_url, fn) => fn === '(idle)'],
];

/** Functions whose inclusive time is a phase of the run. Innermost match wins. */
const PHASES: [string, RegExp][] = [
  ['asset fingerprinting', /^fingerprint$/],
  ['asset copying', /^copyDirectory$/],
  ['validation (validateTemplates: all plugins)', /^validateTemplates$/],
  ['synthesis of templates (synthesizeTree)', /^synthesizeTree$/],
  ['aspects (invokeAspects)', /^invokeAspects(V2)?$/],
  ['module loading (require)', /^(Module\._load|require|loadCJSModule|importModuleDynamically)$/],
];

function summariseProfile(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const byCategory: Record<string, number> = {};
  const byPhase: Record<string, number> = {};
  let total = 0;
  for (const [id, us] of selfUs) {
    total += us;
    const node = byId.get(id)!;
    const { url, functionName } = node.callFrame;
    const category =
      CATEGORIES.find(([, match]) => match(url, functionName))?.[0] ?? 'other (node internals, program)';
    byCategory[category] = (byCategory[category] ?? 0) + us;
    let phase = 'other';
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const name = byId.get(cur)!.callFrame.functionName;
      const hit = PHASES.find(([, re]) => re.test(name));
      if (hit) {
        phase = hit[0];
        break;
      }
    }
    byPhase[phase] = (byPhase[phase] ?? 0) + us;
  }
  const toMs = (r: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(r)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, Math.round(v / 1000)]),
    );
  return { totalMs: Math.round(total / 1000), byCategory: toMs(byCategory), byPhase: toMs(byPhase) };
}

async function profileAllStages(): Promise<ProfileSummary> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-synth-prof-'));
  try {
    await runWorker('all', 'default', 1, [`--cpu-prof`, `--cpu-prof-dir=${dir}`]);
    // tsx's CLI and its worker threads write profiles too; the largest one is the synthesising process.
    const files = fs
      .readdirSync(dir)
      .map((f) => path.join(dir, f))
      .sort((a, b) => fs.statSync(b).size - fs.statSync(a).size);
    if (files.length === 0) throw new Error('no CPU profile was written');
    return summariseProfile(JSON.parse(fs.readFileSync(files[0], 'utf8')) as CpuProfile);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:synth failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
