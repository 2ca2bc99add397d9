import { RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { StageConfig } from '../config/stage-config';
import { SHARD_ZERO_ID } from '../config/naming';
import { StageConfigError } from '../config/validate-stage-config';
import type { AuroraDatabase } from '../constructs/aurora-database';
import type { AuroraProxy } from '../constructs/aurora-proxy';
import { AuroraShard } from '../constructs/aurora-shard';
import type { CacheEndpoint, DatabaseEndpoint, EventsEndpoint } from '../constructs/data-endpoints';
import { DomainEvents } from '../constructs/domain-events';
import { allowLogsService, denyGrantsExceptForAwsServices } from '../constructs/key-policies';
import { InvalidationQueue } from '../constructs/invalidation-queue';
import { RedisCache } from '../constructs/redis-cache';
import { keepPublishedForEarlierStages } from './published-outputs';

/** Properties of {@link DataStack}. */
export interface DataStackProps extends StackProps {
  /** The stage. */
  readonly config: StageConfig;
  /** The VPC. */
  readonly vpc: ec2.IVpc;
  /**
   * The first service's security group (it lives in the network stack), admitted by shard 0 and the cache
   * from inside this stack, as before services were data. Other services admit themselves from their own
   * stack through the endpoints.
   */
  readonly appSecurityGroup: ec2.ISecurityGroup;
  /** Prefix of physical names (cluster identifier, replication group id, proxy endpoint). */
  readonly prefix: string;
}

/**
 * Everything that holds data, in one stack with termination protection: the customer-managed key, shard 0
 * (the Aurora cluster with its secret and RDS Proxy), Redis, the cache-invalidation queue (stage 100k on),
 * and the app's session secret. Stateless parts
 * live in other stacks so they can be replaced freely; further shards have a stack each (`ShardStack`).
 * Services reach all of it through `shardEndpoint` and `cacheEndpoint` only.
 */
export class DataStack extends Stack {
  /** Customer-managed key encrypting the database, its logs and Performance Insights, the secrets and Redis. */
  public readonly dataKey: kms.Key;
  /** Shard 0: the stage's `database` and `proxy`. */
  public readonly shard: AuroraShard;
  /** The Aurora database of shard 0. */
  public readonly database: AuroraDatabase;
  /** RDS Proxy of shard 0, when the stage has one. */
  public readonly proxy?: AuroraProxy;
  /** Redis, when the stage has a cache. */
  public readonly cache?: RedisCache;
  /** Secret the app signs session cookies with. */
  public readonly sessionSecret: secretsmanager.Secret;
  /** The queue of cache-invalidation events, when the stage has one. */
  public readonly invalidationQueue?: InvalidationQueue;
  /** The domain-event bus, its archive and the consumers' queues (stage 1m on), when the stage has `events`. */
  public readonly events?: DomainEvents;

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
    allowLogsService(this.dataKey);
    denyGrantsExceptForAwsServices(this.dataKey);

    // Shard 0 under the id `Default`, which CDK leaves out of logical ids: `Database` and `Proxy` keep theirs.
    this.shard = new AuroraShard(this, 'Default', {
      shardId: SHARD_ZERO_ID,
      database: config.database,
      ...(config.proxy !== undefined ? { proxy: config.proxy } : {}),
      vpc: props.vpc,
      encryptionKey: this.dataKey,
      clientSecurityGroup: props.appSecurityGroup,
      clusterIdentifier: `${props.prefix}-db`,
    });
    this.database = this.shard.database;
    if (this.shard.proxy !== undefined) this.proxy = this.shard.proxy;
    // Outputs are append-only: without a proxy the service reads the cluster endpoints; once a proxy is
    // added it stops, but the deployed service's rollback would still read them (README "Upgrading a stage").
    keepPublishedForEarlierStages(this, [
      this.database.cluster.clusterEndpoint.hostname,
      this.database.cluster.clusterReadEndpoint.hostname,
    ]);

    if (config.cache !== undefined) {
      this.cache = new RedisCache(this, 'Cache', {
        config: config.cache,
        vpc: props.vpc,
        encryptionKey: this.dataKey,
        clientSecurityGroup: props.appSecurityGroup,
        replicationGroupId: `${props.prefix}-redis`,
      });
    }

    if (config.invalidationQueue !== undefined) {
      this.invalidationQueue = new InvalidationQueue(this, 'InvalidationQueue', {
        config: config.invalidationQueue,
        keyAlias: `alias/${props.prefix}-invalidation-queue`,
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

    // Stage 1m: the bus, its archive and the consumers' queues hold events, so they live with the data (and the
    // rule to the invalidation queue must write that queue's and its key's policies, which are in this stack).
    if (config.events !== undefined) {
      if (this.invalidationQueue === undefined) {
        throw new StageConfigError([
          {
            key: 'events',
            received: config.events,
            fix: 'add invalidationQueue: cache invalidations ride the bus',
          },
        ]);
      }
      this.events = new DomainEvents(this, 'Events', {
        config: config.events,
        prefix: props.prefix,
        serviceIds: Object.keys(config.services ?? {}),
        invalidationQueue: { queue: this.invalidationQueue.queue, key: this.invalidationQueue.key },
      });
    }
  }

  /** How services reach the domain events, when the stage has them. */
  public get eventsEndpoint(): EventsEndpoint | undefined {
    return this.events?.endpoint;
  }

  /** How services reach shard 0. */
  public get shardEndpoint(): DatabaseEndpoint {
    return this.shard.endpoint;
  }

  /** How services reach the cache, when the stage has one. */
  public get cacheEndpoint(): CacheEndpoint | undefined {
    return this.cache?.endpoint;
  }
}
