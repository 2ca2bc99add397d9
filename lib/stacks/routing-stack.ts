import {
  ArnFormat,
  CfnOutput,
  Duration,
  Stack,
  Tags,
  Token,
  Validations,
  type StackProps,
} from 'aws-cdk-lib';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import type { ConfigProblem } from '../config/deployment-context';
import {
  CONTINENTS,
  apiHostname,
  continentsOf,
  failoverRegionOf,
  regionalApiHostname,
} from '../config/global-routing';
import { pascalCase } from '../config/naming';
import type { GlobalRoutingConfig } from '../config/stage-config';
import { StageConfigError } from '../config/validate-stage-config';
import { HEALTH_CHECK_METRICS_REGION, RegionalHealthAlarms } from '../constructs/regional-health-alarms';
import type { HostedZoneReference } from '../constructs/service-platform';

/** Defaults of `global.routing` (GlobalRoutingConfig). */
export const ROUTING_DEFAULTS = {
  policy: 'geolocation',
  healthCheckIntervalSeconds: 10,
  healthCheckFailureThreshold: 3,
  /** What the health checks request on each region's API hostname: the app's readiness (its database answers). */
  healthCheckPath: '/readyz',
} as const;

/** The two routing policies of the API hostname. */
export type RoutingPolicy = NonNullable<GlobalRoutingConfig['policy']>;

/** The name of a region's failover pair, e.g. `eu-west-1.api-failover.shop.example.com`. */
export function failoverPairHostname(region: string, domainName: string): string {
  return `${region}.api-failover.${domainName}`;
}

/**
 * The hostname a policy's records are published under: `api.<domainName>` for the stage's policy, and
 * `api-<policy>.<domainName>` for the other one (both synthesised, both resolvable, for comparison).
 */
export function policyHostname(policy: RoutingPolicy, chosen: RoutingPolicy, domainName: string): string {
  return policy === chosen ? apiHostname(domainName) : `api-${policy}.${domainName}`;
}

/** SSM parameter (in us-east-1) holding a region's health-check id when the home region is elsewhere. */
export function healthCheckIdParameterName(prefix: string, region: string): string {
  return `/${prefix}/routing/health-check-id/${region}`;
}

/** Properties of {@link RoutingStack}. */
export interface RoutingStackProps extends StackProps {
  /** Every region of the deployment, the home region first (the `*` default and the end of the failover ring). */
  readonly regions: readonly string[];
  /** The shop's domain, e.g. `shop.example.com`. */
  readonly domainName: string;
  /** Public hosted zone holding `domainName` (every record of this stack goes there). */
  readonly hostedZone: HostedZoneReference;
  /** The stage's `global.routing`. */
  readonly routing: GlobalRoutingConfig;
  /** Prefix of physical names (alarm names, parameter names, health-check name tags). */
  readonly prefix: string;
  /** Email subscribed to the health-check alarm topic (when the alarms are in this stack). @default - none */
  readonly alarmEmail?: string;
  /**
   * Where the writes go (`-c writerRegion`): the `*` default record leads to this region's failover pair, so viewers
   * no continent record claims reach the writers. The stack itself stays in the first region.
   *
   * @default - the first of `regions`
   */
  readonly writerRegion?: string;
}

/**
 * Route 53 routing of the API hostname among the regions (stage global), in the home region. Every region's own
 * stack publishes `api-<region>.<domainName>` (alias to its API gateway custom domain); this stack aliases those
 * names only, by name (no cross-region reference), so it deploys after them.
 *
 * - **Health checks**: one per region, HTTPS with SNI on `api-<region>.<domainName>` `GET /readyz`.
 * - **Failover pairs**: `<region>.api-failover.<domainName>`, PRIMARY that region (with its health check),
 *   SECONDARY `failoverRegionOf(region)` (with that region's health check).
 * - **Geolocation**: by continent (`global.routing.continents`, else `continentsOf`) to the region's failover pair,
 *   and a `*` default to the home region's pair; each evaluates its target's health, so a continent whose pair is
 *   entirely unhealthy falls back to the default.
 * - **Latency**: one record per region (its health check), unhealthy regions drop out.
 *
 * `global.routing.policy` picks which of geolocation and latency answers `api.<domainName>`; the other is
 * published as `api-<policy>.<domainName>`.
 *
 * Health-check alarms need us-east-1 (where Route 53 publishes the metrics): they are in this stack when the home
 * region is us-east-1. Elsewhere this stack writes each health check's id to an SSM parameter in us-east-1
 * ({@link healthCheckIdParameterName}), which `RoutingAlarmsStack` reads at each deployment: a value of our own,
 * overwritten in place when a health check is replaced (a changed interval replaces it), never a CloudFormation
 * export that would lock it.
 */
