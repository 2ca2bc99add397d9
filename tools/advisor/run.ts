/**
 * `npm run advise` with its surroundings passed in (AWS clients, synthesis, clock, output), so tests run it
 * against aws-sdk-client-mock and recorded responses without a process or an account.
 */
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DEFAULT_MONITORING_CONFIG } from '../../lib/config/defaults';
import type { MonitoringConfig } from '../../lib/config/monitoring-config';
import type { AssemblyTemplates } from '../upgrade/assembly';
import { adviseExitCodes, adviseUsage, parseAdviseArgs, type AdviseArgs } from './args';
import { discoverStacks, placeholderPhysicalIds } from './discover';
import { deploymentFromStacks, detectStage, type DeployedStack, type Deployment } from './deployment';
import { buildRequests, fetchMetrics, type MetricWindow } from './fetch';
import { plan } from './queries';
import { renderAdviceJson, renderAdviceMarkdown, renderAdviceText, type AdviceReport } from './report';
import { recommend } from './rules';

/** What `runAdvise` needs from its surroundings. */
export interface AdviseIo {
  /** A CloudFormation client for a region. */
  readonly cloudFormation: (region: string) => CloudFormationClient;
  /** A CloudWatch client for a region. */
  readonly cloudWatch: (region: string) => CloudWatchClient;
  /** Stage ids that can be synthesised (for `--dry-run`). */
  readonly implementedStages: readonly string[];
  readonly synth: (stageId: string) => AssemblyTemplates;
  /** The stage's alarm thresholds when it is implemented (the ALB rules use them). */
  readonly monitoring?: (stageId: string) => MonitoringConfig | undefined;
  /** The clock (the look-back ends at the last whole window before it). */
  readonly now: () => Date;
  /** Environment (the default region). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Receives the report. */
  readonly stdout: { write(chunk: string): unknown };
  /** Receives errors. */
  readonly stderr: { write(chunk: string): unknown };
}

const PERMISSIONS =
  'cloudformation:DescribeStacks, cloudformation:GetTemplate, cloudformation:ListStackResources and cloudwatch:GetMetricData';

/** A message for an error from the SDK: credentials, permissions, or anything else, naming the region. */
export function describeAwsError(error: unknown, region: string): string {
  const name = (error as { name?: string }).name ?? 'Error';
  const message = (error as Error).message ?? String(error);
  if (name === 'CredentialsProviderError' || /Could not load credentials|credential/i.test(message)) {
    return (
      'No AWS credentials found. The advisor uses the standard SDK chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ' +
      'AWS_PROFILE and ~/.aws/config (SSO included), then container and instance roles. Configure one of them, or ' +
      `run with --dry-run --stage <id> to print the queries without credentials. (${name}: ${message})`
    );
  }
  if (/AccessDenied|UnauthorizedOperation|not authorized/i.test(`${name} ${message}`)) {
    return `Access denied in ${region} (${name}: ${message}). The advisor needs ${PERMISSIONS}.`;
  }
  return `AWS call failed in ${region} (${name}: ${message}).`;
}

function window(args: AdviseArgs, now: Date): MetricWindow {
  const periodSeconds = args.windowMinutes * 60;
  // Whole windows ending at the last completed one: CloudWatch aligns periods to the start time.
  const end = new Date(Math.floor(now.getTime() / (periodSeconds * 1000)) * periodSeconds * 1000);
  return { start: new Date(end.getTime() - args.days * 86_400_000), end, periodSeconds };
}

/** Stacks of a synthesised stage as `--dry-run` reads them, renamed to the prefix and regions given. */
function synthesisedStacks(args: AdviseArgs, io: AdviseIo, stageId: string): DeployedStack[] {
  const templates = io.synth(stageId);
  const synthPrefix = templates.stacks
    .find((s) => s.stackName.endsWith('-data'))
    ?.stackName.slice(0, -'-data'.length);
  const rename = (name: string) =>
    synthPrefix !== undefined && name.startsWith(`${synthPrefix}-`)
      ? `${args.prefix}${name.slice(synthPrefix.length)}`
      : name;
  return args.regions.flatMap((region) =>
    templates.stacks.map((stack) => ({
      region,
      stackName: rename(stack.stackName),
      template: stack.template,
      physicalIds: new Map(
        [...placeholderPhysicalIds(stack.template, region)].map(([id, value]) => [id, rename(value)]),
      ),
    })),
  );
}

/**
 * Runs the advisor and returns the exit code (see `adviseExitCodes`).
 */
