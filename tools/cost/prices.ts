/**
 * The pinned, dated on-demand price table `npm run cost` computes with. One record per region; every figure
 * is in US dollars, excluding tax, without free tiers, Savings Plans or reserved instances.
 *
 * Source: the public AWS price pages listed in {@link PRICE_SOURCES} (the same figures the AWS Pricing
 * Calculator and the Price List API `offers/v1.0/aws/<service>/current/<region>/index.json` files carry),
 * transcribed on {@link PRICE_DATE}. The build machine has no network access, so they were not re-fetched
 * automatically: re-check them against the pages and bump the date when you do. A price that is not here
 * fails the estimate (see estimate.ts); it is never taken as zero.
 *
 * Least certain at transcription (check these first): the eu-west-1 figures for RDS Proxy, ElastiCache
 * nodes and API Gateway HTTP APIs, the Graviton 3 (r7g, m7g) instance and node prices in both regions, and
 * the RDS Proxy read-only endpoint being billed at the PrivateLink interface-endpoint rate per AZ.
 */

/** Date the table was transcribed (ISO 8601). */
export const PRICE_DATE = '2026-11-30';

/** Where each group of prices comes from. */
export const PRICE_SOURCES: Readonly<Record<string, string>> = {
  aurora: 'https://aws.amazon.com/rds/aurora/pricing/ (Aurora PostgreSQL, Aurora Standard, on-demand)',
  rdsProxy: 'https://aws.amazon.com/rds/proxy/pricing/ (provisioned instances: per vCPU-hour of the targets)',
  vpc: 'https://aws.amazon.com/vpc/pricing/ (NAT gateway, public IPv4 addresses)',
  privateLink:
    'https://aws.amazon.com/privatelink/pricing/ (interface endpoints, also RDS Proxy extra endpoints)',
  elb: 'https://aws.amazon.com/elasticloadbalancing/pricing/ (Application Load Balancer)',
  fargate: 'https://aws.amazon.com/fargate/pricing/ (Linux, x86 and ARM)',
  elasticache:
    'https://aws.amazon.com/elasticache/pricing/ (node-based, Redis OSS / Valkey-compatible engines)',
  cloudfront:
    'https://aws.amazon.com/cloudfront/pricing/ (pay as you go, North America and Europe; CloudFront Functions)',
  waf: 'https://aws.amazon.com/waf/pricing/ (web ACL, rules, requests; managed rule groups of AWS at no extra charge)',
  apiGateway: 'https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs and REST APIs, first tier)',
  sqs: 'https://aws.amazon.com/sqs/pricing/ (standard queues)',
  eventBridge: 'https://aws.amazon.com/eventbridge/pricing/ (custom events, archive)',
  dataTransfer: 'https://aws.amazon.com/ec2/pricing/on-demand/ (data transfer between regions)',
  cloudwatch: 'https://aws.amazon.com/cloudwatch/pricing/ (dashboards, standard alarms, logs)',
  kms: 'https://aws.amazon.com/kms/pricing/',
  secretsManager: 'https://aws.amazon.com/secrets-manager/pricing/',
  s3: 'https://aws.amazon.com/s3/pricing/ (S3 Standard, first 50 TB)',
  route53: 'https://aws.amazon.com/route53/pricing/',
  cloudMap: 'https://aws.amazon.com/cloud-map/pricing/',
};

/** Hours in a billing month, as the AWS Pricing Calculator counts them. */
export const HOURS_PER_MONTH = 730;

