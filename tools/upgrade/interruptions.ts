/**
 * What users and operators will feel while an upgrade deploys, read from the diff: failovers, reboots,
 * sign-outs, new outbound addresses, and roughly how long CloudFormation will take.
 */
import { compare } from './assembly';
import type { ChangeKind, ResourceChange, StackUpgrade, UpgradeReport } from './diff';

/** One thing users or operators will notice. */
export interface Interruption {
  /** What kind of interruption, for ordering and tests. */
  readonly kind:
    | 'engine-upgrade'
    | 'failover'
    | 'instance-restart'
    | 'cache-resize'
    | 'global-database'
    | 'reboot-pending'
    | 'sign-out'
    | 'cold-cache'
    | 'nat-addresses'
    | 'rolling-deployment';
  /** Bold headline. */
  readonly title: string;
  /** What happens and what to do, one paragraph. */
  readonly detail: string;
  /** Construct paths (or `stack/logicalId`) of the resources it comes from, sorted. */
  readonly resources: readonly string[];
}

interface Resource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

/** The resource before and after the change (the library's diff keeps both). */
function sides(stack: StackUpgrade, change: ResourceChange): { before?: Resource; after?: Resource } {
  const difference = stack.diff.resources.get(change.logicalId);
  return {
    ...(difference?.oldValue ? { before: difference.oldValue as Resource } : {}),
    ...(difference?.newValue ? { after: difference.newValue as Resource } : {}),
  };
}

const where = (change: ResourceChange) => change.constructPath ?? `${change.stackName}/${change.logicalId}`;
const property = (resource: Resource | undefined, name: string) => resource?.Properties?.[name];
const changed = (before: Resource | undefined, after: Resource | undefined, name: string) =>
  JSON.stringify(property(before, name)) !== JSON.stringify(property(after, name));

/** Whether a DB instance is its cluster's writer: CDK's `Writer` construct, or promotion tier 0 without a path. */
function isWriter(change: ResourceChange, resource: Resource | undefined): boolean {
  if (change.constructPath) return change.constructPath.split('/').includes('Writer');
  return property(resource, 'PromotionTier') === 0;
}

/** `SESSION_STORE` (or any variable) of a task definition's containers. */
function environmentValue(resource: Resource | undefined, name: string): string | undefined {
  const containers = property(resource, 'ContainerDefinitions');
  if (!Array.isArray(containers)) return undefined;
  for (const container of containers as { Environment?: { Name?: string; Value?: unknown }[] }[]) {
    const variable = container.Environment?.find((entry) => entry.Name === name);
    if (variable) return typeof variable.Value === 'string' ? variable.Value : JSON.stringify(variable.Value);
  }
  return undefined;
}

/**
 * PostgreSQL parameters that only take effect after a reboot (`static` in RDS), among those a stage is
 * likely to set. Any other changed parameter is listed as "check": RDS documents each one's apply type.
 */
export const staticPostgresParameters: ReadonlySet<string> = new Set([
  'shared_preload_libraries',
  'shared_buffers',
  'max_connections',
  'max_worker_processes',
  'max_wal_senders',
  'max_replication_slots',
  'max_logical_replication_workers',
  'max_locks_per_transaction',
  'rds.logical_replication',
  'track_activity_query_size',
  'wal_buffers',
]);

const parameterGroupTypes = [
  'AWS::RDS::DBClusterParameterGroup',
  'AWS::RDS::DBParameterGroup',
  'AWS::ElastiCache::ParameterGroup',
];
const parameterGroupReferences = [
  'DBClusterParameterGroupName',
  'DBParameterGroupName',
  'CacheParameterGroupName',
];

