/**
 * Reads the deployment's Aurora global clusters and sessions Global Datastore (read-only calls) and plans a
 * switchover or failover: which cluster moves, which is already in the target region, and every reason to
 * refuse before changing anything.
 */
import {
  DescribeGlobalReplicationGroupsCommand,
  type ElastiCacheClient,
  type GlobalReplicationGroup,
} from '@aws-sdk/client-elasticache';
import { DescribeGlobalClustersCommand, type GlobalCluster, type RDSClient } from '@aws-sdk/client-rds';
import type { GlobalCommand } from './args';
import {
  homeSessionGroupId,
  isPrefixGlobalCluster,
  regionOfArn,
  type GlobalClusterName,
} from './identifiers';

/** What to do with one resource. */
export type MoveState =
  /** Its writer (primary) is elsewhere: request the move. */
  | 'move'
  /** Its writer is already in the target region: nothing to do (a rerun after a partial run). */
  | 'already'
  /** A switchover or failover to the target region is already under way (a rerun after a timeout): wait. */
  | 'in-progress';

/** One global cluster in the plan. */
export interface ClusterPlan extends GlobalClusterName {
  /** ARN of the current writer member, if any (none during some failovers). */
  readonly writerArn?: string;
  /** ARN of the member in the target region: `TargetDbClusterIdentifier`. */
  readonly targetArn: string;
  readonly state: MoveState;
}

/** The sessions Global Datastore in the plan. */
export interface DatastorePlan {
  /** `GlobalReplicationGroupId` (ElastiCache's region prefix + the suffix, e.g. `ldgnf-shop-sessions`). */
  readonly id: string;
  /** The member replication group in the target region: `PrimaryReplicationGroupId`. */
  readonly targetGroupId: string;
  /** The current primary member and its region. */
  readonly primaryGroupId?: string;
  readonly primaryRegion?: string;
  readonly state: Exclude<MoveState, 'in-progress'>;
}

/** The whole plan. */
export interface GlobalPlan {
  readonly clusters: readonly ClusterPlan[];
  readonly datastore: DatastorePlan;
  /** The regions of the deployment, as the global clusters' members show them. */
  readonly regions: readonly string[];
  /**
   * The same in the deployment's order, the first region (`-c regions=`'s first: the data stacks' home) first: the
   * order `--regions` gives, else the region of the datastore's member `<prefix>-redis` (the home data stack's cache
   * group) first and the others as in `regions`.
   */
  readonly deploymentRegions: readonly string[];
}

/** Every global cluster of the account, page by page (the filter by prefix happens here, not in the API). */
export async function listGlobalClusters(rds: RDSClient): Promise<GlobalCluster[]> {
  const clusters: GlobalCluster[] = [];
  let marker: string | undefined;
  do {
    const page = await rds.send(
      new DescribeGlobalClustersCommand(marker !== undefined ? { Marker: marker } : {}),
    );
    clusters.push(...(page.GlobalClusters ?? []));
    marker = page.Marker;
  } while (marker);
  return clusters;
}

/** Every Global Datastore of the account with its members, page by page. */
export async function listGlobalDatastores(
  elastiCache: ElastiCacheClient,
): Promise<GlobalReplicationGroup[]> {
  const groups: GlobalReplicationGroup[] = [];
  let marker: string | undefined;
  do {
    const page = await elastiCache.send(
      new DescribeGlobalReplicationGroupsCommand({
        ShowMemberInfo: true,
        ...(marker !== undefined ? { Marker: marker } : {}),
      }),
    );
    groups.push(...(page.GlobalReplicationGroups ?? []));
    marker = page.Marker;
  } while (marker);
  return groups;
}

/** The writer member's ARN of a described global cluster. */
export function writerOf(cluster: GlobalCluster): string | undefined {
  return cluster.GlobalClusterMembers?.find((member) => member.IsWriter === true)?.DBClusterArn;
}

