import { Stack } from 'aws-cdk-lib';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import { Construct } from 'constructs';
import { globalDatastoreId, globalDatastoreSuffix } from '../config/validate-global';
import type { RedisCache } from './redis-cache';

/** Properties of {@link GlobalSessionsDatastore}. */
export interface GlobalSessionsDatastoreProps {
  /** The home region's cache: its replication group becomes the datastore's primary, unchanged. */
  readonly primary: RedisCache;
  /** Prefix of physical names: the datastore's id suffix is `<prefix>-sessions`. */
  readonly prefix: string;
}

/**
 * The ElastiCache Global Datastore of the sessions (stage global), in the home region: the existing cache group
 * joins it as the primary (`AWS::ElastiCache::GlobalReplicationGroup` with that group as its only member: the
 * group itself, its logical id and every property stay as they are). Each further region adds its own read-only
 * member ({@link GlobalSessionsSecondary}) by the datastore's deterministic id, `<region prefix>-<prefix>-sessions`;
 * members are not listed here, because a secondary is created in its own region's stack after this one.
 *
 * There is no automatic failover across regions: promoting a secondary is the runbook's step
 * (`FailoverGlobalReplicationGroup`).
 */
export class GlobalSessionsDatastore extends Construct {
  /** The datastore. */
  public readonly globalReplicationGroup: elasticache.CfnGlobalReplicationGroup;
  /** The datastore's full id, as every secondary region names it. */
  public readonly globalReplicationGroupId: string;

  constructor(scope: Construct, id: string, props: GlobalSessionsDatastoreProps) {
    super(scope, id);
    const region = Stack.of(this).region;
    this.globalReplicationGroupId = globalDatastoreId(props.prefix, region);
    this.globalReplicationGroup = new elasticache.CfnGlobalReplicationGroup(this, 'Resource', {
      globalReplicationGroupIdSuffix: globalDatastoreSuffix(props.prefix),
      globalReplicationGroupDescription:
        'Sessions of the shop in every region: the home cache group is the primary',
      // Within each member's region: a replica takes over from a failed primary node (the members are Multi-AZ).
      automaticFailoverEnabled: true,
      members: [
        {
          replicationGroupId: props.primary.replicationGroup.ref,
          replicationGroupRegion: region,
          role: 'PRIMARY',
        },
      ],
    });
  }
}
