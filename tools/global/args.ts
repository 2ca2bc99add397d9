/**
 * Command-line arguments of `npm run global`, validated all at once before any AWS call.
 */

/** Exit codes of `npm run global`. */
export const globalExitCodes = {
  /** Done (or `--dry-run`, `--help`, or nothing left to do: every resource already in the target region). */
  done: 0,
  /**
   * Stopped part way: at least one switchover or failover was requested. The report lists what moved and
   * what did not; rerunning the same command resumes (resources already in the target region are skipped).
   */
  partial: 1,
  /** Bad arguments or a refusal before any change (no `--allow-data-loss`, a region not in the deployment). */
  usage: 2,
  /** AWS could not be read before any change (credentials, permissions, a missing global cluster). */
  failed: 3,
} as const;

/** `switchover`: planned, no data loss. `failover`: unplanned, the writer region is down, data loss allowed. */
export type GlobalCommand = 'switchover' | 'failover';

/** Parsed arguments. */
export interface GlobalArgs {
  readonly command: GlobalCommand;
  /** The region that becomes the writer region. */
  readonly to: string;
  /** The deployment prefix (`-c prefix=`). */
  readonly prefix: string;
  /** The stage id whose shards name the global clusters. */
  readonly stage: string;
  /** The deployment's regions (`-c regions=`); required by `--dry-run`, a cross-check otherwise. */
  readonly regions?: readonly string[];
  /** The Global Datastore id; absent: the one whose members include `<prefix>-redis`. */
  readonly datastore?: string;
  /** Only with `failover`. */
  readonly allowDataLoss: boolean;
  readonly dryRun: boolean;
  /** How long to wait for each global cluster and for the datastore to report the new writer. */
  readonly timeoutMinutes: number;
  /** Seconds between two Describe calls while waiting. */
  readonly pollSeconds: number;
}

/** Defaults of the optional arguments. */
export const GLOBAL_ARG_DEFAULTS = {
  prefix: 'shop',
  stage: 'global',
  timeoutMinutes: 30,
  pollSeconds: 15,
} as const;

/** The usage text. */
export const globalUsage = [
  'Usage: npm run global -- switchover --to <region> [options]',
  '       npm run global -- failover --to <region> --allow-data-loss [options]',
  '',
  'switchover  planned move of every Aurora global cluster of the deployment (SwitchoverGlobalCluster: RPO 0)',
  '            and of the sessions Global Datastore (FailoverGlobalReplicationGroup) to --to.',
  'failover    the writer region is down: FailoverGlobalCluster with AllowDataLoss (RPO = the replication lag',
  '            at the moment of the outage, typically under a second), then FailoverGlobalReplicationGroup.',
  'Runbook: docs/runbooks/global-switchover-and-failover.md. Credentials: the standard AWS SDK chain. Every',
  'call goes to the --to region (the old writer region may be down).',
  '',
  '  --to                 the region that becomes the writer region (one of the deployment regions)',
  '  --allow-data-loss    failover only: accept losing the writes not yet replicated to --to',
  `  --prefix             the deployment prefix (-c prefix=); default ${GLOBAL_ARG_DEFAULTS.prefix}`,
  `  --stage              the stage whose shards name the global clusters; default ${GLOBAL_ARG_DEFAULTS.stage}`,
  '  --regions            the deployment regions as in -c regions= (required with --dry-run; else checked',
  '                       against the regions of the global clusters)',
  '  --datastore          the Global Datastore id (e.g. ldgnf-shop-sessions); default: the one whose members',
  '                       include <prefix>-redis',
  `  --timeout-minutes    how long to wait for each cluster and for the datastore; default ${GLOBAL_ARG_DEFAULTS.timeoutMinutes}`,
  `  --poll-seconds       seconds between status checks while waiting; default ${GLOBAL_ARG_DEFAULTS.pollSeconds}`,
  '  --dry-run            print the API calls without making any (no credentials needed)',
  '',
  'Exit code 0: done; 1: stopped part way (the report says what moved; rerun to resume); 2: usage error or',
  'refused before any change; 3: AWS could not be read before any change.',
].join('\n');

/** A region code such as `eu-west-1`, `us-gov-west-1` or `ap-southeast-2`. */
export const REGION_CODE = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/;

const STRING_FLAGS = ['to', 'prefix', 'stage', 'regions', 'datastore'] as const;
const NUMBER_FLAGS = { 'timeout-minutes': 'timeoutMinutes', 'poll-seconds': 'pollSeconds' } as const;
const BOOLEAN_FLAGS = ['allow-data-loss', 'dry-run'] as const;

/**
 * Parses the arguments.
 *
 * @throws Error listing every problem, each naming the option, the value received and what is accepted
 */
