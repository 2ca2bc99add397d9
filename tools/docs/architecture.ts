/**
 * An architecture diagram derived from the synthesised templates: one node per meaningful resource group
 * (a VPC, a load balancer, a service, a database cluster with its instances, a cache, ...), grouped by
 * tier, with edges for the network paths that security-group rules open. Supporting resources (IAM
 * policies, security-group rules, subnets, listeners, scaling policies, ...) fold into the node they serve.
 */
import { compare, type AssemblyTemplates, type StackTemplate } from '../upgrade/assembly';
import { ResourceIndex, type ResourceHandle } from './references';
import { tierLabels, tierOrder, type Tier } from './tiers';

/** A box in the diagram. */
export interface ArchitectureNode {
  readonly id: string;
  readonly tier: Tier;
  /** First line: the construct path (or a group name for aggregated resources). */
  readonly title: string;
  /** Further lines: what it is and its size. */
  readonly details: readonly string[];
}

/** An arrow: traffic or a dependency from one node to another. */
export interface ArchitectureEdge {
  readonly from: string;
  readonly to: string;
  /** e.g. `TCP 5432`. @default - no label */
  readonly label?: string;
}

/** Nodes and edges, sorted for deterministic output. */
export interface ArchitectureGraph {
  readonly nodes: readonly ArchitectureNode[];
  readonly edges: readonly ArchitectureEdge[];
}

/** The node id of the outside world. */
export const internetNodeId = 'internet';

interface Anchor {
  readonly tier: Tier;
  readonly describe: (resource: ResourceHandle, index: ResourceIndex) => { kind: string; details: string[] };
}

const anchors: Record<string, Anchor> = {
  'AWS::EC2::VPC': { tier: 'edge', describe: describeVpc },
  'AWS::ElasticLoadBalancingV2::LoadBalancer': { tier: 'edge', describe: describeLoadBalancer },
  'AWS::CloudFront::Distribution': { tier: 'edge', describe: () => ({ kind: 'CloudFront distribution', details: [] }) },
  'AWS::ApiGateway::RestApi': { tier: 'edge', describe: () => ({ kind: 'API Gateway REST API', details: [] }) },
  'AWS::ApiGatewayV2::Api': {
    tier: 'edge',
    describe: (r) => ({ kind: `API Gateway ${String(r.properties.ProtocolType ?? 'HTTP')} API`, details: [] }),
  },
  'AWS::WAFv2::WebACL': { tier: 'edge', describe: () => ({ kind: 'WAF web ACL', details: [] }) },
  'AWS::Route53::HostedZone': { tier: 'edge', describe: () => ({ kind: 'Route 53 hosted zone', details: [] }) },
  'AWS::Route53::HealthCheck': { tier: 'edge', describe: () => ({ kind: 'Route 53 health check', details: [] }) },
  'AWS::ECS::Service': { tier: 'compute', describe: describeService },
  'AWS::ServiceDiscovery::PrivateDnsNamespace': {
    tier: 'compute',
    describe: () => ({ kind: 'Cloud Map namespace (Service Connect)', details: [] }),
  },
  'AWS::ServiceDiscovery::HttpNamespace': {
    tier: 'compute',
    describe: () => ({ kind: 'Cloud Map namespace (Service Connect)', details: [] }),
  },
  'AWS::SQS::Queue': { tier: 'integration', describe: describeQueue },
  'AWS::Events::EventBus': { tier: 'integration', describe: () => ({ kind: 'EventBridge bus', details: [] }) },
  'AWS::RDS::DBCluster': { tier: 'data', describe: describeCluster },
  'AWS::RDS::DBProxy': {
    tier: 'data',
    describe: (r) => ({ kind: 'RDS Proxy', details: [String(r.properties.EngineFamily ?? '').toLowerCase()] }),
  },
  'AWS::RDS::GlobalCluster': { tier: 'data', describe: () => ({ kind: 'Aurora Global Database', details: [] }) },
  'AWS::DynamoDB::Table': { tier: 'data', describe: () => ({ kind: 'DynamoDB table', details: [] }) },
  'AWS::DynamoDB::GlobalTable': { tier: 'data', describe: () => ({ kind: 'DynamoDB global table', details: [] }) },
  'AWS::S3::Bucket': { tier: 'data', describe: () => ({ kind: 'S3 bucket', details: [] }) },
  'AWS::ElastiCache::ReplicationGroup': { tier: 'cache', describe: describeReplicationGroup },
  'AWS::ElastiCache::CacheCluster': {
    tier: 'cache',
    describe: (r) => ({ kind: `ElastiCache ${String(r.properties.Engine ?? '')}`, details: [String(r.properties.CacheNodeType ?? '')] }),
  },
  'AWS::ElastiCache::ServerlessCache': { tier: 'cache', describe: () => ({ kind: 'ElastiCache Serverless', details: [] }) },
  'AWS::CloudWatch::Dashboard': { tier: 'monitoring', describe: () => ({ kind: 'CloudWatch dashboard', details: [] }) },
};

