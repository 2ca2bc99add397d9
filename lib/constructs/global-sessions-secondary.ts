import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { CACHE_DEFAULTS } from '../config/defaults';
import type { CacheEndpoint } from './data-endpoints';
import type { StageMonitoring } from './stage-monitoring';

/** Properties of {@link GlobalSessionsSecondary}. */
export interface GlobalSessionsSecondaryProps {
  /** The sessions' Global Datastore to join (its full id, `<region prefix>-<prefix>-sessions`). */
  readonly globalReplicationGroupId: string;
  /** Replication group id in this region (lower case, unique per account and region). */
  readonly replicationGroupId: string;
  /** Nodes in this region (a primary and at least one replica: Multi-AZ). */
  readonly numCacheClusters: number;
  /** VPC with isolated subnets for the nodes. */
  readonly vpc: ec2.IVpc;
  /** This region's data key: encryption at rest of this member. */
  readonly encryptionKey: kms.IKey;
  /** The AUTH token of this member (the region's, shared with its regional cache), and the key it is encrypted with. */
  readonly authToken: { readonly secret: secretsmanager.ISecret; readonly keyArn: string };
  /**
   * A client admitted from inside this stack. Clients in other stacks admit themselves on the security group.
   *
   * @default - none
   */
  readonly clientSecurityGroup?: ec2.ISecurityGroup;
}

/**
 * A secondary region's read-only member of the sessions' Global Datastore (stage global): a replication group that
 * joins the datastore by id (`GlobalReplicationGroupId`), Multi-AZ, in isolated subnets, encrypted at rest with the
 * region's data key, reached with the region's AUTH token over TLS. The datastore decides what every member shares
 * and AWS rejects on a secondary: engine and version, node type, parameter group, shard count and the encryption
 * switches (at rest and in transit both on, as on the primary). The app reads sessions here
 * (`SESSION_REDIS_HOST`, its reader endpoint) and never writes: a secondary accepts no writes.
 */
export class GlobalSessionsSecondary extends Construct {
  /** The replication group. */
  public readonly replicationGroup: elasticache.CfnReplicationGroup;
  /** Security group of the nodes. */
  public readonly securityGroup: ec2.SecurityGroup;
  /** The replication group id. */
  public readonly replicationGroupId: string;
  /** Nodes in the group. */
  public readonly nodeCount: number;
  /** How services reach the sessions (the reader endpoint: every node of the group serves reads). */
  public readonly endpoint: CacheEndpoint;

  constructor(scope: Construct, id: string, props: GlobalSessionsSecondaryProps) {
    super(scope, id);
    const port = CACHE_DEFAULTS.port;
    this.replicationGroupId = props.replicationGroupId;
    this.nodeCount = props.numCacheClusters;

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Redis sessions (Global Datastore secondary): admits the app tasks only',
      allowAllOutbound: false,
    });
    if (props.clientSecurityGroup !== undefined) {
      this.securityGroup.connections.allowFrom(
        props.clientSecurityGroup,
        ec2.Port.tcp(port),
        'Redis sessions from the app tasks',
      );
    }
    const subnetGroup = new elasticache.CfnSubnetGroup(this, 'Subnets', {
      description: 'Isolated subnets of the Redis sessions replica',
      subnetIds: props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_ISOLATED }).subnetIds,
    });

    // Only what a secondary may set: AWS answers InvalidParameterCombination to engine, version, node type,
    // parameter group or the encryption switches, which the datastore's primary decides for every member.
    this.replicationGroup = new elasticache.CfnReplicationGroup(this, 'Resource', {
      replicationGroupId: props.replicationGroupId,
      replicationGroupDescription: 'Sessions of the shop: read-only member of the Global Datastore',
      globalReplicationGroupId: props.globalReplicationGroupId,
      numCacheClusters: props.numCacheClusters,
      multiAzEnabled: true,
      kmsKeyId: props.encryptionKey.keyArn,
      authToken: props.authToken.secret.secretValue.unsafeUnwrap(),
      cacheSubnetGroupName: subnetGroup.ref,
      securityGroupIds: [this.securityGroup.securityGroupId],
      autoMinorVersionUpgrade: true,
      preferredMaintenanceWindow: 'sun:05:30-sun:06:30',
    });
    this.replicationGroup.node.addDependency(subnetGroup);
    // Replicated data (the primary holds it and is backed up): kept when the stack goes, never replaced by CloudFormation.
    this.replicationGroup.applyRemovalPolicy(RemovalPolicy.RETAIN);
    Validations.of(this.replicationGroup).acknowledge({
      id: 'AwsSolutions-AEC3',
      reason:
        'Encrypted at rest (KmsKeyId: the region data key) and in transit (TLS and AUTH required): a Global ' +
        "Datastore secondary inherits both switches from the primary, which has them on, and AWS rejects them on a secondary's template.",
    });
    Validations.of(this.replicationGroup).acknowledge({
      id: 'AwsSolutions-AEC5',
      reason:
        "A Global Datastore member takes the primary's port (6379, the home cache group's): the group is in isolated " +
        'subnets, admits only the app security groups, and requires TLS and the AUTH token.',
    });
    this.endpoint = {
      host: this.replicationGroup.attrReaderEndPointAddress,
      port,
      authTokenSecretArn: props.authToken.secret.secretArn,
      secretKeyArn: props.authToken.keyArn,
      securityGroupId: this.securityGroup.securityGroupId,
    };
  }

  /** Adds the member's alarms and dashboard rows (every node: CPU, memory, evictions, hit rate). */
  public addMonitoring(monitoring: StageMonitoring): void {
    monitoring.addCache(this.replicationGroupId, this.nodeCount, 'RedisSessions');
  }
}
