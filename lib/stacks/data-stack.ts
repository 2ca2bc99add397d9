import { RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { StageConfig } from '../config/stage-config';
import type { RegionRole } from '../config/region-role';
import { SHARD_ZERO_ID } from '../config/naming';
import { StageConfigError } from '../config/validate-stage-config';
import { globalDatastoreId } from '../config/validate-global';
import type { AuroraDatabase } from '../constructs/aurora-database';
import type { AuroraProxy } from '../constructs/aurora-proxy';
import { AuroraSecondaryShard } from '../constructs/aurora-secondary-shard';
import { AuroraShard } from '../constructs/aurora-shard';
import { globalClusterIdentifier } from '../constructs/global-database';
import type { CacheEndpoint, DatabaseEndpoint, EventsEndpoint } from '../constructs/data-endpoints';
import type { DatabaseConfig, DatabaseReadersConfig } from '../config/stage-config';
import { DomainEvents } from '../constructs/domain-events';
import { GlobalSessionsDatastore } from '../constructs/global-sessions-datastore';
import { GlobalSessionsSecondary } from '../constructs/global-sessions-secondary';
import { GlobalSessionsSecrets, globalSecretNames } from '../constructs/global-sessions-secrets';
import { allowLogsService, denyGrantsExceptForAwsServices } from '../constructs/key-policies';
import { InvalidationQueue } from '../constructs/invalidation-queue';
import { RedisCache } from '../constructs/redis-cache';
import { eventSideValues } from '../writer-region';
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
  /**
   * This region's part in stage global: the home region's cache becomes the primary of the sessions' Global
   * Datastore and its shared secrets are replicated; a secondary region gets a read-only member of that datastore, a
   * regional cache, the replicas of the shared secrets, and no queues or bus (nothing is written there).
   *
   * @default - a region of its own
   */
  readonly regionRole?: RegionRole;
  /**
   * A secondary region's key of its replicas of the shared secrets (in its network stack); required with a
   * secondary `regionRole`.
   *
   * @default - none
   */
  readonly replicaKey?: kms.IKey;
  /**
   * This region's part of the stage's Aurora Global Database (`config.global`): the home region's clusters are
   * the primaries, every further region's are secondaries.
   *
   * @default - no global database (a stage without `global`)
   */
  readonly globalDatabase?: GlobalDatabaseRole;
}

/**
 * A region's part of an Aurora Global Database (stage global): `primary` in the home region (each cluster becomes
 * the primary of its global cluster in place), `secondary` in every further region (read-only secondary clusters).
 */
export type GlobalDatabaseRole =
  | { readonly role: 'primary' }
  | {
      readonly role: 'secondary';
      /** The home region's code. */
      readonly homeRegion: string;
      /** The home shard's endpoint (database name, the secrets whose replicas this region reads). */
      readonly home: DatabaseEndpoint;
      /** This region's key for the replicas of the home secrets (the network stack's). */
      readonly secretReplicasKey: kms.IKey;
    };

/**
 * Everything that holds data, in one stack with termination protection: the customer-managed key, shard 0
 * (the Aurora cluster with its secret and RDS Proxy), Redis, the cache-invalidation queue (stage 100k on),
 * and the app's session secret. Stateless parts
 * live in other stacks so they can be replaced freely; further shards have a stack each (`ShardStack`).
 * Services reach all of it through `shardEndpoint` and `cacheEndpoint` only.
 *
 * Stage global: in the home region shard 0's cluster is also the primary of its Aurora global cluster, and its
 * database secrets are replicated to every further region; in a further region, shard 0 is a read-only secondary
 * cluster ({@link AuroraSecondaryShard}) and the stack has no invalidation queue or event bus (no writes there).
 */
