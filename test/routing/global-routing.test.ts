/**
 * Stage global's API routing in the whole app (home us-east-1, two more regions): each region's certificate,
 * custom domains and `api-<region>` record in its own service stack; the routing stack's health checks, failover
 * pairs, geolocation and latency records, and health-check alarms (us-east-1); every dashboard's health row;
 * cdk-nag clean.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { DISABLE_ASSET_STAGING_CONTEXT } from 'aws-cdk-lib/cx-api';
import { blueprintStacks, createBlueprintApp } from '../../lib/blueprint';
import type { StageConfig } from '../../lib/config';
import { ROUTING_STACK_IDS } from '../../lib/routing';
import { stage1m, stageGlobal } from '../../stages';
import type { ValidationReport } from '../support/synth';

// Three regions of stage global are synthesised once: allow for a slow, loaded machine.
jest.setTimeout(600_000);

const DOMAIN = 'shop.example.com';
const ZONE_ID = 'Z0123456789ABCDEFGHIJ';
const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2'] as const;
const HOME = REGIONS[0];

const config: StageConfig = stageGlobal;

const CONTEXT = {
  [DISABLE_ASSET_STAGING_CONTEXT]: true,
  domainName: DOMAIN,
  hostedZoneId: ZONE_ID,
  hostedZoneName: 'example.com',
  frontDoor: 'gateway',
};

const outdir = mkdtempSync(join(tmpdir(), 'routing-test-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

// GIVEN: the app as `cdk synth -c regions=... -c domainName=... -c hostedZoneId=... -c frontDoor=gateway` builds it
const app = createBlueprintApp({
  config,
  outdir,
  context: { ...CONTEXT, regions: REGIONS.join(',') },
});
const printed: string[] = [];
const consoleError = console.error;
console.error = (...args: unknown[]) => void printed.push(args.map(String).join(' '));
let assembly: ReturnType<typeof app.synth>;
try {
  assembly = app.synth();
} finally {
  console.error = consoleError;
}
const stacks = blueprintStacks(app);
const templateOf = (stack: Stack) => Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template);
const services = Object.fromEntries(
  REGIONS.map((region) => [region, templateOf(stacks.regions[region]!.service)]),
);
const routingStack = app.node.findChild(ROUTING_STACK_IDS.routing) as Stack;
const routing = templateOf(routingStack);
const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as ValidationReport;

type Resource = { Type: string; Properties: Record<string, unknown> };
const recordsNamed = (name: string): Resource[] =>
  Object.values(routing.findResources('AWS::Route53::RecordSet')).filter(
    (record) => (record as Resource).Properties.Name === `${name}.`,
  ) as Resource[];
const aliasName = (record: Resource) =>
  (record.Properties.AliasTarget as { DNSName: string; EvaluateTargetHealth: boolean }).DNSName;
/** The health check's region (its FQDN `api-<region>.<domain>`) a record's HealthCheckId refers to. */
const healthCheckRegion = (record: Resource): string => {
  const ref = (record.Properties.HealthCheckId as { Ref: string }).Ref;
  const check = routing.findResources('AWS::Route53::HealthCheck')[ref] as Resource;
  const fqdn = (check.Properties.HealthCheckConfig as { FullyQualifiedDomainName: string })
    .FullyQualifiedDomainName;
  return fqdn.replace(/^api-/, '').replace(`.${DOMAIN}`, '');
};

