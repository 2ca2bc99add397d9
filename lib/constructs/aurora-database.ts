import { Annotations, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { DatabaseConfig, LogicalReplicationConfig } from '../config/stage-config';
import {
  AURORA_POSTGRES_VERSION,
  DATABASE_DEFAULTS,
  ENHANCED_MONITORING_INTERVAL,
  LOGICAL_REPLICATION_DEFAULTS,
} from '../config/defaults';

/** Properties of {@link AuroraDatabase}. */
export interface AuroraDatabaseProps {
  /** The stage's database section. */
  readonly config: DatabaseConfig;
  /** VPC with isolated subnets (the cluster) and private subnets with egress (the rotation function). */
  readonly vpc: ec2.IVpc;
  /** Customer-managed key for storage, the secret, the exported logs and Performance Insights. */
  readonly encryptionKey: kms.IKey;
  /**
   * A client admitted from inside this stack (besides the rotation function and the proxy, which admit
   * themselves). Clients in other stacks admit themselves on the cluster's security group.
   *
   * @default - none
   */
  readonly clientSecurityGroup?: ec2.ISecurityGroup;
  /**
   * Physical cluster identifier. Fixed (not generated) because the exported log group is named after it
   * and must exist, with retention and encryption, before the cluster writes to it.
   */
  readonly clusterIdentifier: string;
}

/**
 * Aurora PostgreSQL cluster: a writer and optional readers, storage and secret encrypted with a
 * customer-managed key, TLS enforced (`rds.force_ssl`), IAM authentication, master password in Secrets
 * Manager with rotation, backups, deletion protection, snapshot-on-delete, `postgresql` logs exported to an
 * encrypted log group with retention. Reachable only from the client security group.
 *
 * Construct ids are a contract: `Cluster`, `Cluster/Writer` and `Cluster/ReaderN` keep their logical ids
 * when readers are added, and at stage 100k this cluster becomes shard 0 under the same path.
 */
export class AuroraDatabase extends Construct {
  /** The cluster. */
  public readonly cluster: rds.DatabaseCluster;
  /** Master credentials (`username`, `password`, `host`, ...). */
  public readonly secret: secretsmanager.ISecret;
  /** Log group receiving the exported `postgresql` log. */
  public readonly logGroup: logs.LogGroup;
  /** Name of the app's database. */
  public readonly databaseName: string;
  /** Number of reader instances. */
  public readonly readerCount: number;
  /** Logical replication settings with their defaults applied, when it is on. */
  public readonly logicalReplication?: Required<LogicalReplicationConfig>;

  constructor(scope: Construct, id: string, props: AuroraDatabaseProps) {
    super(scope, id);
    const { config } = props;
    this.databaseName = config.databaseName ?? DATABASE_DEFAULTS.databaseName;
    this.readerCount = config.readers?.count ?? 0;
    if (config.logicalReplication !== undefined) {
      this.logicalReplication = { ...LOGICAL_REPLICATION_DEFAULTS, ...config.logicalReplication };
    }
    const engine = rds.DatabaseClusterEngine.auroraPostgres({ version: AURORA_POSTGRES_VERSION });

    const parameterGroup = new rds.ParameterGroup(this, 'ClusterParameters', {
      engine,
      description: CLUSTER_PARAMETERS_DESCRIPTION,
      parameters: clusterParameters(config),
    });

    this.logGroup = new logs.LogGroup(this, 'PostgresqlLogs', {
      logGroupName: `/aws/rds/cluster/${props.clusterIdentifier}/postgresql`,
      retention: config.logRetention ?? DATABASE_DEFAULTS.logRetention,
      encryptionKey: props.encryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const instanceProps = { publiclyAccessible: false, autoMinorVersionUpgrade: true };
    const performanceInsights = config.performanceInsights;
    this.cluster = new rds.DatabaseCluster(this, 'Cluster', {
      engine,
      clusterIdentifier: props.clusterIdentifier,
      credentials: rds.Credentials.fromGeneratedSecret(DATABASE_DEFAULTS.masterUsername, {
        encryptionKey: props.encryptionKey,
      }),
      defaultDatabaseName: this.databaseName,
      writer: rds.ClusterInstance.provisioned('Writer', {
        ...instanceProps,
        instanceType: config.writer.instanceType,
      }),
      readers: Array.from({ length: this.readerCount }, (_, index) =>
        rds.ClusterInstance.provisioned(`Reader${index + 1}`, {
          ...instanceProps,
          instanceType: config.readers!.instanceType,
        }),
      ),
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      parameterGroup,
      storageEncrypted: true,
      storageEncryptionKey: props.encryptionKey,
      iamAuthentication: true,
      backup: {
        retention: config.backupRetention ?? DATABASE_DEFAULTS.backupRetention,
        preferredWindow: '03:00-04:00',
      },
      preferredMaintenanceWindow: 'Sun:04:30-Sun:05:30',
      deletionProtection: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      copyTagsToSnapshot: true,
      cloudwatchLogsExports: ['postgresql'],
      // Enhanced Monitoring: OS metrics (CPU steal, memory, swap, disk queue, per-process) of every instance,
      // which CloudWatch's hypervisor view lacks. Set per instance (an in-place change), with a role CDK makes.
      monitoringInterval: ENHANCED_MONITORING_INTERVAL,
      ...(performanceInsights !== undefined
        ? {
            enablePerformanceInsights: true,
            performanceInsightEncryptionKey: props.encryptionKey,
            performanceInsightRetention:
              performanceInsights.retention ?? DATABASE_DEFAULTS.performanceInsightRetention,
          }
        : {}),
    });
    if (performanceInsights !== undefined) {
      // Performance Insights is set on the cluster only. Setting it on the instances too would add a
      // PerformanceInsightsKMSKeyId to the writer, a property CloudFormation may replace an instance for.
      Annotations.of(this.cluster).acknowledgeWarning(
        '@aws-cdk/aws-rds:instancePerformanceInsightsOverridden',
        'Performance Insights is configured at cluster level on purpose; every instance inherits it',
      );
    }
    // RDS would create the log group itself on first write, without retention or encryption.
    this.cluster.node.addDependency(this.logGroup);

    const secret = this.cluster.secret;
    if (secret === undefined) throw new Error('AuroraDatabase: the cluster has no generated secret');
    this.secret = secret;
    // A snapshot restored later still needs the password it was taken with. (`cluster.secret` is the
    // attachment; the secret itself is the cluster's `Secret` child.)
    (this.cluster.node.findChild('Secret') as secretsmanager.Secret).applyRemovalPolicy(RemovalPolicy.RETAIN);

    if (props.clientSecurityGroup !== undefined) {
      this.cluster.connections.allowDefaultPortFrom(
        props.clientSecurityGroup,
        'PostgreSQL from the app tasks',
      );
    }

    const rotation = this.cluster.addRotationSingleUser({
      automaticallyAfter: DATABASE_DEFAULTS.rotationInterval,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    });
    // The rotation function's group is described by its construct path, and a new description replaces a
    // security group: leave out `Default` (the id of shard 0's wrapper, hidden from logical ids too) so that
    // the description stays what it was before shards existed.
    const rotationGroup = rotation.node.tryFindChild('SecurityGroup')?.node.defaultChild;
    if (rotationGroup instanceof ec2.CfnSecurityGroup) {
      rotationGroup.groupDescription = rotationGroup.node
        .scope!.node.path.split('/')
        .filter((segment) => segment !== 'Default')
        .join('/');
    }

    if (this.cluster.monitoringRole !== undefined) {
      Validations.of(this.cluster.monitoringRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]',
        reason:
          'The Enhanced Monitoring role assumed by monitoring.rds.amazonaws.com only; its AWS-managed policy grants ' +
          'nothing but writing to the RDSOSMetrics log group, and AWS keeps it in step with the service.',
      });
    }
    Validations.of(this.cluster).acknowledge({
      id: 'AwsSolutions-RDS11',
      reason:
        'PostgreSQL keeps its default port 5432: RDS Proxy always listens on 5432, and the cluster is reachable only ' +
        'from the app, proxy and rotation security groups, so a non-default port would add no protection.',
    });
  }
}

/** The cluster parameter group's description: fixed, because a new one replaces the group. */
export const CLUSTER_PARAMETERS_DESCRIPTION = 'Shop cluster parameters: TLS required for every connection';

/**
 * The cluster parameters of a shard's cluster: its home cluster's and, in stage global, each secondary cluster's
 * (a secondary is promoted to primary in a failover, and must then behave as the home cluster did).
 */
export function clusterParameters(config: DatabaseConfig): Record<string, string> {
  const replication = config.logicalReplication;
  return {
    'rds.force_ssl': '1',
    log_min_duration_statement: '1000',
    // Aurora storage is SSD-like: with the default 4.0 the planner prefers sequential scans over the
    // catalog's GIN search index (the app's EXPLAIN test shows the same on PostgreSQL with 1.1).
    random_page_cost: '1.1',
    // Added to the existing group, so the cluster keeps its group (an in-place parameter change); every
    // one of these is static: the writer applies them at its next reboot.
    ...(replication !== undefined ? logicalReplicationParameters(replication) : {}),
  };
}

/**
 * The cluster parameters that turn on PostgreSQL logical replication (`rds.logical_replication` sets
 * `wal_level = logical`) with room for the shard manager's moves. All static: applied at the next reboot.
 */
export function logicalReplicationParameters(config: LogicalReplicationConfig): Record<string, string> {
  const settings = { ...LOGICAL_REPLICATION_DEFAULTS, ...config };
  return {
    'rds.logical_replication': '1',
    max_replication_slots: String(settings.maxReplicationSlots),
    max_wal_senders: String(settings.maxWalSenders),
    max_logical_replication_workers: String(settings.maxLogicalReplicationWorkers),
  };
}
