/**
 * `npm run bench:synth`: how long synthesising the blueprint takes, against a trivial one-bucket CDK app
 * measured in the same run on the same machine.
 *
 *   tsx bench/synth.ts [--reps 3] [--warm 3] [--profile | --profile-only] [--out bench/results/synth.json]
 *
 * Cold: each target runs in a fresh child process, timed from spawn to exit: node start, the TypeScript
 * loader, loading aws-cdk-lib, building and synthesising. That is what a user waits for with `cdk synth`
 * (minus the CLI's own start-up, the same for every app). Targets: the trivial app, each stage alone, and
 * all stages one after another in ONE process. Warm: the same process synthesises its target again.
 *
 * Configurations (each compares the blueprint with the trivial app run the same way):
 * - `tsx` — `cdk synth` as shipped: cdk.json runs bin/app.ts under tsx, and the blueprint skips CDK's
 *   built-in CloudFormation validation unless `-c validate=true`; the trivial app is a default CDK app
 *   (validation on). Every target is measured here, warm too; the target below is judged on it.
 * - `tsx, validation off in both` — CDK_VALIDATION=false (as `cdk synth --no-validation`) for both apps:
 *   the like-for-like comparison of what the blueprint itself costs.
 * - `tsx, -c validate=true` — the blueprint with the validation on (as CI runs it), against the
 *   default trivial app: both validate.
 * - `bundle, validation off in both` — plain node on an esbuild bundle of the app code (packages
 *   external), i.e. precompiled TypeScript; the bundling time is reported separately.
 * `--profile` also records a CPU profile of one cold all-stages run (`tsx`) and breaks it down;
 * `--profile-only` does only that and prints the breakdown (nothing is written).
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

type Launcher = 'tsx' | 'tsx-cjs' | 'bundle';

/**
 * CDK's built-in CloudFormation validation: `shipped` = each app's own default (a default CDK app
 * validates, the blueprint's `cdk synth` does not), `off` = CDK_VALIDATION=false for both, `on` = both
 * validate (`-c validate=true` for the blueprint).
 */
type Validation = 'shipped' | 'off' | 'on';

/** One way of running the apps. */
interface Configuration {
  readonly id: string;
  readonly launcher: Launcher;
  readonly validation: Validation;
  /** Measure each stage alone and warm repeats too (main configuration only, to bound the run time). */
  readonly full: boolean;
}

const CONFIGURATIONS: Configuration[] = [
  { id: 'tsx', launcher: 'tsx', validation: 'shipped', full: true },
  { id: 'tsx, validation off in both', launcher: 'tsx', validation: 'off', full: false },
  { id: 'tsx, -c validate=true', launcher: 'tsx', validation: 'on', full: false },
  { id: 'bundle, validation off in both', launcher: 'bundle', validation: 'off', full: false },
];
const MAIN = CONFIGURATIONS[0];

interface Options {
  readonly reps: number;
  readonly warm: number;
  readonly profile: boolean;
  readonly profileOnly: boolean;
  readonly out: string;
}

function parseOptions(argv: string[]): Options {
  let reps = 3;
  let warm = 3;
  let profile = false;
  let profileOnly = false;
  let out = path.join(__dirname, 'results', 'synth.json');
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--reps') reps = Number(argv[++i]);
    else if (arg === '--warm') warm = Number(argv[++i]);
    else if (arg === '--profile') profile = true;
    else if (arg === '--profile-only') profileOnly = true;
    else if (arg === '--out') out = path.resolve(argv[++i] ?? '');
    else problems.push(`unknown argument "${arg}"`);
  }
  if (!Number.isInteger(reps) || reps < 1)
    problems.push(`--reps: received ${reps}; give a whole number of 1 or more`);
  if (!Number.isInteger(warm) || warm < 1)
    problems.push(`--warm: received ${warm}; give a whole number of 1 or more`);
  if (problems.length > 0) {
    throw new Error(
      `bench:synth: ${problems.join('; ')}\nusage: tsx bench/synth.ts [--reps 3] [--warm 3] [--profile | --profile-only] [--out file]`,
    );
  }
  return { reps, warm, profile, profileOnly, out };
}