describe.each(REGIONS)('the service stack in %s', (region) => {
  const template = services[region]!;

  test('has a DNS-validated certificate for api.<domain> and api-<region>.<domain>', () => {
    template.hasResourceProperties('AWS::CertificateManager::Certificate', {
      DomainName: `api.${DOMAIN}`,
      SubjectAlternativeNames: [`api-${region}.${DOMAIN}`],
      ValidationMethod: 'DNS',
      DomainValidationOptions: Match.arrayWith([
        { DomainName: `api.${DOMAIN}`, HostedZoneId: ZONE_ID },
        { DomainName: `api-${region}.${DOMAIN}`, HostedZoneId: ZONE_ID },
      ]),
    });
  });

  test('serves both hostnames on the HTTP API with TLS 1.2 and maps them to its $default stage', () => {
    for (const name of [`api.${DOMAIN}`, `api-${region}.${DOMAIN}`]) {
      template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
        DomainName: name,
        DomainNameConfigurations: [Match.objectLike({ SecurityPolicy: 'TLS_1_2', EndpointType: 'REGIONAL' })],
      });
    }
    const mappings = Object.values(template.findResources('AWS::ApiGatewayV2::ApiMapping')) as Resource[];
    const regional = mappings.filter((mapping) =>
      JSON.stringify(mapping.Properties.DomainName).includes('RegionalApi'),
    );
    expect(regional).toHaveLength(2);
    for (const mapping of regional) {
      expect(mapping.Properties.ApiId).toEqual({ Ref: expect.stringMatching(/^GatewayApi/) });
      expect(mapping.Properties.Stage).toBe('$default');
    }
  });

  test('publishes api-<region>.<domain> as an alias to its own regional custom domain', () => {
    template.hasResourceProperties('AWS::Route53::RecordSet', {
      Name: `api-${region}.${DOMAIN}.`,
      Type: 'A',
      HostedZoneId: ZONE_ID,
      AliasTarget: {
        DNSName: {
          'Fn::GetAtt': [Match.stringLikeRegexp('^RegionalApiRegionalDomainName'), 'RegionalDomainName'],
        },
        HostedZoneId: {
          'Fn::GetAtt': [Match.stringLikeRegexp('^RegionalApiRegionalDomainName'), 'RegionalHostedZoneId'],
        },
      },
    });
  });

  test('refers to no other region (no cross-region reference)', () => {
    const json = JSON.stringify(
      assembly.getStackArtifact(stacks.regions[region]!.service.artifactId).template,
    );
    expect(json).not.toMatch(/ExportsReader|Fn::ImportValue[^}]*routing/);
  });

  test("shows every region's health-check alarm (us-east-1) on its dashboard", () => {
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard')) as Resource[];
    expect(dashboards).toHaveLength(1);
    // The body is a join of text and tokens (partition, region): tokens become placeholders, the rest parses.
    const join = (dashboards[0]!.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] })[
      'Fn::Join'
    ][1];
    const body = JSON.parse(join.map((part) => (typeof part === 'string' ? part : 'TOKEN')).join('')) as {
      widgets: { properties: { region?: string; annotations?: { alarms?: string[] } } }[];
    };
    const alarmWidgets = body.widgets.filter((widget) => widget.properties.annotations?.alarms !== undefined);
    // One alarm widget per region, each read from us-east-1 (where the alarms are), whatever this region.
    expect(
      alarmWidgets.map((widget) => [widget.properties.region, widget.properties.annotations!.alarms]),
    ).toEqual(
      REGIONS.map((other) => [
        'us-east-1',
        [`arn:aws:cloudwatch:us-east-1:123456789012:alarm:shop-api-${other}-unhealthy`],
      ]),
    );
  });
});

test("the home region's existing certificates, custom domains, mappings and records are unchanged (additions only)", () => {
  // GIVEN: stage 1m with the same context, home region only
  const before = createBlueprintApp({
    config: stage1m,
    nag: false,
    cloudFormationValidation: false,
    outdir: mkdtempSync(join(outdir, '1m-')),
    context: { ...CONTEXT, regions: HOME },
  });
  const oneM = Template.fromStack(blueprintStacks(before).service).toJSON().Resources as Record<
    string,
    Resource
  >;
  const global = assembly.getStackArtifact(stacks.regions[HOME]!.service.artifactId).template
    .Resources as Record<string, Resource>;
  const touched = [
    'AWS::CertificateManager::Certificate',
    'AWS::ApiGatewayV2::DomainName',
    'AWS::ApiGatewayV2::ApiMapping',
    'AWS::Route53::RecordSet',
  ];
  const existing = Object.entries(oneM).filter(([, resource]) => touched.includes(resource.Type));
  // THEN: the platform's certificate and alias record, the gateway's domain and mapping: still there as they were
  expect(existing.map(([, resource]) => resource.Type).sort()).toEqual([
    'AWS::ApiGatewayV2::ApiMapping',
    'AWS::ApiGatewayV2::DomainName',
    'AWS::CertificateManager::Certificate',
    'AWS::Route53::RecordSet',
  ]);
  for (const [logicalId, resource] of existing) expect(global[logicalId]).toEqual(resource);
  const added = Object.keys(global).filter(
    (logicalId) => oneM[logicalId] === undefined && touched.includes(global[logicalId]!.Type),
  );
  expect(added.every((logicalId) => logicalId.startsWith('RegionalApi'))).toBe(true);
  expect(added).toHaveLength(6);
});

