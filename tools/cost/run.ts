/**
 * `npm run cost -- <stage> [--region us-east-1] [--tasks min|max] [--format text|markdown|json]`, with its
 * surroundings passed in so tests run it without a process.
 */
import type { AssemblyTemplates } from '../upgrade/assembly';
import { estimateCost, type CostEstimate, type TaskCount } from './estimate';
import { pricedRegions } from './prices';
import { renderCostMarkdown, renderCostText } from './report';
import { usageFor } from './usage';

/** Exit codes of `npm run cost`. */
export const costExitCodes = {
  ok: 0,
  /** Bad arguments. */
  usage: 2,
  /** The stage failed to synthesise, or something in it has no price. */
  failed: 3,
} as const;

/** Parsed arguments. */
export interface CostArgs {
  /** Stage id. */
  readonly stage: string;
  /** Region of the price table. */
  readonly region: string;
  /** Price tasks at the autoscaling minimum or maximum. */
  readonly tasks: TaskCount;
  /** Output format. */
  readonly format: 'text' | 'markdown' | 'json';
}

/** Default region: the price table's first (us-east-1). */
export const DEFAULT_COST_REGION = 'us-east-1';

/** The usage text. */
export function costUsage(stageIds: readonly string[]): string {
  return [
    'Usage: npm run cost -- <stage> [--region <region>] [--tasks min|max] [--format text|markdown|json]',
    '',
    'Synthesises the stage offline and prices every resource of its templates on demand, per month.',
    `Stages: ${stageIds.join(', ')}. Regions: ${pricedRegions.join(', ')} (default ${DEFAULT_COST_REGION}).`,
    '  --tasks    price the Fargate services at their autoscaling minimum (default) or maximum',
    '  --format   text (default), markdown or json',
  ].join('\n');
}

/**
 * Parses the arguments.
 *
 * @throws Error naming the bad argument, the value received and the accepted values
 */
export function parseCostArgs(argv: readonly string[], stageIds: readonly string[]): CostArgs | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const options: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (!['region', 'tasks', 'format'].includes(name)) throw new Error(`Unknown option --${name}.`);
    const value = inline ?? argv[++i];
    if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value.`);
    options[name] = value;
  }
  if (positional.length !== 1) {
    throw new Error(`Expected one stage id, got ${positional.length}. Known stages: ${stageIds.join(', ')}.`);
  }
  const stage = positional[0] as string;
  const problems: string[] = [];
  if (!stageIds.includes(stage))
    problems.push(`Unknown stage "${stage}". Known stages: ${stageIds.join(', ')}.`);
  const region = options.region ?? DEFAULT_COST_REGION;
  if (!pricedRegions.includes(region)) {
    problems.push(`--region: no price table for "${region}". Priced regions: ${pricedRegions.join(', ')}.`);
  }
  const tasks = options.tasks ?? 'min';
  if (tasks !== 'min' && tasks !== 'max') problems.push(`--tasks: received "${tasks}", expected min or max.`);
  const format = options.format ?? 'text';
  if (!['text', 'markdown', 'json'].includes(format)) {
    problems.push(`--format: received "${format}", expected text, markdown or json.`);
  }
  if (problems.length) throw new Error(problems.join(' '));
  return { stage, region, tasks: tasks as TaskCount, format: format as CostArgs['format'] };
}

/** What the command needs from its surroundings. */
export interface CostCommandIo {
  /** Stage ids that can be synthesised. */
  readonly stageIds: readonly string[];
  /** Synthesises a stage. */
  readonly synth: (id: string) => AssemblyTemplates;
  /** Receives the report. */
  readonly stdout: { write(chunk: string): unknown };
  /** Receives progress and errors. */
  readonly stderr: { write(chunk: string): unknown };
}

/** Runs the command and returns its exit code. */
export function runCost(argv: readonly string[], io: CostCommandIo): number {
  let args: CostArgs | 'help';
  try {
    args = parseCostArgs(argv, io.stageIds);
  } catch (error) {
    io.stderr.write(`Error: ${(error as Error).message}\n\n${costUsage(io.stageIds)}\n`);
    return costExitCodes.usage;
  }
  if (args === 'help') {
    io.stdout.write(`${costUsage(io.stageIds)}\n`);
    return costExitCodes.ok;
  }
  let estimate: CostEstimate;
  let other: CostEstimate;
  try {
    io.stderr.write(`Synthesising stage ${args.stage} ...\n`);
    const templates = io.synth(args.stage);
    const usage = usageFor(args.stage);
    estimate = estimateCost(templates, { region: args.region, usage, tasks: args.tasks });
    other = estimateCost(templates, {
      region: args.region,
      usage,
      tasks: args.tasks === 'min' ? 'max' : 'min',
    });
  } catch (error) {
    io.stderr.write(`Error: ${(error as Error).message}\n`);
    return costExitCodes.failed;
  }
  if (args.format === 'json') {
    io.stdout.write(`${JSON.stringify({ stage: args.stage, ...estimate }, null, 2)}\n`);
  } else if (args.format === 'markdown') {
    const [min, max] = args.tasks === 'min' ? [estimate, other] : [other, estimate];
    io.stdout.write(renderCostMarkdown(args.stage, [{ min, max }]));
  } else {
    io.stdout.write(renderCostText(args.stage, estimate));
  }
  return costExitCodes.ok;
}
