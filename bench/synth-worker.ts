/**
 * Child process of `npm run bench:synth` (bench/synth.ts): synthesises one target a given number of times
 * in this process and prints one `BENCH_RESULT {json}` line with the timings of every round.
 *
 *   tsx bench/synth-worker.ts --target trivial|all|stage:<id> [--rounds N] [--validate]
 *
 * `--validate` adds `validate: true` to the context, as `cdk synth -c validate=true` does.
 *
 * The first round pays for everything a fresh `cdk synth` pays after the process has started (first use of
 * each module, schema loading in the validation plugins, asset fingerprints); later rounds are warm.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

/** Milliseconds from process start (node bootstrap, tsx registration, this file's transpile) to here. */
const bootMs = performance.now();

/** Timings of one synthesis of one app. */
export interface SynthTiming {
  /** Which app: `trivial` or a stage id. */
  readonly app: string;
  /** Building the construct tree (includes asset fingerprinting and staging, which happen in constructors). */
  readonly constructMs: number;
  /** `app.synth()`: template rendering, writing the assembly, and validation plugins. */
  readonly synthMs: number;
  /** Time inside `FileSystem.fingerprint` (asset hashing), part of `constructMs`. */
  readonly fingerprintMs: number;
  /** Time inside `FileSystem.copyDirectory` (asset staging into cdk.out), part of `constructMs`. */
  readonly copyMs: number;
  /** Time inside each validation plugin's `validate`, by plugin name; part of `synthMs`. */
  readonly validationMs: Record<string, number>;
  /** Resources in the synthesised templates. */
  readonly resources: number;
  /** Error message when the synthesis failed. */
  readonly error?: string;
}

/** What the worker prints. */
export interface WorkerResult {
  readonly target: string;
  readonly stageIds: string[];
  readonly bootMs: number;
  /** Loading aws-cdk-lib, cdk-nag and the blueprint's modules (including tsx transpiling them). */
  readonly loadMs: number;
  /** Each round: the apps synthesised in it, in order. */
  readonly rounds: SynthTiming[][];
  /** Wall time of each round. */
  readonly roundMs: number[];
  /** CPU time (user + system, all threads) of this process until the result is printed. */
  readonly cpuMs: number;
}

interface Args {
  readonly target: string;
  readonly rounds: number;
  readonly validate: boolean;
}

function parseArgs(argv: string[]): Args {
  let target = '';
  let rounds = 1;
  let validate = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--target') target = argv[++i] ?? '';
    else if (argv[i] === '--validate') validate = true;
    else if (argv[i] === '--rounds') rounds = Number(argv[++i]);
    else throw new Error(`synth-worker: unknown argument ${argv[i]}`);
  }
  if (!/^(trivial|all|stage:.+)$/.test(target)) {
    throw new Error(`synth-worker: --target must be trivial, all or stage:<id>; received "${target}"`);
  }
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new Error(`synth-worker: --rounds must be a whole number of 1 or more; received ${rounds}`);
  }
  return { target, rounds, validate };
}

const repoRoot = path.resolve(__dirname, '..');

// Modules are loaded with literal `require` calls inside functions rather than top-level imports, so that
// loading is timed, the worker runs under every launcher the benchmark compares (tsx CLI,
// `node --require tsx/cjs`, a plain-node esbuild bundle), and esbuild can see what to bundle.

interface Blueprint {
  readonly stageIds: string[];
  create(id: string, outdir: string): import('aws-cdk-lib').App;
}

/**
 * The blueprint as bin/app.ts builds it: `createBlueprintApp({ config, outdir, cloudFormationValidation })`
 * for each stage id, the validation from the `validate` context key with the CLI's default.
 */
function loadBlueprint(): Blueprint {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const stages = require('../stages/index') as typeof import('../stages/index.js');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const blueprint = require('../lib/blueprint') as typeof import('../lib/blueprint.js');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const config = require('../lib/config/index') as typeof import('../lib/config/index.js');
  const context = JSON.parse(process.env.CDK_CONTEXT_JSON ?? '{}') as Record<string, unknown>;
  const validate = config.parseBooleanContext(context.validate) ?? config.CLI_CLOUDFORMATION_VALIDATION;
  return {
    stageIds: [...stages.stageIds],
    create: (id, outdir) =>
      blueprint.createBlueprintApp({
        config: stages.stageById(id),
        outdir,
        cloudFormationValidation: validate === true,
      }),
  };
}

/** Accumulating timers around the library functions the report breaks synth time into. */
class PhaseTimers {
  fingerprintMs = 0;
  copyMs = 0;
  validationMs: Record<string, number> = {};

