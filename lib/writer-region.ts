/**
 * Stage global's writer region (`-c writerRegion=`): where the writes go after `npm run global -- switchover|failover`
 * moved the Aurora and Global Datastore writers away from the first region. Only the service side reads it (here),
 * with the edge and the routing stacks; the data and shard stacks keep the shape of the first region, so a
 * deployment with another writer region leaves their templates as they are (test/regions/writer-region.test.ts).
 *
 * Everything here builds from values a region's data stack already publishes to its service stack: a service
 * stack that read a new value would add an output to a data stack, which this key must never change.
 */
import { Fn, Reference, Stack, Token, Tokenization } from 'aws-cdk-lib';
import type { RegionRole } from './config/region-role';
import type { CacheEndpoint, DataEndpoints, DatabaseEndpoint } from './constructs/data-endpoints';
import { keepPublishedForEarlierStages } from './stacks/published-outputs';

/**
 * The writer (cluster) endpoint of an Aurora cluster, from its reader endpoint: Aurora names them
 * `<cluster>.cluster-<id>.<region>.rds.amazonaws.com` and `<cluster>.cluster-ro-<id>.<region>.rds.amazonaws.com`
 * ("Types of Aurora endpoints", Aurora user guide). A secondary cluster's writer endpoint accepts writes once the
 * switchover or failover promoted it; the secondary region's data stack publishes only the reader endpoint, so the
 * service stack derives the other (`Fn::Join` of `Fn::Split`) rather than adding an output to the data stack.
 */
export function clusterWriterHostOf(readerHost: string): string {
  return Fn.join('.cluster-', Fn.split('.cluster-ro-', readerHost));
}

/**
 * The primary endpoint of an ElastiCache replication group with in-transit encryption, from its reader endpoint:
 * ElastiCache names them `master.<group>.<id>.<region>.cache.amazonaws.com` and `replica.<group>...` ("Finding
 * connection endpoints", ElastiCache user guide). A secondary member of a Global Datastore writes once the
 * datastore's failover made it the primary. The group id (`<prefix>-sessions`) holds no dot, so `replica.` occurs
 * once, at the start.
 */
export function cachePrimaryHostOf(readerHost: string): string {
  return Fn.join('master.', Fn.split('replica.', readerHost));
}

/** Properties of {@link writerRoleOf}. */
export interface WriterRoleProps {
  /** This region's code. */
  readonly region: string;
  /** Every region of the deployment, the first (the data stacks' home) first. */
  readonly regions: readonly string[];
  /** The region the writes go to (`-c writerRegion`). @default - the first of `regions` */
  readonly writerRegion?: string;
}

/**
 * A region's role for its services: `home` in the writer region, `secondary` everywhere else, and the writer region as
 * every region's `HOME_REGION`.
 */
export function writerRoleOf(props: WriterRoleProps): RegionRole {
  const writer = props.writerRegion ?? props.regions[0] ?? props.region;
  return {
    role: props.region === writer ? 'home' : 'secondary',
    homeRegion: writer,
    regions: props.regions,
  };
}

/** Properties of {@link serviceEndpointsOf}. */
export interface ServiceEndpointsProps {
  /** The region's data endpoints, as its data and shard stacks built them (in the first region's shape). */
  readonly endpoints: DataEndpoints;
  /** Whether the region's data stacks are the home shape (the first region: primaries, queue, bus). */
  readonly dataHome: boolean;
  /** The region's role for its services ({@link writerRoleOf}). */
  readonly writerRole: RegionRole;
  /**
   * The region's data and shard stacks: an output the services stop reading (the old home's queue and bus while
   * the writers are away) stays published there, so their templates do not change.
   */
  readonly producers: readonly Stack[];
}

/**
 * The data endpoints a region's services use, when its role for writes differs from its data stacks' shape, or its
 * data stacks hold what only the writer region uses:
 *
 * - **The writer region, a secondary shape** (the writers moved here): every shard's `writerHost` is its cluster's
 *   writer endpoint ({@link clusterWriterHostOf}; there is no RDS Proxy in a secondary region), and sessions are
 *   written to the region's member of the Global Datastore, through its primary endpoint ({@link cachePrimaryHostOf}).
 *   The region's invalidation queue and bus, idle until now, are used.
 * - **Every region that is not the writer** (the first one while the writers are away, and every further one):
 *   read-only; the queue and the bus, which a secondary's app refuses, are left out (their outputs stay published in
 *   `producers`). The cache is the region's own (writable) group, sessions the region's member of the datastore.
 * - Otherwise (the first region as the writer) the endpoints as built.
 */
export function serviceEndpointsOf(props: ServiceEndpointsProps): DataEndpoints {
  const { endpoints, dataHome, writerRole } = props;
  const writer = writerRole.role === 'home';
  if (writer && dataHome) return endpoints;
  if (writer) {
    const promoted = (shard: DatabaseEndpoint): DatabaseEndpoint => {
      if (shard.readOnly !== true) return shard;
      const { readOnly: _readOnly, ...rest } = shard;
      return { ...rest, writerHost: clusterWriterHostOf(shard.readerHost ?? shard.writerHost) };
    };
    const sessions: CacheEndpoint | undefined =
      endpoints.sessions !== undefined
        ? { ...endpoints.sessions, host: cachePrimaryHostOf(endpoints.sessions.host) }
        : undefined;
    return {
      ...endpoints,
      shards: endpoints.shards.map(promoted),
      ...(sessions !== undefined ? { sessions } : {}),
    };
  }
  // Read-only: no queue, no bus.
  const { invalidationQueue: _queue, events: _events, ...rest } = endpoints;
  keepPublished(props.producers, eventSideValues(endpoints));
  return rest;
}

/**
 * The values of the event side (the invalidation queue, the bus, the consumers' queues) that are single attributes of
 * a resource: what a service stack reads of them, and what stays published when it stops reading them.
 */
export function eventSideValues(endpoints: Pick<DataEndpoints, 'invalidationQueue' | 'events'>): string[] {
  const { invalidationQueue, events } = endpoints;
  return [
    ...(invalidationQueue !== undefined ? [invalidationQueue] : []),
    ...(events !== undefined ? [{ busName: events.busName, busArn: events.busArn }] : []),
    ...Object.values(events?.queues ?? {}),
  ].flatMap((endpoint) =>
    Object.values(endpoint).filter(
      (value): value is string =>
        typeof value === 'string' &&
        Token.isUnresolved(value) &&
        Tokenization.reverse(value) instanceof Reference,
    ),
  );
}

/** Keeps each value that is an attribute of a resource of one of `producers` published there. */
function keepPublished(producers: readonly Stack[], values: readonly string[]): void {
  for (const value of values) {
    const token = Tokenization.reverse(value);
    if (!(token instanceof Reference)) continue;
    const producer = Stack.of(token.target);
    if (producers.includes(producer)) keepPublishedForEarlierStages(producer, [value]);
  }
}
