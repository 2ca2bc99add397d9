import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { DATABASE_DEFAULTS, PROXY_DEFAULTS } from '../config/defaults';
import type { DatabaseConfig, ProxyConfig } from '../config/stage-config';
import {
  databaseConfigProblems,
  proxyConfigProblems,
  StageConfigError,
} from '../config/validate-stage-config';
import { AuroraDatabase } from './aurora-database';
import { AuroraProxy } from './aurora-proxy';
import type { DatabaseEndpoint } from './data-endpoints';
import { GlobalDatabasePrimary } from './global-database';
import type { StageMonitoring } from './stage-monitoring';

/** Properties of {@link AuroraShard}. */
export interface AuroraShardProps {
  /** Stable shard id: `0` for the stage's `database`, the key under `shards` for the others. */
  readonly shardId: string;
  /** The shard's cluster. */
  readonly database: DatabaseConfig;
  /**
   * RDS Proxy in front of the cluster.
   *
   * @default - clients connect to the cluster endpoints
   */
  readonly proxy?: ProxyConfig;
  /** VPC with isolated subnets (cluster, proxy) and private subnets with egress (the rotation function). */
  readonly vpc: ec2.IVpc;
  /** Customer-managed key for storage, the secret, the exported logs and Performance Insights. */
  readonly encryptionKey: kms.IKey;
  /**
   * Security group admitted by the cluster and the proxy from inside this stack. Services in other
   * stacks admit themselves through {@link AuroraShard.endpoint}'s `securityGroupId` instead.
   *
   * @default - none
   */
  readonly clientSecurityGroup?: ec2.ISecurityGroup;
  /** Physical cluster identifier (unique per account and region; names the log group too). */
  readonly clusterIdentifier: string;
  /**
   * Make the cluster the primary of an Aurora global cluster with this identifier (stage global, home region):
   * {@link AuroraShard.globalDatabase}.
   *
   * @default - not a global database
   */
  readonly globalClusterIdentifier?: string;
}

/**
 * One Aurora shard: the cluster with its master secret and rotation, the app's own secret (the DML-only login
 * `shop_app_user`, rotated with the alternating-users strategy), the optional RDS Proxy (admitting both
 * secrets, with a read-only endpoint when the cluster has readers), its endpoint for services, and its alarms
 * and dashboard rows ({@link AuroraShard.addMonitoring}).
 *
 * The master secret is the schema owner's login and is used by migrations only; the app gets the app secret.
 *
 * Shard `0` is built with the id `Default` directly in the data stack, so that its children keep the
 * construct paths (`Database`, `Proxy`) and logical ids they had before shards existed.
 */
export class AuroraShard extends Construct {
  /** The stable shard id. */
  public readonly shardId: string;
  /** The cluster, its secret and its log group. */
  public readonly database: AuroraDatabase;
  /**
   * The app's login (`username`, `password`, `host`, `masterarn`, ...), attached to the cluster. The migration
   * task creates the user from it; the app reads it, and it rotates with the alternating-users strategy.
   */
  public readonly appSecret: secretsmanager.ISecret;
  /** Rotation of {@link AuroraShard.appSecret} (alternating users, run as the master). */
  public readonly appSecretRotation: secretsmanager.SecretRotation;
  /** Security group of the app secret's rotation function (admitted to the cluster on 5432 only). */
  public readonly appSecretRotationSecurityGroup: ec2.SecurityGroup;
  /** RDS Proxy, when the shard has one. */
  public readonly proxy?: AuroraProxy;
  /** How services reach this shard. */
  public readonly endpoint: DatabaseEndpoint;
  /** The global cluster this shard's cluster is the primary of (stage global, home region). */
  public readonly globalDatabase?: GlobalDatabasePrimary;
  /** The sizes this shard's alarms are bounded by. */
  private readonly sizes: { readonly database: DatabaseConfig; readonly proxy?: ProxyConfig };