/** Types shown as one node per stack with a count, rather than one node each. */
const aggregates: Record<string, { tier: Tier; title: string }> = {
  'AWS::CloudWatch::Alarm': { tier: 'monitoring', title: 'CloudWatch alarms' },
  'AWS::CloudWatch::CompositeAlarm': { tier: 'monitoring', title: 'CloudWatch composite alarms' },
  'AWS::KMS::Key': { tier: 'monitoring', title: 'KMS keys' },
  'AWS::SecretsManager::Secret': { tier: 'monitoring', title: 'Secrets Manager secrets' },
  'AWS::Logs::LogGroup': { tier: 'monitoring', title: 'Log groups' },
  'AWS::SNS::Topic': { tier: 'integration', title: 'SNS topics' },
  'AWS::Lambda::Function': { tier: 'compute', title: 'Lambda functions' },
  'AWS::Events::Rule': { tier: 'integration', title: 'EventBridge rules' },
};

/** Builds the architecture graph of a synthesised app. */
export function buildArchitecture(templates: AssemblyTemplates): ArchitectureGraph {
  const index = new ResourceIndex(templates);
  const nodeId = nodeIds(templates);
  const multiStack = templates.stacks.length > 1;
  const nodes: ArchitectureNode[] = [];
  const nodeOf = new Map<string, string>(); // resource uid -> node id

  for (const resource of index.all) {
    const anchor = anchors[resource.type];
    // Standalone DB instances are their own node; cluster members fold into the cluster.
    if (resource.type === 'AWS::RDS::DBInstance' && !resource.properties.DBClusterIdentifier) {
      nodes.push(makeNode(nodeId, resource, 'data', 'RDS instance', [String(resource.properties.DBInstanceClass ?? '')]));
      nodeOf.set(resource.uid, nodes[nodes.length - 1]!.id);
      continue;
    }
    if (!anchor) continue;
    const { kind, details } = anchor.describe(resource, index);
    const node = makeNode(nodeId, resource, anchor.tier, kind, details);
    nodes.push(node);
    nodeOf.set(resource.uid, node.id);
  }

  // Cluster instances and proxy target groups belong to their cluster's node.
  for (const resource of index.all) {
    if (resource.type === 'AWS::RDS::DBInstance' && resource.properties.DBClusterIdentifier) {
      const cluster = index.referencesIn(resource.properties.DBClusterIdentifier, resource.stack)[0];
      if (cluster && nodeOf.has(cluster.uid)) nodeOf.set(resource.uid, nodeOf.get(cluster.uid)!);
    }
  }

  // Aggregated types: one node per type for the whole app, saying in which stacks they live.
  const aggregated = new Map<string, { tier: Tier; title: string; count: number; stackNames: Set<string> }>();
  for (const resource of index.all) {
    const aggregate = aggregates[resource.type];
    if (!aggregate) continue;
    const id = `all_${resource.type.replace(/[^A-Za-z0-9]/g, '_')}`;
    const entry = aggregated.get(id) ?? { ...aggregate, count: 0, stackNames: new Set<string>() };
    entry.count++;
    entry.stackNames.add(resource.stack.stackName);
    aggregated.set(id, entry);
    nodeOf.set(resource.uid, id);
  }
  for (const [id, entry] of aggregated) {
    const where = multiStack ? ` (${[...entry.stackNames].sort(compare).join(', ')})` : '';
    nodes.push({ id, tier: entry.tier, title: entry.title, details: [`× ${entry.count}${where}`] });
  }

  const edges = new Map<string, { from: string; to: string; labels: Set<string> }>();
  const addEdge = (from: string | undefined, to: string | undefined, label?: string) => {
    if (!from || !to || from === to) return;
    const key = `${from}->${to}`;
    const edge = edges.get(key) ?? { from, to, labels: new Set<string>() };
    if (label) edge.labels.add(label);
    edges.set(key, edge);
  };

  // Security groups belong to the node whose resource attaches them.
  const groupOwner = new Map<string, string>();
  for (const resource of index.all) {
    const owner = nodeOf.get(resource.uid);
    if (!owner || aggregated.has(owner)) continue;
    for (const referenced of index.referencesIn(resource.properties, resource.stack)) {
      if (referenced.type === 'AWS::EC2::SecurityGroup' && !groupOwner.has(referenced.uid)) {
        groupOwner.set(referenced.uid, owner);
      }
    }
  }
  // Aggregated owners (e.g. Lambda functions in a VPC) come last so a real node wins.
  for (const resource of index.all) {
    const owner = nodeOf.get(resource.uid);
    if (!owner || !aggregated.has(owner)) continue;
    for (const referenced of index.referencesIn(resource.properties, resource.stack)) {
      if (referenced.type === 'AWS::EC2::SecurityGroup' && !groupOwner.has(referenced.uid)) {
        groupOwner.set(referenced.uid, owner);
      }
    }
  }

  let internetUsed = false;
  const ruleEdge = (targetGroup: ResourceHandle | undefined, rule: Record<string, unknown>, stack: ResourceHandle['stack']) => {
    const to = targetGroup && groupOwner.get(targetGroup.uid);
    if (!to) return;
    const label = portLabel(rule);
    const source = rule.SourceSecurityGroupId ?? rule.SourceSecurityGroupName;
    if (source !== undefined) {
      const sourceGroup = index.referencesIn(source, stack).find((r) => r.type === 'AWS::EC2::SecurityGroup');
      addEdge(sourceGroup && groupOwner.get(sourceGroup.uid), to, label);
    } else if (rule.CidrIp === '0.0.0.0/0' || rule.CidrIpv6 === '::/0') {
      internetUsed = true;
      addEdge(internetNodeId, to, label);
    }
  };
  for (const resource of index.all) {
    if (resource.type === 'AWS::EC2::SecurityGroupIngress') {
      const target = index.referencesIn(resource.properties.GroupId, resource.stack)[0];
      ruleEdge(target, resource.properties, resource.stack);
    }
    if (resource.type === 'AWS::EC2::SecurityGroup') {
      for (const rule of (resource.properties.SecurityGroupIngress ?? []) as Record<string, unknown>[]) {
        ruleEdge(resource, rule, resource.stack);
      }
    }
    // A proxy reaches its cluster through a target group.
    if (resource.type === 'AWS::RDS::DBProxyTargetGroup') {
      const proxy = index.referencesIn(resource.properties.DBProxyName, resource.stack)[0];
      for (const cluster of index.referencesIn(resource.properties.DBClusterIdentifiers ?? [], resource.stack)) {
        addEdge(proxy && nodeOf.get(proxy.uid), nodeOf.get(cluster.uid));
      }
    }
    // Internet-facing load balancers receive the users' traffic even without a 0.0.0.0/0 rule (IPv6, prefix lists).
    if (resource.type === 'AWS::ElasticLoadBalancingV2::LoadBalancer' && resource.properties.Scheme !== 'internal') {
      internetUsed = true;
      addEdge(internetNodeId, nodeOf.get(resource.uid));
    }
    if (resource.type === 'AWS::CloudFront::Distribution') {
      internetUsed = true;
      addEdge(internetNodeId, nodeOf.get(resource.uid));
    }
  }

  if (internetUsed) nodes.push({ id: internetNodeId, tier: 'edge', title: 'Internet', details: ['users'] });
  dedupeTitles(nodeId, nodes, index, multiStack);

  return {
    nodes: nodes.sort((a, b) => tierOrder.indexOf(a.tier) - tierOrder.indexOf(b.tier) || compare(a.title, b.title) || compare(a.id, b.id)),
    edges: [...edges.values()]
      .map(({ from, to, labels }) => ({
        from,
        to,
        ...(labels.size ? { label: [...labels].sort(compare).join(', ') } : {}),
      }))
      .sort((a, b) => compare(a.from, b.from) || compare(a.to, b.to)),
  };
}

