import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/**
 * The AWS Distro for OpenTelemetry collector image, pinned: a new collector is a reviewed change (its
 * `awsemf` exporter decides which metrics CloudWatch receives).
 */
export const ADOT_COLLECTOR_IMAGE = 'public.ecr.aws/aws-observability/aws-otel-collector:v0.45.0';

/** Port the app serves `/metrics` on (the app's `METRICS_PORT` default, never routed by the load balancer). */
export const APP_METRICS_PORT = 9464;

/**
 * The app's metrics the collector publishes, with the dimension sets (the rollups) of each; every set starts
 * with `Service`. Anything the app exposes that is not listed here (process defaults, ...) stays out of
 * CloudWatch: each metric and dimension set is a billed custom metric.
 */
export const APP_METRIC_DECLARATIONS: readonly {
  readonly dimensions: readonly (readonly string[])[];
  readonly metricNames: readonly string[];
}[] = [
  // Requests and mean latency per route, and rolled up to the service (a histogram: count and sum only).
  { dimensions: [['Service', 'route'], ['Service']], metricNames: ['http_request_duration_seconds'] },
  // p50 and p99 per route (a summary: its quantiles as the app computed them, per task).
  { dimensions: [['Service', 'route', 'quantile']], metricNames: ['http_request_duration_quantile_seconds'] },
  // Primary (pool="writer") and replica (pool="reader") queries.
  { dimensions: [['Service', 'pool']], metricNames: ['db_queries_total'] },
  // Lookups by result (hit, miss, error).
  {
    dimensions: [['Service', 'result']],
    metricNames: ['cache_requests_total', 'first_level_cache_requests_total', 'queue_messages_total'],
  },
];

/** Properties of {@link MetricsCollector}. */
export interface MetricsCollectorProps {
  /** The task definition of the service whose app container serves `/metrics` on `metricsPort`. */
  readonly taskDefinition: ecs.FargateTaskDefinition;
  /** Stable service id: the `Service` dimension of every metric. */
  readonly serviceId: string;
  /** CloudWatch namespace of the metrics (one per deployment, e.g. `shop/App`). */
  readonly namespace: string;
  /** Key encrypting the collector's log groups. */
  readonly logEncryptionKey: kms.IKey;
  /**
   * The app's metrics port.
   *
   * @default 9464
   */
  readonly metricsPort?: number;
  /**
   * How often the collector scrapes the app.
   *
   * @default Duration.minutes(1)
   */
  readonly scrapeInterval?: Duration;
  /**
   * How long the collector's EMF records (and its own log) are kept.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * The collector image.
   *
   * @default ADOT_COLLECTOR_IMAGE
   */
  readonly image?: ecs.ContainerImage;
}

/**
 * An ADOT collector sidecar that brings the app's Prometheus metrics to CloudWatch: its `prometheus` receiver
 * scrapes `localhost:<metricsPort>/metrics` inside the task (the port the load balancer never routes to),
 * cumulative counters and histograms become per-interval deltas (quantiles stay as the app computed them), and
 * its `awsemf` exporter writes them as
 * embedded-metric-format records to a log group of its own, from which CloudWatch extracts the metrics in
 * `namespace`, only those in {@link APP_METRIC_DECLARATIONS}, with the dimension sets listed there.
 *
 * The configuration is the `AOT_CONFIG_CONTENT` environment variable (no file, no SSM parameter). The task
 * role may write to the EMF log group only. The sidecar is not essential: if it stops, the app keeps serving
 * and only the app metrics pause.
 */
export class MetricsCollector extends Construct {
  /** The collector container. */
  public readonly container: ecs.ContainerDefinition;
  /** Log group the collector writes the EMF records to (CloudWatch extracts the metrics from it). */
  public readonly emfLogGroup: logs.LogGroup;
  /** The collector's own log. */
  public readonly logGroup: logs.LogGroup;
  /** The collector configuration (YAML, also valid JSON), as `AOT_CONFIG_CONTENT` carries it. */
  public readonly configContent: string;

