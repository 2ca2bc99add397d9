/**
 * Usage assumptions of `npm run cost`: what a template cannot say (requests, gigabytes, I/O). Hourly
 * resources (instances, nodes, tasks, gateways) come from the synthesised templates; these figures only
 * feed the usage-priced lines, which the report marks as assumptions.
 *
 * The figures are sized for the top of each stage's range ("serves" in the README's stage table) with the
 * sample shop's mix: about 100 requests per active user per day and a third of the users active.
 */

/** What a stage is assumed to use per month. */
export interface UsageAssumptions {
  /** Requests reaching the load balancer (and, from `1m`, the API gateway), millions per month. */
  readonly requestsMillions: number;
  /** Average Application Load Balancer capacity units (new connections, active connections, bytes, rules). */
  readonly albLcu: number;
  /** Data through the NAT gateways (image pulls, AWS APIs outside the VPC endpoints), GB per month, all gateways. */
  readonly natDataGb: number;
  /** Aurora storage per cluster (shard), GB. Backups within the retention period are free up to this size. */
  readonly auroraStorageGb: number;
  /** Aurora I/O per cluster, millions of requests per month (Aurora Standard bills them). */
  readonly auroraIoMillions: number;
  /** Logs written to each log group (app, database), GB per month; kept one month on average. */
  readonly logsGbPerGroup: number;
  /** VPC flow logs, GB per month per flow log. */
  readonly flowLogsGb: number;
  /** Container Insights performance events, GB per running task per month. */
  readonly containerInsightsGbPerTask: number;
  /** Access logs kept in each bucket, GB. */
  readonly accessLogsGbPerBucket: number;
  /** CloudFront data transfer out, GB per month. */
  readonly cdnGb: number;
  /** SQS requests (send, receive, delete), millions per month. */
  readonly queueRequestsMillions: number;
  /** EventBridge events published, millions per month. */
  readonly eventsMillions: number;
  /** Aurora Global Database replicated write I/O, millions per month per secondary region. */
  readonly replicatedWriteIoMillions: number;
  /** Data replicated to each other region (database, cache), GB per month. */
  readonly interRegionGb: number;
  /** DNS queries answered with latency routing, millions per month. */
  readonly dnsQueriesMillions: number;
}

/** Assumptions by stage id (tools may know stage ids; `lib/` never does). */
export const USAGE_BY_STAGE: Readonly<Record<string, UsageAssumptions>> = {
  '1k': {
    requestsMillions: 3,
    albLcu: 1,
    natDataGb: 20,
    auroraStorageGb: 10,
    auroraIoMillions: 20,
    logsGbPerGroup: 1,
    flowLogsGb: 2,
    containerInsightsGbPerTask: 0.5,
    accessLogsGbPerBucket: 2,
    cdnGb: 0,
    queueRequestsMillions: 0,
    eventsMillions: 0,
    replicatedWriteIoMillions: 0,
    interRegionGb: 0,
    dnsQueriesMillions: 0,
  },
  '10k': {
    requestsMillions: 30,
    albLcu: 2,
    natDataGb: 100,
    auroraStorageGb: 50,
    auroraIoMillions: 200,
    logsGbPerGroup: 5,
    flowLogsGb: 10,
    containerInsightsGbPerTask: 0.5,
    accessLogsGbPerBucket: 20,
    cdnGb: 0,
    queueRequestsMillions: 0,
    eventsMillions: 0,
    replicatedWriteIoMillions: 0,
    interRegionGb: 0,
    dnsQueriesMillions: 0,
  },
  '100k': {
    requestsMillions: 300,
    albLcu: 10,
    natDataGb: 500,
    auroraStorageGb: 250,
    auroraIoMillions: 1000,
    logsGbPerGroup: 20,
    flowLogsGb: 50,
    containerInsightsGbPerTask: 0.5,
    accessLogsGbPerBucket: 100,
    cdnGb: 0,
    queueRequestsMillions: 30,
    eventsMillions: 0,
    replicatedWriteIoMillions: 0,
    interRegionGb: 0,
    dnsQueriesMillions: 0,
  },
  '1m': {
    requestsMillions: 3000,
    albLcu: 60,
    natDataGb: 2000,
    auroraStorageGb: 500,
    auroraIoMillions: 5000,
    logsGbPerGroup: 50,
    flowLogsGb: 200,
    containerInsightsGbPerTask: 0.5,
    accessLogsGbPerBucket: 500,
    cdnGb: 0,
    queueRequestsMillions: 300,
    eventsMillions: 100,
    replicatedWriteIoMillions: 0,
    interRegionGb: 0,
    dnsQueriesMillions: 0,
  },
  // Per region: the three regions each serve about a third of the traffic.
  global: {
    requestsMillions: 3000,
    albLcu: 60,
    natDataGb: 2000,
    auroraStorageGb: 500,
    auroraIoMillions: 5000,
    logsGbPerGroup: 50,
    flowLogsGb: 200,
    containerInsightsGbPerTask: 0.5,
    accessLogsGbPerBucket: 500,
    cdnGb: 20000,
    queueRequestsMillions: 300,
    eventsMillions: 100,
    replicatedWriteIoMillions: 2000,
    interRegionGb: 500,
    dnsQueriesMillions: 300,
  },
};

/**
 * The usage assumptions of a stage.
 *
 * @throws Error naming the stage and the file to add it to
 */
export function usageFor(stageId: string): UsageAssumptions {
  const usage = Object.prototype.hasOwnProperty.call(USAGE_BY_STAGE, stageId)
    ? USAGE_BY_STAGE[stageId]
    : undefined;
  if (usage === undefined) {
    throw new Error(
      `No usage assumptions for stage "${stageId}". Fix: add an entry to USAGE_BY_STAGE in tools/cost/usage.ts ` +
        `(known: ${Object.keys(USAGE_BY_STAGE).join(', ')}).`,
    );
  }
  return usage;
}
