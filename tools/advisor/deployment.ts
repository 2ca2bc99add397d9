/**
 * What a deployed stage consists of, as far as the advisor's metrics are concerned, read from the stacks'
 * templates and the physical ids CloudFormation assigned (or, for `--dry-run`, placeholders), and the stage
 * the deployment looks like.
 *
 * Why templates and stack resources rather than names or tags: the blueprint fixes the names of what holds
 * data (`<prefix>-db` cluster, `<prefix>-redis` replication group, `<prefix>-db-read-only` proxy endpoint, the
 * `<prefix>` dashboard), but CloudFormation generates the rest (the proxy, the ECS cluster and service, the
 * load balancer and its target group), and the stacks put no tags on them. Every resource is in a stack named
 * `<prefix>-<part>`, so the stack is the reliable index: its resource list maps logical ids to physical ids
 * and its template gives the sizes the rules need (instance classes, node types, the task maximum).
 */
import { refersTo, type CfnTemplate } from '../upgrade/assembly';

/** Every stage the advisor knows, planned ones included, in upgrade order. */
export const ADVISOR_STAGE_IDS = ['1k', '10k', '100k', '1m', 'global'] as const;

/** A stage id the advisor can detect or recommend. */
export type AdvisorStageId = (typeof ADVISOR_STAGE_IDS)[number];

/** An Aurora cluster: shard 0 is the `data` stack's cluster; later shards are keyed by their stack's id. */
export interface AuroraClusterInfo {
  readonly region: string;
  readonly stackName: string;
  /** Shard id: `0` for the `<prefix>-data` stack, otherwise the stack name after the prefix. */
  readonly shard: string;
  readonly identifier: string;
  readonly writerClass: string;
  readonly readerClasses: readonly string[];
  /** Set when the cluster belongs to an Aurora Global Database. */
  readonly globalClusterIdentifier?: string;
}

/** An RDS Proxy. */
export interface ProxyInfo {
  readonly region: string;
  readonly name: string;
}

/** A Redis replication group and its member nodes (metrics are per node). */
export interface CacheInfo {
  readonly region: string;
  readonly replicationGroupId: string;
  readonly nodeType: string;
  readonly nodeIds: readonly string[];
}

/** A Fargate service and its task range. */
export interface ServiceInfo {
  readonly region: string;
  readonly clusterName: string;
  readonly serviceName: string;
  readonly minTasks: number;
  readonly maxTasks: number;
}

/** An Application Load Balancer (`app/<name>/<id>`, the metrics' `LoadBalancer` dimension). */
export interface LoadBalancerInfo {
  readonly region: string;
  readonly dimension: string;
}

/** Everything the advisor reads metrics of, over every region it looked in. */
export interface Deployment {
  readonly prefix: string;
  /** Regions with at least one stack of the prefix. */
  readonly regions: readonly string[];
  readonly stackNames: readonly string[];
  readonly clusters: readonly AuroraClusterInfo[];
  readonly proxies: readonly ProxyInfo[];
  readonly caches: readonly CacheInfo[];
  readonly services: readonly ServiceInfo[];
  readonly loadBalancers: readonly LoadBalancerInfo[];
  /** API gateways (stage `1m` on). */
  readonly apiGateways: number;
}

/** One deployed stack: its template and the physical id of each logical id. */
export interface DeployedStack {
  readonly region: string;
  readonly stackName: string;
  readonly template: CfnTemplate;
  readonly physicalIds: ReadonlyMap<string, string>;
}

interface Resource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

/** The shard id of a stack: `0` for `<prefix>-data`, otherwise the part after `<prefix>-` (e.g. `shard-1`). */
export function shardOf(stackName: string, prefix: string): string {
  const part = stackName.startsWith(`${prefix}-`) ? stackName.slice(prefix.length + 1) : stackName;
  return part === 'data' ? '0' : part;
}

/**
 * Collects the resources the advisor watches from deployed stacks.
 *
 * @throws Error when a resource the rules need is present without the property they need (named)
 */
