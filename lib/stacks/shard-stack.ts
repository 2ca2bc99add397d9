import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { pascalCase } from '../config/naming';
import type { ShardConfig } from '../config/stage-config';
import { AuroraSecondaryShard } from '../constructs/aurora-secondary-shard';
import { AuroraShard } from '../constructs/aurora-shard';
import { globalClusterIdentifier } from '../constructs/global-database';
import type { StageConfig } from '../config/stage-config';
import { secondaryReaders, type GlobalDatabaseRole } from './data-stack';
import type { DatabaseEndpoint } from '../constructs/data-endpoints';
import { allowLogsService, denyGrantsExceptForAwsServices } from '../constructs/key-policies';
import { keepPublishedForEarlierStages } from './published-outputs';

/** Properties of {@link ShardStack}. */
export interface ShardStackProps extends StackProps {
  /** Stable shard id (the key under the stage's `shards`). */
  readonly shardId: string;
  /** The shard's configuration. */
  readonly config: ShardConfig;
  /** The region's VPC. */
  readonly vpc: ec2.IVpc;
  /** Prefix of physical names (cluster `<prefix>-db-<id>`, key alias `alias/<prefix>-shard-<id>`). */
  readonly prefix: string;
  /**
   * The shards created before this one (shard 0 first). With `config.logicalReplication`, this shard's cluster
   * and each of theirs admit each other on their port: the shard manager's subscriptions connect from the
   * target's cluster to the source's (RDS Proxy carries no replication). The rules live in this stack, so an
   * added shard changes no earlier stack.
   *
   * @default - none
   */
  readonly replicationPeers?: readonly DatabaseEndpoint[];
  /**
   * This region's part of the shard's Aurora Global Database (stage global), with the stage (for
   * `global.database`): the home region's cluster is the primary, every further region's a read-only secondary.
   *
   * @default - no global database
   */
  readonly globalDatabase?: GlobalDatabaseRole & { readonly stage: StageConfig };
}

/**
 * One more Aurora shard (stage 100k on), in a stack of its own with termination protection: its own
 * customer-managed key and an {@link AuroraShard}. A shard stack is added by adding a key under `shards`
 * and never removed: shard ids are permanent. Services admit themselves through {@link ShardStack.endpoint}.
 */
export class ShardStack extends Stack {
  /** Key encrypting this shard's storage, secret, logs and Performance Insights. */
  public readonly key: kms.Key;
  /** The shard; in a further region of stage global, the read-only secondary cluster of its global cluster. */
  public readonly shard: AuroraShard | AuroraSecondaryShard;

  constructor(scope: Construct, id: string, props: ShardStackProps) {
    super(scope, id, { terminationProtection: true, ...props });
    const { config } = props;
    const name = `${props.prefix}-shard-${props.shardId}`;

    this.key = new kms.Key(this, 'Key', {
      alias: `alias/${name}`,
      description: `Encrypts shard ${props.shardId}: Aurora storage, logs and Performance Insights, its secret`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The exported PostgreSQL log group is encrypted with this key by CloudWatch Logs.
    allowLogsService(this.key);
    denyGrantsExceptForAwsServices(this.key);

    const { proxy, ...database } = config;
    const global = props.globalDatabase;
    const clusterIdentifier = `${props.prefix}-db-${props.shardId}`;
    if (global?.role === 'secondary') {
      // A further region of stage global: the read-only secondary of this shard's global cluster.
      this.shard = new AuroraSecondaryShard(this, 'SecondaryShard', {
        shardId: props.shardId,
        database,
        readers: secondaryReaders(global.stage, database),
        vpc: props.vpc,
        encryptionKey: this.key,
        clusterIdentifier,
        globalClusterIdentifier: globalClusterIdentifier(props.prefix, props.shardId),
        homeRegion: global.homeRegion,
        home: global.home,
        secretReplicasKey: global.secretReplicasKey,
        ...(global.stage.global?.database.rpoLagAlarm !== undefined
          ? { rpoLagAlarm: global.stage.global.database.rpoLagAlarm }
          : {}),
      });
      return;
    }
    const shard = new AuroraShard(this, 'Shard', {
      shardId: props.shardId,
      database,
      ...(proxy !== undefined ? { proxy } : {}),
      vpc: props.vpc,
      encryptionKey: this.key,
      clusterIdentifier,
      ...(global?.role === 'primary'
        ? { globalClusterIdentifier: globalClusterIdentifier(props.prefix, props.shardId) }
        : {}),
    });
    this.shard = shard;
    // Outputs are append-only (as ShopData's): everything a service stack may read of this shard stays
    // published, whichever of it the service reads today. A later change of which secret the app logs in with,
    // or of proxy and cluster endpoints, then cannot take away an output a deployed service (or its rollback)
    // still reads. Both secrets, the key, the client group, the proxy's and the cluster's endpoints, and the
    // names the alarms and dashboard rows watch (cluster, proxy).
    const { endpoint } = shard;
    const { cluster } = shard.database;
    keepPublishedForEarlierStages(this, [
      endpoint.clusterSecurityGroupId,
      cluster.clusterIdentifier,
      ...(shard.proxy !== undefined ? [shard.proxy.proxy.dbProxyName] : []),
      endpoint.writerHost,
      ...(endpoint.readerHost !== undefined ? [endpoint.readerHost] : []),
      endpoint.appSecretArn,
      endpoint.migrationSecretArn,
      endpoint.secretKeyArn,
      endpoint.securityGroupId,
      cluster.clusterEndpoint.hostname,
      ...(shard.database.readerCount > 0 ? [cluster.clusterReadEndpoint.hostname] : []),
    ]);

    if (config.logicalReplication !== undefined) {
      const own = ec2.SecurityGroup.fromSecurityGroupId(
        this,
        'ClusterGroup',
        endpoint.clusterSecurityGroupId,
        {
          allowAllOutbound: true,
        },
      );
      for (const peer of props.replicationPeers ?? []) {
        const name = pascalCase(peer.shardId);
        const group = ec2.SecurityGroup.fromSecurityGroupId(
          this,
          `Shard${name}ClusterGroup`,
          peer.clusterSecurityGroupId,
          { allowAllOutbound: true },
        );
        // Both ways: a logical shard may move from either shard to the other.
        own.addIngressRule(
          group,
          ec2.Port.tcp(peer.port),
          `Logical replication: subscriptions of shard ${peer.shardId}`,
        );
        group.addIngressRule(
          own,
          ec2.Port.tcp(endpoint.port),
          `Logical replication: subscriptions of shard ${props.shardId}`,
        );
      }
    }
  }

  /** How services reach this shard. */
  public get endpoint(): DatabaseEndpoint {
    return this.shard.endpoint;
  }
}
