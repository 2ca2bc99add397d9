import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { PROXY_DEFAULTS } from '../config/defaults';
import type { DatabaseConfig, ProxyConfig } from '../config/stage-config';
import {
  databaseConfigProblems,
  proxyConfigProblems,
  StageConfigError,
} from '../config/validate-stage-config';
import { AuroraDatabase } from './aurora-database';
import { AuroraProxy } from './aurora-proxy';
import type { DatabaseEndpoint } from './data-endpoints';
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
}

/**
 * One Aurora shard: the cluster with its secret and rotation, the optional RDS Proxy (with a read-only
 * endpoint when the cluster has readers), its endpoint for services, and its alarms and dashboard rows
 * ({@link AuroraShard.addMonitoring}).
 *
 * Shard `0` is built with the id `Default` directly in the data stack, so that its children keep the
 * construct paths (`Database`, `Proxy`) and logical ids they had before shards existed.
 */
export class AuroraShard extends Construct {
  /** The stable shard id. */
  public readonly shardId: string;
  /** The cluster, its secret and its log group. */
  public readonly database: AuroraDatabase;
  /** RDS Proxy, when the shard has one. */
  public readonly proxy?: AuroraProxy;
  /** How services reach this shard. */
  public readonly endpoint: DatabaseEndpoint;
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
    if (props.proxy !== undefined) {
      this.proxy = new AuroraProxy(this, 'Proxy', {
        config: props.proxy,
        database: this.database,
        vpc: props.vpc,
        ...(props.clientSecurityGroup !== undefined
          ? { clientSecurityGroup: props.clientSecurityGroup }
          : {}),
        readOnlyEndpointName: `${identifier}-read-only`,
      });
    }

    const { cluster } = this.database;
    const readerHost =
      this.proxy !== undefined
        ? this.proxy.readerHost
        : this.database.readerCount > 0
          ? cluster.clusterReadEndpoint.hostname
          : undefined;
    const clientGroup = this.proxy?.securityGroup ?? cluster.connections.securityGroups[0];
    if (clientGroup === undefined) throw new Error('AuroraShard: the cluster has no security group');
    this.endpoint = {
      shardId: props.shardId,
      writerHost: this.proxy !== undefined ? this.proxy.writerHost : cluster.clusterEndpoint.hostname,
      ...(readerHost !== undefined ? { readerHost } : {}),
      port: 5432,
      databaseName: this.database.databaseName,
      secretArn: this.database.secret.secretArn,
      secretKeyArn: props.encryptionKey.keyArn,
      securityGroupId: clientGroup.securityGroupId,
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
