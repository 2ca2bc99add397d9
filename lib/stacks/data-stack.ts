import { RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { StageConfig } from '../config/stage-config';
import { AuroraDatabase } from '../constructs/aurora-database';
import { AuroraProxy } from '../constructs/aurora-proxy';
import { RedisCache } from '../constructs/redis-cache';

/** Properties of {@link DataStack}. */
export interface DataStackProps extends StackProps {
  /** The stage. */
  readonly config: StageConfig;
  /** The VPC. */
  readonly vpc: ec2.IVpc;
  /** The app's security group: the only client of the database, the proxy and the cache. */
  readonly appSecurityGroup: ec2.ISecurityGroup;
  /** Prefix of physical names (cluster identifier, replication group id, proxy endpoint). */
  readonly prefix: string;
}

/**
 * Everything that holds data, in one stack with termination protection: the customer-managed key, the
 * Aurora cluster (shard 0 from stage 100k on) with its secret, RDS Proxy, Redis, and the app's session
 * secret. Stateless parts live in other stacks so they can be replaced freely.
 */
export class DataStack extends Stack {
  /** Customer-managed key encrypting the database, its logs and Performance Insights, the secrets and Redis. */
  public readonly dataKey: kms.Key;
  /** The Aurora database. */
  public readonly database: AuroraDatabase;
  /** RDS Proxy, when the stage has one. */
  public readonly proxy?: AuroraProxy;
  /** Redis, when the stage has a cache. */
  public readonly cache?: RedisCache;
  /** Secret the app signs session cookies with. */
  public readonly sessionSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, { terminationProtection: true, ...props });
    const { config } = props;

    this.dataKey = new kms.Key(this, 'DataKey', {
      alias: `alias/${props.prefix}-data`,
      description: 'Encrypts the shop data: Aurora storage, logs and Performance Insights, secrets, Redis',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The exported PostgreSQL log group is encrypted with this key by CloudWatch Logs.
    this.dataKey.grantEncryptDecrypt(new iam.ServicePrincipal(`logs.${this.region}.amazonaws.com`));

    this.database = new AuroraDatabase(this, 'Database', {
      config: config.database,
      vpc: props.vpc,
      encryptionKey: this.dataKey,
      clientSecurityGroup: props.appSecurityGroup,
      clusterIdentifier: `${props.prefix}-db`,
    });

    if (config.proxy !== undefined) {
      this.proxy = new AuroraProxy(this, 'Proxy', {
        config: config.proxy,
        database: this.database,
        vpc: props.vpc,
        clientSecurityGroup: props.appSecurityGroup,
        readOnlyEndpointName: `${props.prefix}-db-read-only`,
      });
    }

    if (config.cache !== undefined) {
      this.cache = new RedisCache(this, 'Cache', {
        config: config.cache,
        vpc: props.vpc,
        encryptionKey: this.dataKey,
        clientSecurityGroup: props.appSecurityGroup,
        replicationGroupId: `${props.prefix}-redis`,
      });
    }

    this.sessionSecret = new secretsmanager.Secret(this, 'SessionSecret', {
      description: 'Signs the shop session cookies (SESSION_SECRET)',
      encryptionKey: this.dataKey,
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.sessionSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotating the session signing secret signs every user out; it is rotated deliberately (new value, then a ' +
        'new deployment of the service), not on a schedule.',
    });
  }
}
