import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import {
  AURORA_POSTGRES_VERSION,
  DATABASE_DEFAULTS,
  ENHANCED_MONITORING_INTERVAL,
  GLOBAL_DATABASE_DEFAULTS,
} from '../config/defaults';
import { pascalCase } from '../config/naming';
import type { DatabaseConfig, DatabaseReadersConfig } from '../config/stage-config';
import { StageConfigError } from '../config/validate-stage-config';
import { CLUSTER_PARAMETERS_DESCRIPTION, clusterParameters } from './aurora-database';
import type { DatabaseEndpoint } from './data-endpoints';
import { secretReplicaArn } from './global-database';
import type { StageMonitoring } from './stage-monitoring';

/** Properties of {@link AuroraSecondaryShard}. */
export interface AuroraSecondaryShardProps {
  /** Stable shard id: `0` for the stage's `database`, the key under `shards` for the others. */
  readonly shardId: string;
  /** The home cluster's configuration: parameters, backups, log retention and Performance Insights as home. */
  readonly database: DatabaseConfig;
  /** Reader instances of this secondary cluster (at least one). */
  readonly readers: DatabaseReadersConfig;
  /** VPC with isolated subnets (the cluster). */
  readonly vpc: ec2.IVpc;
  /** This region's key for storage, the exported logs and Performance Insights. */
  readonly encryptionKey: kms.IKey;
  /**
   * A client admitted from inside this stack. Clients in other stacks admit themselves on the endpoint's
   * security group.
   *
   * @default - none
   */
  readonly clientSecurityGroup?: ec2.ISecurityGroup;
  /** Physical cluster identifier in this region (the home cluster's: identifiers are per region). */
  readonly clusterIdentifier: string;
  /** Identifier of the home cluster's global cluster, which this cluster joins (by name: no reference). */
  readonly globalClusterIdentifier: string;
  /** The home region's code (the `SourceRegion` of the replication metrics). */
  readonly homeRegion: string;
  /**
   * The home shard's endpoint: its database name, and its secrets' ARNs, whose replicas in this region the
   * services read (the ARNs never change: the secrets are retained and never replaced).
   */
  readonly home: DatabaseEndpoint;
  /** The key this region's replicas of the home secrets are encrypted with. */
  readonly secretReplicasKey: kms.IKey;
  /**
   * Alarm when this region's recovery point lags the home region by more than this (`AuroraGlobalDBRPOLag`).
   *
   * @default GLOBAL_DATABASE_DEFAULTS.rpoLagAlarm
   */
  readonly rpoLagAlarm?: Duration;
}

/**
 * One shard in a further region of stage global: an Aurora secondary cluster of the shard's global cluster
 * (`AWS::RDS::DBCluster` with `GlobalClusterIdentifier`; no master user, password or database name, which AWS
 * rejects on a secondary, and no writer: the region is read-only), encrypted with this region's key, with its
 * reader instances, subnet group, security group, the home cluster's parameters, backups, deletion protection,
 * exported `postgresql` logs, Enhanced Monitoring and Performance Insights as home, its endpoint for services (the
 * reader endpoint as both hosts; the replicas of the home secrets), and its alarms ({@link
 * AuroraSecondaryShard.addMonitoring}).
 *
 * Nothing here creates credentials: the users and their passwords live in the replicated data, and the home
 * region's secrets (rotated there) are replicated to this region by the home stack.
 */
export class AuroraSecondaryShard extends Construct {
  /** The stable shard id. */
  public readonly shardId: string;
  /** The secondary cluster. */
  public readonly cluster: rds.CfnDBCluster;
  /** Its reader instances (`Reader1`, `Reader2`, ...). */
  public readonly readers: readonly rds.CfnDBInstance[];
  /** The cluster's security group (clients are admitted on it). */
  public readonly securityGroup: ec2.SecurityGroup;
  /** Log group receiving the exported `postgresql` log. */
  public readonly logGroup: logs.LogGroup;
  /** How services reach this shard in this region (read-only). */
  public readonly endpoint: DatabaseEndpoint;
  /** The readers, for the alarms. */
  private readonly readerConfig: DatabaseReadersConfig;
  private readonly homeRegion: string;
  private readonly rpoLagAlarm: Duration;

