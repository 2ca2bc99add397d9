/**
 * The changes of `npm run global`: request each global cluster's switchover or failover, wait until it reports
 * the new writer, then move the sessions Global Datastore's primary. Every outcome is recorded, so a stop part
 * way says exactly what moved and what did not.
 */
import {
  DescribeGlobalReplicationGroupsCommand,
  FailoverGlobalReplicationGroupCommand,
  type ElastiCacheClient,
} from '@aws-sdk/client-elasticache';
import {
  DescribeGlobalClustersCommand,
  FailoverGlobalClusterCommand,
  SwitchoverGlobalClusterCommand,
  type GlobalCluster,
  type RDSClient,
} from '@aws-sdk/client-rds';
import type { GlobalCommand } from './args';
import { isSettledAt, primaryOf, writerOf, type ClusterPlan, type DatastorePlan } from './discover';
import { regionOfArn } from './identifiers';

/** How long to wait and how to tell time (tests pass a fake clock). */
export interface Waiting {
  readonly timeoutMs: number;
  readonly pollMs: number;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** Progress lines. */
  readonly log: (line: string) => void;
}

/** What became of one resource. */
export type Outcome =
  | { readonly status: 'already' }
  | { readonly status: 'moved'; readonly seconds: number }
  | { readonly status: 'failed'; readonly error: string }
  | { readonly status: 'timed-out'; readonly last: string }
  | { readonly status: 'not-started' };

/** Whether an outcome leaves the resource's writer in the target region. */
export const isInTarget = (outcome: Outcome): boolean =>
  outcome.status === 'already' || outcome.status === 'moved';

/** `Name: message` of an SDK error. */
export function errorText(error: unknown): string {
  const name = (error as { name?: string }).name ?? 'Error';
  return `${name}: ${(error as Error).message ?? String(error)}`;
}

/** The RDS operation of each command, as the progress output names it. */
export const CLUSTER_API = {
  switchover: 'SwitchoverGlobalCluster',
  failover: 'FailoverGlobalCluster (AllowDataLoss)',
} as const;

/** The RDS request that moves one global cluster's writer to its target member. */
export function clusterMoveCommand(
  command: GlobalCommand,
  cluster: Pick<ClusterPlan, 'identifier' | 'targetArn'>,
) {
  return command === 'switchover'
    ? new SwitchoverGlobalClusterCommand({
        GlobalClusterIdentifier: cluster.identifier,
        TargetDbClusterIdentifier: cluster.targetArn,
      })
    : new FailoverGlobalClusterCommand({
        GlobalClusterIdentifier: cluster.identifier,
        TargetDbClusterIdentifier: cluster.targetArn,
        AllowDataLoss: true,
      });
}

/** The ElastiCache request that makes the target region's member the datastore's primary. */
export function datastoreMoveCommand(datastore: Pick<DatastorePlan, 'id' | 'targetGroupId'>, to: string) {
  return new FailoverGlobalReplicationGroupCommand({
    GlobalReplicationGroupId: datastore.id,
    PrimaryRegion: to,
    PrimaryReplicationGroupId: datastore.targetGroupId,
  });
}

function describeCluster(cluster: GlobalCluster): string {
  const writer = writerOf(cluster);
  const failover = cluster.FailoverState?.Status;
  return (
    `${cluster.Status ?? 'unknown'}${failover !== undefined ? ` (${failover})` : ''}, ` +
    `writer ${writer !== undefined ? (regionOfArn(writer) ?? writer) : 'none'}`
  );
}

/**
 * Polls until `check` says done or the deadline passes, logging each change of state (and every minute).
 * A failed poll is logged and retried: the control plane may answer errors while it moves the writer.
 */
async function poll(
  label: string,
  waiting: Waiting,
  check: () => Promise<{ done: boolean; state: string }>,
): Promise<{ done: true; seconds: number } | { done: false; last: string }> {
  const start = waiting.now();
  const deadline = start + waiting.timeoutMs;
  let last = 'not described yet';
  let lastLogged = '';
  let lastLogAt = start;
  for (;;) {
    try {
      const result = await check();
      last = result.state;
      if (result.done) {
        const seconds = Math.round((waiting.now() - start) / 1000);
        waiting.log(`  [${String(seconds).padStart(4)} s] ${label}: ${last}: done`);
        return { done: true, seconds };
      }
    } catch (error) {
      last = `describe failed (${errorText(error)})`;
    }
    const elapsed = waiting.now() - start;
    if (last !== lastLogged || waiting.now() - lastLogAt >= 60_000) {
      waiting.log(`  [${String(Math.round(elapsed / 1000)).padStart(4)} s] ${label}: ${last}`);
      lastLogged = last;
      lastLogAt = waiting.now();
    }
    if (waiting.now() + waiting.pollMs > deadline) return { done: false, last };
    await waiting.sleep(waiting.pollMs);
  }
}

