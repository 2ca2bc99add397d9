/**
 * Test doubles for `npm run global`: RDS and ElastiCache as aws-sdk-client-mock drives them, answering with the
 * request and response shapes the APIs document (DescribeGlobalClusters' `GlobalCluster` with its members and
 * `FailoverState`; DescribeGlobalReplicationGroups' `GlobalReplicationGroup` with `ShowMemberInfo` members),
 * paginated with `Marker` like the real APIs, and moving through the states a switchover or failover goes
 * through (a few describes "switching-over" or "modifying", then the new writer). No AWS account was used:
 * the shapes come from the API references, not from a live recording.
 */
import {
  DescribeGlobalReplicationGroupsCommand,
  ElastiCacheClient,
  FailoverGlobalReplicationGroupCommand,
  type GlobalReplicationGroup,
} from '@aws-sdk/client-elasticache';
import {
  DescribeGlobalClustersCommand,
  FailoverGlobalClusterCommand,
  RDSClient,
  SwitchoverGlobalClusterCommand,
  type FailoverStatus,
  type GlobalCluster,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import type { StageConfig } from '../../lib/config/stage-config';
import { stage1m } from '../../stages/1m';

/** Account id in the fake ARNs. */
export const ACCOUNT = '123456789012';
/** The deployment's regions, home first. */
export const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2'] as const;
/** ElastiCache's Global Datastore id prefix for us-east-1 (Redis-Global-Datastores-CLI.html). */
export const DATASTORE_ID = 'ldgnf-shop-sessions';

/** Stage 1m plus a `global` block: the shape of stage global, whatever its registration state on this branch. */
export const STAGE_GLOBAL: StageConfig = {
  ...stage1m,
  shards: { s1: stage1m.shards.s1, s2: stage1m.shards.s1 },
  global: { database: {}, sessions: {}, edge: {}, routing: {} },
} as StageConfig;

/** The ARN of an Aurora cluster. */
export function clusterArn(region: string, clusterId: string): string {
  return `arn:aws:rds:${region}:${ACCOUNT}:cluster:${clusterId}`;
}

/** The member cluster id of a shard's global cluster in a region (the home keeps its 1m name). */
export function memberClusterId(shardId: string, region: string): string {
  const base = shardId === '0' ? 'shop-db' : `shop-db-${shardId}`;
  return region === REGIONS[0] ? base : `${base}-${region}`;
}

interface ClusterState {
  readonly identifier: string;
  readonly members: Record<string, string>;
  writerRegion: string | undefined;
  status: string;
  failover?: { from: string; to: string; dataLoss: boolean; describesLeft: number };
}

/** What the fake does when a move is requested. */
export interface MoveBehaviour {
  /** Describes that still show the move under way before the new writer appears. @default 2 */
  readonly describes?: number;
  /** The request is rejected with this error. */
  readonly reject?: Error;
  /** The move never finishes. */
  readonly hang?: boolean;
}

/** An error as the SDK throws a service fault. */
export function serviceError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

/**
 * Aurora global clusters of one deployment (shard ids `0`, `s1`, `s2`), writers in the home region, behind an
 * aws-sdk-client-mock of one RDSClient.
 */
export class FakeGlobalClusters {
  readonly client = new RDSClient({ region: REGIONS[1] });
  readonly mock = mockClient(this.client);
  readonly clusters = new Map<string, ClusterState>();
  readonly behaviour = new Map<string, MoveBehaviour>();
  /** Global clusters of other deployments in the account. */
  readonly others: GlobalCluster[] = [];

  constructor(shardIds: readonly string[] = ['0', 's1', 's2'], prefix = 'shop') {
    for (const shardId of shardIds) {
      const identifier = `${prefix}-${shardId === '0' ? 'shard0' : shardId}-global`;
      this.clusters.set(identifier, {
        identifier,
        members: Object.fromEntries(
          REGIONS.map((region) => [region, clusterArn(region, memberClusterId(shardId, region))]),
        ),
        writerRegion: REGIONS[0],
        status: 'available',
      });
    }
    this.mock
      .on(DescribeGlobalClustersCommand)
      .callsFake((input: { GlobalClusterIdentifier?: string; Marker?: string }) => {
        if (input.GlobalClusterIdentifier !== undefined) {
          const state = this.clusters.get(input.GlobalClusterIdentifier);
          if (state === undefined) {
            throw serviceError(
              'GlobalClusterNotFoundFault',
              `Global cluster ${input.GlobalClusterIdentifier} not found.`,
            );
          }
          this.advance(state);
          return { GlobalClusters: [this.shape(state)] };
        }
        // Pages of two, like a MaxRecords-limited answer, so the caller must follow Marker.
        const all = [...this.others, ...[...this.clusters.values()].map((state) => this.shape(state))];
        const start = input.Marker !== undefined ? Number(input.Marker) : 0;
        const next = start + 2;
        return {
          GlobalClusters: all.slice(start, next),
          ...(next < all.length ? { Marker: String(next) } : {}),
        };
      });
    const move =
      (dataLoss: boolean) =>
      (input: { GlobalClusterIdentifier?: string; TargetDbClusterIdentifier?: string }) => {
        const state = this.clusters.get(input.GlobalClusterIdentifier ?? '');
        if (state === undefined)
          throw serviceError(
            'GlobalClusterNotFoundFault',
            `Global cluster ${input.GlobalClusterIdentifier} not found.`,
          );
        const behaviour = this.behaviour.get(state.identifier) ?? {};
        if (behaviour.reject) throw behaviour.reject;
        const to = Object.entries(state.members).find(
          ([, arn]) => arn === input.TargetDbClusterIdentifier,
        )?.[0];
        if (to === undefined) {
          throw serviceError(
            'DBClusterNotFoundFault',
            `DBCluster ${input.TargetDbClusterIdentifier} not found.`,
          );
        }
        state.failover = {
          from: state.members[state.writerRegion ?? ''] ?? '',
          to,
          dataLoss,
          describesLeft: behaviour.hang ? Number.POSITIVE_INFINITY : (behaviour.describes ?? 2),
        };
        state.status = dataLoss ? 'failing-over' : 'switching-over';
        return { GlobalCluster: this.shape(state) };
      };
    this.mock.on(SwitchoverGlobalClusterCommand).callsFake(move(false));
    this.mock
      .on(FailoverGlobalClusterCommand)
      .callsFake(
        (input: {
          AllowDataLoss?: boolean;
          GlobalClusterIdentifier?: string;
          TargetDbClusterIdentifier?: string;
        }) => move(input.AllowDataLoss === true)(input),
      );
  }

  /** One describe of a cluster being moved: one step closer to the new writer. */
  private advance(state: ClusterState): void {
    if (state.failover === undefined) return;
    if (state.failover.describesLeft > 0) {
      state.failover.describesLeft--;
      return;
    }
    state.writerRegion = state.failover.to;
    state.status = 'available';
    delete state.failover;
  }

  /** A cluster as DescribeGlobalClusters answers. */
  shape(state: ClusterState): GlobalCluster {
    return {
      GlobalClusterIdentifier: state.identifier,
      GlobalClusterResourceId: `cluster-${state.identifier.replace(/[^a-z0-9]/g, '').slice(0, 16)}`,
      GlobalClusterArn: `arn:aws:rds::${ACCOUNT}:global-cluster:${state.identifier}`,
      Status: state.status,
      Engine: 'aurora-postgresql',
      EngineVersion: '16.6',
      EngineLifecycleSupport: 'open-source-rds-extended-support',
      StorageEncrypted: true,
      DeletionProtection: true,
      GlobalClusterMembers: Object.entries(state.members).map(([region, arn]) => ({
        DBClusterArn: arn,
        Readers: Object.entries(state.members)
          .filter(([other]) => other !== region)
          .map(([, readerArn]) => readerArn),
        IsWriter: region === state.writerRegion,
        GlobalWriteForwardingStatus: 'disabled',
        ...(region === state.writerRegion ? {} : { SynchronizationStatus: 'connected' }),
      })),
      Endpoint: `${state.identifier}.global-7r4nd0m.global.rds.amazonaws.com`,
      ...(state.failover !== undefined
        ? {
            FailoverState: {
              // The API reference lists "switching-over"; this SDK's FailoverStatus enum does not (yet).
              Status: (state.failover.dataLoss ? 'failing-over' : 'switching-over') as FailoverStatus,
              FromDbClusterArn: state.failover.from,
              ToDbClusterArn: state.members[state.failover.to],
              IsDataLossAllowed: state.failover.dataLoss,
            },
          }
        : {}),
      TagList: [],
    };
  }

  /** The inputs of every call of one command, in order. */
  inputs(
    command:
      | typeof SwitchoverGlobalClusterCommand
      | typeof FailoverGlobalClusterCommand
      | typeof DescribeGlobalClustersCommand,
  ): Record<string, unknown>[] {
    return this.mock
      .commandCalls(command as typeof DescribeGlobalClustersCommand)
      .map((call) => call.args[0].input as Record<string, unknown>);
  }
}

/** The sessions Global Datastore (primary `shop-redis` in the home region), behind a mock of one ElastiCacheClient. */
export class FakeGlobalDatastore {
  readonly client = new ElastiCacheClient({ region: REGIONS[1] });
  readonly mock = mockClient(this.client);
  /** Member replication group by region. */
  readonly members: Record<string, string> = {
    [REGIONS[0]]: 'shop-redis',
    [REGIONS[1]]: 'shop-sessions',
    [REGIONS[2]]: 'shop-sessions',
  };
  primaryRegion: string = REGIONS[0];
  status = 'available';
  behaviour: MoveBehaviour = {};
  private pending?: { to: string; describesLeft: number };
  /** Datastores of other deployments. */
  readonly others: GlobalReplicationGroup[] = [];

  constructor(readonly id = DATASTORE_ID) {
    this.mock
      .on(DescribeGlobalReplicationGroupsCommand)
      .callsFake((input: { GlobalReplicationGroupId?: string }) => {
        if (input.GlobalReplicationGroupId !== undefined) {
          if (input.GlobalReplicationGroupId !== this.id) {
            throw serviceError(
              'GlobalReplicationGroupNotFoundFault',
              `Global datastore ${input.GlobalReplicationGroupId} not found.`,
            );
          }
          this.advance();
          return { GlobalReplicationGroups: [this.shape()] };
        }
        return { GlobalReplicationGroups: [...this.others, this.shape()] };
      });
    this.mock
      .on(FailoverGlobalReplicationGroupCommand)
      .callsFake(
        (input: {
          GlobalReplicationGroupId?: string;
          PrimaryRegion?: string;
          PrimaryReplicationGroupId?: string;
        }) => {
          if (this.behaviour.reject) throw this.behaviour.reject;
          if (input.PrimaryReplicationGroupId !== this.members[input.PrimaryRegion ?? '']) {
            throw serviceError(
              'InvalidParameterValueException',
              `${input.PrimaryReplicationGroupId} is not a member in ${input.PrimaryRegion}.`,
            );
          }
          this.pending = {
            to: input.PrimaryRegion as string,
            describesLeft: this.behaviour.hang ? Number.POSITIVE_INFINITY : (this.behaviour.describes ?? 2),
          };
          this.status = 'modifying';
          return { GlobalReplicationGroup: this.shape() };
        },
      );
  }

  private advance(): void {
    if (this.pending === undefined) return;
    if (this.pending.describesLeft > 0) {
      this.pending.describesLeft--;
      return;
    }
    this.primaryRegion = this.pending.to;
    this.status = 'available';
    delete this.pending;
  }

  /** The datastore as DescribeGlobalReplicationGroups with ShowMemberInfo answers. */
  shape(): GlobalReplicationGroup {
    return {
      GlobalReplicationGroupId: this.id,
      GlobalReplicationGroupDescription: 'Sessions of shop, replicated to every region',
      Status: this.status,
      CacheNodeType: 'cache.r7g.large',
      Engine: 'redis',
      EngineVersion: '7.1.0',
      Members: Object.entries(this.members).map(([region, groupId]) => ({
        ReplicationGroupId: groupId,
        ReplicationGroupRegion: region,
        Role: region === this.primaryRegion ? 'PRIMARY' : 'SECONDARY',
        AutomaticFailover: 'enabled',
        Status: 'associated',
      })),
      ClusterEnabled: false,
      AuthTokenEnabled: true,
      TransitEncryptionEnabled: true,
      AtRestEncryptionEnabled: true,
      ARN: `arn:aws:elasticache::${ACCOUNT}:globalreplicationgroup:${this.id}`,
    };
  }
}
