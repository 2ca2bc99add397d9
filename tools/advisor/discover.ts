/**
 * Finding a deployed stage with CloudFormation: the stacks named `<prefix>-<part>` in a region, each one's
 * template (`GetTemplate`: instance classes, node types, task ranges) and physical ids
 * (`ListStackResources`, paginated: unlike `DescribeStackResources` it is not cut off at 100 resources).
 */
import {
  GetTemplateCommand,
  paginateDescribeStacks,
  paginateListStackResources,
  type CloudFormationClient,
} from '@aws-sdk/client-cloudformation';
import type { CfnTemplate } from '../upgrade/assembly';
import type { DeployedStack } from './deployment';

/** The stack parts every stage deploys (`<prefix>-network`, `-data`, `-service`). */
export const BASE_STACK_PARTS = ['network', 'data', 'service'] as const;

/** Stack states that have no live resources. */
const GONE = new Set(['DELETE_COMPLETE', 'CREATE_FAILED', 'ROLLBACK_COMPLETE', 'ROLLBACK_FAILED']);

/**
 * True when `stackName` belongs to the deployment with this prefix: `<prefix>-<part>`, where the part is not
 * itself `<something>-network|data|service` (that is a deployment with a longer prefix, such as `shop-eu`).
 * Parts other than the base three are later stages' stacks (shards, services).
 */
export function belongsToPrefix(stackName: string, prefix: string): boolean {
  if (!stackName.startsWith(`${prefix}-`)) return false;
  const part = stackName.slice(prefix.length + 1);
  return /^[a-z0-9]+(-[a-z0-9]+)*$/.test(part) && !BASE_STACK_PARTS.some((base) => part.endsWith(`-${base}`));
}

/** The live stacks of a deployment in one region, with templates and physical ids. */
export async function discoverStacks(
  client: CloudFormationClient,
  region: string,
  prefix: string,
): Promise<DeployedStack[]> {
  const names: string[] = [];
  for await (const page of paginateDescribeStacks({ client }, {})) {
    for (const stack of page.Stacks ?? []) {
      if (
        stack.StackName &&
        !GONE.has(String(stack.StackStatus)) &&
        belongsToPrefix(stack.StackName, prefix)
      ) {
        names.push(stack.StackName);
      }
    }
  }
  const stacks: DeployedStack[] = [];
  for (const stackName of names.sort()) {
    const template = await client.send(new GetTemplateCommand({ StackName: stackName }));
    let parsed: CfnTemplate;
    try {
      parsed = JSON.parse(template.TemplateBody ?? '{}') as CfnTemplate;
    } catch {
      throw new Error(
        `${region}/${stackName}: the template is not JSON (the blueprint deploys JSON templates).`,
      );
    }
    const physicalIds = new Map<string, string>();
    for await (const page of paginateListStackResources({ client }, { StackName: stackName })) {
      for (const resource of page.StackResourceSummaries ?? []) {
        if (resource.LogicalResourceId && resource.PhysicalResourceId) {
          physicalIds.set(resource.LogicalResourceId, resource.PhysicalResourceId);
        }
      }
    }
    stacks.push({ region, stackName, template: parsed, physicalIds });
  }
  return stacks;
}

/**
 * Physical ids for a synthesised stage (`--dry-run`): the names the blueprint fixes are real
 * (`DBClusterIdentifier`, `ReplicationGroupId`, ...); generated ones are `<logicalId>` placeholders shaped
 * like the real thing (an ARN where CloudFormation returns one).
 */
export function placeholderPhysicalIds(template: CfnTemplate, region: string): Map<string, string> {
  const fixed: Record<string, string> = {
    'AWS::RDS::DBCluster': 'DBClusterIdentifier',
    'AWS::ElastiCache::ReplicationGroup': 'ReplicationGroupId',
    'AWS::RDS::DBProxy': 'DBProxyName',
    'AWS::ECS::Cluster': 'ClusterName',
  };
  const ids = new Map<string, string>();
  for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
    const property = fixed[resource.Type];
    const value =
      property !== undefined
        ? (resource.Properties as Record<string, unknown> | undefined)?.[property]
        : undefined;
    const placeholder = `<${logicalId}>`;
    if (typeof value === 'string') ids.set(logicalId, value);
    else if (resource.Type === 'AWS::ECS::Service') {
      ids.set(logicalId, `arn:aws:ecs:${region}:<account>:service/<cluster>/${placeholder}`);
    } else if (resource.Type === 'AWS::ElasticLoadBalancingV2::LoadBalancer') {
      ids.set(
        logicalId,
        `arn:aws:elasticloadbalancing:${region}:<account>:loadbalancer/app/${placeholder}/<id>`,
      );
    } else ids.set(logicalId, placeholder);
  }
  return ids;
}
