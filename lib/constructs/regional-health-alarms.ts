import { ArnFormat, Duration, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { pascalCase } from '../config/naming';
import { allowCloudWatchAlarms, denyGrantsExceptForAwsServices } from './key-policies';

/** The only region where Route 53 publishes health-check metrics (`AWS/Route53`), so where their alarms live. */
export const HEALTH_CHECK_METRICS_REGION = 'us-east-1';

/**
 * Name of the alarm on a region's Route 53 health check, e.g. `shop-api-eu-west-1-unhealthy`: deterministic, so
 * every region's dashboard shows it by ARN without a cross-region reference.
 */
export function regionalHealthAlarmName(prefix: string, region: string): string {
  return `${prefix}-api-${region}-unhealthy`;
}

/** ARN of {@link regionalHealthAlarmName}'s alarm (in us-east-1, in the account of `scope`'s stack). */
export function regionalHealthAlarmArn(scope: Construct, prefix: string, region: string): string {
  return Stack.of(scope).formatArn({
    service: 'cloudwatch',
    region: HEALTH_CHECK_METRICS_REGION,
    resource: 'alarm',
    resourceName: regionalHealthAlarmName(prefix, region),
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** Properties of {@link RegionalHealthAlarms}. */
export interface RegionalHealthAlarmsProps {
  /** Route 53 health-check id of each region's API, by region code (home first). */
  readonly healthCheckIds: Readonly<Record<string, string>>;
  /** Prefix of the alarm names (see {@link regionalHealthAlarmName}). */
  readonly prefix: string;
  /** Email subscribed to the topic. @default - no subscription */
  readonly alarmEmail?: string;
}

/**
 * An alarm per region when Route 53 sees the region's API unhealthy (`HealthCheckStatus` below 1 over a minute),
 * notifying a topic of its own (encrypted with a customer-managed key, like the regions' alarm topics). Must be
 * in us-east-1: Route 53 publishes health-check metrics there only, and an alarm reads its own region's metrics.
 * Missing data counts as unhealthy: Route 53 publishes the status of every health check every minute, so no data
 * means the alarm watches a check that no longer exists.
 */
export class RegionalHealthAlarms extends Construct {
  /** The topic the alarms notify (on alarm and on recovery). */
  public readonly alarmTopic: sns.Topic;
  /** The topic's key. */
  public readonly alarmTopicKey: kms.Key;
  /** Each region's alarm, by region code. */
  public readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;

  constructor(scope: Construct, id: string, props: RegionalHealthAlarmsProps) {
    super(scope, id);
    const region = Stack.of(this).region;
    if (!Token.isUnresolved(region) && region !== HEALTH_CHECK_METRICS_REGION) {
      throw new Error(
        `RegionalHealthAlarms: the stack is in ${region}; Route 53 health-check metrics exist only in ` +
          `${HEALTH_CHECK_METRICS_REGION}: build these alarms in a stack there.`,
      );
    }
    if (Object.keys(props.healthCheckIds).length === 0) {
      throw new Error(
        'RegionalHealthAlarms: healthCheckIds is empty; pass the health check of every region.',
      );
    }

    this.alarmTopicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: `Encrypts the topic of ${props.prefix}'s Route 53 health-check alarms`,
      enableKeyRotation: true,
    });
    allowCloudWatchAlarms(this.alarmTopicKey);
    denyGrantsExceptForAwsServices(this.alarmTopicKey);
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `${props.prefix} API health (Route 53)`,
      masterKey: this.alarmTopicKey,
      enforceSSL: true,
    });
    if (props.alarmEmail !== undefined) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }
    const action = new cloudwatchActions.SnsAction(this.alarmTopic);

    const alarms: Record<string, cloudwatch.Alarm> = {};
    for (const [apiRegion, healthCheckId] of Object.entries(props.healthCheckIds)) {
      const alarm = new cloudwatch.Alarm(this, `${pascalCase(apiRegion)}Unhealthy`, {
        alarmName: regionalHealthAlarmName(props.prefix, apiRegion),
        alarmDescription:
          `Route 53 sees the shop API in ${apiRegion} unhealthy (GET /readyz on the regional hostname failed ` +
          'the failure threshold): its viewers are being answered by its failover region.',
        metric: new cloudwatch.Metric({
          namespace: 'AWS/Route53',
          metricName: 'HealthCheckStatus',
          dimensionsMap: { HealthCheckId: healthCheckId },
          statistic: cloudwatch.Stats.MINIMUM,
          period: Duration.minutes(1),
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      alarms[apiRegion] = alarm;
    }
    this.alarms = alarms;
  }
}

/**
 * Adds each region's health-check alarm (by its deterministic ARN in us-east-1) to a dashboard in any region: a
 * dashboard widget may read another region's alarm, where an alarm may not read another region's metric.
 *
 * @param dashboard - the region's dashboard
 * @param prefix - prefix of the alarm names
 * @param regions - every region of the deployment, home first
 */
export function addRegionalHealthWidgets(
  dashboard: cloudwatch.Dashboard,
  prefix: string,
  regions: readonly string[],
): void {
  const widgets = regions.map((apiRegion) => {
    const arn = regionalHealthAlarmArn(dashboard, prefix, apiRegion);
    const alarm = cloudwatch.Alarm.fromAlarmArn(dashboard, `ApiHealth${pascalCase(apiRegion)}`, arn);
    return new cloudwatch.AlarmWidget({
      alarm,
      title: `API health ${apiRegion} (Route 53 health check, 1 = healthy)`,
      region: HEALTH_CHECK_METRICS_REGION,
      width: Math.max(6, Math.floor(24 / regions.length)),
      leftYAxis: { min: 0, max: 1 },
    });
  });
  dashboard.addWidgets(
    new cloudwatch.TextWidget({
      markdown: `### Route 53 health of every region's API\nAlarms in ${HEALTH_CHECK_METRICS_REGION} (where Route 53 publishes the metrics).`,
      width: 24,
      height: 2,
    }),
  );
  dashboard.addWidgets(...widgets);
}