/** One child process: its wall time from spawn to exit and what the worker reported. */
interface Run {
  readonly wallMs: number;
  readonly result: WorkerResult;
}

/** Command line of a worker under a launcher. */
function workerCommand(launcher: Launcher, bundlePath: string): { command: string; args: string[] } {
  switch (launcher) {
    case 'tsx':
      return { command: tsxBin, args: [workerPath] };
    case 'tsx-cjs':
      return { command: process.execPath, args: ['--require', 'tsx/cjs', workerPath] };
    case 'bundle':
      return { command: process.execPath, args: [bundlePath] };
  }
}

function runWorker(
  config: Configuration,
  target: string,
  rounds: number,
  bundlePath: string,
  nodeArgs: string[] = [],
): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Node flags such as --cpu-prof are refused in NODE_OPTIONS, so they go on the command line; under
    // `tsx` that means `node --import tsx`, the same hooks the tsx CLI registers in the node it starts.
    const { command, args } =
      nodeArgs.length === 0
        ? workerCommand(config.launcher, bundlePath)
        : config.launcher === 'tsx'
          ? { command: process.execPath, args: [...nodeArgs, '--import', 'tsx', workerPath] }
          : (({ command: c, args: a }) => ({ command: c, args: [...nodeArgs, ...a] }))(
              workerCommand(config.launcher, bundlePath),
            );
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: path.join(repoRoot, 'node_modules') };
    if (config.validation === 'off') env.CDK_VALIDATION = 'false';
    else delete env.CDK_VALIDATION;
    delete env.CDK_CONTEXT_JSON;
    const start = process.hrtime.bigint();
    const workerArgs = ['--target', target, '--rounds', String(rounds)];
    if (config.validation === 'on') workerArgs.push('--validate');
    const child = spawn(command, [...args, ...workerArgs], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
      const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (code !== 0 || !line) {
        reject(new Error(`worker ${target} (${config.id}) exited with ${code}:\n${stderr.slice(-2000)}`));
        return;
      }
      resolve({ wallMs, result: JSON.parse(line.slice('BENCH_RESULT '.length)) as WorkerResult });
    });
  });
}

/**
 * Bundles the worker and everything it requires from this repository into one CommonJS file (packages
 * stay external, resolved through NODE_PATH). `__dirname` is replaced per file by that file's original
 * directory, so code that finds assets relative to itself (app/, the Dockerfile) behaves as under tsx.
 */