function makeNode(
  nodeId: NodeIdOf,
  resource: ResourceHandle, tier: Tier, kind: string, details: string[]): ArchitectureNode {
  return {
    id: nodeId(resource.stack, resource.logicalId),
    tier,
    title: shortTitle(resource.path),
    details: [kind, ...details].filter((line) => line.length > 0),
  };
}

/** `Shop/Service/Service` reads as `Shop/Service`: an L2's main child often repeats its parent's id. */
function shortTitle(path: string): string {
  const parts = path.split('/');
  return parts.length > 1 && parts[parts.length - 1] === parts[parts.length - 2] ? parts.slice(0, -1).join('/') : path;
}

// Stack name prefixes only where two nodes would otherwise share a title.
function dedupeTitles(
  nodeId: NodeIdOf,
  nodes: ArchitectureNode[], index: ResourceIndex, multiStack: boolean): void {
  if (!multiStack) return;
  const counts = new Map<string, number>();
  for (const node of nodes) counts.set(node.title, (counts.get(node.title) ?? 0) + 1);
  for (const [position, node] of nodes.entries()) {
    if ((counts.get(node.title) ?? 0) < 2) continue;
    const resource = index.all.find((r) => nodeId(r.stack, r.logicalId) === node.id);
    if (resource) nodes[position] = { ...node, title: `${resource.stack.stackName}: ${node.title}` };
  }
}