/** Every interruption an upgrade causes, in a fixed order (failovers first). */
export function interruptionsOf(report: UpgradeReport): Interruption[] {
  const found: Interruption[] = [];
  const collect = (match: (stack: StackUpgrade, change: ResourceChange) => string | undefined): string[] => {
    const hits: string[] = [];
    for (const stack of report.stacks) {
      for (const change of stack.changes) {
        const hit = match(stack, change);
        if (hit !== undefined) hits.push(hit);
      }
    }
    return hits.sort(compare);
  };

  const engineVersions = collect((stack, change) => {
    if (change.type !== 'AWS::RDS::DBCluster' || change.kind !== 'updated') return undefined;
    const { before, after } = sides(stack, change);
    if (!changed(before, after, 'EngineVersion')) return undefined;
    return `${where(change)} (${String(property(before, 'EngineVersion'))} → ${String(property(after, 'EngineVersion'))})`;
  });
  if (engineVersions.length) {
    found.push({
      kind: 'engine-upgrade',
      title: 'Aurora engine version changes: the writer and every reader restart',
      detail:
        'CloudFormation upgrades the cluster in place (no replacement, no data moved), and a minor version ' +
        'upgrade restarts all its instances together, writer included: writes and reads fail for a few minutes ' +
        "(Aurora's zero-downtime patching keeps connections open when it can, not always). Take a manual " +
        'snapshot first and deploy in a quiet hour; the version must be at least the one the cluster runs ' +
        '(automatic minor upgrades may have moved it on: `aws rds describe-db-clusters`).',
      resources: engineVersions,
    });
  }

  const instanceClassChanges = (writer: boolean) =>
    collect((stack, change) => {
      if (change.type !== 'AWS::RDS::DBInstance' || change.kind !== 'updated') return undefined;
      const { before, after } = sides(stack, change);
      if (!changed(before, after, 'DBInstanceClass') || isWriter(change, before) !== writer) return undefined;
      return `${where(change)} (${String(property(before, 'DBInstanceClass'))} → ${String(property(after, 'DBInstanceClass'))})`;
    });
  const writers = instanceClassChanges(true);
  if (writers.length) {
    found.push({
      kind: 'failover',
      title: 'Writer instance class changes: a failover',
      detail:
        'The writer restarts on its new class. With readers in the cluster, Aurora promotes one (typically ' +
        'under a minute of failed writes and reset connections; the app reconnects and retries reads); ' +
        'without readers, writes stop for the several minutes the restart takes. Deploy in a quiet hour.',
      resources: writers,
    });
  }
  const readers = instanceClassChanges(false);
  if (readers.length) {
    found.push({
      kind: 'instance-restart',
      title: 'Reader instance class changes: each reader restarts',
      detail:
        'Each reader is unavailable while it restarts on its new class; connections to it reset and the ' +
        'reader endpoint sends new ones to the other instances.',
      resources: readers,
    });
  }

  const cacheNodeTypes = collect((stack, change) => {
    if (change.type !== 'AWS::ElastiCache::ReplicationGroup' || change.kind !== 'updated') return undefined;
    const { before, after } = sides(stack, change);
    if (!changed(before, after, 'CacheNodeType')) return undefined;
    return `${where(change)} (${String(property(before, 'CacheNodeType'))} → ${String(property(after, 'CacheNodeType'))})`;
  });
  if (cacheNodeTypes.length) {
    found.push({
      kind: 'cache-resize',
      title: 'Redis node type changes: online scaling, a brief write pause at the end',
      detail:
        'ElastiCache scales the replication group online: it starts nodes of the new type, copies the data to ' +
        'them and switches the endpoints over. Reads and writes continue meanwhile; at the switch, connections ' +
        'reset and writes pause for a few seconds (the app retries, and a failed cache call costs a database ' +
        'read, never a write). It takes tens of minutes per group; deploy in a quiet hour.',
      resources: cacheNodeTypes,
    });
  }

  const globalClusters = collect((_, change) =>
    change.type === 'AWS::RDS::GlobalCluster' && change.kind === 'added' ? where(change) : undefined,
  );
  if (globalClusters.length) {
    found.push({
      kind: 'global-database',
      title: 'Aurora Global Database: the running clusters become primaries, in place',
      detail:
        'Creating a global cluster from a running cluster restarts nothing and moves no data: the cluster keeps ' +
        'its endpoints and writer. Each secondary cluster added in another region then copies the whole volume ' +
        'before it serves reads (minutes to hours, by size), with no load on the primary instances. Deploy the ' +
        "home region's data and shard stacks first, then the further regions (docs/upgrades/1m-to-global.md).",
      resources: globalClusters,
    });
  }

  const parameterChanges = collect((stack, change) => {
    const { before, after } = sides(stack, change);
    if (
      parameterGroupTypes.includes(change.type) &&
      change.kind === 'updated' &&
      changed(before, after, 'Parameters')
    ) {
      const old = (property(before, 'Parameters') ?? {}) as Record<string, unknown>;
      const now = (property(after, 'Parameters') ?? {}) as Record<string, unknown>;
      const names = [...new Set([...Object.keys(old), ...Object.keys(now)])]
        .filter((name) => JSON.stringify(old[name]) !== JSON.stringify(now[name]))
        .sort(compare);
      const label = (name: string) =>
        `${name} (${staticPostgresParameters.has(name) ? 'static: reboot' : 'check'})`;
      return `${where(change)}: ${names.map(label).join(', ')}`;
    }
    if (change.kind === 'updated') {
      const moved = parameterGroupReferences.filter((name) => changed(before, after, name));
      if (moved.length) return `${where(change)}: ${moved.join(', ')} changed (pending-reboot)`;
    }
    return undefined;
  });
  if (parameterChanges.length) {
    const logicalReplication = parameterChanges.some((change) =>
      change.includes('rds.logical_replication ('),
    );
    found.push({
      kind: 'reboot-pending',
      title: 'Parameter groups that need a reboot',
      detail:
        'Static parameters, and a parameter group newly assigned to a cluster or instance, take effect only ' +
        'after a reboot, which CloudFormation does not do: the instances show `pending-reboot`. Reboot the ' +
        'readers one at a time, then the writer (a failover), in a quiet hour.' +
        (logicalReplication
          ? ' Logical replication (`rds.logical_replication`) needs the writer rebooted: until then ' +
            '`wal_level` stays `replica` and no publication or replication slot can be created, so the shard ' +
            "manager cannot move data. Reboot each cluster's writer (`aws rds reboot-db-instance`) before the " +
            'first move; a failover also applies it.'
          : ''),
      resources: parameterChanges,
    });
  }

  /** Task definitions (kept, each a new revision) whose variable `name` had a value and now has another. */
  const taskEnvironmentChanges = (
    name: string,
    label: (change: ResourceChange, old: string, now: string) => string,
  ) =>
    collect((stack, change) => {
      if (
        change.type !== 'AWS::ECS::TaskDefinition' ||
        change.kind === 'added' ||
        change.kind === 'removed'
      ) {
        return undefined;
      }
      const { before, after } = sides(stack, change);
      const old = environmentValue(before, name);
      const now = environmentValue(after, name);
      return old !== undefined && now !== undefined && old !== now ? label(change, old, now) : undefined;
    });

  const sessionStores = taskEnvironmentChanges(
    'SESSION_STORE',
    (change, old, now) => `${where(change)} (${old} → ${now})`,
  );
  if (sessionStores.length) {
    found.push({
      kind: 'sign-out',
      title: 'Sessions move to another store: everyone is signed out once',
      detail:
        "Sessions kept in the old store (the tasks' memory) are not carried over: every signed-in user has " +
        'to sign in again, once. Accounts and orders live in the database and are not affected. Announce ' +
        'it, or deploy in a quiet hour.',
      resources: sessionStores,
    });
  }

  // The tasks' cache moves to another replication group (stage global: the home region's cache leaves the
  // sessions' Global Datastore for a group of its own), which starts empty.
  const cacheMoves = taskEnvironmentChanges('REDIS_HOST', (change) => where(change));
  if (cacheMoves.length) {
    found.push({
      kind: 'cold-cache',
      title: "The tasks' cache moves to a new Redis group: a cold cache once",
      detail:
        'New tasks cache in a group that starts empty: until it fills, reads miss and go to the databases (more ' +
        'database load and latency for the first minutes, not errors), and the sign-in rate-limit windows start ' +
        'afresh. While old and new tasks run side by side, an invalidation consumed by an old task reaches only ' +
        'the old group: an entry the new group cached before that write can be served until its TTL ' +
        '(CACHE_TTL_SECONDS, 60 s by default). Sessions stay where they are unless listed under sign-out. ' +
        'Deploy in a quiet hour.',
      resources: cacheMoves,
    });
  }

  const addresses = collect((_, change) =>
    change.type === 'AWS::EC2::EIP' &&
    (change.kind === 'added' || change.kind === 'removed' || change.kind === 'will-replace')
      ? `${where(change)} (${change.kind === 'added' ? 'new' : change.kind === 'removed' ? 'released' : 'replaced'})`
      : undefined,
  );
  if (addresses.length) {
    found.push({
      kind: 'nat-addresses',
      title: 'NAT gateway addresses change: update allow-lists',
      detail:
        'Outbound traffic from the private subnets (payment providers, partner APIs, email) leaves from these ' +
        'Elastic IPs once their NAT gateways serve it. A third party that allow-lists the current address will ' +
        'refuse the new ones: allocate them first and send them over (`aws ec2 describe-addresses` after the ' +
        'network stack deploys), or ask for the allow-list to be widened before the upgrade.',
      resources: addresses,
    });
  }

  // A new task definition revision (task definitions are immutable: any change replaces them) rolls the
  // services that run it even when the service's own template does not change.
  const rolling = collect((_, change) =>
    change.type === 'AWS::ECS::Service' && change.kind === 'updated'
      ? where(change)
      : change.type === 'AWS::ECS::TaskDefinition' &&
          (change.kind === 'will-replace' || change.kind === 'may-replace')
        ? `${where(change)} (new revision)`
        : undefined,
  );
  if (rolling.length) {
    found.push({
      kind: 'rolling-deployment',
      title: 'Rolling deployment of the service (no downtime expected)',
      detail:
        'New tasks start and pass the load balancer health check before old ones are drained; the deployment ' +
        'circuit breaker rolls back a deployment whose tasks do not become healthy.',
      resources: rolling,
    });
  }
  return found;
}