  constructor(scope: Construct, id: string, props: AuroraSecondaryShardProps) {
    super(scope, id);
    const { database } = props;
    if (!(props.readers.count >= 1)) {
      throw new StageConfigError([
        {
          key: 'global.database.secondaryReaders.count',
          received: props.readers.count,
          fix: 'give each secondary cluster at least one reader: a secondary with no instance serves no reads',
        },
      ]);
    }
    this.shardId = props.shardId;
    this.readerConfig = props.readers;
    this.homeRegion = props.homeRegion;
    this.rpoLagAlarm = props.rpoLagAlarm ?? GLOBAL_DATABASE_DEFAULTS.rpoLagAlarm;
    const engine = rds.DatabaseClusterEngine.auroraPostgres({ version: AURORA_POSTGRES_VERSION });

    // The same parameters as the home cluster's: after a failover this cluster is the writer.
    const parameterGroup = new rds.ParameterGroup(this, 'ClusterParameters', {
      engine,
      description: CLUSTER_PARAMETERS_DESCRIPTION,
      parameters: clusterParameters(database),
    });
    const subnetGroup = new rds.SubnetGroup(this, 'Subnets', {
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      description: `Aurora secondary cluster ${props.clusterIdentifier}: isolated subnets`,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `Aurora secondary cluster ${props.clusterIdentifier}: PostgreSQL from the app tasks`,
      allowAllOutbound: false,
    });
    if (props.clientSecurityGroup !== undefined) {
      this.securityGroup.addIngressRule(
        props.clientSecurityGroup,
        ec2.Port.tcp(DATABASE_PORT),
        'PostgreSQL from the app tasks',
      );
    }

    this.logGroup = new logs.LogGroup(this, 'PostgresqlLogs', {
      logGroupName: `/aws/rds/cluster/${props.clusterIdentifier}/postgresql`,
      retention: database.logRetention ?? DATABASE_DEFAULTS.logRetention,
      encryptionKey: props.encryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const performanceInsights = database.performanceInsights;
    this.cluster = new rds.CfnDBCluster(this, 'Cluster', {
      dbClusterIdentifier: props.clusterIdentifier,
      globalClusterIdentifier: props.globalClusterIdentifier,
      engine: 'aurora-postgresql',
      engineVersion: AURORA_POSTGRES_VERSION.auroraPostgresFullVersion,
      // No MasterUsername, MasterUserPassword or DatabaseName: they come with the replicated data.
      storageEncrypted: true,
      kmsKeyId: props.encryptionKey.keyArn,
      dbSubnetGroupName: subnetGroup.subnetGroupName,
      vpcSecurityGroupIds: [this.securityGroup.securityGroupId],
      dbClusterParameterGroupName: parameterGroup.bindToCluster({}).parameterGroupName,
      port: DATABASE_PORT,
      enableIamDatabaseAuthentication: true,
      backupRetentionPeriod: (database.backupRetention ?? DATABASE_DEFAULTS.backupRetention).toDays(),
      preferredBackupWindow: '03:00-04:00',
      preferredMaintenanceWindow: 'Sun:04:30-Sun:05:30',
      deletionProtection: true,
      copyTagsToSnapshot: true,
      enableCloudwatchLogsExports: ['postgresql'],
      ...(performanceInsights !== undefined
        ? {
            performanceInsightsEnabled: true,
            performanceInsightsKmsKeyId: props.encryptionKey.keyArn,
            performanceInsightsRetentionPeriod:
              performanceInsights.retention ?? DATABASE_DEFAULTS.performanceInsightRetention,
          }
        : {}),
    });
    this.cluster.applyRemovalPolicy(RemovalPolicy.SNAPSHOT);
    // RDS would create the log group itself on first write, without retention or encryption.
    this.cluster.node.addDependency(this.logGroup);

    // Enhanced Monitoring as at home (CDK makes the same role for the home cluster).
    const monitoringRole = new iam.Role(this, 'MonitoringRole', {
      assumedBy: new iam.ServicePrincipal('monitoring.rds.amazonaws.com'),
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonRDSEnhancedMonitoringRole'),
      ],
    });
    Validations.of(monitoringRole).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]',
      reason:
        'The Enhanced Monitoring role assumed by monitoring.rds.amazonaws.com only; its AWS-managed policy grants ' +
        'nothing but writing to the RDSOSMetrics log group, and AWS keeps it in step with the service.',
    });
    this.readers = Array.from({ length: props.readers.count }, (_, index) => {
      const instance = new rds.CfnDBInstance(this, `Reader${index + 1}`, {
        dbClusterIdentifier: this.cluster.ref,
        dbInstanceClass: `db.${props.readers.instanceType.toString()}`,
        engine: 'aurora-postgresql',
        publiclyAccessible: false,
        autoMinorVersionUpgrade: true,
        monitoringInterval: ENHANCED_MONITORING_INTERVAL.toSeconds(),
        monitoringRoleArn: monitoringRole.roleArn,
      });
      instance.applyRemovalPolicy(RemovalPolicy.DESTROY);
      return instance;
    });

    Validations.of(this.cluster).acknowledge({
      id: 'AwsSolutions-RDS11',
      reason:
        'PostgreSQL keeps its default port 5432, as the home cluster: the cluster is reachable only from the app ' +
        'security groups, so a non-default port would add no protection.',
    });

    const region = Stack.of(this).region;
    const readerHost = this.cluster.attrReadEndpointAddress;
    this.endpoint = {
      shardId: props.shardId,
      // No writer in this region: the services read; writes are served by the home region.
      writerHost: readerHost,
      readerHost,
      port: DATABASE_PORT,
      replicationHost: this.cluster.attrEndpointAddress,
      clusterSecurityGroupId: this.securityGroup.securityGroupId,
      databaseName: props.home.databaseName,
      appSecretArn: secretReplicaArn(props.home.appSecretArn, region),
      migrationSecretArn: secretReplicaArn(props.home.migrationSecretArn, region),
      secretKeyArn: props.secretReplicasKey.keyArn,
      securityGroupId: this.securityGroup.securityGroupId,
      globalClusterIdentifier: props.globalClusterIdentifier,
      readOnly: true,
    };
  }

  /**
   * Adds this secondary cluster's alarms and dashboard rows to the region's monitoring: the recovery point lag
   * (`AuroraGlobalDBRPOLag`: how much committed data a failover to this region would lose) and the replication
   * lag (`AuroraGlobalDBReplicationLag`: how stale this region's reads are), both against `rpoLagAlarm`, and the
   * readers' CPU. Alarm names carry the shard id (`<prefix>-Shard0GlobalDatabase-RpoLag-Critical`).
   */
  public addMonitoring(monitoring: StageMonitoring): void {
    const clusterIdentifier = this.cluster.ref;
    const thresholdMs = this.rpoLagAlarm.toMilliseconds();
    const globalMetric = (metricName: string, label: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/RDS',
        metricName,
        dimensionsMap: { DBClusterIdentifier: clusterIdentifier, SourceRegion: this.homeRegion },
        statistic: 'Maximum',
        period: LAG_PERIOD,
        label,
      });
    const lagAlarm = (description: string) => ({
      Critical: {
        threshold: thresholdMs,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        additionalDescription: description,
      },
    });
    const seconds = this.rpoLagAlarm.toSeconds();
    monitoring.facade.monitorCustom({
      alarmFriendlyName: `Shard${pascalCase(this.shardId)}GlobalDatabase`,
      humanReadableName: `Aurora shard ${this.shardId}: global database secondary (from ${this.homeRegion})`,
      metricGroups: [
        {
          title: 'Recovery point lag, worst (ms)',
          important: true,
          metrics: [
            {
              metric: globalMetric('AuroraGlobalDBRPOLag', 'RPO lag'),
              alarmFriendlyName: 'RpoLag',
              addAlarm: lagAlarm(
                `Shard ${this.shardId}'s secondary cluster is more than ${seconds} s behind ${this.homeRegion}: a ` +
                  'failover to this region now would lose that much committed data. Check the home writer and the ' +
                  'replication status (aws rds describe-global-clusters) before any switchover.',
              ),
            },
          ],
        },
        {
          title: 'Replication lag, worst (ms)',
          metrics: [
            {
              metric: globalMetric('AuroraGlobalDBReplicationLag', 'Replication lag'),
              alarmFriendlyName: 'ReplicationLag',
              addAlarm: lagAlarm(
                `Shard ${this.shardId}'s reads in this region are more than ${seconds} s behind ${this.homeRegion}: ` +
                  'users here see stale data, and their caches are invalidated as late.',
              ),
            },
          ],
        },
        {
          title: `CPU (%), average of the readers (${this.readerConfig.count})`,
          metrics: [
            {
              metric: new cloudwatch.Metric({
                namespace: 'AWS/RDS',
                metricName: 'CPUUtilization',
                dimensionsMap: { DBClusterIdentifier: clusterIdentifier, Role: 'READER' },
                statistic: 'Average',
                period: Duration.minutes(5),
              }),
              alarmFriendlyName: 'ReaderCpu',
              addAlarm: {
                Critical: {
                  threshold: monitoring.config.dbCpuPercent,
                  comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                  additionalDescription: `Readers' CPU above ${monitoring.config.dbCpuPercent}%.`,
                },
              },
            },
          ],
        },
      ],
    });
  }
}

/** PostgreSQL's port, as the home cluster's. */
const DATABASE_PORT = 5432;

/** The lag alarms' period: a minute, so a one-minute threshold is seen within minutes. */
const LAG_PERIOD = Duration.minutes(1);
