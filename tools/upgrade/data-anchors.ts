/**
 * The one list of CloudFormation resource types that data lives in or is reached through: the anchors of
 * data. They hold no rows themselves, but replacing or removing one takes the data down with it: the
 * database cannot move out of a subnet that is being deleted, a new subnet group replaces the cluster, a
 * fixed-name proxy cannot be replaced at all while its name is taken. The upgrade gate treats them like
 * the data-bearing types in `data-bearing.ts`; `tools/upgrade/diff.ts` and the upgrade tests read this
 * list, and nothing else should keep its own copy.
 */
import { ResourceIndex } from '../docs/references';
import type { AssemblyTemplates } from './assembly';
import { isDataBearing, type TemplateResource } from './data-bearing';

/** Facts about a resource that only the whole app can tell (which resources refer to it). */
export interface AnchorFacts {
  /** A data-bearing resource (or a fixed-name proxy) refers to it, in its own stack or through an output. */
  readonly attachedToData: boolean;
}

/** A resource type that data lives in or is reached through, and why. */
export interface DataAnchorType {
  /** CloudFormation resource type, e.g. `AWS::EC2::Subnet`. */
  readonly type: string;
  /** One line: what replacing or removing it does to the data. */
  readonly reason: string;
  /**
   * Further condition, on the resource's properties and on what refers to it.
   * @default - every resource of the type is an anchor
   */
  readonly when?: (properties: Record<string, unknown>, facts: AnchorFacts) => boolean;
  /** How `when` reads, for documentation. @default - always */
  readonly condition?: string;
}

const literalName = (value: unknown) => typeof value === 'string' && value.length > 0;

/** Data anchors, in documentation order. Shards of later stages use these same types; queues hold messages, so they are data-bearing (`data-bearing.ts`). */
export const dataAnchorTypes: readonly DataAnchorType[] = [
  {
    type: 'AWS::EC2::VPC',
    reason:
      'the network the data lives in: a new VPC means new subnets, and the database and cache cannot follow them',
  },
  {
    type: 'AWS::EC2::Subnet',
    reason:
      'the database and cache (isolated), tasks and NAT gateways have network interfaces in subnets: a subnet in use cannot be deleted',
  },
  {
    type: 'AWS::RDS::DBSubnetGroup',
    reason: "the cluster's placement: a new subnet group (DBSubnetGroupName) replaces the Aurora cluster",
  },
  {
    type: 'AWS::ElastiCache::SubnetGroup',
    reason: "the cache's placement: a new subnet group (CacheSubnetGroupName) replaces the replication group",
  },
  {
    type: 'AWS::EC2::SecurityGroup',
    reason:
      'attached to a data resource: a new group means modifying (or replacing) the database or cache, and its ingress rules start empty',
    when: (_, facts) => facts.attachedToData,
    condition: 'when a data-bearing resource or a fixed-name proxy uses it',
  },
  {
    type: 'AWS::RDS::DBProxy',
    reason:
      'the fixed-name endpoint the app reaches the database through: CloudFormation cannot replace a resource whose name is taken, and consumers keep the old endpoint',
    when: (properties) => literalName(properties.DBProxyName),
    condition: 'when DBProxyName is set',
  },
  {
    type: 'AWS::RDS::DBProxyEndpoint',
    reason:
      'a fixed-name proxy endpoint (e.g. the read-only one) the app reaches the readers through: it cannot be replaced while its name is taken',
    when: (properties) => literalName(properties.DBProxyEndpointName),
    condition: 'when DBProxyEndpointName is set',
  },
];

const byType = new Map(dataAnchorTypes.map((entry) => [entry.type, entry]));

/**
 * The anchor entry a resource matches, or `undefined`.
 *
 * @param resource - the resource as it appears in the template (`undefined` when absent on that side)
 * @param facts - what refers to it (see {@link dataAttachedResources})
 */
export function dataAnchorOf(
  resource: TemplateResource | undefined,
  facts: AnchorFacts = { attachedToData: false },
): DataAnchorType | undefined {
  if (!resource) return undefined;
  const entry = byType.get(resource.Type);
  if (!entry) return undefined;
  return !entry.when || entry.when(resource.Properties ?? {}, facts) ? entry : undefined;
}

/** Whether a resource is a data anchor (see {@link dataAnchorOf}). */
export function isDataAnchor(resource: TemplateResource | undefined, facts?: AnchorFacts): boolean {
  return dataAnchorOf(resource, facts) !== undefined;
}

/**
 * Every resource a data-bearing resource or a fixed-name proxy refers to (security groups, subnet groups,
 * ...), across stacks: `Ref`, `Fn::GetAtt`, and outputs read through `Fn::GetStackOutput` or
 * `Fn::ImportValue` are followed. Keys are `<stack key>|<logical id>`.
 */
export function dataAttachedResources(templates: AssemblyTemplates): ReadonlySet<string> {
  const index = new ResourceIndex(templates);
  const attached = new Set<string>();
  for (const resource of index.all) {
    const asTemplate = { Type: resource.type, Properties: resource.properties };
    const isDataUser =
      isDataBearing(asTemplate) ||
      (['AWS::RDS::DBProxy', 'AWS::RDS::DBProxyEndpoint'].includes(resource.type) &&
        isDataAnchor(asTemplate));
    if (!isDataUser) continue;
    for (const referenced of index.referencesIn(resource.properties, resource.stack)) {
      attached.add(referenced.uid);
    }
  }
  return attached;
}
