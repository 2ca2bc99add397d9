/**
 * Synthesising blueprint stages in tests: once per stage and variant per test file (synth is the slow
 * part), into a temporary directory removed when the process exits.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CloudAssembly, DISABLE_ASSET_STAGING_CONTEXT } from 'aws-cdk-lib/cx-api';
import { blueprintStacks, createBlueprintApp, STACK_IDS, type BlueprintStacks } from '../../lib/blueprint';
import { parseBooleanContext } from '../../lib/config';
import { stageById, stageContext } from '../../stages';
import type { StageConfig } from '../../stages/stage-config';
import { cachedBuild, synthCacheDir } from '../../tools/upgrade/synth-cache';

/** One synthesised stage. */
export interface SynthesisedStage {
  readonly app: App;
  readonly stacks: BlueprintStacks;
  readonly assembly: CloudAssembly;
  readonly outdir: string;
  /** Templates by stack id (`ShopNetwork`, `ShopData`, `ShopService`). */
  readonly templates: Readonly<Record<keyof typeof STACK_IDS, Template>>;
  /** Raw templates by stack id, for scans and snapshots. */
  readonly json: Readonly<Record<keyof typeof STACK_IDS, Record<string, unknown>>>;
  /** The validation report written by synth (cdk-nag, CloudFormation validation, annotations). */
  readonly report: ValidationReport;
  /** What synth printed (warnings and the validation summary). */
  readonly synthOutput: string;
}

/** The parts of `validation-report.json` the tests read. */
export interface ValidationReport {
  readonly pluginReports: readonly {
    readonly pluginName: string;
    readonly conclusion: string;
    readonly violations?: readonly {
      readonly ruleName: string;
      readonly severity?: string;
      readonly violatingConstructs?: readonly { readonly constructPath?: string }[];
    }[];
  }[];
}

/** Options of {@link synthStage}. */
export interface SynthOptions {
  /** Extra context (e.g. `domainName`). */
  readonly context?: Record<string, unknown>;
  /** Register cdk-nag. @default true */
  readonly nag?: boolean;
  /** Use this config instead of the stage's. */
  readonly config?: StageConfig;
}

/**
 * Context of the fully validated synth: cdk-nag, the Control Tower rules and CDK's CloudFormation validation in
 * one synth (the Control Tower and CloudFormation validation tests share it through the run's synth cache).
 */
export const FULL_VALIDATION_CONTEXT: Readonly<Record<string, unknown>> = {
  controlTowerRules: true,
  validate: 'true',
};