  constructor(scope: Construct, id: string, props: MetricsCollectorProps) {
    super(scope, id);
    const port = props.metricsPort ?? APP_METRICS_PORT;
    const interval = props.scrapeInterval ?? Duration.minutes(1);
    const problems: string[] = [];
    if (!Token.isUnresolved(port) && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      problems.push(
        `metricsPort: received ${port}; give a TCP port from 1 to 65535 (the app's METRICS_PORT)`,
      );
    }
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(props.serviceId)) {
      problems.push(`serviceId: received ${JSON.stringify(props.serviceId)}; give the stable service id`);
    }
    if (
      !Token.isUnresolved(props.namespace) &&
      (props.namespace.startsWith('AWS/') || props.namespace.length === 0)
    ) {
      problems.push(
        `namespace: received ${JSON.stringify(props.namespace)}; give a custom namespace (not AWS/...)`,
      );
    }
    if (interval.toSeconds() < 10) {
      problems.push(`scrapeInterval: received ${interval.toHumanString()}; give 10 seconds or more`);
    }
    if (problems.length > 0)
      throw new Error(`Invalid MetricsCollector props:\n  - ${problems.join('\n  - ')}`);

    const retention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    this.emfLogGroup = new logs.LogGroup(this, 'EmfLogs', {
      retention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const seconds = `${interval.toSeconds()}s`;
    const config = {
      receivers: {
        prometheus: {
          config: {
            global: { scrape_interval: seconds, scrape_timeout: '10s' },
            scrape_configs: [
              {
                job_name: 'app',
                static_configs: [{ targets: [`localhost:${port}`], labels: { Service: props.serviceId } }],
              },
            ],
          },
        },
      },
      processors: {
        // The app's counters and histograms are cumulative since its start; CloudWatch sums per period.
        cumulativetodelta: {},
        batch: { timeout: seconds },
      },
      exporters: {
        awsemf: {
          namespace: props.namespace,
          log_group_name: this.emfLogGroup.logGroupName,
          log_stream_name: '{TaskId}',
          region: Stack.of(this).region,
          // Only the declared dimension sets: the default rollups would multiply every metric.
          dimension_rollup_option: 'NoDimensionRollup',
          // A summary's quantiles as metrics of their own (a `quantile` dimension), not folded into min and max.
          detailed_metrics: true,
          metric_declarations: APP_METRIC_DECLARATIONS.map((declaration) => ({
            dimensions: declaration.dimensions,
            metric_name_selectors: declaration.metricNames.map((name) => `^${name}$`),
          })),
        },
      },
      service: {
        pipelines: {
          metrics: {
            receivers: ['prometheus'],
            processors: ['cumulativetodelta', 'batch'],
            exporters: ['awsemf'],
          },
        },
      },
    };
    // JSON is YAML: the collector reads it as its configuration, and tokens (the log group name) resolve in it.
    this.configContent = Stack.of(this).toJsonString(config);

    this.container = props.taskDefinition.addContainer('MetricsCollector', {
      image: props.image ?? ecs.ContainerImage.fromRegistry(ADOT_COLLECTOR_IMAGE),
      essential: false,
      // A hard limit: a collector that grows must not take the app's memory.
      memoryReservationMiB: 64,
      memoryLimitMiB: 256,
      cpu: 64,
      environment: { AOT_CONFIG_CONTENT: this.configContent },
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: 'collector',
        logGroup: this.logGroup,
        mode: ecs.AwsLogDriverMode.NON_BLOCKING,
      }),
      // The collector keeps its pipeline in memory (no file storage extension), so its root filesystem is
      // read-only; and it runs as the image's own non-root user (the ADOT image's `USER 10001`).
      readonlyRootFilesystem: true,
      user: '10001',
    });
    for (const group of [this.emfLogGroup, this.logGroup]) {
      Validations.of(group).acknowledge({
        id: 'cdk-validator-cfnguard::cloudwatch_log_group_encrypted_check',
        reason:
          "Encrypted with the network stack's logs key, whose ARN arrives as a stack import (Fn::ImportValue), " +
          'which the rule does not recognise as a key (test/monitoring/metrics-collector.test.ts checks KmsKeyId).',
      });
    }
    // CreateLogStream and PutLogEvents on the EMF log group, nothing else.
    this.emfLogGroup.grantWrite(props.taskDefinition.taskRole);
  }
}