// --- duration -----------------------------------------------------------------------------------------

/**
 * Rough minutes CloudFormation spends on one resource change: typical figures from deploying these
 * resources (Aurora instances and ElastiCache nodes take the longest), not measurements of this app.
 * `updated` assumes the change needs the service to act (a class change, a new node); a metadata-only
 * update takes seconds, so the estimate errs on the long side.
 */
export const changeMinutes: Readonly<Record<string, Partial<Record<ChangeKind | 'default', number>>>> = {
  'AWS::RDS::DBCluster': { added: 10, updated: 2, 'will-replace': 20 },
  'AWS::RDS::DBInstance': { added: 12, updated: 12, 'will-replace': 15 },
  'AWS::RDS::DBProxy': { added: 5, 'will-replace': 5 },
  'AWS::RDS::DBProxyTargetGroup': { added: 5, updated: 2 },
  'AWS::RDS::DBProxyEndpoint': { added: 5, 'will-replace': 5 },
  'AWS::ElastiCache::ReplicationGroup': { added: 15, updated: 20, 'will-replace': 20 },
  'AWS::EC2::NatGateway': { added: 2, 'will-replace': 2 },
  'AWS::ECS::Service': { added: 5, updated: 6 },
  'AWS::ElasticLoadBalancingV2::LoadBalancer': { added: 3, 'will-replace': 3 },
  'AWS::CloudFront::Distribution': { added: 10, updated: 8 },
  'AWS::Lambda::Function': { added: 1, updated: 1 },
};