/**
 * Mermaid-safe node ids (letters, digits, underscores), stable for a given resource: stack name and
 * logical id, plus the environment when one stack name is deployed to several regions.
 */
function nodeIds(templates: AssemblyTemplates): NodeIdOf {
  const counts = new Map<string, number>();
  for (const stack of templates.stacks) counts.set(stack.stackName, (counts.get(stack.stackName) ?? 0) + 1);
  return (stack, local) =>
    `${counts.get(stack.stackName) === 1 ? stack.stackName : stack.key}_${local}`.replace(/[^A-Za-z0-9]/g, '_');
}

type NodeIdOf = (stack: StackTemplate, local: string) => string;

function portLabel(rule: Record<string, unknown>): string {
  const protocol = String(rule.IpProtocol ?? '');
  if (protocol === '-1') return 'all traffic';
  const from = portText(rule.FromPort);
  const to = portText(rule.ToPort);
  return `${protocol.toUpperCase()} ${from === to ? from : `${from}-${to}`}`;
}

// A port taken from another resource (`Fn::GetAtt: [Cluster, Endpoint.Port]`) reads as its attribute name.
function portText(port: unknown): string {
  if (typeof port === 'number' || typeof port === 'string') return String(port);
  const getAtt = (port as Record<string, unknown> | undefined)?.['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[1] === 'string') return getAtt[1];
  return '(computed)';
}

function referencing(index: ResourceIndex, target: ResourceHandle, type: string, property?: string): ResourceHandle[] {
  return index.all.filter(
    (resource) =>
      resource.type === type &&
      resource.stack === target.stack &&
      index
        .referencesIn(property ? resource.properties[property] : resource.properties, resource.stack)
        .some((referenced) => referenced.uid === target.uid),
  );
}

function describeVpc(vpc: ResourceHandle, index: ResourceIndex) {
  const subnets = referencing(index, vpc, 'AWS::EC2::Subnet', 'VpcId');
  const zones = new Set(subnets.map((subnet) => JSON.stringify(subnet.properties.AvailabilityZone)));
  const nat = index.all.filter(
    (r) => r.type === 'AWS::EC2::NatGateway' && r.stack === vpc.stack && r.path.startsWith(`${vpc.path}/`),
  ).length;
  return {
    kind: 'VPC',
    details: [`${zones.size} AZs · ${subnets.length} subnets · ${nat} NAT gateway${nat === 1 ? '' : 's'}`],
  };
}

function describeLoadBalancer(lb: ResourceHandle, index: ResourceIndex) {
  const type = lb.properties.Type === 'network' ? 'Network' : 'Application';
  const listeners = referencing(index, lb, 'AWS::ElasticLoadBalancingV2::Listener', 'LoadBalancerArn')
    .map((listener) => `${String(listener.properties.Protocol ?? '')} ${String(listener.properties.Port ?? '')}`)
    .sort(compare);
  return {
    kind: `${type} Load Balancer (${lb.properties.Scheme === 'internal' ? 'internal' : 'internet-facing'})`,
    details: listeners.length ? [`listeners: ${listeners.join(', ')}`] : [],
  };
}

function describeService(service: ResourceHandle, index: ResourceIndex) {
  const details: string[] = [];
  const taskDefinition = index
    .referencesIn(service.properties.TaskDefinition, service.stack)
    .find((r) => r.type === 'AWS::ECS::TaskDefinition');
  if (taskDefinition?.properties.Cpu !== undefined) {
    details.push(`${String(taskDefinition.properties.Cpu)} CPU units · ${String(taskDefinition.properties.Memory)} MiB`);
  }
  const scaling = index.all.find(
    (r) =>
      r.type === 'AWS::ApplicationAutoScaling::ScalableTarget' &&
      index.referencesIn(r.properties.ResourceId, r.stack).some((referenced) => referenced.uid === service.uid),
  );
  if (scaling) {
    details.push(`tasks: ${String(scaling.properties.MinCapacity)}-${String(scaling.properties.MaxCapacity)} (autoscaling)`);
  } else if (service.properties.DesiredCount !== undefined) {
    details.push(`tasks: ${String(service.properties.DesiredCount)}`);
  }
  const launchType = service.properties.LaunchType ?? (service.properties.CapacityProviderStrategy ? 'capacity providers' : 'EC2');
  return { kind: `ECS service (${String(launchType)})`, details };
}

function describeCluster(cluster: ResourceHandle, index: ResourceIndex) {
  const instances = referencing(index, cluster, 'AWS::RDS::DBInstance', 'DBClusterIdentifier');
  const classes = [...new Set(instances.map((i) => String(i.properties.DBInstanceClass ?? 'serverless')))].sort(compare);
  const engine = `${String(cluster.properties.Engine ?? '')} ${String(cluster.properties.EngineVersion ?? '')}`.trim();
  const readers = Math.max(instances.length - 1, 0);
  return {
    kind: `Aurora cluster (${engine})`,
    details: [
      `${readers ? `writer + ${readers} reader${readers === 1 ? '' : 's'}` : 'writer only'}${classes.length ? ` · ${classes.join(', ')}` : ''}`,
    ],
  };
}

function describeReplicationGroup(group: ResourceHandle) {
  const p = group.properties;
  const engine = String(p.Engine ?? 'redis');
  const shards = Number(p.NumNodeGroups ?? 1);
  const nodes =
    p.NumCacheClusters !== undefined
      ? `${String(p.NumCacheClusters)} nodes`
      : `${shards} shard${shards === 1 ? '' : 's'} × ${Number(p.ReplicasPerNodeGroup ?? 0) + 1} nodes`;
  return { kind: `ElastiCache ${engine} replication group`, details: [`${String(p.CacheNodeType ?? '')} · ${nodes}`] };
}

function describeQueue(queue: ResourceHandle) {
  return { kind: queue.properties.FifoQueue ? 'SQS FIFO queue' : 'SQS queue', details: [] };
}

/** Renders the graph as a Mermaid flowchart, one subgraph per tier. */
export function renderMermaid(graph: ArchitectureGraph): string {
  const lines = ['flowchart LR'];
  for (const tier of tierOrder) {
    const nodes = graph.nodes.filter((node) => node.tier === tier);
    if (!nodes.length) continue;
    lines.push(`  subgraph tier_${tier}["${tierLabels[tier]}"]`);
    for (const node of nodes) {
      const label = [node.title, ...node.details].map(escapeLabel).join('<br/>');
      lines.push(node.id === internetNodeId ? `    ${node.id}(("${label}"))` : `    ${node.id}["${label}"]`);
    }
    lines.push('  end');
  }
  for (const edge of graph.edges) {
    lines.push(edge.label ? `  ${edge.from} -->|"${escapeLabel(edge.label)}"| ${edge.to}` : `  ${edge.from} --> ${edge.to}`);
  }
  return lines.join('\n');
}

function escapeLabel(text: string): string {
  return text.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
}
