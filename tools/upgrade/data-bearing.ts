/**
 * The one list of CloudFormation resource types that hold data.
 *
 * An upgrade (from one stage to the next, or growth inside a stage) must never replace or remove a
 * resource of one of these types: replacement creates a new, empty physical resource (a new cluster, a
 * new bucket, a new key that cannot decrypt old backups), and removal deletes or orphans the data.
 * `tools/upgrade/diff.ts` and the upgrade tests read this list; nothing else should keep its own copy.
 */

/** A resource as it appears in a synthesised CloudFormation template. */
export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly [key: string]: unknown;
}

/** Why a resource type counts as data-bearing, for messages and documentation. */
export interface DataBearingType {
  /** CloudFormation resource type, e.g. `AWS::RDS::DBCluster`. */
  readonly type: string;
  /** What would be lost if it were replaced or removed. */
  readonly holds: string;
  /**
   * Further condition on the resource's properties.
   * @default - every resource of the type is data-bearing
   */
  readonly when?: (properties: Record<string, unknown>) => boolean;
  /** How `when` reads, for documentation. @default - always */
  readonly condition?: string;
}

/** Data-bearing resource types, in documentation order. */
export const dataBearingTypes: readonly DataBearingType[] = [
  { type: 'AWS::RDS::DBCluster', holds: 'the Aurora cluster volume (all rows)' },
  {
    type: 'AWS::RDS::DBInstance',
    holds: 'a database instance (its endpoint, buffer cache, Performance Insights history)',
  },
  { type: 'AWS::RDS::GlobalCluster', holds: 'the Aurora Global Database that links the regional clusters' },
  { type: 'AWS::ElastiCache::ReplicationGroup', holds: 'the Redis data set (sessions, cached entries)' },
  { type: 'AWS::ElastiCache::CacheCluster', holds: 'a cache node and its data' },
  { type: 'AWS::ElastiCache::ServerlessCache', holds: 'the serverless cache data set' },
  { type: 'AWS::DynamoDB::Table', holds: 'table items (e.g. the shard map)' },
  { type: 'AWS::DynamoDB::GlobalTable', holds: 'table items in every replica region' },
  { type: 'AWS::S3::Bucket', holds: 'objects (static assets, access logs)' },
  {
    type: 'AWS::KMS::Key',
    holds: 'the key material; data and snapshots encrypted with it become unreadable',
  },
  { type: 'AWS::SecretsManager::Secret', holds: 'credentials the running services and databases agree on' },
  {
    type: 'AWS::SQS::Queue',
    holds:
      'messages not yet consumed (invalidation events in flight) or dead-lettered: a new queue starts empty, ' +
      'and tasks still sending to the old URL lose their events',
  },
  {
    type: 'AWS::Logs::LogGroup',
    holds: 'retained log events',
    when: (properties) => properties.RetentionInDays !== undefined,
    condition: 'when it has RetentionInDays',
  },
];

const byType = new Map(dataBearingTypes.map((entry) => [entry.type, entry]));

/**
 * Whether a template resource holds data that an upgrade must keep.
 *
 * @param resource - the resource as it appears in the template (`undefined` when it does not exist on that side).
 */
export function isDataBearing(resource: TemplateResource | undefined): boolean {
  if (!resource) return false;
  const entry = byType.get(resource.Type);
  if (!entry) return false;
  return entry.when ? entry.when(resource.Properties ?? {}) : true;
}

/** Whether a resource type appears in the data-bearing list at all (conditions not evaluated). */
export function isDataBearingType(type: string): boolean {
  return byType.has(type);
}