  reset(): void {
    this.fingerprintMs = 0;
    this.copyMs = 0;
    this.validationMs = {};
  }

  install(cdk: typeof import('aws-cdk-lib'), nag: typeof import('cdk-nag')): void {
    const fsClass = cdk.FileSystem as unknown as Record<string, (...args: unknown[]) => unknown>;
    this.wrapStatic(fsClass, 'fingerprint', (ms) => (this.fingerprintMs += ms));
    this.wrapStatic(fsClass, 'copyDirectory', (ms) => (this.copyMs += ms));
    for (const proto of [cdk.CloudFormationValidatePlugin.prototype, nag.NagPack.prototype]) {
      const original = proto.validate;
      const record = (name: string, ms: number) =>
        (this.validationMs[name] = (this.validationMs[name] ?? 0) + ms);
      proto.validate = function (this: { name: string }, ...args: Parameters<typeof original>) {
        const start = performance.now();
        try {
          return original.apply(this, args);
        } finally {
          record(this.name, performance.now() - start);
        }
      } as typeof original;
    }
  }

  private wrapStatic(
    target: Record<string, (...args: unknown[]) => unknown>,
    name: string,
    add: (ms: number) => void,
  ) {
    const original = target[name];
    target[name] = function (this: unknown, ...args: unknown[]) {
      const start = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        add(performance.now() - start);
      }
    };
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // Same context as `cdk synth` gives the app (feature flags, account, region, AZs from cdk.json).
  if (process.env.CDK_CONTEXT_JSON === undefined) {
    const cdkJson = JSON.parse(fs.readFileSync(path.join(repoRoot, 'cdk.json'), 'utf8')) as {
      context?: object;
    };
    process.env.CDK_CONTEXT_JSON = JSON.stringify({
      ...(cdkJson.context ?? {}),
      ...(args.validate ? { validate: true } : {}),
    });
  }

  const loadStart = performance.now();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cdk = require('aws-cdk-lib') as typeof import('aws-cdk-lib');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nag = require('cdk-nag') as typeof import('cdk-nag');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const trivial = require('./synth-trivial-app') as typeof import('./synth-trivial-app.js');
  const blueprint = args.target === 'trivial' ? undefined : loadBlueprint();
  const loadMs = performance.now() - loadStart;

  const timers = new PhaseTimers();
  timers.install(cdk, nag);
  const apps: string[] =
    args.target === 'trivial'
      ? ['trivial']
      : args.target === 'all'
        ? blueprint!.stageIds
        : [args.target.slice('stage:'.length)];
  if (blueprint && !apps.every((id) => blueprint.stageIds.includes(id))) {
    throw new Error(
      `synth-worker: unknown stage in ${apps.join(', ')}; stages are ${blueprint.stageIds.join(', ')}`,
    );
  }

  const rounds: SynthTiming[][] = [];
  const roundMs: number[] = [];
  for (let round = 0; round < args.rounds; round++) {
    const outdirs: string[] = [];
    const timings: SynthTiming[] = [];
    const roundStart = performance.now();
    for (const id of apps) {
      const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-synth-'));
      outdirs.push(outdir);
      timers.reset();
      const t0 = performance.now();
      let constructMs = 0;
      let error: string | undefined;
      let resources = 0;
      try {
        const app = id === 'trivial' ? trivial.createTrivialApp(outdir) : blueprint!.create(id, outdir);
        constructMs = performance.now() - t0;
        const assembly = app.synth();
        for (const stack of assembly.stacksRecursively) {
          resources += Object.keys((stack.template as { Resources?: object }).Resources ?? {}).length;
        }
      } catch (e) {
        error = (e as Error).message.split('\n').slice(0, 5).join('\n');
      }
      const total = performance.now() - t0;
      timings.push({
        app: id,
        constructMs: constructMs || total,
        synthMs: constructMs ? total - constructMs : 0,
        fingerprintMs: timers.fingerprintMs,
        copyMs: timers.copyMs,
        validationMs: { ...timers.validationMs },
        resources,
        ...(error ? { error } : {}),
      });
    }
    roundMs.push(performance.now() - roundStart);
    rounds.push(timings);
    // Cleaning up is not part of what a user waits for.
    for (const dir of outdirs) fs.rmSync(dir, { recursive: true, force: true });
  }

  const result: WorkerResult = {
    target: args.target,
    stageIds: blueprint?.stageIds ?? [],
    bootMs,
    loadMs,
    rounds,
    roundMs,
    cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
  };
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`synth-worker: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
