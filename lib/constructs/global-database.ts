/**
 * Aurora Global Database, home side (stage global): the home region's cluster of a shard becomes the primary of a
 * global cluster in place, and the shard's database secrets are replicated to every further region.
 */
import { Fn, RemovalPolicy } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { SHARD_ZERO_ID } from '../config/naming';
import type { AuroraShard } from './aurora-shard';

/**
 * The identifier of a shard's global cluster, `<prefix>-shard0-global` for shard 0 and `<prefix>-<shardId>-global`
 * for the others: deterministic, so a further region's secondary cluster joins it by name, with no reference
 * across regions.
 *
 * @param prefix - the deployment's prefix
 * @param shardId - `0` or the key under `shards`
 */
export function globalClusterIdentifier(prefix: string, shardId: string): string {
  return `${prefix}-${shardId === SHARD_ZERO_ID ? 'shard0' : shardId}-global`;
}

/**
 * The ARN of a secret's replica in another region: the same name (with its random suffix), in `region`. The
 * home secret's ARN never changes (the secret is retained and never replaced), which is what makes reading it in
 * another region safe.
 *
 * @param secretArn - the home secret's ARN (a token)
 * @param region - the replica's region (a token or a code)
 */
export function secretReplicaArn(secretArn: string, region: string): string {
  const parts = Fn.split(':', secretArn);
  // arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<suffix>
  return Fn.join(':', [
    'arn',
    Fn.select(1, parts),
    'secretsmanager',
    region,
    Fn.select(4, parts),
    'secret',
    Fn.select(6, parts),
  ]);
}

/** Properties of {@link GlobalDatabasePrimary}. */
export interface GlobalDatabasePrimaryProps {
  /** The home region's shard whose cluster becomes the primary. */
  readonly shard: AuroraShard;
  /** The global cluster's identifier ({@link globalClusterIdentifier}). */
  readonly globalClusterIdentifier: string;
}

/**
 * The home side of one shard's Aurora Global Database: an `AWS::RDS::GlobalCluster` made from the existing
 * cluster (`SourceDBClusterIdentifier`: the cluster is not replaced, it becomes the primary in place; engine,
 * version and encryption come from it), with deletion protection, and the shard's two database secrets (the
 * master, for migrations, and the app's) replicated to each further region with
 * {@link GlobalDatabasePrimary.addSecondaryRegion}: a secondary region's app reads its region's replica, so a
 * lost home region takes no credentials with it, and rotation in the home region updates every replica.
 */
export class GlobalDatabasePrimary extends Construct {
  /** The global cluster. */
  public readonly globalCluster: rds.CfnGlobalCluster;
  /** The global cluster's identifier. */
  public readonly globalClusterIdentifier: string;
  /** The secrets replicated to every further region: the master (migrations) and the app's. */
  private readonly secrets: readonly secretsmanager.Secret[];
  /** Regions added so far. */
  private readonly regions = new Set<string>();

  constructor(scope: Construct, id: string, props: GlobalDatabasePrimaryProps) {
    super(scope, id);
    const { shard } = props;
    this.globalClusterIdentifier = props.globalClusterIdentifier;
    this.globalCluster = new rds.CfnGlobalCluster(this, 'Resource', {
      globalClusterIdentifier: props.globalClusterIdentifier,
      sourceDbClusterIdentifier: shard.database.cluster.clusterIdentifier,
      deletionProtection: true,
    });
    // Deleting the global cluster would detach the secondaries from their data; it is removed by hand, if ever.
    this.globalCluster.applyRemovalPolicy(RemovalPolicy.RETAIN);
    // Global Database rejects burstable instances: in an upgrade (1m -> global) the instances move to their
    // memory-optimised class first, then the global cluster is made (DependsOn every instance of the cluster).
    this.globalCluster.node.addDependency(shard.database.cluster);

    const master = shard.database.cluster.node.findChild('Secret') as secretsmanager.Secret;
    const app = shard.node.findChild('AppSecret') as secretsmanager.Secret;
    this.secrets = [master, app];
  }

  /**
   * Replicates the shard's database secrets to a further region, encrypted there with that region's key (an
   * in-place update of each home secret). Call once per further region.
   *
   * @param region - the further region's code
   * @param replicaKey - the key in that region the replicas are encrypted with
   */
  public addSecondaryRegion(region: string, replicaKey: kms.IKey): void {
    if (this.regions.has(region)) {
      throw new Error(`GlobalDatabasePrimary: region ${region} was added twice to ${this.node.path}`);
    }
    this.regions.add(region);
    for (const secret of this.secrets) secret.addReplicaRegion(region, replicaKey);
  }
}