/** Minutes for a change of a type that is not in `changeMinutes` (most resources take seconds). */
export const defaultChangeMinutes = 0.5;

/** An updated resource whose update touches only metadata (construct path, tags) takes seconds. */
function minutesFor(stack: StackUpgrade, change: ResourceChange): number {
  if (change.kind === 'removed') return 0; // Deletions run in the clean-up phase, after the update succeeds.
  const table = changeMinutes[change.type];
  let minutes = table?.[change.kind] ?? table?.default ?? defaultChangeMinutes;
  // A new task definition revision makes CloudFormation update every service that runs it (the service's
  // TaskDefinition resolves to the new ARN) and wait for its deployment, even when the service's own template
  // is unchanged; counted here unless the service shows up as updated itself.
  if (
    change.type === 'AWS::ECS::TaskDefinition' &&
    (change.kind === 'will-replace' || change.kind === 'may-replace') &&
    !stack.changes.some((other) => other.type === 'AWS::ECS::Service' && other.kind === 'updated')
  ) {
    return changeMinutes['AWS::ECS::Service']?.updated ?? minutes;
  }
  if (change.kind === 'updated' && table?.updated !== undefined) {
    const difference = stack.diff.resources.get(change.logicalId);
    const slow = ['DBInstanceClass', 'CacheNodeType', 'NumCacheClusters', 'TaskDefinition', 'DesiredCount'];
    const touched = Object.keys(difference?.propertyUpdates ?? {});
    if (!touched.some((name) => slow.includes(name))) minutes = Math.min(minutes, 2);
  }
  return minutes;
}

