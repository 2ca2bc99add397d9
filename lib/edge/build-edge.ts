/**
 * Builds the edge of stage global: the edge stack in us-east-1, the storefront's failover copy in a second region,
 * and the home region's cut-over of the domain's record to the distribution.
 */
import type { Construct } from 'constructs';
import type { ConfigProblem, FrontDoor } from '../config/deployment-context';
import type { EdgeConfig } from '../config/stage-config';
import { StageConfigError } from '../config/validate-stage-config';
import { EdgeReplicaStack, EdgeStack } from '../stacks/edge-stack';
import type { ServiceStack } from '../stacks/service-stack';
import { EDGE_REGION, storefrontReplicaRegion } from './names';

/** Construct ids of the edge's stacks (stack names `<prefix>-edge`, `<prefix>-edge-replica`). */
export const EDGE_STACK_IDS = {
  edge: 'ShopEdge',
  replica: 'ShopEdgeReplica',
} as const;

/** Properties of {@link buildEdge}. */
export interface BuildEdgeProps {
  /** The stage's `global.edge`. */
  readonly config: EdgeConfig;
  /** Account of every stack. */
  readonly account: string;
  /** Prefix of stack names and physical names. */
  readonly prefix: string;
  /** The deployment's regions, home first. */
  readonly regions: readonly string[];
  /** The shop's domain name (`-c domainName=...`); required. */
  readonly domainName?: string;
  /** Its public hosted zone (`-c hostedZoneId=... -c hostedZoneName=...`); required. */
  readonly hostedZone?: { readonly hostedZoneId: string; readonly zoneName: string };
  /** The home region's service stack: its record of the domain is pointed at the edge. */
  readonly homeService: ServiceStack;
  /**
   * What the domain points at: `edge` moves it to the distribution (the home service stack's record, in place).
   *
   * @default - the domain is left where the home service stack points it
   */
  readonly frontDoor?: FrontDoor;
  /**
   * Where the writes go (`-c writerRegion`): the `/api/*` function's home origin (writes and pinned viewers). The
   * storefront's replica region stays derived from `regions`.
   *
   * @default - the first of `regions`
   */
  readonly writerRegion?: string;
}

/** The edge's stacks. */
export interface EdgeStacks {
  /** `<prefix>-edge` in us-east-1. */
  readonly edge: EdgeStack;
  /** `<prefix>-edge-replica` in the replica region. */
  readonly replica: EdgeReplicaStack;
}

/**
 * Builds the edge's stacks on `scope` (the app).
 *
 * @throws StageConfigError when the domain or the hosted zone is missing
 */
export function buildEdge(scope: Construct, props: BuildEdgeProps): EdgeStacks {
  const problems: ConfigProblem[] = [];
  if (props.domainName === undefined) {
    problems.push({
      key: 'context.domainName',
      received: undefined,
      fix: 'stage global serves the shop through CloudFront under its domain: pass -c domainName=shop.example.com',
    });
  }
  if (props.hostedZone === undefined) {
    problems.push({
      key: 'context.hostedZoneId',
      received: undefined,
      fix:
        'stage global validates its certificates and writes its records in the hosted zone: pass ' +
        '-c hostedZoneId=Z... -c hostedZoneName=example.com',
    });
  }
  if (problems.length > 0 || props.domainName === undefined || props.hostedZone === undefined) {
    throw new StageConfigError(problems);
  }
  const homeRegion = props.writerRegion ?? props.regions[0];
  if (homeRegion === undefined) throw new Error('buildEdge: no regions');
  const replicaRegion = storefrontReplicaRegion(props.regions);

  const replica = new EdgeReplicaStack(scope, EDGE_STACK_IDS.replica, {
    env: { account: props.account, region: replicaRegion },
    stackName: `${props.prefix}-edge-replica`,
    description: 'Shop blueprint: the storefront failover copy for CloudFront (stage global)',
    prefix: props.prefix,
  });
  const edge = new EdgeStack(scope, EDGE_STACK_IDS.edge, {
    env: { account: props.account, region: EDGE_REGION },
    stackName: `${props.prefix}-edge`,
    description: 'Shop blueprint: CloudFront, WAF, the storefront bucket and the certificate (stage global)',
    config: props.config,
    prefix: props.prefix,
    domainName: props.domainName,
    hostedZone: props.hostedZone,
    homeRegion,
    replicaRegion,
  });
  // The files are in the failover bucket before the distribution can fail over to it.
  edge.addStackDependency(replica, 'the origin group fails over to the replica bucket');
  // The domain moves to CloudFront only with `-c frontDoor=edge`: CloudFront's `/api/*` origin `api.<domainName>` is
  // the routing stack's, which deploys after every region's service stack, so the move is a step of its own.
  if (props.frontDoor === 'edge')
    props.homeService.pointDomainAtEdge({ hostname: edge.edgeHostname, stack: edge });
  return { edge, replica };
}
