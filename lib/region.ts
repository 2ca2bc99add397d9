/**
 * A region is a unit: one function builds a region's stacks (network, data, each further shard, service)
 * from the stage config, wired through the data tier's endpoints. The home region is built straight on the
 * app, so its stacks keep the ids, names and logical ids they have had since stage 1k; every further region
 * is built the same way inside a scope named after it.
 */
import type { Environment } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { FrontDoor } from './config/deployment-context';
import { pascalCase } from './config/naming';
import type { RegionRole } from './config/region-role';
import type { StageConfig } from './config/stage-config';
import type { DataEndpoints, DatabaseEndpoint } from './constructs/data-endpoints';
import { GlobalSessionsReplicaKey } from './constructs/global-sessions-replica-key';
import { AuroraShard } from './constructs/aurora-shard';
import { addLogicalReplicationMonitoring } from './constructs/replication-alarms';
import type { HttpsConfig } from './constructs/service-platform';
import { DataStack, type GlobalDatabaseRole } from './stacks/data-stack';
import { NetworkStack } from './stacks/network-stack';
import { ServiceStack } from './stacks/service-stack';
import { ShardStack } from './stacks/shard-stack';
import { serviceEndpointsOf, writerRoleOf } from './writer-region';

/** Construct ids of a region's stacks: a contract every stage keeps (stack names add the context `prefix`). */
export const STACK_IDS = {
  network: 'ShopNetwork',
  data: 'ShopData',
  service: 'ShopService',
} as const;

/** Construct id of the stack of a further shard, e.g. `ShopShardS1`. */
export function shardStackId(shardId: string): string {
  return `ShopShard${pascalCase(shardId)}`;
}

/** Properties of {@link buildRegion}. */
export interface RegionProps {
  /** The stage. */
  readonly config: StageConfig;
  /** Account and region of every stack. */
  readonly env: Required<Pick<Environment, 'account' | 'region'>>;
  /** Availability zones of the region to span (pinned: no lookup). */
  readonly availabilityZones: readonly string[];
  /** Prefix of stack names and physical names. */
  readonly prefix: string;
  /**
   * Whether this is the home region (the first of the deployment's regions). Names that are unique per
   * account rather than per region (the dashboard) carry the region code everywhere else.
   */
  readonly home: boolean;
  /**
   * HTTPS settings (the home region's: a secondary region of stage global has an internal load balancer, which
   * takes none and ignores `plainHttp`).
   *
   * @default - HTTP only, with a synth warning (none for a secondary region's internal load balancer)
   */
  readonly https?: HttpsConfig;
  /** Without `https`: plain HTTP chosen on purpose (only the synth warning differs). @default false */
  readonly plainHttp?: boolean;
  /** Email subscribed to the alarm topic. @default - no subscription */
  readonly alarmEmail?: string;
  /** The app's `ADMIN_EMAILS`. @default - no admins by email */
  readonly adminEmails?: string;
  /** What the domain's alias record points at (`alb` or `gateway`). @default 'alb' */
  readonly frontDoor?: FrontDoor;
  /**
   * Every region of the deployment, the home region first. With the stage's `global`, it gives each region its
   * role (the first is home, the others secondaries).
   *
   * @default - this region only
   */
  readonly regions?: readonly string[];
  /**
   * The home region's stacks, for a further region of a stage with `global` (built first): its secondary clusters
   * join the home clusters' global clusters, its sessions member joins the home Global Datastore, and the home
   * secrets are replicated to it.
   *
   * @default - none: required for a further region of a stage with `global`
   */
  readonly homeStacks?: RegionStacks;
  /**
   * Where the writes go (`-c writerRegion`, stage global): read by the service stack only (the app's `REGION_ROLE`
   * and `HOME_REGION`, and which database and session hosts it writes to); the data and shard stacks keep the shape
   * of the first of `regions`.
   *
   * @default - the first of `regions`
   */
  readonly writerRegion?: string;
}

/** The stacks of one region. */
export interface RegionStacks {
  /** The VPC, flow logs, logs key and the first service's security group (`ShopNetwork`). */
  readonly network: NetworkStack;
  /** The data key, shard 0 (Aurora, RDS Proxy), Redis and the secrets (`ShopData`). */
  readonly data: DataStack;
  /** Further shards, by shard id, in config order (`ShopShard<Id>`). */
  readonly shards: Readonly<Record<string, ShardStack>>;
  /** The platform, the services, the dashboard and alarms (`ShopService`). */
  readonly service: ServiceStack;
}