export class RoutingStack extends Stack {
  /** Each region's health check, by region code. */
  public readonly healthChecks: Readonly<Record<string, route53.HealthCheck>>;
  /** Each region's failover pair, by region code. */
  public readonly failoverRecords: Readonly<
    Record<string, { readonly primary: route53.ARecord; readonly secondary: route53.ARecord }>
  >;
  /** The geolocation records, by set identifier (`<region>-<continent>`, `default`). */
  public readonly geolocationRecords: Readonly<Record<string, route53.ARecord>>;
  /** The latency records, by region code. */
  public readonly latencyRecords: Readonly<Record<string, route53.ARecord>>;
  /** The hostname each policy's records are published under. */
  public readonly hostnames: Readonly<Record<RoutingPolicy, string>>;
  /** The health-check alarms, when this stack is in us-east-1. */
  public readonly alarms?: RegionalHealthAlarms;

  constructor(scope: Construct, id: string, props: RoutingStackProps) {
    super(scope, id, props);
    const problems = routingProblems(props.routing, props.regions);
    if (problems.length > 0) throw new StageConfigError(problems);
    const { regions, domainName, routing } = props;
    const home = props.writerRegion ?? regions[0]!;
    const chosen = routing.policy ?? ROUTING_DEFAULTS.policy;
    const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'HostedZone', props.hostedZone);
    // An alias to another record of the same zone, by name: the records of the regions' own stacks and of this one.
    const toName = (name: string) =>
      route53.RecordTarget.fromAlias({
        bind: () => ({
          dnsName: name,
          hostedZoneId: props.hostedZone.hostedZoneId,
          evaluateTargetHealth: true,
        }),
      });

    const healthChecks: Record<string, route53.HealthCheck> = {};
    for (const region of regions) {
      const check = new route53.HealthCheck(this, `HealthCheck${pascalCase(region)}`, {
        type: route53.HealthCheckType.HTTPS,
        fqdn: regionalApiHostname(region, domainName),
        port: 443,
        resourcePath: ROUTING_DEFAULTS.healthCheckPath,
        // API Gateway custom domains answer TLS only for a name they serve, sent as SNI.
        enableSNI: true,
        requestInterval: Duration.seconds(
          routing.healthCheckIntervalSeconds ?? ROUTING_DEFAULTS.healthCheckIntervalSeconds,
        ),
        failureThreshold: routing.healthCheckFailureThreshold ?? ROUTING_DEFAULTS.healthCheckFailureThreshold,
        // Latency graphs cost extra and cannot be changed once a check exists (nor can the interval); the
        // gateway's own latency metric (the region's dashboard) measures what matters.
        measureLatency: false,
      });
      Tags.of(check).add('Name', `${props.prefix}-api-${region}`);
      healthChecks[region] = check;
    }
    this.healthChecks = healthChecks;

    const failoverRecords: Record<string, { primary: route53.ARecord; secondary: route53.ARecord }> = {};
    for (const region of regions) {
      const next = failoverRegionOf(region, regions);
      const pair = (role: 'Primary' | 'Secondary', target: string) =>
        new route53.ARecord(this, `Failover${pascalCase(region)}${role}`, {
          zone,
          recordName: failoverPairHostname(region, domainName),
          failover: role === 'Primary' ? route53.Failover.PRIMARY : route53.Failover.SECONDARY,
          setIdentifier: `${region}-${role.toLowerCase()}`,
          healthCheck: healthChecks[target]!,
          target: toName(regionalApiHostname(target, domainName)),
          comment: `Viewers of ${region}: ${region} while healthy, else ${next}`,
        });
      failoverRecords[region] = { primary: pair('Primary', region), secondary: pair('Secondary', next) };
    }
    this.failoverRecords = failoverRecords;