/** The rough duration of one stack's update. */
export interface StackDuration {
  readonly stackName: string;
  /** Minutes along the longest chain of dependent changes in the stack. */
  readonly minutes: number;
  /** That chain, first change first (construct paths). */
  readonly chain: readonly string[];
}

/** The rough duration of an upgrade. */
export interface DurationEstimate {
  readonly stacks: readonly StackDuration[];
  /** Sum over the stacks: `cdk deploy` deploys dependent stacks one after another. */
  readonly minutes: number;
}

/** Logical ids a template element refers to (`Ref`, `Fn::GetAtt`, `DependsOn`). */
function dependenciesOf(resource: Resource | undefined): Set<string> {
  const found = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      if (key === 'Ref' && typeof value === 'string') found.add(value);
      else if (key === 'Fn::GetAtt')
        found.add(String(Array.isArray(value) ? value[0] : String(value).split('.')[0]));
      else visit(value);
    }
  };
  visit(resource?.Properties);
  const dependsOn = (resource as { DependsOn?: unknown } | undefined)?.DependsOn;
  for (const id of Array.isArray(dependsOn) ? dependsOn : dependsOn ? [dependsOn] : []) found.add(String(id));
  return found;
}

/**
 * Roughly how long CloudFormation takes: per stack, the longest chain of changes that wait for one another
 * (CloudFormation works on independent resources in parallel), each change costed from `changeMinutes`;
 * stacks add up, because `cdk deploy` deploys a stack after the stacks it reads.
 */
export function estimateDuration(report: UpgradeReport): DurationEstimate {
  const stacks = report.stacks
    .filter((stack) => stack.changes.length > 0)
    .map((stack): StackDuration => {
      const byId = new Map(stack.changes.map((change) => [change.logicalId, change]));
      const memo = new Map<string, { minutes: number; chain: string[] }>();
      const longest = (id: string, visiting: Set<string>): { minutes: number; chain: string[] } => {
        const known = memo.get(id);
        if (known) return known;
        const change = byId.get(id) as ResourceChange;
        visiting.add(id);
        let best = { minutes: 0, chain: [] as string[] };
        for (const dependency of dependenciesOf(sides(stack, change).after)) {
          if (!byId.has(dependency) || visiting.has(dependency)) continue;
          const candidate = longest(dependency, visiting);
          if (candidate.minutes > best.minutes) best = candidate;
        }
        visiting.delete(id);
        const own = minutesFor(stack, change);
        const result = {
          minutes: best.minutes + own,
          chain: own > defaultChangeMinutes ? [...best.chain, where(change)] : best.chain,
        };
        memo.set(id, result);
        return result;
      };
      let best = { minutes: 0, chain: [] as string[] };
      for (const id of [...byId.keys()].sort(compare)) {
        const candidate = longest(id, new Set());
        if (candidate.minutes > best.minutes) best = candidate;
      }
      return { stackName: stack.stackName, minutes: Math.round(best.minutes), chain: best.chain };
    });
  return { stacks, minutes: stacks.reduce((total, stack) => total + stack.minutes, 0) };
}