async function buildBundle(dir: string): Promise<{ path: string; ms: number }> {
  const esbuild = await import('esbuild');
  const outfile = path.join(dir, 'synth-worker.js');
  const start = process.hrtime.bigint();
  await esbuild.build({
    entryPoints: [workerPath],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
    plugins: [
      {
        name: 'original-dirname',
        setup(build) {
          build.onLoad({ filter: /\.ts$/ }, async (args) => ({
            contents: (await fs.promises.readFile(args.path, 'utf8')).replace(
              /\b__dirname\b/g,
              JSON.stringify(path.dirname(args.path)),
            ),
            loader: 'ts',
          }));
        },
      },
    ],
  });
  return { path: outfile, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const round1 = (x: number): number => Math.round(x * 10) / 10;
const ratio = (x: number, base: number): number => Math.round((x / base) * 100) / 100;

/** Per-target figures in one configuration. */
interface TargetFigures {
  readonly target: string;
  readonly coldWallMs: number[];
  readonly coldMedianMs: number;
  /** Cold median over the trivial app's cold median in the same configuration. */
  readonly coldRatio: number;
  /**
   * CPU time of the synthesising process (user + system, all its threads), median over the cold runs:
   * unlike wall time it barely depends on what else the machine is doing.
   */
  readonly coldCpuMedianMs: number;
  readonly coldCpuRatio: number;
  readonly warmMedianMs?: number;
  readonly warmRatio?: number;
  /** Phases of the cold run closest to the median. */
  readonly coldPhases: Phases;
}

/** Where one cold run spent its time. */
interface Phases {
  /** Node start and the TypeScript loader, until the worker's first line. */
  readonly bootMs: number;
  /** Loading aws-cdk-lib, cdk-nag and the blueprint modules. */
  readonly loadMs: number;
  readonly apps: SynthTiming[];
  /** Spawn-to-exit minus the above: launcher process, cleanup of cdk.out, process exit. */
  readonly otherMs: number;
}

/** Results of one configuration. */
interface ConfigurationFigures {
  readonly configuration: string;
  readonly launcher: Launcher;
  readonly builtinValidation: Validation;
  readonly targets: TargetFigures[];
  /** All stages in one process over the trivial app, cold. */
  readonly allStagesRatio: number;
  readonly targetMet: boolean;
  /** The same ratio in CPU time. */
  readonly allStagesCpuRatio: number;
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
  const buildDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-synth-bundle-'));
  try {
    const bundle = await buildBundle(buildDir);
    log(`bundled the worker and the blueprint with esbuild in ${round1(bundle.ms)} ms`);
    if (options.profileOnly) {
      process.stdout.write(`${JSON.stringify(await profileAllStages(bundle.path), null, 2)}\n`);
      return;
    }
    log(
      `cold reps ${options.reps}, warm repeats ${options.warm}; about 40 s per rep on 2 idle cores, several times that under load`,
    );

    // Round-robin over configurations and targets so that drift in machine load affects all alike.
    const cold = new Map<string, Run[]>();
    const push = (key: string, run: Run) => cold.set(key, [...(cold.get(key) ?? []), run]);
    let stageIds: string[] = [];
    for (let rep = 0; rep < options.reps; rep++) {
      for (const config of CONFIGURATIONS) {
        const targets = ['trivial', 'all', ...(config.full ? stageIds.map((id) => `stage:${id}`) : [])];
        for (const target of targets) {
          const run = await runWorker(config, target, 1, bundle.path);
          const failed = run.result.rounds[0].filter((t) => t.error);
          if (failed.length > 0) {
            throw new Error(
              `synth failed (${config.id}): ${failed.map((t) => `${t.app}: ${t.error}`).join('\n')}`,
            );
          }
          if (target === 'all' && stageIds.length === 0) {
            stageIds = run.result.stageIds;
            // The main configuration's single-stage runs start once the stage ids are known.
            if (config.full) targets.push(...stageIds.map((id) => `stage:${id}`));
          }
          push(`${config.id}|${target}`, run);
          log(`rep ${rep + 1} ${config.id} ${target}: ${round1(run.wallMs)} ms`);
        }
      }
    }

    // Warm: one process per target synthesises 1 + warm times; the first round is discarded.
    const warm = new Map<string, { roundMs: number[]; perApp: Record<string, number[]> }>();
    for (const target of ['trivial', 'all']) {
      const run = await runWorker(MAIN, target, 1 + options.warm, bundle.path);
      const perApp: Record<string, number[]> = {};
      for (const round of run.result.rounds.slice(1)) {
        for (const t of round) (perApp[t.app] ??= []).push(t.constructMs + t.synthMs);
      }
      warm.set(target, { roundMs: run.result.roundMs.slice(1), perApp });
      log(`warm ${MAIN.id} ${target}: ${run.result.roundMs.slice(1).map(round1).join(', ')} ms`);
    }

    const configurations: ConfigurationFigures[] = CONFIGURATIONS.map((config) => {
      const trivialCold = median(cold.get(`${config.id}|trivial`)!.map((r) => r.wallMs));
      const trivialCpu = median(cold.get(`${config.id}|trivial`)!.map((r) => r.result.cpuMs));
      const targets = ['trivial', ...(config.full ? stageIds.map((id) => `stage:${id}`) : []), 'all'];
      const figures = targets.map((target): TargetFigures => {
        const runs = cold.get(`${config.id}|${target}`)!;
        const coldMedianMs = median(runs.map((r) => r.wallMs));
        const coldCpuMedianMs = median(runs.map((r) => r.result.cpuMs));
        let warmFigures = {};
        if (config.full) {
          const trivialWarm = median(warm.get('trivial')!.roundMs);
          const warmMedianMs =
            target === 'trivial' || target === 'all'
              ? median(warm.get(target)!.roundMs)
              : median(warm.get('all')!.perApp[target.slice('stage:'.length)] ?? [NaN]);
          warmFigures = { warmMedianMs: round1(warmMedianMs), warmRatio: ratio(warmMedianMs, trivialWarm) };
        }
        return {
          target,
          coldWallMs: runs.map((r) => round1(r.wallMs)),
          coldMedianMs: round1(coldMedianMs),
          coldRatio: ratio(coldMedianMs, trivialCold),
          coldCpuMedianMs: round1(coldCpuMedianMs),
          coldCpuRatio: ratio(coldCpuMedianMs, trivialCpu),
          ...warmFigures,
          coldPhases: phasesOf(closestToMedian(runs)),
        };
      });
      const allStages = figures.find((f) => f.target === 'all')!;
      const allStagesRatio = allStages.coldRatio;
      return {
        configuration: config.id,
        launcher: config.launcher,
        builtinValidation: config.validation,
        targets: figures,
        allStagesRatio,
        targetMet: allStagesRatio <= TARGET_RATIO,
        allStagesCpuRatio: allStages.coldCpuRatio,
      };
    });

    const primary = configurations[0];
    const sumOfStages = primary.targets
      .filter((f) => f.target.startsWith('stage:'))
      .reduce((sum, f) => sum + f.coldMedianMs, 0);

    let profile: ProfileSummary | undefined;
    if (options.profile) {
      log('profiling one cold all-stages run (--cpu-prof)');
      profile = await profileAllStages(bundle.path);
    }

    const report: Report = {
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
        cold: `fresh process per run, spawn to exit, median of ${options.reps}`,
        cpu: 'process.cpuUsage() of the synthesising process (all threads); the tsx CLI parent process is not counted',
        warm: `same process, median of ${options.warm} repeats after a first synth (configuration ${MAIN.id})`,
        context:
          'cdk.json context (feature flags, account, region, AZs) passed as CDK_CONTEXT_JSON, as cdk synth does',
      },
      stageIds,
      bundleBuildMs: round1(bundle.ms),
      target: {
        description: `all stages synthesised in one process in at most ${TARGET_RATIO}x the trivial app's cold time`,
        configuration: primary.configuration,
        ratio: primary.allStagesRatio,
        met: primary.targetMet,
        cpuRatio: primary.allStagesCpuRatio,
      },
      sumOfSeparateStageRunsMs: round1(sumOfStages),
      configurations,
      ...(profile ? { profile } : {}),
    };
    fs.mkdirSync(path.dirname(options.out), { recursive: true });
    fs.writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${markdown(report)}\n`);
    log(`wrote ${path.relative(process.cwd(), options.out)}`);
  } finally {
    fs.rmSync(buildDir, { recursive: true, force: true });
  }
}

/** The JSON written to bench/results/synth.json. */
interface Report {
  readonly benchmark: 'synth';
  readonly date: string;
  readonly machine: {
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    node: string;
    platform: string;
    loadAverageBefore: number[];
    loadAverageAfter: number[];
  };
  readonly method: Record<string, string>;
  readonly stageIds: string[];
  readonly bundleBuildMs: number;
  readonly target: {
    description: string;
    configuration: string;
    ratio: number;
    met: boolean;
    cpuRatio: number;
  };
  readonly sumOfSeparateStageRunsMs: number;
  readonly configurations: ConfigurationFigures[];
  readonly profile?: ProfileSummary;
}

const targetName = (target: string): string =>
  target === 'all' ? 'all stages, one process' : target.replace('stage:', 'stage ');

function markdown(report: Report): string {
  const m = report.machine;
  const lines: string[] = [
    `Synth time, ${m.cpus} cores (${m.cpuModel}), Node ${m.node}, load average ${m.loadAverageBefore[0]} at start and ${m.loadAverageAfter[0]} at end`,
    '',
    '| configuration | target | cold wall, median (ms) | × trivial | cold CPU, median (ms) | × trivial | warm wall, median (ms) | × trivial |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const config of report.configurations) {
    for (const row of config.targets) {
      lines.push(
        `| ${config.configuration} | ${targetName(row.target)} | ${row.coldMedianMs} | ${row.coldRatio} | ${row.coldCpuMedianMs} | ${row.coldCpuRatio} | ${row.warmMedianMs ?? '–'} | ${row.warmRatio ?? '–'} |`,
      );
    }
  }
  lines.push(
    '',
    `Stages synthesised in separate processes (${report.target.configuration}), summed: ${report.sumOfSeparateStageRunsMs} ms. Bundling with esbuild: ${report.bundleBuildMs} ms.`,
    '',
    `Target "all stages in one process ≤ ${TARGET_RATIO}× the trivial app" (cold wall time, ${report.target.configuration}): ${report.target.ratio}× — ${report.target.met ? 'MET' : 'MISSED'} (CPU time: ${report.target.cpuRatio}×).`,
    ...report.configurations
      .slice(1)
      .map(
        (c) =>
          `- ${c.configuration}: ${c.allStagesRatio}× — ${c.targetMet ? 'met' : 'missed'} (CPU time: ${c.allStagesCpuRatio}×)`,
      ),
  );
  for (const config of report.configurations) {
    const all = config.targets.find((f) => f.target === 'all')!.coldPhases;
    const trivial = config.targets.find((f) => f.target === 'trivial')!.coldPhases;
    lines.push(
      '',
      `Where the cold runs spend their time, ${config.configuration} (ms):`,
      '',
      '| phase | trivial | all stages |',
      '|---|---:|---:|',
    );
    lines.push(`| node start + TypeScript loader | ${trivial.bootMs} | ${all.bootMs} |`);
    lines.push(`| loading aws-cdk-lib, cdk-nag, app modules | ${trivial.loadMs} | ${all.loadMs} |`);
    const t = trivial.apps[0];
    for (const app of all.apps) {
      const first = app === all.apps[0];
      lines.push(
        `| ${app.app}: construct tree (asset hashing ${round1(app.fingerprintMs)}, copying ${round1(app.copyMs)}) | ${first ? round1(t.constructMs) : ''} | ${round1(app.constructMs)} |`,
      );
      for (const [name, ms] of Object.entries(app.validationMs)) {
        lines.push(
          `| ${app.app}: validation plugin ${name} | ${first ? round1(t.validationMs[name] ?? 0) : ''} | ${round1(ms)} |`,
        );
      }
      const validation = Object.values(app.validationMs).reduce((a, b) => a + b, 0);
      const trivialValidation = Object.values(t.validationMs).reduce((a, b) => a + b, 0);
      lines.push(
        `| ${app.app}: rest of app.synth() | ${first ? round1(t.synthMs - trivialValidation) : ''} | ${round1(app.synthMs - validation)} |`,
      );
    }
    lines.push(`| launcher, cleanup, exit | ${trivial.otherMs} | ${all.otherMs} |`);
  }
  if (report.profile) {
    lines.push(
      '',
      `CPU profile of one cold all-stages run, ${MAIN.id} (${report.profile.totalMs} ms sampled):`,
      '',
      '| where (self time) | ms |',
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
  ['building the construct tree (rest)', /^(createBlueprintApp|createTrivialApp)$/],
  ['app.synth() (rest)', /^synth$/],
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

async function profileAllStages(bundlePath: string): Promise<ProfileSummary> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-synth-prof-'));
  try {
    await runWorker(MAIN, 'all', 1, bundlePath, [`--cpu-prof`, `--cpu-prof-dir=${dir}`]);
    // tsx's loader thread writes a profile too; the largest one is the synthesising main thread.
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
