/**
 * Which architectural tier a CloudFormation resource type belongs to, for diagrams and inventories.
 */

/** Tiers, in diagram order. */
export type Tier = 'edge' | 'compute' | 'integration' | 'data' | 'cache' | 'monitoring' | 'support';

/** Tier headings. */
export const tierLabels: Readonly<Record<Tier, string>> = {
  edge: 'Edge / network',
  compute: 'Compute',
  integration: 'Integration',
  data: 'Data',
  cache: 'Cache',
  monitoring: 'Monitoring / security',
  support: 'CDK support',
};

/** Tiers in the order diagrams and tables show them. */
export const tierOrder: readonly Tier[] = ['edge', 'compute', 'integration', 'data', 'cache', 'monitoring', 'support'];

// By service namespace (`AWS::<Service>::...`); exact types override.
const byService: Record<string, Tier> = {
  EC2: 'edge',
  ElasticLoadBalancingV2: 'edge',
  CloudFront: 'edge',
  Route53: 'edge',
  WAFv2: 'edge',
  CertificateManager: 'edge',
  ApiGateway: 'edge',
  ApiGatewayV2: 'edge',
  GlobalAccelerator: 'edge',
  ECS: 'compute',
  Lambda: 'compute',
  ApplicationAutoScaling: 'compute',
  AutoScaling: 'compute',
  ServiceDiscovery: 'compute',
  AppMesh: 'compute',
  SQS: 'integration',
  SNS: 'integration',
  Events: 'integration',
  Pipes: 'integration',
  StepFunctions: 'integration',
  RDS: 'data',
  DynamoDB: 'data',
  S3: 'data',
  ElastiCache: 'cache',
  CloudWatch: 'monitoring',
  Logs: 'monitoring',
  IAM: 'monitoring',
  KMS: 'monitoring',
  SecretsManager: 'monitoring',
  SSM: 'monitoring',
  CloudTrail: 'monitoring',
  Config: 'monitoring',
  CDK: 'support',
};

const byType: Record<string, Tier> = {
  'AWS::S3::BucketPolicy': 'data',
  'AWS::SNS::Topic': 'integration',
  'AWS::SQS::QueuePolicy': 'integration',
};

/** The tier of a resource type (custom resources and CDK metadata are `support`). */
export function tierOf(type: string): Tier {
  if (byType[type]) return byType[type];
  if (type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource') return 'support';
  const service = type.split('::')[1] ?? '';
  return byService[service] ?? 'support';
}
