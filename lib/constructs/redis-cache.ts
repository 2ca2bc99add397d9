import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { CacheConfig } from '../config/stage-config';
import { CACHE_DEFAULTS } from '../config/defaults';
import { cacheConfigProblems, StageConfigError } from '../config/validate-stage-config';
import type { CacheEndpoint } from './data-endpoints';
import type { StageMonitoring } from './stage-monitoring';

/** Properties of {@link RedisCache}. */
export interface RedisCacheProps {
  /** The stage's cache section. */
  readonly config: CacheConfig;
  /** VPC with isolated subnets for the nodes. */
  readonly vpc: ec2.IVpc;
  /** Customer-managed key for encryption at rest and for the AUTH token secret. */
  readonly encryptionKey: kms.IKey;
  /**
   * A client admitted from inside this stack. Clients in other stacks admit themselves on
   * {@link RedisCache.securityGroup}.
   *
   * @default - none
   */
  readonly clientSecurityGroup?: ec2.ISecurityGroup;
  /** Replication group id (lower case, unique per account and region); metrics are published under it. */
  readonly replicationGroupId: string;
  /**
   * The AUTH token to use instead of a generated one (stage global: a secondary region's replica of the home
   * region's token, so the regional cache and the session replica take the same token), with the ARN of the key
   * it is encrypted with.
   *
   * @default - a token generated in Secrets Manager, encrypted with `encryptionKey`
   */
  readonly authToken?: { readonly secret: secretsmanager.ISecret; readonly keyArn: string };
  /**
   * Description of the replication group.
   *
   * @default 'Cache and sessions of the shop'
   */
  readonly description?: string;
  /**
   * Name of the group's alarms and dashboard section (the region's monitoring has one per group).
   *
   * @default 'Redis'
   */
  readonly monitoringName?: string;
}

/**
 * ElastiCache for Redis replication group (cluster mode disabled): Multi-AZ with automatic failover,
 * encrypted at rest with the customer-managed key and in transit (TLS required), AUTH token generated in
 * Secrets Manager, nodes in isolated subnets, reachable only from the client security group.
 */
export class RedisCache extends Construct {
  /** The replication group. */
  public readonly replicationGroup: elasticache.CfnReplicationGroup;
  /** The AUTH token clients present. */
  public readonly authToken: secretsmanager.ISecret;
  /** Security group of the nodes. */
  public readonly securityGroup: ec2.SecurityGroup;
  /** The replication group id. */
  public readonly replicationGroupId: string;
  /** Host of the primary endpoint (follows failovers). */
  public readonly host: string;
  /** Port clients connect to. */
  public readonly port: number;
  /** Nodes in the group (primary and replicas). */
  public readonly nodeCount: number;
  /** How services reach the cache. */
  public readonly endpoint: CacheEndpoint;
  private readonly monitoringName: string;

  constructor(scope: Construct, id: string, props: RedisCacheProps) {
    super(scope, id);
    const problems = cacheConfigProblems(props.config, 'config.');
    if (problems.length > 0) throw new StageConfigError(problems);
    const { config } = props;
    this.port = CACHE_DEFAULTS.port;
    this.nodeCount = config.numCacheClusters;
    this.replicationGroupId = props.replicationGroupId;
    this.monitoringName = props.monitoringName ?? 'Redis';

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Redis: admits the app tasks only',
      allowAllOutbound: false,
    });
    if (props.clientSecurityGroup !== undefined) {
      this.securityGroup.connections.allowFrom(
        props.clientSecurityGroup,
        ec2.Port.tcp(this.port),
        'Redis from the app tasks',
      );
    }

    const subnetGroup = new elasticache.CfnSubnetGroup(this, 'Subnets', {
      description: 'Isolated subnets of the Redis replication group',
      subnetIds: props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_ISOLATED }).subnetIds,
    });

    const generated =
      props.authToken === undefined
        ? new secretsmanager.Secret(this, 'AuthToken', {
            description: 'AUTH token of the Redis replication group',
            encryptionKey: props.encryptionKey,
            // Redis AUTH tokens are 16-128 printable characters without spaces, quotes, "/" or "@".
            generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
            removalPolicy: RemovalPolicy.RETAIN,
          })
        : undefined;
    this.authToken = props.authToken?.secret ?? generated!;

    this.replicationGroup = new elasticache.CfnReplicationGroup(this, 'Resource', {
      replicationGroupId: props.replicationGroupId,
      replicationGroupDescription: props.description ?? 'Cache and sessions of the shop',
      engine: 'redis',
      engineVersion: config.engineVersion ?? CACHE_DEFAULTS.engineVersion,
      cacheNodeType: config.cacheNodeType,
      numCacheClusters: config.numCacheClusters,
      multiAzEnabled: true,
      automaticFailoverEnabled: true,
      atRestEncryptionEnabled: true,
      kmsKeyId: props.encryptionKey.keyArn,
      transitEncryptionEnabled: true,
      authToken: this.authToken.secretValue.unsafeUnwrap(),
      port: this.port,
      cacheSubnetGroupName: subnetGroup.ref,
      securityGroupIds: [this.securityGroup.securityGroupId],
      autoMinorVersionUpgrade: true,
      snapshotRetentionLimit: config.snapshotRetentionLimit ?? CACHE_DEFAULTS.snapshotRetentionLimit,
      snapshotWindow: '02:00-03:00',
      preferredMaintenanceWindow: 'sun:05:30-sun:06:30',
    });
    this.replicationGroup.node.addDependency(subnetGroup);
    this.replicationGroup.applyRemovalPolicy(RemovalPolicy.SNAPSHOT);
    this.host = this.replicationGroup.attrPrimaryEndPointAddress;
    this.endpoint = {
      host: this.host,
      port: this.port,
      authTokenSecretArn: this.authToken.secretArn,
      secretKeyArn: props.authToken?.keyArn ?? props.encryptionKey.keyArn,
      securityGroupId: this.securityGroup.securityGroupId,
    };

    Validations.of(this.replicationGroup).acknowledge({
      id: 'AwsSolutions-AEC5',
      reason:
        'Redis keeps its default port 6379: the group is in isolated subnets, admits only the app security group ' +
        'and requires TLS and an AUTH token; a different port would add no protection.',
    });
    Validations.of(this.replicationGroup).acknowledge({
      id: 'cdk-validator-cfnguard::elasticache_repl_grp_rbac_auth_enabled_check',
      reason:
        'The app authenticates with an AUTH token over TLS (one client, one password in Secrets Manager); RBAC user ' +
        'groups replace the token and are a migration of a deployed group (AuthTokenUpdateStrategy DELETE), not a default.',
    });
    if (generated !== undefined) {
      Validations.of(generated).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'ElastiCache has no managed rotation function for AUTH tokens; rotate with ModifyReplicationGroup ' +
          '(AuthTokenUpdateStrategy ROTATE then SET) and a new deployment of the service.',
      });
    }
  }

  /** Adds the cache's alarms and dashboard rows (all nodes: CPU, memory, evictions, hit rate) to the region's monitoring. */
  public addMonitoring(monitoring: StageMonitoring): void {
    monitoring.addCache(this.replicationGroupId, this.nodeCount, this.monitoringName);
  }
}
