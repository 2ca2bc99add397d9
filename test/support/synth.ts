/**
 * Synthesising blueprint stages in tests: once per stage and variant per test file (synth is the slow
 * part), into a temporary directory removed when the process exits.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { DISABLE_ASSET_STAGING_CONTEXT } from 'aws-cdk-lib/cx-api';
import { blueprintStacks, createBlueprintApp, STACK_IDS, type BlueprintStacks } from '../../lib/blueprint';
import { stageById, stageContext } from '../../stages';
import type { StageConfig } from '../../stages/stage-config';

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

const outdirs: string[] = [];
process.on('exit', () => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

const cache = new Map<string, SynthesisedStage>();

/**
 * Synthesises a stage (cached per stage id and options within the test file).
 *
 * Asset staging is off: the image's build context is not copied (the templates are the same).
 */
export function synthStage(id: string, options: SynthOptions = {}): SynthesisedStage {
  const key = JSON.stringify([id, options.context ?? {}, options.nag ?? true, options.config !== undefined]);
  const cached = options.config === undefined ? cache.get(key) : undefined;
  if (cached) return cached;

  const outdir = mkdtempSync(join(tmpdir(), 'infra-test-'));
  outdirs.push(outdir);
  const app = createBlueprintApp({
    config: options.config ?? stageById(id),
    outdir,
    nag: options.nag ?? true,
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
  const read = (stackId: string) =>
    JSON.parse(readFileSync(join(outdir, `${stackId}.template.json`), 'utf8')) as Record<string, unknown>;
  const json = {
    network: read(STACK_IDS.network),
    data: read(STACK_IDS.data),
    service: read(STACK_IDS.service),
  };
  const result: SynthesisedStage = {
    app,
    stacks: blueprintStacks(app),
    assembly,
    outdir,
    json,
    templates: {
      network: Template.fromJSON(json.network),
      data: Template.fromJSON(json.data),
      service: Template.fromJSON(json.service),
    },
    synthOutput: printed.join('\n'),
    report: JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as ValidationReport,
  };
  if (options.config === undefined) cache.set(key, result);
  return result;
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