export async function runAdvise(argv: readonly string[], io: AdviseIo): Promise<number> {
  let args: AdviseArgs | 'help';
  try {
    args = parseAdviseArgs(argv, io.env);
  } catch (error) {
    io.stderr.write(`Error: ${(error as Error).message}\n\n${adviseUsage}\n`);
    return adviseExitCodes.usage;
  }
  if (args === 'help') {
    io.stdout.write(`${adviseUsage}\n`);
    return adviseExitCodes.fine;
  }
  const metricWindow = window(args, io.now());

  if (args.dryRun) {
    const stageId = args.stage as string;
    if (!io.implementedStages.includes(stageId)) {
      io.stderr.write(
        `Error: --dry-run --stage ${stageId}: stage ${stageId} is not implemented yet, so it cannot be synthesised. ` +
          `Implemented: ${io.implementedStages.join(', ')}.\n`,
      );
      return adviseExitCodes.usage;
    }
    const deployment = deploymentFromStacks(args.prefix, synthesisedStacks(args, io, stageId));
    const requests = buildRequests(
      plan(deployment, args.stage ?? detectStage(deployment)).refs,
      metricWindow,
    );
    const discovery = args.regions.map((region) => ({
      region,
      calls: [
        'cloudformation:DescribeStacks',
        'cloudformation:GetTemplate (per stack)',
        'cloudformation:ListStackResources (per stack)',
      ],
      stacks: [...new Set(deployment.stackNames.filter((name) => name.startsWith(`${region}/`)))],
    }));
    if (args.format === 'json') {
      io.stdout.write(`${JSON.stringify({ discovery, getMetricData: requests }, null, 2)}\n`);
    } else {
      io.stdout.write(
        `Dry run for stage ${stageId}, prefix ${args.prefix}: no AWS call is made. Names CloudFormation generates are ` +
          '<LogicalId> placeholders.\n' +
          discovery
            .map(
              (d) =>
                `${d.region}: ${d.calls.join(', ')} for ${d.stacks.map((s) => s.split('/')[1]).join(', ')}\n`,
            )
            .join('') +
          `${requests.length} GetMetricData call(s), ${requests.reduce((n, r) => n + (r.input.MetricDataQueries?.length ?? 0), 0)} queries:\n` +
          `${JSON.stringify(requests, null, 2)}\n`,
      );
    }
    return adviseExitCodes.fine;
  }

  const stacks: DeployedStack[] = [];
  for (const region of args.regions) {
    try {
      stacks.push(...(await discoverStacks(io.cloudFormation(region), region, args.prefix)));
    } catch (error) {
      io.stderr.write(`Error: ${describeAwsError(error, region)}\n`);
      return adviseExitCodes.failed;
    }
  }
  if (stacks.length === 0) {
    io.stderr.write(
      `Error: no stacks of prefix "${args.prefix}" in ${args.regions.join(', ')}: looked for ${args.prefix}-network, ` +
        `${args.prefix}-data, ${args.prefix}-service and other ${args.prefix}-<part> stacks with cloudformation:DescribeStacks. ` +
        'Check --prefix (the -c prefix= the stage was deployed with) and --region.\n',
    );
    return adviseExitCodes.failed;
  }
  let deployment: Deployment;
  try {
    deployment = deploymentFromStacks(args.prefix, stacks);
  } catch (error) {
    io.stderr.write(`Error: ${(error as Error).message}\n`);
    return adviseExitCodes.failed;
  }
  if (deployment.clusters.length === 0 && deployment.services.length === 0) {
    io.stderr.write(
      `Error: the stacks ${deployment.stackNames.join(', ')} hold no Aurora cluster and no ECS service: nothing to advise on. ` +
        'Is the deployment complete?\n',
    );
    return adviseExitCodes.failed;
  }
  const detectedStage = detectStage(deployment);
  const stage = args.stage ?? detectedStage;
  const advisorPlan = plan(deployment, stage);
  const requests = buildRequests(advisorPlan.refs, metricWindow);
  let fetched;
  try {
    fetched = await fetchMetrics(requests, io.cloudWatch);
  } catch (error) {
    io.stderr.write(`Error: ${describeAwsError(error, args.regions.join(', '))}\n`);
    return adviseExitCodes.failed;
  }
  const monitoring = io.monitoring?.(stage) ?? DEFAULT_MONITORING_CONFIG;
  const signals = advisorPlan.evaluate(fetched.series, {
    stage,
    minShare: args.minShare,
    albP99LatencyMs: monitoring.albP99LatencyMs,
    alb5xxRatePercent: monitoring.alb5xxRatePercent,
    flags: args.flags,
  });
  const report: AdviceReport = {
    prefix: args.prefix,
    regions: deployment.regions,
    stage,
    detectedStage,
    days: args.days,
    periodSeconds: metricWindow.periodSeconds,
    minShare: args.minShare,
    stacks: deployment.stackNames,
    metricsRead: requests.reduce((n, r) => n + (r.input.MetricDataQueries?.length ?? 0), 0),
    calls: fetched.calls,
    messages: fetched.messages,
    signals,
    recommendation: recommend(signals),
  };
  const render = { text: renderAdviceText, json: renderAdviceJson, markdown: renderAdviceMarkdown }[
    args.format
  ];
  io.stdout.write(render(report));
  return report.recommendation.kind === 'fine' ? adviseExitCodes.fine : adviseExitCodes.action;
}