    this.hostnames = {
      geolocation: policyHostname('geolocation', chosen, domainName),
      latency: policyHostname('latency', chosen, domainName),
    };
    const geolocationRecords: Record<string, route53.ARecord> = {};
    for (const region of regions) {
      for (const continent of continentsFor(region, routing)) {
        const setIdentifier = `${region}-${continent}`;
        geolocationRecords[setIdentifier] = new route53.ARecord(
          this,
          `Geo${pascalCase(region)}${continent}`,
          {
            zone,
            recordName: this.hostnames.geolocation,
            geoLocation: route53.GeoLocation.continent(continent as route53.Continent),
            setIdentifier,
            target: toName(failoverPairHostname(region, domainName)),
            comment: `Viewers in continent ${continent}: ${region}'s failover pair`,
          },
        );
      }
    }
    // Every viewer no continent record claims (and a continent whose pair is down) goes to the writer region's pair
    // (the home region, unless `-c writerRegion` moved the writers).
    geolocationRecords.default = new route53.ARecord(this, 'GeoDefault', {
      zone,
      recordName: this.hostnames.geolocation,
      geoLocation: route53.GeoLocation.default(),
      setIdentifier: 'default',
      target: toName(failoverPairHostname(home, domainName)),
      comment: `Viewers no continent record claims: the ${home === regions[0] ? 'home' : 'writer'} region ${home}'s failover pair`,
    });
    this.geolocationRecords = geolocationRecords;

    const latencyRecords: Record<string, route53.ARecord> = {};
    for (const region of regions) {
      latencyRecords[region] = new route53.ARecord(this, `Latency${pascalCase(region)}`, {
        zone,
        recordName: this.hostnames.latency,
        region,
        setIdentifier: region,
        healthCheck: healthChecks[region]!,
        target: toName(regionalApiHostname(region, domainName)),
        comment: `The lowest-latency healthy region; ${region} while healthy`,
      });
    }
    this.latencyRecords = latencyRecords;

    const healthCheckIds = Object.fromEntries(
      Object.entries(healthChecks).map(([region, check]) => [region, check.healthCheckId]),
    );
    if (Token.isUnresolved(this.region) || this.region === HEALTH_CHECK_METRICS_REGION) {
      this.alarms = new RegionalHealthAlarms(this, 'HealthAlarms', {
        healthCheckIds,
        prefix: props.prefix,
        ...(props.alarmEmail !== undefined ? { alarmEmail: props.alarmEmail } : {}),
      });
    } else {
      this.publishHealthCheckIds(healthCheckIds, props.prefix);
    }

    for (const [region, check] of Object.entries(healthChecks)) {
      new CfnOutput(this, `HealthCheckId${pascalCase(region)}`, {
        value: check.healthCheckId,
        description: `Route 53 health check of ${regionalApiHostname(region, domainName)}${ROUTING_DEFAULTS.healthCheckPath} (aws route53 get-health-check-status --health-check-id)`,
      });
    }
    new CfnOutput(this, 'ApiHostname', {
      value: apiHostname(domainName),
      description: `The routed API hostname (${chosen} routing): CloudFront's /api/* origin`,
    });
    new CfnOutput(this, 'AlternativeApiHostname', {
      value: this.hostnames[chosen === 'geolocation' ? 'latency' : 'geolocation'],
      description: 'The same regions under the other routing policy, for comparison (dig, curl)',
    });
  }

  /**
   * Writes each region's health-check id to an SSM parameter in us-east-1, overwritten whenever the id changes
   * (a replaced health check) and deleted with the stack; `RoutingAlarmsStack` reads them.
   */
  private publishHealthCheckIds(healthCheckIds: Readonly<Record<string, string>>, prefix: string): void {
    for (const [region, healthCheckId] of Object.entries(healthCheckIds)) {
      const name = healthCheckIdParameterName(prefix, region);
      const arn = this.formatArn({
        service: 'ssm',
        region: HEALTH_CHECK_METRICS_REGION,
        resource: 'parameter',
        resourceName: name.slice(1),
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      });
      const put: cr.AwsSdkCall = {
        service: 'SSM',
        action: 'putParameter',
        region: HEALTH_CHECK_METRICS_REGION,
        parameters: {
          Name: name,
          Value: healthCheckId,
          Type: 'String',
          Overwrite: true,
          Description: `Route 53 health check of the shop API in ${region} (written by ${this.stackName})`,
        },
        physicalResourceId: cr.PhysicalResourceId.of(name),
      };
      new cr.AwsCustomResource(this, `HealthCheckIdParameter${pascalCase(region)}`, {
        onCreate: put,
        onUpdate: put,
        onDelete: {
          service: 'SSM',
          action: 'deleteParameter',
          region: HEALTH_CHECK_METRICS_REGION,
          parameters: { Name: name },
          ignoreErrorCodesMatching: 'ParameterNotFound',
        },
        policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: [arn] }),
        installLatestAwsSdk: false,
      });
    }
    // The provider function every AwsCustomResource of the stack shares.
    const provider = this.node.tryFindChild(
      `AWS${cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '')}`,
    );
    if (provider !== undefined) {
      Validations.of(provider).acknowledge({
        id: 'cdk-validator-cfnguard::lambda_inside_vpc_check',
        reason:
          "AwsCustomResource's provider function calls only the SSM API (the health-check id parameters in " +
          'us-east-1) during deployments and reaches nothing in a VPC; the routing stack has no VPC (Route 53 only).',
      });
    }
    const providerRole = provider?.node.tryFindChild('ServiceRole');
    if (providerRole !== undefined) {
      Validations.of(providerRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          "AwsCustomResource's provider function writes its own logs with the AWS managed basic execution policy " +
          '(CloudWatch Logs only); its one SDK call (ssm:PutParameter/DeleteParameter on the health-check id ' +
          'parameters) has a policy scoped to those parameter ARNs.',
      });
    }
  }
}