export function parseGlobalArgs(argv: readonly string[]): GlobalArgs | 'help' {
  if (argv.includes('--help') || argv.includes('-h') || argv.length === 0) return 'help';
  const [command, ...rest] = argv as [string, ...string[]];
  const problems: string[] = [];
  if (command !== 'switchover' && command !== 'failover') {
    problems.push(`Unknown command "${command}": expected switchover or failover.`);
  }
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    if (!arg.startsWith('--')) {
      problems.push(`Unexpected argument "${arg}" (every option is --name value).`);
      continue;
    }
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if ((BOOLEAN_FLAGS as readonly string[]).includes(name)) {
      if (inline !== undefined) problems.push(`--${name} takes no value (received "${inline}").`);
      flags.add(name);
      continue;
    }
    if (!(name in NUMBER_FLAGS) && !(STRING_FLAGS as readonly string[]).includes(name)) {
      problems.push(`Unknown option --${name}.`);
      continue;
    }
    const value = inline ?? rest[++i];
    if (value === undefined || value.startsWith('--')) {
      problems.push(`--${name} needs a value.`);
      if (value !== undefined) i--;
      continue;
    }
    values[name] = value;
  }

  const to = values.to;
  if (to === undefined)
    problems.push('--to is required: the region that becomes the writer region, e.g. --to eu-west-1.');
  else if (!REGION_CODE.test(to)) problems.push(`--to: "${to}" is not a region code (e.g. eu-west-1).`);

  const prefix = values.prefix ?? GLOBAL_ARG_DEFAULTS.prefix;
  if (!/^[a-z]([a-z0-9]|-(?!-))*$/.test(prefix) || prefix.length > 16 || prefix.endsWith('-')) {
    problems.push(
      `--prefix: "${prefix}" is not a deployment prefix (lower case, 1-16 characters, as -c prefix=).`,
    );
  }
  const stage = values.stage ?? GLOBAL_ARG_DEFAULTS.stage;

  let regions: string[] | undefined;
  if (values.regions !== undefined) {
    regions = values.regions
      .split(',')
      .map((region) => region.trim())
      .filter(Boolean);
    for (const region of regions) {
      if (!REGION_CODE.test(region))
        problems.push(`--regions: "${region}" is not a region code (e.g. eu-west-1).`);
    }
    if (new Set(regions).size !== regions.length)
      problems.push(`--regions: "${values.regions}" lists a region twice.`);
    if (regions.length < 2)
      problems.push(`--regions: "${values.regions}" names one region; a global deployment has several.`);
    if (to !== undefined && REGION_CODE.test(to) && regions.length > 0 && !regions.includes(to)) {
      problems.push(`--to: ${to} is not one of the deployment regions (${regions.join(', ')}).`);
    }
  }

  const numbers: Record<string, number> = {};
  for (const [flag, key] of Object.entries(NUMBER_FLAGS)) {
    const text = values[flag];
    if (text === undefined) continue;
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0) {
      problems.push(`--${flag}: received "${text}", expected a number above 0.`);
      continue;
    }
    numbers[key] = value;
  }

  const allowDataLoss = flags.has('allow-data-loss');
  const dryRun = flags.has('dry-run');
  if (command === 'switchover' && allowDataLoss) {
    problems.push(
      '--allow-data-loss is for failover only: a switchover waits for every secondary to catch up and loses nothing. ' +
        'Drop the flag, or run failover if the writer region is down.',
    );
  }
  if (command === 'failover' && !allowDataLoss) {
    problems.push(
      'failover needs --allow-data-loss: FailoverGlobalCluster with AllowDataLoss promotes the --to region without ' +
        'waiting for it to catch up, so writes the old writer region committed but had not yet replicated are lost ' +
        '(RPO = the replication lag at the moment of the outage: AuroraGlobalDBRPOLag, typically under a second). ' +
        'If the writer region is up, run switchover instead (RPO 0). To accept the loss, add --allow-data-loss.',
    );
  }
  if (dryRun && regions === undefined) {
    problems.push(
      '--dry-run needs --regions (the -c regions= of the deployment): without AWS there are no global clusters to read them from.',
    );
  }
  if (problems.length) throw new Error(problems.join('\n'));

  return {
    command: command as GlobalCommand,
    to: to as string,
    prefix,
    stage,
    ...(regions !== undefined ? { regions } : {}),
    ...(values.datastore !== undefined ? { datastore: values.datastore } : {}),
    allowDataLoss,
    dryRun,
    timeoutMinutes: numbers.timeoutMinutes ?? GLOBAL_ARG_DEFAULTS.timeoutMinutes,
    pollSeconds: numbers.pollSeconds ?? GLOBAL_ARG_DEFAULTS.pollSeconds,
  };
}