  constructor(scope: Construct, id: string, props: AuroraShardProps) {
    super(scope, id);
    // The same checks the stage validation runs, keyed by this construct's props.
    const problems = [
      ...databaseConfigProblems(props.database, 'database.'),
      ...(props.proxy !== undefined ? proxyConfigProblems(props.proxy, 'proxy.', props.database) : []),
    ];
    if (problems.length > 0) throw new StageConfigError(problems);
    this.shardId = props.shardId;
    this.sizes = { database: props.database, ...(props.proxy !== undefined ? { proxy: props.proxy } : {}) };
    const identifier = props.clusterIdentifier;

    this.database = new AuroraDatabase(this, 'Database', {
      config: props.database,
      vpc: props.vpc,
      encryptionKey: props.encryptionKey,
      ...(props.clientSecurityGroup !== undefined ? { clientSecurityGroup: props.clientSecurityGroup } : {}),
      clusterIdentifier: identifier,
    });
    const { cluster } = this.database;

    // The app's own login. A secret is data-bearing (a restored snapshot needs the passwords it knew): retained.
    const appSecret = new rds.DatabaseSecret(this, 'AppSecret', {
      username: DATABASE_DEFAULTS.appUsername,
      dbname: this.database.databaseName,
      // Adds `masterarn`: the rotation function logs in as the master to change the clone's password.
      masterSecret: this.database.secret,
      encryptionKey: props.encryptionKey,
    });
    appSecret.applyRemovalPolicy(RemovalPolicy.RETAIN);
    // Attached: the secret gains host, port and engine, which the rotation function connects with.
    this.appSecret = appSecret.attach(cluster);

    // The rotation function needs Secrets Manager (HTTPS, through the NAT gateway: there is no interface
    // endpoint) and the cluster on 5432 (added by the rotation itself), nothing else.
    this.appSecretRotationSecurityGroup = new ec2.SecurityGroup(this, 'AppSecretRotationSecurityGroup', {
      vpc: props.vpc,
      description: 'Rotation of the app database secret: the cluster on 5432 and Secrets Manager on 443',
      allowAllOutbound: false,
    });
    this.appSecretRotationSecurityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'Secrets Manager API (public endpoint, through the NAT gateway)',
    );
    // Multi-user: the function (as the master) keeps two users and changes the password of the one not in
    // use, so connections of the current user never see a password change. Its first run must wait for the
    // migration task to create `shop_app_user` (it logs in with AWSCURRENT first), hence not on creation.
    this.appSecretRotation = cluster.addRotationMultiUser('AppSecretRotation', {
      secret: this.appSecret,
      automaticallyAfter: DATABASE_DEFAULTS.rotationInterval,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroup: this.appSecretRotationSecurityGroup,
      rotateImmediatelyOnUpdate: false,
    });

    if (props.proxy !== undefined) {
      this.proxy = new AuroraProxy(this, 'Proxy', {
        config: props.proxy,
        database: this.database,
        appSecret: this.appSecret,
        vpc: props.vpc,
        ...(props.clientSecurityGroup !== undefined
          ? { clientSecurityGroup: props.clientSecurityGroup }
          : {}),
        readOnlyEndpointName: `${identifier}-read-only`,
      });
    }

    const readerHost =
      this.proxy !== undefined
        ? this.proxy.readerHost
        : this.database.readerCount > 0
          ? cluster.clusterReadEndpoint.hostname
          : undefined;
    const clusterGroup = cluster.connections.securityGroups[0];
    if (clusterGroup === undefined) throw new Error('AuroraShard: the cluster has no security group');
    const clientGroup = this.proxy?.securityGroup ?? clusterGroup;
    if (props.globalClusterIdentifier !== undefined) {
      this.globalDatabase = new GlobalDatabasePrimary(this, 'GlobalDatabase', {
        shard: this,
        globalClusterIdentifier: props.globalClusterIdentifier,
      });
    }
    this.endpoint = {
      shardId: props.shardId,
      writerHost: this.proxy !== undefined ? this.proxy.writerHost : cluster.clusterEndpoint.hostname,
      ...(readerHost !== undefined ? { readerHost } : {}),
      port: 5432,
      replicationHost: cluster.clusterEndpoint.hostname,
      clusterSecurityGroupId: clusterGroup.securityGroupId,
      databaseName: this.database.databaseName,
      appSecretArn: this.appSecret.secretArn,
      migrationSecretArn: this.database.secret.secretArn,
      secretKeyArn: props.encryptionKey.keyArn,
      securityGroupId: clientGroup.securityGroupId,
      ...(props.globalClusterIdentifier !== undefined
        ? { globalClusterIdentifier: props.globalClusterIdentifier }
        : {}),
    };
  }

  /**
   * Adds this shard's alarms and dashboard rows to the region's monitoring: per role (writer, readers) CPU,
   * connections against the class's `max_connections`, freeable memory and replica lag; RDS Proxy client
   * connections and borrow latency. Every alarm name carries the shard id (`<prefix>-Shard0Writer-...`).
   */
  public addMonitoring(monitoring: StageMonitoring): void {
    const { database, proxy } = this.sizes;
    monitoring.addAuroraCluster({
      cluster: this.database.cluster,
      shardId: this.shardId,
      writerInstanceType: database.writer.instanceType,
      ...(database.readers !== undefined ? { readers: database.readers } : {}),
      ...(this.proxy !== undefined
        ? {
            proxy: {
              proxy: this.proxy.proxy,
              borrowTimeout: proxy?.borrowTimeout ?? PROXY_DEFAULTS.borrowTimeout,
              maxConnectionsPercent: proxy?.maxConnectionsPercent ?? PROXY_DEFAULTS.maxConnectionsPercent,
            },
          }
        : {}),
    });
  }
}