export class DataStack extends Stack {
  /** Customer-managed key encrypting the database, its logs and Performance Insights, the secrets and Redis. */
  public readonly dataKey: kms.Key;
  /**
   * Shard 0: the stage's `database` and `proxy`; in a further region of stage global, the read-only secondary
   * cluster of its global cluster.
   */
  public readonly shard: AuroraShard | AuroraSecondaryShard;
  /** The Aurora database of shard 0 (not in a further region of stage global, which has no writer). */
  public readonly database?: AuroraDatabase;
  /** RDS Proxy of shard 0, when the stage has one. */
  public readonly proxy?: AuroraProxy;
  /**
   * Redis, when the stage has a cache: the cache and sessions, or in the first region of stage global the sessions'
   * Global Datastore primary (the region caches in `regionalCache`).
   */
  public readonly cache?: RedisCache;
  /** Stage global, first region: the region's cache, a group of its own beside the datastore primary. */
  public readonly regionalCache?: RedisCache;
  /**
   * Secret the app signs session cookies with: the region's own, or with stage global the secret every region shares
   * (the home region's copy, or a secondary region's replica).
   */
  public readonly sessionSecret: secretsmanager.ISecret;
  /** ARN of the key `sessionSecret` is encrypted with. */
  public readonly sessionSecretKeyArn: string;
  /** Stage global, home region: the sessions' Global Datastore (the cache group is its primary). */
  public readonly globalSessions?: GlobalSessionsDatastore;
  /** Stage global, home region: the secrets every region shares, replicated to each secondary region. */
  public readonly globalSecrets?: GlobalSessionsSecrets;
  /** Stage global, secondary region: the region's read-only member of the sessions' Global Datastore. */
  public readonly sessionsReplica?: GlobalSessionsSecondary;
  /** The queue of cache-invalidation events, when the stage has one. */
  public readonly invalidationQueue?: InvalidationQueue;
  /** The domain-event bus, its archive and the consumers' queues (stage 1m on), when the stage has `events`. */
  public readonly events?: DomainEvents;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, { terminationProtection: true, ...props });
    const { config } = props;
    const secondary = props.regionRole?.role === 'secondary';
    if (secondary && (props.replicaKey === undefined || config.cache === undefined)) {
      throw new Error('DataStack: a secondary region needs replicaKey and a stage with cache');
    }
    const sharedNames = globalSecretNames(props.prefix);

    this.dataKey = new kms.Key(this, 'DataKey', {
      alias: `alias/${props.prefix}-data`,
      description: 'Encrypts the shop data: Aurora storage, logs and Performance Insights, secrets, Redis',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The exported PostgreSQL log group is encrypted with this key by CloudWatch Logs.
    allowLogsService(this.dataKey);
    denyGrantsExceptForAwsServices(this.dataKey);

    const global = props.globalDatabase;
    const clusterIdentifier = `${props.prefix}-db`;
    if (global?.role === 'secondary') {
      // A further region of stage global: the read-only secondary of shard 0's global cluster. No writer, proxy,
      // master or app secret of its own (the home secrets' replicas are read), nothing only the home needs.
      this.shard = new AuroraSecondaryShard(this, 'SecondaryDatabase', {
        shardId: SHARD_ZERO_ID,
        database: config.database,
        readers: secondaryReaders(config, config.database),
        vpc: props.vpc,
        encryptionKey: this.dataKey,
        clientSecurityGroup: props.appSecurityGroup,
        clusterIdentifier,
        globalClusterIdentifier: globalClusterIdentifier(props.prefix, SHARD_ZERO_ID),
        homeRegion: global.homeRegion,
        home: global.home,
        secretReplicasKey: global.secretReplicasKey,
        ...(config.global?.database.rpoLagAlarm !== undefined
          ? { rpoLagAlarm: config.global.database.rpoLagAlarm }
          : {}),
      });
    } else {
      // Shard 0 under the id `Default`, which CDK leaves out of logical ids: `Database` and `Proxy` keep theirs.
      const shard = new AuroraShard(this, 'Default', {
        shardId: SHARD_ZERO_ID,
        database: config.database,
        ...(config.proxy !== undefined ? { proxy: config.proxy } : {}),
        vpc: props.vpc,
        encryptionKey: this.dataKey,
        clientSecurityGroup: props.appSecurityGroup,
        clusterIdentifier,
        ...(global?.role === 'primary'
          ? { globalClusterIdentifier: globalClusterIdentifier(props.prefix, SHARD_ZERO_ID) }
          : {}),
      });
      this.shard = shard;
      this.database = shard.database;
      if (shard.proxy !== undefined) this.proxy = shard.proxy;
      // Outputs are append-only: without a proxy the service reads the cluster endpoints; once a proxy is
      // added it stops, but the deployed service's rollback would still read them (README "Upgrading a stage").
      keepPublishedForEarlierStages(this, [
        shard.database.cluster.clusterEndpoint.hostname,
        shard.database.cluster.clusterReadEndpoint.hostname,
      ]);
    }

    // A secondary region's cache and sessions take the home region's AUTH token (its replica): the datastore's
    // members share the primary's token, and the app reaches both groups with one REDIS_AUTH_TOKEN.
    const sharedCacheAuthToken = secondary
      ? {
          secret: secretsmanager.Secret.fromSecretNameV2(
            this,
            'SharedCacheAuthToken',
            sharedNames.cacheAuthToken,
          ),
          keyArn: props.replicaKey!.keyArn,
        }
      : undefined;
    if (config.cache !== undefined) {
      this.cache = new RedisCache(this, 'Cache', {
        config: config.cache,
        vpc: props.vpc,
        encryptionKey: this.dataKey,
        clientSecurityGroup: props.appSecurityGroup,
        replicationGroupId: `${props.prefix}-redis`,
        ...(sharedCacheAuthToken !== undefined
          ? {
              authToken: sharedCacheAuthToken,
              description: 'Cache of the shop in this region (sessions: the Global Datastore member)',
            }
          : {}),
      });
    }

    // Stage global, first region: the cache group above becomes the sessions' Global Datastore primary (below), and
    // the region caches in a group of its own, as every further region does: the datastore's members replicate
    // sessions only, and when the writers move away (`-c writerRegion`) the datastore's failover makes that group
    // read-only while this one stays writable for the region's follower. Same AUTH token: the app reaches both groups
    // with one REDIS_AUTH_TOKEN.
    if (props.regionRole?.role === 'home' && this.cache !== undefined) {
      this.regionalCache = new RedisCache(this, 'RegionalCache', {
        config: config.cache!,
        vpc: props.vpc,
        encryptionKey: this.dataKey,
        clientSecurityGroup: props.appSecurityGroup,
        replicationGroupId: `${props.prefix}-cache`,
        authToken: { secret: this.cache.authToken, keyArn: this.dataKey.keyArn },
        description: 'Cache of the shop in this region (sessions: the Global Datastore primary)',
        monitoringName: 'RedisRegional',
      });
    }

    // Stage global: every region has the queue and (below) the bus, idle but where the writers are: the writer region's
    // relays publish there, and `-c writerRegion` moves the writers without changing this stack (lib/writer-region.ts).
    if (config.invalidationQueue !== undefined) {
      this.invalidationQueue = new InvalidationQueue(this, 'InvalidationQueue', {
        config: config.invalidationQueue,
        keyAlias: `alias/${props.prefix}-invalidation-queue`,
      });
    }

    if (secondary) {
      this.sessionSecret = secretsmanager.Secret.fromSecretNameV2(
        this,
        'SharedSessionSecret',
        sharedNames.session,
      );
      this.sessionSecretKeyArn = props.replicaKey!.keyArn;
    } else {
      const sessionSecret = new secretsmanager.Secret(this, 'SessionSecret', {
        description: 'Signs the shop session cookies (SESSION_SECRET)',
        encryptionKey: this.dataKey,
        generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
        removalPolicy: RemovalPolicy.RETAIN,
      });
      Validations.of(sessionSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Rotating the session signing secret signs every user out; it is rotated deliberately (new value, then a ' +
          'new deployment of the service), not on a schedule.',
      });
      this.sessionSecret = sessionSecret;
      this.sessionSecretKeyArn = this.dataKey.keyArn;
    }

    // Stage global, home region: the cache group becomes the primary of the sessions' Global Datastore (in place),
    // and the secrets every region shares are copied under fixed names and replicated to the other regions.
    if (props.regionRole?.role === 'home' && this.cache !== undefined) {
      this.globalSessions = new GlobalSessionsDatastore(this, 'GlobalSessions', {
        primary: this.cache,
        prefix: props.prefix,
      });
      this.globalSecrets = new GlobalSessionsSecrets(this, 'GlobalSecrets', {
        prefix: props.prefix,
        sessionSecret: this.sessionSecret,
        cacheAuthToken: this.cache.authToken,
        encryptionKey: this.dataKey,
        replicaRegions: props.regionRole.regions.filter((region) => region !== props.regionRole!.homeRegion),
      });
      // The home services now read the shared copy; the deployed stage 1m services read the original's output, which
      // stays published for their rollback (README "Upgrading a stage").
      keepPublishedForEarlierStages(this, [this.sessionSecret.secretArn]);
      this.sessionSecret = this.globalSecrets.sessionSecret;
    }
    // Stage global, secondary region: the region's read-only member of the sessions' Global Datastore.
    if (secondary) {
      this.sessionsReplica = new GlobalSessionsSecondary(this, 'Sessions', {
        globalReplicationGroupId: globalDatastoreId(props.prefix, props.regionRole!.homeRegion),
        replicationGroupId: `${props.prefix}-sessions`,
        numCacheClusters: config.cache!.numCacheClusters,
        vpc: props.vpc,
        encryptionKey: this.dataKey,
        authToken: sharedCacheAuthToken!,
        clientSecurityGroup: props.appSecurityGroup,
      });
    }

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
    // A secondary region's services read the queue and the bus only while the writers are there (`-c writerRegion`):
    // their outputs are published whoever reads them, so moving the writers never changes this stack.
    if (secondary) {
      keepPublishedForEarlierStages(
        this,
        eventSideValues({
          ...(this.invalidationQueue !== undefined
            ? { invalidationQueue: this.invalidationQueue.endpoint }
            : {}),
          ...(this.events !== undefined ? { events: this.events.endpoint } : {}),
        }),
      );
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

  /**
   * Where services read sessions when not on the cache (stage global: the region's member of the sessions' Global
   * Datastore, the primary in the first region).
   */
  public get sessionsEndpoint(): CacheEndpoint | undefined {
    return (
      this.sessionsReplica?.endpoint ?? (this.regionalCache !== undefined ? this.cache?.endpoint : undefined)
    );
  }

  /** How services reach the cache, when the stage has one. */
  public get cacheEndpoint(): CacheEndpoint | undefined {
    return (this.regionalCache ?? this.cache)?.endpoint;
  }
}

/**
 * The reader instances of a secondary cluster of `database` (stage global): `global.database.secondaryReaders`,
 * or the home cluster's readers.
 *
 * @throws StageConfigError when neither gives a reader (validation reports the same)
 */
export function secondaryReaders(config: StageConfig, database: DatabaseConfig): DatabaseReadersConfig {
  const readers = config.global?.database.secondaryReaders ?? database.readers;
  if (readers === undefined) {
    throw new StageConfigError([
      {
        key: 'global.database.secondaryReaders',
        received: undefined,
        fix: 'give the secondary clusters readers: set global.database.secondaryReaders, or database.readers',
      },
    ]);
  }
  return readers;
}