/**
 * Builds one region's stacks in `scope` (the app for the home region).
 *
 * Stack names are `<prefix>-network`, `<prefix>-data`, `<prefix>-shard-<id>` and `<prefix>-service` in every
 * region (CloudFormation names stacks per region).
 */
export function buildRegion(scope: Construct, props: RegionProps): RegionStacks {
  const { config, env, prefix } = props;
  const region = env.region;
  const regions = props.regions ?? [region];
  // Stage global: the home region (the first) and read-only secondaries.
  const regionRole: RegionRole | undefined =
    config.global !== undefined
      ? { role: props.home ? 'home' : 'secondary', homeRegion: regions[0] ?? region, regions }
      : undefined;
  const secondary = regionRole?.role === 'secondary';
  // Stage global: the home region's clusters are the primaries of global clusters, a further region's are
  // read-only secondaries of them.
  const homeStacks = config.global !== undefined && !props.home ? props.homeStacks : undefined;
  if (config.global !== undefined && !props.home && homeStacks === undefined) {
    throw new Error(
      `buildRegion: further region ${region} of a stage with \`global\` needs the home region's stacks`,
    );
  }
  const network = new NetworkStack(scope, STACK_IDS.network, {
    env,
    stackName: `${prefix}-network`,
    description: 'Shop blueprint: VPC, flow logs, app security group',
    terminationProtection: true,
    network: config.network,
    availabilityZones: props.availabilityZones,
  });
  // A secondary region's one key for its replicas of the home region's secrets (database secrets, session secret,
  // Redis AUTH token): in the network stack, which the home region's data and shard stacks (replicating to it) are
  // deployed after.
  const replicaKey = secondary
    ? new GlobalSessionsReplicaKey(network, 'ReplicatedSecretsKey', { prefix })
    : undefined;
  const secretReplicasKey = replicaKey?.key;
  if (homeStacks !== undefined && secretReplicasKey !== undefined) {
    // The home shards' database secrets are replicated here (an in-place update of each home secret).
    for (const home of [homeStacks.data, ...Object.values(homeStacks.shards)]) {
      if (home.shard instanceof AuroraShard)
        home.shard.globalDatabase?.addSecondaryRegion(region, secretReplicasKey);
    }
  }
  const globalDatabase = (home: DatabaseEndpoint | undefined): GlobalDatabaseRole | undefined =>
    config.global === undefined
      ? undefined
      : homeStacks === undefined
        ? { role: 'primary' }
        : {
            role: 'secondary',
            homeRegion: homeStacks.data.region,
            home: home!,
            secretReplicasKey: secretReplicasKey!,
          };
  const dataGlobal = globalDatabase(homeStacks?.data.shardEndpoint);
  const data = new DataStack(scope, STACK_IDS.data, {
    env,
    stackName: `${prefix}-data`,
    description: 'Shop blueprint: KMS key, Aurora PostgreSQL, RDS Proxy, Redis, secrets',
    config,
    vpc: network.vpc,
    appSecurityGroup: network.appSecurityGroup,
    prefix,
    ...(regionRole !== undefined ? { regionRole } : {}),
    ...(replicaKey !== undefined ? { replicaKey: replicaKey.key } : {}),
    ...(dataGlobal !== undefined ? { globalDatabase: dataGlobal } : {}),
  });
  if (homeStacks !== undefined) {
    homeStacks.data.addStackDependency(network, 'replicates the shared secrets with its key');
    // A secondary cluster joins its global cluster by name, the sessions member its Global Datastore: deploy after
    // the home stack that creates them.
    data.addStackDependency(
      homeStacks.data,
      "its secondary cluster and sessions member join the home region's global cluster and Global Datastore",
    );
  }
  const shards: Record<string, ShardStack> = {};
  for (const [shardId, shard] of Object.entries(config.shards ?? {})) {
    const homeShard = homeStacks?.shards[shardId];
    if (homeStacks !== undefined && homeShard === undefined) {
      throw new Error(
        `buildRegion: the home region has no shard ${shardId} for ${region}'s secondary cluster`,
      );
    }
    const shardGlobal = globalDatabase(homeShard?.endpoint);
    shards[shardId] = new ShardStack(scope, shardStackId(shardId), {
      env,
      stackName: `${prefix}-shard-${shardId}`,
      description: `Shop blueprint: Aurora shard ${shardId} with its key, secret and RDS Proxy`,
      shardId,
      config: shard,
      vpc: network.vpc,
      prefix,
      replicationPeers: [data.shardEndpoint, ...Object.values(shards).map((stack) => stack.endpoint)],
      ...(shardGlobal !== undefined ? { globalDatabase: { ...shardGlobal, stage: config } } : {}),
    });
    if (homeShard !== undefined) {
      shards[shardId]!.addStackDependency(homeShard, 'its secondary cluster joins the home global cluster');
    }
  }

  // The services see the data tier only through its endpoints.
  const builtEndpoints: DataEndpoints = {
    shards: [data.shardEndpoint, ...Object.values(shards).map((stack) => stack.endpoint)],
    ...(data.cacheEndpoint !== undefined ? { cache: data.cacheEndpoint } : {}),
    ...(data.sessionsEndpoint !== undefined ? { sessions: data.sessionsEndpoint } : {}),
    ...(data.invalidationQueue !== undefined ? { invalidationQueue: data.invalidationQueue.endpoint } : {}),
    ...(data.eventsEndpoint !== undefined ? { events: data.eventsEndpoint } : {}),
    sessionSecretArn: data.sessionSecret.secretArn,
    sessionSecretKeyArn: data.sessionSecretKeyArn,
  };
  // Stage global: the services write where the writers are (`-c writerRegion`), whatever the data stacks' shape.
  const writerRole =
    regionRole !== undefined
      ? writerRoleOf({
          region,
          regions,
          ...(props.writerRegion !== undefined ? { writerRegion: props.writerRegion } : {}),
        })
      : undefined;
  const endpoints =
    regionRole !== undefined && writerRole !== undefined
      ? serviceEndpointsOf({
          endpoints: builtEndpoints,
          dataHome: regionRole.role === 'home',
          writerRole,
          producers: [data, ...Object.values(shards)],
        })
      : builtEndpoints;
  const service = new ServiceStack(scope, STACK_IDS.service, {
    env,
    stackName: `${prefix}-service`,
    description: 'Shop blueprint: the app on Fargate behind an ALB, dashboard and alarms',
    config,
    vpc: network.vpc,
    appSecurityGroup: network.appSecurityGroup,
    // The data stack admits the first service's group on shard 0 and the cache itself (since stage 1k).
    appSecurityGroupAdmittedBy: [
      data.shardEndpoint.securityGroupId,
      ...(data.cacheEndpoint !== undefined ? [data.cacheEndpoint.securityGroupId] : []),
      ...(data.sessionsEndpoint !== undefined ? [data.sessionsEndpoint.securityGroupId] : []),
    ],
    logsKey: network.logsKey,
    data: endpoints,
    prefix,
    // Dashboards are global to an account: only the home region's keeps the plain name.
    dashboardName: props.home ? prefix : `${prefix}-${region}`,
    ...(props.https !== undefined ? { https: props.https } : {}),
    ...(props.plainHttp === true ? { plainHttp: true } : {}),
    ...(props.alarmEmail !== undefined ? { alarmEmail: props.alarmEmail } : {}),
    ...(props.adminEmails !== undefined ? { adminEmails: props.adminEmails } : {}),
    ...(props.frontDoor !== undefined ? { frontDoor: props.frontDoor } : {}),
    ...(regionRole !== undefined ? { regionRole } : {}),
    ...(writerRole !== undefined ? { writerRole } : {}),
  });
  // Each shard, the cache and the queue add their own alarms and dashboard rows to the region's monitoring.
  data.shard.addMonitoring(service.monitoring);
  for (const stack of Object.values(shards)) stack.shard.addMonitoring(service.monitoring);
  data.cache?.addMonitoring(service.monitoring);
  data.regionalCache?.addMonitoring(service.monitoring);
  data.sessionsReplica?.addMonitoring(service.monitoring);
  data.invalidationQueue?.addMonitoring(service.monitoring);
  data.events?.addMonitoring(service.monitoring);
  // Logical replication (stage 100k on): each shard writer's slot lag and transaction logs.
  for (const shard of [data.shard, ...Object.values(shards).map((stack) => stack.shard)]) {
    if (shard instanceof AuroraShard) addLogicalReplicationMonitoring(service.monitoring, shard);
  }

  return { network, data, shards, service };
}