/** Waits until a global cluster reports `targetArn` as its writer, status available, no failover under way. */
export async function waitForClusterWriter(
  rds: RDSClient,
  cluster: Pick<ClusterPlan, 'identifier' | 'targetArn'>,
  waiting: Waiting,
): Promise<Outcome> {
  const result = await poll(cluster.identifier, waiting, async () => {
    const page = await rds.send(
      new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: cluster.identifier }),
    );
    const described = page.GlobalClusters?.[0];
    if (described === undefined) return { done: false, state: 'not found' };
    return { done: isSettledAt(described, cluster.targetArn), state: describeCluster(described) };
  });
  return result.done
    ? { status: 'moved', seconds: result.seconds }
    : { status: 'timed-out', last: result.last };
}

/**
 * Moves every global cluster's writer to its target member.
 *
 * - `switchover`: one cluster at a time, stopping at the first that fails or times out, so at most one cluster
 *   is ever in an unknown state and the others are either moved or untouched.
 * - `failover`: every request at once, then every wait at once. The writer region is down and no shard takes
 *   writes until all are promoted, so the recovery time is one promotion rather than the sum of them.
 *
 * @returns the outcome of each cluster, by identifier, in plan order
 */
export async function moveClusters(
  rds: RDSClient,
  command: GlobalCommand,
  clusters: readonly ClusterPlan[],
  waiting: Waiting,
): Promise<Map<string, Outcome>> {
  const outcomes = new Map<string, Outcome>(
    clusters.map((cluster) => [cluster.identifier, { status: 'not-started' }]),
  );
  const request = async (cluster: ClusterPlan): Promise<Outcome | undefined> => {
    if (cluster.state === 'already') return { status: 'already' };
    if (cluster.state === 'move') {
      waiting.log(`${cluster.identifier}: ${CLUSTER_API[command]} to ${cluster.targetArn}`);
      try {
        await rds.send(clusterMoveCommand(command, cluster));
      } catch (error) {
        return { status: 'failed', error: errorText(error) };
      }
    } else {
      waiting.log(
        `${cluster.identifier}: a move to ${cluster.targetArn} is already under way; waiting for it`,
      );
    }
    return undefined;
  };

  if (command === 'switchover') {
    for (const cluster of clusters) {
      const outcome = (await request(cluster)) ?? (await waitForClusterWriter(rds, cluster, waiting));
      outcomes.set(cluster.identifier, outcome);
      if (!isInTarget(outcome)) break;
    }
    return outcomes;
  }

  const requested = await Promise.all(
    clusters.map(async (cluster) => ({ cluster, outcome: await request(cluster) })),
  );
  await Promise.all(
    requested.map(async ({ cluster, outcome }) => {
      outcomes.set(cluster.identifier, outcome ?? (await waitForClusterWriter(rds, cluster, waiting)));
    }),
  );
  return outcomes;
}

/** Makes the target region's member the sessions datastore's primary and waits until ElastiCache reports it. */
export async function moveDatastore(
  elastiCache: ElastiCacheClient,
  datastore: DatastorePlan,
  to: string,
  waiting: Waiting,
): Promise<Outcome> {
  if (datastore.state === 'already') return { status: 'already' };
  waiting.log(`${datastore.id}: FailoverGlobalReplicationGroup to ${datastore.targetGroupId} in ${to}`);
  try {
    await elastiCache.send(datastoreMoveCommand(datastore, to));
  } catch (error) {
    return { status: 'failed', error: errorText(error) };
  }
  const result = await poll(datastore.id, waiting, async () => {
    const page = await elastiCache.send(
      new DescribeGlobalReplicationGroupsCommand({
        GlobalReplicationGroupId: datastore.id,
        ShowMemberInfo: true,
      }),
    );
    const group = page.GlobalReplicationGroups?.[0];
    if (group === undefined) return { done: false, state: 'not found' };
    const primary = primaryOf(group);
    return {
      done: group.Status === 'available' && primary?.ReplicationGroupId === datastore.targetGroupId,
      state: `${group.Status ?? 'unknown'}, primary ${primary?.ReplicationGroupId ?? 'none'} in ${primary?.ReplicationGroupRegion ?? '?'}`,
    };
  });
  return result.done
    ? { status: 'moved', seconds: result.seconds }
    : { status: 'timed-out', last: result.last };
}
