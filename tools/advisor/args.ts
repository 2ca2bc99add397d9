/**
 * Command-line arguments of `npm run advise`, validated all at once before any AWS call.
 */
import { ADVISOR_STAGE_IDS, type AdvisorStageId } from './deployment';
import type { ContextFlags } from './rules';
import { DEFAULT_MIN_SHARE } from './rules';

/** Exit codes of `npm run advise`. */
export const adviseExitCodes = {
  /** Every signal is fine (or `--dry-run`, `--help`). */
  fine: 0,
  /** An action is recommended: scale within the stage, or move to another. */
  action: 1,
  /** Bad arguments. */
  usage: 2,
  /** Nothing could be read: no credentials, no stacks of the prefix, an AWS error. */
  failed: 3,
} as const;

/** Parsed arguments. */
export interface AdviseArgs {
  /** Regions to read (several for `global`). */
  readonly regions: readonly string[];
  readonly prefix: string;
  /** The stage to assume; absent: detect it. */
  readonly stage?: AdvisorStageId;
  readonly days: number;
  readonly windowMinutes: number;
  /** Share of windows that must breach (0-1). */
  readonly minShare: number;
  readonly format: 'text' | 'json' | 'markdown';
  readonly dryRun: boolean;
  readonly flags: ContextFlags;
}

/** The usage text. */
export const adviseUsage = [
  'Usage: npm run advise -- --region <region>[,<region>...] [--prefix shop] [--stage <id>] [--days 14]',
  '         [--window-minutes 60] [--min-share 20] [--format text|json|markdown] [--dry-run]',
  '         [--teams <n>] [--user-continents <n>] [--rto-minutes <n>] [--rpo-seconds <n>]',
  '',
  "Reads a deployed stage's CloudWatch metrics and says, per signal, whether it is fine, needs scaling within",
  'the stage, or calls for the next stage. Credentials: the standard AWS SDK chain. Exit code 0: no action;',
  '1: an action is recommended; 2: usage error; 3: nothing could be read (credentials, no stacks, AWS error).',
  '',
  `  --region           region(s) to read; default $AWS_REGION`,
  '  --prefix           the deployment prefix (stacks <prefix>-network, -data, -service); default shop',
  `  --stage            assume this stage (${ADVISOR_STAGE_IDS.join(', ')}) instead of detecting it`,
  '  --days             look-back, 1-455 days (5-minute windows need --days 63 or less); default 14',
  '  --window-minutes   window length; each window contributes its p95 (or the statistic the rule names); default 60',
  '  --min-share        percent of windows past a threshold for a rule to breach; default 20',
  '  --dry-run          print the GetMetricData requests for --stage, from its synthesised templates, without AWS',
  '  --teams, --user-continents, --rto-minutes, --rpo-seconds',
  '                     what metrics cannot show; the moves to 1m and global use them, and say so',
].join('\n');

const NUMBER_FLAGS = {
  days: 'days',
  'window-minutes': 'windowMinutes',
  'min-share': 'minShare',
  teams: 'teams',
  'user-continents': 'userContinents',
  'rto-minutes': 'rtoMinutes',
  'rpo-seconds': 'rpoSeconds',
} as const;
const STRING_FLAGS = ['region', 'prefix', 'stage', 'format'] as const;

/**
 * Parses the arguments.
 *
 * @param env - for the default region (`AWS_REGION`, then `AWS_DEFAULT_REGION`)
 * @throws Error listing every problem, each naming the option, the value received and what is accepted
 */
