import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kms from 'aws-cdk-lib/aws-kms';
import { AppMetrics } from '../../app/src/metrics';
import { envJsonSchema } from '../../app/src/config';
import {
  ADOT_COLLECTOR_IMAGE,
  APP_METRIC_DECLARATIONS,
  APP_METRICS_PORT,
  MetricsCollector,
  MetricsCollectorProps,
} from '../../lib/constructs/metrics-collector';
import { appTaskDefinition, onlyResource, synthStage } from '../support/synth';

interface Fixture {
  readonly stack: Stack;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly key: kms.Key;
}

function buildFixture(): Fixture {
  const app = new App({ builtinCloudFormationValidation: false });
  const stack = new Stack(app, 'Service', { env: { account: '123456789012', region: 'eu-west-1' } });
  const taskDefinition = new ecs.FargateTaskDefinition(stack, 'TaskDefinition');
  taskDefinition.addContainer('App', {
    image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/node:24-alpine'),
  });
  return { stack, taskDefinition, key: new kms.Key(stack, 'LogsKey') };
}

function props(f: Fixture): MetricsCollectorProps {
  return {
    taskDefinition: f.taskDefinition,
    serviceId: 'shop',
    namespace: 'shop/App',
    logEncryptionKey: f.key,
  };
}

/** The collector configuration as the container receives it, with each token (the log group name) as `<token>`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON, read field by field in the tests
function configOf(stack: Stack, collector: MetricsCollector): Record<string, any> {
  const resolved = stack.resolve(collector.configContent) as string | { 'Fn::Join': [string, unknown[]] };
  const text =
    typeof resolved === 'string'
      ? resolved
      : resolved['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : '<token>')).join('');
  return JSON.parse(text);
}

describe('MetricsCollector', () => {
  let f: Fixture;
  let collector: MetricsCollector;
  let template: Template;
  beforeAll(() => {
    // GIVEN
    f = buildFixture();
    // WHEN
    collector = new MetricsCollector(f.stack, 'MetricsCollector', props(f));
    template = Template.fromStack(f.stack);
  });

  test('runs the pinned ADOT collector beside the app, not essential, with a hard memory limit', () => {
    expect(ADOT_COLLECTOR_IMAGE).toMatch(
      /^public\.ecr\.aws\/aws-observability\/aws-otel-collector:v\d+\.\d+\.\d+$/,
    );
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({ Name: 'App' }),
        Match.objectLike({
          Name: 'MetricsCollector',
          Image: ADOT_COLLECTOR_IMAGE,
          Essential: false,
          Memory: 256,
          MemoryReservation: 64,
          Environment: [{ Name: 'AOT_CONFIG_CONTENT', Value: Match.anyValue() }],
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
        }),
      ],
    });
  });

  test("scrapes the app's metrics port inside the task, labelling every series with the service id", () => {
    const config = configOf(f.stack, collector);
    expect(APP_METRICS_PORT).toBe(envJsonSchema.properties.METRICS_PORT.default);
    expect(config.receivers.prometheus.config.scrape_configs).toEqual([
      {
        job_name: 'app',
        static_configs: [{ targets: ['localhost:9464'], labels: { Service: 'shop' } }],
      },
    ]);
    expect(config.receivers.prometheus.config.global.scrape_interval).toBe('60s');
    expect(config.service.pipelines.metrics).toEqual({
      receivers: ['prometheus'],
      processors: ['cumulativetodelta', 'batch'],
      exporters: ['awsemf'],
    });
  });

  test('exports to the namespace through its own log group, with the declared dimension sets only', () => {
    const { awsemf } = configOf(f.stack, collector).exporters;
    expect(awsemf).toMatchObject({
      namespace: 'shop/App',
      log_group_name: '<token>',
      log_stream_name: '{TaskId}',
      region: 'eu-west-1',
      dimension_rollup_option: 'NoDimensionRollup',
    });
    expect(awsemf.metric_declarations).toContainEqual({
      dimensions: [['Service', 'route'], ['Service']],
      metric_name_selectors: ['^http_request_duration_seconds$'],
    });
    expect(awsemf.detailed_metrics).toBe(true);
    expect(awsemf.metric_declarations).toContainEqual({
      dimensions: [['Service', 'route', 'quantile']],
      metric_name_selectors: ['^http_request_duration_quantile_seconds$'],
    });
    expect(awsemf.metric_declarations).toContainEqual({
      dimensions: [['Service', 'pool']],
      metric_name_selectors: ['^db_queries_total$'],
    });
  });

  test('declares only metrics the app emits, with dimensions that are their labels', async () => {
    // The app's own registry: names and label names as /metrics serves them.
    const metrics = new AppMetrics();
    // A summary shows its quantile label once it has observed something.
    metrics.httpDurationQuantiles.observe({ route: '/healthz' }, 0.001);
    const registry = metrics.registry;
    const emitted = new Map(
      (await registry.getMetricsAsJSON()).map((metric) => [
        metric.name,
        new Set((metric.values ?? []).flatMap((value) => Object.keys(value.labels ?? {}))),
      ]),
    );
    const labelsOf = (name: string) => {
      const metric = (registry.getSingleMetric(name) as unknown as { labelNames?: string[] }) ?? {};
      return new Set([...(emitted.get(name) ?? []), ...(metric.labelNames ?? [])]);
    };
    for (const declaration of APP_METRIC_DECLARATIONS) {
      for (const name of declaration.metricNames) {
        expect([name, emitted.has(name)]).toEqual([name, true]);
        for (const dimension of declaration.dimensions.flat().filter((d) => d !== 'Service')) {
          expect([name, dimension, labelsOf(name).has(dimension)]).toEqual([name, dimension, true]);
        }
      }
    }
  });

  test('may write to its EMF log group only (no logs:* on *)', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy.Properties.Roles).includes('TaskRole'),
    );
    expect(policies).toHaveLength(1);
    expect(policies[0]!.Properties.PolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^MetricsCollectorEmfLogs/), 'Arn'] },
      },
    ]);
  });

  test('keeps its log groups encrypted, retained, for a month', () => {
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
    template.allResources('AWS::Logs::LogGroup', {
      Properties: {
        RetentionInDays: 30,
        KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LogsKey'), 'Arn'] },
      },
      DeletionPolicy: 'Retain',
    });
  });

  test('names every bad prop in one error', () => {
    const g = buildFixture();
    expect(
      () =>
        new MetricsCollector(g.stack, 'MetricsCollector', {
          ...props(g),
          metricsPort: 70000,
          namespace: 'AWS/Shop',
          serviceId: 'shop service',
        }),
    ).toThrow(
      /metricsPort: received 70000[\s\S]*serviceId: received "shop service"[\s\S]*namespace: received "AWS\/Shop"/,
    );
  });
});

describe('the app metrics in a stage', () => {
  const stage = synthStage('10k', { nag: false });

  test("every service's task runs the collector next to the app", () => {
    const containers = appTaskDefinition(stage.json.service).Properties.ContainerDefinitions as {
      Name: string;
    }[];
    expect(containers.map((container) => container.Name)).toEqual(['App', 'MetricsCollector']);
  });

  test('the dashboard shows per-route p99, latency and requests, the cache hit ratio, primary and replica queries', () => {
    const body = JSON.stringify(onlyResource(stage.json.service, 'AWS::CloudWatch::Dashboard').Properties);
    expect(body).toContain('shop/App');
    expect(body).toContain('http_request_duration_seconds');
    expect(body).toMatch(
      /http_request_duration_quantile_seconds\\*" Service=\\*"shop\\*" quantile=\\*"0\.99/,
    );
    expect(body).toContain('Cache hit ratio');
    expect(body).toContain('db_queries_total');
    expect(body).toContain('\\"pool\\",\\"writer\\"');
    expect(body).toContain('\\"pool\\",\\"reader\\"');
  });
});
