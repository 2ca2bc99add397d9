/**
 * The monthly on-demand cost of a synthesised stage: every resource of every template is either priced
 * (from the pinned price table, and for usage-priced parts from the stage's usage assumptions) or declared
 * free with the reason. A resource type that is neither, an instance class or node type without a price,
 * or a region without a table fails the estimate: a missing price is never a silent zero.
 */
import { refersTo, type AssemblyTemplates, type StackTemplate } from '../upgrade/assembly';
import { HOURS_PER_MONTH, pricesFor, VCPUS, type RegionPrices } from './prices';
import type { UsageAssumptions } from './usage';

/** Which task count to price Fargate services at: the autoscaling minimum or maximum. */
export type TaskCount = 'min' | 'max';

/** A resource as a template holds it. */
export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly [key: string]: unknown;
}

/** One priced part of one resource. */
export interface PricedItem {
  /** How the figure is made, e.g. `db.t4g.medium: 730 h × $0.073`. Items with the same basis are summed. */
  readonly basis: string;
  /** US dollars per month. */
  readonly monthlyUsd: number;
  /** True when the figure rests on a usage assumption (requests, gigabytes) rather than on the template. */
  readonly assumed: boolean;
}

/** What a pricing rule sees. */
export interface PricingContext {
  /** The region's prices. */
  readonly prices: RegionPrices;
  /** The region priced (named in errors). */
  readonly region: string;
  /** The stage's usage assumptions. */
  readonly usage: UsageAssumptions;
  /** Which end of the autoscaling range to price tasks at. */
  readonly tasks: TaskCount;
  /** The stack holding the resource. */
  readonly stack: StackTemplate;
  /** Every stack of the stage (shared resources such as the NAT gateway count span stacks). */
  readonly stacks: readonly StackTemplate[];
  /** The resource's logical id in its stack. */
  readonly logicalId: string;
}

/** How one resource type is priced: a function, or the reason it costs nothing (or under a cent). */
export type TypePricing =
  | { readonly price: (resource: TemplateResource, ctx: PricingContext) => PricedItem[] }
  | { readonly free: string };

/** A price the table lacks: names what is missing and where to add it. */
export class MissingPriceError extends Error {
  constructor(what: string, region: string) {
    super(
      `No price for ${what} in ${region}. Fix: add it to tools/cost/prices.ts (with its source), ` +
        'or to RESOURCE_PRICING in tools/cost/estimate.ts (a pricing rule, or `free` with the reason).',
    );
    this.name = 'MissingPriceError';
  }
}

const usd = (value: number): string => `$${value < 0.1 ? value.toPrecision(3) : String(value)}`;
const hourly = (label: string, rate: number, count = 1): PricedItem => ({
  basis: `${label}: ${count === 1 ? '' : `${count} × `}${HOURS_PER_MONTH} h × ${usd(rate)}`,
  monthlyUsd: count * HOURS_PER_MONTH * rate,
  assumed: false,
});
const monthly = (label: string, rate: number, count = 1): PricedItem => ({
  basis: `${label}: ${count === 1 ? '' : `${count} × `}${usd(rate)}/month`,
  monthlyUsd: count * rate,
  assumed: false,
});
/** Assumed size of one domain event in the archive, KB. */
const EVENT_SIZE_KB = 1;

const perUnit = (label: string, quantity: number, unit: string, rate: number): PricedItem => ({
  basis: `${label}: ${round(quantity)} ${unit} × ${usd(rate)} (assumed)`,
  monthlyUsd: quantity * rate,
  assumed: true,
});