const outdirs: string[] = [];
process.on('exit', () => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

const cache = new Map<string, SynthesisedStage>();

/**
 * Synthesises a stage (cached per stage id and options within the test file, and across the test files of one
 * jest run through the run's synth cache: tools/upgrade/synth-cache.ts).
 *
 * Asset staging is off: the image's build context is not copied (the templates are the same). A result read from
 * the run's cache builds its `app` (and `stacks`) only when a test asks for them: that is a synth of its own.
 */
export function synthStage(id: string, options: SynthOptions = {}): SynthesisedStage {
  const key = JSON.stringify([id, options.context ?? {}, options.nag ?? true, options.config !== undefined]);
  const cached = options.config === undefined ? cache.get(key) : undefined;
  if (cached) return cached;

  const cacheDir = synthCacheDir();
  if (options.config !== undefined || cacheDir === undefined) {
    const live = liveSynth(id, options);
    const result = resultOf(live.outdir, live.printed, () => live.app, live.assembly);
    if (options.config === undefined) cache.set(key, result);
    return result;
  }
  // One synth per run: the first file that needs this stage writes it into the run's cache, the others read it.
  let live: ReturnType<typeof liveSynth> | undefined;
  const entry = cachedBuild(cacheDir, `test/support/synth ${key}`, (dir) => {
    live = liveSynth(id, options, dir);
    return live.printed;
  });
  const app = () => (live ??= liveSynth(id, options)).app;
  const result = resultOf(entry.dir, entry.text, app, live?.assembly);
  cache.set(key, result);
  return result;
}

/** Synthesises in this process, into `outdir` (default: a temporary directory removed at exit). */
function liveSynth(
  id: string,
  options: SynthOptions,
  outdir?: string,
): { app: App; assembly: CloudAssembly; outdir: string; printed: string } {
  if (outdir === undefined) {
    outdir = mkdtempSync(join(tmpdir(), 'infra-test-'));
    outdirs.push(outdir);
  }
  const app = createBlueprintApp({
    config: options.config ?? stageById(id),
    outdir,
    nag: options.nag ?? true,
    // CDK's CloudFormation validation (most of a synth's time) only where the context asks for it, as on
    // `cdk synth`: cloudformation-validation.test.ts runs it on every stage, with the Control Tower rules.
    cloudFormationValidation: parseBooleanContext(options.context?.validate) ?? false,
    // The stage's example context (stage global's regions, domain and front door) under the test's own.
    context: { [DISABLE_ASSET_STAGING_CONTEXT]: true, ...stageContext(id), ...(options.context ?? {}) },
  });
  // The validation report (e.g. the HTTP-only warning) is printed to stderr; keep it for assertions instead.
  const printed: string[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => void printed.push(args.map(String).join(' '));
  let assembly: CloudAssembly;
  try {
    assembly = app.synth();
  } finally {
    console.error = consoleError;
  }
  return { app, assembly, outdir, printed: printed.join('\n') };
}

/** The result over a synthesised assembly directory; `app()` gives the app (built on first use when cached). */
function resultOf(
  outdir: string,
  synthOutput: string,
  app: () => App,
  assembly?: CloudAssembly,
): SynthesisedStage {
  const read = (stackId: string) =>
    JSON.parse(readFileSync(join(outdir, `${stackId}.template.json`), 'utf8')) as Record<string, unknown>;
  const json = {
    network: read(STACK_IDS.network),
    data: read(STACK_IDS.data),
    service: read(STACK_IDS.service),
  };
  let stacks: BlueprintStacks | undefined;
  let loaded = assembly;
  return {
    get app() {
      return app();
    },
    get stacks() {
      return (stacks ??= blueprintStacks(app()));
    },
    get assembly() {
      return (loaded ??= new CloudAssembly(outdir));
    },
    outdir,
    json,
    templates: {
      network: Template.fromJSON(json.network),
      data: Template.fromJSON(json.data),
      service: Template.fromJSON(json.service),
    },
    synthOutput,
    report: validationReport(outdir),
  };
}

/** The synth's validation report; CDK writes none when no validation plugin ran (no cdk-nag, no validation). */
function validationReport(outdir: string): ValidationReport {
  const file = join(outdir, 'validation-report.json');
  if (!existsSync(file)) return { pluginReports: [] };
  return JSON.parse(readFileSync(file, 'utf8')) as ValidationReport;
}

/** Resources of a raw template, optionally of one type. */
export function resourcesOf(
  template: Record<string, unknown>,
  type?: string,
): Record<string, { Type: string; Properties?: Record<string, unknown>; [key: string]: unknown }> {
  const all = (template.Resources ?? {}) as Record<
    string,
    { Type: string; Properties?: Record<string, unknown>; [key: string]: unknown }
  >;
  return Object.fromEntries(
    Object.entries(all).filter(([, resource]) => type === undefined || resource.Type === type),
  );
}

/** The single resource of a type in a raw template (fails the test when there is not exactly one). */
export function onlyResource(
  template: Record<string, unknown>,
  type: string,
): { logicalId: string; Properties: Record<string, unknown>; [key: string]: unknown } {
  const entries = Object.entries(resourcesOf(template, type));
  if (entries.length !== 1) throw new Error(`expected exactly one ${type}, found ${entries.length}`);
  const [logicalId, resource] = entries[0]!;
  return { ...resource, logicalId, Properties: resource.Properties ?? {} };
}

/** The app's task definition in a service template (the one whose containers include `App`; the migration
 * task has its own). */
export function appTaskDefinition(template: Record<string, unknown>): {
  logicalId: string;
  Properties: Record<string, unknown>;
  [key: string]: unknown;
} {
  const entries = Object.entries(resourcesOf(template, 'AWS::ECS::TaskDefinition')).filter(([, resource]) =>
    ((resource.Properties?.ContainerDefinitions ?? []) as { Name?: string }[]).some((c) => c.Name === 'App'),
  );
  if (entries.length !== 1)
    throw new Error(`expected exactly one app task definition, found ${entries.length}`);
  const [logicalId, resource] = entries[0]!;
  return { ...resource, logicalId, Properties: resource.Properties ?? {} };
}