/** Continents `region` serves: `global.routing.continents[region]`, else {@link continentsOf}. */
export function continentsFor(region: string, routing: GlobalRoutingConfig): readonly string[] {
  return routing.continents?.[region] ?? continentsOf(region);
}

/**
 * Problems of `global.routing` against the deployment's regions (every one, with the key, the value and the fix).
 */
export function routingProblems(routing: GlobalRoutingConfig, regions: readonly string[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const key = (field: string) => `global.routing.${field}`;
  if (regions.length < 2) {
    problems.push({
      key: 'context.regions',
      received: regions.join(','),
      fix: 'routing with failover needs at least two regions, home first: -c regions=us-east-1,eu-west-1,ap-southeast-2',
    });
  }
  if (routing.policy !== undefined && routing.policy !== 'geolocation' && routing.policy !== 'latency') {
    problems.push({ key: key('policy'), received: routing.policy, fix: "use 'geolocation' or 'latency'" });
  }
  const interval = routing.healthCheckIntervalSeconds;
  if (interval !== undefined && interval !== 10 && interval !== 30) {
    problems.push({
      key: key('healthCheckIntervalSeconds'),
      received: interval,
      fix: 'Route 53 checks every 10 or 30 seconds: use 10 or 30',
    });
  }
  const threshold = routing.healthCheckFailureThreshold;
  if (threshold !== undefined && (!Number.isInteger(threshold) || threshold < 1 || threshold > 10)) {
    problems.push({
      key: key('healthCheckFailureThreshold'),
      received: threshold,
      fix: 'use a whole number of consecutive failed checks from 1 to 10',
    });
  }
  const claimedBy = new Map<string, string>();
  for (const [region, continents] of Object.entries(routing.continents ?? {})) {
    if (!regions.includes(region)) {
      problems.push({
        key: key(`continents.${region}`),
        received: continents,
        fix: `${region} is not a region of this deployment (${regions.join(', ')}): use one of them or remove it`,
      });
    }
    const unknown = continents.filter((code) => !(CONTINENTS as readonly string[]).includes(code));
    if (unknown.length > 0) {
      problems.push({
        key: key(`continents.${region}`),
        received: continents,
        fix: `use Route 53 continent codes (${CONTINENTS.join(', ')}); ${unknown.join(', ')} is not one`,
      });
    }
  }
  for (const region of regions) {
    for (const continent of continentsFor(region, routing)) {
      const other = claimedBy.get(continent);
      if (other !== undefined) {
        problems.push({
          key: key('continents'),
          received: routing.continents ?? {},
          fix:
            `continent ${continent} is claimed by both ${other} and ${region} (explicitly or by region prefix): ` +
            `give it to one of them in global.routing.continents (e.g. "${region}": [...] without ${continent})`,
        });
      } else {
        claimedBy.set(continent, region);
      }
    }
  }
  return problems;
}