/** The member of a described global cluster in a region. */
export function memberIn(cluster: GlobalCluster, region: string): string | undefined {
  return cluster.GlobalClusterMembers?.map((member) => member.DBClusterArn ?? '').find(
    (arn) => regionOfArn(arn) === region,
  );
}

/** Whether a described global cluster is settled with its writer at `targetArn`. */
export function isSettledAt(cluster: GlobalCluster, targetArn: string): boolean {
  return (
    cluster.Status === 'available' &&
    cluster.FailoverState?.Status === undefined &&
    writerOf(cluster) === targetArn
  );
}

/** The primary member of a described Global Datastore. */
export function primaryOf(group: GlobalReplicationGroup) {
  return group.Members?.find((member) => member.Role?.toUpperCase() === 'PRIMARY');
}

const sorted = (values: Iterable<string>) => [...new Set(values)].sort();

/**
 * Plans the move to `to` from what AWS describes.
 *
 * @param regions - the deployment regions the operator gave (`--regions`), to cross-check
 * @returns the plan, or every problem found (each names the resource, what was found and the fix)
 */
export function planMove(input: {
  /**
   * `switchover` refuses a cluster or datastore that is not `available` (AWS would too). `failover` leaves that
   * to AWS: with the writer region down, the global cluster may report another status, and a failover is exactly
   * what it needs.
   */
  readonly command: GlobalCommand;
  readonly prefix: string;
  readonly to: string;
  readonly names: readonly GlobalClusterName[];
  readonly clusters: readonly GlobalCluster[];
  readonly datastores: readonly GlobalReplicationGroup[];
  readonly datastoreId?: string;
  readonly regions?: readonly string[];
}): { plan: GlobalPlan } | { problems: string[] } {
  const { prefix, to } = input;
  const problems: string[] = [];
  const byId = new Map(input.clusters.map((cluster) => [cluster.GlobalClusterIdentifier ?? '', cluster]));
  const expected = new Set(input.names.map((name) => name.identifier));
  const strangers = input.clusters
    .map((cluster) => cluster.GlobalClusterIdentifier ?? '')
    .filter((id) => isPrefixGlobalCluster(prefix, id) && !expected.has(id));
  if (strangers.length > 0) {
    problems.push(
      `Global clusters ${strangers.join(', ')} have this prefix's names but are not shards of the stage ` +
        `(expected ${[...expected].join(', ')}). Moving only some shards would split the writers across regions: ` +
        'pass the --stage the deployment runs (and --prefix), or remove the strays first.',
    );
  }

  const regionsSeen = new Set<string>();
  const clusters: ClusterPlan[] = [];
  for (const name of input.names) {
    const cluster = byId.get(name.identifier);
    if (cluster === undefined) {
      problems.push(
        `Global cluster ${name.identifier} (shard ${name.shardId}) does not exist. Is the deployment of stage global ` +
          'complete (npm run cdk -- deploy --all), and are --prefix and --stage the deployed ones?',
      );
      continue;
    }
    const memberRegions = sorted(
      (cluster.GlobalClusterMembers ?? []).map((member) => regionOfArn(member.DBClusterArn ?? '') ?? '?'),
    );
    memberRegions.forEach((region) => regionsSeen.add(region));
    const targetArn = memberIn(cluster, to);
    if (targetArn === undefined) {
      problems.push(
        `--to ${to} is not a region of the deployment: global cluster ${name.identifier} has members in ` +
          `${memberRegions.join(', ')} only. Pick one of them.`,
      );
      continue;
    }
    const writerArn = writerOf(cluster);
    const failover = cluster.FailoverState;
    let state: MoveState;
    if (failover?.Status !== undefined) {
      if (failover.ToDbClusterArn !== targetArn) {
        problems.push(
          `Global cluster ${name.identifier} is already ${failover.Status} towards ${failover.ToDbClusterArn ?? 'another cluster'}: ` +
            'wait for it to finish (aws rds describe-global-clusters), then run this command again.',
        );
        continue;
      }
      state = 'in-progress';
    } else if (writerArn === targetArn) {
      state = 'already';
    } else {
      if (input.command === 'switchover' && cluster.Status !== 'available') {
        problems.push(
          `Global cluster ${name.identifier} is "${cluster.Status ?? 'unknown'}", not "available": AWS refuses a ` +
            'switchover until it is. Wait, then run this command again.',
        );
        continue;
      }
      state = 'move';
    }
    clusters.push({ ...name, ...(writerArn !== undefined ? { writerArn } : {}), targetArn, state });
  }

  if (
    input.regions !== undefined &&
    regionsSeen.size > 0 &&
    sorted(input.regions).join(',') !== sorted(regionsSeen).join(',')
  ) {
    problems.push(
      `--regions ${input.regions.join(',')} does not match the global clusters, whose members are in ` +
        `${sorted(regionsSeen).join(', ')}. Pass the -c regions= of the deployment, or leave --regions out.`,
    );
  }

  const sessionGroup = homeSessionGroupId(prefix);
  const candidates = input.datastoreId
    ? input.datastores.filter((group) => group.GlobalReplicationGroupId === input.datastoreId)
    : input.datastores.filter((group) =>
        group.Members?.some((member) => member.ReplicationGroupId === sessionGroup),
      );
  let datastore: DatastorePlan | undefined;
  let firstRegion: string | undefined;
  if (candidates.length === 0) {
    problems.push(
      input.datastoreId
        ? `Global Datastore ${input.datastoreId} (--datastore) does not exist.`
        : `No Global Datastore has the replication group ${sessionGroup} as a member. Is the deployment of stage ` +
            'global complete? If its sessions datastore has other members, pass its id with --datastore.',
    );
  } else if (candidates.length > 1) {
    problems.push(
      `Global Datastores ${candidates.map((group) => group.GlobalReplicationGroupId).join(', ')} all have ${sessionGroup} ` +
        'as a member: pass the sessions one with --datastore.',
    );
  } else {
    const group = candidates[0] as GlobalReplicationGroup;
    firstRegion = group.Members?.find(
      (member) => member.ReplicationGroupId === sessionGroup,
    )?.ReplicationGroupRegion;
    const id = group.GlobalReplicationGroupId ?? '';
    const target = group.Members?.find((member) => member.ReplicationGroupRegion === to);
    const primary = primaryOf(group);
    if (target?.ReplicationGroupId === undefined) {
      problems.push(
        `--to ${to} has no member of Global Datastore ${id} (members in ` +
          `${sorted((group.Members ?? []).map((member) => member.ReplicationGroupRegion ?? '?')).join(', ')}).`,
      );
    } else if (primary?.ReplicationGroupId === target.ReplicationGroupId) {
      datastore = {
        id,
        targetGroupId: target.ReplicationGroupId,
        primaryGroupId: target.ReplicationGroupId,
        primaryRegion: to,
        state: 'already',
      };
    } else if (input.command === 'switchover' && group.Status !== 'available') {
      problems.push(
        `Global Datastore ${id} is "${group.Status ?? 'unknown'}", not "available": ElastiCache refuses a failover ` +
          'until it is. Wait, then run this command again.',
      );
    } else {
      datastore = {
        id,
        targetGroupId: target.ReplicationGroupId,
        ...(primary?.ReplicationGroupId !== undefined ? { primaryGroupId: primary.ReplicationGroupId } : {}),
        ...(primary?.ReplicationGroupRegion !== undefined
          ? { primaryRegion: primary.ReplicationGroupRegion }
          : {}),
        state: 'move',
      };
    }
  }

  if (problems.length > 0 || datastore === undefined) return { problems };
  const regions = sorted(regionsSeen);
  const deploymentRegions =
    input.regions ??
    (firstRegion !== undefined && regions.includes(firstRegion)
      ? [firstRegion, ...regions.filter((region) => region !== firstRegion)]
      : regions);
  return { plan: { clusters, datastore, regions, deploymentRegions } };
}
