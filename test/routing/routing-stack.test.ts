/**
 * The routing stack on its own (fast, no regions built): a home region other than us-east-1 (alarms in a stack of
 * their own there, health-check ids through SSM parameters), the latency policy, continents and health-check
 * settings from config, and every validation error.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { StageConfigError } from '../../lib/config';
import type { GlobalRoutingConfig } from '../../lib/config/stage-config';
import { RoutingAlarmsStack } from '../../lib/stacks/routing-alarms-stack';
import {
  healthCheckIdParameterName,
  RoutingStack,
  routingProblems,
  type RoutingStackProps,
} from '../../lib/stacks/routing-stack';
import { controlTowerValidator } from '../../lib/validation';
import type { ValidationReport } from '../support/synth';

const DOMAIN = 'shop.example.com';
const ZONE = { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com' };
const ACCOUNT = '123456789012';

type Resource = { Type: string; Properties: Record<string, unknown> };

function routingApp(regions: readonly string[], routing: GlobalRoutingConfig, app = new App()) {
  const props: RoutingStackProps = {
    env: { account: ACCOUNT, region: regions[0]! },
    regions,
    domainName: DOMAIN,
    hostedZone: ZONE,
    routing,
    prefix: 'shop',
  };
  const stack = new RoutingStack(app, 'ShopRouting', props);
  return { app, stack };
}

const recordsNamed = (template: Template, name: string): Resource[] =>
  Object.values(template.findResources('AWS::Route53::RecordSet')).filter(
    (record) => (record as Resource).Properties.Name === `${name}.`,
  ) as Resource[];

describe('home region eu-west-1: alarms in a us-east-1 stack of their own', () => {
  // GIVEN
  const regions = ['eu-west-1', 'us-east-1', 'ap-southeast-2'];
  const { app, stack } = routingApp(regions, {});
  const alarmsStack = new RoutingAlarmsStack(app, 'ShopRoutingAlarms', {
    env: { account: ACCOUNT, region: 'us-east-1' },
    regions,
    prefix: 'shop',
  });
  alarmsStack.addStackDependency(stack);
  // WHEN
  const routing = Template.fromStack(stack);
  const alarms = Template.fromStack(alarmsStack);

  test('the routing stack has no alarm (its region has no Route 53 metrics)', () => {
    routing.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    expect(stack.alarms).toBeUndefined();
  });

  test('writes each health check id to an SSM parameter in us-east-1, with a policy scoped to it', () => {
    const writers = Object.values(routing.findResources('Custom::AWS')) as Resource[];
    expect(writers).toHaveLength(regions.length);
    for (const region of regions) {
      const writer = writers.find((resource) =>
        JSON.stringify(resource.Properties.Create).includes(healthCheckIdParameterName('shop', region)),
      );
      expect(writer).toBeDefined();
      const create = JSON.stringify(writer!.Properties.Create);
      expect(create).toContain('"region\\":\\"us-east-1\\"');
      expect(create).toContain('putParameter');
      expect(create).toContain('\\"Overwrite\\":true');
      expect(create).toMatch(/HealthCheck(EuWest1|UsEast1|ApSoutheast2)/);
      expect(JSON.stringify(writer!.Properties.Delete)).toContain('deleteParameter');
    }
    const policies = Object.values(routing.findResources('AWS::IAM::Policy')) as Resource[];
    expect(policies).toHaveLength(regions.length);
    for (const policy of policies) {
      const statements = (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] })
        .Statement;
      // Put on create and update, delete on delete: both on this one parameter.
      expect(statements.map((statement) => statement.Action)).toEqual([
        'ssm:PutParameter',
        'ssm:DeleteParameter',
      ]);
      const [put, remove] = statements.map((statement) => JSON.stringify(statement.Resource));
      expect(put).toMatch(
        /:ssm:us-east-1:123456789012:parameter\/shop\/routing\/health-check-id\/[a-z0-9-]+"/,
      );
      expect(remove).toBe(put);
    }
  });

  test('the alarms stack reads the ids from those parameters and alarms on each region', () => {
    expect(alarmsStack.region).toBe('us-east-1');
    expect(alarmsStack.dependencies).toContain(stack);
    const parameters = alarms.toJSON().Parameters as Record<string, { Type: string; Default: string }>;
    const ssmDefaults = Object.values(parameters)
      .filter((parameter) => parameter.Type === 'AWS::SSM::Parameter::Value<String>')
      .filter((parameter) => parameter.Default.startsWith('/shop/'))
      .map((parameter) => parameter.Default)
      .sort();
    expect(ssmDefaults).toEqual(regions.map((region) => healthCheckIdParameterName('shop', region)).sort());
    for (const region of regions) {
      alarms.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `shop-api-${region}-unhealthy`,
        MetricName: 'HealthCheckStatus',
        Dimensions: [{ Name: 'HealthCheckId', Value: { Ref: Match.stringLikeRegexp('^SsmParameterValue') } }],
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
      });
    }
  });

  test('the * default goes to the home region (eu-west-1) and its pair fails over to the next region', () => {
    const fallback = recordsNamed(routing, `api.${DOMAIN}`).find(
      (record) => (record.Properties.GeoLocation as { CountryCode?: string }).CountryCode === '*',
    )!;
    expect((fallback.Properties.AliasTarget as { DNSName: string }).DNSName).toBe(
      `eu-west-1.api-failover.${DOMAIN}`,
    );
    const secondary = recordsNamed(routing, `ap-southeast-2.api-failover.${DOMAIN}`).find(
      (record) => record.Properties.Failover === 'SECONDARY',
    )!;
    // The ring wraps round to the home region.
    expect((secondary.Properties.AliasTarget as { DNSName: string }).DNSName).toBe(`api-eu-west-1.${DOMAIN}`);
  });

  test('cdk-nag finds nothing unacknowledged in either stack', () => {
    const result = new AwsSolutionsChecks().validateScope(app);
    expect(result.violations.map((violation) => `${violation.ruleName}`)).toEqual([]);
  });
});

describe('routing settings from config', () => {
  // GIVEN: latency as the policy, Europe and Africa for eu-west-1, slower and more tolerant checks
  const { stack } = routingApp(['us-east-1', 'eu-west-1', 'ap-southeast-2'], {
    policy: 'latency',
    continents: { 'eu-west-1': ['EU', 'AF'] },
    healthCheckIntervalSeconds: 30,
    healthCheckFailureThreshold: 2,
  });
  // WHEN
  const routing = Template.fromStack(stack);

  test('api.<domain> is the latency records and the geolocation ones move to api-geolocation.<domain>', () => {
    expect(
      recordsNamed(routing, `api.${DOMAIN}`)
        .map((record) => record.Properties.Region)
        .sort(),
    ).toEqual(['ap-southeast-2', 'eu-west-1', 'us-east-1']);
    expect(recordsNamed(routing, `api-latency.${DOMAIN}`)).toEqual([]);
    const geo = recordsNamed(routing, `api-geolocation.${DOMAIN}`);
    expect(geo.map((record) => record.Properties.SetIdentifier).sort()).toEqual([
      'ap-southeast-2-AS',
      'ap-southeast-2-OC',
      'default',
      'eu-west-1-AF',
      'eu-west-1-EU',
      'us-east-1-NA',
    ]);
    routing.hasOutput('ApiHostname', { Value: `api.${DOMAIN}` });
    routing.hasOutput('AlternativeApiHostname', { Value: `api-geolocation.${DOMAIN}` });
    // For the runbook: each region's health check, by output.
    const outputs = routing.findOutputs('*') as Record<string, { Value: { Ref?: string } }>;
    for (const region of ['UsEast1', 'EuWest1', 'ApSoutheast2']) {
      expect(outputs[`HealthCheckId${region}`]?.Value.Ref).toMatch(
        new RegExp(`^HealthCheck${region}[0-9A-F]{8}$`),
      );
    }
  });

  test('the health checks use the configured interval and threshold', () => {
    routing.allResourcesProperties('AWS::Route53::HealthCheck', {
      HealthCheckConfig: Match.objectLike({ RequestInterval: 30, FailureThreshold: 2 }),
    });
  });
});

describe('validation', () => {
  test('collects every problem of global.routing with the key and the fix', () => {
    // WHEN
    const problems = routingProblems(
      {
        healthCheckIntervalSeconds: 15 as 10,
        healthCheckFailureThreshold: 0,
        continents: { 'eu-west-1': ['EU', 'XX'], 'sa-east-1': ['SA'], 'ap-southeast-2': ['EU'] },
      },
      ['us-east-1', 'eu-west-1', 'ap-southeast-2'],
    );
    // THEN
    expect(problems.map((problem) => problem.key)).toEqual([
      'global.routing.healthCheckIntervalSeconds',
      'global.routing.healthCheckFailureThreshold',
      'global.routing.continents.eu-west-1',
      'global.routing.continents.sa-east-1',
      'global.routing.continents',
    ]);
    expect(problems[0]!.fix).toMatch(/10 or 30/);
    expect(problems[2]!.fix).toMatch(/XX is not one/);
    expect(problems[3]!.fix).toMatch(/not a region of this deployment/);
    expect(problems[4]!.fix).toMatch(/continent EU is claimed by both eu-west-1 and ap-southeast-2/);
  });

  test('fails when a region claims a continent another region claims by default', () => {
    expect(() => routingApp(['us-east-1', 'us-west-2', 'eu-west-1'], {})).toThrow(
      /continent NA is claimed by both us-east-1 and us-west-2/,
    );
  });

  test('fails with one region: there is nothing to fail over to', () => {
    expect(() => routingApp(['us-east-1'], {})).toThrow(StageConfigError);
    expect(() => routingApp(['us-east-1'], {})).toThrow(/context\.regions[\s\S]*at least two regions/);
  });

  test('accepts a deployment whose regions share a continent once the config splits it', () => {
    const { stack } = routingApp(['us-east-1', 'us-west-2', 'eu-west-1'], {
      continents: { 'us-west-2': [] },
    });
    expect(Stack.of(stack).stackName).toBe('ShopRouting');
  });
});

describe('compliance', () => {
  test.each(['us-east-1', 'eu-west-1'])(
    'home %s: cdk-nag and the Control Tower rules find nothing unacknowledged in the routing stacks',
    (home) => {
      // GIVEN: the routing stack (with its alarms, or its parameter writers and the us-east-1 alarms stack)
      const regions = [
        home,
        ...['us-east-1', 'eu-west-1', 'ap-southeast-2'].filter((region) => region !== home),
      ];
      const outdir = mkdtempSync(join(tmpdir(), 'routing-nag-'));
      const { app, stack } = routingApp(regions, {}, new App({ outdir }));
      if (home !== 'us-east-1') {
        new RoutingAlarmsStack(app, 'ShopRoutingAlarms', {
          env: { account: ACCOUNT, region: 'us-east-1' },
          regions,
          prefix: 'shop',
        }).addStackDependency(stack);
      }
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app), controlTowerValidator());
      try {
        // WHEN / THEN: synth fails listing the findings if there are any
        expect(() => app.synth()).not.toThrow();
        const report = JSON.parse(
          readFileSync(join(outdir, 'validation-report.json'), 'utf8'),
        ) as ValidationReport;
        expect(report.pluginReports.flatMap((plugin) => plugin.violations ?? [])).toEqual([]);
      } finally {
        rmSync(outdir, { recursive: true, force: true });
      }
    },
  );
});