/** The prices of one region. */
export interface RegionPrices {
  /** Aurora PostgreSQL instance, per hour, by instance class (Aurora Standard). */
  readonly auroraInstanceHour: Readonly<Record<string, number>>;
  /** Aurora storage, per GB-month (Aurora Standard). */
  readonly auroraStorageGbMonth: number;
  /** Aurora I/O, per million requests (Aurora Standard). */
  readonly auroraIoPerMillion: number;
  /** Aurora Global Database replicated write I/O, per million, per secondary region. */
  readonly auroraReplicatedWriteIoPerMillion: number;
  /** RDS Proxy, per vCPU-hour of the instances it fronts. */
  readonly rdsProxyVcpuHour: number;
  /** An interface endpoint (and an extra RDS Proxy endpoint), per AZ-hour. */
  readonly interfaceEndpointAzHour: number;
  /** NAT gateway, per hour. */
  readonly natGatewayHour: number;
  /** NAT gateway data processed, per GB. */
  readonly natGatewayGb: number;
  /** A public IPv4 address (Elastic IP, a load balancer's address in each AZ), per hour. */
  readonly publicIpv4Hour: number;
  /** Application Load Balancer, per hour. */
  readonly albHour: number;
  /** Application Load Balancer, per LCU-hour. */
  readonly albLcuHour: number;
  /** Fargate (Linux), per vCPU-hour, by CPU architecture. */
  readonly fargateVcpuHour: Readonly<Record<'ARM64' | 'X86_64', number>>;
  /** Fargate (Linux), per GB-hour of memory, by CPU architecture. */
  readonly fargateGbHour: Readonly<Record<'ARM64' | 'X86_64', number>>;
  /** ElastiCache node, per hour, by node type. */
  readonly elasticacheNodeHour: Readonly<Record<string, number>>;
  /** CloudFront data transfer out to the internet, per GB (first 10 TB). */
  readonly cloudFrontGb: number;
  /** CloudFront HTTPS requests, per million. */
  readonly cloudFrontHttpsPerMillion: number;
  /** CloudFront Functions invocations, per million. */
  readonly cloudFrontFunctionPerMillion: number;
  /** AWS WAF web ACL, per month. */
  readonly wafWebAclMonth: number;
  /** AWS WAF rule (a managed rule group counts as one), per month. */
  readonly wafRuleMonth: number;
  /** AWS WAF requests inspected, per million. */
  readonly wafPerMillion: number;
  /** API Gateway HTTP API requests, per million (first 300 million). */
  readonly apiGatewayHttpPerMillion: number;
  /** API Gateway REST API requests, per million (first 333 million). */
  readonly apiGatewayRestPerMillion: number;
  /** SQS standard queue requests, per million. */
  readonly sqsPerMillion: number;
  /** EventBridge custom events published, per million. */
  readonly eventBridgePerMillion: number;
  /** EventBridge archive: events processed into an archive, per GB. */
  readonly eventBridgeArchiveGb: number;
  /** EventBridge archive storage, per GB-month. */
  readonly eventBridgeArchiveStorageGbMonth: number;
  /** Data transfer to another region, per GB. */
  readonly interRegionGb: number;
  /** CloudWatch dashboard, per month. */
  readonly dashboardMonth: number;
  /** CloudWatch standard-resolution alarm, per metric per month. */
  readonly alarmMetricMonth: number;
  /** CloudWatch Logs ingestion (standard class, also vended logs' first tier), per GB. */
  readonly logsIngestGb: number;
  /** CloudWatch Logs storage, per GB-month. */
  readonly logsStorageGbMonth: number;
  /** KMS customer-managed key, per month. */
  readonly kmsKeyMonth: number;
  /** Secrets Manager secret, per month. */
  readonly secretMonth: number;
  /** S3 Standard storage, per GB-month. */
  readonly s3GbMonth: number;
  /** Route 53 hosted zone, per month (first 25). */
  readonly route53HostedZoneMonth: number;
  /** Route 53 health check of an AWS endpoint, per month. */
  readonly route53HealthCheckMonth: number;
  /** Route 53 latency-based routing queries, per million. */
  readonly route53LatencyQueriesPerMillion: number;
  /** Cloud Map registered instance, per month. */
  readonly cloudMapInstanceMonth: number;
}

/**
 * vCPUs per instance class and node type: RDS Proxy is priced per vCPU of its targets, and the advisor's
 * rules compare `DBLoad` with it and pick ElastiCache's CPU metric by it.
 * Source: https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Concepts.DBInstanceClass.Summary.html and
 * https://aws.amazon.com/elasticache/pricing/ (node specifications).
 */