function round(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

function resourcesOf(stack: StackTemplate): [string, TemplateResource][] {
  return Object.entries(stack.template.Resources ?? {}) as [string, TemplateResource][];
}

function ofType(stacks: readonly StackTemplate[], type: string): [string, TemplateResource, StackTemplate][] {
  return stacks.flatMap((stack) =>
    resourcesOf(stack)
      .filter(([, resource]) => resource.Type === type)
      .map(([id, resource]) => [id, resource, stack] as [string, TemplateResource, StackTemplate]),
  );
}

function stringProperty(resource: TemplateResource, name: string, ctx: PricingContext): string {
  const value = resource.Properties?.[name];
  if (typeof value !== 'string') {
    throw new Error(
      `${ctx.stack.stackName}/${ctx.logicalId} (${resource.Type}): ${name} is ${JSON.stringify(value)}, ` +
        'not a literal string; the estimate needs it to pick a price.',
    );
  }
  return value;
}

/**
 * A replication group's node type. A secondary member of a Global Datastore (stage global) sets none: it takes the
 * datastore's, which is its primary's, so the primary group's (the one group with a literal node type that a
 * `GlobalReplicationGroup` lists as a member) is used.
 */
function cacheNodeTypeOf(resource: TemplateResource, ctx: PricingContext): string {
  if (
    resource.Properties?.CacheNodeType !== undefined ||
    resource.Properties?.GlobalReplicationGroupId === undefined
  )
    return stringProperty(resource, 'CacheNodeType', ctx);
  const primaries = ofType(ctx.stacks, 'AWS::ElastiCache::GlobalReplicationGroup').flatMap(
    ([, global, stack]) =>
      ((global.Properties?.Members ?? []) as { ReplicationGroupId?: unknown }[]).flatMap((member) =>
        resourcesOf(stack)
          .filter(
            ([id, candidate]) =>
              candidate.Type === 'AWS::ElastiCache::ReplicationGroup' &&
              refersTo(member.ReplicationGroupId, id),
          )
          .map(([, candidate]) => candidate.Properties?.CacheNodeType),
      ),
  );
  const nodeType = primaries.find((value): value is string => typeof value === 'string');
  if (nodeType === undefined)
    throw new Error(
      `${ctx.stack.stackName}/${ctx.logicalId} (${resource.Type}): a Global Datastore member without CacheNodeType, ` +
        'and no primary replication group with a literal one in the stage; the estimate needs it to pick a price.',
    );
  return nodeType;
}

function listLength(value: unknown): number {
  return Array.isArray(value) ? value.length : 0;
}

/** Tasks a Fargate service runs at the chosen end of its autoscaling range (its desired count without one). */
export function serviceTaskCount(
  serviceId: string,
  service: TemplateResource,
  stack: StackTemplate,
  tasks: TaskCount,
): number {
  const target = resourcesOf(stack).find(
    ([, resource]) =>
      resource.Type === 'AWS::ApplicationAutoScaling::ScalableTarget' &&
      resource.Properties?.ScalableDimension === 'ecs:service:DesiredCount' &&
      refersTo(resource.Properties?.ResourceId, serviceId),
  )?.[1];
  if (target !== undefined) {
    return Number(tasks === 'min' ? target.Properties?.MinCapacity : target.Properties?.MaxCapacity);
  }
  return Number(service.Properties?.DesiredCount ?? 1);
}

function fargateService(resource: TemplateResource, ctx: PricingContext): PricedItem[] {
  const taskDefinitionRef = resource.Properties?.TaskDefinition;
  const taskDefinition = resourcesOf(ctx.stack).find(([id]) => refersTo(taskDefinitionRef, id))?.[1];
  if (taskDefinition === undefined) {
    throw new Error(`${ctx.stack.stackName}/${ctx.logicalId}: its task definition is not in the same stack.`);
  }
  const launchType = resource.Properties?.LaunchType;
  if (launchType !== 'FARGATE')
    throw new MissingPriceError(`ECS launch type ${String(launchType)}`, ctx.region);
  const cpu = Number(taskDefinition.Properties?.Cpu) / 1024;
  const memoryGb = Number(taskDefinition.Properties?.Memory) / 1024;
  const platform = taskDefinition.Properties?.RuntimePlatform as { CpuArchitecture?: string } | undefined;
  const architecture = (platform?.CpuArchitecture ?? 'X86_64') as 'ARM64' | 'X86_64';
  const vcpuRate = ctx.prices.fargateVcpuHour[architecture];
  const gbRate = ctx.prices.fargateGbHour[architecture];
  if (vcpuRate === undefined || gbRate === undefined) {
    throw new MissingPriceError(`Fargate ${architecture}`, ctx.region);
  }
  const count = serviceTaskCount(ctx.logicalId, resource, ctx.stack, ctx.tasks);
  const rate = cpu * vcpuRate + memoryGb * gbRate;
  return [
    {
      basis:
        `Fargate ${architecture} ${cpu} vCPU / ${memoryGb} GB: ${count} task(s) (${ctx.tasks}) × ${HOURS_PER_MONTH} h × ` +
        `(${cpu} × ${usd(vcpuRate)} + ${memoryGb} × ${usd(gbRate)})`,
      monthlyUsd: count * HOURS_PER_MONTH * rate,
      assumed: false,
    },
  ];
}

/** Instances in a cluster, by the cluster's logical id. */
function clusterInstances(stack: StackTemplate, clusterId: string): TemplateResource[] {
  return resourcesOf(stack)
    .filter(
      ([, resource]) =>
        resource.Type === 'AWS::RDS::DBInstance' &&
        refersTo(resource.Properties?.DBClusterIdentifier, clusterId),
    )
    .map(([, resource]) => resource);
}

function rdsProxy(_resource: TemplateResource, ctx: PricingContext): PricedItem[] {
  const targetGroups = resourcesOf(ctx.stack).filter(
    ([, resource]) =>
      resource.Type === 'AWS::RDS::DBProxyTargetGroup' &&
      refersTo(resource.Properties?.DBProxyName, ctx.logicalId),
  );
  const classes: string[] = [];
  for (const [, group] of targetGroups) {
    const clusters = (group.Properties?.DBClusterIdentifiers ?? []) as unknown[];
    for (const [clusterId] of resourcesOf(ctx.stack).filter(([id]) => refersTo(clusters, id))) {
      for (const instance of clusterInstances(ctx.stack, clusterId)) {
        classes.push(String(instance.Properties?.DBInstanceClass));
      }
    }
  }
  if (classes.length === 0) {
    throw new Error(
      `${ctx.stack.stackName}/${ctx.logicalId}: no target instances found to price the proxy by.`,
    );
  }
  const vcpus = classes.reduce((sum, instanceClass) => {
    const count = VCPUS[instanceClass];
    if (count === undefined) throw new MissingPriceError(`the vCPU count of ${instanceClass}`, ctx.region);
    return sum + count;
  }, 0);
  return [
    hourly(`RDS Proxy over ${classes.length} instance(s), ${vcpus} vCPU`, ctx.prices.rdsProxyVcpuHour, vcpus),
  ];
}

function flowLogGroupIds(stacks: readonly StackTemplate[]): Set<string> {
  const ids = new Set<string>();
  for (const [, flowLog, stack] of ofType(stacks, 'AWS::EC2::FlowLog')) {
    for (const [id] of resourcesOf(stack)) {
      if (refersTo(flowLog.Properties?.LogGroupName, id)) ids.add(id);
    }
  }
  return ids;
}

const noCharge = 'no charge';

/**
 * How every resource type the stages use is priced. Add a type here when a stage starts using it: the
 * cost tests fail until it is priced or declared free.
 */
export const RESOURCE_PRICING: Readonly<Record<string, TypePricing>> = {
  // --- Database
  'AWS::RDS::DBInstance': {
    price: (resource, ctx) => {
      const engine = resource.Properties?.Engine;
      const instanceClass = stringProperty(resource, 'DBInstanceClass', ctx);
      if (engine !== 'aurora-postgresql') {
        throw new MissingPriceError(`RDS engine ${String(engine)} (${instanceClass})`, ctx.region);
      }
      const rate = ctx.prices.auroraInstanceHour[instanceClass];
      if (rate === undefined) throw new MissingPriceError(`Aurora PostgreSQL ${instanceClass}`, ctx.region);
      return [hourly(`Aurora PostgreSQL ${instanceClass}`, rate)];
    },
  },
  'AWS::RDS::DBCluster': {
    price: (_resource, ctx) => [
      perUnit('storage', ctx.usage.auroraStorageGb, 'GB-month', ctx.prices.auroraStorageGbMonth),
      perUnit('I/O', ctx.usage.auroraIoMillions, 'million requests', ctx.prices.auroraIoPerMillion),
    ],
  },
  'AWS::RDS::GlobalCluster': {
    price: (_resource, ctx) => {
      const secondaries = Math.max(
        0,
        ofType(ctx.stacks, 'AWS::RDS::DBCluster').filter(
          ([, cluster]) => cluster.Properties?.GlobalClusterIdentifier,
        ).length - 1,
      );
      return [
        perUnit(
          `replicated write I/O to ${secondaries} secondary region(s)`,
          ctx.usage.replicatedWriteIoMillions * secondaries,
          'million',
          ctx.prices.auroraReplicatedWriteIoPerMillion,
        ),
        perUnit(
          'cross-region transfer',
          ctx.usage.interRegionGb * secondaries,
          'GB',
          ctx.prices.interRegionGb,
        ),
      ];
    },
  },
  'AWS::RDS::DBProxy': { price: rdsProxy },
  'AWS::RDS::DBProxyEndpoint': {
    price: (resource, ctx) => [
      hourly(
        'extra proxy endpoint, per AZ (PrivateLink rate)',
        ctx.prices.interfaceEndpointAzHour,
        listLength(resource.Properties?.VpcSubnetIds) || 1,
      ),
    ],
  },
  'AWS::RDS::DBProxyTargetGroup': { free: 'billed through the proxy (per vCPU of its targets)' },
  'AWS::RDS::DBClusterParameterGroup': { free: noCharge },
  'AWS::RDS::DBParameterGroup': { free: noCharge },
  'AWS::RDS::DBSubnetGroup': { free: noCharge },

  // --- Cache
  'AWS::ElastiCache::ReplicationGroup': {
    price: (resource, ctx) => {
      const nodeType = cacheNodeTypeOf(resource, ctx);
      const rate = ctx.prices.elasticacheNodeHour[nodeType];
      if (rate === undefined) throw new MissingPriceError(`ElastiCache ${nodeType}`, ctx.region);
      const properties = resource.Properties ?? {};
      const nodes =
        properties.NumCacheClusters !== undefined
          ? Number(properties.NumCacheClusters)
          : Number(properties.NumNodeGroups ?? 1) * (Number(properties.ReplicasPerNodeGroup ?? 0) + 1);
      return [hourly(`ElastiCache ${nodeType} node`, rate, nodes)];
    },
  },
  'AWS::ElastiCache::SubnetGroup': { free: noCharge },

  // --- Network
  'AWS::EC2::NatGateway': {
    price: (_resource, ctx) => {
      const gateways = ofType(ctx.stacks, 'AWS::EC2::NatGateway').length;
      return [
        hourly('NAT gateway', ctx.prices.natGatewayHour),
        perUnit('NAT data processed', ctx.usage.natDataGb / gateways, 'GB', ctx.prices.natGatewayGb),
      ];
    },
  },
  'AWS::EC2::EIP': { price: (_resource, ctx) => [hourly('public IPv4 address', ctx.prices.publicIpv4Hour)] },
  'AWS::EC2::VPCEndpoint': {
    price: (resource, ctx) =>
      resource.Properties?.VpcEndpointType === 'Interface'
        ? [
            hourly(
              'interface endpoint, per AZ',
              ctx.prices.interfaceEndpointAzHour,
              listLength(resource.Properties?.SubnetIds) || 1,
            ),
          ]
        : [],
  },
  'AWS::EC2::FlowLog': {
    price: (_resource, ctx) => [
      perUnit('flow log delivery (vended logs)', ctx.usage.flowLogsGb, 'GB', ctx.prices.logsIngestGb),
    ],
  },
  'AWS::EC2::VPC': { free: noCharge },
  'AWS::EC2::Subnet': { free: noCharge },
  'AWS::EC2::RouteTable': { free: noCharge },
  'AWS::EC2::Route': { free: noCharge },
  'AWS::EC2::SubnetRouteTableAssociation': { free: noCharge },
  'AWS::EC2::InternetGateway': { free: noCharge },
  'AWS::EC2::VPCGatewayAttachment': { free: noCharge },
  'AWS::EC2::SecurityGroup': { free: noCharge },
  'AWS::EC2::SecurityGroupIngress': { free: noCharge },
  'AWS::EC2::SecurityGroupEgress': { free: noCharge },
  'AWS::ServiceDiscovery::HttpNamespace': {
    free:
      'an HTTP (API-only) Cloud Map namespace has no charge of its own; Service Connect registers tasks in it ' +
      '(Cloud Map bills $0.10 per registered instance-month, not modelled while no service uses it)',
  },
  'Custom::VpcRestrictDefaultSG': { free: 'a custom resource: its Lambda runs only during deployments' },
  'Custom::MigrationTask': {
    free:
      'runs the migration task on deployments that change it: one Fargate task of 0.25 vCPU and 0.5 GB for a ' +
      'minute or two, about $0.001 a run',
  },

  // --- Load balancing and compute
  'AWS::ElasticLoadBalancingV2::LoadBalancer': {
    price: (resource, ctx) => {
      const type = resource.Properties?.Type ?? 'application';
      if (type !== 'application')
        throw new MissingPriceError(`a load balancer of type ${String(type)}`, ctx.region);
      const items = [
        hourly('Application Load Balancer', ctx.prices.albHour),
        perUnit('LCU', ctx.usage.albLcu * HOURS_PER_MONTH, 'LCU-hours', ctx.prices.albLcuHour),
      ];
      if (resource.Properties?.Scheme === 'internet-facing') {
        const zones =
          listLength(resource.Properties?.Subnets) || listLength(resource.Properties?.SubnetMappings);
        items.push(hourly('public IPv4 address per AZ', ctx.prices.publicIpv4Hour, zones || 1));
      }
      return items;
    },
  },
  'AWS::ElasticLoadBalancingV2::Listener': { free: "included in the load balancer's hourly and LCU price" },
  'AWS::ElasticLoadBalancingV2::ListenerRule': {
    free: "included in the load balancer's hourly and LCU price",
  },
  'AWS::ElasticLoadBalancingV2::TargetGroup': {
    free: "included in the load balancer's hourly and LCU price",
  },
  'AWS::ECS::Service': { price: fargateService },
  'AWS::ECS::Cluster': {
    price: (resource, ctx) => {
      const settings = (resource.Properties?.ClusterSettings ?? []) as { Name?: string; Value?: string }[];
      const insights = settings.find((setting) => setting.Name === 'containerInsights')?.Value;
      if (insights === undefined || insights === 'disabled') return [];
      const tasks = resourcesOf(ctx.stack)
        .filter(
          ([, service]) =>
            service.Type === 'AWS::ECS::Service' && refersTo(service.Properties?.Cluster, ctx.logicalId),
        )
        .reduce((sum, [id, service]) => sum + serviceTaskCount(id, service, ctx.stack, ctx.tasks), 0);
      return [
        perUnit(
          `Container Insights (${insights}), ${tasks} task(s)`,
          tasks * ctx.usage.containerInsightsGbPerTask,
          'GB',
          ctx.prices.logsIngestGb,
        ),
      ];
    },
  },
  'AWS::ECS::TaskDefinition': { free: 'billed through the Fargate tasks of the service that runs it' },
  'AWS::ApplicationAutoScaling::ScalableTarget': { free: noCharge },
  'AWS::ApplicationAutoScaling::ScalingPolicy': {
    // Target tracking creates and owns two CloudWatch alarms (scale out, scale in), billed like any alarm.
    price: (resource, ctx) =>
      resource.Properties?.PolicyType === 'TargetTrackingScaling'
        ? [monthly('2 alarms owned by target tracking', ctx.prices.alarmMetricMonth, 2)]
        : [],
  },

  // --- Edge, API and events (later stages)
  'AWS::CloudFront::Distribution': {
    price: (_resource, ctx) => [
      perUnit('data transfer out', ctx.usage.cdnGb, 'GB', ctx.prices.cloudFrontGb),
      perUnit('HTTPS requests', ctx.usage.requestsMillions, 'million', ctx.prices.cloudFrontHttpsPerMillion),
    ],
  },
  'AWS::CloudFront::Function': {
    price: (_resource, ctx) => [
      // The function runs on /api/* requests only; every request is the upper bound.
      perUnit(
        'function invocations',
        ctx.usage.requestsMillions,
        'million',
        ctx.prices.cloudFrontFunctionPerMillion,
      ),
    ],
  },
  'AWS::CloudFront::OriginAccessControl': { free: noCharge },
  'AWS::WAFv2::WebACL': {
    price: (resource, ctx) => [
      monthly('web ACL', ctx.prices.wafWebAclMonth),
      monthly('WAF rule', ctx.prices.wafRuleMonth, listLength(resource.Properties?.Rules)),
      perUnit('WAF requests', ctx.usage.requestsMillions, 'million', ctx.prices.wafPerMillion),
    ],
  },
  'AWS::ElastiCache::GlobalReplicationGroup': {
    free: 'no charge of its own: its members are priced as replication groups, the replication as inter-region transfer',
  },
  'AWS::Lambda::LayerVersion': { free: 'layer storage counts against the free 75 GB of Lambda code storage' },
  'Custom::CDKBucketDeployment': { free: 'runs only during deployments (a few Lambda seconds)' },
  'AWS::ApiGatewayV2::Api': {
    price: (resource, ctx) => {
      const protocol = resource.Properties?.ProtocolType;
      if (protocol !== 'HTTP')
        throw new MissingPriceError(`API Gateway ${String(protocol)} APIs`, ctx.region);
      return [
        perUnit(
          'HTTP API requests',
          ctx.usage.requestsMillions,
          'million',
          ctx.prices.apiGatewayHttpPerMillion,
        ),
      ];
    },
  },
  'AWS::ApiGateway::RestApi': {
    price: (_resource, ctx) => [
      perUnit(
        'REST API requests',
        ctx.usage.requestsMillions,
        'million',
        ctx.prices.apiGatewayRestPerMillion,
      ),
    ],
  },
  'AWS::SQS::Queue': {
    // Requests are split over the working queues; a dead-letter queue only receives the few messages that
    // failed (no charge as configured). With a customer-managed key SQS also calls KMS, about once per data
    // key reuse period (5 minutes) per sender and receiver role: a few cents a month, not modelled.
    price: (_resource, ctx) => {
      const queues = ofType(ctx.stacks, 'AWS::SQS::Queue');
      // EventBridge's delivery dead-letter queues (a rule target's DeadLetterConfig) receive only failures too.
      const deliveryDeadLetters = ofType(ctx.stacks, 'AWS::Events::Rule').flatMap(([, rule, stack]) =>
        ((rule.Properties?.Targets ?? []) as { DeadLetterConfig?: { Arn?: unknown } }[]).flatMap((target) =>
          target.DeadLetterConfig?.Arn === undefined
            ? []
            : resourcesOf(stack)
                .filter(([id]) => refersTo(target.DeadLetterConfig!.Arn, id))
                .map(([id]) => `${stack.key}|${id}`),
        ),
      );
      const deadLetterQueues = new Set([
        ...deliveryDeadLetters,
        ...queues.flatMap(([, queue, stack]) => {
          const target = (queue.Properties?.RedrivePolicy as { deadLetterTargetArn?: unknown } | undefined)
            ?.deadLetterTargetArn;
          return target === undefined
            ? []
            : resourcesOf(stack)
                .filter(([id]) => refersTo(target, id))
                .map(([id]) => `${stack.key}|${id}`);
        }),
      ]);
      if (deadLetterQueues.has(`${ctx.stack.key}|${ctx.logicalId}`)) return [];
      const working = queues.filter(([id, , stack]) => !deadLetterQueues.has(`${stack.key}|${id}`)).length;
      return [
        perUnit(
          working > 1 ? `requests (split over ${working} queues)` : 'requests',
          ctx.usage.queueRequestsMillions / working,
          'million',
          ctx.prices.sqsPerMillion,
        ),
      ];
    },
  },
  'AWS::SQS::QueuePolicy': { free: noCharge },
  'AWS::Events::EventBus': {
    // Stage global has a bus in every region, idle but in the writer region: the events are split over the buses, as
    // requests over the queues.
    price: (_resource, ctx) => {
      const buses = ofType(ctx.stacks, 'AWS::Events::EventBus').length;
      return [
        perUnit(
          buses > 1 ? `custom events (split over ${buses} buses)` : 'custom events',
          ctx.usage.eventsMillions / buses,
          'million',
          ctx.prices.eventBridgePerMillion,
        ),
      ];
    },
  },
  'AWS::Events::Rule': { free: 'rules are free; events are priced on the bus' },
  'AWS::Events::Archive': {
    // Assumed 1 KB per event (the shop's envelopes are a few hundred bytes plus EventBridge's own fields); the
    // archive holds its retention's worth (30 days by default: about one month of events).
    price: (resource, ctx) => {
      // Split over the archives as the events over the buses (one archive per bus).
      const archives = ofType(ctx.stacks, 'AWS::Events::Archive').length;
      const gbPerMonth = (ctx.usage.eventsMillions * 1e6 * EVENT_SIZE_KB) / (1024 * 1024) / archives;
      const retentionMonths = Number(resource.Properties?.RetentionDays ?? 30) / 30;
      return [
        perUnit('events archived (1 KB each)', gbPerMonth, 'GB', ctx.prices.eventBridgeArchiveGb),
        perUnit(
          'archive storage',
          gbPerMonth * retentionMonths,
          'GB-month',
          ctx.prices.eventBridgeArchiveStorageGbMonth,
        ),
      ];
    },
  },
  'AWS::ApiGatewayV2::VpcLink': { free: 'VPC links of HTTP APIs have no charge' },
  'AWS::ApiGatewayV2::Integration': { free: 'priced per request on the API' },
  'AWS::ApiGatewayV2::Route': { free: 'priced per request on the API' },
  'AWS::ApiGatewayV2::Stage': { free: 'priced per request on the API' },
  'AWS::ApiGatewayV2::DomainName': {
    free: 'custom domain names have no charge (the certificate is free in ACM)',
  },
  'AWS::ApiGatewayV2::ApiMapping': { free: noCharge },
  'AWS::CertificateManager::Certificate': { free: 'public ACM certificates have no charge' },
  'AWS::Route53::HostedZone': {
    price: (_resource, ctx) => [monthly('hosted zone', ctx.prices.route53HostedZoneMonth)],
  },
  'AWS::Route53::HealthCheck': {
    price: (_resource, ctx) => [monthly('health check', ctx.prices.route53HealthCheckMonth)],
  },
  'AWS::Route53::RecordSet': {
    price: (resource, ctx) => {
      if (resource.Properties?.Region === undefined) return [];
      const latencyRecords = ofType(ctx.stacks, 'AWS::Route53::RecordSet').filter(
        ([, record]) => record.Properties?.Region !== undefined,
      ).length;
      return [
        perUnit(
          'latency-routed queries (split over the records)',
          ctx.usage.dnsQueriesMillions / latencyRecords,
          'million',
          ctx.prices.route53LatencyQueriesPerMillion,
        ),
      ];
    },
  },

  // --- Operations and security
  'AWS::CloudWatch::Dashboard': {
    price: (_resource, ctx) => [monthly('dashboard', ctx.prices.dashboardMonth)],
  },
  'AWS::CloudWatch::Alarm': {
    price: (resource, ctx) => {
      const metrics = (resource.Properties?.Metrics ?? []) as { MetricStat?: unknown }[];
      const count = Array.isArray(resource.Properties?.Metrics)
        ? metrics.filter((metric) => metric.MetricStat !== undefined).length
        : 1;
      return [
        {
          basis: `standard alarm, ${count} metric(s) × ${usd(ctx.prices.alarmMetricMonth)}/month`,
          monthlyUsd: count * ctx.prices.alarmMetricMonth,
          assumed: false,
        },
      ];
    },
  },
  'AWS::Logs::LogGroup': {
    price: (_resource, ctx) => {
      if (flowLogGroupIds([ctx.stack]).has(ctx.logicalId)) {
        // Ingestion is billed on the flow log (vended logs); the group bills storage.
        return [perUnit('flow log storage', ctx.usage.flowLogsGb, 'GB-month', ctx.prices.logsStorageGbMonth)];
      }
      return [
        perUnit('log ingestion', ctx.usage.logsGbPerGroup, 'GB', ctx.prices.logsIngestGb),
        perUnit('log storage', ctx.usage.logsGbPerGroup, 'GB-month', ctx.prices.logsStorageGbMonth),
      ];
    },
  },
  'AWS::KMS::Key': { price: (_resource, ctx) => [monthly('customer-managed key', ctx.prices.kmsKeyMonth)] },
  'AWS::KMS::Alias': { free: noCharge },
  'AWS::SecretsManager::Secret': {
    // Each replica in another region (stage global) is billed as a secret of its own.
    price: (resource, ctx) => {
      const replicas = resource.Properties?.ReplicaRegions;
      const count = 1 + (Array.isArray(replicas) ? replicas.length : 0);
      return [monthly(count === 1 ? 'secret' : 'secret and its replicas', ctx.prices.secretMonth, count)];
    },
  },
  'AWS::SecretsManager::SecretTargetAttachment': { free: noCharge },
  'AWS::SecretsManager::ResourcePolicy': { free: noCharge },
  'AWS::SecretsManager::RotationSchedule': {
    free: 'one rotation (a Lambda invocation and a few API calls) per period: under $0.01 a month',
  },
  'AWS::Serverless::Application': {
    free: 'the rotation function (a nested stack with one Lambda), invoked once per rotation period: under $0.01 a month',
  },
  'AWS::Lambda::Function': { free: 'runs only during deployments (custom resources): under $0.01 a month' },
  'AWS::IAM::Role': { free: noCharge },
  'AWS::IAM::Policy': { free: noCharge },
  'AWS::IAM::ManagedPolicy': { free: noCharge },
  'AWS::S3::Bucket': {
    price: (_resource, ctx) => [
      perUnit('stored access logs', ctx.usage.accessLogsGbPerBucket, 'GB-month', ctx.prices.s3GbMonth),
    ],
  },
  'AWS::S3::BucketPolicy': { free: noCharge },
  'AWS::SNS::Topic': { free: 'alarm notifications: a few publishes and emails a month, under $0.01' },
  'AWS::SNS::TopicPolicy': { free: noCharge },
  'AWS::SNS::Subscription': { free: noCharge },
  'AWS::CDK::Metadata': { free: noCharge },
};

/** One row of the estimate: a resource type with its priced parts summed. */
export interface CostRow {
  /** CloudFormation resource type. */
  readonly type: string;
  /** Resources of the type. */
  readonly count: number;
  /** The distinct bases, each with how many resources it applies to. */
  readonly bases: readonly string[];
  /** US dollars per month. */
  readonly monthlyUsd: number;
  /** Part of `monthlyUsd` that rests on usage assumptions. */
  readonly assumedUsd: number;
}

/** A resource type that costs nothing, with the reason. */
export interface FreeRow {
  /** CloudFormation resource type. */
  readonly type: string;
  /** Resources of the type. */
  readonly count: number;
  /** Why it costs nothing (or under a cent). */
  readonly reason: string;
}

/** The estimate of one stage in one region. */
export interface CostEstimate {
  /** Region of the price table used. */
  readonly region: string;
  /** Which end of the autoscaling range tasks were priced at. */
  readonly tasks: TaskCount;
  /** Priced types, most expensive first. */
  readonly rows: readonly CostRow[];
  /** Types with no charge. */
  readonly free: readonly FreeRow[];
  /** US dollars per month. */
  readonly totalUsd: number;
  /** Part of the total that rests on usage assumptions. */
  readonly assumedUsd: number;
}

/** The pricing rule of a type. @throws MissingPriceError when the type has none */
export function pricingOf(type: string, region: string): TypePricing {
  const pricing = Object.prototype.hasOwnProperty.call(RESOURCE_PRICING, type)
    ? RESOURCE_PRICING[type]
    : undefined;
  if (pricing === undefined) throw new MissingPriceError(`resource type ${type}`, region);
  return pricing;
}

/**
 * Prices every resource of a synthesised stage.
 *
 * @param templates - the stage's synthesised stacks
 * @param options - region of the price table, usage assumptions, which task count to price
 * @throws MissingPriceError when any resource, class, node type or region has no price
 */
export function estimateCost(
  templates: AssemblyTemplates,
  options: { readonly region: string; readonly usage: UsageAssumptions; readonly tasks: TaskCount },
): CostEstimate {
  const prices = pricesFor(options.region);
  const rows = new Map<string, { count: number; bases: Map<string, number>; usd: number; assumed: number }>();
  const free = new Map<string, FreeRow>();
  for (const stack of templates.stacks) {
    for (const [logicalId, resource] of resourcesOf(stack)) {
      const pricing = pricingOf(resource.Type, options.region);
      if ('free' in pricing) {
        const row = free.get(resource.Type);
        free.set(resource.Type, { type: resource.Type, count: (row?.count ?? 0) + 1, reason: pricing.free });
        continue;
      }
      const items = pricing.price(resource, {
        ...options,
        prices,
        stack,
        stacks: templates.stacks,
        logicalId,
      });
      if (items.length === 0) {
        // Priced types that cost nothing as configured (a gateway endpoint, Container Insights off).
        const row = free.get(resource.Type);
        free.set(resource.Type, {
          type: resource.Type,
          count: (row?.count ?? 0) + 1,
          reason: 'no charge as configured',
        });
        continue;
      }
      const row = rows.get(resource.Type) ?? { count: 0, bases: new Map(), usd: 0, assumed: 0 };
      row.count += 1;
      for (const item of items) {
        row.bases.set(item.basis, (row.bases.get(item.basis) ?? 0) + 1);
        row.usd += item.monthlyUsd;
        if (item.assumed) row.assumed += item.monthlyUsd;
      }
      rows.set(resource.Type, row);
    }
  }
  const costRows: CostRow[] = [...rows.entries()]
    .map(([type, row]) => ({
      type,
      count: row.count,
      bases: [...row.bases.entries()].map(([basis, count]) => (count > 1 ? `${count} × (${basis})` : basis)),
      monthlyUsd: row.usd,
      assumedUsd: row.assumed,
    }))
    .sort((a, b) => b.monthlyUsd - a.monthlyUsd || (a.type < b.type ? -1 : 1));
  return {
    region: options.region,
    tasks: options.tasks,
    rows: costRows,
    free: [...free.values()].sort((a, b) => (a.type < b.type ? -1 : 1)),
    totalUsd: costRows.reduce((sum, row) => sum + row.monthlyUsd, 0),
    assumedUsd: costRows.reduce((sum, row) => sum + row.assumedUsd, 0),
  };
}
