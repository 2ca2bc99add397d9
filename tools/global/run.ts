/**
 * `npm run global` with its surroundings passed in (AWS clients, stage configs, clock, output), so tests run it
 * against aws-sdk-client-mock and recorded request and response shapes without a process or an account.
 */
import type { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import type { RDSClient } from '@aws-sdk/client-rds';
import type { StageConfig } from '../../lib/config/stage-config';
import { CONTEXT_KEYS } from '../../lib/config/deployment-context';
import { pascalCase } from '../../lib/config/naming';
import { EDGE_STACK_IDS } from '../../lib/edge/build-edge';
import { EDGE_REGION } from '../../lib/edge/names';
import { STACK_IDS } from '../../lib/region';
import { ROUTING_STACK_IDS } from '../../lib/routing';
import { GLOBAL_ARG_DEFAULTS, globalExitCodes, globalUsage, parseGlobalArgs, type GlobalArgs } from './args';
import { listGlobalClusters, listGlobalDatastores, planMove, type GlobalPlan } from './discover';
import { globalClusterNames, homeSessionGroupId, regionOfArn, type GlobalClusterName } from './identifiers';
import { CLUSTER_API, isInTarget, moveClusters, moveDatastore, type Outcome, type Waiting } from './move';

/** What `runGlobal` needs from its surroundings. */
export interface GlobalIo {
  /** An RDS client for a region. */
  readonly rds: (region: string) => RDSClient;
  /** An ElastiCache client for a region. */
  readonly elastiCache: (region: string) => ElastiCacheClient;
  /** The config of a stage id, or undefined when there is no such stage. */
  readonly stageConfig: (id: string) => StageConfig | undefined;
  /** The stage ids (for the message naming an unknown one). */
  readonly stageIds: readonly string[];
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** Receives the plan, progress and report. */
  readonly stdout: { write(chunk: string): unknown };
  /** Receives errors. */
  readonly stderr: { write(chunk: string): unknown };
}

/** The runbook every message points at. */
export const RUNBOOK = 'docs/runbooks/global-switchover-and-failover.md';

const PERMISSIONS =
  'rds:DescribeGlobalClusters, rds:SwitchoverGlobalCluster, rds:FailoverGlobalCluster, ' +
  'elasticache:DescribeGlobalReplicationGroups and elasticache:FailoverGlobalReplicationGroup';

/** A message for an SDK error before any change: credentials, permissions, or anything else. */
export function describeAwsError(error: unknown, region: string): string {
  const name = (error as { name?: string }).name ?? 'Error';
  const message = (error as Error).message ?? String(error);
  if (name === 'CredentialsProviderError' || /Could not load credentials|credential/i.test(message)) {
    return (
      'No AWS credentials found. The standard SDK chain is used: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE ' +
      'and ~/.aws/config (SSO included), then container and instance roles. Configure one of them, or run with ' +
      `--dry-run --regions <-c regions=> to print the calls without credentials. (${name}: ${message})`
    );
  }
  if (/AccessDenied|UnauthorizedOperation|not authorized/i.test(`${name} ${message}`)) {
    return `Access denied in ${region} (${name}: ${message}). This command needs ${PERMISSIONS}.`;
  }
  return `AWS call failed in ${region} (${name}: ${message}). Nothing was changed.`;
}

/** Route 53 health-check figures of the stage (defaults as lib/config/stage-config.ts documents them). */
function healthCheck(config: StageConfig) {
  const intervalSeconds = config.global?.routing.healthCheckIntervalSeconds ?? 10;
  const threshold = config.global?.routing.healthCheckFailureThreshold ?? 3;
  return { intervalSeconds, threshold, seconds: intervalSeconds * threshold };
}

/** The CDK stack paths `-c writerRegion` changes: every region's service stack, the edge and the routing. */
export function writerRegionStacks(
  regions: readonly string[],
): { readonly path: string; readonly region: string }[] {
  const home = regions[0];
  if (home === undefined) throw new Error('writerRegionStacks: no regions');
  return [
    ...regions.map((region) => ({
      path: region === home ? STACK_IDS.service : `${pascalCase(region)}/${STACK_IDS.service}`,
      region,
    })),
    { path: EDGE_STACK_IDS.edge, region: EDGE_REGION },
    { path: ROUTING_STACK_IDS.routing, region: home },
  ];
}

/**
 * The deployment that makes the writes follow the writers to `to` (`-c writerRegion`), or back home on a fail back:
 * the stacks and the exact command. `--exclusively`: `cdk deploy` of a stack otherwise deploys the stacks it
 * depends on first, the data stacks among them, which this move must not touch. After a failover, the stacks in
 * the old writer region (and the edge's, in us-east-1, when that is the one) cannot deploy until its CloudFormation
 * answers: they are listed apart.
 */
export function writerRegionFollowUp(
  args: Pick<GlobalArgs, 'command' | 'to' | 'stage' | 'prefix'>,
  regions: readonly string[],
  previousWriter?: string,
): string {
  const home = regions[0]!;
  const failBack = args.to === home;
  const stacks = writerRegionStacks(regions);
  const down = args.command === 'failover' ? previousWriter : undefined;
  const now = stacks.filter((stack) => stack.region !== down);
  const later = stacks.filter((stack) => stack.region === down);
  const context = [
    `-c stage=${args.stage}`,
    ...(args.prefix !== GLOBAL_ARG_DEFAULTS.prefix ? [`-c prefix=${args.prefix}`] : []),
    `-c ${CONTEXT_KEYS.writerRegion}=${args.to}`,
  ].join(' ');
  const deploy = (list: readonly { path: string }[]) =>
    `npm run cdk -- deploy --exclusively ${list.map((stack) => `'${stack.path}'`).join(' ')} ${context}`;
  return [
    failBack
      ? `- Writes follow the writer home: reset ${CONTEXT_KEYS.writerRegion} (remove "${CONTEXT_KEYS.writerRegion}" from cdk.json's "context",`
      : `- Writes follow the writer: set ${CONTEXT_KEYS.writerRegion}=${args.to} ("${CONTEXT_KEYS.writerRegion}": "${args.to}" in cdk.json's "context",`,
    "  so that no later deploy sends the writes elsewhere) and deploy every region's service stack, then the edge",
    '  and the routing, and nothing else (--exclusively: no data or shard stack), with the rest of the context as deployed:',
    `    ${deploy(now)}`,
    ...(later.length > 0
      ? [
          `  The stacks in ${down} cannot deploy while its CloudFormation is down; until they do, what they route still`,
          `  sends writes to ${down} (they fail there). Once it answers, before failing back: ${deploy(later)}`,
        ]
      : []),
  ].join('\n');
}

/** The lines printed after the database and the datastore moved (or for a dry run, what would follow). */
export function afterMoveText(
  args: Pick<GlobalArgs, 'command' | 'to' | 'stage' | 'prefix'>,
  config: StageConfig,
  regions: readonly string[],
  previousWriter?: string,
): string {
  const check = healthCheck(config);
  const home = regions[0];
  return [
    'What happens now:',
    `- Reads: every region keeps serving reads from its own replica. Route 53 moves a region's viewers to the next`,
    `  region only when that region's /readyz health check fails: ${check.intervalSeconds} s x ${check.threshold} checks = ${check.seconds} s`,
    '  after it goes down, plus what resolvers cached of the previous answer.',
    `- Writes: the apps, the CloudFront function and the Route 53 default send every write to the region the last`,
    `  deploy named in -c ${CONTEXT_KEYS.writerRegion} (default: the first of -c regions=, ${home}). Until that is ${args.to},`,
    `  writes fail${previousWriter !== undefined ? ` (${previousWriter}'s clusters are now read-only secondaries)` : ''}.`,
    writerRegionFollowUp(args, regions, previousWriter),
    "  Do NOT redeploy with the regions reordered: the first region's data stacks own the AWS::RDS::GlobalCluster",
    "  resources and the clusters' credentials, so reordering them replaces database clusters.",
    ...(args.to !== home
      ? [
          `- Fail back once ${home} is healthy: npm run global -- switchover --to ${home}; it prints the deploy that`,
          `  resets ${CONTEXT_KEYS.writerRegion}. Runbook: ${RUNBOOK}.`,
        ]
      : [`- Runbook: ${RUNBOOK}, "Writes follow the writer".`]),
  ].join('\n');
}

function outcomeText(
  outcome: Outcome,
  to: string,
  stayedIn: string | undefined,
  role: 'writer' | 'primary',
): string {
  const still = stayedIn !== undefined ? `; ${role} still in ${stayedIn}` : '';
  switch (outcome.status) {
    case 'already':
      return `already in ${to}`;
    case 'moved':
      return `moved to ${to} in ${outcome.seconds} s`;
    case 'failed':
      return `FAILED: ${outcome.error}${still}`;
    case 'timed-out':
      return `TIMED OUT, state unknown (last seen: ${outcome.last})`;
    case 'not-started':
      return `not started${still}`;
  }
}

/** The report of every resource, moved or not, so a stop part way leaves nothing to guess. */
export function reportText(
  plan: GlobalPlan,
  to: string,
  clusterOutcomes: ReadonlyMap<string, Outcome>,
  datastoreOutcome: Outcome,
): string {
  const width = Math.max(...plan.clusters.map((c) => c.identifier.length), plan.datastore.id.length) + 2;
  const lines = plan.clusters.map((cluster) => {
    const outcome = clusterOutcomes.get(cluster.identifier) ?? { status: 'not-started' as const };
    const from = cluster.writerArn !== undefined ? regionOfArn(cluster.writerArn) : undefined;
    return `  ${cluster.identifier.padEnd(width)}${outcomeText(outcome, to, from, 'writer')}`;
  });
  lines.push(
    `  ${plan.datastore.id.padEnd(width)}${outcomeText(datastoreOutcome, to, plan.datastore.primaryRegion, 'primary')}`,
  );
  return lines.join('\n');
}

function dryRunText(args: GlobalArgs, names: readonly GlobalClusterName[], config: StageConfig): string {
  const regions = args.regions as readonly string[];
  const order =
    args.command === 'switchover'
      ? 'one global cluster at a time, each waited for before the next (a failure stops the rest)'
      : 'every global cluster at once, then every wait at once';
  const clusterCalls = names.map((name, index) => {
    const input = {
      GlobalClusterIdentifier: name.identifier,
      TargetDbClusterIdentifier: `<ARN of ${name.identifier}'s member cluster in ${args.to}>`,
      ...(args.command === 'failover' ? { AllowDataLoss: true } : {}),
    };
    const api = args.command === 'switchover' ? 'SwitchoverGlobalCluster' : 'FailoverGlobalCluster';
    return `  ${index + 1}. rds:${api} ${JSON.stringify(input)}`;
  });
  const datastore = {
    GlobalReplicationGroupId:
      args.datastore ?? `<the Global Datastore with member ${homeSessionGroupId(args.prefix)}>`,
    PrimaryRegion: args.to,
    PrimaryReplicationGroupId: `<its member replication group in ${args.to}>`,
  };
  return [
    `Dry run: ${args.command} to ${args.to} of prefix ${args.prefix}, stage ${args.stage}, regions ${regions.join(', ')}. ` +
      'No AWS call is made.',
    `Every call goes to ${args.to} (the old writer region may be down).`,
    'Reads first (nothing changes if any check fails):',
    '  rds:DescribeGlobalClusters {} (every page): finds ' +
      `${names.map((n) => n.identifier).join(', ')}, their writer and their member in ${args.to}`,
    `  elasticache:DescribeGlobalReplicationGroups {"ShowMemberInfo":true} (every page): finds ${datastore.GlobalReplicationGroupId} and its member in ${args.to}`,
    `Then, ${order}; clusters whose writer is already in ${args.to} are skipped:`,
    ...clusterCalls,
    `     waiting for each: rds:DescribeGlobalClusters {"GlobalClusterIdentifier":"<id>"} every ${args.pollSeconds} s, ` +
      `up to ${args.timeoutMinutes} min, until its writer is the ${args.to} member and its status "available"`,
    `Then, once every cluster's writer is in ${args.to}:`,
    `  ${names.length + 1}. elasticache:FailoverGlobalReplicationGroup ${JSON.stringify(datastore)}`,
    `     waiting: elasticache:DescribeGlobalReplicationGroups every ${args.pollSeconds} s, up to ${args.timeoutMinutes} min, ` +
      `until the ${args.to} member is PRIMARY and the status "available"`,
    '',
    afterMoveText(args, config, regions, regions[0] !== args.to ? regions[0] : undefined),
    '',
  ].join('\n');
}

/**
 * Runs `npm run global` and returns the exit code (see `globalExitCodes`).
 */
export async function runGlobal(argv: readonly string[], io: GlobalIo): Promise<number> {
  let args: GlobalArgs | 'help';
  try {
    args = parseGlobalArgs(argv);
  } catch (error) {
    io.stderr.write(`Error: ${(error as Error).message}\n\n${globalUsage}\n`);
    return globalExitCodes.usage;
  }
  if (args === 'help') {
    io.stdout.write(`${globalUsage}\n`);
    return globalExitCodes.done;
  }
  const config = io.stageConfig(args.stage);
  if (config === undefined) {
    io.stderr.write(
      `Error: --stage: "${args.stage}" is not a stage. Stages: ${io.stageIds.join(', ')}. ` +
        'Pass the stage the deployment runs (default global).\n',
    );
    return globalExitCodes.usage;
  }
  if (config.global === undefined) {
    io.stderr.write(
      `Error: --stage: stage ${args.stage} has no \`global\` config, so it has no Aurora global clusters and no ` +
        'Global Datastore to switch over. Pass the stage the deployment runs (default global).\n',
    );
    return globalExitCodes.usage;
  }
  const names = globalClusterNames(args.prefix, config);
  if (args.dryRun) {
    io.stdout.write(dryRunText(args, names, config));
    return globalExitCodes.done;
  }

  const rds = io.rds(args.to);
  const elastiCache = io.elastiCache(args.to);
  let planned: ReturnType<typeof planMove>;
  try {
    const [clusters, datastores] = [await listGlobalClusters(rds), await listGlobalDatastores(elastiCache)];
    planned = planMove({
      command: args.command,
      prefix: args.prefix,
      to: args.to,
      names,
      clusters,
      datastores,
      ...(args.datastore !== undefined ? { datastoreId: args.datastore } : {}),
      ...(args.regions !== undefined ? { regions: args.regions } : {}),
    });
  } catch (error) {
    io.stderr.write(`Error: ${describeAwsError(error, args.to)}\n`);
    return globalExitCodes.failed;
  }
  if ('problems' in planned) {
    io.stderr.write(
      `Error: refused before any change (${planned.problems.length} problem(s)):\n` +
        planned.problems.map((problem) => `- ${problem}`).join('\n') +
        '\n',
    );
    return globalExitCodes.usage;
  }
  const { plan } = planned;
  const previousWriter = plan.clusters
    .map((cluster) => (cluster.writerArn !== undefined ? regionOfArn(cluster.writerArn) : undefined))
    .find((region) => region !== undefined && region !== args.to);
  const toMove = plan.clusters.filter((cluster) => cluster.state !== 'already');
  if (toMove.length === 0 && plan.datastore.state === 'already') {
    io.stdout.write(
      `Nothing to do: every global cluster (${plan.clusters.map((c) => c.identifier).join(', ')}) and Global ` +
        `Datastore ${plan.datastore.id} already write in ${args.to}.\n\n${afterMoveText(args, config, plan.deploymentRegions)}\n`,
    );
    return globalExitCodes.done;
  }

  io.stdout.write(
    `${args.command === 'switchover' ? 'Switchover' : 'Failover (data loss allowed)'} to ${args.to} ` +
      `(deployment regions ${plan.regions.join(', ')}): ${CLUSTER_API[args.command]} for ` +
      `${toMove.map((c) => c.identifier).join(', ') || 'no cluster'}` +
      `${
        toMove.length < plan.clusters.length
          ? ` (already in ${args.to}: ${plan.clusters
              .filter((c) => c.state === 'already')
              .map((c) => c.identifier)
              .join(', ')})`
          : ''
      }, ` +
      `then FailoverGlobalReplicationGroup for ${plan.datastore.id}. Each waits up to ${args.timeoutMinutes} min.\n`,
  );
  const waiting: Waiting = {
    timeoutMs: args.timeoutMinutes * 60_000,
    pollMs: args.pollSeconds * 1000,
    now: io.now,
    sleep: io.sleep,
    log: (line) => io.stdout.write(`${line}\n`),
  };
  const clusterOutcomes = await moveClusters(rds, args.command, plan.clusters, waiting);
  const clustersDone = plan.clusters.every((cluster) =>
    isInTarget(clusterOutcomes.get(cluster.identifier) as Outcome),
  );
  const datastoreOutcome: Outcome = clustersDone
    ? await moveDatastore(elastiCache, plan.datastore, args.to, waiting)
    : plan.datastore.state === 'already'
      ? { status: 'already' }
      : { status: 'not-started' };
  const report = reportText(plan, args.to, clusterOutcomes, datastoreOutcome);

  if (clustersDone && isInTarget(datastoreOutcome)) {
    io.stdout.write(
      `\nDone:\n${report}\n\n${afterMoveText(args, config, plan.deploymentRegions, previousWriter)}\n`,
    );
    return globalExitCodes.done;
  }
  const moved = plan.clusters.filter((c) => isInTarget(clusterOutcomes.get(c.identifier) as Outcome));
  io.stderr.write(
    `\nStopped part way: ${moved.length} of ${plan.clusters.length} global clusters write in ${args.to}` +
      `${clustersDone ? '' : '; the Global Datastore was not touched'}.\n${report}\n\n` +
      (clustersDone
        ? `The databases moved; the sessions datastore did not: sessions written now go to its primary in ${plan.datastore.primaryRegion ?? 'the old region'}.\n`
        : `The writers are split across regions: each shard takes writes only in the region listed above.\n`) +
      `To resume, fix the cause and run the same command again: what is already in ${args.to} is skipped` +
      `${args.command === 'switchover' && previousWriter !== undefined ? `. To undo instead: npm run global -- switchover --to ${previousWriter}` : ''}. ` +
      `A TIMED OUT cluster may still be moving: check it with aws rds describe-global-clusters --region ${args.to} ` +
      `--global-cluster-identifier <id> before anything else. Runbook: ${RUNBOOK}.\n`,
  );
  return globalExitCodes.partial;
}