export const VCPUS: Readonly<Record<string, number>> = {
  'db.t4g.medium': 2,
  'db.t4g.large': 2,
  'db.r6g.large': 2,
  'db.r6g.xlarge': 4,
  'db.r6g.2xlarge': 8,
  'db.r6g.4xlarge': 16,
  'db.r7g.large': 2,
  'db.r7g.xlarge': 4,
  'db.r7g.2xlarge': 8,
  'db.r7g.4xlarge': 16,
  'db.r7g.8xlarge': 32,
  'db.r7g.16xlarge': 64,
  'cache.t4g.micro': 2,
  'cache.t4g.small': 2,
  'cache.t4g.medium': 2,
  'cache.m7g.large': 2,
  'cache.m7g.xlarge': 4,
  'cache.r7g.large': 2,
  'cache.r7g.xlarge': 4,
  'cache.r7g.2xlarge': 8,
};

/** Memory in GiB per instance class (Aurora's `max_connections` and the advisor's memory rules derive from it). */
export const MEMORY_GIB: Readonly<Record<string, number>> = {
  'db.t4g.medium': 4,
  'db.t4g.large': 8,
  'db.r6g.large': 16,
  'db.r6g.xlarge': 32,
  'db.r6g.2xlarge': 64,
  'db.r6g.4xlarge': 128,
  'db.r7g.large': 16,
  'db.r7g.xlarge': 32,
  'db.r7g.2xlarge': 64,
  'db.r7g.4xlarge': 128,
  'db.r7g.8xlarge': 256,
  'db.r7g.16xlarge': 512,
};

const usEast1: RegionPrices = {
  auroraInstanceHour: {
    'db.t4g.medium': 0.073,
    'db.t4g.large': 0.146,
    'db.r6g.large': 0.26,
    'db.r6g.xlarge': 0.519,
    'db.r6g.2xlarge': 1.038,
    'db.r6g.4xlarge': 2.076,
    'db.r7g.large': 0.276,
    'db.r7g.xlarge': 0.552,
    'db.r7g.2xlarge': 1.104,
    'db.r7g.4xlarge': 2.208,
    'db.r7g.8xlarge': 4.416,
    'db.r7g.16xlarge': 8.832,
  },
  auroraStorageGbMonth: 0.1,
  auroraIoPerMillion: 0.2,
  auroraReplicatedWriteIoPerMillion: 0.2,
  rdsProxyVcpuHour: 0.015,
  interfaceEndpointAzHour: 0.01,
  natGatewayHour: 0.045,
  natGatewayGb: 0.045,
  publicIpv4Hour: 0.005,
  albHour: 0.0225,
  albLcuHour: 0.008,
  fargateVcpuHour: { ARM64: 0.03238, X86_64: 0.04048 },
  fargateGbHour: { ARM64: 0.00356, X86_64: 0.004445 },
  elasticacheNodeHour: {
    'cache.t4g.micro': 0.016,
    'cache.t4g.small': 0.032,
    'cache.t4g.medium': 0.065,
    'cache.m7g.large': 0.158,
    'cache.m7g.xlarge': 0.315,
    'cache.r7g.large': 0.219,
    'cache.r7g.xlarge': 0.437,
    'cache.r7g.2xlarge': 0.874,
  },
  cloudFrontGb: 0.085,
  cloudFrontHttpsPerMillion: 1.0,
  cloudFrontFunctionPerMillion: 0.1,
  wafWebAclMonth: 5.0,
  wafRuleMonth: 1.0,
  wafPerMillion: 0.6,
  apiGatewayHttpPerMillion: 1.0,
  apiGatewayRestPerMillion: 3.5,
  sqsPerMillion: 0.4,
  eventBridgePerMillion: 1.0,
  eventBridgeArchiveGb: 0.1,
  eventBridgeArchiveStorageGbMonth: 0.023,
  interRegionGb: 0.02,
  dashboardMonth: 3.0,
  alarmMetricMonth: 0.1,
  logsIngestGb: 0.5,
  logsStorageGbMonth: 0.03,
  kmsKeyMonth: 1.0,
  secretMonth: 0.4,
  s3GbMonth: 0.023,
  route53HostedZoneMonth: 0.5,
  route53HealthCheckMonth: 0.5,
  route53LatencyQueriesPerMillion: 0.6,
  cloudMapInstanceMonth: 0.1,
};