export function parseAdviseArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): AdviseArgs | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const values: Record<string, string> = {};
  const problems: string[] = [];
  let dryRun = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) {
      problems.push(`Unexpected argument "${arg}" (every option is --name value).`);
      continue;
    }
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (name === 'dry-run') {
      dryRun = true;
      continue;
    }
    if (!(name in NUMBER_FLAGS) && !(STRING_FLAGS as readonly string[]).includes(name)) {
      problems.push(`Unknown option --${name}.`);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || value.startsWith('--')) {
      problems.push(`--${name} needs a value.`);
      if (value !== undefined) i--;
      continue;
    }
    values[name] = value;
  }

  const regionText = values.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const regions = (regionText ?? '')
    .split(',')
    .map((region) => region.trim())
    .filter(Boolean);
  if (regions.length === 0)
    problems.push('--region is required (or set AWS_REGION), e.g. --region eu-west-1.');
  for (const region of regions) {
    if (!/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(region))
      problems.push(`--region: "${region}" is not a region name (e.g. eu-west-1).`);
  }
  const prefix = values.prefix ?? 'shop';
  if (!/^[a-z]([a-z0-9]|-(?!-))*$/.test(prefix) || prefix.length > 16 || prefix.endsWith('-')) {
    problems.push(
      `--prefix: "${prefix}" is not a deployment prefix (lower case, 1-16 characters, as -c prefix=).`,
    );
  }
  const stage = values.stage;
  if (stage !== undefined && !(ADVISOR_STAGE_IDS as readonly string[]).includes(stage)) {
    problems.push(`--stage: "${stage}" is not a stage. Stages: ${ADVISOR_STAGE_IDS.join(', ')}.`);
  }
  const format = values.format ?? 'text';
  if (!['text', 'json', 'markdown'].includes(format)) {
    problems.push(`--format: received "${format}", expected text, json or markdown.`);
  }
  const numbers: Record<string, number> = {};
  for (const [flag, key] of Object.entries(NUMBER_FLAGS)) {
    const text = values[flag];
    if (text === undefined) continue;
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0) {
      problems.push(`--${flag}: received "${text}", expected a number of 0 or more.`);
      continue;
    }
    numbers[key] = value;
  }
  const days = numbers.days ?? 14;
  const windowMinutes = numbers.windowMinutes ?? 60;
  if (!Number.isInteger(days) || days < 1 || days > 455)
    problems.push(`--days: received ${days}, expected a whole number from 1 to 455.`);
  if (!Number.isInteger(windowMinutes) || windowMinutes < 1 || windowMinutes > 1440) {
    problems.push(
      `--window-minutes: received ${windowMinutes}, expected a whole number of minutes from 1 to 1440.`,
    );
  } else if (days > 63 && windowMinutes % 60 !== 0) {
    problems.push(
      `--window-minutes: CloudWatch keeps data older than 63 days in 1-hour points only; use 60 (or a multiple) with --days ${days}.`,
    );
  } else if (days > 15 && windowMinutes % 5 !== 0) {
    problems.push(
      `--window-minutes: CloudWatch keeps 1-minute points for 15 days only; use a multiple of 5 with --days ${days}.`,
    );
  }
  const minShare = (numbers.minShare ?? DEFAULT_MIN_SHARE * 100) / 100;
  if (minShare <= 0 || minShare > 1)
    problems.push(`--min-share: received ${numbers.minShare}, expected a percentage above 0, at most 100.`);
  if (dryRun && stage === undefined) {
    problems.push('--dry-run needs --stage: without AWS there is no deployment to detect the stage from.');
  }
  if (problems.length) throw new Error(problems.join('\n'));

  const flags: ContextFlags = {
    ...(numbers.teams !== undefined ? { teams: numbers.teams } : {}),
    ...(numbers.userContinents !== undefined ? { userContinents: numbers.userContinents } : {}),
    ...(numbers.rtoMinutes !== undefined ? { rtoMinutes: numbers.rtoMinutes } : {}),
    ...(numbers.rpoSeconds !== undefined ? { rpoSeconds: numbers.rpoSeconds } : {}),
  };
  return {
    regions,
    prefix,
    ...(stage !== undefined ? { stage: stage as AdvisorStageId } : {}),
    days,
    windowMinutes,
    minShare,
    format: format as AdviseArgs['format'],
    dryRun,
    flags,
  };
}
