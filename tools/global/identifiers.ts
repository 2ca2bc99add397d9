/**
 * The names `npm run global` acts on, derived from the stage config and the deployment prefix, as stage global
 * builds them (`<prefix>-shard0-global` for the catalog, `<prefix>-<shardId>-global`
 * for every further shard; the home region's cache group `<prefix>-redis` is the Global Datastore's first
 * primary and stays a member whichever region is primary).
 */
import type { StageConfig } from '../../lib/config/stage-config';

/** One Aurora global cluster of the deployment. */
export interface GlobalClusterName {
  /** `0` for the catalog, else the shard id (`s1`, ...). */
  readonly shardId: string;
  /** `GlobalClusterIdentifier`. */
  readonly identifier: string;
}

/**
 * The global clusters of a deployment, shard 0 first, then the stage's shards in their config order.
 *
 * The list comes from the stage config rather than from listing the account's global clusters: a global cluster
 * missing from AWS (a deployment that failed half way) must stop the command before it switches the others,
 * because the app needs every shard's writer in one region. Listing still runs, to find that case and to find
 * clusters of the prefix the stage does not name.
 */
export function globalClusterNames(prefix: string, config: Pick<StageConfig, 'shards'>): GlobalClusterName[] {
  return [
    { shardId: '0', identifier: `${prefix}-shard0-global` },
    ...Object.keys(config.shards ?? {}).map((shardId) => ({
      shardId,
      identifier: `${prefix}-${shardId}-global`,
    })),
  ];
}

/**
 * Whether a global cluster identifier has the shape of one of this prefix's (`<prefix>-<id>-global`). Shard ids
 * have no hyphen, so another prefix that starts with this one (`shop-eu`) never matches.
 */
export function isPrefixGlobalCluster(prefix: string, identifier: string): boolean {
  if (!identifier.startsWith(`${prefix}-`) || !identifier.endsWith('-global')) return false;
  return /^[a-z][a-z0-9]{0,11}$/.test(identifier.slice(prefix.length + 1, -'-global'.length));
}

/** The replication group that is a member of the sessions Global Datastore in every life of the deployment. */
export function homeSessionGroupId(prefix: string): string {
  return `${prefix}-redis`;
}

/** The region in an ARN (`arn:aws:rds:eu-west-1:123456789012:cluster:shop-db`), or undefined. */
export function regionOfArn(arn: string): string | undefined {
  const parts = arn.split(':');
  return parts.length >= 6 && parts[0] === 'arn' ? parts[3] || undefined : undefined;
}