describe('the routing stack', () => {
  test('is shop-routing in the home region, deployed after every service stack', () => {
    expect(routingStack.stackName).toBe('shop-routing');
    expect(routingStack.region).toBe(HOME);
    const dependencies = routingStack.dependencies.map((stack) => stack.node.path);
    for (const region of REGIONS) {
      expect(dependencies).toContain(stacks.regions[region]!.service.node.path);
    }
    // Names only: nothing imported from another stack.
    expect(JSON.stringify(assembly.getStackArtifact(routingStack.artifactId).template)).not.toMatch(
      /Fn::ImportValue|ExportsReader/,
    );
  });

  test('with frontDoor=gateway (the upgrade), the domain stays on the gateway and nothing waits for the edge', () => {
    // The domain moves to CloudFront only with frontDoor=edge, after this stack: CloudFront's /api/* origin
    // api.<domain> is one of its records, so moving first would leave every API call without a host.
    const home = stacks.regions[HOME]!.service;
    expect(home.dependencies.map((stack) => stack.node.path)).not.toContain('ShopEdge');
    const records = Object.values(
      assembly.getStackArtifact(home.artifactId).template.Resources as Record<string, Resource>,
    ).filter(
      (resource) =>
        resource.Type === 'AWS::Route53::RecordSet' &&
        String(resource.Properties?.Name).replace(/\.$/, '') === DOMAIN,
    );
    expect(records).toHaveLength(1);
    expect(JSON.stringify(records[0]!.Properties?.AliasTarget)).not.toContain(`edge.${DOMAIN}`);
    expect(JSON.stringify(records[0]!.Properties?.AliasTarget)).toContain('RegionalDomainName');
  });

  test('checks each region with HTTPS on api-<region>/readyz every 10 s, 3 failures, SNI on', () => {
    routing.resourceCountIs('AWS::Route53::HealthCheck', REGIONS.length);
    for (const region of REGIONS) {
      routing.hasResourceProperties('AWS::Route53::HealthCheck', {
        HealthCheckConfig: {
          Type: 'HTTPS',
          FullyQualifiedDomainName: `api-${region}.${DOMAIN}`,
          Port: 443,
          ResourcePath: '/readyz',
          RequestInterval: 10,
          FailureThreshold: 3,
          EnableSNI: true,
          MeasureLatency: false,
        },
        HealthCheckTags: [{ Key: 'Name', Value: `shop-api-${region}` }],
      });
    }
  });

  test.each(REGIONS)('pairs %s (primary, healthy-checked) with the next region as secondary', (region) => {
    const next = REGIONS[(REGIONS.indexOf(region) + 1) % REGIONS.length]!;
    const pair = recordsNamed(`${region}.api-failover.${DOMAIN}`);
    expect(pair).toHaveLength(2);
    const primary = pair.find((record) => record.Properties.Failover === 'PRIMARY')!;
    const secondary = pair.find((record) => record.Properties.Failover === 'SECONDARY')!;
    expect(aliasName(primary)).toBe(`api-${region}.${DOMAIN}`);
    expect(healthCheckRegion(primary)).toBe(region);
    expect(aliasName(secondary)).toBe(`api-${next}.${DOMAIN}`);
    expect(healthCheckRegion(secondary)).toBe(next);
    for (const record of pair) {
      expect(record.Properties.HostedZoneId).toBe(ZONE_ID);
      expect(record.Properties.AliasTarget).toMatchObject({
        HostedZoneId: ZONE_ID,
        EvaluateTargetHealth: true,
      });
    }
  });

  test('routes api.<domain> by continent to each region’s failover pair, with a * default to the home pair', () => {
    const records = recordsNamed(`api.${DOMAIN}`);
    const byLocation = Object.fromEntries(
      records.map((record) => [
        JSON.stringify(record.Properties.GeoLocation),
        { alias: aliasName(record), set: record.Properties.SetIdentifier },
      ]),
    );
    expect(byLocation).toEqual({
      [JSON.stringify({ ContinentCode: 'NA' })]: {
        alias: `us-east-1.api-failover.${DOMAIN}`,
        set: 'us-east-1-NA',
      },
      [JSON.stringify({ ContinentCode: 'EU' })]: {
        alias: `eu-west-1.api-failover.${DOMAIN}`,
        set: 'eu-west-1-EU',
      },
      [JSON.stringify({ ContinentCode: 'AS' })]: {
        alias: `ap-southeast-2.api-failover.${DOMAIN}`,
        set: 'ap-southeast-2-AS',
      },
      [JSON.stringify({ ContinentCode: 'OC' })]: {
        alias: `ap-southeast-2.api-failover.${DOMAIN}`,
        set: 'ap-southeast-2-OC',
      },
      [JSON.stringify({ CountryCode: '*' })]: { alias: `us-east-1.api-failover.${DOMAIN}`, set: 'default' },
    });
    for (const record of records) {
      // A continent whose whole pair is down falls through to the default: the pair's health is evaluated.
      expect(record.Properties.AliasTarget).toMatchObject({ EvaluateTargetHealth: true });
      expect(record.Properties.HealthCheckId).toBeUndefined();
    }
  });

  test('publishes the latency alternative as api-latency.<domain>: one record per region with its check', () => {
    const records = recordsNamed(`api-latency.${DOMAIN}`);
    expect(records.map((record) => record.Properties.Region).sort()).toEqual([...REGIONS].sort());
    for (const record of records) {
      const region = record.Properties.Region as string;
      expect(record.Properties.SetIdentifier).toBe(region);
      expect(aliasName(record)).toBe(`api-${region}.${DOMAIN}`);
      expect(healthCheckRegion(record)).toBe(region);
    }
    expect(recordsNamed(`api-geolocation.${DOMAIN}`)).toEqual([]);
  });

  test('alarms in us-east-1 when a region’s HealthCheckStatus drops below 1, on an encrypted topic', () => {
    routing.resourceCountIs('AWS::CloudWatch::Alarm', REGIONS.length);
    for (const region of REGIONS) {
      routing.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `shop-api-${region}-unhealthy`,
        Namespace: 'AWS/Route53',
        MetricName: 'HealthCheckStatus',
        Dimensions: [{ Name: 'HealthCheckId', Value: { Ref: Match.stringLikeRegexp(`^HealthCheck`) } }],
        Statistic: 'Minimum',
        Period: 60,
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
        AlarmActions: [{ Ref: Match.stringLikeRegexp('^HealthAlarmsAlarmTopic') }],
        OKActions: [{ Ref: Match.stringLikeRegexp('^HealthAlarmsAlarmTopic') }],
      });
    }
    routing.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^HealthAlarmsAlarmTopicKey'), 'Arn'] },
    });
    // Each alarm watches its own region's check.
    const alarms = Object.values(routing.findResources('AWS::CloudWatch::Alarm')) as Resource[];
    for (const alarm of alarms) {
      const region = (alarm.Properties.AlarmName as string)
        .replace(/^shop-api-/, '')
        .replace(/-unhealthy$/, '');
      const ref = ((alarm.Properties.Dimensions as { Value: { Ref: string } }[])[0]!.Value as { Ref: string })
        .Ref;
      expect(healthCheckRegion({ Type: '', Properties: { HealthCheckId: { Ref: ref } } })).toBe(region);
    }
    expect(app.node.tryFindChild(ROUTING_STACK_IDS.alarms)).toBeUndefined();
  });
});

test('cdk-nag leaves zero findings in every stack, the routing stack included', () => {
  const findings = report.pluginReports
    .filter((plugin) => plugin.pluginName === 'AwsSolutions')
    .flatMap((plugin) => plugin.violations ?? [])
    .flatMap((violation) =>
      (violation.violatingConstructs ?? [{}]).map(
        (resource) => `${violation.ruleName} at ${resource.constructPath}`,
      ),
    );
  expect(findings).toEqual([]);
  expect(report.pluginReports.filter((plugin) => plugin.conclusion === 'failure')).toEqual([]);
});