export function deploymentFromStacks(prefix: string, stacks: readonly DeployedStack[]): Deployment {
  const clusters: AuroraClusterInfo[] = [];
  const proxies: ProxyInfo[] = [];
  const caches: CacheInfo[] = [];
  const services: ServiceInfo[] = [];
  const loadBalancers: LoadBalancerInfo[] = [];
  let apiGateways = 0;
  // Every member of a Global Datastore has the primary's node type (AWS requires it); a secondary member's template
  // sets none, so it takes the one literal node type of a replication group of the deployment.
  const datastoreNodeType = stacks
    .flatMap((stack) => Object.values(stack.template.Resources ?? {}) as Resource[])
    .find(
      (resource) =>
        resource.Type === 'AWS::ElastiCache::ReplicationGroup' &&
        typeof resource.Properties?.CacheNodeType === 'string',
    )?.Properties?.CacheNodeType as string | undefined;
  for (const stack of stacks) {
    const resources = Object.entries(stack.template.Resources ?? {}) as [string, Resource][];
    const physical = (logicalId: string): string => {
      const id = stack.physicalIds.get(logicalId);
      if (id === undefined) {
        throw new Error(
          `${stack.region}/${stack.stackName}: resource ${logicalId} has no physical id (not created?).`,
        );
      }
      return id;
    };
    const literal = (logicalId: string, resource: Resource, name: string): string => {
      const value = resource.Properties?.[name];
      if (typeof value !== 'string') {
        throw new Error(
          `${stack.region}/${stack.stackName}: ${logicalId}.${name} is not a literal in the template.`,
        );
      }
      return value;
    };
    for (const [logicalId, resource] of resources) {
      switch (resource.Type) {
        case 'AWS::RDS::DBCluster': {
          const instances = resources.filter(
            ([, candidate]) =>
              candidate.Type === 'AWS::RDS::DBInstance' &&
              refersTo(candidate.Properties?.DBClusterIdentifier, logicalId),
          );
          // The writer is promotion tier 0 (CDK's `writer`); readers follow.
          const sorted = instances.sort(
            ([, a], [, b]) =>
              Number(a.Properties?.PromotionTier ?? 0) - Number(b.Properties?.PromotionTier ?? 0),
          );
          const [writer, ...readers] = sorted;
          if (writer === undefined) break;
          const globalId = resource.Properties?.GlobalClusterIdentifier;
          clusters.push({
            region: stack.region,
            stackName: stack.stackName,
            shard: shardOf(stack.stackName, prefix),
            identifier: physical(logicalId),
            writerClass: literal(writer[0], writer[1], 'DBInstanceClass'),
            readerClasses: readers.map(([id, reader]) => literal(id, reader, 'DBInstanceClass')),
            ...(globalId !== undefined ? { globalClusterIdentifier: String(globalId) } : {}),
          });
          break;
        }
        case 'AWS::RDS::DBProxy':
          proxies.push({ region: stack.region, name: physical(logicalId) });
          break;
        case 'AWS::ElastiCache::ReplicationGroup': {
          const id = physical(logicalId);
          const properties = resource.Properties ?? {};
          const nodes = Number(properties.NumCacheClusters ?? 1);
          caches.push({
            region: stack.region,
            replicationGroupId: id,
            nodeType:
              properties.CacheNodeType === undefined &&
              properties.GlobalReplicationGroupId !== undefined &&
              datastoreNodeType !== undefined
                ? datastoreNodeType
                : literal(logicalId, resource, 'CacheNodeType'),
            // Cluster mode disabled: ElastiCache names the member clusters <group>-001, -002, ...
            nodeIds: Array.from({ length: nodes }, (_, i) => `${id}-${String(i + 1).padStart(3, '0')}`),
          });
          break;
        }
        case 'AWS::ECS::Service': {
          const clusterRef = resource.Properties?.Cluster;
          const clusterId = resources.find(([id]) => refersTo(clusterRef, id))?.[0];
          const target = resources.find(
            ([, candidate]) =>
              candidate.Type === 'AWS::ApplicationAutoScaling::ScalableTarget' &&
              refersTo(candidate.Properties?.ResourceId, logicalId),
          )?.[1];
          const desired = Number(resource.Properties?.DesiredCount ?? 1);
          // The service's physical id is its ARN: arn:aws:ecs:<region>:<account>:service/<cluster>/<name>.
          const arn = physical(logicalId);
          services.push({
            region: stack.region,
            clusterName: clusterId !== undefined ? physical(clusterId) : (arn.split('/')[1] ?? ''),
            serviceName: arn.split('/').pop() ?? arn,
            minTasks: Number(target?.Properties?.MinCapacity ?? desired),
            maxTasks: Number(target?.Properties?.MaxCapacity ?? desired),
          });
          break;
        }
        case 'AWS::ElasticLoadBalancingV2::LoadBalancer': {
          if ((resource.Properties?.Type ?? 'application') !== 'application') break;
          // Physical id: arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>.
          const arn = physical(logicalId);
          loadBalancers.push({ region: stack.region, dimension: arn.split(':loadbalancer/').pop() ?? arn });
          break;
        }
        case 'AWS::ApiGatewayV2::Api':
        case 'AWS::ApiGateway::RestApi':
          apiGateways += 1;
          break;
        default:
          break;
      }
    }
  }
  return {
    prefix,
    regions: [...new Set(stacks.map((stack) => stack.region))],
    stackNames: stacks.map((stack) => `${stack.region}/${stack.stackName}`),
    clusters,
    proxies,
    caches,
    services,
    loadBalancers,
    apiGateways,
  };
}

/**
 * The stage a deployment looks like, from the capabilities it has (each stage adds to the one before):
 * several regions or a global database → `global`; an API gateway or several services → `1m`; several
 * Aurora clusters (shards) → `100k`; readers, a proxy or a cache → `10k`; otherwise `1k`.
 */
export function detectStage(deployment: Deployment): AdvisorStageId {
  if (
    deployment.regions.length > 1 ||
    deployment.clusters.some((cluster) => cluster.globalClusterIdentifier)
  ) {
    return 'global';
  }
  if (deployment.apiGateways > 0 || deployment.services.length > 1) return '1m';
  if (deployment.clusters.length > 1) return '100k';
  if (
    deployment.clusters.some((cluster) => cluster.readerClasses.length > 0) ||
    deployment.proxies.length > 0 ||
    deployment.caches.length > 0
  ) {
    return '10k';
  }
  return '1k';
}

/** The stage after `stage`, or undefined for the last. */
export function nextStage(stage: AdvisorStageId): AdvisorStageId | undefined {
  return ADVISOR_STAGE_IDS[ADVISOR_STAGE_IDS.indexOf(stage) + 1];
}

/** True when `a` comes before `b` in the upgrade order. */
export function stageBefore(a: AdvisorStageId, b: AdvisorStageId): boolean {
  return ADVISOR_STAGE_IDS.indexOf(a) < ADVISOR_STAGE_IDS.indexOf(b);
}
