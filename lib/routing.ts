/**
 * Stage global's Route 53 routing of the API: each region's API hostnames (in its own service stack), the routing
 * stack in the home region, and the health-check alarms in us-east-1 (in the routing stack when the home region is
 * us-east-1, else in a stack of their own there). Built after every region, from names only: no stack refers to a
 * value of a stack in another region.
 */
import type { Construct } from 'constructs';
import type { ConfigProblem } from './config/deployment-context';
import type { StageConfig } from './config/stage-config';
import { StageConfigError } from './config/validate-stage-config';
import { addRegionalHealthWidgets, HEALTH_CHECK_METRICS_REGION } from './constructs/regional-health-alarms';
import type { HostedZoneReference } from './constructs/service-platform';
import type { RegionStacks } from './region';
import { RoutingAlarmsStack } from './stacks/routing-alarms-stack';
import { RoutingStack } from './stacks/routing-stack';

/** Construct ids of the routing stacks (stack names `<prefix>-routing`, `<prefix>-routing-alarms`). */
export const ROUTING_STACK_IDS = {
  routing: 'ShopRouting',
  alarms: 'ShopRoutingAlarms',
} as const;

/** Properties of {@link buildGlobalRouting}. */
export interface GlobalRoutingProps {
  /** The stage (nothing is built unless it has `global`). */
  readonly config: StageConfig;
  /** Every region's stacks by region code, the home region first. */
  readonly regions: Readonly<Record<string, RegionStacks>>;
  /** Account of every stack. */
  readonly account: string;
  /** Prefix of stack names and physical names. */
  readonly prefix: string;
  /** The shop's domain (`-c domainName`). @default - none: a synth error with stage global */
  readonly domainName?: string;
  /** The hosted zone (`-c hostedZoneId`, `-c hostedZoneName`). @default - none: a synth error with stage global */
  readonly hostedZone?: HostedZoneReference;
  /** Email subscribed to the health-check alarm topic. @default - no subscription */
  readonly alarmEmail?: string;
  /** Where the writes go (`-c writerRegion`): the `*` default record's region. @default - the first region */
  readonly writerRegion?: string;
}

/** The stacks {@link buildGlobalRouting} made. */
export interface GlobalRoutingStacks {
  /** Records and health checks (`ShopRouting`), in the home region. */
  readonly routing: RoutingStack;
  /** The health-check alarms (`ShopRoutingAlarms`) when the home region is not us-east-1. */
  readonly alarms?: RoutingAlarmsStack;
}

/**
 * Builds stage global's API routing, when the stage has `global`: adds the regional API hostnames to every region's
 * service stack and each region's dashboard row of health-check alarms, then the routing stack (and, when the home
 * region is not us-east-1, the alarms stack), ordered after the stacks whose records they alias.
 *
 * @returns the stacks made, or `undefined` when the stage has no `global`
 * @throws StageConfigError when the domain or the hosted zone is missing
 */
export function buildGlobalRouting(
  scope: Construct,
  props: GlobalRoutingProps,
): GlobalRoutingStacks | undefined {
  const { config, prefix } = props;
  if (config.global === undefined) return undefined;
  const problems: ConfigProblem[] = [];
  if (props.domainName === undefined) {
    problems.push({
      key: 'context.domainName',
      received: undefined,
      fix: 'stage global serves api.<domainName> and api-<region>.<domainName>: pass -c domainName=shop.example.com',
    });
  }
  if (props.hostedZone === undefined) {
    problems.push({
      key: 'context.hostedZoneId',
      received: undefined,
      fix:
        'stage global writes its routing records and validates its certificates in the hosted zone: pass ' +
        '-c hostedZoneId=Z... -c hostedZoneName=example.com',
    });
  }
  if (problems.length > 0) throw new StageConfigError(problems);
  const domainName = props.domainName!;
  const hostedZone = props.hostedZone!;
  const regionCodes = Object.keys(props.regions);
  const home = regionCodes[0]!;

  for (const stacks of Object.values(props.regions)) {
    stacks.service.addRegionalApiDomain({ domainName, hostedZone });
    addRegionalHealthWidgets(stacks.service.monitoring.dashboard, prefix, regionCodes);
  }

  const routing = new RoutingStack(scope, ROUTING_STACK_IDS.routing, {
    env: { account: props.account, region: home },
    stackName: `${prefix}-routing`,
    description:
      'Shop blueprint: Route 53 health checks, failover, geolocation and latency records of the API',
    terminationProtection: true,
    regions: regionCodes,
    domainName,
    hostedZone,
    routing: config.global.routing,
    prefix,
    ...(props.alarmEmail !== undefined ? { alarmEmail: props.alarmEmail } : {}),
    ...(props.writerRegion !== undefined ? { writerRegion: props.writerRegion } : {}),
  });
  // Route 53 refuses an alias to a record that does not exist yet: every region's `api-<region>` record first.
  for (const stacks of Object.values(props.regions))
    routing.addStackDependency(stacks.service, 'aliases its api-<region> record');
  if (home === HEALTH_CHECK_METRICS_REGION) return { routing };

  const alarms = new RoutingAlarmsStack(scope, ROUTING_STACK_IDS.alarms, {
    env: { account: props.account, region: HEALTH_CHECK_METRICS_REGION },
    stackName: `${prefix}-routing-alarms`,
    description:
      'Shop blueprint: alarms on the Route 53 health checks of the API (their metrics are in us-east-1)',
    regions: regionCodes,
    prefix,
    ...(props.alarmEmail !== undefined ? { alarmEmail: props.alarmEmail } : {}),
  });
  // It reads the health-check ids the routing stack writes.
  alarms.addStackDependency(routing, 'reads the health-check ids it writes');
  return { routing, alarms };
}