const euWest1: RegionPrices = {
  auroraInstanceHour: {
    'db.t4g.medium': 0.08,
    'db.t4g.large': 0.161,
    'db.r6g.large': 0.285,
    'db.r6g.xlarge': 0.57,
    'db.r6g.2xlarge': 1.14,
    'db.r6g.4xlarge': 2.28,
    'db.r7g.large': 0.304,
    'db.r7g.xlarge': 0.607,
    'db.r7g.2xlarge': 1.214,
    'db.r7g.4xlarge': 2.429,
    'db.r7g.8xlarge': 4.858,
    'db.r7g.16xlarge': 9.715,
  },
  auroraStorageGbMonth: 0.11,
  auroraIoPerMillion: 0.22,
  auroraReplicatedWriteIoPerMillion: 0.22,
  rdsProxyVcpuHour: 0.0165,
  interfaceEndpointAzHour: 0.011,
  natGatewayHour: 0.048,
  natGatewayGb: 0.048,
  publicIpv4Hour: 0.005,
  albHour: 0.0252,
  albLcuHour: 0.008,
  fargateVcpuHour: { ARM64: 0.03238, X86_64: 0.04048 },
  fargateGbHour: { ARM64: 0.00356, X86_64: 0.004445 },
  elasticacheNodeHour: {
    'cache.t4g.micro': 0.0176,
    'cache.t4g.small': 0.036,
    'cache.t4g.medium': 0.072,
    'cache.m7g.large': 0.176,
    'cache.m7g.xlarge': 0.352,
    'cache.r7g.large': 0.243,
    'cache.r7g.xlarge': 0.486,
    'cache.r7g.2xlarge': 0.972,
  },
  cloudFrontGb: 0.085,
  cloudFrontHttpsPerMillion: 1.2,
  cloudFrontFunctionPerMillion: 0.1,
  wafWebAclMonth: 5.0,
  wafRuleMonth: 1.0,
  wafPerMillion: 0.6,
  apiGatewayHttpPerMillion: 1.11,
  apiGatewayRestPerMillion: 3.5,
  sqsPerMillion: 0.4,
  eventBridgePerMillion: 1.0,
  eventBridgeArchiveGb: 0.1,
  eventBridgeArchiveStorageGbMonth: 0.023,
  interRegionGb: 0.02,
  dashboardMonth: 3.0,
  alarmMetricMonth: 0.1,
  logsIngestGb: 0.57,
  logsStorageGbMonth: 0.03,
  kmsKeyMonth: 1.0,
  secretMonth: 0.4,
  s3GbMonth: 0.023,
  route53HostedZoneMonth: 0.5,
  route53HealthCheckMonth: 0.5,
  route53LatencyQueriesPerMillion: 0.6,
  cloudMapInstanceMonth: 0.1,
};

/** The price table, by region. */
export const PRICES: Readonly<Record<string, RegionPrices>> = {
  'us-east-1': usEast1,
  'eu-west-1': euWest1,
};

/** Regions the table has prices for. */
export const pricedRegions: readonly string[] = Object.keys(PRICES);

/**
 * The prices of a region.
 *
 * @throws Error naming the region and the priced ones
 */
export function pricesFor(region: string): RegionPrices {
  const prices = Object.prototype.hasOwnProperty.call(PRICES, region) ? PRICES[region] : undefined;
  if (prices === undefined) {
    throw new Error(
      `No price table for region "${region}". Priced regions: ${pricedRegions.join(', ')}. ` +
        'Fix: pass one of them with --region, or add the region to tools/cost/prices.ts (with its source).',
    );
  }
  return prices;
}
